"""A global kernel that is a sum of separable terms, K̂ = Σ_t M(o, c, t)·S(t, p, q) (Cordonnier's attention layer:
K² heads with static positional maps), lowers to two einsums — S per term over the positions, then M over the
channels — instead of the generic K̂ over (o, c, p, q); the choice is made at run time by the multiply-adds."""

from __future__ import annotations

import pytest
import sympy as sp
import torch

from evosym import catalogue
from evosym.codegen import lowering as L
from evosym.codegen.check import load_source
from evosym.codegen.plan import make_plan
from evosym.codegen.render import render_torch
from evosym.facts.factors import term_sum
from evosym.ir.symbols import index

F64 = torch.float64


@pytest.fixture(scope="module")
def cordonnier():
    cp = catalogue.checked("cordonnier_attention")
    plan = make_plan(cp)
    mod = load_source(render_torch(plan, cp.operator.torch_binding), "cordonnier_attention", cp)
    return plan, mod, cp.operator


def test_cordonnier_lowers_to_the_term_sum(cordonnier):
    plan, _, _ = cordonnier
    assert plan.path == "term-sum" and type(plan.lowering) is L.TermSum
    assert "a sum of (2·R + 1)^2 separable terms" in plan.reason
    assert make_plan(catalogue.checked("cordonnier_attention"), force_generic=True).path == "generic-global"


@pytest.mark.parametrize("sizes, term_sum_runs", [
    (dict(B=2, C=3, O=16, R=1, H=6, W=6), True),     # 9·(36 + 16) < 16·36: the two einsums
    (dict(B=2, C=3, O=2, R=1, H=2, W=3), False),     # 9·(6 + 2) ≥ 2·6: the generic K̂ is cheaper
])
def test_the_term_sum_equals_the_generic_lowering_with_gradients(cordonnier, sizes, term_sum_runs, monkeypatch):
    _, mod, op = cordonnier
    calls = []
    real = mod._generic
    monkeypatch.setattr(mod, "_generic", lambda *a, **k: calls.append(1) or real(*a, **k))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(sizes["B"], sizes["C"], sizes["H"], sizes["W"], generator=g, dtype=F64, requires_grad=True)
    alpha = torch.tensor([0.7], dtype=F64, requires_grad=True)
    k2 = (2 * sizes["R"] + 1) ** 2
    wo = torch.randn(sizes["O"], k2 * sizes["C"], generator=g, dtype=F64, requires_grad=True)
    bo = torch.randn(sizes["O"], generator=g, dtype=F64, requires_grad=True)
    kw = dict(C=sizes["C"], O=sizes["O"], R=sizes["R"])
    auto = mod.cordonnier_attention_evolution(x, alpha, wo, bo, **kw)
    assert bool(calls) != term_sum_runs
    want = op.torch_reference({"x": x, "alpha": alpha, "WO": wo, "bO": bo}, dict(sizes))
    torch.testing.assert_close(auto, want, rtol=1e-10, atol=1e-10)
    w = torch.randn_like(auto)
    mine = torch.autograd.grad((auto * w).sum(), (x, alpha, wo, bo))
    theirs = torch.autograd.grad((want * w).sum(), (x, alpha, wo, bo))
    for a, b in zip(mine, theirs):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_the_term_sum_pattern_refuses_lookalikes():
    o, c, t, p, q = (index(n) for n in "o c t p q".split())
    M, S, A = sp.IndexedBase("M"), sp.IndexedBase("S"), sp.IndexedBase("A")
    T = sp.Symbol("T", positive=True, integer=True)
    sizes = {T}
    found = term_sum(sp.Sum(M[o, c, t] * S[t, p, q], (t, 0, T - 1)), c, o, sizes, (p, q))
    assert found is not None and found[0] == ((t, 0, T - 1),)
    for bad in (sp.Sum(M[o, c, t] * S[t, p, q] * A[o, p], (t, 0, T - 1)),   # a factor reads o and p
                M[o, c] * S[p, q],                                        # no sum: one separable term
                sp.Sum(M[o, c] * S[t, p, q], (t, 0, T - 1)),              # t only in S: one term after all
                sp.Sum(M[o, c, t] * S[t, p, q], (t, 0, p)),                # a range that depends on p
                sp.Sum(sp.KroneckerDelta(c, o) * M[c, t] * S[t, p, q], (t, 0, T - 1))):   # depthwise: no mixing to save
        assert term_sum(bad, c, o, sizes, (p, q)) is None, bad
