"""HOSTILE: K reads x at the aggregated channel c through a piecewise selection t = c (y = Σ_c x[b,c,i]²)."""

import sympy as sp
from _square import b, c, derive, q, square_operator, t, x  # noqa: F401

OPERATOR = square_operator("square_via_piecewise", sp.Piecewise((x[b, t, q], sp.Eq(t, c)), (0, True)))
