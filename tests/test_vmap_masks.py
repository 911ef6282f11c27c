"""torch.func.vmap over the inputs a premise check reads (masks declared indicators, biases declared finite): the
checks read the values of every mapped slice at once (vmap refused the checks' branches with a raw RuntimeError,
found by an adversarial sweep), each slice's result equals the module's call on that slice, and a slice that breaks
the premise is still refused, whichever axis is mapped and however deep the transforms are nested."""

from __future__ import annotations

import pytest
import torch

from evosym import catalogue
from evosym.codegen.check import _tensors
from evosym.codegen.generate import committed_dir
from evosym.codegen.plan import make_plan
from evosym.codegen.torchexpr import py_name
from evosym.coverage.modules import generated
from evosym.ir.symbols import size_value

F64 = torch.float64


def _walk():
    """One walk over the committed modules: (operator, the premises its inputs carry: "finite", "indicator" and "row"
    (a key seen in every row)) for those with checked inputs, and the SDPA operators whose attn_mask carries a bias
    (from a parameter or an input: it may record a gradient)."""
    checked, biased = [], []
    for p in sorted(committed_dir().glob("*.py")):
        plan = make_plan(catalogue.checked(p.stem))
        kinds = (("finite",) if plan.finite_inputs else ()) + (("indicator", "row") if plan.indicator_inputs else ())
        if kinds:
            checked.append((p.stem, kinds))
        if plan.sdpa and plan.sdpa["bias"]:
            biased.append(p.stem)
    return checked, biased


CHECKED, BIASED = _walk()
NAMES = [name for name, _ in CHECKED]


def _sizes(op, plan, env):
    """The module's sizes bound at grid point ``env``, by their Python names."""
    return {n: size_value(sym, env) for sym, _ in op.sizes for n in [py_name(sym)] if n in dict(plan.module_sizes)}


def _setup(name):
    """(fn of the plan's inputs, the module sizes bound, the inputs' names, two draws of every input, the params)."""
    cp = catalogue.checked(name)
    op, plan = cp.operator, make_plan(cp)
    fn = getattr(generated(name), plan.func_name)
    env = op.grid[0]
    draws = [_tensors(op, env, F64, "cpu", torch.Generator().manual_seed(seed)) for seed in (0, 1)]
    params = [draws[0][ir] for ir, _, _, _ in plan.params]
    sizes = _sizes(op, plan, env)
    return (lambda *inputs, path="auto": fn(*inputs, *params, **sizes, path=path)), plan, draws


def test_the_sweep_covers_every_kind_of_checked_input():
    assert len(NAMES) >= 12 and {"mhsa_key_padding", "mhsa_masked_bias", "mhsa_sample_bias", "gqa_masked",
                                 "cross_attention_masked_bias", "mhsa_causal_key_padding"} <= set(NAMES)


@pytest.mark.parametrize("path", ["auto", "generic"])
@pytest.mark.parametrize("name", NAMES)
def test_vmap_over_every_input_equals_the_calls_on_each_slice(name, path):
    call, plan, draws = _setup(name)
    stacked = [torch.stack([d[n] for d in draws]) for n in plan.inputs]
    got = torch.func.vmap(lambda *a: call(*a, path=path))(*stacked)
    for i, d in enumerate(draws):
        torch.testing.assert_close(got[i], call(*(d[n] for n in plan.inputs), path=path), rtol=1e-10, atol=1e-10)
    # the checked inputs mapped along their last axis, the value along its first; and vmap inside vmap
    checked = set(plan.indicator_inputs) | set(plan.finite_inputs)
    dims = tuple(-1 if n in checked else 0 for n in plan.inputs)
    moved = [t.movedim(0, -1) if n in checked else t for n, t in zip(plan.inputs, stacked)]
    torch.testing.assert_close(torch.func.vmap(lambda *a: call(*a, path=path), in_dims=dims)(*moved), got)
    nested = torch.func.vmap(torch.func.vmap(lambda *a: call(*a, path=path)))(*(t[None] for t in stacked))
    torch.testing.assert_close(nested[0], got)


def _broken(plan, draws, which):
    """The inputs of slice 1 with ``which`` premise broken in one entry (or row) of one checked input."""
    inputs = {n: draws[1][n].clone() for n in plan.inputs}
    if which == "finite":
        name = plan.finite_inputs[0]
        inputs[name].view(-1)[-1] = float("inf")
    elif which == "indicator":
        name = plan.indicator_inputs[0]
        inputs[name].view(-1)[-1] = 0.5
    else:   # a row that sees no key (a leading indicator: its first key hidden)
        name = plan.indicator_inputs[0]
        if name in plan.leading_inputs:
            inputs[name][..., 0] = 0
        else:
            inputs[name][..., :] = 0
    return [torch.stack([draws[0][n], inputs[n]]) for n in plan.inputs]


@pytest.mark.parametrize("name, which", [(name, which) for name, kinds in CHECKED for which in kinds])
def test_a_slice_that_breaks_a_premise_is_refused_under_vmap(name, which):
    call, plan, draws = _setup(name)
    stacked = _broken(plan, draws, which)
    words = {"finite": "must be finite", "indicator": "must be 0 or 1", "row": "hides"}[which]
    for path in ("auto", "generic"):
        with pytest.raises(ValueError, match=words):
            torch.func.vmap(lambda *a: call(*a, path=path))(*stacked)
        with pytest.raises(ValueError, match=words):   # under grad too
            torch.func.vmap(torch.func.grad(lambda x, *a: call(x, *a, path=path).sum()))(*stacked)


def test_the_biased_attention_operators_are_found():
    assert {"mhsa_bias", "mhsa_sample_bias", "swin_attention", "gqa_masked_bias"} <= set(BIASED)


@pytest.mark.parametrize("name", BIASED)
def test_an_ensemble_under_vmap_with_a_learned_or_given_bias_has_gradients(name):
    """torch.func's ensembling (stack_module_state, vmap of functional_call) and vmap over the inputs, each recording
    gradients: SDPA under vmap (PyTorch's loop) is not differentiable with respect to attn_mask (a RuntimeError from the
    default path of the 7 operators whose mask holds a bias, found by an adversarial sweep): the generic path runs
    there. Outputs and every gradient equal those of the calls on each slice."""
    import copy

    from evosym.coverage.modules import module_class
    cp = catalogue.checked(name)
    op, plan = cp.operator, make_plan(cp)
    env = op.grid[0]
    sizes = _sizes(op, plan, env)
    torch.manual_seed(0)
    cls = module_class(generated(name))
    layers = [cls(**sizes, dtype=F64) for _ in range(2)]
    params, buffers = torch.func.stack_module_state(layers)
    base = copy.deepcopy(layers[0]).to("meta")
    draws = [_tensors(op, env, F64, "cpu", torch.Generator().manual_seed(seed)) for seed in (0, 1)]
    inputs = [torch.stack([d[n] for d in draws]).requires_grad_() for n in plan.inputs]
    for path in ("auto", "generic"):
        y = torch.func.vmap(lambda p, b, *a: torch.func.functional_call(base, (p, b), a, {"path": path}))(
            params, buffers, *inputs)
        grads = torch.autograd.grad(y.square().sum(), [*params.values(), *inputs], allow_unused=True)
        for i, layer in enumerate(layers):
            mine = [t[i].detach().requires_grad_() for t in inputs]
            want = layer(*mine, path="generic")
            torch.testing.assert_close(y[i], want, rtol=1e-10, atol=1e-10)
            wanted = torch.autograd.grad(want.square().sum(), [*layer.parameters(), *mine], allow_unused=True)
            for g, w in zip(grads, wanted):   # (an indicator mask's gradient is none: only where it is 0 or 1 at all)
                assert (g is None) == (w is None)
                if w is not None:
                    torch.testing.assert_close(g[i], w, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("nest", ["functionalize", "vmap(functionalize)", "functionalize(vmap)"])
@pytest.mark.parametrize("name, which", [(name, which) for name, kinds in CHECKED for which in kinds
                                         if name in ("mhsa_key_padding", "mhsa_masked_bias", "mhsa_causal_key_padding",
                                                     "mhsa_sample_bias", "gqa_cross_attention_masked_bias")])
def test_a_premise_broken_by_a_write_under_functionalize_is_refused(name, which, nest):
    """functionalize defers writes: the tensor a functional wrapper holds lacks those still pending, so a check that
    read it passed a mask made 0.5 (or a bias made inf) by a write inside the function (found reviewing _stored): it
    syncs first. A write through a view that breaks the premise is refused; a valid one computes with its values."""
    call, plan, draws = _setup(name)
    bad = [b[1] for b in _broken(plan, draws, which)]   # one slice's inputs with the premise broken
    good = [draws[1][n] for n in plan.inputs]

    def writing(values):
        def f(*inputs):
            inputs = [t.clone() for t in inputs]
            for t, v in zip(inputs, values):
                t.view(-1).copy_(v.reshape(-1))   # (a write through a view of the input)
            return call(*inputs)
        return f
    if nest == "functionalize":
        run = lambda f: torch.func.functionalize(f)(*(torch.ones_like(t) for t in good))
    else:
        outer, inner = (torch.func.vmap, torch.func.functionalize) if nest == "vmap(functionalize)" else \
            (torch.func.functionalize, torch.func.vmap)
        run = lambda f: outer(inner(f))(*(torch.ones((2,) + t.shape, dtype=t.dtype) for t in good))
    words = {"finite": "must be finite", "indicator": "must be 0 or 1", "row": "hides"}[which]
    with pytest.raises(ValueError, match=words):
        run(writing(bad))
    got = run(writing(good))
    want = call(*good)
    for y in ([got] if nest == "functionalize" else list(got)):
        torch.testing.assert_close(y, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", [n for n in NAMES if n in ("mhsa_masked_bias", "cross_attention_masked_bias",
                                                            "gqa_masked_bias")])
def test_vmap_over_the_bias_with_one_mask_for_every_slice(name):
    """The mask (an indicator, not mapped) and the bias mapped: the default path added the mapped bias in place into
    the unmapped table built from the mask (a RuntimeError, found by an adversarial pass); out of place there."""
    call, plan, draws = _setup(name)
    shared = set(plan.indicator_inputs)
    dims = tuple(None if n in shared else 0 for n in plan.inputs)
    args = [draws[0][n] if n in shared else torch.stack([d[n] for d in draws]) for n in plan.inputs]
    for path in ("auto", "generic"):
        got = torch.func.vmap(lambda *a: call(*a, path=path), in_dims=dims)(*args)
        for i, d in enumerate(draws):
            want = call(*(draws[0][n] if n in shared else d[n] for n in plan.inputs), path=path)
            torch.testing.assert_close(got[i], want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", [n for n in BIASED if n in ("mhsa_bias", "swin_attention", "mhsa_masked_bias")])
def test_the_biased_operators_compile_with_fullgraph(name):
    """_mapped_gradient read functorch's interpreter stack, which Dynamo cannot trace: torch.compile(fullgraph=True)
    of the 7 biased operators' default path failed (found by an adversarial pass); compiled, it reads nothing."""
    call, plan, draws = _setup(name)
    inputs = [draws[0][n] for n in plan.inputs]
    torch._dynamo.reset()
    got = torch.compile(call, fullgraph=True, backend="aot_eager")(*inputs)
    torch.testing.assert_close(got, call(*inputs), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_jit_trace_of_a_module_with_a_value_premise_is_refused(name):
    """torch.jit.trace runs the premise checks once, on the inputs it traces with, and keeps none in its graph (its
    dead-code elimination drops torch._assert_async too): the traced function returned results for a 0.5 mask, a
    row of zeros, a NaN or an inf bias (found by an adversarial pass). Tracing is refused, naming what keeps the
    check (torch.compile and torch.export keep torch._assert_async in their graphs); an operator without a value
    premise still traces."""
    call, plan, draws = _setup(name)
    inputs = tuple(draws[0][n] for n in plan.inputs)
    for path in ("auto", "generic"):
        with pytest.raises(RuntimeError, match="torch.jit.trace would record once.*use torch.compile or torch.export"):
            torch.jit.trace(lambda *a: call(*a, path=path), inputs, check_trace=False)
    free, plan, draws = _setup("mhsa")
    x = draws[0][plan.value]
    torch.testing.assert_close(torch.jit.trace(free, (x,))(2 * x), free(2 * x))
