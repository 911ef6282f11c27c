"""The border policy of a windowed kernel, read off the proved kernel and confirmed numerically.

Zero padding leaves no trace in K: the window is clipped to the input. Any other padding shows up
in K as the input position a tap reads, δ(q, f(m)) with m = s·p + δ·u − P the tap's position and f
an index map (a clamp, a reflection, a remainder). The map is found structurally in K and then
named only if it equals a known padding's map at every position one reflection reaches, (−L, 2L − 1),
at every grid shape; a map that matches none is reported as such.
"""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import sympy as sp

from ..facts.taps import index_maps
from ..ir.neighbourhood import Window
from ..ir.symbols import size_value
from ..printers.expr import text
from ..proof.bounded import env_of

_MAPS = (   # name, description, the input position that padded position m reads (0 ≤ result < L)
    ("replicate padding", "a tap outside the input reads the nearest edge", lambda m, L: min(max(m, 0), L - 1)),
    ("reflect padding", "a tap outside reads its mirror image, the edge not repeated",
     lambda m, L: -m if m < 0 else (2 * (L - 1) - m if m > L - 1 else m)),
    ("symmetric padding", "a tap outside reads its mirror image, the edge repeated",
     lambda m, L: -m - 1 if m < 0 else (2 * L - 1 - m if m > L - 1 else m)),
    ("circular padding", "a tap outside wraps around", lambda m, L: m % L),
)
def _name(form, op, k, f, a) -> tuple:
    """(name, description, shapes confirmed) of axis k's map, or (None, None, n) if it matches none."""
    axis, p = form.omega.axes[k], form.position[k]
    t = sp.Dummy("m", integer=True)
    base = axis.offset(p, 0)
    sizes = {sym for sym, _ in op.sizes}   # (a − base = δ·u: the tap variable, not a dilation that is a size)
    taps = sorted((v for v in sp.expand(a - base).free_symbols if v not in sizes), key=str)
    if not taps:   # the map's argument is not the tap position: no padding's map
        return None, None, 0
    u = taps[0]
    g = f.xreplace({u: (t - base) / axis.dilation})   # f as a function of the tap position m = a
    if g.free_symbols & (set(form.position) | set(form.neighbour)):
        return None, None, 0
    candidates = list(_MAPS)
    for config in op.grid:
        env = env_of(config)
        L = size_value(axis.length, env)
        # the map's formula over every position one reflection reaches, (−L, 2L − 1), not only the grid's
        # padding: replicate and symmetric padding differ only two or more positions out
        fn = sp.lambdify(t, g.xreplace({s: sp.Integer(v) for s, v in env.items()}), modules=[{"Abs": abs, "Min": min,
                                                                                               "Max": max, "Mod": lambda x, y: x % y}])
        reads = {m: int(fn(m)) for m in range(-(L - 1), 2 * L - 1)}
        candidates = [c for c in candidates if all(c[2](m, L) == v for m, v in reads.items())]
    if not candidates:
        return None, None, len(op.grid)
    return candidates[0][0], candidates[0][1], len(op.grid)


def border(op, form, Property):
    """The border property (``Property`` is the caller's record type)."""
    if not isinstance(form.omega, Window):
        if form.omega.kind == "set":
            return Property("border", "none (an index set: Ω(p) is the listed positions inside the input)",
                            "symbolic: Ω is an index set of input positions; confirmed by the support check")
        return Property("border", "none (global)", "symbolic: Ω is global")
    shapes = len(op.grid)
    if any(a.tiled for a in form.omega.axes):
        return _tiled(op, form, Property)
    if any(a.clamp for a in form.omega.axes):
        return _clamped(op, form, Property)
    if all(a.padding == 0 for a in form.omega.axes):
        return Property("border", "none (the window stays inside the input)", "symbolic: no padding")
    maps = index_maps(form)
    if not maps:
        return Property("border", "zero padding (window clipped to the input)",
                        f"symbolic: K reads the input at the tap position itself, Ω is clipped to the input; "
                        f"confirmed at {shapes} shapes by the support check")
    mixed = _mixed(op, form, shapes)
    if mixed is not None:
        return Property("border", *mixed)
    named = {k: _name(form, op, k, f, a) for k, (f, a) in sorted(maps.items())}
    names = {n for n, _, _ in named.values()}
    found = "; ".join(f"axis {k}: {text(f)}" for k, (f, _) in sorted(maps.items()))
    if None in names or len(names) != 1 or len(maps) != len(form.omega.axes):
        return Property("border", "an index map at the border (no named padding)",
                        f"symbolic: K reads the input at {found}; NOT confirmed as one named padding at {shapes} shapes")
    name, what, n = next(iter(named.values()))
    return Property("border", f"{name} ({what})",
                    f"symbolic: K reads the input at {found}; confirmed at {n} shapes: equal to the {name} map at "
                    f"every position in (−L, 2L − 1)")


def _mixed(op, form, shapes):
    """(value, how) when K is a sum of terms of which some read the input through one named padding map on
    every axis and the others at the tap position itself (zero padding): ACmix's reflected attention plus its
    zero-padded convolution. None otherwise."""
    terms = [t for t in sp.Add.make_args(form.kernel_body) if t.free_symbols & set(form.neighbour)]
    if len(terms) < 2:
        return None
    per = [index_maps(SimpleNamespace(kernel_body=t, neighbour=form.neighbour, omega=form.omega, position=form.position))
           for t in terms]
    if all(per) or not any(per):
        return None
    names = {_name(form, op, k, f, a)[:2] for m in per if m for k, (f, a) in m.items()}
    if len(names) != 1 or None in next(iter(names)) or any(m and len(m) != len(form.omega.axes) for m in per):
        return None
    name, what = next(iter(names))
    return (f"{name} and zero padding in different terms of K ({what}; the other terms' windows are clipped to "
            f"the input)",
            f"symbolic: K is a sum of {len(terms)} terms; {sum(1 for m in per if m)} read the input through the {name} "
            f"map on every axis, {sum(1 for m in per if not m)} at the tap position itself; confirmed at {shapes} "
            f"shapes: the map equals the {name} map at every position in (−L, 2L − 1), and supp K = Ω(p)")


def _clamped(op, form, Property):
    """A window whose start is clamped inside the input: confirmed by counting Ω(p) at every position."""
    axes = form.omega.axes
    if not all(a.clamp for a in axes):
        return Property("border", "a window clamped on some axes only", "symbolic: Ω mixes clamped and other axes")
    lhs = {s: hi for s, _, hi in op.lhs_ranges()}
    full = True
    for config in op.grid:
        env = env_of(config)
        taps = 1
        for a in axes:
            taps *= size_value(a.kernel, env)
        for pt in itertools.product(*[range(size_value(lhs[p], env) + 1) for p in form.position]):
            full = full and len(form.omega.points(pt, env)) == taps
    how = (f"symbolic: Ω's start s·p − P is clamped into [0, L − span] on every axis; confirmed at {len(op.grid)} "
           f"shapes: every output position's Ω(p) has all the window's taps, inside the input (the support check: "
           f"supp K = Ω(p))")
    if not full:
        how += " — INCONSISTENT: some Ω(p) has fewer taps (an input shorter than the window)"
    return Property("border", "clamped window (the window shifts to stay inside the input; every position sees "
                              "all K taps)", how)


def _tiled(op, form, Property):
    """Fixed windows (Swin): confirmed by Ω being one partition of the input into tiles at every shape."""
    axes = form.omega.axes
    if not all(a.tiled for a in axes):
        return Property("border", "fixed windows on some axes only", "symbolic: Ω mixes tiled and other axes")
    lhs = {s: hi for s, _, hi in op.lhs_ranges()}
    partition = True
    for config in op.grid:
        env = env_of(config)
        omegas = {pt: form.omega.points(pt, env)
                  for pt in itertools.product(*[range(size_value(lhs[p], env) + 1) for p in form.position])}
        # a partition: p ∈ Ω(p), and q ∈ Ω(p) ⇒ Ω(q) = Ω(p)
        partition = partition and all(pt in om and all(omegas.get(q) == om for q in om) for pt, om in omegas.items())
    shifted = any(a.padding != 0 for a in axes)
    how = (f"symbolic: Ω(p) is the tile of p, start K·⌊(p − P)/K⌋ + P{' taken mod L' if any(a.wrap for a in axes) else ''}; "
           f"confirmed at {len(op.grid)} shapes: the Ω(p) partition the input (p ∈ Ω(p), and every q ∈ Ω(p) has Ω(q) = Ω(p))")
    if not partition:
        how += " — INCONSISTENT: the windows overlap"
    value = "fixed windows (non-overlapping tiles; no padding" + (
        ", shifted and wrapping around the input)" if shifted or any(a.wrap for a in axes) else ")")
    return Property("border", value, how)
