"""The kernel in closed tap form, for the printed Evolution form: K at q = s·p + d·u − P, no sum left.

A windowed kernel K(o, c, p, q) usually carries Kronecker deltas that pin q to the window; at the
window's own taps q(u) they collapse (``evosym.facts.taps``: collapsed only under checked conditions and
verified against K exactly at every grid shape). When nothing is left to sum, the closed form, such
as ``K[b, o, c, i, j, -P_h + d_h·u_1 + i·s_h, …] = δ(⌊c/C_g⌋, ⌊o/O_g⌋)·W[o, …, u_1, u_2]``, is what
a reader recognises; it is printed under K, and not at all where a sum or a delta on q remains
(a reflected or replicated border, whose index map stays inside the deltas).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..errors import EvosymError
from ..ir.looks import fresh
from ..ir.neighbourhood import Window



@dataclass(frozen=True)
class TapView:
    """K read at the window's taps: ``lhs`` = ``body`` for the taps ``bounds`` ((u, its last value), …)."""

    lhs: str
    body: str
    bounds: tuple[tuple[str, str], ...]
    shapes: int


def _tap_kernel(cp):
    """The kernel facts' tap form of a windowed proof (verified at the grid once per proof), if closed."""
    from ..facts.kernel import kernel_facts

    form = cp.evolution
    if not isinstance(form.omega, Window):
        return None
    try:
        tk = kernel_facts(cp).taps
    except EvosymError:
        return None
    if tk.expr.has(sp.Sum) or tk.expr.free_symbols & set(form.neighbour):
        return None    # not closed: a sum or a read of q is left
    return tk


def closed_tap_form(cp, expr) -> TapView | None:
    """The closed tap form of ``cp``'s kernel printed with ``expr``, or None where it does not exist
    (no window, no Evolution form, or a sum left after collapsing the deltas)."""
    form = cp.evolution
    if form is None or not isinstance(form.omega, Window) or all(a.kernel == 1 for a in form.omega.axes):
        return None    # no window, or a pointwise one: K at its one tap says nothing new
    tk = _tap_kernel(cp)
    if tk is None:
        return None
    taken = {s.name for s in tk.expr.free_symbols | form.kernel.free_symbols} | {str(s) for s in cp.operator.size_symbols()}
    shown = {}
    for u, a in zip(tk.taps, form.omega.axes):
        if a.kernel == 1:          # an axis with one tap: u = 0
            shown[u] = sp.Integer(0)
            continue
        name = fresh(u.name[: -len("_tap")] if u.name.endswith("_tap") else u.name, taken)
        taken.add(name)
        shown[u] = sp.Symbol(name, integer=True)
    q_of_u = {q: a.position(p, shown[u]) for q, a, p, u in zip(form.neighbour, form.omega.axes, form.position, tk.taps)}
    return TapView(lhs=expr(form.kernel.xreplace(q_of_u)), body=expr(tk.expr.xreplace(shown)),
                   bounds=tuple((expr(shown[u]), expr(hi)) for u, hi in zip(tk.taps, tk.tap_hi) if shown[u] != 0),
                   shapes=tk.checked_shapes)
