"""The exact evaluator behind every bounded check: unrolling, guards, ill-formed reads."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest
import sympy as sp

from evosym.errors import IllFormedAccess
from evosym.ir.symbols import InRange, index, size
from evosym.proof import poly as P
from evosym.proof.bounded import equal
from evosym.proof.magnitude import nonzero
from evosym.proof.evaluate import Evaluator

x, W = sp.IndexedBase("x"), sp.IndexedBase("W")
i, u, m = index("i"), index("u"), index("m")
H, K, s = size("H"), size("K"), size("s")


def ev(**kw):
    return Evaluator({"x": (5,), "W": (3,)}, **kw)


def test_sum_is_unrolled_exactly():
    e = sp.Sum(W[u] * x[u + 1], (u, 0, K - 1))
    got = ev().evaluate(e, {K: 3})
    want = P.add(P.add(P.mul(P.Poly.atom(("T", "W", (0,))), P.Poly.atom(("T", "x", (1,)))),
                       P.mul(P.Poly.atom(("T", "W", (1,))), P.Poly.atom(("T", "x", (2,))))),
                 P.mul(P.Poly.atom(("T", "W", (2,))), P.Poly.atom(("T", "x", (3,)))))
    assert got == want


def test_guard_protects_reads_outside_the_input():
    e = sp.Sum(W[u] * InRange(s * i + u - 1, 0, H - 1) * x[s * i + u - 1], (u, 0, K - 1))
    assert ev().evaluate(e, {H: 5, K: 3, s: 2, i: 0}) == P.add(
        P.mul(P.Poly.atom(("T", "W", (1,))), P.Poly.atom(("T", "x", (0,)))),
        P.mul(P.Poly.atom(("T", "W", (2,))), P.Poly.atom(("T", "x", (1,)))))
    with pytest.raises(IllFormedAccess, match="outside"):   # without the guard, x[-1] is read
        ev().evaluate(sp.Sum(W[u] * x[s * i + u - 1], (u, 0, K - 1)), {K: 3, s: 2, i: 0})


def test_non_integer_and_out_of_range_reads_are_errors():
    with pytest.raises(IllFormedAccess, match="3/2 is not an integer"):
        ev().evaluate(W[sp.Rational(3, 2)], {})
    with pytest.raises(IllFormedAccess, match=r"outside \[0, 3\)"):
        ev().evaluate(W[3], {})
    with pytest.raises(IllFormedAccess, match="unbound variable"):
        ev().evaluate(W[u], {})
    with pytest.raises(IllFormedAccess, match="neither declared nor defined"):
        ev().evaluate(sp.IndexedBase("Z")[0], {})


def test_delta_shortcut_equals_full_unrolling():
    """Random sums with deltas (strided, dilated, non-integer targets): both strategies agree."""
    rng = random.Random(7)
    for _ in range(60):
        a, c, d = rng.randint(1, 3), rng.randint(-2, 2), rng.choice([1, 2, 3])
        target = (a * u + c) / sp.Integer(d)  # non-integer for some u when d > 1
        e = sp.Sum(sp.Sum(sp.KroneckerDelta(m, target) * W[u] * x[m], (m, 0, H - 1)), (u, 0, K - 1))
        env = {H: rng.randint(1, 5), K: rng.randint(1, 3)}
        assert ev().evaluate(e, env) == ev(delta_shortcut=False).evaluate(e, env)


def test_numeric_leaf_mode():
    arrays = {"x": [1, 2, 3, 4, 5], "W": [1, -1, 2]}
    e = sp.Sum(W[u] * x[u], (u, 0, 2))
    got = Evaluator({"x": (5,), "W": (3,)}, leaf=lambda n, idx: arrays[n][idx[0]]).evaluate(e, {})
    assert got == 1 * 1 - 2 + 2 * 3


def test_rationals_stay_exact():
    e = sp.Rational(1, 3) * W[0] + sp.Rational(2, 3) * W[0]
    assert ev().evaluate(e, {}) == P.Poly.atom(("T", "W", (0,)))
    assert ev().evaluate(sp.Rational(1, 3) + sp.Rational(1, 6), {}) == Fraction(1, 2)


def test_opaque_functions_compare_soundly():
    a, b = sp.exp(W[0]), sp.exp(W[1])
    e1, e2 = ev().evaluate(a * b, {}), ev().evaluate(sp.exp(W[0] + W[1]), {})
    assert e1 != e2 and equal(e1, e2)               # different canonical forms, SymPy proves them equal
    assert not equal(ev().evaluate(a, {}), ev().evaluate(b, {}))


def test_division_by_a_symbolic_value_is_opaque_but_exact():
    e = W[0] / (W[1] + 1)
    v = ev().evaluate(e, {})
    assert P.has_opaque(v)
    assert equal(v, ev().evaluate(W[0] * (W[1] + 1) ** -1, {}))


def test_exact_quotients_cancel_only_when_the_numerator_is_a_multiple():
    """Σ exp(ℓ_q)·(1/Σ exp(ℓ_q)) = 1 and (Σ exp)·w/(Σ exp) = w cancel exactly; a numerator that is not
    D times a polynomial (one exp term missing, or an extra constant) is left alone, so the bounded
    comparison cannot call unequal values equal."""
    e1, e2 = P.opaque("exp", P.Poly.atom(("T", "l", (0,)))), P.opaque("exp", P.Poly.atom(("T", "l", (1,))))
    w = P.Poly.atom(("T", "w", (0,)))
    den = P.add(e1, e2)
    inv = P.opaque("inv", den)
    assert P.cancel_quotients(P.mul(den, inv), nonzero) == 1
    assert P.cancel_quotients(P.mul(P.mul(den, w), inv), nonzero) == w
    assert P.cancel_quotients(P.add(P.mul(e1, inv), P.mul(P.mul(e2, inv), 2)), nonzero) != 1
    assert P.cancel_quotients(P.mul(e1, inv), nonzero) == P.mul(e1, inv)
    assert P.cancel_quotients(P.mul(P.add(den, 1), inv), nonzero) != 1
    assert equal(P.mul(den, inv), 1) and not equal(P.mul(e1, inv), 1)


def test_roots_of_unity_are_exact():
    """e^{2πi·n/L} evaluates in the cyclotomic field: the sum over a period is 0 (or L), conjugates
    invert, and tensor entries times roots cancel exactly."""
    k, n = index("k"), index("n")
    L = size("L")
    ev = Evaluator({"x": (3,)}, {})
    orth = ev.compile(sp.Sum(sp.exp(2 * sp.pi * sp.I * k * n / L), (k, 0, L - 1)))
    for order in (1, 2, 3, 4, 5, 6, 12):
        assert [orth({L: order, n: v}) for v in range(-order, 2 * order)] == \
            [order if v % order == 0 else 0 for v in range(-order, 2 * order)]
    unit = ev.compile(sp.exp(2 * sp.pi * sp.I * n / L) * sp.conjugate(sp.exp(2 * sp.pi * sp.I * n / L)))
    assert unit({L: 7, n: 3}) == 1
    x = sp.IndexedBase("x")
    mixed = ev.compile(x[0] * sp.exp(2 * sp.pi * sp.I * n / L) + x[0] * sp.exp(-2 * sp.pi * sp.I * n / L))
    assert mixed({L: 4, n: 1}) == 0                     # i + (−i)
    assert P.is_zero(P.sub(mixed({L: 3, n: 1}), P.neg(P.Poly.atom(("T", "x", (0,))))))   # ζ + ζ² = −1
    assert ev.compile(sp.exp(2 * sp.pi * sp.I * n / L))({L: 5, n: 2}) != ev.compile(sp.exp(2 * sp.pi * sp.I * n / L))({L: 5, n: 3})
    with pytest.raises(ValueError, match="opaque"):   # e^(x) of a symbolic entry: its conjugate is not guessed
        P.conjugate(P.opaque("exp", P.Poly.atom(("T", "x", (0,)))))
