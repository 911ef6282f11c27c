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

from . import backends
from .aggregate import (_backend, _kernel_shape, _prepared, correlation, correlation_grads, int_sizes,
                        kernels_for)


def _softmax_taps(kt: torch.Tensor, taps: int) -> torch.Tensor:
    """torch.softmax over kt's tap axes 4 … 4 + taps − 1 (adjacent in its contiguous layout)."""
    return torch.softmax(kt.flatten(4, 3 + taps), dim=4).view(kt.shape)


@torch.library.custom_op("evosym::attend", mutates_args=())
def _attend(name: str, a: torch.Tensor, b: torch.Tensor, sizes: list[int], backend: str) -> torch.Tensor:
    if "attend" in backends.abi(backend):   # the CPU kernels: correlation and softmax at once
        return correlation(name, a, b, sizes, backend, kind="attend")
    return _softmax_taps(correlation(name, a, b, sizes, backend), kernels_for(name).dims)


@_attend.register_fake
def _attend_fake(name, a, b, sizes, backend):
    return a.new_empty(_kernel_shape(kernels_for(name), a, b, sizes))


def _attend_context(ctx, inputs, output):
    name, a, b, sizes, backend = inputs
    ctx.save_for_backward(a, b, output)
    ctx.name, ctx.sizes, ctx.backend = name, list(sizes), backend


def _attend_backward(ctx, d_attn):
    attn = ctx.saved_tensors[2]
    taps = tuple(range(4, 4 + kernels_for(ctx.name).dims))
    weighted = attn * d_attn
    dlogits = weighted - attn * weighted.sum(dim=taps, keepdim=True)   # the softmax's backward
    return (None, *correlation_grads(ctx, dlogits), None, None)


_attend.register_autograd(_attend_backward, setup_context=_attend_context)


def evolution_attend(name: str, a: torch.Tensor, b: torch.Tensor, sizes, backend: str | None = None) -> torch.Tensor:
    """softmax over the taps of ``evolution_correlate(name, a, b, sizes)``, in one kernel call on the CPU."""
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        raise TypeError(f"{name}: the attention operands must be torch.Tensors")
    _prepared(name)
    return _attend(name, a, b, int_sizes(name, sizes), _backend(a, backend))
