"""Softmax attention lowered to F.scaled_dot_product_attention (evosym.codegen.sdpa): which kernels qualify, that
the generated SDPA path equals the generic lowering of the same proof (forward and gradients), and that
look-alikes (another mask, a window that misses keys, other channel pairings) keep their generic lowering."""

from __future__ import annotations

import dataclasses
import re
import types
from pathlib import Path

import pytest
import sympy as sp
import torch
import torch.autograd.forward_ad as fwAD

from evosym import catalogue
from evosym.codegen import lowering as L
from evosym.codegen.check import load_source
from evosym.codegen.plan import make_plan
from evosym.codegen.render import render_torch
from evosym.codegen.sdpa import _causal, _channel_bias, _covers, _logits, _values
from evosym.facts.kernel import kernel_facts
from evosym.ir.neighbourhood import WindowAxis
from evosym.ir.symbols import InRange
from evosym.ir.tensors import inline_unshaped

SDPA = ("mhsa", "mhsa_bias", "gqa_attention", "mhsa_causal", "gqa_causal", "swin_attention")
SIZES = {"mhsa": dict(N=2, d=3), "mhsa_bias": dict(N=2, d=3, L=5), "gqa_attention": dict(G=2, N_kv=2, d=2),
         "mhsa_causal": dict(N=2, d=3), "gqa_causal": dict(G=2, N_kv=2, d=2),
         "swin_attention": dict(N=2, d=2, M=2, S=1)}
TOKENS = {"swin_attention": dict(T_h=2, T_w=3)}   # (4, 6) positions: tiles of 2


@pytest.mark.parametrize("name", SDPA)
def test_softmax_attention_is_lowered_to_sdpa(name):
    plan = make_plan(catalogue.checked(name))
    assert plan.path == "sdpa" and type(plan.lowering) is L.Sdpa
    assert "scaled_dot_product_attention" in plan.reason and plan.sdpa["causal"] == name.endswith("causal")
    assert (plan.sdpa["kv"] is not None) == name.startswith("gqa")
    assert bool(plan.sdpa["bias"]) == (name in ("mhsa_bias", "swin_attention"))
    assert plan.sdpa["tiled"] == (name == "swin_attention") == ("tile" in plan.reason)
    assert make_plan(catalogue.checked(name), force_generic=True).sdpa is None


@pytest.mark.parametrize("name", ["local_attention", "neighborhood_attention", "involution",
                                  "cordonnier_attention", "conv2d"])
def test_other_kernels_keep_their_lowering(name):
    plan = make_plan(catalogue.checked(name))
    assert plan.sdpa is None and plan.path != "sdpa"


def _module(name):
    cp = catalogue.checked(name)
    plan = make_plan(cp)
    mod = load_source(render_torch(plan, cp.operator.torch_binding), name, cp)
    return plan, getattr(mod, plan.func_name), cp.operator


def _inputs(op, sizes, tokens, dtype, seed=0):
    """x and the parameters (in the function's order) at ``sizes`` with ``tokens`` positions, random."""
    by_name = {str(s): s for s, _ in op.sizes}
    axes = ("H", "W") if len(tokens) == 2 else ("L",)
    given = TOKENS.get(op.name, dict(zip(axes, tokens)))
    env = {by_name[k]: v for k, v in {"B": 2, **given, **sizes}.items()}
    shapes = op.valid_shapes_at(env)
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shapes[t.name], generator=g, dtype=dtype) * (1 if t.name == op.value else 0.5)
            for t in op.tensors if t.name == op.value or t.role == "parameter"]


@pytest.mark.parametrize("name", SDPA)
def test_the_sdpa_path_equals_the_generic_lowering_with_gradients(name):
    plan, fn, op = _module(name)
    tokens = (3, 2) if len(op.position) == 2 else (5,)
    args = [a.requires_grad_() for a in _inputs(op, SIZES[name], tokens, torch.float64)]
    auto = fn(*args, **SIZES[name])
    generic = fn(*args, **SIZES[name], path="generic")
    torch.testing.assert_close(auto, generic, rtol=1e-10, atol=1e-10)
    w = torch.randn_like(auto)
    ga = torch.autograd.grad((auto * w).sum(), args)
    gg = torch.autograd.grad((generic * w).sum(), args)
    for a, b in zip(ga, gg):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("name", SDPA)
def test_forward_mode_ad_of_the_default_path_is_the_generic_paths(name, monkeypatch):
    """SDPA's CPU kernels have no forward-AD rule (NotImplementedError from jvp of every SDPA operator's default path,
    until 2026-12-05): under forward-mode AD path="auto" runs the generic path; outside it, SDPA again."""
    plan, fn, op = _module(name)
    tokens = (3, 2) if len(op.position) == 2 else (5,)
    args = _inputs(op, SIZES[name], tokens, torch.float64, seed=2)
    tangents = [torch.randn_like(a) for a in args]
    calls = []
    sdpa = torch.nn.functional.scaled_dot_product_attention
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention",
                        lambda *a, **k: calls.append(1) or sdpa(*a, **k))
    call = lambda path: (lambda *a: fn(*a, **SIZES[name], path=path))
    want = torch.func.jvp(call("generic"), tuple(args), tuple(tangents))
    assert float(want[1].abs().max()) > 1e-3 and not calls
    for which in ([0], list(range(1, len(args))), list(range(len(args)))):   # x alone, the weights alone, all
        t = [tangents[k] if k in which else torch.zeros_like(a) for k, a in enumerate(args)]
        ref = torch.func.jvp(call("generic"), tuple(args), tuple(t))[1]
        got = torch.func.jvp(call("auto"), tuple(args), tuple(t))
        torch.testing.assert_close(got[0], want[0], rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(got[1], ref, rtol=1e-10, atol=1e-10)
    with fwAD.dual_level():   # the other forward-mode API
        out = call("auto")(*[fwAD.make_dual(a, t) for a, t in zip(args, tangents)])
        torch.testing.assert_close(fwAD.unpack_dual(out).tangent, want[1], rtol=1e-10, atol=1e-10)
    jac = torch.func.jacfwd(lambda x0: call("auto")(x0, *args[1:]))(args[0])   # jvp under vmap
    torch.testing.assert_close(jac, torch.func.jacrev(lambda x0: call("generic")(x0, *args[1:]))(args[0]),
                               rtol=1e-9, atol=1e-10)
    assert not calls
    torch.testing.assert_close(call("auto")(*args), want[0], rtol=1e-10, atol=1e-10)   # outside: SDPA again
    assert calls


@pytest.mark.parametrize("name", ["mhsa", "mhsa_causal"])
def test_the_sdpa_path_in_float32_and_float16(name):
    plan, fn, op = _module(name)
    tokens = (4, 3) if len(op.position) == 2 else (5,)
    args = _inputs(op, SIZES[name], tokens, torch.float64, seed=1)
    want = fn(*args, **SIZES[name], path="generic")
    for dtype, tol in ((torch.float32, 1e-5), (torch.float16, 2e-2)):
        got = fn(*[a.to(dtype) for a in args], **SIZES[name])
        assert got.dtype == dtype
        torch.testing.assert_close(got.double(), want, rtol=tol, atol=tol)


def test_the_generated_sdpa_call_builds_no_logits():
    plan, fn, op = _module("mhsa")
    src = render_torch(plan, op.torch_binding)
    body = src.split("def _sdpa(")[1].split("\ndef ")[0]
    assert "F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=" in body
    assert "_kernel_tensor(" not in body   # projections on the tokens, one F.linear with the weights side by side
    assert "F.linear(xt, torch.cat((q_weight, k_weight, v_weight)), in_bias).split(" in body
    assert "if not sdpa:" not in src   # no definition is computed for this path


@pytest.mark.parametrize("name", ["mhsa", "mhsa_bias", "mhsa_causal", "gqa_attention", "gqa_causal"])
def test_the_in_projections_are_one_linear_and_the_output_bias_is_the_linear_bias(name):
    """v = W_V·x is recognised in the channel map (grouped-query attention: W_V at o's key head, so the key and
    value heads stay N_kv and SDPA's enable_gqa shares them); β = b_O + W_O·b_V is the output projection's bias."""
    plan, fn, op = _module(name)
    body = render_torch(plan, op.torch_binding).split("def _sdpa(")[1].split("\ndef ")[0]
    assert plan.sdpa["value_projection"]["weight"] == "v_weight" and plan.sdpa["out_bias"] is not None
    assert "in-projections as one F.linear" in plan.reason
    assert "torch.cat((q_weight, k_weight, v_weight))" in body and "y = y + beta" not in body
    assert re.search(r"y = F\.linear\(y, [^\n]*, ob\d+\.expand\(", body)   # the bias argument of the output projection
    grouped = name.startswith("gqa")
    assert ("enable_gqa=True" in body) == grouped == ("enable_gqa" in plan.reason)
    assert "index_select" not in body


@pytest.mark.parametrize("sizes", [dict(G=1, N_kv=3, d=2), dict(G=3, N_kv=1, d=2), dict(G=2, N_kv=2, d=1)])
@pytest.mark.parametrize("name", ["gqa_attention", "gqa_causal"])
def test_shared_key_heads_at_other_group_sizes(name, sizes):
    """enable_gqa against the generic lowering (which reads W_V and the keys at ⌊h/G⌋ on its grid), one key head,
    one group, one channel per head, with gradients."""
    plan, fn, op = _module(name)
    args = [a.requires_grad_() for a in _inputs(op, sizes, (5,), torch.float64, seed=2)]
    auto, generic = fn(*args, **sizes), fn(*args, **sizes, path="generic")
    torch.testing.assert_close(auto, generic, rtol=1e-10, atol=1e-10)
    for a, b in zip(torch.autograd.grad(auto.sum(), args), torch.autograd.grad(generic.sum(), args)):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("path", ["auto", "generic"])
def test_one_key_value_channel_trains_under_inductor(path):
    """N_kv·d = 1: the reads of W_V, b_V and the keys at ⌊h/G⌋ were gathers, and inductor's C++ backward asserted on
    their scatter (``index.is_vec``, found by an adversarial sweep); they are views over digits
    (evosym.codegen.digits). Compiled output and gradients equal eager's."""
    sizes = dict(G=2, N_kv=1, d=1)
    from evosym.coverage.modules import generated
    cp = catalogue.checked("gqa_attention")
    plan, op = make_plan(cp), cp.operator
    module = generated("gqa_attention")   # (the committed module: torch.compile imports it by its name)
    fn, body = getattr(module, plan.func_name), Path(module.__file__).read_text()
    assert "//" not in body.split("def _sdpa(")[1] and "digits" in body
    args = [a.requires_grad_() for a in _inputs(op, sizes, (5,), torch.float64, seed=3)]
    torch._dynamo.reset()
    compiled = torch.compile(lambda *a: fn(*a, **sizes, path=path), fullgraph=True)
    got, want = compiled(*args), fn(*args, **sizes, path=path)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    for a, b in zip(torch.autograd.grad(got.square().sum(), args), torch.autograd.grad(want.square().sum(), args)):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_the_value_projection_pattern_refuses_lookalikes():
    """Only W[o, c] (W a (heads·d, C) parameter) or, for grouped queries, W at o's key head is a value projection;
    any other channel map stays v = M·x computed on its grid (still exact: the path is checked numerically)."""
    for name in ("mhsa", "gqa_attention"):
        cp = catalogue.checked(name)
        facts, plan = kernel_facts(cp), make_plan(cp)
        form, op, a = facts.windowed, cp.operator, plan.sdpa
        mix = plan.premix_factor[0]
        o, c = form.out_channel, form.channel
        d = next(s for s, _ in op.sizes if str(s) == "d")
        heads = sp.sympify(next(iter(facts.softmaxes.values())) and
                           facts.lowering_definitions[next(iter(facts.softmaxes.values())).logits].shape[1])
        parts = {"kv": None if a["kv"] is None else next(s for s, _ in op.sizes if str(s) == "G"),
                 "key_heads": heads if a["kv"] is None else next(s for s, _ in op.sizes if str(s) == "N_kv")}
        pyx = str
        assert _values(mix, form, op, d, parts, heads, pyx) is not None
        W = mix.base
        q = next(t for t in op.tensors if t.role == "parameter" and len(t.shape) == 2 and t.name != str(W.label))
        bias = next(t for t in op.tensors if t.role == "parameter" and len(t.shape) == 1)
        variants = {
            "a row shifted by one": W[mix.indices[0] + 1, c],
            "rows and columns swapped": W[c, mix.indices[0]],
            "the column at the output channel": W[mix.indices[0], o],
            "a scaled read": 2 * mix,
            "a sum of two reads": mix + W[mix.indices[0], c],
            "a vector read": sp.IndexedBase(bias.name)[o],
            "a three-index read": sp.IndexedBase(str(W.label))[mix.indices[0], c, 0],
        }
        if a["kv"] is not None:
            variants["every query head its own row"] = W[o, c]
            variants["a row map of another head size"] = W[mix.indices[0].subs(d, d + 1), c]
            variants["the key head of another group"] = W[mix.indices[0].subs(parts["kv"], parts["kv"] + 1), c]
        else:
            variants["another parameter of the same shape, read at o's head pair"] = \
                sp.IndexedBase(q.name)[d * sp.floor(sp.floor(o / d) / 2) + o - d * sp.floor(o / d), c]
        for what, changed in variants.items():
            assert _values(changed, form, op, d, parts, heads, pyx) is None, (name, what)


def test_only_a_per_channel_output_bias_goes_into_the_output_projection():
    cp = catalogue.checked("mhsa")
    facts, plan = kernel_facts(cp), make_plan(cp)
    form, op = facts.windowed, cp.operator
    tensors = {t.name: (t.name, [str(d) for d in t.shape], t.shape) for t in op.tensors}
    sizes = {s: str(s) for s, _ in op.sizes}
    assert _channel_bias(form, plan, tensors, sizes) is not None
    x = sp.IndexedBase(op.value)
    b, o, pos = form.batch, form.out_channel, form.position
    for what, bias in {"a bias read from the input": form.bias + x[(b, o) + tuple(pos)],
                       "a bias per position": form.bias + pos[0],
                       "a bias per sample": form.bias * b}.items():
        assert _channel_bias(dataclasses.replace(form, bias=bias), plan, tensors, sizes) is None, what
    assert _channel_bias(dataclasses.replace(form, bias=sp.Integer(0)), plan, tensors, sizes) is None


# ---- look-alikes that must not be lowered to SDPA -------------------------------------------------------------

def _mhsa_parts(name="mhsa_causal"):
    cp = catalogue.checked(name)
    facts = kernel_facts(cp)
    plan = make_plan(cp, force_generic=True)
    defs = facts.lowering_definitions
    sm = next(iter(facts.softmaxes.values()))
    ell = defs[sm.logits]
    return facts, plan, defs, sm, ell


def _tensors(defs, op):
    out = {t.name: (t.name, None, t.shape) for t in op.tensors}
    out.update({n: (f"def_{n}", None, d.shape) for n, d in defs.items() if d.shape is not None})
    return out


def test_the_logits_pattern_refuses_other_channel_pairings_and_scales():
    facts, plan, defs, sm, ell = _mhsa_parts("mhsa")
    op = facts.operator
    tensors = _tensors(defs, op)
    b, h, *rest = ell.params
    pos, keys = rest[:2], rest[2:]
    d = next(s for s, _ in op.sizes if str(s) == "d")
    body = inline_unshaped(ell.body, defs)
    assert _logits(body, b, h, pos, keys, d, tensors, ell, {}) is not None
    summed = next(iter(body.atoms(sp.Sum)))
    e = summed.limits[0][0]
    qry, key = sorted((r for r in summed.function.atoms(sp.Indexed)), key=lambda r: str(r.base))[::-1]
    variants = {
        "key shifted by one channel": body.xreplace({key: key.base[(key.indices[0], key.indices[1] + 1) + key.indices[2:]]}),
        "key read at the query's position": body.xreplace({key: key.base[key.indices[:2] + tuple(pos)]}),
        "query at another head": body.xreplace({qry: qry.base[(qry.indices[0], qry.indices[1] + d) + qry.indices[2:]]}),
        "a scale that reads the data": body * sp.exp(qry.subs(e, 0)),
        "a term with the summed index": body + summed.function,
        "the sum over half the channels": body.xreplace({summed: sp.Sum(summed.function, (e, 0, d / 2 - 1))}),
        "the square of the dot product": body ** 2,
        "a product of three reads": body.xreplace({summed: sp.Sum(summed.function * qry, summed.limits[0])}),
    }
    for what, changed in variants.items():
        assert _logits(changed, b, h, pos, keys, d, tensors, ell, {}) is None, what


def test_the_causal_mask_pattern():
    facts, plan, defs, sm, ell = _mhsa_parts()
    i, = ell.params[2:3]
    m, = ell.params[3:]
    assert _causal(sm.mask, [i], [m], ell)
    L = ell.shape[2]
    for what, mask in {"strictly causal (p itself hidden: an empty first row)": InRange(m, 0, i - 1),
                       "anti-causal": InRange(m, i, L - 1),
                       "a lower bound that may be positive": InRange(m, 1, i),
                       "a band": InRange(m, i - 2, i),
                       "two brackets": InRange(m, 0, i) * InRange(m, 0, 3),
                       "the query bounded instead": InRange(i, 0, m)}.items():
        assert not _causal(mask, [i], [m], ell), what
    wider = dataclasses.replace(ell, shape=(ell.shape[0], ell.shape[1], ell.shape[2], ell.shape[3] + 1))
    assert not _causal(sm.mask, [i], [m], wider), "more keys than queries"


def test_a_window_must_hold_every_key_the_mask_shows():
    facts, plan, defs, sm, ell = _mhsa_parts()
    form = facts.windowed
    axis = form.omega.axes[0]
    L = axis.length
    assert _covers(form, True, L)

    def with_axis(**changes):
        return dataclasses.replace(form, omega=dataclasses.replace(form.omega, axes=(dataclasses.replace(axis, **changes),)))

    for what, changed in {"a window one key short": with_axis(kernel=L - 1, padding=L - 2),
                          "stride 2": with_axis(stride=2), "dilation 2": with_axis(dilation=2),
                          "a window that wraps": with_axis(wrap=True), "a clamped window": with_axis(clamp=True),
                          "padding short of the first key": with_axis(padding=L - 2)}.items():
        assert not _covers(changed, True, L), what
    assert not _covers(form, False, L), "no mask: a window is not every key"
    assert not _covers(form, True, L + 1), "an output longer than the window's reach"
    assert isinstance(axis, WindowAxis)


def test_a_mutated_kernel_is_not_lowered_to_sdpa():
    """The canary hook replaces the proved kernel: a transposed softmax read is no longer attention over the keys."""
    cp = catalogue.checked("mhsa_bias")

    def transpose(expr):
        reads = [r for r in expr.atoms(sp.Indexed) if str(r.base) == "attn"]
        assert reads
        return expr.xreplace({r: r.base[r.indices[:2] + r.indices[2:][::-1]] for r in reads})

    plan = make_plan(cp, mutate_kernel=transpose)
    assert plan.sdpa is None and plan.path != "sdpa"


def test_a_tiled_window_is_partitioned_only_where_the_partition_is_exact():
    from evosym.codegen.sdpa import recognise_tiled
    cp = catalogue.checked("swin_attention")
    facts, plan = kernel_facts(cp), make_plan(cp)
    pyx = str
    assert recognise_tiled(plan, facts, pyx) is not None
    assert recognise_tiled(dataclasses.replace(plan, attention=None), facts, pyx) is None, "no fused attention"
    assert recognise_tiled(dataclasses.replace(plan, tiled=False), facts, pyx) is None, "not a tiled window"
    form = facts.windowed
    for what, change in {"no wrap": dict(wrap=False), "fewer outputs than inputs": dict(length=form.omega.axes[0].length + 1)}.items():
        axes = tuple(dataclasses.replace(a, **change) for a in form.omega.axes)
        changed = types.SimpleNamespace(operator=facts.operator,
                                        windowed=dataclasses.replace(form, omega=dataclasses.replace(form.omega, axes=axes)))
        assert recognise_tiled(plan, changed, pyx) is None, what
    with pytest.raises(ValueError, match="stride and dilation 1"):   # (the IR itself has no strided tiles to lower)
        dataclasses.replace(form.omega.axes[0], stride=2)


def _swin_equals_generic(fn, op, shift):
    sizes = dict(SIZES["swin_attention"], S=shift)
    args = [a.requires_grad_() for a in _inputs(op, sizes, (), torch.float64, seed=4)]
    auto, generic = fn(*args, **sizes), fn(*args, **sizes, path="generic")
    torch.testing.assert_close(auto, generic, rtol=1e-10, atol=1e-10)
    w = torch.randn_like(auto)
    for a, b in zip(torch.autograd.grad((auto * w).sum(), args), torch.autograd.grad((generic * w).sum(), args)):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("shift", [0, 1])
def test_tiles_are_cut_from_x_once_and_projected_by_one_linear(shift):
    """Swin's queries, keys and values are 1×1 maps of x: x is gathered into tiles once (channels last) and the
    three projections are one F.linear on the tiles; β (bias table and shift mask) is SDPA's attn_mask per tile."""
    from evosym.codegen.sdpa import recognise_tiled
    plan, fn, op = _module("swin_attention")
    assert plan.sdpa["projections"] == [("query_weight", None), ("key_weight", None)]
    assert plan.sdpa["value_projection"]["weight"] == "value_weight" and plan.sdpa["scale"] != "1"
    body = render_torch(plan, op.torch_binding).split("def _sdpa(")[1].split("\ndef ")[0]
    assert "_kernel_tensor(" not in body and "F.linear(_tiles(x, order, math.prod(K)), torch.cat((query_weight, key_weight, value_weight))" in body
    _swin_equals_generic(fn, op, shift)
    cp = catalogue.checked("swin_attention")
    assert recognise_tiled(plan, kernel_facts(cp), str)["projections"] is None   # no definitions given: not recognised


@pytest.mark.parametrize("shift", [0, 1])
def test_tiles_of_queries_and_keys_that_are_not_projections(shift, monkeypatch):
    """Queries or keys that are not recognised as linear maps of x: the kernel tensor's operands (queries scaled by
    α) and v = M·x are gathered into tiles instead; the same result and gradients as the generic lowering."""
    from evosym.codegen import sdpa as sdpa_module
    monkeypatch.setattr(sdpa_module, "_projection", lambda d, op, form: None)
    cp = catalogue.checked("swin_attention")
    plan = make_plan(cp)
    assert plan.path == "sdpa" and plan.sdpa["tiled"] and plan.sdpa["projections"] is None and plan.sdpa["scale"] == "1"
    src = render_torch(plan, cp.operator.torch_binding)
    assert "_kernel_tensor(" in src.split("def _sdpa(")[1].split("\ndef ")[0]
    fn = getattr(load_source(src, "swin_attention", cp), plan.func_name)
    _swin_equals_generic(fn, cp.operator, shift)


DATA = Path(__file__).resolve().parent / "data" / "operators"


def test_a_causal_mask_with_a_logit_bias_is_folded_into_the_bias():
    """SDPA refuses attn_mask together with is_causal (with a bias that requires grad, at least on the CPU): the
    causal mask is −∞ above the diagonal of β instead, and β's gradient flows."""
    cp = catalogue.checked(str(DATA / "sdpa_causal_bias.py"))
    plan = make_plan(cp)
    assert plan.path == "sdpa" and plan.sdpa["causal"] and plan.sdpa["bias"]
    assert "−∞ above the diagonal" in plan.reason and "is_causal" not in plan.reason
    src = render_torch(plan, cp.operator.torch_binding)
    assert "is_causal=True" not in src and ".triu(1), float(\"-inf\")" in src
    fn = getattr(load_source(src, cp.operator.name, cp), plan.func_name)
    env = {s: {"B": 2, "N": 2, "d": 3, "L": 5}[str(s)] for s, _ in cp.operator.sizes}
    shapes = cp.operator.valid_shapes_at(env)
    g = torch.Generator().manual_seed(3)
    args = [torch.randn(shapes[t.name], generator=g, dtype=torch.float64, requires_grad=True)
            for t in cp.operator.tensors if t.name == cp.operator.value or t.role == "parameter"]
    sizes = {str(s): v for s, v in env.items() if str(s) in plan.size_names}
    auto, generic = fn(*args, **sizes), fn(*args, **sizes, path="generic")
    torch.testing.assert_close(auto, generic, rtol=1e-10, atol=1e-10)
    for a, b in zip(torch.autograd.grad(auto.sum(), args), torch.autograd.grad(generic.sum(), args)):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_fewer_outputs_than_queries_is_not_sdpa():
    """An output that keeps the first L − 1 tokens: SDPA would give L rows; the premix lowering stays, and checks."""
    from evosym.codegen.check import check_operator
    path = str(DATA / "sdpa_short_out.py")
    plan = make_plan(catalogue.checked(path))
    assert plan.sdpa is None and plan.path != "sdpa"
    report = check_operator(path, variants=1)
    assert report.ok, report.text()


def test_a_logit_term_read_from_the_input_is_a_per_sample_mask():
    """β = x[b, 0, i]·x[b, 0, m] (per sample) with the causal mask: computed from x on the SDPA path, checked."""
    from evosym.codegen.check import check_operator
    path = str(DATA / "sdpa_data_bias.py")
    plan = make_plan(catalogue.checked(path))
    assert plan.path == "sdpa" and plan.sdpa["bias"]["shape"][0] != "1" and plan.sdpa["causal"]
    report = check_operator(path, variants=1)
    assert report.ok, report.text()


def test_a_projection_bias_longer_than_its_rows_is_not_an_in_projection_bias():
    """bQ declared (N·d + 1,) and read as bQ[c]: F.linear(x, W_Q, bQ) would not line up (a raw size error); the
    premix lowering stays, and checks against the reference (review finding)."""
    from evosym.codegen.check import check_operator
    path = str(DATA / "sdpa_long_query_bias.py")
    plan = make_plan(catalogue.checked(path))
    assert plan.sdpa is None and plan.path != "sdpa"
    report = check_operator(path, variants=1)
    assert report.ok, report.text()
