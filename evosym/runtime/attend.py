"""Attention weights over the aggregation's window in one kernel call (the custom op ``evosym::attend``).

``evolution_attend(name, a, b, sizes, bias=β)`` = softmax over the taps u of the windowed correlation plus β,
kt[b, g, 0, 0, u…, p…] = Σ_{c in kernel group g} a[b, c, p…] · b̃[b, c, s·p + δ·u − P] (+ β[b or 0, g, u…, p…])
— local attention's weights from (scaled) queries a and keys b; β, the rest of the logits where they add more
than the correlation (NATTEN's relative position bias), is laid out as the logits without their two unit axes
and given once for the batch (batch length 1) or per sample. On the CPU backend the generated kernels
compute the correlation, add β and, while each task's rows are in cache, take the softmax (max subtracted, as
``torch.softmax``): the logits are never a tensor of their own (a CPU source rendered before the kernels took
β: the correlation kernel, + β, ``torch.softmax``). On the other backends (CUDA, the emulated CUDA source) it
is the correlation kernel, + β, ``torch.softmax``. Differentiable in a, b and β: dℓ = A ⊙ (dA − Σ_u A ⊙ dA),
then the correlation's own backward (the aggregation and its input gradient), and ∂β = dℓ (summed over the
batch where β is given once).
"""

from __future__ import annotations

import ctypes

import torch

from . import aggregate, backends
from .aggregate import (_backend, _check, _kernel_shape, _layout, _prepared, correlation, correlation_grads,
                        int_sizes, kernels_for)


def _softmax_taps(kt: torch.Tensor, taps: int) -> torch.Tensor:
    """torch.softmax over kt's tap axes 4 … 4 + taps − 1 (adjacent in its contiguous layout)."""
    return torch.softmax(kt.flatten(4, 3 + taps), dim=4).view(kt.shape)


def bias_checked(name: str, a: torch.Tensor, bias: torch.Tensor, logits: tuple) -> None:
    """β against the logits' shape ``logits`` (B, kernel groups, 1, 1, u…, p…): a tensor of a's dtype and device
    shaped (B or 1, kernel groups, u…, p…); a clear error otherwise."""
    if not isinstance(bias, torch.Tensor):
        raise TypeError(f"{name}: the logit bias must be a torch.Tensor, not {type(bias).__name__}")
    if bias.dtype != a.dtype or bias.device != a.device:
        raise ValueError(f"{name}: the logit bias is {bias.dtype} on {bias.device} but the queries {a.dtype} on {a.device}")
    want = (logits[1],) + tuple(logits[4:])
    if bias.dim() != len(want) + 1 or bias.shape[0] not in (1, logits[0]) or tuple(bias.shape[1:]) != want:
        raise ValueError(f"{name}: the logit bias must have shape {(logits[0],) + want} (its batch axis may be 1) "
                         f"at these sizes, not {tuple(bias.shape)}")


def _declared(name: str, device, backend: str) -> bool:
    """Whether the library has ``attend_biased`` (a source rendered before it has not); its entry points declared
    (x, dy, β, dkt pointers; the sizes, the layout and the options arrays; the stream) on first use."""
    k = kernels_for(name)
    lib = k.library(device, backend)[1]
    for sfx in ("f32", "f64"):
        fn = getattr(lib, f"evo_{k.ident}_attend_biased_{sfx}", None)
        if fn is None:
            return False
        if fn.argtypes is None:
            fn.argtypes = [ctypes.c_void_p] * 4 + [ctypes.POINTER(ctypes.c_longlong)] * 3 + [ctypes.c_void_p]
            fn.restype = ctypes.c_int
    return True


def _biased_kernel(name: str, a, b, bias, sizes, backend: str) -> torch.Tensor | None:
    """softmax(a ⋆ b + β) by the CPU kernels' ``attend_biased`` (one call); None where the library lacks it."""
    k = kernels_for(name)
    kt = torch.empty(_kernel_shape(k, a, b, sizes), dtype=a.dtype, device=a.device)
    _check(k, b, kt, tuple(sizes), backend)
    if not _declared(name, a.device, backend):
        return None
    if kt.numel():   # (an empty batch: nothing to compute, and an empty β has no data pointer to pass)
        options = (ctypes.c_longlong * 1)(1 if bias.shape[0] == 1 else 2)   # β once for the batch, or per sample
        aggregate._call(k, "attend_biased", b.contiguous(), a.contiguous(), kt, tuple(sizes), _layout(kt), backend,
                        bias.contiguous(), options)
    return kt


@torch.library.custom_op("evosym::attend", mutates_args=())
def _attend(name: str, a: torch.Tensor, b: torch.Tensor, sizes: list[int], backend: str,
            bias: torch.Tensor | None = None) -> torch.Tensor:
    abi = backends.abi(backend)
    if bias is not None:   # (checked here, not by the caller: traced by torch.compile, the fake checks it)
        bias_checked(name, a, bias, _kernel_shape(kernels_for(name), a, b, sizes))
    if bias is None and "attend" in abi:   # the CPU kernels: correlation and softmax at once
        return correlation(name, a, b, sizes, backend, kind="attend")
    if bias is not None and "attend_biased" in abi:   # the CPU kernels: correlation, + β and softmax at once
        kt = _biased_kernel(name, a, b, bias, sizes, backend)
        if kt is not None:
            return kt
    logits = correlation(name, a, b, sizes, backend)
    if bias is not None:
        logits = logits + bias.unsqueeze(2).unsqueeze(3)
    return _softmax_taps(logits, kernels_for(name).dims)


@_attend.register_fake
def _attend_fake(name, a, b, sizes, backend, bias=None):
    shape = _kernel_shape(kernels_for(name), a, b, sizes)
    if bias is not None:
        bias_checked(name, a, bias, shape)
    return a.new_empty(shape)


def _attend_context(ctx, inputs, output):
    name, a, b, sizes, backend = inputs[:5]
    bias = inputs[5] if len(inputs) > 5 else None
    ctx.save_for_backward(a, b, output)
    ctx.name, ctx.sizes, ctx.backend = name, list(sizes), backend
    ctx.bias_once = bias is not None and bias.shape[0] == 1


def _attend_backward(ctx, d_attn):
    a, b, attn = ctx.saved_tensors
    dims = kernels_for(ctx.name).dims
    # the softmax's backward, A ⊙ (dA − Σ_u A ⊙ dA), as torch.softmax's own (one pass; differentiable again)
    dlogits = torch._softmax_backward_data(d_attn.contiguous().flatten(4, 3 + dims), attn.flatten(4, 3 + dims), 4,
                                           attn.dtype).view(attn.shape)
    dbias, given = None, len(ctx.needs_input_grad) > 5   # (β may be left out of the call: its default, None)
    if given and ctx.needs_input_grad[5]:   # ∂β = ∂ℓ without its two unit axes, summed over the batch where β is broadcast
        dbias = dlogits.squeeze(3).squeeze(2)
        if ctx.bias_once:
            dbias = dbias.sum(0, keepdim=True)
    return (None, *correlation_grads(ctx, dlogits, a, b), None, None) + ((dbias,) if given else ())


_attend.register_autograd(_attend_backward, setup_context=_attend_context)


def evolution_attend(name: str, a: torch.Tensor, b: torch.Tensor, sizes, backend: str | None = None, *,
                     bias: torch.Tensor | None = None) -> torch.Tensor:
    """softmax over the taps of ``evolution_correlate(name, a, b, sizes)`` + β (optional: (B or 1, kernel groups,
    u…, p…)), in one kernel call on the CPU."""
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        raise TypeError(f"{name}: the attention operands must be torch.Tensors")
    if bias is not None and not isinstance(bias, torch.Tensor):
        raise TypeError(f"{name}: the logit bias must be a torch.Tensor, not {type(bias).__name__}")
    _prepared(name)
    return _attend(name, a, b, int_sizes(name, sizes), _backend(a, backend), bias)
