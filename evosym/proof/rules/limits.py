"""Rules about limits in a sharpness parameter α → ∞: a softmax over a quadratic well becomes one-hot,
and the limit of a kernel is read off its terms."""

from __future__ import annotations

import sympy as sp

from ...errors import RuleError
from ...ir.reads import delta_pin
from ..symbolic import in_range
from .base import Application, Context, Obligation, Rule, integer_obligation, register


def softmax_parts(ctx: Context, name: str, read: sp.Indexed):
    """(logit read ℓ[…], denominator read Z[…], Z's body, {key variable: (lo, hi)}) of the softmax
    definition ``name`` := exp(ℓ[…])/Z[…] instantiated at ``read``; the keys are the variables of ``read``
    at the logit positions Z sums over."""
    if name not in ctx.definitions:
        raise RuleError(f"{name} is not a definition")
    a = ctx.definitions[name]
    num, den = sp.fraction(a.body)
    if not (isinstance(num, sp.exp) and isinstance(num.args[0], sp.Indexed) and isinstance(den, sp.Indexed)
            and str(den.base.label) in ctx.definitions and str(num.args[0].base.label) in ctx.definitions):
        raise RuleError(f"{name} := {a.body} is not exp(ℓ[…])/Z[…] with ℓ and Z definitions")
    at = dict(zip(a.params, read.indices))
    logit, z = num.args[0].xreplace(at), den.xreplace(at)
    z_body = ctx.definitions[str(z.base.label)].instantiate(z.indices)
    if not (isinstance(z_body, sp.Sum) and isinstance(z_body.function, sp.exp)
            and isinstance(z_body.function.args[0], sp.Indexed) and z_body.function.args[0].base == logit.base):
        raise RuleError(f"{z} := {z_body} is not a sum of exp({logit.base})")
    limits = {l[0]: (l[1], l[2]) for l in z_body.limits}
    keys = {}
    for i_z, i_here in zip(z_body.function.args[0].indices, logit.indices):
        if i_z in limits:
            if not isinstance(i_here, sp.Symbol) or i_here in keys:
                raise RuleError(f"{name}: the softmax's key {i_z} is read at {i_here}, not at a variable of its own")
            keys[i_here] = limits[i_z]
        elif sp.expand(i_z - i_here) != 0:
            raise RuleError(f"{z} normalises {z_body.function.args[0]}, not {logit}")
    if len(keys) != len(limits):
        raise RuleError(f"{z} sums over {', '.join(map(str, limits))}, not only over the logit's positions")
    return logit, z, z_body, keys


@register
class SoftmaxLimit(Rule):
    """A softmax over a quadratic well becomes one-hot: if ℓ[p, q] = −α·‖q − q*(p)‖² + c(p) with c free of q (it may depend on α), over the integer points q of a box S that contains the integer point q*(p), then lim_{α→∞} exp(ℓ[p, q]) / Σ_{q'∈S} exp(ℓ[p, q']) = δ(q, q*(p)); for α > 0 the weights differ from one-hot by at most Σ_q |A − δ| ≤ 2(1 − θ(α)^{−D}) in total, θ(α) = (1 + e^{−α})/(1 − e^{−α}), D the number of key axes.

    Proof: c(p) cancels in the softmax, so A(q*) = 1/(1 + E) with E = Σ_{q≠q*} e^{−α‖q−q*‖²}, and
    Σ_q |A − δ| = 2(1 − A(q*)) = 2E/(1 + E). Every q ≠ q* is an integer point, so ‖q − q*‖² ≥ 1 and
    E ≤ (Σ_{t∈ℤ} e^{−αt²})^D − 1 ≤ θ(α)^D − 1 (t² ≥ |t|); hence 2E/(1 + E) ≤ 2(1 − θ^{−D}) → 0.
    If q* left S, the softmax would peak at the points of S nearest to it instead (pad-and-crop).
    """

    name = "softmax-limit"
    preconditions = ("α is an entry of a declared parameter (a read such as alpha[0]; not a definition, a constant "
                     "or a size)",
                     "A's definition is a softmax exp(ℓ)/Z over the keys q",
                     "ℓ + α·‖q − q*‖² is free of the keys",
                     "q* reads no tensor and mentions neither the keys nor α, is integer-valued and lies in the "
                     "keys' range for every index of A")

    argument_docs = {   # name: (type, what it is) -- printed by 'evosym rules' and docs/rules.md
        "name": ("str",
            "the softmax definition A := exp(ℓ)/Z read by the limit lim_{α→∞} A[…]"),
        "sharpness": ("expression",
            "the sharpness parameter α that tends to ∞ (a parameter read such as alpha[0], or a symbol)"),
        "peak": ("list of (q, q*)",
            "each key variable of A and the integer position q*(p) where the well is deepest"),
    }

    def apply(self, expr, ctx: Context, *, name, sharpness, peak) -> Application:
        if not (isinstance(expr, sp.Limit) and isinstance(expr.args[0], sp.Indexed)
                and str(expr.args[0].base.label) == name and expr.args[1] == sharpness and expr.args[2] is sp.oo):
            raise RuleError(f"softmax-limit: expected lim_{{{sharpness}→∞}} {name}[…], not {expr}")
        read = expr.args[0]
        logit, z, z_body, keys = softmax_parts(ctx, name, read)
        peak = [(sp.sympify(q), sp.sympify(qs)) for q, qs in peak]
        if sorted(map(str, (q for q, _ in peak))) != sorted(map(str, keys)):
            raise RuleError(f"softmax-limit: peak names {', '.join(str(q) for q, _ in peak)}, the softmax's keys are "
                            f"{', '.join(map(str, keys))}")
        body = ctx.definitions[str(logit.base.label)].instantiate(logit.indices)
        well = sp.Add(*[(q - qs) ** 2 for q, qs in peak])
        rest = sp.expand(body + sharpness * well)
        free = not (rest.free_symbols & set(keys))
        a = ctx.definitions[name]
        ranges = dict(zip(a.params, [(sp.Integer(0), s - 1) for s in a.shape])) if a.shape is not None else {}
        ranges = {read.indices[a.params.index(p)]: r for p, r in ranges.items()}
        grows = sharpness_problem(ctx, sharpness)
        obligations = [
            Obligation("{} is an entry of a declared parameter (it grows without bound)", grows is None,
                       "checked" if grows is None else grows, (sharpness,), refuted=grows is not None),
            Obligation("{} := exp({})/{} with {} := {}: a softmax over {}", True, "structure checked",
                       (read, logit, z, z, z_body, sp.Tuple(*keys))),
            Obligation("{} + {}·({}) = {} is free of {}", free,
                       "expanded" if free else "it is not", (logit, sharpness, well, rest, sp.Tuple(*keys))),
        ]
        for q, qs in peak:
            lo, hi = keys[q]
            moving = peak_reads(qs, keys, sharpness)
            obligations.append(Obligation("{} is one point for each index of {}: it reads no tensor or definition and "
                                          "mentions no key of {} and not {}",
                                          not moving, "it mentions {}" if moving else "it mentions none",
                                          (qs, read, sp.Tuple(*keys), sharpness), (sp.Tuple(*moving),) if moving else (),
                                          refuted=bool(moving)))
            obligations.append(integer_obligation(qs))
            if a.shape is None:
                obligations.append(Obligation("{} ≤ {} ≤ {}", False, "{} declares no shape: its indices' ranges are unknown",
                                              (lo, qs, hi), (read.base,)))
            else:
                ok, how, args = in_range(qs, lo, hi, ranges)
                obligations.append(Obligation("{} ≤ {} ≤ {} (the peak is one of the keys)", ok, how, (lo, qs, hi), args))
        return Application(sp.Mul(*[sp.KroneckerDelta(q, qs) for q, qs in peak]), tuple(obligations))


def sharpness_problem(ctx: Context, sharpness) -> str | None:
    """Why ``sharpness`` is not a quantity that can tend to ∞ on its own: it must be a read, at integer indices, of a
    tensor the operator declares as a parameter (whose domain has no upper bound), not a definition (s := −α, 1,
    α/(1 + α): a limit in s is no limit in the parameter; an adversarial pass had all three PROVED, 2026-12-07), a
    constant or a size (None where it is)."""
    if not isinstance(sharpness, sp.Indexed):
        return f"{sharpness} is not a read of a parameter (such as alpha[0])"
    name = str(sharpness.base.label)
    decl = ctx.tensors.get(name)
    if name in ctx.definitions or decl is None:
        return f"it reads {name}, {'a definition' if name in ctx.definitions else 'no declared tensor'}, not a parameter"
    if decl.role != "parameter":
        return f"{name} is declared an {decl.role}, not a parameter"
    if not all(isinstance(i, sp.Integer) for i in sharpness.indices):
        return f"its indices {', '.join(map(str, sharpness.indices))} are not integers"
    return None


def continuous_in(expr, reads) -> bool:
    """Whether ``expr`` is a polynomial in ``reads`` (sums, products, finite sums and non-negative integer powers of
    them, times factors free of them), so that its limit is its value at their limits: sign(A) is 1 at every finite
    sharpness and sign(δ) at the limit (an adversarial pass, 2026-12-07)."""
    if expr in reads or not any(expr.has(r) for r in reads):
        return True
    if isinstance(expr, (sp.Add, sp.Mul)):
        return all(continuous_in(a, reads) for a in expr.args)
    if isinstance(expr, sp.Pow):
        return expr.exp.is_Integer and expr.exp >= 0 and continuous_in(expr.base, reads)
    if isinstance(expr, sp.Sum):
        return continuous_in(expr.function, reads) and not any(b.has(r) for r in reads for lim in expr.limits
                                                                for b in lim[1:])
    return False


def peak_reads(peak, keys, sharpness) -> list:
    """The keys, the sharpness and the tensors or definitions that a peak q* mentions: none for a point of the keys
    given by the sizes and A's other indices (q* = L − 1 − q is no point, and a well −α·(2q − L + 1)² is "free of q"
    with it although it has no single minimum; a q* that moves with α, directly or through a definition, states no
    limit)."""
    return [k for k in (*keys, sharpness) if peak.has(k)] + sorted(peak.atoms(sp.Indexed) - {sharpness}, key=str)


def collapse_deltas(expr, ranges, obligations):
    """Σ_{q=lo}^{hi} δ(q, e)·f(q) = f(e) for every sum variable q with a delta factor on it, each use
    adding the obligation lo ≤ e ≤ hi (proved from ``ranges`` and the enclosing sums' limits)."""
    if not isinstance(expr, sp.Sum):
        return expr.func(*[collapse_deltas(a, ranges, obligations) for a in expr.args]) if expr.args else expr
    limits, body = list(expr.limits), expr.function
    inner_ranges = dict(ranges)
    inner_ranges.update({l[0]: (l[1], l[2]) for l in limits})
    changed = True
    while changed:
        changed = False
        for k, (var, lo, hi) in enumerate(limits):
            factors_ = sp.Mul.make_args(body)
            hits = [(f, delta_pin(f, var)) for f in factors_]
            hits = [(f, e) for f, e in hits if e is not None]
            if not hits:
                continue
            f, e = hits[0]
            bound = [l[0] for l in limits if l[0] != var and (l[1].has(var) or l[2].has(var))]
            obligations.append(Obligation("no other sum's range mentions {}", not bound,
                                          "the range of {} does" if bound else "none does", (var,),
                                          (sp.Tuple(*bound),) if bound else (), refuted=bool(bound)))
            ok, how, args = in_range(e, lo, hi, inner_ranges)
            obligations.append(integer_obligation(e))   # Σ_q δ(q, e)·f(q) = 0, not f(e), for a non-integer e
            obligations.append(Obligation("Σ_{} δ({}, {})·f = f at {} = {}: {} ≤ {} ≤ {}", ok, how,
                                          (var, var, e, var, e, lo, e, hi), args))
            body = sp.Mul(*[g for g in factors_ if g is not f]).xreplace({var: e})
            del limits[k]
            changed = True
            break
    body = collapse_deltas(body, inner_ranges, obligations)
    return sp.Sum(body, *limits) if limits else body


@register
class LimitOfKernel(Rule):
    """A limit passes through a finite sum of terms with α-free factors: if lim_{α→∞} A[…] = Π_k δ(q_k, q*_k), then lim_{α→∞} K = K with every read of A replaced by its limit; then Σ_{q=lo}^{hi} δ(q, e)·f(q) = f(e) for an integer e with lo ≤ e ≤ hi.

    ``weights`` names A, ``peak`` its limit as in ``softmax-limit`` (the previous step), ``name`` the
    kernel K, which must read α only through A.
    """

    name = "limit-of-kernel"
    preconditions = ("lim A = Π δ(q, q*) (the softmax-limit step)", "K reads α only through A",
                     "K is a polynomial in the reads of A (sums, products, non-negative integer powers)",
                     "each collapsed delta's value is integer-valued and lies in its sum's range")

    argument_docs = {   # name: (type, what it is) -- printed by 'evosym rules' and docs/rules.md
        "name": ("str",
            "the kernel definition K whose limit is taken (lim_{α→∞} K[…])"),
        "weights": ("str",
            "the softmax definition A that K reads (the one softmax-limit took to one-hot)"),
        "sharpness": ("expression",
            "the sharpness parameter α (as given to softmax-limit)"),
        "peak": ("list of (q, q*)",
            "A's limit, as given to softmax-limit"),
    }

    def apply(self, expr, ctx: Context, *, name, weights, sharpness, peak) -> Application:
        if not (isinstance(expr, sp.Limit) and isinstance(expr.args[0], sp.Indexed)
                and str(expr.args[0].base.label) == name and name in ctx.definitions):
            raise RuleError(f"limit-of-kernel: expected lim_{{{sharpness}→∞}} {name}[…] of a definition {name}")
        kread = expr.args[0]
        body = ctx.definitions[name].instantiate(kread.indices)
        a = ctx.definitions[weights]
        peak = [(sp.sympify(q), sp.sympify(qs)) for q, qs in peak]
        if not set(q for q, _ in peak) <= set(a.params):
            raise RuleError(f"limit-of-kernel: the peak's keys must be parameters of {weights}")
        reads = sorted((r for r in body.atoms(sp.Indexed) if str(r.base.label) == weights), key=str)
        reps = {}
        for r in reads:
            at = dict(zip(a.params, r.indices))
            reps[r] = sp.Mul(*[sp.KroneckerDelta(q.xreplace(at), qs.xreplace(at)) for q, qs in peak])
        limit_body = body.xreplace(reps)
        alpha_free = not limit_body.has(sharpness)
        continuous = continuous_in(body, set(reads))
        obligations = [Obligation("lim ({} → ∞) {} = {} (the softmax-limit step)", True, "premise",
                                  (sharpness, a.lhs, sp.Mul(*[sp.KroneckerDelta(q, qs) for q, qs in peak]))),
                       Obligation("{} reads {} only through {}", alpha_free, "checked" if alpha_free else "it does not",
                                  (kread.base, sharpness, a.base), refuted=not alpha_free),
                       Obligation("{} is a polynomial in the reads of {} (its limit is its value at theirs)", continuous,
                                  "checked" if continuous else "it is not", (kread.base, a.base),
                                  refuted=not continuous)]
        if not reads:
            raise RuleError(f"limit-of-kernel: {name} does not read {weights}")
        after = collapse_deltas(limit_body, ctx.ranges, obligations)
        return Application(after, tuple(obligations))
