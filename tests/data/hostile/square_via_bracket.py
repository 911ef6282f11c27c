"""HOSTILE: K reads x at the aggregated channel c through a bracket [c ≤ t ≤ c] (y = Σ_c x[b,c,i]²)."""

from _square import c, derive, q, square_operator, t, x, b  # noqa: F401

from evosym import InRange

OPERATOR = square_operator("square_via_bracket", InRange(t, c, c) * x[b, t, q])
