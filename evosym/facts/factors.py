"""Structural factors of the tap kernel K̂ that the lowerings rely on: the group delta, kernels
shared by blocks of channels, a channel map times a spatial map, and a torch padding's index map.

Each recogniser answers from the symbolic K̂ (so the answer holds for every size) or None.
"""

from __future__ import annotations

import sympy as sp

from .taps import TapKernel, index_maps, interior_kernel, padding_mode


def group_structure(expr, c, o):
    """(C_g, O_g, rest) if expr = δ(⌊c/C_g⌋, ⌊o/O_g⌋)·rest (also δ(c, ⌊o/M⌋): C_g = 1), else None."""
    factors = list(expr.args) if isinstance(expr, sp.Mul) else [expr]
    for k, f in enumerate(factors):
        if not isinstance(f, sp.KroneckerDelta):
            continue
        sides = {}
        for a in f.args:
            for var in (c, o):
                if a == var:
                    sides[var] = sp.Integer(1)
                elif isinstance(a, sp.floor):
                    num, den = sp.fraction(sp.together(a.args[0]))
                    if num == var:
                        sides[var] = den
        if set(sides) == {c, o}:
            return sides[c], sides[o], sp.Mul(*(factors[:k] + factors[k + 1:]))
    return None


def channel_block(rest, o, c):
    """k when ``rest`` reads the channels o, c only through ⌊o/k⌋ or ⌊c/k⌋ (one k), else None: a kernel
    shared by each block of k channels (involution's groups)."""
    floors = [f for f in rest.atoms(sp.floor) if f.args[0].free_symbols & {o, c}]
    dens = set()
    for f in floors:
        num, den = sp.fraction(sp.together(f.args[0]))
        if num not in (o, c) or den.free_symbols & {o, c}:
            return None
        dens.add(den)
    if len(dens) != 1 or rest.xreplace({f: sp.Dummy() for f in floors}).free_symbols & {o, c}:
        return None
    return dens.pop()


def channel_factor(expr, c, o, sizes):
    """(M, S) when expr = M(o, c)·S with M the only part that reads the input channel c (M mentions no
    index but o and c) and S free of c: the kernel is a spatial map per output channel times a channel
    map (attention's A_h(p, q)·W_v[o, c]); else None. Through a sum: Σ_u M·S(u) = M·Σ_u S(u) (a
    reflected window sums the taps that read one position)."""
    if isinstance(expr, sp.Sum):
        inner = channel_factor(expr.function, c, o, sizes)
        if inner is None or inner[0].free_symbols & {lim[0] for lim in expr.limits}:
            return None
        return inner[0], sp.Sum(inner[1], *expr.limits)
    factors = list(expr.args) if isinstance(expr, sp.Mul) else [expr]
    mixing = [f for f in factors if c in index_symbols(f)]
    if not mixing or any(index_symbols(f) - {o, c} - set(sizes) for f in mixing):
        return None
    rest = [f for f in factors if c not in index_symbols(f)]
    return sp.Mul(*mixing), sp.Mul(*rest)


def padded_kernel(op, form, taps: TapKernel):
    """(torch padding mode, K̂ inside the input) when every axis of K reads x through exactly the index
    map of one F.pad mode applied to the window's own tap position, and K̂ with those maps replaced
    by the identity (inside the input) collapses to a kernel free of the output position; else None."""
    maps = index_maps(form)
    mode = padding_mode(form, maps)
    if mode is None:
        return None
    inner = interior_kernel(op, form, taps, maps)
    if inner.free_symbols & set(form.position) or inner.has(sp.Sum):
        return None
    return mode, TapKernel(inner, taps.taps, taps.tap_hi, taps.checked_shapes)


def index_symbols(f) -> set:
    """The index symbols of f (its free symbols other than tensor names)."""
    return {s for s in f.free_symbols if isinstance(s, sp.Symbol)} - {r.base.label for r in f.atoms(sp.Indexed)}


def postmix_factor(expr, c, o, sizes):
    """(c', extent, P, R) when expr = Σ_{c'=0}^{extent−1} P(o, c')·R with P the only part that reads
    the output channel o (P mentions no index but o and c') and R free of o: the kernel is a channel
    map applied after an aggregation whose output channel is c' (attention's output projection);
    else None."""
    if not isinstance(expr, sp.Sum) or len(expr.limits) != 1:
        return None
    cp, lo, hi = expr.limits[0]
    if lo != 0:
        return None
    fs = sp.Mul.make_args(expr.function)
    mixing = [f for f in fs if o in index_symbols(f)]
    if not mixing or any(index_symbols(f) - {o, cp} - set(sizes) for f in mixing):
        return None
    rest = sp.Mul(*[f for f in fs if o not in index_symbols(f)])
    if c in index_symbols(sp.Mul(*mixing)):
        return None
    return cp, hi + 1, sp.Mul(*mixing), rest


def head_sum(expr, c, o, sizes):
    """(k, terms, c', P, M, S) when expr = Σ_{c'} P(o, c')·M(c', c)·S with S reading c' only as ⌊c'/k⌋ and
    neither o nor c: K = Σ_h S_h(p, q)·(Σ_{c' in block h} P(o, c')·M(c', c)), a sum of ``terms`` =
    extent/k separable products (multi-head attention: one per head); else None."""
    post = postmix_factor(expr, c, o, sizes)
    if post is None:
        return None
    cp, extent, mix_o, rest = post
    fs = sp.Mul.make_args(rest)
    chan = [f for f in fs if c in index_symbols(f)]
    if not chan or any(index_symbols(f) - {c, cp} - set(sizes) for f in chan):
        return None
    spatial = sp.Mul(*[f for f in fs if c not in index_symbols(f)])
    k = channel_block(spatial, cp, c)
    if k is None:
        return None
    return k, sp.simplify(extent / k), cp, mix_o, sp.Mul(*chan), spatial


def matmul_factors(khat, c, o, batch, sizes):
    """(S, None) when K̂ = δ(c, o)·S with S reading no channel and no batch (one matrix for every channel);
    (S, M) when K̂ = M(o, c)·S with S free of the channels and the batch and M free of the batch
    (separable); else None. A lowering to matrix products also needs K̂ static and one position axis."""
    grp = group_structure(khat, c, o)
    if grp is not None:
        rest = grp[2]
        return (rest, None) if grp[:2] == (1, 1) and not (rest.free_symbols & {c, o, batch}) else None
    sep = channel_factor(khat, c, o, sizes)
    if sep is None or sep[1].free_symbols & {c, o, batch} or sep[0].free_symbols & {batch}:
        return None
    return sep[1], sep[0]


def term_sum(expr, c, o, sizes, positions):
    """(terms, M, S) when expr = Σ_{t} M(o, c, t)·S(t, p, q) with ``terms`` the limits (t, lo, hi) of the variables
    read by both factors, M every factor that reads o or c (and no position), S the rest (no o, no c); a sum over
    a variable only one factor reads stays inside that factor. A sum of T separable terms: the aggregation runs
    per term (T·C·P·Q) and M mixes the channels after (O·T·C·P), instead of building K̂ over (o, c, p, q);
    else None."""
    limits = []
    while isinstance(expr, sp.Sum):
        limits = list(expr.limits) + limits
        expr = expr.function
    if not limits:
        return None
    fs = sp.Mul.make_args(expr)
    mixing = [f for f in fs if index_symbols(f) & {o, c}]
    rest = [f for f in fs if not index_symbols(f) & {o, c}]
    bound = {lim[0] for lim in limits}
    if not mixing or any(index_symbols(f) & set(positions) for f in mixing) or \
            any(index_symbols(f) - {o, c} - bound - set(sizes) for f in mixing):
        return None
    if any(isinstance(f, sp.KroneckerDelta) for f in mixing):
        return None   # a channel δ (depthwise, grouped): not the full mixing whose cost the term sum undercuts
    m_expr, s_expr = sp.Mul(*mixing), sp.Mul(*rest)
    m_vars, s_vars = index_symbols(m_expr) & bound, index_symbols(s_expr) & bound
    shared = [lim for lim in limits if lim[0] in m_vars and lim[0] in s_vars]
    if not shared or any((sp.sympify(lim[1]).free_symbols | sp.sympify(lim[2]).free_symbols) - set(sizes)
                         for lim in limits):   # (every range a function of the sizes alone)
        return None
    only_m = [lim for lim in limits if lim[0] in m_vars - s_vars]
    only_s = [lim for lim in limits if lim[0] in s_vars - m_vars]
    if only_m:
        m_expr = sp.Sum(m_expr, *only_m)
    if only_s:
        s_expr = sp.Sum(s_expr, *only_s)
    return tuple(shared), m_expr, s_expr
