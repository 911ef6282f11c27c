"""Neighbourhoods enumerate Ω(p) exactly and describe themselves in text and LaTeX."""

from __future__ import annotations

import sympy as sp

from evosym import Global, IndexSet, Window, WindowAxis
from evosym.ir.symbols import index, size
from evosym.printers.expr import LatexExprPrinter, TextExprPrinter

H, W_, K, s, d, P = size("H"), size("W"), size("K"), size("s"), size("delta"), size("P", zero=True)
i, j, m, n = (index(v) for v in "i j m n".split())


def test_window_points_match_the_definition():
    om = Window((WindowAxis(K, s, d, P, H),))
    env = {K: 3, s: 2, d: 2, P: 2, H: 7}
    for p in range(4):
        want = {(s_ * p + d_ * u - P_,) for u in range(3) for s_, d_, P_ in [(2, 2, 2)] if 0 <= 2 * p + 2 * u - 2 < 7}
        assert om.points((p,), env) == want
    assert om.points((0,), env) == {(0,), (2,)}      # the tap at −2 is padding, not a position


def test_global_and_index_set():
    g = Global((H, W_))
    assert len(g.points((0, 0), {H: 3, W_: 2})) == 6
    causal = IndexSet((i,), (m,), sp.Le(m, i), (H,))
    assert causal.points((2,), {H: 5}) == {(0,), (1,), (2,)}
    t, lx = TextExprPrinter(), LatexExprPrinter()
    assert causal.text((i,), t) == "{(m) : m ≤ i}"
    assert "\\le" in causal.latex((i,), lx) or "\\leq" in causal.latex((i,), lx)
    assert g.text((i, j), t) == "[0, H) × [0, W)"


def test_kernel_one_axes_print_as_points():
    om = Window((WindowAxis(1, s, 1, 0, H), WindowAxis(K, 1, 1, P, W_)))
    text = om.text((i, j), TextExprPrinter())
    assert text.startswith("{(i·s, ") and "0 ≤ u_2 ≤ K - 1" in text and "u_1" not in text


def test_a_wrapping_window_continues_on_the_other_side():
    """Circular padding: the taps are taken mod L, never clipped, and Ω prints the remainder."""
    om = Window((WindowAxis(K, s, d, P, H, wrap=True),))
    env = {K: 3, s: 1, d: 1, P: 1, H: 5}
    assert om.points((0,), env) == {(4,), (0,), (1,)}
    assert om.points((4,), env) == {(3,), (4,), (0,)}
    assert om.points((2,), env) == {(1,), (2,), (3,)}
    assert "mod H" in om.text((i,), TextExprPrinter()) and "wrapping around" in om.describe()
    assert Window((WindowAxis(K, s, d, P, H),)).points((0,), env) == {(0,), (1,)}   # the clipped window


def test_tap_kernel_of_a_wrapping_window_holds_where_the_window_overlaps_itself():
    """The tap-coordinate kernel drops remainders of tap positions: each tap carries its own weight, so where the
    window overlaps itself (K > L: two taps read one position) the sum over the taps that read a position is still K
    there, and the exact verification (which compares that sum) accepts it; a kernel that counted the position once
    per tap is refused (tests/test_tap_kernel_wrap.py)."""
    import dataclasses

    from evosym import catalogue
    from evosym.facts.taps import tap_kernel
    from evosym.derivations.conv2d_circular import _F

    cp = catalogue.checked("conv2d_circular")
    defs = cp.proof.definitions()
    assert tap_kernel(cp.operator, cp.evolution, defs).checked_shapes == len(cp.operator.grid)
    overlapping = dataclasses.replace(cp.operator, grid=(_F.config(L=(2, 4), K=(3, 3), P=(1, 1), G=1, C_g=1, O_g=1),))
    assert tap_kernel(overlapping, cp.evolution, defs).checked_shapes == 1
