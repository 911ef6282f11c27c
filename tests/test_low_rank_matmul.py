"""A spatial matrix that is a sum of separable terms, S[p, q] = Σ_{k<R} A[p, k]·w[k]·B[q, k] (a spectral graph filter
U·diag(g)·Uᵀ), is applied through the rank, x ↦ A·(w ⊙ Bᵀx), where that costs fewer multiply-adds than building S and
applying it (lowering.NativeMatmul.low_rank, decided at run time from the sizes): both branches equal the reference
with gradients, and other matrices keep one product."""

from __future__ import annotations

import pytest
import sympy as sp
import torch

from evosym import catalogue
from evosym.codegen.check import load_source
from evosym.codegen.lowering import _low_rank
from evosym.codegen.plan import make_plan
from evosym.codegen.render import render_torch


@pytest.fixture(scope="module")
def spectral():
    cp = catalogue.checked("spectral_graph_conv")
    plan = make_plan(cp)
    return plan, getattr(load_source(render_torch(plan, cp.operator.torch_binding), cp.operator.name, cp), plan.func_name)


def test_the_spectral_filter_is_recognised_as_low_rank(spectral):
    plan, _ = spectral
    a, b, w, k, rank = plan.lowering.low_rank
    assert plan.path == "native-matmul" and "of rank" in plan.reason and str(w) == "g[k]" and str(rank) == "N"
    for name in ("gcn", "token_mixing"):
        assert make_plan(catalogue.checked(name)).lowering.low_rank is None


@pytest.mark.parametrize("N, C, through_rank", [(6, 2, True), (3, 4, False)])   # B·C < N: through the rank
def test_both_branches_equal_the_filter_with_gradients(spectral, monkeypatch, N, C, through_rank):
    plan, fn = spectral
    g = torch.Generator().manual_seed(N)
    x = torch.randn(1, N, C, dtype=torch.float64, generator=g, requires_grad=True)
    U = torch.linalg.qr(torch.randn(N, N, dtype=torch.float64, generator=g))[0].requires_grad_()
    filt = torch.randn(N, dtype=torch.float64, generator=g, requires_grad=True)
    shapes = []
    real = torch.matmul
    monkeypatch.setattr(fn.__globals__["torch"], "matmul", lambda a, b: shapes.append(tuple(a.shape)) or real(a, b))
    got = fn(x, U, filt, N=N) if "N" in plan.size_names else fn(x, U, filt)
    monkeypatch.undo()
    assert len(shapes) == (2 if through_rank else 1)
    want = (U * filt) @ U.t() @ x
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    w = torch.randn_like(want)
    for a, b in zip(torch.autograd.grad((got * w).sum(), (x, U, filt)), torch.autograd.grad((want * w).sum(), (x, U, filt))):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_the_low_rank_pattern_refuses_other_sums():
    p, q, k, j = sp.symbols("p q k j", integer=True)
    N = sp.Symbol("N", integer=True, positive=True)
    U, g = sp.IndexedBase("U"), sp.IndexedBase("g")
    good = sp.Sum(U[p, k] * g[k] * U[q, k], (k, 0, N - 1))
    assert _low_rank(good, p, q, {N}) is not None
    for what, s in {"a factor reading p and q": sp.Sum(U[p, k] * U[q, k] * g[p - q], (k, 0, N - 1)),
                    "no factor of q": sp.Sum(U[p, k] * g[k], (k, 0, N - 1)),
                    "two summed indices": sp.Sum(U[p, k] * U[q, j], (k, 0, N - 1), (j, 0, N - 1)),
                    "a sum from 1": sp.Sum(U[p, k] * U[q, k], (k, 1, N - 1)),
                    "a bound that is an index": sp.Sum(U[p, k] * U[q, k], (k, 0, p)),
                    "not a sum": U[p, q]}.items():
        assert _low_rank(s, p, q, {N}) is None, what
