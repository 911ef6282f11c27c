"""Operators with several input tensors: cross-attention (queries, keys and values from three inputs) and two
windowed test operators whose kernel reads a second input. The generated module takes every input in the
operator's order, reads sizes from each, checks each (type, rank, shape, dtype, device) with a clear error, takes
unbatched calls, lowers cross-attention to one SDPA call, and matches the references with gradients to every input."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from evosym import catalogue
from evosym.codegen import lowering as L
from evosym.codegen.check import check_operator, load_source
from evosym.codegen.plan import make_plan
from evosym.codegen.render import render_torch

DATA = Path(__file__).parent / "data" / "operators"
F64 = torch.float64
SIZES = dict(N=2, d=2, C_k=3, C_v=5)


@pytest.fixture(scope="module")
def cross():
    cp = catalogue.checked("cross_attention")
    plan = make_plan(cp)
    mod = load_source(render_torch(plan, cp.operator.torch_binding), "cross_attention", cp)
    return plan, mod, cp.operator


def _cross_inputs(batch=(2,), length=3, keys=4, seed=0, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*batch, 4, length, generator=g, dtype=dtype)
    xk = torch.randn(*batch, 3, keys, generator=g, dtype=dtype)
    xv = torch.randn(*batch, 5, keys, generator=g, dtype=dtype)
    w = [torch.randn(s, generator=g, dtype=dtype) * 0.5 for s in ((4, 4), (4,), (4, 3), (4,), (4, 5), (4,), (4, 4), (4,))]
    return [x, xk, xv], w


def test_the_plan_takes_every_input_in_the_operators_order(cross):
    plan, _, op = cross
    assert plan.inputs == ["x", "xk", "xv"] and plan.value == "xv" == op.value
    assert [n for n, _ in plan.extra_inputs] == ["x", "xk"]
    assert dict(plan.runtime_sizes) == {"B": "xv.shape[0]", "S": "xv.shape[2]", "L": "x.shape[2]"}
    assert [n for n, _ in plan.module_sizes] == ["N", "d", "C_k", "C_v"]


def test_cross_attention_is_one_sdpa_call_with_each_projection_on_its_input(cross):
    plan, _, op = cross
    assert plan.path == "sdpa" and type(plan.lowering) is L.Sdpa and plan.sdpa["sources"] == ["x", "xk"]
    assert "queries from x, keys from xk, values from xv" in plan.reason
    src = render_torch(plan, op.torch_binding)
    body = src.split("def _sdpa(")[1].split("\ndef ")[0]
    assert body.count("F.scaled_dot_product_attention(") == 1 and "_softmax(" not in body and "einsum" not in body
    for name, weight in (("x", "q_weight"), ("xk", "k_weight"), ("xv", "v_weight")):
        assert f"F.linear({name}.flatten(2).transpose(1, 2), {weight}" in body


def test_both_paths_equal_multihead_attention_with_gradients_to_every_input(cross):
    _, mod, _ = cross
    fn = mod.cross_attention_evolution
    inputs, w = _cross_inputs()
    inputs = [t.requires_grad_() for t in inputs]
    m = nn.MultiheadAttention(4, 2, kdim=3, vdim=5, batch_first=True, dtype=F64).eval()
    with torch.no_grad():
        m.q_proj_weight.copy_(w[0]), m.k_proj_weight.copy_(w[2]), m.v_proj_weight.copy_(w[4])
        m.in_proj_bias.copy_(torch.cat([w[1], w[3], w[5]])), m.out_proj.weight.copy_(w[6]), m.out_proj.bias.copy_(w[7])
    want = m(*(t.transpose(1, 2) for t in inputs), need_weights=False)[0].transpose(1, 2)
    grad_out = torch.randn_like(want)
    theirs = torch.autograd.grad((want * grad_out).sum(), inputs)
    for path in ("auto", "generic"):
        got = fn(*inputs, *w, **SIZES, path=path)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
        mine = torch.autograd.grad((got * grad_out).sum(), inputs)
        for a, b in zip(mine, theirs):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)



def test_forward_mode_ad_through_every_input_runs_the_generic_path(cross):
    """SDPA's CPU kernels refuse forward-mode AD: jvp of the default path with tangents on all three inputs is the
    generic path's (NotImplementedError until 2026-12-05)."""
    _, mod, _ = cross
    fn = mod.cross_attention_evolution
    inputs, w = _cross_inputs(seed=3)
    tangents = [torch.randn_like(t) for t in inputs]
    call = lambda path: (lambda *xs: fn(*xs, *w, **SIZES, path=path))
    want = torch.func.jvp(call("generic"), tuple(inputs), tuple(tangents))
    got = torch.func.jvp(call("auto"), tuple(inputs), tuple(tangents))
    assert float(want[1].abs().max()) > 1e-3
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)

def test_from_torch_takes_kdim_and_vdim_and_the_layer_takes_three_inputs(cross):
    _, mod, _ = cross
    torch.manual_seed(1)
    m = nn.MultiheadAttention(4, 2, kdim=3, vdim=5, dtype=F64).eval()
    layer = mod.CrossAttentionEvolution.from_torch(m)
    assert (layer.N, layer.d, layer.C_k, layer.C_v) == (2, 2, 3, 5)
    (x, xk, xv), _ = _cross_inputs(seed=2)
    want = m(x.permute(2, 0, 1), xk.permute(2, 0, 1), xv.permute(2, 0, 1), need_weights=False)[0].permute(1, 2, 0)
    torch.testing.assert_close(layer(x, xk, xv), want, rtol=1e-12, atol=1e-12)
    same = nn.MultiheadAttention(4, 2, bias=False, dtype=F64).eval()   # kdim = vdim = E: the packed weight
    y = torch.randn(2, 4, 6, dtype=F64)
    want = same(x.permute(2, 0, 1), y.permute(2, 0, 1), y.permute(2, 0, 1), need_weights=False)[0].permute(1, 2, 0)
    torch.testing.assert_close(mod.CrossAttentionEvolution.from_torch(same)(x, y, y), want, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="add_bias_kv=False"):
        mod.CrossAttentionEvolution.from_torch(nn.MultiheadAttention(4, 2, add_bias_kv=True))


def test_an_unbatched_call_takes_every_input_without_the_batch(cross):
    _, mod, _ = cross
    fn = mod.cross_attention_evolution
    inputs, w = _cross_inputs()
    batched = fn(*inputs, *w, **SIZES)
    one = fn(*(t[1] for t in inputs), *w, **SIZES)
    torch.testing.assert_close(one, batched[1], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=r"xv has no batch axis .* but x has 3 dimensions .*pass every input with"):
        fn(inputs[0], inputs[1][0], inputs[2][0], *w, **SIZES)
    with pytest.raises(ValueError, match=r"x must have 3 dimensions, or 2 without the batch when xv has none"):
        fn(inputs[0][0], *inputs[1:], *w, **SIZES)


@pytest.mark.parametrize("which, change, words", [
    (1, lambda t: t[:1], r"axis 0 of xk must have length B = 2; got shape \(1, 3, 4\)"),
    (0, lambda t: t[:1], r"axis 0 of x must have length B = 2"),
    (1, lambda t: t[:, :2], r"axis 1 of xk must have length C_k = 3"),
    (1, lambda t: t[..., :3], r"axis 2 of xk must have length S = 4"),
    (0, lambda t: t[:, :3], r"axis 1 of x must have length N·d = 4"),
    (1, lambda t: t.float(), r"xk is torch.float32 on cpu but xv is torch.float64 on cpu"),
    (0, lambda t: t.unsqueeze(0), r"x must have 3 dimensions"),
    (0, lambda t: t.tolist(), r"x must be a torch.Tensor, not list"),
    (2, lambda t: t[..., :0], r"xv has length 0 on axis 2"),
])
def test_every_input_gets_a_clear_error(cross, which, change, words):
    _, mod, _ = cross
    inputs, w = _cross_inputs()
    inputs[which] = change(inputs[which])
    with pytest.raises((ValueError, TypeError), match=words):
        mod.cross_attention_evolution(*inputs, *w, **SIZES)


@pytest.mark.parametrize("name", ["input_gated_conv1d", "input_weighted_conv1d"])
def test_windowed_kernels_reading_a_second_input_pass_every_check(name):
    """K reads g at the output position (a gate) or at the window's positions (a weight): the generic path, the
    CPU kernels and the CUDA source built for the host all equal the reference, gradients to x and g included."""
    report = check_operator(str(DATA / f"{name}.py"), kernels=("device", "emulated"), variants=1)
    assert report.ok, report.text()
    text = report.text()
    assert report.plan.inputs == ["x", "g"]
    assert "w.r.t. x, g, W" in text and "kernels" in text and "float64 generic" in text


def test_the_check_fails_when_generated_code_swaps_two_inputs():
    """The check is live for the other input: code that reads x where the proof reads g (and g where it reads x)
    is wrong and reported."""
    path = str(DATA / "input_gated_conv1d.py")
    op = catalogue.load(path)
    plan = make_plan(op.proof().check())
    src = render_torch(plan, None)
    swapped = src.replace("def input_gated_conv1d_evolution(x, g,", "def input_gated_conv1d_evolution(g, x,", 1)
    assert swapped != src
    report = check_operator(path, source=swapped, gradients=False, variants=1)
    assert not report.ok


@pytest.fixture(scope="module")
def sample_bias():
    cp = catalogue.checked("mhsa_sample_bias")
    plan = make_plan(cp)
    mod = load_source(render_torch(plan, cp.operator.torch_binding), "mhsa_sample_bias", cp)
    return plan, mod, cp.operator


def test_a_per_sample_bias_input_is_sdpa_s_attn_mask_without_a_copy(sample_bias):
    plan, mod, op = sample_bias
    assert plan.inputs == ["x", "attn_mask"] and plan.path == "sdpa" and plan.finite_inputs == ["attn_mask"]
    body = render_torch(plan, op.torch_binding).split("def _sdpa(")[1].split("\ndef ")[0]
    assert body.count("F.scaled_dot_product_attention(") == 1 and "attn_mask=mask" in body
    assert ".contiguous()" not in body and "clone" not in body
    g = torch.Generator().manual_seed(3)
    x = torch.randn(3, 4, 5, generator=g, dtype=F64)
    bias = torch.randn(3, 1, 5, 5, generator=g, dtype=F64)                 # one table per sample, broadcast over heads
    w = [torch.randn(s, generator=g, dtype=F64) * 0.5 for s in ((4, 4), (4,)) * 4]
    tok = x.transpose(1, 2)
    q, k, v = (F.linear(tok, w[i], w[i + 1]).unflatten(-1, (2, 2)).transpose(1, 2) for i in (0, 2, 4))
    z = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    want = F.linear(z.transpose(1, 2).flatten(2), w[6], w[7]).transpose(1, 2)
    for path in ("auto", "generic"):
        got = mod.mhsa_sample_bias_evolution(x, bias.expand(3, 2, 5, 5), *w, N=2, d=2, path=path)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=r"axis 0 of attn_mask must have length B = 3"):
        mod.mhsa_sample_bias_evolution(x, bias.expand(3, 2, 5, 5)[:2], *w, N=2, d=2)
    with pytest.raises(ValueError, match="every entry of attn_mask must be finite"):
        mod.mhsa_sample_bias_evolution(x, bias.expand(3, 2, 5, 5).masked_fill(bias < -1, float("-inf")), *w, N=2, d=2)
    huge = torch.full((3, 2, 5, 5), 1e308, dtype=F64)                      # finite entries whose sum overflows: taken
    assert torch.isfinite(mod.mhsa_sample_bias_evolution(x, huge, *w, N=2, d=2, path="generic")).all()


def test_a_premix_keeps_the_native_output_bias():
    """v = W·x first (O ≠ C over a global Ω), then the spatial map: the bias[o] the proof leaves outside the kernel
    is still added (review finding: the premix path returned before the native bias was set, so it was dropped)."""
    report = check_operator(str(DATA / "premix_bias_gcn.py"), variants=1)
    assert report.ok, report.text()
    assert report.plan.path == "premix-global" and report.plan.bias == "bias"


@pytest.mark.parametrize("name, words", [
    ("xc", "the tensor 'xc' has the name of a local of the generated _generic()"),
    ("windows", "the tensor 'windows' has the name of a local of the generated _generic()"),
    ("F", "the tensor 'F' has the name of a module-level name of the generated code"),
    ("torch", "the tensor 'torch' has the name of a module-level name"),
    ("float", "the tensor 'float' has the name of a Python builtin"),
    ("weight", "duplicate argument 'weight'"),
    ("path", "duplicate argument 'path'"),
    ("self", "duplicate argument 'self'"),
])
def test_an_input_named_like_a_name_of_the_generated_code_is_refused(tmp_path, name, words):
    """An input is passed on by name: a generated local, helper, import or builtin of that name would shadow it (the
    module computing something else), an argument of that name would not compile: codegen refuses, naming it."""
    from evosym.errors import EvosymError
    text = (DATA / "input_gated_conv1d.py").read_text(encoding="utf-8")
    text = text.replace('g = TensorDecl("g"', f'g = TensorDecl("{name}"').replace('t["g"]', f't["{name}"]')
    path = tmp_path / f"gate_{name}.py"
    path.write_text(text, encoding="utf-8")
    op = catalogue.load(str(path))
    plan = make_plan(op.proof().check())
    with pytest.raises(EvosymError, match=words.replace("(", r"\(").replace(")", r"\)")):
        render_torch(plan, None)


@pytest.mark.parametrize("name, words", [
    ("xc", "the tensor 'xc' has the name of a local of the generated _generic()"),
    ("windows", "the tensor 'windows' has the name of a local of the generated _generic()"),
    ("F", "the tensor 'F' has the name of a module-level name of the generated code"),
    ("sum", "the tensor 'sum' has the name of a Python builtin"),
])
def test_a_parameter_named_like_a_name_of_the_generated_code_is_refused(tmp_path, name, words):
    """A parameter is an argument of the generated functions too (its torch name): a generated local of that name
    rebinds it (review finding: a parameter ``g`` read after the group index ``g = torch.arange(…)`` computed
    something else), so codegen refuses it as it refuses such an input."""
    from evosym.errors import EvosymError
    text = (DATA / "input_gated_conv1d.py").read_text(encoding="utf-8").replace('torch_name="weight"',
                                                                                 f'torch_name="{name}"')
    path = tmp_path / f"gate_param_{name}.py"
    path.write_text(text, encoding="utf-8")
    plan = make_plan(catalogue.load(str(path)).proof().check())
    with pytest.raises(EvosymError, match=words.replace("(", r"\(").replace(")", r"\)")):
        render_torch(plan, None)


def test_a_size_read_from_another_input_is_checked_and_mixed_batches_are_named(cross):
    _, mod, _ = cross
    fn = mod.cross_attention_evolution
    (x, xk, xv), w = _cross_inputs()
    with pytest.raises(ValueError, match=r"x has length 0 on axis 2: its size L is at least 1"):
        fn(x[..., :0], xk, xv, *w, **SIZES)
    with pytest.raises(ValueError, match=r"xv has no batch axis \(shape \(5, 4\)\) but x has 3 dimensions"):
        fn(x, xk, xv[0], *w, **SIZES)


def test_key_and_value_equal_to_the_query_but_other_tensors_get_their_own_gradients():
    """Routing decides self-attention by identity: equal copies are cross-attention's inputs, with gradients."""
    from evosym.coverage.attention import mha_route, multihead_attention
    torch.manual_seed(0)
    m = nn.MultiheadAttention(4, 2, batch_first=True, dtype=F64).eval()
    q = torch.randn(2, 3, 4, dtype=F64, requires_grad=True)
    k, v = (q.detach().clone().requires_grad_() for _ in range(2))
    assert mha_route(m, q, k, v, need_weights=False).operator == "cross_attention"
    assert mha_route(m, q, q, q, need_weights=False).operator == "mhsa"
    ours = torch.autograd.grad(multihead_attention(m, q, k, v, need_weights=False)[0].sum(), [q, k, v])
    theirs = torch.autograd.grad(m(q, k, v, need_weights=False)[0].sum(), [q, k, v])
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
