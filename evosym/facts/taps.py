"""The kernel in tap coordinates: K̂(o,c,p,u) = K(o,c,p, s·p + δ·u − P) for a windowed Ω.

Generated code aggregates over window taps u rather than over all input positions q, so the
kernel must be rewritten with q = s·p + δ·u − P. The Kronecker deltas that pinned q to the
window then collapse: Σ_{u'} δ(s·p + δ·u − P, s·p + δ·u' − P)·f(u') = [0 ≤ u ≤ K−1]·f(u). The
collapse is done here only under checked conditions (the delta's argument difference is
α·(u' − t) with α provably non-zero and t an integer free of u'), never with SymPy's delta
summation, and the result is verified exactly against K at every grid shape.

On a wrapping (circular) axis the tap reads q = (s·p + δ·u − P) mod L, and the deltas compare two
such remainders. The remainders are dropped from tap positions before collapsing, so each tap keeps its
own weight; where the window overlaps itself (δ·(K − 1) ≥ L) several taps read one position, and the
aggregation over taps adds their weights, which is K there. The exact verification at every grid shape
compares exactly that: the sum of K̂ over the taps that read a position with K at that position.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import sympy as sp

from ..errors import EvosymError, IllFormedAccess
from ..ir.evolution import EvolutionForm
from ..ir.neighbourhood import Window
from ..ir.operator import Operator, format_sizes
from ..ir.symbols import InRange, index, size_value
from ..proof.bounded import env_of
from ..proof.evaluate import Evaluator
from ..proof.symbolic import in_range, nonnegative
from ..proof import poly as P


@dataclass(frozen=True)
class TapKernel:
    """K̂ as a SymPy expression of (b, o, c, p, u), with the tap symbols u and their ranges."""

    expr: sp.Expr
    taps: tuple[sp.Symbol, ...]
    tap_hi: tuple[sp.Expr, ...]
    checked_shapes: int


def _nonzero(a) -> bool:
    return nonnegative(a - 1) or nonnegative(-a - 1)


def collapse_deltas(expr: sp.Expr, ranges: dict) -> sp.Expr:
    """Remove sums pinned by a Kronecker delta, under the integrality conditions stated above."""
    if isinstance(expr, sp.Sum):
        body = collapse_deltas(expr.function, ranges)
        limits = list(expr.limits)
        # innermost first; try to collapse each limit in turn
        kept = []
        for var, lo, hi in limits:
            new = _collapse_one(body, var, lo, hi)
            if new is None:
                kept.append((var, lo, hi))
            else:
                body = new
        out = sp.Sum(body, *kept) if kept else body
        return drop_true_brackets(out, ranges)
    if expr.args and not isinstance(expr, (sp.Indexed, sp.Symbol)):
        return drop_true_brackets(expr.func(*[collapse_deltas(a, ranges) for a in expr.args]), ranges)
    return expr


def _collapse_one(body, var, lo, hi):
    factors = list(body.args) if isinstance(body, sp.Mul) else [body]
    for k, f in enumerate(factors):
        if not isinstance(f, sp.KroneckerDelta):
            continue
        diff = sp.expand(f.args[0] - f.args[1])
        alpha = sp.expand(diff.diff(var))
        if alpha == 0 or var in alpha.free_symbols or not _nonzero(alpha):
            continue
        t = sp.simplify(var - diff / alpha)
        if var in t.free_symbols or not t.is_integer:
            continue
        if sp.expand(alpha * (var - t) - diff) != 0:
            continue
        rest = sp.Mul(*(factors[:k] + factors[k + 1:]))
        return InRange(t, lo, hi) * rest.xreplace({var: t})
    return None


def drop_true_brackets(expr, ranges):
    """Replace brackets [lo ≤ e ≤ hi] and deltas δ(a, b) that hold for every admissible index by 1."""
    reps = {}
    for br in expr.atoms(InRange):
        e, lo, hi = br.args
        if in_range(e, lo, hi, ranges)[0]:
            reps[br] = sp.Integer(1)
    for de in expr.atoms(sp.KroneckerDelta):
        if in_range(sp.expand(de.args[0] - de.args[1]), 0, 0, ranges)[0]:
            reps[de] = sp.Integer(1)
    return expr.xreplace(reps) if reps else expr


def tap_kernel(op: Operator, form: EvolutionForm, definitions: dict) -> TapKernel:
    """K̂ for a windowed Evolution form, verified exactly against K at the operator's grid."""
    if not isinstance(form.omega, Window):
        raise EvosymError(f"{op.name}: tap coordinates need a window neighbourhood, not {form.omega.kind}")
    axes = form.omega.axes
    taps = tuple(index(f"u_{k}") for k in range(1, len(axes) + 1)) if len(axes) > 1 else (index("u"),)
    taps = tuple(sp.Symbol(t.name + "_tap", integer=True) for t in taps)
    body = form.kernel_body
    q_of_u = {q: a.position(p, u) for q, a, p, u in zip(form.neighbour, axes, form.position, taps)}
    expr = _unwrap(body.xreplace(q_of_u), form)
    expr = collapse_deltas(expr, _ranges(op, form, taps, tuple(a.kernel - 1 for a in axes)))
    expr = _common_factor(expr)
    shapes = _verify(op, form, definitions, expr, taps, q_of_u)
    return TapKernel(expr, taps, tuple(a.kernel - 1 for a in axes), shapes)


def _common_factor(expr):
    """A sum of terms that share factors (a channel delta: two depthwise branches) as those factors times the sum
    (exact algebra; the result is verified like any K̂), so that the lowerings see one channel structure."""
    if not isinstance(expr, sp.Add):
        return expr
    terms = [sp.Mul.make_args(t) for t in expr.args]
    common = [f for f in terms[0] if not f.is_number and all(f in t for t in terms[1:])]
    if not common:
        return expr
    rest = [sp.Mul(*[f for f in t if f not in common]) for t in terms]
    return sp.Mul(*common, sp.Add(*rest))


def _unwrap(expr, form):
    """Remainders mod L of a wrapping axis's tap positions replaced by the positions themselves (see the
    module docstring: valid while a window does not overlap itself, which the verification checks)."""
    for a, p in zip(form.omega.axes, form.position):
        if a.wrap:
            expr = expr.replace(lambda n, a=a, p=p: isinstance(n, sp.Mod) and n.args[1] == a.length and _is_tap(n.args[0], a, p),
                                lambda n: n.args[0])
    return expr


def _ranges(op, form, taps, tap_hi) -> dict:
    """The index ranges that delta collapsing may use: output indices, the channel, the taps."""
    ranges = {s: (lo, hi) for s, lo, hi in op.lhs_ranges()}
    ranges[form.channel] = (0, form.channel_hi)
    ranges.update({u: (0, hi) for u, hi in zip(taps, tap_hi)})
    return ranges


_INDEX_MAPS = (sp.Min, sp.Max, sp.Abs, sp.Mod)


def index_maps(form) -> dict:
    """Per neighbour axis k: (f, a) where K carries δ(q_k, f) and f is an index map of the window's
    tap position a (a clamp, a reflection …: a padding other than zeros); axes read at the tap
    position itself are absent."""
    out = {}
    for d in sp.sympify(form.kernel_body).atoms(sp.KroneckerDelta):
        for q, f in (d.args, d.args[::-1]):
            if q in form.neighbour and f.has(*_INDEX_MAPS):
                k = form.neighbour.index(q)
                axis, p = form.omega.axes[k], form.position[k]
                inner = [n for n in sp.preorder_traversal(f) if not n.has(*_INDEX_MAPS) and _is_tap(n, axis, p)]
                if inner:
                    out[k] = (f, inner[0])
    return out


def _is_tap(node, axis, p) -> bool:
    """node = s·p + δ·u − P for a single variable u: the window's tap position."""
    rest = sp.expand(node - axis.offset(p, 0))
    syms = rest.free_symbols - sp.sympify(axis.dilation).free_symbols   # (a dilation that is a size is no tap)
    return len(syms) == 1 and sp.expand(rest - axis.dilation * next(iter(syms))) == 0


def interior_kernel(op, form, taps: TapKernel, maps: dict) -> sp.Expr:
    """K̂ where every window lies inside the input: the padding's index maps ``maps`` (from
    :func:`index_maps`) replaced by the identity, the deltas they kept then collapsed."""
    return collapse_deltas(taps.expr.xreplace({f: a for f, a in maps.values()}), _ranges(op, form, taps.taps, taps.tap_hi))


def map_mode(index, a, n) -> str | None:
    """The F.pad mode whose index map over an axis of length ``n``, applied to ``a``, is ``index`` (compared
    structurally with :data:`evosym.ir.padding.PADDING_MAPS`), else None."""
    from ..ir.padding import PADDING_MAPS
    return next((m for m, rho in PADDING_MAPS.items() if sp.expand(rho(a, n) - index) == 0), None)


def padding_mode(form, maps: dict) -> str | None:
    """The one F.pad mode whose index map every axis of K reads x through (``maps`` from :func:`index_maps`), or None."""
    if not maps or len(maps) != len(form.omega.axes):
        return None
    modes = {map_mode(f, a, form.omega.axes[k].length) for k, (f, a) in maps.items()}
    return None if len(modes) != 1 or None in modes else modes.pop()


def padded_taps(op, form, definitions, taps: TapKernel, beside=None):
    """(torch padding mode, K̂ inside the input) for a kernel that reads x through one F.pad mode's index map ρ
    on every axis (a reflection-padded attention), where K̂ with ρ replaced by the identity, aggregated over x
    padded by that mode (tap u reads x[ρ(s·p + δ·u − P)]), is verified exactly to give K back at every grid shape:
    every tap reads inside the input and every position of Ω(p) no tap reads has K = 0 (:func:`_verify`). Else None.
    ``beside``: K̂ is a part of the verified kernel, this the other part (aggregated over x with zero padding): the
    check adds it.
    (A static kernel free of the position needs no check: :func:`.factors.padded_kernel`.)"""
    from ..ir.padding import PADDING_MAPS
    maps = index_maps(form)
    mode = padding_mode(form, maps)
    if mode is None:
        return None
    inner = interior_kernel(op, form, taps, maps)
    if inner.has(*[f for f, _ in maps.values()]):
        return None
    q_of_u = {q: PADDING_MAPS[mode](a.position(p, u), a.length)
              for q, a, p, u in zip(form.neighbour, form.omega.axes, form.position, taps.taps)}
    try:
        shapes = _verify(op, form, definitions, inner, taps.taps, q_of_u, padded=True, beside=beside)
    except EvosymError:
        return None
    return mode, TapKernel(inner, taps.taps, taps.tap_hi, shapes)


def _verify(op, form, definitions, expr, taps, q_of_u, padded: bool = False, beside=None) -> int:
    """Σ_{u : q(u) = q} K̂(p, u) = K(p, q) exactly for every input position q a tap of p reads, at every grid shape:
    the aggregation over taps gives K back. (Where taps are distinct this is K̂(p, u) = K(p, q(u)); where two taps
    of a wrapping window read one position, each tap carrying K(p, q) would count it twice.) ``padded``: q(u) is a
    padding's index map of the tap position, so every tap must read inside the input, and every position of the
    window inside the input that no tap reads must have K = 0 (the aggregation never sees it). ``beside``: another
    tap kernel aggregated with zero padding (tap u reads its own position, nothing outside the input), added."""
    lhs = {s: hi for s, _, hi in op.lhs_ranges()}
    for config in op.grid:
        env = env_of(config)
        ev = Evaluator(op.shapes_at(env), definitions)
        k_fn, hat_fn = ev.compile(form.kernel_body), ev.compile(expr)
        q_fns = [ev.compile(e) for e in q_of_u.values()]
        w_fns = [ev.compile(a.offset(p, u)) for a, p, u in zip(form.omega.axes, form.position, taps)] if padded else []
        beside_fn = ev.compile(beside) if beside is not None else None
        lengths = [size_value(L, env) for L in form.omega.lengths()]

        def rng(hi):
            return range(size_value(hi, env) + 1)
        bs = rng(lhs[form.batch]) if expr.has(form.batch) or form.kernel_body.has(form.batch) else [0]
        for b, o, c in itertools.product(bs, rng(lhs[form.out_channel]), rng(form.channel_hi)):
            for pt in itertools.product(*[rng(lhs[p]) for p in form.position]):
                read = {}   # input position q → (the sum of K̂ over the taps that read it, K there, the taps)
                for u in itertools.product(*[range(size_value(a.kernel, env)) for a in form.omega.axes]):
                    local = {**env, form.batch: b, form.out_channel: o, form.channel: c}
                    local.update(zip(form.position, pt))
                    local.update(zip(taps, u))
                    q = tuple(f(local) for f in q_fns)
                    if not all(0 <= qq < L for qq, L in zip(q, lengths)):
                        if padded:
                            raise EvosymError(f"{op.name}: tap {u} of p={pt} reads outside the input at {format_sizes(env)}")
                        continue
                    local.update(zip(form.neighbour, q))
                    try:
                        h = hat_fn(local)
                        if q not in read:
                            read[q] = (h, k_fn(local), [u])
                        else:
                            read[q] = (P.add(read[q][0], h), read[q][1], read[q][2] + [u])
                    except IllFormedAccess as exc:
                        raise EvosymError(f"{op.name}: tap-form kernel is ill-formed at {format_sizes(env)}: {exc}") from None
                for u in itertools.product(*[range(size_value(a.kernel, env)) for a in form.omega.axes]) if padded else ():
                    local = {**env, form.batch: b, form.out_channel: o, form.channel: c}   # Ω(p)'s own positions
                    local.update(zip(form.position, pt))
                    local.update(zip(taps, u))
                    q = tuple(f(local) for f in w_fns)
                    if not all(0 <= qq < L for qq, L in zip(q, lengths)):
                        continue
                    local.update(zip(form.neighbour, q))
                    if beside_fn is not None:   # the other part reads q itself (zero padding)
                        try:
                            h = beside_fn(local)
                        except IllFormedAccess as exc:
                            raise EvosymError(f"{op.name}: the other part is ill-formed at {format_sizes(env)}: {exc}") from None
                        read[q] = (P.add(read[q][0], h), read[q][1], read[q][2] + [u]) if q in read else (h, k_fn(local), [u])
                    elif q not in read and not P.is_zero(k_fn(local)):   # K vanishes where no tap reads
                        raise EvosymError(f"{op.name}: K ≠ 0 at q={q}, which no tap of p={pt} reads")
                # (with ``beside`` every position of Ω(p) inside the input is read: by its zero-padded taps)
                for q, (h, a, us) in read.items():
                    if not P.is_zero(P.sub(a, h)):
                        where = f"u={us[0]}" if len(us) == 1 else f"taps {us} all read q={q}"
                        raise EvosymError(f"{op.name}: tap-form kernel differs from K at {format_sizes(env)}, "
                                          f"o={o}, c={c}, p={pt}, {where}: {P.to_sympy(a)} vs {P.to_sympy(h)}"
                                          + (" (summed over the taps: the window overlaps itself on a wrapping axis, "
                                             "δ·(K − 1) ≥ L, and its tap kernel counts a position once per tap that "
                                             "reads it; declare δ·(K − 1) < L as a constraint)" if len(us) > 1 else ""))
    return len(op.grid)
