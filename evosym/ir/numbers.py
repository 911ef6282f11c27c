"""SymPy's Möbius function μ, folded only where its value is certain.

SymPy (1.14) folds μ of a product when it builds it, from the signs of the numeric factors alone, dropping the
symbolic ones: μ(2·a) is −1 for every positive integer a (μ(4) = 0, μ(6) = 1), μ(3·a) likewise, μ(a²) is 0 (μ(1) = 1).
A rule that substitutes a variable (reindex-sum, merge-sums, unfold-definition) rebuilt μ(2·e) as μ(2·a) with a
declared positive, and the step changed the operator's value while it was checked as an identity: an operator
file printed PROVED, every step general (an adversarial pass). Importing evosym replaces that fold, in its
process, with one that gives μ(n) at an integer n ≥ 1 only (SymPy's own value there, from the factorisation), refuses
what SymPy refuses (a number or an expression that is no integer or no positive one) and leaves every other argument
unevaluated — μ(P) for a size declared prime included: its value is the checker's to compute at each shape. It only
ever folds less than SymPy did, so other code in the process sees no wrong value either.
"""

from __future__ import annotations

import sympy as sp
from sympy.core.cache import clear_cache

_SYMPY_EVAL = sp.mobius.eval.__func__   # (SymPy's, right at a positive integer)


def _eval(cls, n):
    """μ(n) at an integer n ≥ 1; an error where SymPy shows n is no positive integer; else None (unevaluated)."""
    if n.is_integer is False:
        raise TypeError("n should be an integer")
    if n.is_positive is False:
        raise ValueError("n should be a positive integer")
    if n.is_Integer:
        return _SYMPY_EVAL(cls, n)
    return None


def install() -> None:
    """Make :func:`_eval` SymPy's fold of μ (idempotent), and drop what SymPy's cache holds from the old one."""
    if sp.mobius.eval.__func__ is not _eval:
        sp.mobius.eval = classmethod(_eval)
        clear_cache()


install()

__all__ = ["install"]
