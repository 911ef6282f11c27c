"""The generic path's memory: the kernel tensor and the windows are released once the aggregation has read them
(autograd keeps what it saves), so that adding K̂'s native part does not hold them too. hyperzzw_code at its issue
size (B = 8, C = 64, 56×56) held four output-sized tensors at once in the forward (1.33× its reference's peak): the
product Z ⊙ W_g, the matrix product's result, the convolution's result and their sum; it now holds three."""

from __future__ import annotations

import torch

from evosym.codegen.peak_memory import peak_cpu_bytes
from evosym.coverage.modules import generated


def test_hyperzzw_code_forward_holds_three_output_sized_tensors():
    mod = generated("hyperzzw_code")
    C, D = 64, 2
    sizes = dict(C=C, D=D, R=3, P=8)
    g = torch.Generator().manual_seed(3)
    Z = torch.randn(8, C, 56, 56, generator=g)
    params = [torch.randn(D, 2, generator=g), torch.randn(D, generator=g), torch.randn(C, D, generator=g),
              torch.randn(C, generator=g), torch.randn(D, 2, generator=g), torch.randn(D, generator=g),
              torch.randn(C, D, generator=g), torch.randn(C, generator=g), torch.randn(1, generator=g)]
    with torch.no_grad():
        y = mod.hyperzzw_code_evolution(Z, *params, **sizes)
        peak = peak_cpu_bytes(lambda: mod.hyperzzw_code_evolution(Z, *params, **sizes))
    out = y.numel() * y.element_size()
    assert peak <= 3.1 * out, peak / out
