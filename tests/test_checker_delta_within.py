"""introduce-delta's premise "the summand vanishes unless lo ≤ e ≤ hi", proved from the summand's guards and the
operator's constraints (reflection padding under P < L, NATTEN's clamp under K ≤ H: the catalogue's last bounded
steps), and never from what does not give it: a guard on another expression, a guard inside another factor, a
constraint the operator does not declare, a claim false at some size."""

from __future__ import annotations

import dataclasses

import pytest
import sympy as sp

from evosym import Derivation, InRange, Operator, TensorDecl, Window, WindowAxis, index, size
from evosym.printers import render

B, C, O, L, R = size("B"), size("C"), size("O"), size("L"), size("R")
b, o, i, c, q, m = (index(s) for s in "b o i c q m".split())
X, Wt, Vt, V2 = sp.IndexedBase("x"), sp.IndexedBase("W"), sp.IndexedBase("V"), sp.IndexedBase("V2")
SIZES = ((B, "batch"), (C, "in"), (O, "out"), (L, "length"), (R, "radius"))
GRID = ({B: 1, C: 2, O: 2, L: 3, R: 1}, {B: 2, C: 1, O: 1, L: 5, R: 2})


def _op(extra, constraints=()):
    """y[b, o, i] = Σ_c W[o, c]·x[b, c, i] + ``extra``; V has L entries, V2 has L + 1."""
    decls = (TensorDecl("x", (B, C, L), "input"), TensorDecl("W", (O, C), "parameter"),
             TensorDecl("V", (L,), "parameter"), TensorDecl("V2", (L + 1,), "parameter"))
    return Operator(name="toy", summary="", output=TensorDecl("y", (B, O, L), "output"), lhs_indices=(b, o, i),
                    traditional=sp.Sum(Wt[o, c] * X[b, c, i], (c, 0, C - 1)) + extra, tensors=decls, batch=b,
                    out_channel=o, position=(i,), value="x", sizes=SIZES, grid=GRID,
                    constraints=tuple(constraints))


def _step(extra, e, lo, hi, constraints=()):
    """The first step's check after introduce-delta of ``e`` over [lo, hi] in ``extra``, and the proof's text."""
    d = Derivation(_op(extra, constraints))
    d.apply("introduce-delta", targets=[(e, m, lo, hi)])
    d.apply("introduce-delta", targets=[(i, q, 0, L - 1)], within=c)
    d.apply("name-kernel", name="K", channel=c, position=(q,), indices=(o, c, i, q))
    d.conclude(omega=Window((WindowAxis(1, 1, 1, 0, L),)), channel=c, neighbour=(q,))
    cp = d.proof().check(reference=False)
    return cp.steps[0].check, " ".join(render(cp, "text").split())   # (the printer wraps its lines)


CLAMP = sp.Min(i + R, L - 1) - R   # in [0, L − 1 − R] only where R ≤ L − 1


@pytest.mark.parametrize("extra, e, lo, hi, constraints", [
    # a guard that is not [lo ≤ e ≤ hi] itself but places e inside: [1 ≤ i + 1 ≤ L − 1]
    (InRange(i + 1, 1, L - 1) * Vt[i + 1], i + 1, 0, L - 1, ()),
    # two guards together: [0 ≤ i − 1] for the lower end, [i + 2 ≤ L] for the upper
    (InRange(i - 1, 0, L) * InRange(i + 2, 0, L) * Vt[i + 1], i + 1, 1, L - 1, ()),
    # a clamp read inside the shape under the declared constraint R < L
    (Vt[CLAMP], CLAMP, 0, L - 1, (sp.Lt(R, L),)),
    # a reflection L − 1 − |L − 1 − |i − R|| under R < L
    (Vt[L - 1 - sp.Abs(L - 1 - sp.Abs(i - R))], L - 1 - sp.Abs(L - 1 - sp.Abs(i - R)), 0, L - 1, (sp.Lt(R, L),)),
    # a Piecewise whose other piece is 0: where it is not 0, its condition i + 1 ≤ L − 1 holds
    (sp.Piecewise((V2[i + 1], i + 1 <= L - 1), (0, True)), i + 1, 0, L - 1, ()),
    # … a conjunction, and a factor beside it
    (Wt[o, 0] * sp.Piecewise((V2[i + 1], sp.And(i >= 1, i + 2 <= L)), (0, True)), i + 1, 1, L - 1, ()),
])
def test_guards_and_constraints_prove_where_the_summand_vanishes(extra, e, lo, hi, constraints):
    check, text = _step(extra, e, lo, hi, constraints)
    assert check.ok and check.general, text
    assert "wherever the summand's guards are 1" in text or "carries the guard" in text, text


@pytest.mark.parametrize("extra, e, lo, hi, constraints", [
    # false at i = L − 1: V2[L] is read and not 0 (the step fails at a grid shape, never general)
    (V2[i + 1], i + 1, 0, L - 1, ()),
    # a guard on another expression than e: [0 ≤ i ≤ L − 1] says nothing of i + 1 ≤ L − 1
    (InRange(i, 0, L - 1) * V2[i + 1], i + 1, 0, L - 1, ()),
    # the guard inside another factor, not one of the summand's own: not taken
    (sp.Max(InRange(i + 1, 0, L - 1), 0) * V2[i + 1], i + 1, 0, L - 1, ()),
    # the clamp without the constraint R < L (at R ≥ L it is negative)
    (V2[CLAMP + 1], CLAMP + 1, 0, L - 1, ()),
    # a constraint that does not give it (R ≤ L + 1 is one short: at R = L + 1 the read is V2[−1])
    (V2[CLAMP + 1], CLAMP + 1, 0, L - 1, (sp.Le(R, L + 1),)),
    # a Piecewise whose other piece is not 0 (V[0] where the condition fails): its condition gives nothing
    (sp.Piecewise((V2[i + 1], i + 1 <= L - 1), (Vt[0], True)), i + 1, 0, L - 1, ()),
    # … and one whose 0 is the first piece: not 0 where the condition fails (i + 1 = L: V2[L])
    (sp.Piecewise((0, i + 1 <= L - 1), (V2[i + 1], True)), i + 1, 0, L - 1, ()),
    # … and one with no "otherwise" piece (undefined where no condition holds: not taken)
    (sp.Piecewise((V2[i + 1], i + 1 <= L - 1), (0, i + 1 >= L)), i + 1, 0, L - 1, ()),
    # … and one whose condition is on another expression
    (sp.Piecewise((V2[i + 1], i <= L - 1), (0, True)), i + 1, 0, L - 1, ()),
])
def test_what_does_not_give_the_range_does_not_prove_it(extra, e, lo, hi, constraints):
    check, text = _step(extra, e, lo, hi, constraints)
    assert not check.general, text
    assert "the summand vanishes unless" in text, text


def test_the_constraint_that_gives_it_proves_it():
    """The last case above with R ≤ L: Min(L − 1, R + i) − R + 1 ≥ 0, and the step is general."""
    check, text = _step(V2[CLAMP + 1], CLAMP + 1, 0, L - 1, (sp.Le(R, L),))
    assert check.ok and check.general, text


EVEN = ({B: 1, C: 2, O: 2, L: 2, R: 1}, {B: 2, C: 1, O: 1, L: 4, R: 2})   # (−L/2 is an integer at each of them)


def _first(extra, e, lo, hi, grid=EVEN):
    d = Derivation(dataclasses.replace(_op(extra), grid=grid))
    d.apply("introduce-delta", targets=[(e, m, lo, hi)])
    d.conclude(omega=Window((WindowAxis(1, 1, 1, 0, L),)), channel=c, neighbour=(q,))   # (not reached: no matter)
    cp = d.proof().check(reference=False)
    return cp.steps[0].check, " ".join(render(cp, "text").split())


@pytest.mark.parametrize("extra, e, lo, hi", [
    (InRange(i + 1, 1, L - 1) * V2[i + 1], i + 1, -L / 2, L - 1),   # the guard's proof of where it vanishes
    (V2[i + 1], i + 1, -L / 2, L),                                  # the ranges' proof
    (InRange(i + 1, 0, L / 2) * V2[i + 1], i + 1, 0, L / 2),         # the guard itself, absorbed
    (V2[i + 1], i + 1, sp.Rational(1, 2), L),                        # a constant half
])
def test_a_bound_that_is_no_integer_at_some_size_is_never_general(extra, e, lo, hi):
    """Σ_{m=−L/2}^{…} has no value at odd L (the evaluator refuses it: a sum steps by 1 from an integer): an even-L
    grid would never see it, so a step whose result holds it is bounded (an adversarial pass found it general)."""
    check, text = _first(extra, e, lo, hi)
    assert not check.general, text
    assert "integer bounds" in text, text


@pytest.mark.parametrize("extra, e, lo, hi", [
    (V2[i + 1], i + 1, -L * (L - 1) / 2, L),                          # an integer for every L: L(L − 1) is even
    (V2[i + 1], i + 1, 0, L * (L + 1) * (2 * L + 1) / 6),             # Σ k² up to L
    (V2[i + 1], i + 1, L ** 3 / 6 - L / 6 - L ** 3, L),               # (L − 1)L(L + 1)/6 − L³
])
def test_a_polynomial_bound_integer_at_every_size_is_general(extra, e, lo, hi):
    """SymPy cannot type −L(L − 1)/2 an integer; the residues of its numerator modulo 2 show it is one at every L (last
    note's Left: such a step was bounded)."""
    check, text = _first(extra, e, lo, hi, grid=GRID)
    assert check.ok and check.general, text


def test_integer_valued_polynomials_by_residues():
    """A brute-force check of :func:`integer_valued` on random polynomials with rational coefficients in two integer
    symbols: never "integer" where some integer point gives a fraction, and "integer" for the classic ones."""
    import random

    from evosym.proof.symbolic import integer_valued
    rng = random.Random(7)
    proved = 0
    for _ in range(400):
        e = sp.Add(*[sp.Rational(rng.randint(-6, 6), rng.choice([1, 2, 3, 4, 6])) * L ** rng.randint(0, 3)
                     * R ** rng.randint(0, 2) for _ in range(rng.randint(1, 3))])
        if integer_valued(e):
            proved += 1
            assert all(e.subs({L: a, R: r}).is_integer for a in range(-6, 7) for r in range(-6, 7)), e
    assert proved > 50
    assert integer_valued(L * (L + 1) * (L + 2) / 6) and integer_valued(L ** 2 / 2 + L / 2 + R)
    assert not any(integer_valued(x) for x in (L / 2, L * R / 2, L * (L + 1) / 4, sp.Rational(1, 2),
                                               sp.Symbol("t") / 2, 0.5 * L * (L + 1), sp.sqrt(L)))


@pytest.mark.parametrize("e, proved", [(i * (i + 1) / 2, True), (i * (i - 1) * (i + 1) / 6 + i, True),
                                       (i * (i + 1) / 4, False), (i / 2, False), (i ** 9 - i, True),
                                       ((i + 1) ** 40 / 2 - i / 2, False)])
def test_introduce_deltas_integer_premise_by_residues(e, proved):
    """introduce-delta's "e is integer-valued" is proved for a polynomial with fractions that is an integer at every
    integer i (by residues), not for one that is not (i(i + 1)/4 at i = 1), nor for a power it does not multiply out (one
    whose tree shows an integer is one at any degree)."""
    d = Derivation(_op(InRange(e, 0, L - 1) * Vt[0]))
    d.apply("introduce-delta", targets=[(e, m, 0, L - 1)])
    ob = next(o for o in d.steps[0].obligations if "integer-valued" in str(o))
    assert ob.proved is proved, str(ob)


def test_floor_bounds_are_integers():
    check, text = _first(InRange(i + 1, 1, sp.floor(L / 2)) * V2[i + 1], i + 1, 1, sp.floor(L / 2))
    assert check.ok and check.general, text


def test_a_three_argument_delta_is_printed_not_a_crash():
    """SymPy's δ takes a range as a third argument; the checker's takes two (the step is ill-formed, not general),
    and every printer shows it as given."""
    d = Derivation(_op(sp.KroneckerDelta(i + 1, 1, (0, L - 1)) * V2[i + 1]))
    d.apply("introduce-delta", targets=[(i + 1, m, 0, L - 1)])
    d.conclude(omega=Window((WindowAxis(1, 1, 1, 0, L),)), channel=c, neighbour=(q,))
    cp = d.proof().check(reference=False)
    assert not cp.steps[0].check.general
    for form in ("text", "markdown", "latex"):
        assert "1" in render(cp, form)
