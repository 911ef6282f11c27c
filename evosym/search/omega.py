"""Inferring Ω from the reads the search pinned: a window per axis, or every position.

Each pinned axis read the value at an index e(p, u) with a tap variable u over a range; e is
matched against the index maps the neighbourhoods know (affine s·p + δ·u − P, clamped (NATTEN),
tiled (Swin), each possibly under a padding map or wrapped around), and a candidate is kept only
if it rebuilds e exactly. Axes read at every position give Ω = all positions. The inference is a
guess like the rest of the search: the support check of :meth:`Proof.check` decides.
"""

from __future__ import annotations

import itertools

import sympy as sp

from ..ir.neighbourhood import Global, IndexSet, Window, WindowAxis
from ..ir.padding import reflect, replicate
from ..proof.tree import same


def infer_neighbourhood(pins, position_axes, positions, neighbour, lengths, op):
    """Ω for the aggregated terms, or None: their common window, the one that contains the others, or
    else the index set of their union."""
    candidates = []
    for term in pins:
        axes = [term.get(k) for k in position_axes]
        if all(a is None for a in axes):
            candidates.append(Global(tuple(lengths)))
            continue
        built = []
        for pin, p, length in zip(axes, positions, lengths):
            built.append(_full_axis(length) if pin is None else _axis(pin[0], p, pin[1], length, positions))
        if all(b is not None for b in built):
            candidates.append(Window(tuple(built)))
            continue
        # an index map no window describes (q = ⌊p/s⌋, a prefix 0 ≤ q ≤ p, …): Ω as the set it reads
        conds = []
        for b, pin, p, q in zip(built, axes, positions, neighbour):
            cond = _axis_condition(b, p, q) if b is not None else _read_condition(pin[0], pin[1], q, positions)
            if cond is None:
                return None
            conds.append(cond)
        candidates.append(IndexSet(tuple(positions), tuple(neighbour), sp.And(*conds), tuple(lengths)))
    unique = list(dict.fromkeys(candidates))
    if len(unique) == 1:
        return unique[0]
    for big in unique:
        if all(_contains(big, other, op) for other in unique):
            return big
    conditions = [_condition(w, positions, neighbour) for w in unique]
    if any(c is None for c in conditions):
        return None
    return IndexSet(tuple(positions), tuple(neighbour), sp.Or(*conditions), tuple(lengths),
                    bound=sp.Add(*[w.size_bound() for w in unique]))


def _condition(omega, positions, neighbour):
    """q ∈ Ω(p) as a SymPy condition (None for wrapped axes)."""
    if isinstance(omega, Global):
        return sp.true
    if isinstance(omega, IndexSet):
        return omega.condition
    parts = [_axis_condition(a, p, q) for a, p, q in zip(omega.axes, positions, neighbour)]
    return None if any(c is None for c in parts) else sp.And(*parts)


def _axis_condition(a, p, q):
    """q ∈ the axis' window around p, as a condition (None for a wrapped axis)."""
    if a.wrap:
        return None
    if a.stride == 0:
        return sp.true
    start = a.start(p)
    parts = [start <= q, q <= start + a.dilation * (a.kernel - 1)]
    if a.dilation != 1:
        parts.append(sp.Eq(sp.Mod(q - start, a.dilation), 0))
    return sp.And(*parts)


def _read_condition(e, ranges, q, positions):
    """q = e(p) for a read without taps; for one tap u over [lo, hi] (bounds that may depend on p) read at
    a + u or a − u, q between the two ends; else None."""
    taps = [v for v in e.free_symbols if v in ranges and v not in positions]
    if not taps:
        return sp.Eq(q, e)
    if len(taps) > 1:
        return None
    u = taps[0]
    lo, hi = ranges[u]
    slope = sp.expand(e).coeff(u)
    if slope not in (1, -1) or u in sp.expand(e - slope * u).free_symbols:
        return None
    ends = [e.xreplace({u: lo}), e.xreplace({u: hi})] if slope == 1 else [e.xreplace({u: hi}), e.xreplace({u: lo})]
    return sp.And(ends[0] <= q, q <= ends[1])


def _full_axis(length):
    return WindowAxis(length, 0, 1, 0, length)


def _axis(e, p, ranges, length, positions=()):
    taps = [v for v in e.free_symbols if v in ranges and v != p]
    if len(taps) > 1:
        return None
    if taps:
        u = taps[0]
        lo, hi = ranges[u]
        if (sp.sympify(lo).free_symbols | sp.sympify(hi).free_symbols) & (set(positions) | set(ranges)):
            return None     # taps whose range moves with p: not a window
        e = e.xreplace({u: u + lo})
        kernel = sp.expand(hi - lo + 1)
    else:
        u, kernel = sp.Dummy("u", integer=True), sp.Integer(1)
    if p not in e.free_symbols and e.free_symbols & set(ranges) - {u}:
        return None
    if e.free_symbols & set(positions) - {p}:
        return None     # read at another axis's position (a transpose): no window of this axis
    for core, mapping, wrap in _unmapped(e, length):
        for axis in _guesses(core, p, u, kernel, length, wrap):
            rebuilt = axis.position(p, u) if taps else axis.position(p, u).xreplace({u: 0})
            if mapping is not None:
                rebuilt = mapping(rebuilt, length)
            if same(rebuilt, e):
                return axis
    return None


def _unmapped(e, length):
    """(e without its padding map, the map, whether the axis wraps), most specific first."""
    out = []
    if isinstance(e, sp.Mod) and same(e.args[1], length):
        out.append((e.args[0], None, True))
    for mx in e.atoms(sp.Min):
        for a in mx.args:
            if isinstance(a, sp.Max) and 0 in a.args:
                core = [b for b in a.args if b != 0]
                if len(core) == 1:
                    out.append((core[0], replicate, False))
    for ab in e.atoms(sp.Abs):
        out.append((ab.args[0], reflect, False))
    out.append((e, None, False))
    return out


def _guesses(core, p, u, kernel, length, wrap):
    core = sp.expand(core)
    if core.is_polynomial(p, u) and sp.Poly(core, p, u).total_degree() <= 1:
        stride, dilation = core.coeff(p), core.coeff(u)
        if not ({p, u} & (stride.free_symbols | dilation.free_symbols)):
            yield WindowAxis(kernel, stride, dilation if u in core.free_symbols else 1,
                             -core.xreplace({p: 0, u: 0}), length, wrap)
    dilation = sp.expand(core.xreplace({u: 1}) - core.xreplace({u: 0}))
    for mx in core.atoms(sp.Max):
        first = [a for a in mx.args if a != 0]
        if len(first) == 1 and not wrap:
            f = sp.expand(first[0])
            yield WindowAxis(kernel, f.coeff(p), dilation, -f.xreplace({p: 0}), length, clamp=True)
    for fl in core.atoms(sp.floor):
        shift = sp.expand(p - fl.args[0] * kernel)
        if p not in shift.free_symbols:
            yield WindowAxis(kernel, 1, 1, shift, length, wrap, tiled=True)


def _contains(big, small, op) -> bool:
    """Ω_small(p) ⊆ Ω_big(p) at every point of the operator's grid shapes."""
    for env in op.grid:
        env = {**env}
        lhs = list(op.lhs_indices)
        out_lengths = [int(sp.sympify(op.output.shape[lhs.index(q)]).xreplace(env)) for q in op.position]
        for p in itertools.product(*[range(n) for n in out_lengths]):
            if not small.points(p, env) <= big.points(p, env):
                return False
    return True
