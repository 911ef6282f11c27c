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


def test_involution_forward_holds_the_generated_kernels_once():
    """involution's generated kernels (G·K² values per pixel) with their bias: the span projection's call adds the
    bias (torch.baddbmm), so the forward holds that tensor once, not the product and its sum beside it (1.31× the
    compiled official code's peak before; the kernels tensor is 3× the output at these sizes)."""
    mod = generated("involution")
    G, C_g, D, R = 4, 16, 16, 3
    g = torch.Generator().manual_seed(4)
    x = torch.randn(8, G * C_g, 56, 56, generator=g)
    params = [torch.randn(D, G * C_g, generator=g), torch.rand(D, generator=g) + 0.5, torch.randn(D, generator=g),
              torch.randn(G * (2 * R + 1) ** 2, D, generator=g), torch.randn(G * (2 * R + 1) ** 2, generator=g)]
    sizes = dict(G=G, C_g=C_g, D=D, R=R, s=1)
    with torch.no_grad():
        y = mod.involution_evolution(x, *params, **sizes)
        peak = peak_cpu_bytes(lambda: mod.involution_evolution(x, *params, **sizes))
    kernels = 8 * G * (2 * R + 1) ** 2 * 56 * 56 * 4
    out = y.numel() * y.element_size()
    # the generated kernels, the output and the generator's hidden tensors (D channels: a quarter of the output each)
    assert peak <= kernels + 1.6 * out, (peak - kernels) / out
