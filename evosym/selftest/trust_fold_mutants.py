"""Mutants of the checker's SymPy folds (hole 27): SymPy evaluates a function of a symbolic argument when it builds
it, from the symbols' assumptions, and a fold that is wrong for some of their values lets a rule that substitutes
a variable change the operator's value while the step is checked as an identity. Killed as in
:mod:`.trust_mutants`: the hostile example gets through the checker with the fold of old, not through the real one.
"""

from __future__ import annotations

import contextlib
from unittest import mock

import sympy as sp
from sympy.core.cache import clear_cache

from .. import Derivation, Global, index
from ..ir import numbers as NU
from .registry import mutant
from .trust_mutants import B, C, CATEGORY, K, L, P, X, b, c, i, o, toy, trial

a = sp.Symbol("a", integer=True, positive=True)   # (a binder over [1, L]: positive, as its range allows)
e, m = index("e"), index("m")


@contextlib.contextmanager
def _sympy_fold():
    """SymPy's own fold of μ, which multiplies the signs of a product's numeric factors and drops its symbols."""
    clear_cache()
    try:
        with mock.patch.object(sp.mobius, "eval", classmethod(NU._SYMPY_EVAL)):
            yield
    finally:
        clear_cache()   # (what it folded is not left in SymPy's cache for the real checker)


def folded_mobius_proof():
    """y = Σ_{a=1}^{L} x[b, o, a − 1] + (K − 1)(K − 2)·Σ_{e=1}^{L} μ(2e)·x[b, o, e − 1], the two sums merged over a
    (an adversarial pass, 2026-12-07): SymPy rebuilt μ(2e) as μ(2a), a declared positive, and folded it to −1,
    so the derivation's kernel is (1 − (K − 1)(K − 2))·δ(c, o)·δ(m, a − 1) and every step general; the grid's
    K = 1, 2 hide the term, at K = 3 and L = 3 it is −x where the operator gives x. The derivation is recorded
    with SymPy's fold (an operator file's process may restore it) and checked with the checker's."""
    merged = sp.Sum(sp.mobius(2 * e) * X[b, o, e - 1], (e, 1, L))
    op = toy(sp.Sum(X[b, o, a - 1], (a, 1, L)) + (K - 1) * (K - 2) * merged,
             grid=({B: 1, C: 2, L: 3, K: 1, P: 0}, {B: 2, C: 1, L: 4, K: 2, P: 0}))
    d = Derivation(op)
    with _sympy_fold():
        d.apply("move-into-sum", factor=(K - 1) * (K - 2), into=e)
        d.apply("merge-sums", first=a, second=e, common=X[b, o, a - 1])
        d.apply("introduce-delta", targets=[(o, c, 0, C - 1), (a - 1, m, 0, L - 1)], within=a)
        d.apply("exchange-sums", outer=[a], inner=[m, c])
        d.apply("factor-out", factor=X[b, c, m], over=[a])
        d.apply("name-kernel", name="Kn", channel=c, position=(m,), indices=(o, c, i, m))
        d.conclude(omega=Global((L,)), channel=c, neighbour=(m,))
    return d.proof().check(reference=False)


@mutant(CATEGORY, "hole 27: SymPy's fold of μ(2a), −1 for a declared positive (μ(4) = 0): merge-sums rebuilt μ(2e) as "
                  "μ(2a), every step general, false at K = 3")
def mobius_folded_by_sympy():
    return trial("evosym's fold of μ (at integers only)", folded_mobius_proof, _sympy_fold)
