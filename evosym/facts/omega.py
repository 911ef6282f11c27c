"""What kind of neighbourhood Ω is: a window, every input position, the divisors of p + a, or another index set.

The kind decides how the kernel is read (in tap coordinates for a window, over every position
otherwise) and which lowerings apply; the reach E(p) ≥ max Ω(p) − p on one position axis decides
causality. Both are decided on the symbolic Ω, so they hold for every size.
"""

from __future__ import annotations

import sympy as sp

from ..ir.neighbourhood import Global, IndexSet, Window


def divisor_offset(om):
    """a when the index set is {q : (q + a) divides (p + a)} written Eq(Mod(p + a, q + a), 0) with a ≥ 1, else None."""
    if not isinstance(om, IndexSet) or len(om.p_symbols) != 1 or len(om.q_symbols) != 1:
        return None
    cond, (p,), (q,) = sp.sympify(om.condition), om.p_symbols, om.q_symbols
    if not (isinstance(cond, sp.Eq) and cond.rhs == 0 and isinstance(cond.lhs, sp.Mod)):
        return None
    num, den = cond.lhs.args
    a = sp.expand(num - p)
    if a.free_symbols or sp.expand(den - q) != a or not (a.is_Integer and a >= 1):
        return None
    return a


def omega_kind(om) -> str:
    """"window", "global", "divisors" (of p + a) or "index set"."""
    if isinstance(om, Window):
        return "window"
    if isinstance(om, Global):
        return "global"
    return "divisors" if divisor_offset(om) is not None else "index set"


def causal_reach(om, p):
    """(E(p), why) with max Ω(p) − p ≤ E(p) on one position axis p (the reach past p that decides causality,
    :mod:`evosym.analysis.causal`), or (None, why) where it is not derived."""
    if isinstance(om, Window):
        a = om.axes[0]
        if a.wrap or a.clamp or a.tiled:
            kind = "wraps around" if a.wrap else "is clamped" if a.clamp else "is tiled"
            return None, f"the window {kind}"
        return a.offset(p, a.kernel - 1) - p, "the last tap of the window, s·p + δ·(K − 1) − P, minus p"
    if isinstance(om, Global):
        return om.lengths()[0] - 1 - p, "Ω(p) is every position, up to L − 1"
    if isinstance(om, IndexSet) and divisor_offset(om) is not None:
        return sp.Integer(0), "Ω(p) = {q : (q + a) | (p + a)}, a ≥ 1, and a positive divisor of n ≥ 1 is at most n"
    return None, "an index set other than divisors"
