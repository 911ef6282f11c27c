"""mobius-sum's n and e are constants of the sum (evosym/proof/rules/divisors.py, self-test hole 28).

Σ_{d | n} μ(d) = [n = 1] is an identity about one n. The rule proved n ≥ 1 and "d runs up to n" from the ranges of
the sums outside the one it rewrites, leaving d's own range out, so an n that reads d was taken for a constant:
with n = (d mod K) + 2 the outer ranges gave n ≥ 2, δ(1, n) folded to 0, and an operator file printed PROVED, every
step general, and its certificate VERIFIED, for a sum that is −1 at K = 2 (an adversarial pass, 2026-12-07). Now
that step is refused as general (bounded, compared at the grid shapes only) for every variant of such an n, fails
where the grid reaches a size that refutes it, and a certificate recorded by the rule without the obligation does
not verify. A use whose n reads only the outer sums' variables stays general (tests/test_signal_ops.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from unittest import mock

import pytest
import sympy as sp

from cli_helpers import run_cli
from evosym.proof.certificate import certificate, derivation, dumps, loads, verify
from evosym.proof.rules import divisors as DV
from evosym.selftest import trust_fold_mutants as TF
from evosym.selftest.trust_mutants import B, C, K, L, P

FILE = Path(__file__).parent / "data" / "operators" / "mobius_dependent.py"
VARIANTS = ["mod2", "mod1", "reflected"]


def _load(variant, monkeypatch):
    """The operator file's module for ``variant`` (imported here: a test of the rule, not of the CLI)."""
    monkeypatch.setenv("EVOSYM_TEST_MOBIUS_N", variant)
    spec = importlib.util.spec_from_file_location(f"mobius_dependent_{variant}", FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("variant", VARIANTS)
def test_an_n_that_reads_the_summed_variable_is_never_general(capsys, monkeypatch, variant):
    monkeypatch.setenv("EVOSYM_TEST_MOBIUS_N", variant)
    rc, out, err = run_cli(capsys, "prove", str(FILE))
    step = out.split("Step 1. ", 1)[1].split("\nStep 2. ", 1)[0]
    assert step.startswith("mobius-sum(over=d, n=(d mod K) + ") and "[general]" not in step.splitlines()[0], step
    assert "do not depend on d (constants of the sum)  (they read a variable the sum" in step, step
    assert "4 general" not in out and "0 bounded" not in out, out


@pytest.mark.parametrize("variant", ["mod2", "reflected"])
def test_the_sum_the_step_claims_is_false_off_the_grid(variant, monkeypatch):
    """The hostile claim is false: the step makes the sum δ(1, n) = 0 (n ≥ 2), which it is at K = 1 (the grid) and not
    at K = 2 (evaluated from its definition: −1, and 1 for the complementary divisor). (mod1's result δ(1, n) still
    reads d: the closed-definitions premise fails it too.)"""
    module = _load(variant, monkeypatch)
    assert module._sum(1) == 0 and module._sum(2) == (-1 if variant == "mod2" else 1)


def test_the_rule_fails_where_the_grid_refutes_it(monkeypatch):
    """At K = 2 the step's two sides differ: with a grid shape there the checker finds it (not only labels it)."""
    module = _load("mod2", monkeypatch)
    from evosym import Derivation
    import dataclasses
    op = dataclasses.replace(module.OPERATOR, grid=(*module.OPERATOR.grid, {module.B: 1, module.N: 2, module.C: 1,
                                                                          module.K: 2}))
    d = Derivation(op)
    module.derive(d)
    cp = d.proof().check()
    assert not cp.ok and not cp.steps[0].check.ok and "differ" in cp.steps[0].check.message, cp.steps[0].check.message


def test_a_certificate_recorded_without_the_obligation_does_not_verify():
    with mock.patch.object(DV, "constant_over", lambda node, *exprs: True):
        cp = TF.dependent_mobius_proof().check(reference=False)
        assert cp.ok and cp.steps[0].check.general   # (the hole: PROVED, every step general)
        doc = loads(dumps(certificate(cp, derivation(cp.proof))))
    v = verify(doc)
    assert not v.ok
    assert "verdicts.steps[0].general: recorded 'True', recomputed 'False'" in "\n".join(v.differences), v.differences


def test_constant_over_looks_at_every_variable_the_sum_binds():
    d, e, k = (sp.Symbol(s, integer=True, positive=True) for s in "dek")
    node = sp.Sum(sp.Function("f")(d) * sp.Sum(sp.Function("g")(e), (e, 1, d)), (d, 1, K))
    assert DV.constant_over(node, K + 1, 1, k)
    for dependent in (d, e, d + K, sp.Mod(d, K) + 2, sp.floor(e / 2)):
        assert not DV.constant_over(node, K + 1, dependent), dependent
    assert B and C and L and P   # (the toy's sizes the hostile example uses)
