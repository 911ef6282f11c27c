"""Mutants of how the checker reads a proof's data: the ranges of its sums, its names, its floats, its tensors'
labels, the reads of a kernel, its divisions and its reads' indices (holes 15–23, found by adversarial passes on
2026-12-06; numbered after those of :mod:`.trust_mutants`, in its category).

15. A step is general only where every sum of its result runs over a range proved well-formed (hi ≥ lo − 1) for all
    sizes: introduce-delta absorbing a guard [2 ≤ i + 1 ≤ K − 2] made Σ_{m=2}^{K−2}, no sum at K = 2.
16. A name stands for one thing: a size n beside the output index n printed a statement about another operator
    (y[b, n, o] = Σ_c W[o, c]·x[b, n, c] for an operator that reads x at the size n).
17. A float is the binary number it is: moving 0.1 into Σ 0.2·… made SymPy's rounded 0.02, read as the decimals
    1/10·1/5 = 1/50 on both sides.
18. A step on floats is never general: the same rounding inside a sum that is empty at every grid shape.
19. A tensor's label is its plain name: W read through IndexedBase(Symbol("W", integer=True)) proved
    roots-of-unity-sum's "W[o, u] is an integer" for a real W.
20. The kernel must not read the value at the aggregated channel, also through a sum pinned there by its range
    (Σ_{a=c}^{c} x[b, a, i]: y = Σ_c W[c, 0]·x[b, c, i]², an "Evolution form").
21. Names print apart: a pooling's kernel size sigma beside its stride σ printed 1/σ·Σ_{u=0}^{σ−1} x[b, o, i·σ + u], a
    pooling whose kernel is its stride.
22. A step is general only where every division it holds is by a value proved non-zero for every size: moving 1/P into
    Σ_{u=0}^{P−1} (P ≥ 0) turned the undefined 0·(1/0) at P = 0 into the empty sum, an adaptive pooling over an input
    that may be empty likewise.
23. A step is general only where every read of a tensor lies inside its shape for every size: y = W[o, i]·x[b, o, i]
    with W of shape (C, K) and i < L, on a grid where L ≤ K, printed "valid for all sizes" though it reads W outside
    wherever L > K.
"""

from __future__ import annotations

from unittest import mock

import sympy as sp

from .. import Derivation, InRange, Operator, TensorDecl, Window, WindowAxis, index, size
from ..ir import reads as IR
from ..proof import evaluate as EV
from ..proof import premises as PR
from ..proof import proof as PF
from ..proof import symbolic as SY
from ..proof.rules import base as RB
from ..proof.rules import inshape as IS
from .registry import mutant
from .trust_mutants import (B, C, CATEGORY, IDENTITY, K, L, P, W, X, _checked, _witness_shape, b, c, i, identity_proof,
                            o, q, u, toy, trial, x_pad)

m, k, a = index("m"), index("k"), index("a")


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


def half_bound_proof():
    """y = x[b, o, i] + [1 ≤ i + 1 ≤ K − 1]·W[o, i + 1], the read rewritten as Σ_{m=−K/2}^{K−1}: where the summand is
    not 0, −K/2 ≤ i + 1 ≤ K − 1 (proved from the guard), and equal at K = 2 and 4 (the grid); at odd K the sum steps
    from −K/2 through half integers and is no sum (an adversarial pass found it labelled general)."""
    op = toy(X[b, o, i] + InRange(i + 1, 1, K - 1) * W[o, i + 1],
             grid=({B: 1, C: 1, L: 3, K: 2, P: 0}, {B: 1, C: 2, L: 4, K: 4, P: 0}))
    d = Derivation(op)
    d.apply("introduce-delta", targets=[(i + 1, m, -K / 2, K - 1)])
    d.conclude(omega=IDENTITY, channel=c, neighbour=(q,))
    return d.proof()


def integer_bounds_unchecked():
    """The checker without the check that every sum's bounds are integers."""
    return mock.patch.object(SY, "_integer_bounds", lambda lo, hi: True)


@mutant(CATEGORY, "hole 24: a step whose result sums from a bound that is no integer at some sizes (Σ_{m=−K/2} at odd "
                  "K) labelled general")
def half_bounds_general():
    return trial("the check that every sum's bounds are integers", _checked(half_bound_proof),
                 integer_bounds_unchecked, step=0, witness=_witness_shape(({B: 1, C: 1, L: 3, K: 3, P: 0},)),
                 level="general-only")


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
    return mock.patch.object(PR, "_name_clashes", lambda op, steps, conclusion=(): [])


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


# -- 18. floats through a rule -------------------------------------------------------------------------------------

def float_in_empty_sum_proof():
    """y = x + 0.1·Σ_{u=0}^{K−2} 0.2·W[o, u] at K = 1 only (the sum empty), 0.1 moved into the sum: SymPy's 0.02."""
    op = toy(X[b, o, i] + sp.Float(0.1) * sp.Sum(sp.Float(0.2) * W[o, u], (u, 0, K - 2)),
             grid=({B: 1, C: 1, L: 2, K: 1, P: 0}, {B: 1, C: 2, L: 3, K: 1, P: 0}))
    d = Derivation(op)
    d.apply("move-into-sum", factor=sp.Float(0.1), into=u)
    d.conclude(omega=IDENTITY, channel=c, neighbour=(q,))
    return d.proof()


def floats_may_be_general():
    """The checker without the obligation that a general step holds no float."""
    return mock.patch.object(PF, "float_obligations", lambda exprs: ())


@mutant(CATEGORY, "hole 18: a rule's rounded float arithmetic (0.1·0.2) inside a sum empty at every grid shape "
                  "labelled general")
def floats_in_rules_general():
    return trial("the obligation that a general step holds no float", _checked(float_in_empty_sum_proof),
                 floats_may_be_general, step=0, witness=_witness_shape(({B: 1, C: 1, L: 2, K: 2, P: 0},)),
                 level="general-only")


# -- 19. a label with assumptions ----------------------------------------------------------------------------------

W_INTEGER = sp.IndexedBase(sp.Symbol("W", integer=True))


def integer_label_proof():
    """y = x + Σ_{u=0}^{K−2} Σ_{k=0}^{L−1} e^{2πi·k·W[o, u]/L} with W read through an integer label: the roots of unity
    sum to L·[L | W[o, u]], true for integers only (W is real); the outer sum is empty on the grid (K = 1)."""
    term = sp.Sum(sp.exp(2 * sp.pi * sp.I * k * W_INTEGER[o, u] / L), (k, 0, L - 1), (u, 0, K - 2))
    op = toy(X[b, o, i] + term, grid=({B: 1, C: 1, L: 2, K: 1, P: 0}, {B: 1, C: 2, L: 3, K: 1, P: 0}))
    d = Derivation(op)
    d.apply("roots-of-unity-sum", over=k)
    d.conclude(omega=IDENTITY, channel=c, neighbour=(q,))
    return d.proof()


def labels_may_carry_assumptions():
    """The premises without the check that a tensor's label is its plain name."""
    return mock.patch.object(PR, "_labels_with_assumptions", lambda expr: [])


@mutant(CATEGORY, "hole 19: a real W read through an integer label (roots-of-unity-sum's 'W[o, u] is an integer' "
                  "proved) labelled general")
def labels_with_assumptions():
    return trial("the premise that a tensor's label is its plain name", _checked(integer_label_proof),
                 labels_may_carry_assumptions, step=0, witness=_half_differs, level="general-only")


def _half_differs(cp):
    """At K = L = 2 and W[o, 0] = 1/2 (W is real): Σ_k e^{iπ·k/2} = 1 + i, the rule's result another number."""
    s = cp.proof.steps[0]
    at = {K: 2, L: 2, o: 0, b: 0, i: 0}
    entries = {W_INTEGER[0, 0]: sp.Rational(1, 2), X[0, 0, 0]: 0}
    values = [sp.nsimplify(sp.sympify(sp.sympify(e.xreplace(at).doit()).xreplace(entries)).doit())
              for e in (s.before, s.after)]
    return f"at K = L = 2, W[0, 0] = 1/2 the sides are {values[0]} and {values[1]}" if values[0] != values[1] else None


# -- 20. a read pinned to the channel by a range --------------------------------------------------------------------

def pinned_by_range_proof():
    """y = Σ_c W[c, 0]·x[b, c, i]·Σ_{a=c}^{c} x[b, a, i] = Σ_c W[c, 0]·x[b, c, i]²: the kernel reads x at c through a
    one-point sum."""
    op = toy(sp.Sum(W[c, 0] * X[b, c, i] * sp.Sum(X[b, a, i], (a, c, c)), (c, 0, C - 1)),
             grid=({B: 1, C: 2, L: 2, K: 1, P: 0}, {B: 2, C: 1, L: 3, K: 1, P: 0}))
    d = Derivation(op)
    d.apply("introduce-delta", targets=[(i, q, 0, L - 1)], within=c)
    d.apply("name-kernel", name="Kn", channel=c, position=(q,), indices=(b, o, c, i, q))
    d.conclude(omega=IDENTITY, channel=c, neighbour=(q,))
    return d.proof()


def ranges_not_read():
    """A read's dependence without the ranges of the sums around it (only its own indices count)."""
    return mock.patch.object(IR.Read, "mentions", lambda self, s: s not in self.bound and s in self.read.free_symbols)


@mutant(CATEGORY, "hole 20: the kernel reading the value at the aggregated channel through Σ_{a=c}^{c} (y = Σ_c "
                  "W·x² an Evolution form)")
def reads_through_ranges():
    return trial("the reads' dependence through the ranges around them", _checked(pinned_by_range_proof),
                 ranges_not_read)


# -- 21. names that print alike -------------------------------------------------------------------------------------

KERNEL, STRIDE = size("sigma"), size("\u03c3")   # printed σ and σ


def printed_alike_proof():
    """Average pooling, y[b, o, i] = Σ_{u=0}^{sigma−1} x[b, o, σ·i + u]/sigma with a kernel size sigma and a stride σ."""
    out = sp.floor((L - KERNEL) / STRIDE) + 1
    op = Operator(name="hostile", summary="", output=TensorDecl("y", (B, C, out), "output"), lhs_indices=(b, o, i),
                  traditional=sp.Sum(X[b, o, STRIDE * i + u], (u, 0, KERNEL - 1)) / KERNEL,
                  tensors=(TensorDecl("x", (B, C, L), "input"),), batch=b, out_channel=o, position=(i,),
                  sizes=tuple((s, "") for s in (B, C, L, KERNEL, STRIDE)),
                  grid=({B: 1, C: 2, L: 5, KERNEL: 2, STRIDE: 1}, {B: 2, C: 1, L: 7, KERNEL: 3, STRIDE: 2}))
    d = Derivation(op)
    d.apply("move-into-sum", factor=1 / KERNEL, into=u)
    d.apply("introduce-delta", targets=[(o, c, 0, C - 1), (STRIDE * i + u, q, 0, L - 1)], within=u)
    d.apply("exchange-sums", outer=[u], inner=[c, q])
    d.apply("factor-out", factor=X[b, c, q], over=[u])
    d.apply("name-kernel", name="Kp", channel=c, position=(q,), indices=(o, c, i, q))
    d.conclude(omega=Window((WindowAxis(KERNEL, STRIDE, 1, 0, L),)), channel=c, neighbour=(q,))
    return d.proof()


def names_may_print_alike():
    """The premises without the check that names print apart."""
    return mock.patch.object(PR, "_printed_alike", lambda op, steps, conclusion=(): [])


@mutant(CATEGORY, "hole 21: a kernel size sigma beside a stride \u03c3 (the statement printed a pooling whose kernel is "
                  "its stride)")
def names_printed_alike():
    return trial("the premise that names print apart", _checked(printed_alike_proof), names_may_print_alike)


# -- 22. divisions by a value that may be 0 ------------------------------------------------------------------------

def divides_by_a_size_proof():
    """y = (1/P)·Σ_{u=0}^{P−1} x[b, o, i] with P ≥ 0, 1/P moved into the sum: equal at P = 1 and 2 (the grid), and at
    P = 0 the left side divides by 0 where the right side is the empty sum."""
    op = toy(sp.Sum(X[b, o, i], (u, 0, P - 1)) / P,
             grid=({B: 1, C: 1, L: 2, K: 1, P: 1}, {B: 1, C: 2, L: 3, K: 1, P: 2}))
    d = Derivation(op)
    d.apply("move-into-sum", factor=1 / P, into=u)
    d.conclude(omega=IDENTITY, channel=c, neighbour=(q,))
    return d.proof()


def divisions_unchecked():
    """The checker without the obligation that every division of a step is by a value proved non-zero."""
    return mock.patch.object(PF, "divisor_obligations", lambda exprs, ranges, ctx: ())


@mutant(CATEGORY, "hole 22: a step dividing by a size that may be 0 (1/P moved into Σ_{u=0}^{P−1}, P ≥ 0) labelled "
                  "general")
def divisions_by_zero_general():
    return trial("the obligation that every division is by a value proved non-zero", _checked(divides_by_a_size_proof),
                 divisions_unchecked, step=0, witness=_witness_shape(({B: 1, C: 1, L: 2, K: 1, P: 0},)),
                 level="general-only")


# -- 23. reads outside a tensor's shape ------------------------------------------------------------------------------

def reads_past_a_shape_proof():
    """y = x_pad[b, o, i]·W[o, i], W of shape (C, K), i < L: equal at the grid shapes (L ≤ K there), and wherever
    L > K both sides read W outside its shape (no value)."""
    op = toy(x_pad()[b, o, i] * W[o, i], definitions=[x_pad()],
             grid=({B: 1, C: 2, L: 2, K: 2, P: 0}, {B: 1, C: 1, L: 3, K: 3, P: 1}))
    return identity_proof(op)


def shapes_unchecked():
    """The checker without the obligation that every read lies inside its tensor's shape."""
    return mock.patch.object(IS.ShapeProver, "inside", lambda *a, **k: True)


@mutant(CATEGORY, "hole 23: a step reading W[o, i] with i < L, W of shape (C, K), labelled general (outside the shape "
                  "wherever L > K)")
def reads_past_a_shape_general():
    return trial("the obligation that every read lies inside its tensor's shape", _checked(reads_past_a_shape_proof),
                 shapes_unchecked, step=0, witness=_witness_shape(({B: 1, C: 1, L: 3, K: 2, P: 0},)),
                 level="general-only")
