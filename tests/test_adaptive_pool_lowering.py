"""A static kernel that is exactly PyTorch's adaptive average pooling (bins ⌊L·p/L'⌋ … ⌈L·(p + 1)/L'⌉ − 1, each
averaged over its positions, per axis, on the channel diagonal) runs as F.adaptive_avg_pool{1,2,3}d
(lowering.AdaptivePool), recognised factor by factor in the proved kernel; any other bin rule, weight or count keeps
its lowering."""

from __future__ import annotations

import pytest
import sympy as sp
import torch
import torch.nn.functional as F

from evosym import catalogue
from evosym.codegen.check import load_source
from evosym.codegen.lowering import _adaptive_pool
from evosym.codegen.plan import make_plan
from evosym.codegen.render import render_torch
from evosym.facts.kernel import kernel_facts
from evosym.ir.symbols import InRange

NAMES = ("adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d")


@pytest.mark.parametrize("name", NAMES)
def test_adaptive_pools_are_recognised(name):
    plan = make_plan(catalogue.checked(name))
    assert plan.path == "native-adaptive-pool" and "adaptive_avg_pool" in plan.reason
    assert make_plan(catalogue.checked(name), force_generic=True).path.startswith("generic")


@pytest.mark.parametrize("name", ["spectral_graph_conv", "gcn", "cordonnier_attention", "token_mixing", "avg_pool2d"])
def test_other_kernels_are_not_adaptive_pools(name):
    assert make_plan(catalogue.checked(name)).path != "native-adaptive-pool"


@pytest.mark.parametrize("name", NAMES)
def test_equal_to_torch_with_gradients_at_uneven_and_upsampling_bins(name):
    cp = catalogue.checked(name)
    plan = make_plan(cp)
    fn = getattr(load_source(render_torch(plan, cp.operator.torch_binding), name, cp), plan.func_name)
    dims = int(name[-2])
    for lengths, outs in (((7, 5, 6)[:dims], (3, 2, 4)[:dims]), ((3, 4, 2)[:dims], (5, 4, 3)[:dims])):
        x = torch.randn((2, 3) + lengths, dtype=torch.float64, requires_grad=True)
        sizes = {k: v for k, v in zip(("D_out", "H_out", "W_out")[3 - dims:] if dims > 1 else ("L_o",), outs)}
        got = fn(x, **sizes)
        want = getattr(F, f"adaptive_avg_pool{dims}d")(x, outs)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
        (ga,), (gb,) = torch.autograd.grad(got.sum(), (x,)), torch.autograd.grad(want.sum(), (x,))
        torch.testing.assert_close(ga, gb, rtol=1e-12, atol=1e-12)


def test_other_bins_weights_and_counts_are_refused():
    facts = kernel_facts(catalogue.checked("adaptive_avg_pool2d"))
    khat = facts.kernel.expr
    assert _adaptive_pool(khat, facts)
    bracket = next(f for f in sp.Mul.make_args(khat) if isinstance(f, InRange))
    count = next(f for f in sp.Mul.make_args(khat) if isinstance(f, sp.Pow))
    e, lo, hi = bracket.args
    o, c = facts.windowed.out_channel, facts.windowed.channel
    variants = {
        "a bin one position longer": khat.xreplace({bracket: InRange(e, lo, hi + 1)}),
        "a bin starting one later": khat.xreplace({bracket: InRange(e - 1, lo, hi)}),
        "the sum, not the mean": khat.xreplace({count: sp.Integer(1)}),
        "twice the mean": 2 * khat,
        "a count over another range": khat.xreplace({count: 1 / (count.base + 1)}),
        "another channel pairing": khat.xreplace({sp.KroneckerDelta(c, o): sp.KroneckerDelta(c, o + 1)}),
        "one axis without its bracket": khat.xreplace({bracket: sp.Integer(1)}),
    }
    for what, changed in variants.items():
        assert not _adaptive_pool(changed, facts), what
