"""The α → ∞ limit of an operator that declares one (:class:`evosym.ir.limit.SoftmaxLimit`), checked.

Three results, each labelled by how it was checked:

1. ``softmax-limit``: lim A = δ(q, q*). The rule's preconditions are proved symbolically (the logit
   is a quadratic well around q*, q* is an integer key: the pad-and-crop condition), so the step is
   general; independently, at every grid shape the exact limit of every softmax entry is computed
   from the logit's coefficient of α (the softmax tends to the uniform weights, scaled by e^{rest},
   on the keys where that coefficient is largest) and compared with δ(q, q*).
2. ``limit-of-kernel``: lim K = K∞, the kernel with A replaced by its limit and the deltas summed
   out. The limit operator Σ_c Σ_q K∞·v + β must not depend on α at all: K∞, β and v are checked
   free of the sharpness read through every definition they read (a β that grows with α has no
   limit), and the evaluation refuses to read α (it is no input of the limit operator: the target
   reference gets NaN for it). The limit operator is then compared exactly, on random dyadic inputs
   (k/4), with the recorded outputs of the file's target reference (user code, e.g. ``conv2d`` with
   the constructive weight map): :func:`limit_target_inputs`, :func:`run_limit_target` (runs the user
   code, on torch tensors) and :func:`check_limit` (pure) keep the user code apart.
3. The error at finite α: the rule's bound 2(1 − θ(α)^{−D}) on Σ_q |A − δ| is compared with the
   weights measured (float64) at the grid shapes, and the α needed for each requested error is
   given twice: from the bound (valid for every size) and as measured at the grid shapes.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np
import sympy as sp

from ..errors import EvosymError, IllFormedAccess
from ..ir.operator import format_sizes
from ..ir.reads import Read, reads as reads_through
from ..ir.symbols import size_value
from ..ir.tensors import Definition
from .bounded import ExpressionFailure, env_of, evaluate_everywhere, index_text, output_points
from .evaluate import Evaluator
from .reference import (ULPS, CheckResult, ExactNumbers, as_float64, draw, error_text, exact_text, leaf_of, mismatch,
                        ring_only, show_number, unheld)
from .rules import get_rule
from .rules.base import float_obligations, range_obligations
from .rules.nonzero import divisor_obligations
from .rules.limits import continuous_in, sharpness_problem, softmax_parts
from .step import Counterexample, Step, StepCheck


@dataclass(frozen=True)
class LimitReport:
    """The checked limit: its steps, the target comparison, the error table."""

    steps: tuple[Step, ...]
    target: CheckResult
    rows: tuple[tuple[float, float, float], ...]      # (α, measured max Σ_q |A − δ|, bound)
    needed: tuple[tuple[float, float, float], ...]    # (error, α from the bound, α measured at the grid)
    bound: CheckResult
    dims: int

    @property
    def ok(self) -> bool:
        return all(s.check.ok for s in self.steps) and self.target.ok and self.bound.ok


def theta(alpha: float) -> float:
    """θ(α) = (1 + e^{−α})/(1 − e^{−α}) ≥ Σ_{t∈ℤ} e^{−αt²}."""
    t = math.exp(-alpha)
    return (1 + t) / (1 - t) if t < 1 else math.inf


def weight_bound(alpha: float, dims: int) -> float:
    """The rule's bound on Σ_q |A − δ| at sharpness α > 0 over ``dims`` key axes: 2(1 − θ^{−D})."""
    if alpha <= 0:
        return 2.0
    t = math.exp(-alpha)   # 1 − θ^{−D} = 1 − ((1 − t)/(1 + t))^D, without cancellation when t is tiny
    return -2 * math.expm1(dims * (math.log1p(-t) - math.log1p(t)))


def alpha_for(error: float, dims: int) -> float:
    """The smallest α at which the bound 2(1 − θ(α)^{−D}) reaches ``error`` (0 < error < 2)."""
    gap = math.expm1(-math.log1p(-error / 2) / dims)   # θ − 1, without cancellation for tiny errors
    return math.log(2 + gap) - math.log(gap)


def check_limit(proof, grid, target_outputs) -> LimitReport:
    """Check ``proof.operator.limit`` (see the module docstring); ``target_outputs`` are the file's target
    reference's outputs as :func:`run_limit_target` returns them (this runs no user code)."""
    op, spec = proof.operator, proof.operator.limit
    defs = proof.definitions()
    from .proof import rule_context
    ctx = rule_context(op, defs)
    a = defs.get(spec.weights)
    if a is None:
        raise EvosymError(f"{op.name}: the limit names {spec.weights!r}, which is not a definition")
    peak = tuple(zip(spec.keys, spec.minimiser))
    over = _over_shape(a)
    form = proof.match()
    if not (isinstance(form.kernel, sp.Indexed) and str(form.kernel.base.label) in defs):
        raise EvosymError(f"{op.name}: the limit section needs the kernel named (rule name-kernel); K = {form.kernel}")
    kname = str(form.kernel.base.label)
    steps = []
    # 1. softmax-limit
    before = sp.Limit(a.lhs, spec.sharpness, sp.oo)
    args = dict(name=spec.weights, sharpness=spec.sharpness, peak=peak)
    app = get_rule("softmax-limit").apply(before, ctx, **args)
    app = replace(app, obligations=app.obligations + range_obligations([(app.after, {})], ctx.ranges)
                  + divisor_obligations([(before, over), (app.after, over)], ctx.ranges, ctx)
                  + float_obligations([before, app.after]))
    entries = _entries(op, defs, a, spec, grid)
    ce = _exact_limit(a, app.after, entries)
    grows = sharpness_problem(ctx, spec.sharpness)
    steps.append(_step("softmax-limit", args, before, app, grid, ce, "the exact limit differs from the claim",
                       None if grows is None else f"the sharpness {spec.sharpness} cannot tend to ∞ on its own: {grows}"))
    # 2. limit-of-kernel, and the limit operator against the target
    kbefore = sp.Limit(form.kernel, spec.sharpness, sp.oo)
    kover = {**{p: (sp.Integer(0), hi) for p, hi in zip(form.neighbour, form.neighbour_hi)},
             form.channel: (sp.Integer(0), form.channel_hi)}
    kargs = dict(name=kname, weights=spec.weights, sharpness=spec.sharpness, peak=peak)
    kapp = get_rule("limit-of-kernel").apply(kbefore, ctx, **kargs)
    kapp = replace(kapp, obligations=kapp.obligations + range_obligations([(kapp.after, {})], ctx.ranges)
                   + divisor_obligations([(kbefore, kover), (kapp.after, kover)], ctx.ranges, ctx)
                   + float_obligations([kbefore, kapp.after]))
    target = _target(op, proof, form, kapp.after, grid, target_outputs)
    kbody = defs[kname].instantiate(form.kernel.indices)
    weights = {r for r in kbody.atoms(sp.Indexed) if str(r.base.label) == spec.weights}
    jump = None if continuous_in(kbody, weights) else (f"{kname} is not a polynomial in the reads of {spec.weights}: "
                                                       "its limit need not be its value at their limits")
    steps.append(_step("limit-of-kernel", kargs, kbefore, kapp, grid, target.counterexample,
                       "the limit operator differs from the target",
                       jump or _depends("K∞", kapp.after, defs, spec.sharpness)))
    rows, needed, bound = _errors(spec, entries)
    return LimitReport(tuple(steps), target, rows, needed, bound, len(spec.keys))


def _over_shape(d) -> dict:
    """The ranges of a definition's parameters over its shape (none where it declares none)."""
    return {} if d.shape is None else {p: (sp.Integer(0), n - 1) for p, n in zip(d.params, d.shape)}


def _step(rule, args, before, app, grid, ce, why, failure=None) -> Step:
    """The step with its check: failed with a counterexample (and ``why``), or with ``failure`` alone."""
    proved = all(o.proved for o in app.obligations)
    replay = "rule applied; " + ("all preconditions proved symbolically" if proved else "precondition not proved "
                                 "symbolically: " + "; ".join(str(o) for o in app.obligations if not o.proved))
    shapes = tuple(format_sizes(env_of(g)) for g in grid)
    ok = ce is None and failure is None
    check = StepCheck(ok, proved and ok, replay, shapes, ce, failure or ("" if ce is None else why))
    r = get_rule(rule)
    return Step(rule=rule, statement=r.statement(), args=tuple(args.items()), before=before, after=app.after,
                obligations=app.obligations, check=check)


@dataclass(frozen=True)
class _Entries:
    """At one grid shape: the softmax's rows (its non-key indices) and, per row, the peak q* and every key
    with the logit's coefficient of α and the rest, exactly."""

    env: dict
    row_params: tuple
    key_params: tuple
    rows: list      # [(row, q*, [(key, coefficient, rest)])]


def _exact(v, what):
    if isinstance(v, (int, Fraction)):
        return sp.Rational(v.numerator, v.denominator) if isinstance(v, Fraction) else sp.Integer(v)
    raise EvosymError(f"the logit's {what} is not a number at concrete indices ({v}): the exact limit needs "
                      "logits that read no tensor entries besides the sharpness")


def _entries(op, defs, a: Definition, spec, grid) -> list[_Entries]:
    logit, _, _, keys = softmax_parts(_ctx(op, defs), spec.weights, a.lhs)
    body = defs[str(logit.base.label)].instantiate(logit.indices)
    alpha = spec.sharpness
    poly = sp.Poly(sp.expand(body), alpha)
    if poly.degree() > 1:
        raise EvosymError(f"{op.name}: the logit is not linear in {alpha}: its limit is not evaluated")
    coeff, rest = poly.coeff_monomial(alpha), poly.coeff_monomial(1)
    if a.shape is None:
        raise EvosymError(f"{op.name}: the limit's weights {a.name} need a declared shape")
    key_params = tuple(p for p in a.params if p in keys)
    row_params = tuple(p for p in a.params if p not in keys)
    out = []
    for config in grid:
        env = env_of(config)
        ev = Evaluator(op.shapes_at(env), defs)
        f_coeff, f_rest = ev.compile(coeff), ev.compile(rest)
        peak = [ev.compile(q) for q in spec.minimiser]
        extent = dict(zip(a.params, (size_value(s, env) for s in a.shape)))
        rows = []
        for row in np.ndindex(*[extent[p] for p in row_params]):
            local = dict(env)
            local.update(zip(row_params, row))
            star = tuple(f(local) for f in peak)
            cells = []
            for key in np.ndindex(*[extent[p] for p in key_params]):
                local.update(zip(key_params, key))
                cells.append((key, _exact(f_coeff(local), "coefficient of α"), _exact(f_rest(local), "rest")))
            rows.append((row, star, cells))
        out.append(_Entries(env, row_params, key_params, rows))
    return out


def _ctx(op, defs):
    from .proof import rule_context
    return rule_context(op, defs)


def _exact_limit(a, after, entries) -> Counterexample | None:
    """The exact limit of every softmax entry against the claimed ``after`` (a product of deltas): the
    softmax of α·c(q) + r(q) tends to e^{r(q)}/Σ e^{r} on the keys where c is largest, 0 elsewhere."""
    claim = Evaluator({}, {}).compile(after)
    for e in entries:
        for row, _, cells in e.rows:
            top = max(c for _, c, _ in cells)
            best = [r for _, c, r in cells if c == top]
            z = sp.Add(*[sp.exp(r) for r in best])
            for key, c, r in cells:
                exact = (sp.exp(r) / z) if c == top else sp.Integer(0)
                local = dict(e.env)
                local.update(zip(e.row_params, row))
                local.update(zip(e.key_params, key))
                claimed = claim(local)
                if (exact != claimed) if exact.is_Rational else sp.simplify(exact - claimed) != 0:
                    where = ", ".join(f"{p}={v}" for p, v in zip(e.row_params + e.key_params, tuple(row) + tuple(key)))
                    return Counterexample(format_sizes(e.env), f"{a.name}[{where}]", f"exact limit = {exact}",
                                          f"claimed = {claimed}", "the softmax peaks elsewhere (is the peak outside the keys?)")
    return None


def limit_target_inputs(op, grid, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Per grid shape, the target reference's inputs: every declared tensor drawn as dyadic rationals k/4 in
    [−3, 3] (exact in float64, so rounding the input is seen), except that every entry of the sharpness is
    NaN: the limit operator has no α, and a target reference that reads it returns NaN."""
    rng = np.random.default_rng([seed, 2])
    out = []
    for config in grid:
        arrays = draw(op, op.shapes_at(env_of(config)), rng, "dyadic")
        for name, idx in _sharpness_entries(op, arrays):
            arrays[name][idx] = np.nan
        out.append(arrays)
    return out


def _sharpness_entries(op, arrays):
    """The (tensor, index) entries that are the sharpness (a read such as alpha[0] with integer indices)."""
    a = op.limit.sharpness
    if isinstance(a, sp.Indexed) and str(a.base.label) in arrays and all(i.is_Integer for i in a.indices):
        return [(str(a.base.label), tuple(int(i) for i in a.indices))]
    return []


def run_limit_target(op, grid, seed: int = 0) -> list:
    """Run ``op.limit.target_reference`` (user code, on float64 torch tensors) on :func:`limit_target_inputs`:
    per shape a float64 array, or a one-line error text if it raised."""
    if op.limit.target_reference is None:
        return ["TypeError: the limit declares no target reference"] * len(tuple(grid))
    import torch
    out = []
    for config, arrays in zip(grid, limit_target_inputs(op, grid, seed)):
        sizes = {str(k): v for k, v in env_of(config).items()}
        try:
            res = op.limit.target_reference({k: torch.from_numpy(v.copy()).to(torch.float64) for k, v in arrays.items()},
                                            sizes)
            if isinstance(res, torch.Tensor):
                res = res.detach().cpu().numpy()
            out.append(as_float64(res))
        except Exception as exc:   # a broken target reference fails the check; it never crashes the proof
            out.append(error_text(exc))
    return out


def sharpness_read(expr, definitions, sharpness) -> Read | None:
    """The first read of the sharpness in ``expr``, looking through every definition it reads (with its
    indices substituted); None when ``expr`` is free of α. A read of the sharpness's tensor at an index
    that is not a known other entry counts (``alpha[k]`` may be ``alpha[0]``)."""
    for r in reads_through(expr, definitions):
        x = r.read
        if isinstance(sharpness, sp.Indexed):
            if (isinstance(x, sp.Indexed) and x.base.label == sharpness.base.label
                    and (x.indices == sharpness.indices or not all(i.is_Integer for i in x.indices))):
                return r
        elif x in sharpness.free_symbols or (isinstance(x, sp.Indexed) and sharpness.has(x)):
            return r
    return None


def _depends(what, expr, defs, alpha) -> str | None:
    """Why ``expr`` (called ``what``) still depends on the sharpness, or None when it is free of it."""
    try:
        r = sharpness_read(expr, defs, alpha)
    except ValueError as exc:   # a definition that reads itself
        return f"{what} cannot be inlined: {exc}"
    if r is None:
        return None
    return (f"{what} still depends on the sharpness {alpha} (it reads {r.read} {r.via()}): its limit as {alpha} → ∞ "
            "is not taken, so the limit operator is not defined by the proof")


def _alpha_free(spec, form, k_inf, defs, final) -> str | None:
    """Why β, K∞ or the rest of the limit operator (v) still reads the sharpness, or None."""
    parts = (("β", form.bias), ("K∞", k_inf), ("the limit operator", final))
    return next((w for w in (_depends(what, e, defs, spec.sharpness) for what, e in parts) if w), None)


def _target(op, proof, form, k_inf, grid, outputs, seed: int = 0) -> CheckResult:
    """Σ_c Σ_q K∞·v + β against the recorded outputs of the file's target reference, on
    :func:`limit_target_inputs` (pure: runs no user code). K∞, β and v must not read the sharpness
    (symbolically, through every definition), and the evaluation refuses a read of it."""
    spec = op.limit
    name = f"limit operator = {spec.target}"
    defs = dict(proof.definitions())
    kdef = defs[str(form.kernel.base.label)]
    defs[kdef.name] = Definition(kdef.name, kdef.params, k_inf, kdef.description)
    fail = lambda msg, ce=None: CheckResult(name, False, "bounded", msg, ce)  # noqa: E731
    dep = _alpha_free(spec, form, k_inf, defs, proof.final)
    if dep is not None:
        return fail(dep)
    grid = tuple(grid)
    if len(outputs) != len(grid):
        return fail(f"the recorded outputs of the file's target reference do not match the grid ({len(grid)} shapes)")
    exact_mode = ring_only(proof.final, defs) is None
    number = ExactNumbers()
    wide = 0
    for config, arrays, ref in zip(grid, limit_target_inputs(op, grid, seed), outputs):
        env = env_of(config)
        shapes = op.shapes_at(env)
        where = f"at {format_sizes(env)} (dyadic inputs, seed {seed})"
        if isinstance(ref, str):
            return fail(f"the file's target reference raised {ref} {where}")
        ref = np.asarray(ref)
        if ref.shape != shapes[op.output.name] or ref.dtype != np.float64:
            return fail(f"the file's target reference returned {ref.dtype} values of shape {ref.shape}, not float64 of "
                        f"the declared {shapes[op.output.name]}, {where}")
        alpha = _sharpness_entries(op, arrays)
        leaf = leaf_of(arrays)

        def guarded(tensor, idx, leaf=leaf, alpha=alpha):
            if (tensor, idx) in alpha:
                raise IllFormedAccess(f"the limit operator reads the sharpness {spec.sharpness}: its limit is not taken")
            return leaf(tensor, idx)
        ev = Evaluator(shapes, defs, leaf=guarded, sizes=op.size_symbols())
        points = output_points(op, env)
        try:
            ours = [number(v) for v in evaluate_everywhere(op, ev, proof.final, env, points)]
        except ExpressionFailure as f:
            return fail("the limit operator cannot be evaluated", f.counterexample)
        except ValueError as exc:
            return fail(f"the limit operator has no real value {where}: {exc}")
        try:
            bad, _ = mismatch(points, ours, ref, exact_mode, max((abs(float(v)) for v in ours), default=0.0))
            wide += unheld(ours) if exact_mode else 0
        except OverflowError:
            return fail(f"the limit operator's values exceed the range of float64 {where}")
        if bad is not None:
            pt, v, r, _, _ = bad
            nan = (" (NaN: the sharpness, which is not an input of the limit operator, is NaN in its inputs)"
                   if alpha and math.isnan(r) else "")
            return fail("the limit operator differs from the file's target reference" + nan,
                        Counterexample(format_sizes(env), index_text(op, pt), f"limit operator = {show_number(v)}",
                                       f"target = {r!r}", f"dyadic inputs k/4, seed {seed}"))
    how = exact_text(exact_mode, wide, f"{ULPS}·u·max|y|")
    return CheckResult(name, True, "bounded", f"Σ_c Σ_q K∞·v + β (free of {spec.sharpness}, through every definition) "
                       f"equals the file's target reference {how} on random dyadic inputs (k/4; {spec.sharpness} is not "
                       f"an input) (seed {seed}) at {len(grid)} shapes, with the map {spec.weight_map}")


def _measured(entries, alpha: float) -> float:
    """max over rows of Σ_q |A − δ(q, q*)| = 2·Σ_{q≠q*} A(q) (the weights sum to one) at sharpness α, in
    float64; summing the off-peak weights keeps the tiny errors of large α exact to rounding."""
    worst = 0.0
    for e in entries:
        for _, star, cells in e.rows:
            logits = np.array([alpha * float(c) + float(r) for _, c, r in cells])
            w = np.exp(logits - logits.max())
            w /= w.sum()
            off = np.array([tuple(k) != tuple(star) for k, _, _ in cells])
            worst = max(worst, 2 * float(w[off].sum()))
    return worst


MIN_ERROR = 1e-300   # the least weight error whose α the table computes (α ≈ 692; at 5e-324, error/2 is 0)


def _error_values(spec) -> str:
    """Why the declared sharpness values and weight errors cannot test the bound ('' when they can): none at all, an
    α ≤ 0 (the bound is then 2, which every softmax meets) or an error outside [MIN_ERROR, 2) (Σ_q |A − δ| < 2
    always)."""
    def finite(v) -> bool:
        return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
    if not spec.alphas:
        return "it declares no sharpness α (alphas is empty) at which the measured weights are compared with the bound"
    bad = [a for a in spec.alphas if not (finite(a) and a > 0)]
    if bad:
        return f"its sharpness α = {bad[0]!r} is not a finite number > 0 (the bound at α ≤ 0 is 2, which every " \
               "softmax meets)"
    bad = [e for e in spec.errors if not (finite(e) and MIN_ERROR <= e < 2)]
    if bad:
        return f"its weight error {bad[0]!r} is not a finite number in [{MIN_ERROR:g}, 2) (Σ_q |A − δ| is below 2 at " \
               "every α, and the α a subnormal error needs is not computed)"
    return ""


def _errors(spec, entries):
    dims = len(spec.keys)
    why = _error_values(spec)
    if why:
        return (), (), CheckResult("error bound at finite α", False, "bounded", f"not checked: {why}")
    rows, bad = [], []
    for alpha in spec.alphas:
        m, b = _measured(entries, alpha), weight_bound(alpha, dims)
        rows.append((alpha, m, b))
        if not m <= b * (1 + 1e-9):
            bad.append(alpha)
    needed = []
    for err in spec.errors:
        hi = alpha_for(err, dims)
        lo = 0.0
        if _measured(entries, hi) > err * (1 + 1e-9):
            bad.append(hi)
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if _measured(entries, mid) <= err else (mid, hi)
        needed.append((err, alpha_for(err, dims), hi))
    shapes = len(entries)
    if bad:
        result = CheckResult("error bound at finite α", False, "bounded",
                             f"the measured weights exceed the bound 2(1 − θ(α)^−{dims}) at α = {bad[0]:g}")
    else:
        result = CheckResult("error bound at finite α", True, "bounded",
                             f"measured max Σ_q |A − δ| ≤ 2(1 − θ(α)^−{dims}) at α = "
                             f"{', '.join(f'{a:g}' for a in spec.alphas)} and at the α the bound gives for each error, "
                             f"at {shapes} shapes (float64)")
    return tuple(rows), tuple(needed), result
