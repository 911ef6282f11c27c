"""A static kernel that factors as P(o, c)·D(c, u) keeps its factors: the generated module runs a depthwise and a
pointwise convolution where that costs fewer multiply-adds than the dense one (lowering.Factors), both branches equal
to the two convolutions, and kernels that do not factor keep one convolution."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from evosym import catalogue
from evosym.codegen.check import load_source
from evosym.codegen.plan import make_plan
from evosym.codegen.render import render_torch

FILE = str(Path(__file__).resolve().parent.parent / "docs/examples/depthwise_separable_conv2d.py")


@pytest.fixture(scope="module")
def generated():
    cp = catalogue.checked(FILE)
    plan = make_plan(cp)
    return plan, getattr(load_source(render_torch(plan, cp.operator.torch_binding), cp.operator.name, cp), plan.func_name)


def test_the_factors_and_both_costs_are_in_the_reason(generated):
    plan, _ = generated
    f = plan.lowering.factored
    assert f is not None and plan.path == "native-conv"
    assert str(f.pointwise) == "W_pw[o, c]" and str(f.depthwise).startswith("W_dw[c, ")
    assert "multiply-adds per sample" in plan.reason and "dense" in plan.reason and "depthwise then pointwise" in plan.reason


@pytest.mark.parametrize("O, factored", [(6, True), (1, False)])   # O = 1: one dense convolution costs less
def test_both_branches_equal_two_convolutions_with_gradients(generated, O, factored):
    plan, fn = generated
    C, K, P = 3, (3, 2), (1, 0)
    g = torch.Generator().manual_seed(O)
    x = torch.randn(2, C, 6, 5, dtype=torch.float64, generator=g, requires_grad=True)
    wd = torch.randn(C, *K, dtype=torch.float64, generator=g, requires_grad=True)
    wp = torch.randn(O, C, dtype=torch.float64, generator=g, requires_grad=True)
    cost_two = C * K[0] * K[1] + O * C
    assert (cost_two < O * C * K[0] * K[1]) == factored
    got = fn(x, wd, wp, C=C, O=O, K_h=K[0], K_w=K[1], P_h=P[0], P_w=P[1])
    want = F.conv2d(F.conv2d(x, wd.unsqueeze(1), padding=P, groups=C), wp[:, :, None, None])
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    w = torch.randn_like(want)
    for a, b in zip(torch.autograd.grad((got * w).sum(), (x, wd, wp)), torch.autograd.grad((want * w).sum(), (x, wd, wp))):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_the_branch_taken_is_the_cheaper_one(generated, monkeypatch):
    """Count the convolutions each call makes: two where factored is cheaper, one otherwise."""
    plan, fn = generated
    calls = []
    real = F.conv2d

    def counting(*args, **kwargs):
        calls.append(kwargs.get("groups", 1))
        return real(*args, **kwargs)

    monkeypatch.setattr(fn.__globals__["F"], "conv2d", counting)
    x = torch.randn(1, 4, 5, 5)
    fn(x, torch.randn(4, 3, 3), torch.randn(8, 4), C=4, O=8, K_h=3, K_w=3, P_h=1, P_w=1)
    assert calls == [4, 1]
    calls.clear()
    fn(x, torch.randn(4, 3, 3), torch.randn(1, 4), C=4, O=1, K_h=3, K_w=3, P_h=1, P_w=1)
    assert calls == [1]


@pytest.mark.parametrize("name", ["conv2d", "depthwise_conv2d", "conv2d_reflect", "pointwise_conv2d", "avg_pool2d"])
def test_kernels_that_do_not_factor_keep_one_convolution(name):
    assert make_plan(catalogue.checked(name)).lowering.factored is None


PW_FIRST = str(Path(__file__).resolve().parent / "data/operators/pointwise_depthwise_conv2d.py")


@pytest.fixture(scope="module")
def pointwise_first():
    cp = catalogue.checked(PW_FIRST)
    plan = make_plan(cp)
    return plan, getattr(load_source(render_torch(plan, cp.operator.torch_binding), cp.operator.name, cp), plan.func_name)


def test_a_window_per_output_channel_is_factored_pointwise_first(pointwise_first):
    """K̂ = W_dw[o, u, v]·W_pw[o, c]: the window reads o, not c, so the 1×1 map goes first (the other order would
    need a window per pair (o, c))."""
    plan, _ = pointwise_first
    f = plan.lowering.factored
    assert f is not None and f.pointwise_first and plan.path == "native-conv"
    assert str(f.pointwise) == "W_pw[o, c]" and str(f.depthwise).startswith("W_dw[o, ")
    assert "pointwise then depthwise" in plan.reason and "depthwise then pointwise" not in plan.reason


@pytest.mark.parametrize("C, factored", [(5, True), (1, False)])   # C = 1: one dense convolution costs less
def test_pointwise_first_equals_the_two_convolutions_with_gradients(pointwise_first, C, factored):
    plan, fn = pointwise_first
    O, K, P, H, W = 3, (3, 2), (1, 0), 6, 5
    g = torch.Generator().manual_seed(C)
    x = torch.randn(2, C, H, W, dtype=torch.float64, generator=g, requires_grad=True)
    wd = torch.randn(O, *K, dtype=torch.float64, generator=g, requires_grad=True)
    wp = torch.randn(O, C, dtype=torch.float64, generator=g, requires_grad=True)
    n_out = (H + 2 * P[0] - K[0] + 1) * (W + 2 * P[1] - K[1] + 1)
    assert (O * C * H * W + O * K[0] * K[1] * n_out < O * C * K[0] * K[1] * n_out) == factored
    calls = []
    real = F.conv2d

    def counting(*args, **kwargs):
        calls.append(kwargs.get("groups", 1))
        return real(*args, **kwargs)
    fn.__globals__["F"].conv2d = counting
    try:
        got = fn(x, wd, wp, C=C, O=O, K_h=K[0], K_w=K[1], P_h=P[0], P_w=P[1])
    finally:
        fn.__globals__["F"].conv2d = real
    assert calls == ([1, O] if factored else [1])
    want = F.conv2d(F.conv2d(x, wp[:, :, None, None]), wd.unsqueeze(1), padding=P, groups=O)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    w = torch.randn_like(want)
    for a, b in zip(torch.autograd.grad((got * w).sum(), (x, wd, wp)), torch.autograd.grad((want * w).sum(), (x, wd, wp))):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_a_window_that_reads_both_channels_does_not_factor():
    import sympy as sp
    from evosym.codegen.lowering import _factors
    from evosym.facts.kernel import kernel_facts
    facts = kernel_facts(catalogue.checked(PW_FIRST))
    khat = facts.kernel.expr
    o, c = facts.windowed.out_channel, facts.windowed.channel
    assert _factors(khat, facts) is not None
    dw = next(f for f in sp.Mul.make_args(khat) if "W_dw" in str(f))
    assert _factors(khat.xreplace({dw: dw * (c + 1)}), facts) is None, "the window reads o and c"
    assert _factors(khat.xreplace({dw: sp.Integer(2)}), facts) is None, "no factor reads the taps"
