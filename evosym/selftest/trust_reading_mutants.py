"""Mutants of how the checker reads a proof's data: the ranges of its sums, its names and its floats (holes 15–17,
found by an adversarial pass on 2026-12-06; numbered after those of :mod:`.trust_mutants`, in its category).

15. A step is general only where every sum of its result runs over a range proved well-formed (hi ≥ lo − 1) for all
    sizes: introduce-delta absorbing a guard [2 ≤ i + 1 ≤ K − 2] made Σ_{m=2}^{K−2}, no sum at K = 2.
16. A name stands for one thing: a size n beside the output index n printed a statement about another operator
    (y[b, n, o] = Σ_c W[o, c]·x[b, n, c] for an operator that reads x at the size n).
17. A float is the binary number it is: moving 0.1 into Σ 0.2·… made SymPy's rounded 0.02, read as the decimals
    1/10·1/5 = 1/50 on both sides.
"""

from __future__ import annotations

from unittest import mock

import sympy as sp

from .. import Derivation, InRange, Operator, TensorDecl, Window, WindowAxis, index
from ..proof import evaluate as EV
from ..proof import premises as PR
from ..proof.rules import base as RB
from .registry import mutant
from .trust_mutants import (B, C, CATEGORY, IDENTITY, K, L, P, W, X, _checked, _witness_shape, b, c, i, o, q,
                            toy, trial)

m = index("m")


# -- 15. ranges ----------------------------------------------------------------------------------------------------

def guarded_range_proof():
    """y = x[b, o, i] + [2 ≤ i + 1 ≤ K − 2]·W[o, i + 1], the guard absorbed into Σ_{m=2}^{K−2} δ(m, i + 1)·W[o, m]:
    equal at K = 3 and 4 (the grid), and no sum at K = 2, inside the domain K ≥ 1."""
    op = toy(X[b, o, i] + InRange(i + 1, 2, K - 2) * W[o, i + 1],
             grid=({B: 1, C: 1, L: 3, K: 3, P: 0}, {B: 1, C: 2, L: 4, K: 4, P: 0}))
    d = Derivation(op)
    d.apply("introduce-delta", targets=[(i + 1, m, 2, K - 2)])
    d.conclude(omega=IDENTITY, channel=c, neighbour=(q,))
    return d.proof()


def ranges_unchecked():
    """The checker without the obligation that every sum of a step's result runs over a well-formed range."""
    return mock.patch.object(RB, "unproved_ranges", lambda expr, ranges: [])


@mutant(CATEGORY, "hole 15: a step whose result sums over a range ill-formed at some sizes (Σ_{m=2}^{K−2} at K = 2) "
                  "labelled general")
def ill_formed_ranges_general():
    return trial("the obligation that every range is well-formed", _checked(guarded_range_proof), ranges_unchecked,
                 step=0, witness=_witness_shape(({B: 1, C: 1, L: 2, K: 2, P: 0},)), level="general-only")


# -- 16. names -----------------------------------------------------------------------------------------------------

N_SIZE = sp.Symbol("i", integer=True, nonnegative=True)   # a size named as the output index i


def size_named_as_index_proof():
    """y[b, o, i] = x[b, o, n] with a size n ≤ L − 1 named i: proved, it printed y[b, o, i] = x[b, o, i]."""
    op = Operator(name="hostile", summary="", output=TensorDecl("y", (B, C, L), "output"), lhs_indices=(b, o, i),
                  traditional=X[b, o, N_SIZE], tensors=(TensorDecl("x", (B, C, L), "input"),), batch=b,
                  out_channel=o, position=(i,), sizes=((B, ""), (C, ""), (L, ""), (N_SIZE, "")),
                  grid=({B: 1, C: 2, L: 3, N_SIZE: 1}, {B: 2, C: 1, L: 2, N_SIZE: 0}),
                  constraints=(sp.Le(N_SIZE, L - 1),))
    d = Derivation(op)
    d.apply("introduce-delta", targets=[(o, c, 0, C - 1), (N_SIZE, q, 0, L - 1)])
    d.apply("name-kernel", name="Kn", channel=c, position=(q,), indices=(o, c, i, q))
    d.conclude(omega=Window((WindowAxis(1, 0, 1, -N_SIZE, L),)), channel=c, neighbour=(q,))
    return d.proof()


def names_may_clash():
    """The premises without the check that every name stands for one thing."""
    return mock.patch.object(PR, "_name_clashes", lambda op, steps: [])


@mutant(CATEGORY, "hole 16: a size named as the output index i (the statement printed y[b, o, i] = x[b, o, i] for an "
                  "operator that reads x at the size)")
def size_named_as_index():
    return trial("the premise that every name stands for one thing", _checked(size_named_as_index_proof),
                 names_may_clash)


# -- 17. floats ----------------------------------------------------------------------------------------------------

def rounded_float_proof():
    """y = 0.1·Σ_c 0.2·x[b, c, i]·δ(o, c)… with 0.1 moved into the sum: SymPy's product 0.02 is rounded."""
    op = toy(sp.Float(0.1) * sp.Sum(sp.Float(0.2) * sp.KroneckerDelta(o, c) * X[b, c, i], (c, 0, C - 1)),
             grid=({B: 1, C: 2, L: 2, K: 1, P: 0}, {B: 2, C: 1, L: 3, K: 1, P: 0}))
    d = Derivation(op)
    d.apply("move-into-sum", factor=sp.Float(0.1), into=c)
    d.apply("introduce-delta", targets=[(i, q, 0, L - 1)], within=c)
    d.apply("name-kernel", name="Kn", channel=c, position=(q,), indices=(o, c, i, q))
    d.conclude(omega=IDENTITY, channel=c, neighbour=(q,))
    return d.proof()


def floats_as_decimals():
    """The evaluator reading a float through the decimal text it prints as."""
    from fractions import Fraction
    return mock.patch.object(EV, "_float_value", lambda e: Fraction(str(e)))


@mutant(CATEGORY, "hole 17: floats read as their decimal text (0.1·0.2 and SymPy's rounded 0.02 compared equal)")
def floats_read_as_decimals():
    return trial("the evaluator's exact reading of floats", _checked(rounded_float_proof), floats_as_decimals)
