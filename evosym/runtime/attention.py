"""Local attention in one kernel pass: logits, their softmax over the window and the aggregation
(the custom op ``evosym::attention``).

``evolution_attention(name, a, b, v, sizes)`` computes

    y[b, c, p] = Σ_u softmax_u(ℓ)[b, ⌊c/share⌋, u, p] · ṽ[b, c, q(p, u)],
    ℓ[b, g, u, p] = Σ_{e<share} a[b, g·share + e, p] · b̃[b, g·share + e, q(p, u)],

with the operator's own window q(p, u) = s·p + δ·u − P and b̃, ṽ zero outside the input (such a tap
has logit 0 and stays in the softmax, as the proved form says). It is what the generated module's
kernel path runs when the plan finds K̂ = M·softmax(a ⋆ b) exactly (``plan.attention``): the
attention weights are never a tensor. Backends:

- ``"cuda"`` and ``"emulated"``: the fused CUDA kernels (an online softmax; the backward passes
  recompute the logits from the saved log-sum-exp, flash-attention style, with no atomics);
- ``"cpu"``: the CPU kernels' ``evosym::attend`` (correlation and softmax in one call) followed by
  ``evosym::aggregate`` — the CPU target has no fused variant.

Differentiable in a, b and v (not twice).
"""

from __future__ import annotations

import torch

from ..errors import EvosymError
from .aggregate import _backend, _kernels_real, _prepared, checked_extents, evolution_aggregate, kernels_for, launch
from .attend import evolution_attend


def _shapes(k, a, b, v, sizes) -> dict:
    """Validated extents: a (B, C, L_out…), b and v (B, C, L_in…), all one dtype and device, contiguous."""
    if not k.attention:
        raise EvosymError(f"{k.name}: its kernels have no fused attention (K̂ is not M·softmax(a ⋆ b))")
    tensors = {"queries": a, "keys": b, "values": v}
    if not all(isinstance(t, torch.Tensor) for t in tensors.values()):
        raise TypeError(f"{k.name}: the attention operands must be torch.Tensors")
    if a.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{k.name}: the generated kernels take float32 or float64, not {a.dtype}")
    for what, t in tensors.items():
        if t.dtype != a.dtype or t.device != a.device:
            raise ValueError(f"{k.name}: the {what} are {t.dtype} on {t.device} but the queries {a.dtype} on {a.device}")
        if not t.is_contiguous():
            raise ValueError(f"{k.name}: the {what} must be contiguous (call .contiguous())")
    ext = checked_extents(k, sizes)
    if ext["og"] != 1 or ext["cg"] != 1:
        raise EvosymError(f"{k.name}: the fused attention needs a depthwise aggregation (O_g = C_g = 1)")
    want = {"queries": (ext["B"], ext["groups"]) + ext["out"], "keys": (ext["B"], ext["groups"]) + ext["in"],
            "values": (ext["B"], ext["groups"]) + ext["in"]}
    for what, t in tensors.items():
        if tuple(t.shape) != want[what]:
            raise ValueError(f"{k.name}: the {what} must have shape {want[what]} at these sizes, not {tuple(t.shape)}")
    ext["lse"] = (ext["B"], ext["groups"] // ext["share"]) + ext["out"]
    return ext


def _call(k, kind: str, tensors, sizes, backend: str) -> None:
    if backend not in ("cuda", "emulated") or (backend == "cuda") != (tensors[0].device.type == "cuda"):
        raise ValueError(f"{k.name}: the fused attention runs on backend cuda (CUDA tensors) or emulated "
                         f"(CPU tensors), not {backend!r} on {tensors[0].device}")
    launch(k, kind, tensors, sizes, backend)


@torch.library.custom_op("evosym::attention", mutates_args=())
def _attention(name: str, a: torch.Tensor, b: torch.Tensor, v: torch.Tensor, sizes: list[int],
               backend: str) -> tuple[torch.Tensor, torch.Tensor]:
    k = kernels_for(name)
    ext = _shapes(k, a, b, v, sizes)
    y = torch.empty((ext["B"], ext["groups"]) + ext["out"], dtype=a.dtype, device=a.device)
    lse = torch.empty(ext["lse"], dtype=a.dtype, device=a.device)
    _call(k, "attention_forward", (a, b, v, y, lse), tuple(sizes), backend)
    return y, lse


@_attention.register_fake
def _attention_fake(name, a, b, v, sizes, backend):
    ext = _shapes(_kernels_real(name), a, b, v, sizes)
    return a.new_empty((ext["B"], ext["groups"]) + ext["out"]), a.new_empty(ext["lse"])


@torch.library.custom_op("evosym::attention_backward", mutates_args=())
def _attention_backward(name: str, a: torch.Tensor, b: torch.Tensor, v: torch.Tensor, y: torch.Tensor,
                        lse: torch.Tensor, dy: torch.Tensor, sizes: list[int],
                        backend: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    k = kernels_for(name)
    ext = k.extents(tuple(sizes))
    dy = dy.contiguous()
    delta = (dy * y).unflatten(1, (ext["groups"] // ext["share"], ext["share"])).sum(2).contiguous()   # Σ_c∈g dy·y
    da, db, dv = torch.empty_like(a), torch.empty_like(b), torch.empty_like(v)
    _call(k, "attention_backward", (a, b, v, dy, lse, delta, da, db, dv), tuple(sizes), backend)
    return da, db, dv


@_attention_backward.register_fake
def _attention_backward_fake(name, a, b, v, y, lse, dy, sizes, backend):
    return torch.empty_like(a), torch.empty_like(b), torch.empty_like(v)


def _setup_context(ctx, inputs, output):
    name, a, b, v, sizes, backend = inputs
    ctx.save_for_backward(a, b, v, *output)
    ctx.name, ctx.sizes, ctx.backend = name, list(sizes), backend
    ctx.set_materialize_grads(True)


def _backward(ctx, dy, dlse):
    # lse never leaves evolution_attention, so nothing downstream can give it a gradient (dlse is zeros)
    a, b, v, y, lse = ctx.saved_tensors
    da, db, dv = _attention_backward(ctx.name, a, b, v, y, lse, dy, ctx.sizes, ctx.backend)
    return None, da, db, dv, None, None


_attention.register_autograd(_backward, setup_context=_setup_context)


def evolution_attention(name: str, a: torch.Tensor, b: torch.Tensor, v: torch.Tensor, sizes,
                        backend: str | None = None) -> torch.Tensor:
    """y = Σ_u softmax_u(a ⋆ b)·ṽ over the operator's window (see the module docstring), differentiable
    in a, b and v: fused CUDA kernels on a GPU (and in the emulated host build); on the CPU kernels,
    ``evolution_attend`` then ``evolution_aggregate``."""
    if not isinstance(a, torch.Tensor):
        raise TypeError(f"{name}: the attention operands must be torch.Tensors")
    _prepared(name)
    backend = _backend(a, backend)
    sizes = [int(n) for n in sizes]
    if backend == "cpu":
        return evolution_aggregate(name, v, evolution_attend(name, a, b, sizes, backend), sizes, backend)
    return _attention(name, a, b, v, sizes, backend)[0]
