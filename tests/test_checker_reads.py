"""Every read of a declared tensor lies inside its shape for every size, or the step is not labelled general.

The hole (an adversarial pass): y[b, o, i] = W[o, i]·x[b, o, i] with W of shape (C, L) and i < N printed "PROVED …
2 general … valid for all sizes", though at N > L it reads W outside its shape (undefined; the evaluator refuses it
at such a grid shape). Each variant below reads through another construct: guards, a Piecewise, a remainder, a
clamp, a shaped definition, a catalogue operator with its condition taken away.
"""

from __future__ import annotations

import dataclasses

import pytest
import sympy as sp

from evosym import catalogue
from evosym.ir.symbols import InRange, index
from evosym.ir.tensors import Definition
from test_checker_divisors import _labels
from test_premises import B, C, L, K, P, Wt, X, o, i

GRID_L_LE_K = ({B: 1, C: 2, L: 2, K: 3, P: 1}, {B: 2, C: 1, L: 3, K: 3, P: 0})
cc, mm = index("cc"), index("mm")
READ = "lies inside"


def _general(factor, defs=(), grid=None, **kw):
    """Every step of y = x_pad·factor labelled general (whatever the support check says of the toy's Ω)."""
    _, labels = _labels(factor, defs, grid=grid, **kw) if grid else _labels(factor, defs, **kw)
    return bool(labels) and all(labels)


@pytest.mark.parametrize("factor", [
    Wt[o, i],                                                    # i < L, W has K columns: K < L reads outside
    InRange(i, 0, K) * Wt[o, i],                                 # a guard one too wide
    Wt[o, sp.Min(i, K)],                                         # a clamp one too high
    Wt[o, sp.Max(i - 1, -1)],                                    # a clamp one too low
    Wt[o, sp.Mod(i, K + 1)],                                     # a remainder one too large
    Wt[o, i / 2],                                                # not an integer
    Wt[o, sp.Float(0.5) + sp.Float(0.5) * i * 0],                # a float index
    sp.KroneckerDelta(i, K) * Wt[o, i],                          # a delta at the first index outside
    InRange(i, 0, K - 1) * sp.KroneckerDelta(Wt[o, i], 0),       # a read inside a guard: guards run in either order
])
def test_a_read_that_may_leave_its_shape_is_not_general(factor):
    assert not _general(factor), factor


@pytest.mark.parametrize("factor", [
    InRange(i, 0, K - 1) * Wt[o, i],                             # zero padding: the guard keeps the read inside
    Wt[o, sp.Min(i, K - 1)],                                     # replicate padding
    Wt[o, sp.Max(0, sp.Min(i, K - 1))],
    Wt[o, sp.Mod(i + 3, K)],                                     # circular padding
    K - 1 - sp.Abs(K - 1 - sp.Abs(i - K + 1)) + 0 * Wt[o, 0],    # (no read but W[o, 0]: in shape)
    sp.KroneckerDelta(i, 0) * Wt[o, i],
    sp.KroneckerDelta(i, K - 1) * Wt[o, i],
])
def test_a_read_kept_inside_its_shape_is_general(factor):
    assert _general(factor), factor


@pytest.mark.parametrize("expr, inside", [
    (sp.Piecewise((Wt[o, i], sp.Lt(i, K)), (0, True)), True),       # a branch is read where its condition holds
    (sp.Piecewise((Wt[o, i], sp.Le(i, K)), (0, True)), False),      # one too wide
    (sp.Piecewise((Wt[o, i - 1], sp.Ge(i, 1) & sp.Le(i, K)), (0, True)), True),
    (sp.Piecewise((Wt[o, i - 1], sp.Le(i, K)), (0, True)), False),  # i = 0 reads W[o, −1]
    (sp.Piecewise((0, sp.Lt(i, K)), (Wt[o, i], True)), False),      # the fallback is read where the first fails
])
def test_a_piecewise_branch_is_read_under_its_condition(expr, inside):
    obligations = _obligations(expr)
    assert (not any(READ in t for t in obligations)) is inside, obligations


def _obligations(expr, defs=()):
    from evosym.proof.rules.base import Context
    from evosym.proof.rules.nonzero import divisor_obligations
    from test_premises import _op
    op = _op(Wt[o, i])
    ctx = Context({o: (0, C - 1), i: (0, L - 1)}, {d.name: d for d in defs}, frozenset(op.size_symbols()), "x",
                  {t.name: t for t in op.tensors})
    return [ob.text for ob in divisor_obligations([(expr, {})], ctx.ranges, ctx)]


def test_a_guards_own_arguments_take_no_fact_of_the_product():
    """A bracket is computed before the delta beside it may be (SymPy's order): the delta's divisibility fact does not
    make (i + 1)/(P + 1) an integer inside the bracket (a second pass: D[o, 1/2] and mobius(1/2) were read)."""
    guard = sp.KroneckerDelta(0, sp.Mod(i + 1, P + 1))
    assert any(READ in t for t in _obligations(InRange(Wt[o, (i + 1) / (P + 1)], 1, 1) * guard * Wt[o, 0]))
    assert any("is defined" in t for t in _obligations(InRange(sp.mobius((i + 1) / (P + 1)) ** 2, 1, 1) * guard))
    assert not any(READ in t for t in _obligations(guard * X[0, o, (i + 1) / (P + 1) - 1]))   # beside it: protected


@pytest.mark.parametrize("expr, inside", [
    (InRange(i, 0, 2 * K - 1) * Wt[o, sp.floor(i / 2)], True),      # a guard bounds an index of the floor
    (InRange(i, 0, 2 * K) * Wt[o, sp.floor(i / 2)], False),         # one too many: ⌊2K/2⌋ = K
    (InRange(i, 0, sp.Min(K, L) - 1) * Wt[o, i], True),             # a guard's own min split into its cases
    (InRange(i, 0, sp.Max(K, L) - 1) * Wt[o, i], False),
])
def test_a_guard_bounds_the_index_it_reads(expr, inside):
    """Two false refusals of a second pass (honest reads labelled bounded), with their wrong twins."""
    assert (not any(READ in t for t in _obligations(expr))) is inside


def test_a_definitions_sum_does_not_capture_a_range_around_its_read():
    """E[pp] := Σ_{k=0}^{0} W[o, pp] read inside Σ_{k=0}^{i} Σ_{j=0}^{k} E[j]: the body's k, bound over [0, 0], took the
    place of the k that j's range reads, and W[o, j] looked inside (a third pass)."""
    k, j, pp = index("k"), index("j"), index("pp")
    e = Definition("E", (pp,), sp.Sum(Wt[o, pp], (k, 0, 0)))
    expr = sp.Sum(sp.Sum(e[j], (j, 0, k)), (k, 0, i))
    assert any(READ in t for t in _obligations(expr, [e]))
    fine = Definition("E", (pp,), sp.Sum(Wt[o, pp], (k, 0, 0)))
    assert not any(READ in t for t in _obligations(InRange(i, 0, K - 1) * sp.Sum(sp.Sum(fine[j], (j, 0, k)), (k, 0, i)),
                                                   [fine]))


def test_a_definition_is_read_at_integer_indices():
    pp = index("pp")
    e = Definition("E", (pp,), pp + 1)
    assert any("integer indices" in t for t in _obligations(e[L / 2] * Wt[o, 0], [e]))
    assert not any("integer indices" in t for t in _obligations(e[sp.floor(L / 2)] * Wt[o, 0], [e]))


def test_the_body_is_read_as_written_not_as_simplified_at_the_read():
    """1 + W[0, q + L]·(W[0, L] − W[0, q + L]) at q = 0 is 1 to SymPy, but the evaluator compiles the body with q
    free and reads W[0, L] (a third pass)."""
    q_ = index("q_")
    e = Definition("E", (q_,), 1 + Wt[0, q_ + L] * (Wt[0, L] - Wt[0, q_ + L]))
    assert any(READ in t for t in _obligations(e[0] * Wt[o, 0], [e]))


@pytest.mark.parametrize("f, defined", [
    (sp.floor(sp.sqrt(L)), False),            # the evaluator computes floors of rationals only
    (sp.ceiling(sp.sqrt(L) + 1), False),
    (sp.floor((L - 1) / K), True),
    (sp.frac(L / K), True),
])
def test_a_rounding_is_defined_of_a_rational_argument(f, defined):
    assert (not any("is defined" in t for t in _obligations(f * Wt[o, 0]))) is defined


def test_a_delta_with_a_range_argument_is_ill_formed_not_a_crash():
    from evosym.errors import IllFormedAccess
    from evosym.proof.evaluate import Evaluator
    with pytest.raises(IllFormedAccess, match="takes two"):
        Evaluator({}).compile(sp.KroneckerDelta(i, 0, (0, 3)))


def test_a_constraint_is_a_hypothesis_of_the_reads():
    assert _general(Wt[o, i], grid=GRID_L_LE_K, constraints=(sp.Le(L, K),))
    assert not _general(Wt[o, i], grid=GRID_L_LE_K, constraints=(sp.Le(L, K + 1),))


def test_a_shaped_definition_is_read_inside_its_shape_or_where_its_body_vanishes():
    g = Definition("G", (cc, mm), Wt[cc, mm], shape=(C, K))                          # W itself: not general
    assert not _general(g[o, i], [g])
    padded = Definition("Gp", (cc, mm), InRange(mm, 0, K - 1) * Wt[cc, mm], shape=(C, K))
    assert _general(padded[o, i], [padded])                                          # 0 outside: read there as 0
    loose = Definition("Gl", (cc, mm), InRange(mm, 0, K) * Wt[cc, mm], shape=(C, K))
    assert not _general(loose[o, i], [loose])


def test_the_obligation_is_printed_with_the_tensor_and_its_shape():
    from test_checker_divisors import _check, _identity_derivation, _op, _x_pad
    from test_premises import b
    xp = _x_pad()
    cp = _check(_identity_derivation(_op(xp[b, o, i] * Wt[o, i], definitions=[xp], grid=GRID_L_LE_K)))
    texts = [str(ob) for s in cp.steps for ob in s.obligations if not ob.proved and READ in ob.text]
    assert texts and "W's shape (C, K)" in texts[0], texts


@pytest.mark.parametrize("name, keep, step", [
    ("conv1d_reflect", lambda c: not isinstance(c, sp.StrictLessThan), 0),                   # P < L_in taken away
    ("neighborhood_attention", lambda c: False, 0),                                           # H, W ≥ K taken away
    ("acmix_attention", lambda c: not isinstance(c, sp.StrictLessThan), 0),                   # R < H, W taken away
])
def test_a_catalogue_operator_without_the_condition_its_reads_need_is_not_general(name, keep, step):
    """Each declares the condition under which its reads stay inside the input (until this obligation, in words
    only, or not at all: at L_in = 1, P = 2 the reflection reads x[−2]); without it, its steps are bounded."""
    [m] = [m for m in catalogue.load_all() if m.operator.name == name]
    full = m.proof().check(reference=False)
    widened = dataclasses.replace(m, operator=dataclasses.replace(
        m.operator, constraints=tuple(c for c in m.operator.constraints if keep(c))))
    assert len(widened.operator.constraints) < len(m.operator.constraints)
    cp = widened.proof().check(reference=False)
    assert full.steps[step].check.general and not cp.steps[step].check.general
    assert any(READ in ob.text and not ob.proved for ob in cp.steps[step].obligations)
