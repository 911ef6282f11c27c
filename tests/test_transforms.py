"""Forward-mode AD and torch.func transforms through the generated modules' kernel path.

evosym's kernels are custom ops with a reverse-mode rule only: PyTorch turns a custom op without a forward-AD rule
into a zero tangent without an error (found by an adversarial pass: jvp of neighborhood_attention's default path gave
a zero tangent). Under forward-mode AD or a torch.func transform the default path runs the generic path, an explicit
``path="kernels"`` is refused, and the runtime refuses such calls too.
"""

from __future__ import annotations

import os
import shutil

import pytest
import torch
import torch.autograd.forward_ad as fwAD

from evosym import catalogue
from evosym.codegen.check import load_source
from evosym.codegen.plan import make_plan
from evosym.codegen.render import render_torch
from evosym.errors import EvosymError

CXX = shutil.which(os.environ.get("CXX") or "c++") is not None
pytestmark = pytest.mark.skipif(not CXX, reason="no C++ compiler: the CPU kernels are not built here")

SIZES = {"neighborhood_attention": dict(B=1, N=2, d=2, H=4, W=5, R=1),
         "local_attention": dict(B=1, N=2, d=2, H=4, W=5, R=1),
         "involution": dict(B=1, G=1, C_g=2, D=2, H=4, W=5, R=1, s=1)}


def _setup(name):
    cp = catalogue.checked(name)
    plan = make_plan(cp)
    mod = load_source(render_torch(plan, cp.operator.torch_binding), name, cp)
    op = cp.operator
    by_name = {str(s): s for s, _ in op.sizes}
    shapes = op.valid_shapes_at({by_name[k]: v for k, v in SIZES[name].items()})
    g = torch.Generator().manual_seed(1)
    args = [torch.randn(shapes[t.name], generator=g, dtype=torch.float64) for t in op.tensors]
    call = {k: SIZES[name][k] for k in mod.SIZES}
    assert mod._kernels_available("cpu"), "the CPU kernels do not build here"
    return mod, getattr(mod, plan.func_name), args, call


@pytest.mark.parametrize("name", sorted(SIZES))
def test_jvp_of_the_default_path_is_the_generic_paths(name):
    mod, fn, args, call = _setup(name)
    tangents = [torch.randn_like(a) for a in args]
    want = torch.func.jvp(lambda *a: fn(*a, **call, path="generic"), tuple(args), tuple(tangents))
    got = torch.func.jvp(lambda *a: fn(*a, **call), tuple(args), tuple(tangents))
    assert float(want[1].abs().max()) > 0.1
    torch.testing.assert_close(got[0], want[0], rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(got[1], want[1], rtol=1e-10, atol=1e-10)
    with fwAD.dual_level():   # the other forward-mode API
        duals = [fwAD.make_dual(a, t) for a, t in zip(args, tangents)]
        tangent = fwAD.unpack_dual(fn(*duals, **call)).tangent
    assert tangent is not None
    torch.testing.assert_close(tangent, want[1], rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(fn(*args, **call), want[0], rtol=1e-10, atol=1e-10)   # outside: the kernels again


@pytest.mark.parametrize("name", sorted(SIZES))
def test_torch_func_grad_and_vmap_of_the_default_path(name):
    """grad and vmap ran the kernels' autograd.Function and failed ("must override setup_context"): now generic."""
    mod, fn, args, call = _setup(name)
    loss = lambda path: (lambda a0, *rest: fn(a0, *rest, **call, path=path).square().sum())
    want = torch.func.grad(loss("generic"))(*args)
    torch.testing.assert_close(torch.func.grad(loss("auto"))(*args), want, rtol=1e-10, atol=1e-10)
    batch = torch.stack([args[0], 2 * args[0]])
    got = torch.func.vmap(lambda a0: fn(a0, *args[1:], **call))(batch)
    torch.testing.assert_close(got[1], fn(2 * args[0], *args[1:], **call, path="generic"), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("transform", ["jvp", "forward_ad", "grad", "vmap"])
def test_path_kernels_under_a_transform_is_refused_in_the_module_and_the_runtime(transform, monkeypatch):
    mod, fn, args, call = _setup("neighborhood_attention")

    def run():
        f = lambda a0: fn(a0, *args[1:], **call, path="kernels")
        if transform == "jvp":
            torch.func.jvp(f, (args[0],), (torch.ones_like(args[0]),))
        elif transform == "grad":
            torch.func.grad(lambda a0: f(a0).sum())(args[0])
        elif transform == "vmap":
            torch.func.vmap(f)(args[0][None])
        else:
            with fwAD.dual_level():
                f(fwAD.make_dual(args[0], torch.ones_like(args[0])))
    with pytest.raises(ValueError, match="no forward-mode AD rule and do not run under torch.func transforms"):
        run()
    monkeypatch.setattr(mod, "_transformed", lambda: False)   # past the module's own refusal: the runtime's
    with pytest.raises(EvosymError, match="no forward-mode AD rule"):
        run()


@pytest.mark.parametrize("name", sorted(SIZES))
def test_autocast_runs_the_generic_path_on_the_default_path(name, monkeypatch):
    """Under CPU autocast the projections come out in bfloat16, which the kernels refuse (a TypeError from the default
    path, found by an adversarial pass): "auto" runs the generic path there, as a PyTorch module would run, and outside
    autocast the kernels again."""
    mod, fn, args, call = _setup(name)
    args = [a.float() for a in args]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        want = fn(*args, **call, path="generic")
        got = fn(*args, **call)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    seen = []
    monkeypatch.setattr(mod, "_generic", lambda *a, **k: seen.append(1) or (_ for _ in ()).throw(AssertionError))
    fn(*args, **call)   # outside autocast: the kernels, never the generic path
    assert not seen


@pytest.mark.parametrize("reentrant", [False, True])
@pytest.mark.parametrize("name", sorted(SIZES))
def test_activation_checkpointing_of_the_default_path(name, reentrant):
    """torch.utils.checkpoint recomputes the forward in the backward; without reentrancy it allows each saved tensor
    to be unpacked once, and the kernels' backward read them twice (attend, then the correlation's gradients: a
    CheckpointError, found by an adversarial pass). Gradients equal the generic path's, for every input."""
    from torch.utils.checkpoint import checkpoint
    mod, fn, args, call = _setup(name)
    args = [a.requires_grad_() for a in args]
    y = fn(*args, **call, path="generic")
    want = torch.autograd.grad(y.square().sum(), args)
    checkpoint(lambda *a: fn(*a, **call), *args, use_reentrant=reentrant).square().sum().backward()
    for g, w in zip([a.grad for a in args], want):
        assert float(w.abs().max()) > 0
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", sorted(SIZES))
def test_second_derivatives_through_the_kernels(name):
    """The kernels' backward is made of the kernels' ops, each with its own backward: a second derivative
    (create_graph) runs through them and equals the generic path's, for every input (docs/cpu.md said otherwise until
    2026-12-06)."""
    mod, fn, args, call = _setup(name)
    g = torch.Generator().manual_seed(2)

    def second(path):
        inputs = [a.detach().requires_grad_() for a in args]
        y = fn(*inputs, **call, path=path)
        first = torch.autograd.grad((y * weights[0]).sum(), inputs, create_graph=True)
        return torch.autograd.grad(sum((d * w).sum() for d, w in zip(first, weights[1:])), inputs)
    y = fn(*args, **call)
    weights = [torch.randn(y.shape, generator=g, dtype=y.dtype)] + [torch.randn(a.shape, generator=g, dtype=a.dtype)
                                                                      for a in args]
    want = second("generic")
    assert all(float(w.abs().max()) > 0 for w in want)
    seen = []
    real = mod._generic
    mod._generic = lambda *a, **k: seen.append(1) or real(*a, **k)
    try:
        got = second("auto")
    finally:
        mod._generic = real
    assert not seen, "the kernels ran, not the generic path"
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
