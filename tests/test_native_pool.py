"""A static depthwise kernel that is one number κ at every tap of a window of dilation 1, K̂ = δ(c, o)·κ, runs as
F.avg_pool{1,2,3}d times κ·|window| (lowering.NativeConv.pool): the catalogue's average pools, and a box sum whose
padding exceeds what avg_pool takes (padded explicitly). Equal to the reference with gradients; other kernels keep
their convolution."""

from __future__ import annotations

from pathlib import Path

import pytest
import sympy as sp
import torch
import torch.nn.functional as F

from evosym import catalogue
from evosym.codegen.check import load_source
from evosym.codegen.lowering import _pool
from evosym.codegen.plan import make_plan
from evosym.codegen.render import render_torch
from evosym.facts.kernel import kernel_facts

BOX = str(Path(__file__).resolve().parent / "data/operators/box_sum1d.py")


@pytest.mark.parametrize("name, factor", [("avg_pool1d", "1"), ("avg_pool2d", "1"), ("avg_pool3d", "1"),
                                          ("avg_pool2d_divisor", "K_h*K_w/D_o"),
                                          ("avg_pool3d_ceil_divisor", "K_d*K_h*K_w/D_o"), (BOX, "K")])
def test_constant_depthwise_kernels_are_average_pools(name, factor):
    plan = make_plan(catalogue.checked(name))
    assert plan.path == "native-conv" and str(plan.lowering.pool) == factor and "avg_pool" in plan.reason
    assert plan.pool_divisor == ("D_o" if "divisor" in name else None)   # κ = 1/D_o: avg_pool's divisor_override


@pytest.mark.parametrize("ceil", [False, True])
def test_a_divisor_pool_equals_torch_with_gradients(ceil):
    name = "avg_pool2d_ceil_divisor" if ceil else "avg_pool2d_divisor"
    cp = catalogue.checked(name)
    plan = make_plan(cp)
    fn = getattr(load_source(render_torch(plan, cp.operator.torch_binding), name, cp), plan.func_name)
    x = torch.randn(2, 3, 8, 7, dtype=torch.float64, requires_grad=True)
    sizes = dict(K_h=3, K_w=2, s_h=2, s_w=2, P_h=1, P_w=1, D_o=5)
    got = fn(x, **sizes)
    want = F.avg_pool2d(x, (3, 2), (2, 2), (1, 1), ceil_mode=ceil, divisor_override=5)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    (ga,), (gb,) = torch.autograd.grad(got.sum(), (x,)), torch.autograd.grad(want.sum(), (x,))
    torch.testing.assert_close(ga, gb, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["conv2d", "depthwise_conv2d", "conv2d_reflect", "avg_pool2d_ceil",
                                  "avg_pool2d_exclude_pad", "pointwise_conv2d", "dynamic_dwconv"])
def test_other_kernels_are_not_pools(name):
    assert getattr(make_plan(catalogue.checked(name)).lowering, "pool", None) is None


@pytest.fixture(scope="module")
def box():
    cp = catalogue.checked(BOX)
    plan = make_plan(cp)
    return getattr(load_source(render_torch(plan, cp.operator.torch_binding), cp.operator.name, cp), plan.func_name)


@pytest.mark.parametrize("K, s, P", [(3, 1, 2), (4, 2, 3), (3, 2, 1), (5, 3, 0), (1, 1, 0)])
def test_a_box_sum_is_an_average_pool_times_the_window(box, monkeypatch, K, s, P):
    """Padding beyond half the window (2P > K) is padded explicitly; the pool is called, no convolution."""
    calls = []
    real_pool, real_conv = F.avg_pool1d, F.conv1d
    monkeypatch.setattr(box.__globals__["F"], "avg_pool1d", lambda *a, **k: calls.append("pool") or real_pool(*a, **k))
    monkeypatch.setattr(box.__globals__["F"], "conv1d", lambda *a, **k: calls.append("conv") or real_conv(*a, **k))
    g = torch.Generator().manual_seed(K + 10 * s + 100 * P)
    x = torch.randn(2, 3, 9, dtype=torch.float64, generator=g, requires_grad=True)
    got = box(x, K=K, s=s, P=P)
    assert calls == ["pool"]
    want = real_conv(F.pad(x, (P, P)), x.new_ones(3, 1, K), stride=s, groups=3)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    w = torch.randn_like(want)
    (ga,), (gb,) = torch.autograd.grad((got * w).sum(), (x,)), torch.autograd.grad((want * w).sum(), (x,))
    torch.testing.assert_close(ga, gb, rtol=1e-12, atol=1e-12)


def test_the_pool_pattern_refuses_kernels_that_vary_over_the_taps():
    facts = kernel_facts(catalogue.checked("avg_pool2d"))
    khat, o, c = facts.kernel.expr, facts.windowed.out_channel, facts.windowed.channel
    u = facts.kernel.taps[0]
    assert _pool(khat, facts) == 1
    for what, changed in {"a tap-dependent weight": khat * (u + 1),
                          "a parameter read": khat * sp.IndexedBase("W")[u],
                          "another channel pairing": khat.xreplace({sp.KroneckerDelta(c, o): sp.KroneckerDelta(c, o + 1)}),
                          "a tap selected": khat * sp.KroneckerDelta(u, 0)}.items():
        assert _pool(changed, facts) is None, what
