"""Local attention in one kernel pass: logits, their softmax over the window and the aggregation
(the custom op ``evosym::attention``).

``evolution_attention(name, a, b, v, sizes, bias=β)`` computes

    y[b, c, p] = Σ_u softmax_u(ℓ)[b, ⌊c/share⌋, u, p] · ṽ[b, c, q(p, u)],
    ℓ[b, g, u, p] = Σ_{e<share} a[b, g·share + e, p] · b̃[b, g·share + e, q(p, u)]  (+ β[b or 0, g, u, p])

with the operator's own window q(p, u) — s·p + δ·u − P, or a clamped, tiled or wrapping one — and
b̃, ṽ zero outside the input (such a tap has logit β, or 0, and stays in the softmax, as the proved
form says). β is the rest of the logits when they add more than the correlation (NATTEN's and
Swin's relative position bias, Swin's −100 mask), given once (batch length 1, broadcast) or per
sample. It is what the generated module's kernel path runs when the plan finds K̂ = M·softmax(a ⋆ b
+ β) exactly (``plan.attention``): the attention weights are never a tensor. Backends:

- ``"cuda"`` and ``"emulated"``: the fused CUDA kernels (an online softmax; the backward passes
  recompute the logits from the saved log-sum-exp, flash-attention style, with no atomics; β's
  gradient is a kernel of its own, summing over the batch when β is broadcast);
- ``"cpu"``: the CPU kernels' ``evosym::attend`` (correlation, + β and softmax in one call: the logits are
  never a tensor) followed by ``evosym::aggregate`` — the CPU target has no fused variant (it lowers windows
  at s·p + δ·u − P, clamped ones and wrapping ones, not tiled ones).

Differentiable in a, b, v and β, to any order (under create_graph the backward recomputes the attention
as separate, twice differentiable kernel calls).
"""

from __future__ import annotations

import ctypes

import torch

from . import backends
from .errors import EvosymError
from .aggregate import (_backend, checked_extents, evolution_aggregate, evolution_correlate, int_sizes,
                        kernels_for, launch, untransformed)
from .attend import _softmax_taps, evolution_attend


def _shapes(k, a, b, v, sizes, bias=None) -> dict:
    """Validated extents: a (B, C, L_out…), b and v (B, C, L_in…), β (B or 1, C/share, K…, L_out…), all
    one dtype and device (any layout: the ops make them contiguous)."""
    if not k.attention:
        raise EvosymError(f"{k.name}: its kernels have no fused attention (K̂ is not M·softmax(a ⋆ b))")
    tensors = {"queries": a, "keys": b, "values": v, **({} if bias is None else {"logit bias": bias})}
    if not all(isinstance(t, torch.Tensor) for t in tensors.values()):
        raise TypeError(f"{k.name}: the attention operands must be torch.Tensors")
    if a.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{k.name}: the generated kernels take float32 or float64, not {a.dtype}")
    for what, t in tensors.items():
        if t.dtype != a.dtype or t.device != a.device:
            raise ValueError(f"{k.name}: the {what} are {t.dtype} on {t.device} but the queries {a.dtype} on {a.device}")
    ext = checked_extents(k, sizes)
    if ext["og"] != 1 or ext["cg"] != 1:
        raise EvosymError(f"{k.name}: the fused attention needs a depthwise aggregation (O_g = C_g = 1)")
    kgroups = ext["groups"] // ext["share"]
    want = {"queries": (ext["B"], ext["groups"]) + ext["out"], "keys": (ext["B"], ext["groups"]) + ext["in"],
            "values": (ext["B"], ext["groups"]) + ext["in"]}
    if bias is not None:
        want["logit bias"] = (bias.shape[0] if bias.dim() and bias.shape[0] in (1, ext["B"]) else ext["B"],
                              kgroups) + ext["taps"] + ext["out"]
    for what, t in tensors.items():
        if tuple(t.shape) != want[what]:
            extra = " (its batch axis may be 1)" if what == "logit bias" else ""
            raise ValueError(f"{k.name}: the {what} must have shape {want[what]}{extra} at these sizes, not {tuple(t.shape)}")
    ext["lse"] = (ext["B"], kgroups) + ext["out"]
    return ext


def _options(bias) -> ctypes.Array:
    """The kernels' options: how β is given (0: none, 1: once for the whole batch, 2: per sample)."""
    mode = 0 if bias is None else (1 if bias.shape[0] == 1 else 2)
    return (ctypes.c_longlong * 1)(mode)


def _call(k, kind: str, tensors, sizes, backend: str, bias) -> None:
    if "attention" not in backends.abi(backend) or backend not in backends.runs_on(tensors[0].device.type):
        fused = [t for t in backends.targets() if "attention" in backends.owner(t).abi]
        where = " or ".join(f"{t.runs_as} ({t.device.upper()} tensors)" for t in fused)
        raise ValueError(f"{k.name}: the fused attention runs on backend {where}, not {backend!r} on {tensors[0].device}")
    launch(k, kind, tensors, sizes, backend, _options(bias))


@torch.library.custom_op("evosym::attention", mutates_args=())
def _attention(name: str, a: torch.Tensor, b: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None,
               sizes: list[int], backend: str) -> tuple[torch.Tensor, torch.Tensor]:
    k = kernels_for(name)
    a, b, v = a.contiguous(), b.contiguous(), v.contiguous()
    bias = None if bias is None else bias.contiguous()
    ext = _shapes(k, a, b, v, sizes, bias)
    y = torch.empty((ext["B"], ext["groups"]) + ext["out"], dtype=a.dtype, device=a.device)
    lse = torch.empty(ext["lse"], dtype=a.dtype, device=a.device)
    if ext["B"]:   # an empty batch: nothing to compute (and an empty β has no data pointer to pass)
        _call(k, "attention_forward", (a, b, v, bias, y, lse), tuple(sizes), backend, bias)
    return y, lse


@_attention.register_fake
def _attention_fake(name, a, b, v, bias, sizes, backend):
    ext = _shapes(kernels_for(name), a, b, v, sizes, bias)
    return a.new_empty((ext["B"], ext["groups"]) + ext["out"]), a.new_empty(ext["lse"])


@torch.library.custom_op("evosym::attention_backward", mutates_args=())
def _attention_backward(name: str, a: torch.Tensor, b: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None,
                        y: torch.Tensor, lse: torch.Tensor, dy: torch.Tensor, sizes: list[int], backend: str,
                        bias_grad: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(∂a, ∂b, ∂v, ∂β); ∂β is empty unless ``bias_grad`` (then it has β's shape: summed over the batch
    where β is broadcast)."""
    k = kernels_for(name)
    ext = k.extents(tuple(sizes))
    a, b, v, y, lse, dy = (t.contiguous() for t in (a, b, v, y, lse, dy))
    bias = None if bias is None else bias.contiguous()
    delta = (dy * y).unflatten(1, (ext["groups"] // ext["share"], ext["share"])).sum(2).contiguous()   # Σ_c∈g dy·y
    da, db, dv = torch.empty_like(a), torch.empty_like(b), torch.empty_like(v)
    dbias = torch.empty_like(bias) if bias_grad and bias is not None else None
    if ext["B"]:
        _call(k, "attention_backward", (a, b, v, bias, dy, lse, delta, dbias, da, db, dv), tuple(sizes), backend, bias)
    elif dbias is not None:   # β broadcast over an empty batch: its gradient is an empty sum
        dbias.zero_()
    return da, db, dv, (dbias if dbias is not None else a.new_empty(0))


@_attention_backward.register_fake
def _attention_backward_fake(name, a, b, v, bias, y, lse, dy, sizes, backend, bias_grad):
    dbias = bias.new_empty(bias.shape) if bias_grad and bias is not None else a.new_empty(0)
    return a.new_empty(a.shape), b.new_empty(b.shape), v.new_empty(v.shape), dbias   # contiguous, as the kernels write


def _setup_context(ctx, inputs, output):
    name, a, b, v, bias, sizes, backend = inputs
    ctx.save_for_backward(a, b, v, bias, *output)
    ctx.name, ctx.sizes, ctx.backend = name, list(sizes), backend
    ctx.set_materialize_grads(True)


def _backward(ctx, dy, dlse):
    # lse never leaves evolution_attention, so nothing downstream can give it a gradient (dlse is zeros)
    a, b, v, bias, y, lse = ctx.saved_tensors
    bias_grad = bias is not None and ctx.needs_input_grad[4]
    if torch.is_grad_enabled():   # create_graph: the gradients must be differentiable again (double backward)
        return (None, *_differentiable_grads(ctx, a, b, v, bias, dy, bias_grad), None, None)
    da, db, dv, dbias = _attention_backward(ctx.name, a, b, v, bias, y, lse, dy, ctx.sizes, ctx.backend, bias_grad)
    return None, da, db, dv, (dbias if bias_grad else None), None, None


_attention.register_autograd(_backward, setup_context=_setup_context)


def _differentiable_grads(ctx, a, b, v, bias, dy, bias_grad) -> tuple:
    """(∂a, ∂b, ∂v, ∂β) as a differentiable function of the inputs and dy: the fused backward kernels have
    no derivative of their own, so under create_graph the same attention is recomputed as separate kernel
    calls (the correlation, the softmax, the aggregation: every one twice differentiable) and differentiated.
    Double backward then works on every backend, as it does on the generic path."""
    wanted = [t for t, need in zip((a, b, v, bias), ctx.needs_input_grad[1:5]) if need and t is not None]
    if not wanted:
        return None, None, None, None
    with torch.enable_grad():
        weights = _weights(ctx.name, a, b, ctx.sizes, ctx.backend, bias)
        y = evolution_aggregate(ctx.name, v, weights, ctx.sizes, ctx.backend)
        grads = iter(torch.autograd.grad(y, wanted, dy, create_graph=True, allow_unused=True))
    out = [next(grads) if need and t is not None else None for t, need in zip((a, b, v, bias), ctx.needs_input_grad[1:5])]
    if not bias_grad:
        out[3] = None
    return tuple(out)


def _weights(name, a, b, sizes, backend, bias):
    """softmax_u(a ⋆ b + β) by the correlation kernel and torch.softmax (any backend)."""
    logits = evolution_correlate(name, a, b, sizes, backend)
    if bias is not None:
        logits = logits + bias.unsqueeze(2).unsqueeze(3)
    return _softmax_taps(logits, (logits.dim() - 4) // 2)


def unfused_attention(name: str, a: torch.Tensor, b: torch.Tensor, v: torch.Tensor, sizes: list, backend: str,
                      bias: torch.Tensor | None = None) -> torch.Tensor:
    """The same attention as separate kernel calls: ``evosym::attend`` (β added to the logits, on the CPU
    kernels in the same call), then ``evosym::aggregate``. The CPU kernels' path, and the benchmarks' comparison."""
    weights = evolution_attend(name, a, b, sizes, backend, bias=bias)   # (β checked against the logits' shape)
    return evolution_aggregate(name, v, weights, sizes, backend)


@torch.compiler.assume_constant_result
def _has_attention(name: str) -> bool:
    """Whether the operator's plan found K̂ = M·softmax(a ⋆ b + β) (its kernels prepared, as ``_prepared``)."""
    return kernels_for(name).attention


def evolution_attention(name: str, a: torch.Tensor, b: torch.Tensor, v: torch.Tensor, sizes,
                        backend: str | None = None, *, bias: torch.Tensor | None = None) -> torch.Tensor:
    """y = Σ_u softmax_u(a ⋆ b + β)·ṽ over the operator's window (see the module docstring), differentiable
    in a, b, v and β: fused CUDA kernels on a GPU (and in the emulated host build); on the CPU kernels,
    ``unfused_attention``."""
    if not all(isinstance(t, torch.Tensor) for t in (a, b, v)) or not (bias is None or isinstance(bias, torch.Tensor)):
        raise TypeError(f"{name}: the attention operands must be torch.Tensors")
    if not _has_attention(name):
        raise EvosymError(f"{name}: its kernels have no fused attention (K̂ is not M·softmax(a ⋆ b))")
    untransformed(name)
    backend = _backend(a, backend)
    sizes = int_sizes(name, sizes)
    if "attention" not in backends.abi(backend):   # the CPU kernels: no fused variant
        return unfused_attention(name, a, b, v, sizes, backend, bias)
    return _attention(name, a, b, v, bias, sizes, backend)[0]
