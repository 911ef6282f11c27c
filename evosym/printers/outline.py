"""A format-neutral outline of a checked proof, shared by the text, Markdown and LaTeX printers.

Everything a printer shows comes from the proof's own data (steps, rules' statements,
obligations, checks), rendered with one expression printer, so the three formats always
agree and a new rule needs no printer change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy as sp

from ..proof.premises import size_domains
from ..proof.proof import EVOLUTION_CHECK, CheckedProof, evolution_summary
from .expr import symbol_names, text
from .taps import TapView, closed_tap_form

PROVED, REFUTED, UNKNOWN = "proved", "refuted", "unknown"
MARKS = {PROVED: "✓", REFUTED: "✗", UNKNOWN: "?"}   # a precondition's mark; ✗ only when proved false


def obligation_status(o) -> str:
    """``proved``, ``refuted`` (the precondition was shown false: an obligation may say so with a true
    ``refuted`` attribute) or ``unknown`` (not proved either way, the usual reason a step is bounded)."""
    if o.proved:
        return PROVED
    return REFUTED if getattr(o, "refuted", False) is True else UNKNOWN


def omega_description(omega, show) -> str:
    """``omega.describe(show)``: the kind of Ω in words, its sizes written by ``show``."""
    return omega.describe(show)


@dataclass(frozen=True)
class StepView:
    number: int
    rule: str
    args: str
    statement: str
    obligations: tuple[tuple[str, str, str], ...]   # (status: proved/refuted/unknown, text, how)
    lhs: str
    result: str
    label: str
    ok: bool
    check: str
    counterexample: str
    defines: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class EvolutionView:
    lhs: str
    channel: str
    channel_hi: str
    neighbour: str
    position: str
    kernel: str
    kernel_body: str
    value: str
    bias: str
    omega: str
    omega_kind: str
    layout: str
    tap: TapView | None = None   # K in closed tap form, where it exists


@dataclass(frozen=True)
class LimitView:
    """The α → ∞ section: its steps (lhs is each step's limit), the checks, the error table."""

    sharpness: str
    target: str
    weight_map: str
    steps: tuple[StepView, ...]
    checks: tuple[tuple[bool, str, str, str, str], ...]
    rows: tuple[tuple[str, str, str], ...]      # α, measured Σ|A − δ|, bound
    needed: tuple[tuple[str, str, str], ...]    # error, α from the bound, α measured
    dims: int
    ok: bool


@dataclass(frozen=True)
class Outline:
    name: str
    summary: str
    description: str
    citation: str
    notes: tuple[str, ...]
    sizes: tuple[tuple[str, str], ...]
    domain: tuple[tuple[str, str, str], ...]   # sizes by declared domain: ("B, C, L", "≥ 1", ""), ("P", "≥ 0", "")
    tensors: tuple[tuple[str, str, str, str], ...]
    definitions: tuple[tuple[str, str, str], ...]
    lhs: str
    traditional: str
    steps: tuple[StepView, ...]
    evolution: EvolutionView | None
    checks: tuple[tuple[bool, str, str, str, str], ...]
    shapes: tuple[str, ...]
    ok: bool
    general: int
    bounded: int
    limit: LimitView | None = None
    constraints: tuple[str, ...] = ()          # the operator's relations between sizes, printed: part of the domain


def outline(cp: CheckedProof, expr: Callable, omega: Callable, filled: Callable | None = None,
            inline: Callable | None = None, literal: Callable = str, key: Callable = str) -> Outline:
    """Build the outline with ``expr(sympy_expr) -> str`` and ``omega(neighbourhood, p) -> str``.

    ``inline(arg)`` prints a rule argument inside running text (Markdown/LaTeX wrap it in ``$``),
    ``literal(name)`` a string argument such as a tensor name, ``key(name)`` an argument's name.
    ``filled(template, args)`` renders an obligation's template with its expression fields
    (default: the template filled with ``expr``).
    """
    filled = filled or (lambda template, args: template.format(*map(expr, args)))
    inline = inline or expr  # expressions inside running text (rule arguments)
    op = cp.operator
    names = op.display_names("text")   # the checks' one-line messages are in text notation in every format
    symbols = symbol_names(cp, "text")

    def show(e):
        return text(e, names, symbols)

    def view(k, s, lhs, compared="compared exactly"):
        c = s.check
        if c.ok and c.general:
            check = f"general: {c.replay}. Also {compared} at all {len(c.bounded_shapes)} grid shapes: equal."
        elif c.ok:
            check = f"bounded: {compared} at the {len(c.bounded_shapes)} grid shapes: equal ({c.replay})."
        else:
            check = f"FAILED: {c.message}."
        return StepView(
            number=k, rule=s.rule, args=s.args_text(inline, literal, key), statement=s.statement,
            obligations=tuple((obligation_status(o), filled(o.text, o.args), filled(o.how, o.how_args)) for o in s.obligations),
            lhs=lhs, result=expr(s.after), label=c.label if c.ok else "failed", ok=c.ok, check=check,
            counterexample=c.counterexample.text() if c.counterexample else "",
            defines=tuple((expr(d.lhs), expr(d.body)) for d in s.defines))

    steps = [view(k, s, expr(op.lhs)) for k, s in enumerate(cp.steps, 1)]
    evo = None
    f = cp.evolution
    if f is not None:
        kdef = f.kernel_definition
        evo = EvolutionView(
            lhs=expr(f.lhs), channel=expr(f.channel), channel_hi=expr(f.channel_hi),
            neighbour=expr(sp.Tuple(*f.neighbour)) if len(f.neighbour) > 1 else expr(f.neighbour[0]),
            position=", ".join(expr(p) for p in f.position),
            kernel=expr(f.kernel), kernel_body=expr(kdef.body) if kdef else expr(f.kernel),
            value=expr(f.value), bias=expr(f.bias), omega=omega(f.omega, f.position), omega_kind=omega_description(f.omega, show),
            layout=f.value_layout, tap=closed_tap_form(cp, expr))
    def check_rows(results):
        return tuple((c.ok, c.name, c.label, message(c), c.counterexample.text() if c.counterexample else "") for c in results)

    def message(c):
        if c.name == EVOLUTION_CHECK and c.ok and f is not None:   # the same summary, in this notation
            return evolution_summary(f, show)
        return c.message

    checks = check_rows(cp.checks)
    limit = None
    if cp.limit is not None:
        lr, spec = cp.limit, op.limit
        what = ("the exact limit of every softmax entry (from the logit's coefficient of the sharpness) compared",
                "the limit operator compared with the target's reference on random integer inputs")
        limit = LimitView(
            sharpness=expr(spec.sharpness), target=spec.target, weight_map=spec.weight_map,
            steps=tuple(view(k, s, expr(s.before), w) for (k, s), w in zip(enumerate(lr.steps, 1), what)),
            checks=check_rows((lr.target, lr.bound)),
            rows=tuple((f"{a:g}", f"{m:.4g}", f"{b:.4g}") for a, m, b in lr.rows),
            needed=tuple((f"{e:g}", f"{ab:.4g}", f"{am:.4g}") for e, ab, am in lr.needed), dims=lr.dims, ok=lr.ok)
    general = sum(1 for s in cp.steps if s.check.ok and s.check.general)
    bounded = sum(1 for s in cp.steps if s.check.ok and not s.check.general)
    return Outline(
        name=op.name, summary=op.summary, description=op.description, citation=op.citation, notes=op.notes,
        sizes=tuple((expr(s), meaning) for s, meaning in op.sizes),
        domain=tuple((", ".join(expr(s) for s in syms), bound, note) for syms, bound, note in size_domains(op)),
        constraints=tuple(expr(c) for c in op.constraints),
        tensors=tuple((expr(t.base), t.role if t.domain == "real" else f"{t.role} ({t.domain.replace('_', ' ')})",
                       expr(sp.Tuple(*t.shape)), t.description)   # a domain is a premise of the statement
                      for t in op.tensors + (op.output,)),
        definitions=tuple((expr(d.lhs), expr(d.body), d.description) for d in op.definitions),
        lhs=expr(op.lhs), traditional=expr(op.traditional), steps=tuple(steps), evolution=evo, checks=checks,
        shapes=cp.shapes, ok=cp.ok, general=general, bounded=bounded, limit=limit)


def domain_text(o: Outline, math=lambda t: t, rel=lambda r: r) -> str:
    """The sizes' domain in one line, "B, C, L ≥ 1; P ≥ 0 (integers); 2·P ≤ K": the domain "for all sizes" ranges
    over, the operator's constraints included (the divisor prover assumes them; generated code refuses sizes outside).
    ``rel`` writes a bound ("≥ 1") in the printer's notation, ``math`` wraps a formula ("$…$")."""
    parts = [(math(f"{n} {rel(r)}") if r else math(n)) + (f" ({note})" if note else "" if r else " (any integer)")
             for n, r, note in o.domain]
    text = "; ".join(parts) + " (integers)" if parts else "none"
    return text + "".join(f"; {math(c)}" for c in o.constraints)


def verdict(o: Outline) -> str:
    """The one-paragraph honest summary: what is general, what is bounded, at which shapes."""
    n = len(o.steps)
    if not o.ok:
        return "NOT PROVED: a check failed (see above)."
    parts = [f"PROVED. {n} steps: {o.general} general (the rule's identity with every precondition proved "
             f"symbolically, valid for all sizes), {o.bounded} bounded (checked exactly only at the grid shapes)."]
    bounded_checks = [name for ok, name, label, _, _ in o.checks if label == "bounded"]
    if bounded_checks:
        parts.append(f"Bounded checks at the {len(o.shapes)} grid shapes: {', '.join(bounded_checks)}.")
    parts.append(f"Every step was also compared exactly, entry by entry, at all {len(o.shapes)} grid shapes.")
    if o.limit is not None:
        general = sum(1 for s in o.limit.steps if s.label == "general")
        parts.append(f"Limit of the sharpness → ∞: {len(o.limit.steps)} steps ({general} general); the limit operator "
                     f"is {o.limit.target} (compared exactly with its reference at the grid shapes); the error bound "
                     "at finite sharpness holds at every value measured.")
    return " ".join(parts)
