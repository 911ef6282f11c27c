"""SymPy's fold of the Möbius function made sound (evosym/ir/numbers.py, self-test hole 27).

SymPy folded μ of a product from the signs of its numeric factors alone: μ(2a) was −1 for a positive integer a,
μ(a²) 0. A rule substituting a variable (merge-sums, reindex-sum, unfold-definition) rebuilt μ(2e) as μ(2a), and an
operator file printed PROVED with a false kernel, every step general (an adversarial pass). These tests compare μ
with an independent implementation at integers, check that a symbolic argument stays unevaluated and agrees at
every value, and run the attack's operator files: PROVED with μ(2a) kept, and refused where the file's process
restores SymPy's fold."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import sympy as sp

from cli_helpers import run_cli
from evosym.ir import numbers

FILE = Path(__file__).parent / "data" / "operators" / "mobius_merged.py"

a = sp.Symbol("a", integer=True, positive=True)
z = sp.Symbol("z", integer=True, nonnegative=True)
P = sp.Symbol("P", integer=True, prime=True)
Q = sp.Symbol("Q", integer=True, composite=True)
VALUES = {a: range(1, 13), z: range(0, 10), P: (2, 3, 5, 7, 11, 13), Q: (4, 6, 8, 9, 10, 12, 15)}


def _mu(n: int) -> int:
    """μ(n) by trial division (independent of SymPy)."""
    sign, p = 1, 2
    while p * p <= n:
        if n % p == 0:
            n //= p
            if n % p == 0:
                return 0
            sign = -sign
        p += 1
    return -sign if n > 1 else sign


def test_mu_at_the_integers_is_sympys_value():
    assert sp.mobius.eval.__func__ is numbers._eval   # (installed by importing evosym)
    numbers.install()
    assert sp.mobius.eval.__func__ is numbers._eval   # (idempotent)
    assert [int(sp.mobius(n)) for n in range(1, 500)] == [_mu(n) for n in range(1, 500)]


@pytest.mark.parametrize("arg", [2 * a, 3 * a, 6 * a, a ** 2, a * (a + 1), 4 * z + 2, 2 * P, P, P ** 2, a * P, Q,
                                 2 * Q, Q + 1, 2 * a + 2, 9 * z + 3])
def test_a_symbolic_argument_stays_unevaluated_and_agrees_at_every_value(arg):
    f = sp.mobius(arg)
    assert isinstance(f, sp.mobius), f   # (SymPy's own fold: μ(2a) = μ(3a) = μ(2P) = −1, μ(a²) = μ(P²) = 0)
    symbols = sorted(arg.free_symbols, key=str)
    for point in itertools.product(*(VALUES[s] for s in symbols)):
        at = dict(zip(symbols, point))
        assert f.subs(at) == _mu(int(arg.subs(at))), (arg, at)


@pytest.mark.parametrize("arg, error", [(0, ValueError), (-3, ValueError), (-a, ValueError),
                                        (sp.Rational(1, 2), TypeError), (sp.Float(2.5), TypeError)])
def test_what_sympy_refuses_is_refused(arg, error):
    with pytest.raises(error):
        sp.mobius(arg)


def test_a_quotient_that_may_be_no_integer_is_left_to_the_evaluator():
    f = sp.mobius(a / 2)
    assert isinstance(f, sp.mobius) and f.subs(a, 4) == -1
    with pytest.raises(TypeError):
        f.subs(a, 3)


@pytest.mark.parametrize("rule", ["merge", "reindex"])
def test_the_attack_proves_with_mu_kept_and_its_process_cannot_restore_the_fold(rule, capsys, monkeypatch):
    monkeypatch.setenv("EVOSYM_TEST_MOBIUS", rule)
    rc, out, err = run_cli(capsys, "prove", str(FILE))
    assert rc == 0 and "\nPROVED." in out and "), 0 bounded" in out, out + err
    assert "K[o, c, i, m] := Σ_{a=1}^{L} ((S - 2)·(S - 1)·μ(2·a) + 1)·δ(c, o)·δ(m, a - 1)" in out, out
    assert "S=3" in out   # (the grid shape where SymPy's −1 for μ(2a) changes the value)
    monkeypatch.setenv("EVOSYM_TEST_FOLD", "sympy")   # the file's process folds μ(2a) to −1 as it derives
    rc, out, err = run_cli(capsys, "prove", str(FILE))
    assert rc == 1 and "NOT PROVED" in out and "does not produce the recorded result" in out, out + err
    assert "(-(S - 2)·(S - 1) + 1)·δ(c, o)" in out   # (the recorded, false kernel: never labelled proved)
