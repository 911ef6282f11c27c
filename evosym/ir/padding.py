"""PyTorch's padding modes as SymPy index maps: the input position that padded position m reads.

Written once, so that operator files build their padded inputs from them and code generation
recognises them (an F.pad lowering) by structural equality with the very same expressions.
"""

from __future__ import annotations

import sympy as sp


def replicate(m, length):
    """min(max(m, 0), L − 1): the nearest edge."""
    return sp.Min(sp.Max(m, 0), length - 1)


def reflect(m, length):
    """L − 1 − |L − 1 − |m||: m inside, −m below, 2(L − 1) − m above (for m in (−L, 2L − 1): P < L)."""
    return (length - 1) - sp.Abs((length - 1) - sp.Abs(m))


def circular(m, length):
    """m mod L: the input wraps around (a torus); every m reads inside, so no clip is needed."""
    return sp.Mod(m, length)


PADDING_MAPS = {"replicate": replicate, "reflect": reflect, "circular": circular}
