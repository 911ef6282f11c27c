"""A function is read only where it has a value, and a number's sign is never SymPy's word (evosym/proof/signs.py,
evaluate.py's function domains, rules/nonzero.py).

An adversarial pass (2026-12-07) had μ(M) + μ(1 − M), tanh(π/2·i·(2M − 1)) and Max(i·(sin²M + cos²M), 0) (none with
a value at any input) PROVED and VERIFIED equal to 0 in a tap of K: the evaluator kept functions of entries as atoms
and checked poles of log and tan only. Now a function of a value the evaluator keeps symbolic has a value everywhere,
has its poles checked (tanh's at cosh = 0 too), or is one defined at real arguments (max, min, the step, atan) of a
value proved real; any other is refused. And the obligations' prover took SymPy's sign of a number:
−(log r + log(1/r)), which is 0, is positive to it."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import sympy as sp

from cli_helpers import run_cli
from evosym import size
from evosym.proof.evaluate import Evaluator
from evosym.errors import IllFormedAccess
from evosym.proof.rules.base import Context
from evosym.proof.rules.nonzero import Prover
from evosym.proof.rules.softmax import real_valued
from evosym.proof.signs import number_sign, proved_nonnegative, proved_nonzero, proved_positive, real
from evosym.proof.symbolic import nonnegative

FILE = Path(__file__).parent / "data" / "operators" / "domain_tap.py"
R = 1 + sp.Rational(1, 10 ** 60)
ZERO = sp.log(R) + sp.log(1 / R)   # exactly 0; SymPy calls it negative


@pytest.mark.parametrize("tap, domain, words", [
    ("mobius", "real", "mobius of a value that reads the tensors' entries"),
    ("mobius", "indicator", "mobius of a value that reads the tensors' entries"),
    ("tanh", "real", "has a pole where cosh of its argument is 0"),
    ("tanh", "indicator", "has a pole where cosh of its argument is 0"),
    ("tanhtrig", "real", "has a pole where cosh of its argument is 0"),
    ("max", "real", "is defined at real arguments only"),
    ("min", "real", "is defined at real arguments only"),
    ("heaviside", "real", "is defined at real arguments only"),
    ("sqrtmax", "real", "is defined at real arguments only, and sqrt(M[1]) is not proved real"),
    ("heavisidez", "real", "is defined at real arguments only"),
])
def test_a_function_read_where_it_has_no_value_is_refused(capsys, monkeypatch, tmp_path, tap, domain, words):
    monkeypatch.setenv("EVOSYM_TEST_TAP", tap)
    monkeypatch.setenv("EVOSYM_TEST_DOMAIN", domain)
    rc, out, err = run_cli(capsys, "prove", str(FILE), "--certificate", str(tmp_path / "c.json"))
    assert rc == 1 and "\nPROVED" not in out and "the result is ill-formed at these sizes" in out, out + err
    assert words in out, out
    rc, out, err = run_cli(capsys, "verify", str(tmp_path / "c.json"))   # (the failed proof, recorded as failed)
    assert rc == 1 and "VERIFIED" not in out, out + err


@pytest.mark.parametrize("tap", ["maxreal", "sign", "tanhreal", "heaviside0"])
def test_functions_of_values_where_they_are_defined_still_prove(capsys, monkeypatch, tmp_path, tap):
    """Max of a real entry, sign of a complex value (z/|z|: a value everywhere), tanh of a real one and the step of
    a real one with a complex value at 0."""
    monkeypatch.setenv("EVOSYM_TEST_TAP", tap)
    cert = tmp_path / "c.json"
    rc, out, err = run_cli(capsys, "prove", str(FILE), "--certificate", str(cert))
    assert rc == 0 and "\nPROVED. 1 steps: 1 general" in out, out + err
    rc, out, err = run_cli(capsys, "verify", str(cert))
    assert rc == 0 and "VERIFIED" in out, out + err


@pytest.mark.parametrize("r, sign", [
    (ZERO, None), (-ZERO, None), (sp.tanh(sp.log(R)) - (R ** 2 - 1) / (R ** 2 + 1), None),
    (sp.log(R) - sp.Rational(1, 10 ** 61), None), (sp.sin(1) ** 2 + sp.cos(1) ** 2 - 1, None),
    (sp.exp(sp.I), None), (sp.I, None), (sp.sqrt(-2), None), (sp.log(-2), None),
    (sp.pi - 3, 1), (sp.sqrt(2) - sp.Rational(99, 70), -1), (sp.log(2), 1), (sp.exp(-2), 1), (2 ** sp.pi, 1),
    (1 / (sp.sqrt(2) - 1), 1), (sp.Max(1, sp.log(3)), 1), (sp.I ** 2, -1), (-sp.tanh(sp.Rational(1, 3)), -1),
    (sp.Rational(1, 10 ** 400), 1), (-sp.Rational(1, 10 ** 400), -1), (sp.Integer(0), 0), (sp.Float(0.0), 0),
])
def test_a_number_s_sign_is_proved_by_its_float_bound_or_not_at_all(r, sign):
    assert number_sign(r) == sign
    assert proved_positive(r) == (sign == 1) and proved_nonzero(r) == (sign in (1, -1))
    assert proved_nonnegative(r) == (sign in (0, 1))


def test_the_range_prover_takes_no_number_s_sign_from_sympy():
    """symbolic.nonnegative (index bounds and sizes) read a number's sign as SymPy's ``r >= 0``."""
    below = -sp.tanh(sp.log(R)) + (R ** 2 - 1) / (R ** 2 + 1) - sp.Rational(1, 10 ** 70)   # −10⁻⁷⁰
    assert bool(below >= 0) and not nonnegative(below) and not nonnegative(below + size("N"))
    assert nonnegative(sp.pi - 3) and nonnegative(size("N") + sp.pi - 3) and not nonnegative(3 - sp.pi)
    # SymPy rounds the arithmetic of floats (1.3·(1/1.3) − 1 is its 0, exactly −5.5·10⁻¹⁷; an adversarial pass's
    # lead, as a body substituted into a bound): nothing that holds a float is proved (coarse, sound)
    assert sp.Float(1.3) * sp.Float(1 / 1.3) - 1 == 0
    assert not nonnegative(sp.Float(1.3) * size("N") - 1) and not nonnegative(sp.Float(0.5) * size("N"))


def test_sympy_s_sign_counts_only_over_rational_numbers():
    x = sp.IndexedBase("x", real=True)[0]
    assert (-ZERO).is_positive   # SymPy's word, wrong: it is 0
    assert not proved_positive(x ** 2 - ZERO) and not proved_nonzero(x ** 2 - ZERO)
    assert proved_positive(x ** 2 + 1) and proved_nonzero(x ** 2 + 1) and proved_nonnegative(x ** 2)
    assert not proved_positive(x ** 2 + sp.pi)   # (coarse: a number but rationals leaves it to the rules)


def test_the_obligations_prover_takes_no_number_s_sign_from_sympy():
    """−(log r + log(1/r)) was proved a positive divisor; exp(−1000), below the float range, still is by its
    structure (exp of a real)."""
    prover = Prover(Context({}, {}, frozenset(), "x", {}, ()))
    assert not prover.positive(-ZERO, {}) and not prover.nonzero(-ZERO, {})
    assert not prover.nonnegative(-ZERO - sp.Rational(1, 10 ** 70), {})
    assert prover.positive(sp.exp(-1000), {}) and prover.positive(sp.pi - 3, {}) and prover.nonzero(3 - sp.pi, {})
    assert not real_valued(sp.Pow(-ZERO, sp.Rational(1, 2)) * 0 + sp.Pow(sp.exp(-ZERO) - 1, sp.Rational(1, 2)),
                           Context({}, {}, frozenset(), "x", {}, ()))


def test_a_value_is_proved_real_by_its_structure():
    ev = Evaluator({"M": (3,)})
    m = sp.IndexedBase("M")
    assert real(ev.evaluate(sp.Max(m[0], 0) + sp.tanh(m[1]) * sp.exp(m[2]) / (1 + m[0] ** 2), {}))
    z = sp.exp(2 * sp.pi * sp.I / 3)
    assert real(ev.evaluate(sp.Abs(z * m[0]) + sp.re(z * m[1]) + sp.sqrt(2) * sp.log(3) + m[2] * (z + z ** 2), {}))
    for v in (sp.sqrt(m[0]), sp.log(m[0]), z * m[0], sp.Function("f")(m[0]), sp.sin(z * m[1]),
              (-1) ** sp.Rational(1, 3) * m[1]):
        assert not real(ev.evaluate(v, {})), v
    for v in (sp.Max(z * m[0], 0), sp.Min(sp.sqrt(m[1]), 1), sp.Heaviside(sp.log(m[0])), sp.atan(z * m[2]),
              sp.tanh(m[0] * (-1) ** sp.Rational(1, 3)), sp.mobius(m[0] + 1), sp.Max(sp.Function("f")(m[0]), 0)):
        with pytest.raises(IllFormedAccess):
            ev.evaluate(v, {})
    assert real(3) and real(sp.Rational(1, 3)) and not real(1j)


def test_a_number_s_float_bound_holds_against_high_precision_values(monkeypatch):
    """Random numbers built from rationals, π, e, powers, exp, log, sin, cos, tanh and atan: where number_sign decides,
    the float value lies within its bound of the 60-digit value, and the sign agrees."""
    import mpmath
    from evosym.proof.signs import _number
    monkeypatch.setattr(mpmath.mp, "dps", 60)
    rng = random.Random(3)
    leaves = [sp.pi, sp.E, sp.Rational(1, 3), sp.Rational(-7, 5), sp.Integer(2), sp.Rational(10 ** 12 + 1, 10 ** 12)]

    def build(depth):
        if depth == 0 or rng.random() < 0.3:
            return rng.choice(leaves)
        a, b = build(depth - 1), build(depth - 1)
        return rng.choice([lambda: a + b, lambda: a - b, lambda: a * b, lambda: sp.exp(a / 4),
                           lambda: sp.log(sp.Abs(a)), lambda: sp.sin(a), lambda: sp.cos(b), lambda: sp.tanh(a),
                           lambda: sp.atan(b), lambda: sp.Abs(a) ** sp.Rational(1, 3), lambda: a ** 2 - b])()
    decided = 0
    for _ in range(400):
        r = build(4)
        if not r.is_number or r.is_Rational:
            continue
        sign = number_sign(r)
        if sign is None:
            continue
        exact = mpmath.mpf(str(sp.N(r, 60)))
        v, err = _number(r)
        assert abs(mpmath.mpf(v.real) - exact) <= err and sign * exact > 0, (r, v, err, exact)
        decided += 1
    assert decided > 150
