"""Attention weights over the aggregation's window in one kernel call (the custom op ``evosym::attend``).

``evolution_attend(name, a, b, sizes)`` = softmax over the taps u of the windowed correlation
kt[b, g, 0, 0, u…, p…] = Σ_{c in kernel group g} a[b, c, p…] · b̃[b, c, s·p + δ·u − P] — local
attention's weights from (scaled) queries a and keys b. On the CPU backend the generated kernels
compute the correlation and, while each task's rows are in cache, the softmax (max subtracted, as
``torch.softmax``): the logits are never a tensor of their own. On the other backends (CUDA, the
emulated CUDA source) it is the correlation kernel followed by ``torch.softmax``. Differentiable in
a and b: dℓ = A ⊙ (dA − Σ_u A ⊙ dA), then the correlation's own backward (the aggregation and its
input gradient).
"""

from __future__ import annotations

import torch

from . import aggregate as _agg   # (called through the module, so that tests can intercept its kernel calls)
from .aggregate import _backend, _check, _kernel_shape, _kernels_real, _layout, _prepared, kernels_for


def _softmax_taps(kt: torch.Tensor, taps: int) -> torch.Tensor:
    """torch.softmax over kt's tap axes 4 … 4 + taps − 1 (adjacent in its contiguous layout)."""
    shape = kt.shape
    flat = kt.reshape(shape[:4] + (-1,) + shape[4 + taps:]) if kt.numel() else kt.reshape(shape[:4] + (0,) + shape[4 + taps:])
    return torch.softmax(flat, dim=4).reshape(shape)


@torch.library.custom_op("evosym::attend", mutates_args=())
def _attend(name: str, a: torch.Tensor, b: torch.Tensor, sizes: list[int], backend: str) -> torch.Tensor:
    k = kernels_for(name)
    kt = torch.empty(_kernel_shape(k, a, b, sizes), dtype=a.dtype, device=a.device)
    _check(k, b, kt, tuple(sizes), backend)
    if backend == "cpu":
        _agg._call(k, "attend", b.contiguous(), a.contiguous(), kt, tuple(sizes), _layout(kt), backend)
        return kt
    _agg._call(k, "backward_kernel", b.contiguous(), a.contiguous(), kt, tuple(sizes), _layout(kt), backend)
    return _softmax_taps(kt, k.dims)


@_attend.register_fake
def _attend_fake(name, a, b, sizes, backend):
    return a.new_empty(_kernel_shape(_kernels_real(name), a, b, sizes))


def _attend_context(ctx, inputs, output):
    name, a, b, sizes, backend = inputs
    ctx.save_for_backward(a, b, output)
    ctx.name, ctx.sizes, ctx.backend = name, list(sizes), backend


def _attend_backward(ctx, d_attn):
    a, b, attn = ctx.saved_tensors
    taps = tuple(range(4, 4 + kernels_for(ctx.name).dims))
    weighted = attn * d_attn
    dlogits = (weighted - attn * weighted.sum(dim=taps, keepdim=True)).contiguous()   # the softmax's backward
    da = db = None
    if ctx.needs_input_grad[1]:
        da = _agg._aggregate(ctx.name, b.contiguous(), dlogits, ctx.sizes, ctx.backend)
    if ctx.needs_input_grad[2]:
        db = _agg._backward_input(ctx.name, dlogits, a, ctx.sizes, ctx.backend)
    return None, da, db, None, None


_attend.register_autograd(_attend_backward, setup_context=_attend_context)


def evolution_attend(name: str, a: torch.Tensor, b: torch.Tensor, sizes, backend: str | None = None) -> torch.Tensor:
    """softmax over the taps of ``evolution_correlate(name, a, b, sizes)``, in one kernel call on the CPU."""
    if not isinstance(a, torch.Tensor):
        raise TypeError(f"{name}: the attention operands must be torch.Tensors")
    _prepared(name)
    return _attend(name, a, b, [int(v) for v in sizes], _backend(a, backend))
