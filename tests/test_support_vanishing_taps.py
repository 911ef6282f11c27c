"""The support of K counts a tap only where K is proved non-zero there (evosym/proof/support.py, magnitude.py).

The exact evaluator keeps numbers it cannot write as rationals (sin 2, √2) and functions of the entries (exp) as
independent atoms; a polynomial in them was "not 0" by its coefficients, so a tap whose factor is sin²m + cos²m − 1
(0 everywhere) was counted in K's support, and an operator file declaring the window {i, i + 1} for the identity printed
PROVED with "supp K = Ω" (an adversarial pass, 2026-12-07); the first mend was fooled by roots of unity of two
orders, floats in the subnormal range and an uninterpreted function of such numbers (a second pass), and by SymPy's
own numbers: its strict evalf and its simplification of sign and Heaviside (a third pass: a tap where K is 2 was
dropped from Ω). Now a tap of Ω counts only where a float evaluation with an error bound proves K non-zero, and a
tap outside Ω only where K is 0 exactly (a tap that is 0 in disguise is then refused either way: a refusal, never a
false claim)."""

from __future__ import annotations

import random
from fractions import Fraction
from pathlib import Path

import pytest
import sympy as sp

from cli_helpers import run_cli
from evosym.proof import poly as P
from evosym.proof.bounded import equal
from evosym.proof.magnitude import clearly_nonzero, nonzero, vanishes

FILE = Path(__file__).parent / "data" / "operators" / "vanishing_tap.py"


@pytest.mark.parametrize("tap", ["trig", "exp", "sqrt", "roots", "subnormal", "undef", "tanh", "erf", "sign", "log",
                                 "lift"])
def test_a_tap_that_vanishes_is_not_in_the_support(capsys, monkeypatch, tap):
    """Declared in Ω: never proved non-zero (refused as undecided). Declared outside Ω: never proved 0 either (only an
    exact 0 is), so the one-tap window is refused too, as before the mend: a refusal, not a false claim."""
    monkeypatch.setenv("EVOSYM_TEST_TAP", tap)
    monkeypatch.setenv("EVOSYM_TEST_OMEGA", "two")
    rc, out, err = run_cli(capsys, "prove", str(FILE))
    assert rc == 1 and "✗ support of K [bounded]: the support of K could not be decided" in out, out + err
    assert "is not proved non-zero" in out and "\nPROVED" not in out
    monkeypatch.setenv("EVOSYM_TEST_OMEGA", "one")
    rc, out, err = run_cli(capsys, "prove", str(FILE))
    assert rc == 1 and "✗ support of K [bounded]: the support of K is not the declared Ω(p)" in out, out + err


@pytest.mark.parametrize("tap", ["quotient", "quotient1"])
@pytest.mark.parametrize("omega", ["two", "one"])
def test_a_tap_with_no_value_is_refused_in_omega_and_outside(capsys, monkeypatch, tap, omega):
    """D/D ∓ 1 with D = sin²m + cos²m − 1 (0 in disguise) has no value: the quotient cancelled to 1 made it 0 (a tap
    dropped from a one-tap Ω) or 2 (counted in a two-tap Ω), PROVED both (an adversarial pass, 2026-12-07). K is
    now ill-formed where it divides by a value not proved non-zero, whichever window is declared."""
    monkeypatch.setenv("EVOSYM_TEST_TAP", tap)
    monkeypatch.setenv("EVOSYM_TEST_OMEGA", omega)
    rc, out, err = run_cli(capsys, "prove", str(FILE))
    assert rc == 1 and "✗ support of K [bounded]: K is ill-formed" in out and "\nPROVED" not in out, out + err
    assert "1/d2[m] divides by -1 + cos(1)**2 + sin(1)**2, which is not proved non-zero" in out


@pytest.mark.parametrize("tap", ["signlog", "heavlog"])
def test_a_tap_that_is_not_zero_is_never_left_out_of_omega(capsys, monkeypatch, tap):
    """sign(log(1 + 10⁻⁶⁰) − m·10⁻⁶¹) + 1 is 2: SymPy's simplification made it 0 (it decides sign by its own numbers,
    which give log(1 + 10⁻⁶⁰) as 0), and the first mend's support check then dropped the tap from Ω: an Evolution form
    y = x for an operator that is x[i] + 2·x[i + 1] (a third adversarial pass). Only an exact 0 leaves a tap out."""
    monkeypatch.setenv("EVOSYM_TEST_TAP", tap)
    monkeypatch.setenv("EVOSYM_TEST_OMEGA", "one")
    rc, out, err = run_cli(capsys, "prove", str(FILE))
    assert rc == 1 and "the support of K is not the declared Ω(p)" in out and "in supp K only: [(1,)]" in out, out + err
    assert "\nPROVED" not in out


def test_a_tap_beyond_floats_is_refused_not_an_internal_error(capsys, monkeypatch):
    """10⁴⁰⁰·√(m + 2) is not 0, but its float evaluation overflows: undecided, refused (an internal error before)."""
    monkeypatch.setenv("EVOSYM_TEST_TAP", "huge")
    monkeypatch.setenv("EVOSYM_TEST_OMEGA", "two")
    rc, out, err = run_cli(capsys, "prove", str(FILE))
    assert rc == 1 and "the support of K could not be decided" in out and "internal error" not in err, out + err


def _n(expr):
    return P.number(sp.sympify(expr))


def test_values_that_are_zero_in_disguise_are_never_proved_non_zero():
    s2, c2, r2, r3, r6 = _n("sin(2)"), _n("cos(2)"), _n("sqrt(2)"), _n("sqrt(3)"), _n("sqrt(6)")
    zeros = [P.sub(P.add(P.mul(s2, s2), P.mul(c2, c2)), 1), P.sub(P.mul(r2, r3), r6),
             P.sub(P.mul(P.opaque("exp", 1), P.opaque("exp", 2)), P.opaque("exp", 3)),
             P.sub(P.opaque("exp", r2), _n("exp(sqrt(2))"))]
    zeros += [P.sub(P.root_of_unity(1, 4), P.root_of_unity(2, 8)),   # (i − i: roots of two orders)
              P.sub(P.mul(P.opaque("exp", -744), _n("exp(4)")), P.opaque("exp", -740)),   # (subnormal floats)
              P.sub(P.opaque(P.UNDEFINED + "f", P.add(P.mul(s2, s2), P.mul(c2, c2))), P.opaque(P.UNDEFINED + "f", 1))]
    for z in zeros:
        assert not P.is_zero(z)   # (the exact check sees a non-zero polynomial)
        assert clearly_nonzero(z) is None and not nonzero(z), z
    assert not any(vanishes(z) for z in zeros)   # (only an exact 0 vanishes)
    log_up = _n("log(1 + 10**-60)")
    assert not nonzero(P.add(log_up, _n("log(1/(1 + 10**-60))")))   # (SymPy's strict evalf: −1.0e-60)
    for f in ("tanh", "erf", "sign"):
        assert not nonzero(P.opaque(f, zeros[0])), f   # (SymPy's strict evalf: 1e-135, and −1 for sign)
    for k in (713, 730, 739, 744):   # (subnormal numbers lifted by a coefficient: their own error is not U)
        lifted = P.mul(P.sub(_n(f"exp({-k})"), P.mul(_n(f"exp({-k}/2)"), _n(f"exp({-k}/2)"))), 10 ** 300)
        assert clearly_nonzero(lifted) is None and not nonzero(lifted), k
    w = P.Poly.atom(("T", "w", (0,)))
    for big in (P.opaque("exp", P.mul(w, 1000)), P.mul(_n("sqrt(3)"), 10 ** 400), P.opaque("exp", P.mul(w, -1000))):
        assert clearly_nonzero(big) is None and not nonzero(big), big   # (overflow and underflow: undecided)


def test_values_that_are_not_zero_are_proved_so():
    s2, c2 = _n("sin(2)"), _n("cos(2)")
    entry = P.Poly.atom(("T", "x", (0, 1)))
    logit = P.add(P.mul(entry, entry), s2)
    weight = P.mul(P.opaque("exp", logit), P.opaque("inv", P.add(P.opaque("exp", logit), P.opaque("exp", entry))))
    for v in (P.sub(P.add(P.mul(s2, s2), P.mul(c2, c2)), Fraction(999_999, 1_000_000)), weight, P.add(s2, entry),
              P.mul(P.opaque("exp", P.mul(entry, 40)), _n("pi"))):
        assert clearly_nonzero(v) is True and nonzero(v) and not vanishes(v), v


def test_the_error_bound_holds_against_exact_values():
    """Random polynomials in rationals and entries at the point the float evaluation uses: wherever it says non-zero,
    the exact value (the same point, in rationals) is non-zero, and its bound covers the float's distance."""
    from evosym.proof import magnitude as M
    rng = random.Random(7)
    atoms = [("T", "x", (k,)) for k in range(3)]
    for _ in range(300):
        terms = {}
        for _ in range(rng.randint(1, 6)):
            mono = tuple(sorted(rng.choice(atoms) for _ in range(rng.randint(0, 3))))
            terms[mono] = terms.get(mono, 0) + Fraction(rng.randint(-9, 9), rng.randint(1, 9))
        v = 0
        for mono, coeff in terms.items():
            t = coeff
            for a in mono:
                t = P.mul(t, P.Poly.atom(a))
            v = P.add(v, t)
        if not isinstance(v, P.Poly):
            continue
        exact = sum(coeff * _prod(Fraction(M._point(a)) for a in mono)
                    for mono, coeff in P.key_of(v))
        total, err = M._key(P.key_of(v), {})
        assert abs(Fraction(total.real) - exact) <= Fraction(err) + Fraction(1, 10**30)
        if clearly_nonzero(v):
            assert exact != 0


def _prod(xs):
    out = Fraction(1)
    for x in xs:
        out *= x
    return out


def test_the_catalogue_s_softmax_kernels_are_decided_by_floats():
    """(The float path decides the catalogue's softmax kernels: SymPy is reached only where floats cannot tell.)"""
    from evosym.proof import support as S
    calls = []
    real = S.P.to_sympy
    S.P.to_sympy = lambda v: calls.append(v) or real(v)
    try:
        from evosym.catalogue import load
        from evosym import Derivation
        for name in ("mhsa_masked_bias", "local_attention"):
            m = load(name)
            d = Derivation(m.operator)
            m.derive(d) if m.derive else d.auto()
            assert d.proof().check(reference=False).ok, name
    finally:
        S.P.to_sympy = real
    assert calls == []


def test_the_bound_holds_through_functions_against_high_precision_values(monkeypatch):
    """exp, sin, cos, tan, reciprocals, Max, Abs and constant powers of random polynomials in the entries: the float value
    lies within its bound of the value computed to 50 digits at the same point (the relu, 1/√deg and softmax kernels of
    the catalogue are decided so)."""
    import mpmath
    from evosym.proof import magnitude as M
    rng = random.Random(11)
    atoms = [("T", "x", (k,)) for k in range(3)]
    monkeypatch.setattr(mpmath.mp, "dps", 50)

    def poly():
        v = Fraction(rng.randint(-5, 5), rng.randint(1, 5))
        for _ in range(rng.randint(1, 4)):
            t = Fraction(rng.randint(-9, 9), rng.randint(1, 9))
            for a in rng.sample(atoms, rng.randint(1, 2)):
                t = P.mul(t, P.Poly.atom(a))
            v = P.add(v, t)
        return v

    def exact(v):
        total = mpmath.mpf(0)
        for mono, coeff in P.key_of(v):
            t = mpmath.mpf(coeff.numerator) / coeff.denominator
            for a in mono:
                t *= mpmath.mpf(M._point(a)) if a[0] == "T" else fn(a)
            total += t
        return total

    def fn(a):
        name, args = a[1], [exact(k) if isinstance(k, P.Poly) else k for k in a[2].keys]
        args = [exact(P.Poly(dict(k))) if isinstance(k, tuple) else k for k in args]
        return {"exp": mpmath.exp, "sin": mpmath.sin, "cos": mpmath.cos, "tan": mpmath.tan, "inv": lambda x: 1 / x, "Abs": abs,
                "Max": lambda *xs: max(xs)}.get(name, lambda b, x=None: b ** x)(*args)

    checked = 0
    for _ in range(200):
        p, q = poly(), poly()
        for v in (P.opaque("exp", p), P.opaque("sin", p), P.opaque("cos", q), P.opaque("tan", q), P.opaque("inv", p),
                  P.opaque("Max", 0, p), P.opaque("Abs", q), P.add(P.opaque("exp", p), P.opaque("cos", q))):
            try:
                total, err = M._key(P.key_of(v), {})
            except M.Undecided:
                continue
            assert abs(mpmath.mpf(total.real) - exact(v)) <= err, (v, total, err)
            checked += 1
    assert checked > 800


def _disguised_zero():
    s2, c2 = _n("sin(2)"), _n("cos(2)")
    return P.sub(P.add(P.mul(s2, s2), P.mul(c2, c2)), 1)


def test_a_quotient_cancels_only_by_a_denominator_proved_non_zero():
    """D/D with D = sin²2 + cos²2 − 1 (0 in disguise) is undefined: it was cancelled to 1, so D/D − 1 vanished (a tap
    outside Ω dropped) and D/D + 1 was proved non-zero (an adversarial pass, 2026-12-07). Cancelled by a denominator
    proved non-zero — a softmax's Σ exp — it still is, and nested in a function the same."""
    D = _disguised_zero()
    over = P.mul(D, P.opaque("inv", D))
    for v in (P.sub(over, 1), P.add(over, 1), P.mul(over, P.Poly.atom(("T", "w", (0,))))):
        assert not vanishes(v) and not nonzero(v), v
    assert P.cancel_quotients(over, nonzero) == over
    ell = P.Poly.atom(("T", "l", (0,)))
    Z = P.add(P.opaque("exp", ell), P.opaque("exp", P.mul(ell, 2)))
    assert P.cancel_quotients(P.mul(Z, P.opaque("inv", Z)), nonzero) == 1 and vanishes(P.sub(P.mul(Z, P.opaque("inv", Z)), 1))
    assert P.denominators(P.opaque("exp", over)) == [D]


def test_the_bounded_comparison_never_takes_sympy_s_word_for_numbers_or_zero_quotients():
    """equal() asked SymPy's simplification where opaque atoms stay: it made D/D − 1 (D = 0 in disguise) 0, also inside
    exp, and sign(log(1 + 10⁻⁶⁰) − 10⁻⁶¹) + 1 and 2·Heaviside(…), which are 2, 0. Now SymPy counts only where every
    denominator is proved non-zero, no function it decides by evaluating a number is read, and the float evaluation
    does not prove the difference non-zero; identities of exp, log and powers of the entries still count."""
    D = _disguised_zero()
    over = P.mul(D, P.opaque("inv", D))
    arg = P.sub(_n("log(1 + 10**-60)"), Fraction(1, 10**61))
    for a, b in ((over, 1), (P.opaque("exp", over), _n("E")), (P.add(P.opaque("sign", arg), 1), 0),
                 (P.mul(P.opaque("Heaviside", arg), 2), 0), (P.opaque("Abs", arg), arg),
                 (P.opaque("floor", P.mul(arg, 10**61)), 9)):
        assert not equal(a, b) and not equal(b, a), (a, b)
    w, v = P.Poly.atom(("T", "w", (0,))), P.Poly.atom(("T", "w", (1,)))
    assert equal(P.mul(P.opaque("exp", w), P.opaque("exp", v)), P.opaque("exp", P.add(w, v)))
    assert equal(P.opaque("exp", P.opaque("log", P.mul(w, w))), P.mul(w, w))
    assert not equal(P.opaque("exp", w), P.opaque("exp", v))


def test_values_below_the_normal_range_count_as_0_with_an_absolute_bound(monkeypatch):
    """A number, product or exponential below the normal range is 0 within 2·TINY: a softmax's normaliser with terms
    e^(−1000) is still proved non-zero (the division check refused one, a false refusal of the self-test's hole-26
    example), and the bound holds against 60-digit values for sums of such terms lifted by large coefficients."""
    import mpmath
    from evosym.proof import magnitude as M
    Z = P.add(P.add(1, _n("exp(-1000)")), P.mul(_n("exp(-5/2)"), 2))
    assert nonzero(Z) and clearly_nonzero(P.opaque("exp", P.mul(P.Poly.atom(("T", "w", (0,))), -900))) is None
    monkeypatch.setattr(mpmath.mp, "dps", 60)
    rng = random.Random(5)
    for _ in range(200):
        ks = [rng.randint(690, 760) for _ in range(3)]
        coeffs = [Fraction(rng.choice((-1, 1)) * rng.randint(1, 9) * 10 ** rng.randint(0, 300)) for _ in ks]
        v = 0
        for k, c in zip(ks, coeffs):
            v = P.add(v, P.mul(c, P.mul(_n(f"exp({-k}/2)"), _n(f"exp({-k}/2)"))))
        if not isinstance(v, P.Poly):
            continue
        exact = sum(mpmath.mpf(c.numerator) * mpmath.exp(-k) for k, c in zip(ks, coeffs))
        try:
            total, err = M._key(P.key_of(v), {})
        except M.Undecided:
            continue
        assert abs(mpmath.mpf(total.real) - exact) <= err, (ks, coeffs, total, err, exact)


INDICATOR_FILE = Path(__file__).parent / "data" / "operators" / "indicator_tap.py"


@pytest.mark.parametrize("tap, omega, words", [
    ("poly", "two", "the support of K could not be decided"), ("poly", "one", "the support of K is not the declared"),
    ("sinpi", "two", "the support of K could not be decided"), ("sinpi", "one", "the support of K is not the declared"),
    ("inv", "one", "1/e1[m] divides by -M[1]**2 + M[1], which is not proved non-zero"),
    ("log", "one", "has a pole where its argument is 0: -M[1]**2 + M[1], which is not proved non-zero"),
    ("row", "two", "the support of K could not be decided"), ("lead", "two", "the support of K could not be decided"),
    ("undef", "two", "the support of K could not be decided"),
    ("joint", "one", "divides by 1 - M[1], which is not proved non-zero"),
])
def test_a_tap_that_is_0_on_every_indicator_input_is_refused(capsys, monkeypatch, tap, omega, words):
    """M − M² (M declared an indicator) is a non-zero polynomial and 0 at every 0/1 input: counted in K's support, and
    1/e₁ − 1/e₂, log e₁ − log e₂ with e = M − M² read as defined, all PROVED (an adversarial pass, 2026-12-07).
    "Not 0" is now over the declared domain: a value reading an indicator is proved non-zero only at admissible
    inputs (every entry 1; each row's first entry 1, the others 0): also a product over a row of (1 − N[m]), 0 where
    the row has its 1, M[0] − 1 for a leading indicator, and f(M²) − f(M) for an undefined f (its point was keyed by
    the argument as written; an undefined function of an indicator's entry is now undecided); and 1/M·1/(1 − M), each
    divisor non-zero at some input, never both: a divisor reading an indicator must be non-zero where every entry is
    1 (one admissible input for all of them)."""
    monkeypatch.setenv("EVOSYM_TEST_TAP", tap)
    monkeypatch.setenv("EVOSYM_TEST_OMEGA", omega)
    monkeypatch.setenv("EVOSYM_TEST_DOMAIN", "leading_indicator" if tap == "lead" else "indicator")
    rc, out, err = run_cli(capsys, "prove", str(INDICATOR_FILE))
    assert rc == 1 and words in out and "\nPROVED" not in out, out + err


@pytest.mark.parametrize("tap, omega, domain", [("open", "two", "indicator"), ("inv", "one", "real"),
                                                ("poly", "two", "real")])
def test_taps_over_the_declared_domain_still_prove(capsys, monkeypatch, tap, omega, domain):
    """1 − M is 1 where an indicator M is 0 (in the support); with M real, M − M² is 0 at some inputs only (in the
    support), and 1/e₁ − 1/e₂ a rational function of the entries that is 0 where defined."""
    monkeypatch.setenv("EVOSYM_TEST_TAP", tap)
    monkeypatch.setenv("EVOSYM_TEST_OMEGA", omega)
    monkeypatch.setenv("EVOSYM_TEST_DOMAIN", domain)
    rc, out, err = run_cli(capsys, "prove", str(INDICATOR_FILE))
    assert rc == 0 and "\nPROVED" in out, out + err
