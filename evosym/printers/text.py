"""Plain-text proofs for terminals: numbered steps, rule, statement, preconditions, result, check."""

from __future__ import annotations

import textwrap

from ..proof.proof import CheckedProof
from .expr import TextExprPrinter, symbol_names
from .outline import MARKS, LimitView, Outline, domain_text, outline, verdict

WIDTH = 100


def _wrap(text: str, indent: str) -> str:
    return textwrap.fill(text, WIDTH, initial_indent=indent, subsequent_indent=indent,
                         break_long_words=False, break_on_hyphens=False)


def _block(text: str, indent: str) -> str:
    return "\n".join(indent + line for line in text.splitlines())


def render_text(cp: CheckedProof) -> str:
    """The proof as plain text (deterministic: depends only on the proof)."""
    printer = TextExprPrinter(cp.operator.display_names("text"), symbol_names(cp, "text"))
    o = outline(cp, printer._print, lambda om, p: om.text(p, printer))
    return _render(o)


def _step(s, word: str) -> list[str]:
    out = ["", f"{word} {s.number}. {s.rule}({s.args})  [{s.label}]", _wrap(f"Rule: {s.statement}", "  ")]
    if s.obligations:
        out.append("  Preconditions:")
        for status, text, how in s.obligations:
            out.append(_wrap(f"{MARKS[status]} {text}  ({how})", "    "))
    for lhs, body in s.defines:
        out.append(f"  Defines: {lhs} := {body}")
    out.append(f"  Result: {s.lhs} = {s.result}")
    out.append(_wrap(f"Check: {s.check}", "  "))
    if s.counterexample:
        out.append("  Counterexample:")
        out.append(_block(s.counterexample, "    "))
    return out


def _checks(checks) -> list[str]:
    out = []
    for ok, name, label, message, ce in checks:
        out.append(_wrap(f"{'✓' if ok else '✗'} {name} [{label}]: {message}", "  "))
        if ce:
            out.append(_block(ce, "      "))
    return out


def _limit(lim: LimitView) -> list[str]:
    out = ["", f"Limit {lim.sharpness} → ∞: {lim.target}", _wrap(f"Constructive map: {lim.weight_map}.", "  ")]
    for s in lim.steps:
        out += _step(s, "Limit step")
    out += ["", "  Checks of the limit"] + _checks(lim.checks)
    out += ["", f"  Error at finite {lim.sharpness}: Σ_q |A − δ| per softmax row, max over the grid shapes (float64),",
            f"  and the bound 2(1 − θ^−{lim.dims}), θ = (1 + e^−{lim.sharpness})/(1 − e^−{lim.sharpness}), valid for all sizes"]
    out.append(f"    {lim.sharpness:>10}  {'measured':>12}  {'bound':>12}")
    out += [f"    {a:>10}  {m:>12}  {b:>12}" for a, m, b in lim.rows]
    out += ["", f"  {lim.sharpness} needed for a given error Σ_q |A − δ| ≤ ε"]
    out.append(f"    {'ε':>10}  {'from bound':>12}  {'at the grid':>12}")
    out += [f"    {e:>10}  {ab:>12}  {am:>12}" for e, ab, am in lim.needed]
    return out


def _render(o: Outline) -> str:
    title = f"evosym proof: {o.name}: {o.summary}"
    out = [title, "=" * min(WIDTH, len(title))]
    if o.description:
        out.append(_wrap(o.description, ""))
    if o.citation:
        out.append(_wrap(f"Conventions: {o.citation}", ""))
    for note in o.notes:
        out.append(_wrap(f"Note: {note}", ""))
    out += ["", _wrap(f"Sizes: {domain_text(o)}", "")]
    width = max((len(s) for s, _ in o.sizes), default=0)
    out += [f"  {s.ljust(width)}  {meaning}" for s, meaning in o.sizes]
    out += ["", "Tensors"]
    for name, role, shape, desc in o.tensors:
        out.append(f"  {name}  {role}, shape {shape}" + (f": {desc}" if desc else ""))
    if o.definitions:
        out += ["", "Definitions"]
        for lhs, body, desc in o.definitions:
            out.append(f"  {lhs} := {body}" + (f"    ({desc})" if desc else ""))
    out += ["", "Traditional form", f"  {o.lhs} = {o.traditional}"]
    for s in o.steps:
        out += _step(s, "Step")
    out += ["", "Evolution form"]
    e = o.evolution
    if e is None:
        out.append("  (not reached: the final expression does not match the Evolution form)")
    else:
        bias = "" if e.bias == "0" else f" + {e.bias}"
        out.append(f"  {e.lhs} = Σ_{{{e.channel}=0}}^{{{e.channel_hi}}} Σ_{{{e.neighbour} ∈ Ω({e.position})}} {e.kernel}·{e.value}{bias}")
        out.append(f"  Ω({e.position}) = {e.omega}")
        out.append(f"      ({e.omega_kind})")
        out.append(f"  {e.kernel} = {e.kernel_body}")
        if e.tap is not None:
            taps = ", ".join(f"0 ≤ {u} ≤ {hi}" for u, hi in e.tap.bounds)
            out.append(_wrap(f"in tap form ({taps}, the taps inside the input; checked against K at the {e.tap.shapes} grid shapes):", "  "))
            out.append(f"  {e.tap.lhs} = {e.tap.body}")
        out.append(f"  v = {e.value}   (layout: {e.layout})")
    out += ["", "Checks of the conclusion"]
    out += _checks(o.checks)
    if o.limit is not None:
        out += _limit(o.limit)
    out += ["", f"Grid of shapes for bounded checks ({len(o.shapes)})"]
    out += [f"  {k}. {shape}" for k, shape in enumerate(o.shapes, 1)]
    out += ["", _wrap(verdict(o), "")]
    return "\n".join(out) + "\n"
