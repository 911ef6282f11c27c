"""The evaluator's fast paths stay exact and still catch wrong steps.

The bounded checks evaluate with ``int`` coefficients where they are integers (a ``Fraction`` only where a
division leaves one), sum polynomials into one dict (:func:`evosym.proof.poly.total`), evaluate integer
index arithmetic as one Python expression, and remember the value of a sum for each assignment of what it
depends on (so the sums a step leaves alone are not evaluated again). Each is checked here against the
plain path (no fast arithmetic, no memo, the fold of :func:`poly.add`), and each wrong step below (a wrong
coefficient, a dropped term, an off-by-one read, a wrong rational, a large-integer slip) gets a counterexample.
"""

from __future__ import annotations

import dataclasses
import random
from contextlib import contextmanager
from fractions import Fraction
from unittest import mock

import pytest
import sympy as sp

from evosym import Derivation, InRange, Operator, TensorDecl, Window, WindowAxis, index, size
from evosym.errors import IllFormedAccess
from evosym.proof import evaluate as E
from evosym.proof import poly as P
from evosym.proof.evaluate import Evaluator

B, C, L, K = size("B"), size("C"), size("L"), size("K")
PAD = size("P", zero=True)
b, o, c, i, u, q = (index(n) for n in "bociuq")
X, W = sp.IndexedBase("x"), sp.IndexedBase("W")
IDENTITY = Window((WindowAxis(1, 1, 1, 0, L),))
GRID = ({B: 1, C: 2, L: 3, K: 2, PAD: 1}, {B: 2, C: 1, L: 4, K: 3, PAD: 0})


@contextmanager
def plain_path():
    """The evaluator without its fast paths: general closures only, nothing remembered."""
    with mock.patch.object(E, "_integer_arithmetic", lambda e: False), \
            mock.patch.object(Evaluator, "_memoised", lambda self, e, fn: fn):
        yield


def entry(name, *idx):
    return P.Poly.atom(("T", name, tuple(idx)))


# -- values: int and Fraction coefficients ------------------------------------------------------------------

def test_coefficients_are_ints_where_integral_and_fractions_where_not():
    ev = Evaluator({"x": (4,)}, sizes=(K,))
    third = ev.evaluate(sp.Sum(X[u] / 3, (u, 0, K - 1)), {K: 3})
    assert all(type(cf) is Fraction and cf == Fraction(1, 3) for cf in third.terms.values())
    whole = ev.evaluate(sp.Sum(3 * X[u] / 3 + X[u] / 2 + X[u] / 2, (u, 0, K - 1)), {K: 3})
    assert all(type(cf) is int and cf == 2 for cf in whole.terms.values())   # 1/2 + 1/2 is the int 1
    assert ev.evaluate(K / 2, {K: 3}) == Fraction(3, 2) and type(ev.evaluate(K / 2, {K: 3})) is Fraction
    assert ev.evaluate(K / 2, {K: 4}) == 2   # a plain number (int or integral Fraction: both read as the index 2)


def test_a_non_integer_quotient_is_never_an_index():
    ev = Evaluator({"x": (4,)}, sizes=(K,))
    with pytest.raises(IllFormedAccess, match="3/2 is not an integer"):
        ev.evaluate(X[K / 2], {K: 3})
    assert ev.evaluate(X[K / 2], {K: 4}) == entry("x", 2)


def test_large_integers_stay_exact():
    big = 10 ** 40
    ev = Evaluator({"x": (3,)}, sizes=(K,))
    v = ev.evaluate(sp.Sum((big + 1) * X[u] - big * X[u], (u, 0, K - 1)), {K: 3})
    assert v == P.total([entry("x", 0), entry("x", 1), entry("x", 2)])
    assert ev.evaluate((K + big) * (K - big), {K: 3}) == 9 - big * big   # the int fast path, no float anywhere
    assert P.add(Fraction(big + 1, 3), Fraction(-big - 1, 3)) == 0


def test_total_equals_the_fold_of_add():
    rng = random.Random(3)
    atoms = [entry("x", k) for k in range(3)] + [P.opaque("exp", entry("x", 0))]
    for _ in range(300):
        values = []
        for _ in range(rng.randint(0, 6)):
            kind = rng.random()
            if kind < 0.3:
                values.append(rng.choice([0, 1, -2, Fraction(1, 3), Fraction(-5, 2), Fraction(4, 2)]))
            else:
                v = 0
                for a in rng.sample(atoms, rng.randint(1, 3)):
                    v = P.add(v, P.mul(rng.choice([1, -1, 3, Fraction(1, 2), Fraction(-2, 3)]), a))
                values.append(v)
        folded = 0
        for v in values:
            folded = P.add(folded, v)
        got = P.total(values)
        assert got == folded and P.key_of(got) == P.key_of(folded)
        assert type(got) is type(folded) or (not isinstance(got, P.Poly) and got == folded)


def test_total_does_not_mutate_its_values():
    v = P.add(entry("x", 0), 1)
    before = dict(v.terms)
    P.total([v, entry("x", 0), -1])
    assert v.terms == before


def test_int_and_fraction_evaluation_agree():
    """The same expressions with integer and with dyadic leaves, through the fast and the plain path."""
    rng = random.Random(11)
    exprs = [sp.Sum(W[u] * InRange(2 * i + u - PAD, 0, L - 1) * X[2 * i + u - PAD], (u, 0, K - 1)),
             sp.Sum(sp.Sum(W[u] * X[v], (v, 0, L - 1)) * X[u], (u, 0, K - 1)) / K,
             sp.Sum(sp.KroneckerDelta(sp.Mod(i + u, L), 1) * W[u], (u, 0, K - 1)) + sp.Max(i, u) - sp.Min(i, 1),
             sp.Sum(X[sp.Max(0, sp.Min(i + u - 1, L - 1))] * (u - PAD) ** 2, (u, 0, K - 1))]
    env = {L: 4, K: 3, PAD: 1, i: 1, u: 2}
    for leaf_kind in ("int", "fraction", "symbolic"):
        table = {("x", k): rng.choice([rng.randint(-9, 9), Fraction(rng.randint(-9, 9), 4)]) if leaf_kind == "fraction"
                 else rng.randint(-9, 9) for k in range(4)}
        table.update({("W", k): rng.randint(-9, 9) for k in range(3)})
        leaf = None if leaf_kind == "symbolic" else (lambda name, idx: table[(name, idx[0])])
        for e in exprs:
            fast = Evaluator({"x": (4,), "W": (3,)}, leaf=leaf, sizes=(L, K, PAD)).evaluate(e, env)
            with plain_path():
                slow = Evaluator({"x": (4,), "W": (3,)}, leaf=leaf, sizes=(L, K, PAD)).evaluate(e, env)
            assert fast == slow and P.key_of(fast) == P.key_of(slow), (leaf_kind, e)


v = index("v")


# -- the fast paths are taken, and fall back where they must ------------------------------------------------------

def test_integer_arithmetic_is_compiled_and_falls_back_exactly():
    e = 2 * i + u - PAD
    assert E._integer_arithmetic(e) and E._integer_arithmetic(sp.Max(i, u - 1)) and E._integer_arithmetic(sp.Mod(i, L))
    assert not E._integer_arithmetic(i / 2) and not E._integer_arithmetic(X[i] + 1)
    ev = Evaluator({}, sizes=(PAD,))
    calls = []
    general = ev._general

    def spy(expr):
        fn = general(expr)
        return lambda env: calls.append(expr) or fn(env)
    with mock.patch.object(ev, "_general", spy):
        fn = ev.compile(e)
        assert fn({i: 3, u: 1, PAD: 2}) == 5 and not calls                  # ints: the compiled expression
        assert fn({i: Fraction(1, 2), u: 1, PAD: 2}) == 0 and calls[0] == e   # not an int: the general closures
        unbound = fn({i: 3, PAD: 2})                                          # u unbound: a symbolic value
    assert isinstance(unbound, P.Poly) and P.to_sympy(unbound) == sp.Symbol("u") + 4
    with pytest.raises(IllFormedAccess, match="modulo 0"):
        Evaluator({}).evaluate(sp.Mod(i, L), {i: 3, L: 0})


def test_sums_are_remembered_only_per_assignment_of_their_free_symbols():
    calls = []
    ev = Evaluator({"x": (4,)}, leaf=lambda name, idx: calls.append(idx) or 1, sizes=(L,))
    norm = sp.Sum(X[v], (v, 0, L - 1))                    # free of i: evaluated once for every i
    fn = ev.compile(sp.Sum(X[i] * norm, (i, 0, L - 1)))
    assert fn({L: 4}) == 16 and len(calls) == 4 + 4
    assert fn({L: 3}) == 9 and len(calls) == 8 + 3 + 3   # another L: evaluated again
    assert Evaluator({"x": (4,)}, sizes=None)._memoised(norm, len) is len   # no sizes: nothing remembered


# -- wrong steps are caught ---------------------------------------------------------------------------------------------

def correlation():
    """y[b, o, i] = Σ_u W[o, u]·[0 ≤ i + u − P ≤ L − 1]·x[b, o, i + u − P] (a depthwise 1-D correlation)."""
    body = W[o, u] * InRange(i + u - PAD, 0, L - 1) * X[b, o, i + u - PAD]
    x, w = TensorDecl("x", (B, C, L), "input"), TensorDecl("W", (C, K), "parameter")
    op = Operator(name="fast", summary="", output=TensorDecl("y", (B, C, L), "output"), lhs_indices=(b, o, i),
                  traditional=sp.Sum(body, (u, 0, K - 1)), tensors=(x, w), batch=b, out_channel=o, position=(i,),
                  sizes=tuple((s, "") for s in (B, C, L, K, PAD)), grid=GRID)
    d = Derivation(op)
    d.apply("introduce-delta", targets=[(i + u - PAD, q, 0, L - 1)], within=u)
    d.conclude(omega=IDENTITY, channel=c, neighbour=(q,))
    return d.proof()


def test_the_correct_proof_passes_the_bounded_check():
    proof = correlation()
    assert [ce for ce, _ in proof._bounded(GRID, True)] == [None] * len(proof.steps)


def _wrong(after):
    """The last step's result replaced by ``after(result)``."""
    proof = correlation()
    last = proof.steps[-1]
    return dataclasses.replace(proof, steps=proof.steps[:-1] + (dataclasses.replace(last, after=after(last.after)),))


@pytest.mark.parametrize("name, mutate", [
    ("a wrong coefficient", lambda e: 2 * e),
    ("a coefficient off by a rational", lambda e: sp.Rational(3, 2) * e - sp.Rational(1, 2) * e - e / 1000),
    ("a dropped term", lambda e: e.xreplace({e.function: 0}) if isinstance(e, sp.Sum) else 0),
    ("an off-by-one read", lambda e: e.xreplace({X[b, o, q]: X[b, o, sp.Min(q + 1, L - 1)]})),
    ("a large-integer slip", lambda e: (10 ** 30 + 1) * e - 10 ** 30 * e + sp.Rational(1, 10 ** 30) * e),
])
def test_a_wrong_last_step_gets_a_counterexample(name, mutate):
    proof = _wrong(mutate)
    assert proof.steps[-1].after != correlation().steps[-1].after, name   # the mutation changed something
    ce, message = proof._bounded(GRID, True)[-1]
    assert ce is not None and message == "before and after differ", name
    checked = proof.check(reference=False)
    assert not checked.steps[-1].check.ok and checked.steps[-1].check.counterexample is not None


def test_a_dropped_summand_of_a_sum_with_shared_parts_is_caught():
    """Two sums, one left alone by the step (remembered) and one losing a term: the difference is seen."""
    proof = correlation()
    keep = proof.steps[-1].after
    wrong = keep + sp.Sum(W[o, u] * X[b, o, i], (u, 1, K - 1))
    right = keep + sp.Sum(W[o, u] * X[b, o, i], (u, 0, K - 1))
    first = dataclasses.replace(proof.steps[-1], before=proof.steps[-1].before, after=right)
    second = dataclasses.replace(proof.steps[-1], before=right, after=wrong)
    bad = dataclasses.replace(proof, steps=proof.steps[:-1] + (first, second))
    result = bad._bounded(GRID, True)
    assert result[-2][0] is not None and result[-1][0] is not None   # + Σ_u W·x is a change, and dropping u = 0 another
    assert "W[0, 0]" in result[-1][0].detail or "W[0,0]" in result[-1][0].detail.replace(" ", "")


def test_wrong_steps_are_caught_through_the_plain_path_too():
    with plain_path():
        ce, _ = _wrong(lambda e: 2 * e)._bounded(GRID, True)[-1]
    assert ce is not None
