"""The α → ∞ limit of an operator that declares one (:class:`evosym.ir.limit.SoftmaxLimit`), checked.

Three results, each labelled by how it was checked:

1. ``softmax-limit``: lim A = δ(q, q*). The rule's preconditions are proved symbolically (the logit
   is a quadratic well around q*, q* is an integer key: the pad-and-crop condition), so the step is
   general; independently, at every grid shape the exact limit of every softmax entry is computed
   from the logit's coefficient of α (the softmax tends to the uniform weights, scaled by e^{rest},
   on the keys where that coefficient is largest) and compared with δ(q, q*).
2. ``limit-of-kernel``: lim K = K∞, the kernel with A replaced by its limit and the deltas summed
   out; the limit operator Σ_c Σ_q K∞·v + β is compared exactly, on random integer inputs, with the
   declared target's independent reference (e.g. ``conv2d`` with the constructive weight map).
3. The error at finite α: the rule's bound 2(1 − θ(α)^{−D}) on Σ_q |A − δ| is compared with the
   weights measured (float64) at the grid shapes, and the α needed for each requested error is
   given twice: from the bound (valid for every size) and as measured at the grid shapes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import sympy as sp

from ..errors import EvosymError
from ..ir.operator import format_sizes
from ..ir.symbols import size_value
from ..ir.tensors import Definition, in_domain
from .bounded import env_of
from .evaluate import Evaluator
from .reference import CheckResult
from .rules import get_rule
from .rules.limits import softmax_parts
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


def check_limit(proof, grid) -> LimitReport:
    """Check ``proof.operator.limit`` (see the module docstring)."""
    op, spec = proof.operator, proof.operator.limit
    defs = proof.definitions()
    from .proof import rule_context
    ctx = rule_context(op, defs)
    a = defs.get(spec.weights)
    if a is None:
        raise EvosymError(f"{op.name}: the limit names {spec.weights!r}, which is not a definition")
    peak = tuple(zip(spec.keys, spec.minimiser))
    form = proof.match()
    kname = str(form.kernel.base.label)
    steps = []
    # 1. softmax-limit
    before = sp.Limit(a.lhs, spec.sharpness, sp.oo)
    args = dict(name=spec.weights, sharpness=spec.sharpness, peak=peak)
    app = get_rule("softmax-limit").apply(before, ctx, **args)
    entries = _entries(op, defs, a, spec, grid)
    ce = _exact_limit(a, app.after, entries)
    steps.append(_step("softmax-limit", args, before, app, grid, ce, "the exact limit differs from the claim"))
    # 2. limit-of-kernel, and the limit operator against the target
    kbefore = sp.Limit(form.kernel, spec.sharpness, sp.oo)
    kargs = dict(name=kname, weights=spec.weights, sharpness=spec.sharpness, peak=peak)
    kapp = get_rule("limit-of-kernel").apply(kbefore, ctx, **kargs)
    target = _target(op, proof, form, kapp.after, grid)
    steps.append(_step("limit-of-kernel", kargs, kbefore, kapp, grid, target.counterexample,
                       "the limit operator differs from the target"))
    rows, needed, bound = _errors(spec, entries)
    return LimitReport(tuple(steps), target, rows, needed, bound, len(spec.keys))


def _step(rule, args, before, app, grid, ce, why) -> Step:
    proved = all(o.proved for o in app.obligations)
    replay = "rule applied; " + ("all preconditions proved symbolically" if proved else "precondition not proved "
                                 "symbolically: " + "; ".join(str(o) for o in app.obligations if not o.proved))
    shapes = tuple(format_sizes(env_of(g)) for g in grid)
    check = StepCheck(ce is None, proved and ce is None, replay, shapes, ce, "" if ce is None else why)
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


def _target(op, proof, form, k_inf, grid, seed: int = 0) -> CheckResult:
    """Σ_c Σ_q K∞·v + β against the target's reference, exactly, on random integer inputs."""
    spec = op.limit
    name = f"limit operator = {spec.target}"
    defs = dict(proof.definitions())
    kdef = defs[str(form.kernel.base.label)]
    defs[kdef.name] = Definition(kdef.name, kdef.params, k_inf, kdef.description)
    rng = np.random.default_rng(seed)
    for config in grid:
        env = env_of(config)
        shapes = op.shapes_at(env)
        arrays = {t.name: in_domain(t, rng.integers(-3, 4, size=shapes[t.name]).astype(np.int64)) for t in op.tensors}
        ev = Evaluator(shapes, defs, leaf=lambda tensor, idx: int(arrays[tensor][idx]))
        fn = ev.compile(proof.final)
        ref = np.asarray(_numpy(spec.target_reference, arrays, env))
        for pt in np.ndindex(*shapes[op.output.name]):
            local = dict(env)
            local.update(zip(op.lhs_indices, pt))
            ours = fn(local)
            if ref[pt] != ours:
                return CheckResult(name, False, "bounded", "the limit operator differs from the target's reference",
                                   Counterexample(format_sizes(env), str(pt), f"limit operator = {ours}",
                                                  f"target = {ref[pt]:g}", f"integer inputs, seed {seed}"))
    return CheckResult(name, True, "bounded", f"Σ_c Σ_q K∞·v + β equals the target's independent reference exactly on "
                       f"random integer inputs (seed {seed}) at {len(grid)} shapes, with the map {spec.weight_map}")


def _numpy(reference, arrays, env):
    import torch
    out = reference({k: torch.from_numpy(v).to(torch.float64) for k, v in arrays.items()},
                    {str(k): v for k, v in env.items()})
    return out.numpy()


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


def _errors(spec, entries):
    dims = len(spec.keys)
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
