"""A proof (frozen steps ending in an Evolution form) and its independent re-check.

:meth:`Proof.check` trusts nothing that produced the steps. It first checks the premises every rule
and bounded check relies on (:mod:`.premises`: binders typed by their range, closed definitions, the
grid inside the sizes' domains). For each step it (1) replays the
named rule on the recorded *before* and requires the recorded *after*; the step is labelled
*general* only if, in addition, every precondition was proved symbolically; (2) compares
*before* and *after* exactly at every output index for every shape of the operator's grid
(bounded), which catches wrong steps whatever their label. It then matches the final
expression against the Evolution form, checks that the support of K is exactly the declared
Ω(p) at every grid shape, and compares the traditional form with the operator file's own numeric
reference (user code, run apart from the check: :mod:`.reference`) on random integer and dyadic inputs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import sympy as sp

from ..errors import EvosymError, MatchError, TimeLimitExceeded
from ..ir.evolution import EvolutionForm, match_evolution
from ..ir.neighbourhood import Neighbourhood
from ..ir.operator import Operator, format_sizes
from ..ir.tensors import indicator_names
from .bounded import ExpressionFailure, compare, env_of, evaluate_everywhere, output_points
from .evaluate import Evaluator
from .limit import LimitReport, check_limit, run_limit_target
from .magnitude import entries_of
from .premises import check_premises
from .reference import CheckResult, check_reference, run_reference
from .rules import get_rule
from .rules.base import Context, float_obligations, range_obligations
from .rules.nonzero import divisor_obligations
from .step import Step, StepCheck
from .support import check_support
from .tree import bound_variables

# How a notebook shows a checked proof (Jupyter calls _repr_latex_ / _repr_markdown_): filled by
# evosym.printers.notebook when it is imported (evosym imports it in IPython), so that the trusted core
# imports no printer; empty, a proof has no rich display.
DISPLAY: dict = {}


EVOLUTION_CHECK = "Evolution form"


def evolution_summary(form: EvolutionForm, show=sp.sstr) -> str:
    """The matched form in one line, expressions written by ``show`` (plain SymPy text here; the printers
    pass their own notation, so the trusted core needs no printer)."""
    bias = f", β = {show(form.bias)}" if form.bias != 0 else ""
    return (f"matched structurally: Ω = {form.omega.describe(show)}, v = {show(form.value)}, "
            f"K = {show(form.kernel)}{bias}")


def rule_context(op: Operator, definitions: dict) -> Context:
    ranges = {s: (lo, hi) for s, lo, hi in op.lhs_ranges()}
    tensors = {t.name: t for t in op.tensors + (op.output,)}
    return Context(ranges, dict(definitions), frozenset(op.size_symbols()), op.value, tensors, tuple(op.constraints))


@dataclass(frozen=True)
class CheckedProof:
    """A proof after :meth:`Proof.check`: steps carry their checks; whole-proof checks follow."""

    proof: "Proof"
    steps: tuple[Step, ...]
    evolution: EvolutionForm | None
    checks: tuple[CheckResult, ...]
    shapes: tuple[str, ...]
    limit: LimitReport | None = None
    seconds: float = field(default=0.0, compare=False)

    @property
    def ok(self) -> bool:
        return (all(s.check.ok for s in self.steps) and all(c.ok for c in self.checks) and self.evolution is not None
                and (self.operator.limit is None or (self.limit is not None and self.limit.ok)))

    def _repr_latex_(self) -> str | None:
        render = DISPLAY.get("latex")
        return render(self) if render else None

    def _repr_markdown_(self) -> str | None:
        render = DISPLAY.get("markdown")
        return render(self) if render else None

    @property
    def operator(self) -> Operator:
        return self.proof.operator

    def failures(self) -> list[str]:
        out = []
        for k, s in enumerate(self.steps, 1):
            if not s.check.ok:
                text = f"step {k} ({s.rule}): {s.check.message}"
                if s.check.counterexample:
                    text += "\n" + s.check.counterexample.text()
                out.append(text)
        limit = self.limit
        for k, s in enumerate(limit.steps if limit is not None else (), 1):
            if not s.check.ok:
                out.append(f"limit step {k} ({s.rule}): {s.check.message}"
                           + (f"\n{s.check.counterexample.text()}" if s.check.counterexample else ""))
        for c in self.checks + ((limit.target, limit.bound) if limit is not None else ()):
            if not c.ok:
                text = f"{c.name}: {c.message}"
                if c.counterexample:
                    text += "\n" + c.counterexample.text()
                out.append(text)
        if not out and not self.ok:   # (no Evolution form, or a limit section that was not checked)
            out.append("the proof reached no Evolution form" if self.evolution is None else "the limit was not checked")
        return out


@dataclass(frozen=True)
class Proof:
    """The steps from an operator's traditional form to its Evolution form, and the declared Ω."""

    operator: Operator
    steps: tuple[Step, ...]
    omega: Neighbourhood
    channel: sp.Symbol
    neighbour: tuple[sp.Symbol, ...]

    @property
    def final(self) -> sp.Expr:
        return self.steps[-1].after if self.steps else self.operator.traditional

    def definitions(self) -> dict:
        defs = {d.name: d for d in self.operator.definitions}
        for s in self.steps:
            defs.update({d.name: d for d in s.defines})
        return defs

    def match(self) -> EvolutionForm:
        op = self.operator
        value = op.tensor(op.value)
        inputs = {t.name for t in op.tensors if t.role == "input"}
        return match_evolution(self.final, lhs=op.lhs, batch=op.batch, out_channel=op.out_channel,
                               position=op.position, channel=self.channel, neighbour=self.neighbour,
                               value_name=op.value, value_shape=value.shape, input_names=inputs,
                               definitions=self.definitions(), omega=self.omega)

    # -- the check ------------------------------------------------------------------------
    def check(self, grid=None, *, delta_shortcut: bool = True, reference: bool = True, reference_outputs=None,
              limit_outputs=None) -> CheckedProof:
        """Re-check every step and the conclusion; see the module docstring. ``reference_outputs`` and
        ``limit_outputs`` are the file's references' outputs (:func:`run_reference`, :func:`run_limit_target`,
        e.g. computed in another process) for the grid checked; when None they are computed here. "Not 0" means not 0
        at some input of the declared domains: an indicator's entries are 0 or 1 (:func:`.magnitude.entries_of`)."""
        with entries_of(indicator_names(self.operator.tensors)):
            return self._check(grid, delta_shortcut, reference, reference_outputs, limit_outputs)

    def _check(self, grid, delta_shortcut, reference, reference_outputs, limit_outputs) -> CheckedProof:
        start = time.perf_counter()
        op = self.operator
        grid = tuple(grid if grid is not None else op.grid)
        if not grid:
            raise EvosymError(f"operator {op.name} has no grid of shapes for bounded checks")
        premises = check_premises(self, grid)   # first: binders, closed definitions, the grid in the sizes' domains
        grid = premises.grid                     # empty when a shape lies outside the sizes' domains: nothing evaluated
        shapes = tuple(format_sizes(env_of(g)) for g in grid)
        replays = self._replay()
        bounded = self._bounded(grid, delta_shortcut)
        steps = []
        for k, step in enumerate(self.steps):
            replay_ok, replay_msg, general, obligations = replays[k]
            ce, bmsg = bounded[k]
            ok = replay_ok and ce is None
            msg = replay_msg if not replay_ok else (bmsg if ce is not None else "")
            # the statement and obligations shown are the checker's own (from its replay), never the producer's
            steps.append(replace(step, statement=_statement(step.rule), obligations=obligations,
                                 check=StepCheck(ok, general and ok, replay_msg, shapes, ce, msg)))
        steps = list(premises.relabel(steps))
        checks, form = [], None
        try:
            form = self.match()
            checks.append(CheckResult(EVOLUTION_CHECK, True, "general", evolution_summary(form)))
        except MatchError as exc:
            checks.append(CheckResult(EVOLUTION_CHECK, False, "general", str(exc)))
        if form is not None and grid:
            checks.append(check_support(op, form, self.definitions(), grid))
        if reference and grid and (reference_outputs is not None or op.reference is not None):
            if reference_outputs is None:   # the library path: the file's reference (user code) runs here
                reference_outputs = run_reference(op, grid)
            checks.append(check_reference(op, grid, self.definitions(), reference_outputs))
        limit = None
        if op.limit is not None and form is not None and grid:
            if limit_outputs is None:       # likewise the limit's target reference
                limit_outputs = run_limit_target(op, grid)
            limit = check_limit(self, grid, limit_outputs)
        if limit is not None:
            premises, limit = premises.with_limit(limit)
        checks.insert(0, premises.result())
        return CheckedProof(self, tuple(steps), form, tuple(checks), shapes, limit, time.perf_counter() - start)

    def _replay(self):
        """Per step: (replay ok, message, general, the replay's obligations)."""
        op = self.operator
        defs = {d.name: d for d in op.definitions}
        expected_before = op.traditional
        out = []
        for k, step in enumerate(self.steps, 1):
            if step.before != expected_before:
                out.append((False, f"step {k} does not start from the previous result", False, ()))
                expected_before = step.after
                continue
            try:
                rule = get_rule(step.rule)
                app = rule.apply(step.before, rule_context(op, defs), **step.kwargs)
            except TimeLimitExceeded:
                raise
            except EvosymError as exc:
                out.append((False, f"replay of {step.rule} failed: {exc}", False, ()))
                expected_before = step.after
                continue
            except Exception as exc:   # arguments of the wrong kind (a derivation is data from elsewhere)
                out.append((False, f"replay of {step.rule} failed: its arguments do not fit the rule "
                                   f"({type(exc).__name__}: {exc})", False, ()))
                expected_before = step.after
                continue
            if app.after != step.after or tuple(app.defines) != tuple(step.defines):
                out.append((False, f"{step.rule} with these arguments does not produce the recorded result", False,
                            app.obligations))
            else:
                dup = _duplicate_binders(step.after)
                if dup:
                    out.append((False, f"the result binds {dup} twice", False, app.obligations))
                else:
                    app = replace(app, obligations=tuple(app.obligations) + _range_obligations(step, op, defs))
                    proved = all(o.proved for o in app.obligations)
                    why = "rule replayed; " + ("all preconditions proved symbolically" if proved else
                                              "precondition not proved symbolically: " + "; ".join(str(o) for o in app.obligations if not o.proved))
                    out.append((True, why, proved, app.obligations))
            for d in step.defines:
                defs[d.name] = d
            expected_before = step.after
        return out

    def _bounded(self, grid, delta_shortcut):
        """Per step: (counterexample or None, message) from exact comparisons on the grid. Each expression is
        evaluated once per shape: step k compares the previous result with its after, and its recorded before
        must equal that previous result structurally (:meth:`_replay` checks it; the step fails otherwise)."""
        op = self.operator
        defs = self.definitions()
        exprs = [op.traditional] + [s.after for s in self.steps]
        result = [(None, "") for _ in self.steps]
        for config in grid:
            env = env_of(config)
            try:
                shapes = op.shapes_at(env)
            except ValueError as exc:
                raise EvosymError(f"{op.name}: grid shape {format_sizes(env)}: {exc}") from None
            if any(n <= 0 for n in shapes[op.output.name]):
                raise EvosymError(f"{op.name}: grid shape {format_sizes(env)} gives an empty output {shapes[op.output.name]}")
            ev = Evaluator(shapes, defs, delta_shortcut=delta_shortcut, sizes=op.size_symbols())
            points = output_points(op, env)
            values = []
            for k, e in enumerate(exprs):
                try:
                    values.append(evaluate_everywhere(op, ev, e, env, points))
                except ExpressionFailure as f:
                    values.append(f)
            for k in range(len(self.steps)):
                if result[k][0] is not None:
                    continue
                left, right = values[k], values[k + 1]
                if isinstance(right, ExpressionFailure):
                    result[k] = (right.counterexample, "the result is ill-formed at these sizes")
                elif isinstance(left, ExpressionFailure):
                    result[k] = (left.counterexample, "the starting expression is ill-formed at these sizes")
                else:
                    found = compare(op, env, points, left, right)
                    if found is not None:
                        ce, proved = found
                        result[k] = (ce, "before and after differ" if proved else "before and after are not proved equal")
        return result


def _range_obligations(step, op, defs) -> tuple:
    """:func:`.rules.base.range_obligations` of the step's result and of the definitions it makes (a definition's
    parameters range over its shape where it declares one), :func:`.rules.nonzero.divisor_obligations` of its before,
    after, the definitions it makes with a shape and every declared shape, and :func:`.rules.base.float_obligations`
    of the step."""
    shaped = [(d.body, {p: (sp.Integer(0), n - 1) for p, n in zip(d.params, d.shape)} if d.shape is not None else {})
              for d in step.defines]
    ctx = rule_context(op, {**defs, **{d.name: d for d in step.defines}})
    return (range_obligations([(step.after, {})] + shaped, ctx.ranges)
            + divisor_obligations([(step.before, {}), (step.after, {})]
                                  + [x for x, d in zip(shaped, step.defines) if d.shape is not None]
                                  + [(sp.Tuple(*t.shape), {}) for t in ctx.tensors.values()]
                                  + [(sp.Tuple(*d.shape), {}) for d in ctx.definitions.values() if d.shape is not None],
                                  ctx.ranges, ctx)
            + float_obligations([step.before, step.after] + [d.body for d in step.defines]))


def _statement(rule: str) -> str:
    """The rule's own statement ("" for an unknown rule, whose replay fails)."""
    try:
        return get_rule(rule).statement()
    except EvosymError:
        return ""


def _duplicate_binders(expr):
    seen, dup = set(), []
    for v in bound_variables(expr):
        if v in seen:
            dup.append(str(v))
        seen.add(v)
    return ", ".join(dup)
