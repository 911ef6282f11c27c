"""Windows read through a padding's index map by a kernel that is not static (ACmix's reflection-padded
attention) and kernels that are a dynamic part plus a static one (ACmix's conv path beside its attention).

The attention over reflected reads is aggregated as S inside the input over v padded by that mode; that is
accepted only where the check of the padded form against K passes exactly at every grid shape (every tap reads
inside the input, every position of Ω(p) is accounted for), and each mutant below must be refused. The static
part is one native convolution; its split is exact algebra, and the padded check of the other part adds it.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest
import sympy as sp
import torch

from conftest import checked
from evosym.codegen import lowering as L
from evosym.codegen.generate import committed_dir
from evosym.codegen.plan import make_plan
from evosym.facts.kernel import kernel_facts
from evosym.facts.taps import index_maps, padded_taps
from evosym.ir.padding import replicate


def test_the_reflected_attention_is_aggregated_over_padded_values():
    facts = kernel_facts(checked("acmix_attention"))
    mode, inner = facts.whole.padded
    assert mode == "reflect" and inner.checked_shapes == len(facts.operator.grid)
    assert not inner.expr.has(sp.Abs) and not inner.expr.has(sp.KroneckerDelta)   # S is the softmax itself
    plan = make_plan(checked("acmix_attention"))
    assert type(plan.lowering) is L.Premix and plan.windows_mode == "reflect" and plan.pad_mode == "reflect"
    assert not plan.has_kernels and "reflect" in plan.no_kernels and plan.kernel_devices == ()
    assert "v padded with mode 'reflect'" in plan.reason and "compared exactly with K" in plan.reason


@pytest.mark.parametrize("mutant", ["replicate instead of reflect", "one tap shifted", "scaled at the border"])
def test_a_padded_form_that_differs_from_K_is_refused(mutant):
    facts = kernel_facts(checked("acmix_attention"))
    form, taps = facts.windowed, facts.kernel
    if mutant == "replicate instead of reflect":   # the same inside the input, not at the borders
        swap = {f: replicate(a, form.omega.axes[k].length) for k, (f, a) in index_maps(form).items()}
        expr = taps.expr.xreplace(swap)
    elif mutant == "one tap shifted":                # the window's reads moved by one position on one axis
        f, a = index_maps(form)[0]
        expr = taps.expr.xreplace({f: f.xreplace({a: a + 1})})
    else:
        i = form.position[0]
        expr = taps.expr * (1 + sp.KroneckerDelta(i, 0))
    wrong = type(taps)(expr, taps.taps, taps.tap_hi, taps.checked_shapes)
    assert padded_taps(facts.operator, form, facts.lowering_definitions, wrong) is None, mutant
    assert padded_taps(facts.operator, form, facts.lowering_definitions, taps) is not None   # the unmutated is accepted


def test_acmix_is_a_premixed_attention_plus_one_native_convolution():
    facts = kernel_facts(checked("acmix"))
    rest, fixed = facts.static_part
    assert sp.expand(rest + fixed - facts.taps.expr) == 0   # exact: the parts sum to the verified K̂
    assert not facts.reads(fixed) & facts.inputs and not (fixed.free_symbols & set(facts.windowed.position))
    plan = make_plan(checked("acmix"))
    assert type(plan.lowering) is L.Premix and plan.static_conv is not None and plan.windows_mode == "reflect"
    assert plan.reason.startswith("K̂ = R + F with F = ") and "conv2d of x, added" in plan.reason
    generic = make_plan(checked("acmix"), force_generic=True)
    assert generic.static_conv is None and type(generic.lowering) is L.Generic


def test_the_part_check_adds_the_other_part():
    facts = kernel_facts(checked("acmix"))
    rest, fixed = facts.static_part
    assert facts.part_of(rest, fixed).whole.padded is not None
    assert facts.part_of(rest, 2 * fixed).whole.padded is None      # the other part counted twice: refused
    assert facts.part_of(rest, sp.Integer(0)).whole.padded is None  # … or left out: refused


def test_the_committed_module_refuses_kernels_with_the_reason():
    spec = importlib.util.spec_from_file_location("padded_acmix_attention", committed_dir() / "acmix_attention.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.KERNELS == ()
    torch.manual_seed(0)
    layer = module.AcmixAttentionEvolution(C=4, N=2, d=3, R=1, s=1, dtype=torch.float64)
    x = torch.randn(2, 4, 5, 6, dtype=torch.float64)
    assert torch.allclose(layer(x), layer(x, path="generic"), rtol=1e-12, atol=1e-12)   # two lowerings, one result
    with pytest.raises(ValueError, match="'reflect' padding's index map"):
        layer(x, path="kernels")


def test_acmix_compiles_with_inductor_and_its_gradients_agree():
    """The reads through the reflection (padded, unfolded views) under torch.compile: one graph for three shapes,
    outputs and input gradients equal to eager. (torch 2.13's inductor corrupted memory in the backward of an
    unfold feeding a matrix product, so the views are as_strided under compile: this test crashed the process.)"""
    spec = importlib.util.spec_from_file_location("padded_acmix_compiled", committed_dir() / "acmix.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # (dynamo guards read the module's globals by name)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    layer = module.AcmixEvolution(C=4, N=2, d=2, R=1, s=1)
    compiled = torch.compile(layer, dynamic=True, fullgraph=True)
    for shape in ((2, 4, 8, 10), (3, 4, 10, 8), (5, 4, 12, 14)):
        x = torch.randn(shape, requires_grad=True)
        y, yc = layer(x), compiled(x)
        assert torch.allclose(y, yc, rtol=1e-5, atol=1e-5), shape
        g, = torch.autograd.grad(y.exp().sum(), x)
        gc, = torch.autograd.grad(yc.exp().sum(), x)
        assert torch.allclose(g, gc, rtol=1e-4, atol=1e-4), shape
