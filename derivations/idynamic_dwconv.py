"""Inhomogeneous dynamic depth-wise convolution, I-D-DW (Han et al., ICLR 2022; DemystifyLocalViT), eval mode.

The position-specific counterpart of dynamic depth-wise convolution: involution with stride 1 whose
first 1×1 conv has a bias (spec). Each output pixel gets its own K×K kernel, generated from the
input at that pixel and shared by the C_g channels of a group (the released configs' "heads" value
is C_g, the number of channels per group):

    h[b, d, i, j]  = max(0, γ[d] · (Σ_c W₁[d, c] · x[b, c, i, j] + b₁[d]) + β[d])   (1×1 conv with bias, BN, ReLU)
    Wk[b, k, i, j] = Σ_d W₂[k, d] · h[b, d, i, j] + b₂[k]                           (1×1 conv D → G·K², with bias)
    y[b, o, i, j]  = Σ_u Σ_v Wk[b, ⌊o/C_g⌋·K² + u·K + v, i, j] · x̃[b, o, i + u − R, j + v − R]

K = 2R + 1, padding R, groups are contiguous blocks of C_g channels (trap 2), BatchNorm folded
into (γ, β) (trap 3). The reference is the involution computation (unfold, multiply, sum) with the
biased generator, written from this formula in torch ops.
"""

import sympy as sp

from evosym import Definition, InRange, Operator, TensorDecl, Window, WindowAxis, index, size

from ._conv import _numpy_reference
from ._generator import generator_binding, generator_torch, generator_tensors

B, G, Cg, D = size("B"), size("G"), size("C_g"), size("D")
H, W_, R = size("H"), size("W"), size("R")
K = 2 * R + 1
C = G * Cg
b, o, c, i, j, u, v, m, n = (index(t) for t in "b o c i j u v m n".split())
k, d, c2 = index("k"), index("d"), index("c_2")

x = TensorDecl("x", (B, C, H, W_), "input", "input feature map")
W1, gamma, beta, W2, b2 = generator_tensors(C, D, G * K**2, "span 1×1 conv")
b1 = TensorDecl("b1", (D,), "parameter", "kernel generator: reduction 1×1 conv bias",
                latex="b_1", text="b\u2081", torch_name="reduce_bias")
y = TensorDecl("y", (B, C, H, W_), "output", "output feature map")

x_pad = Definition("x_pad", (b, c, m, n), InRange(m, 0, H - 1) * InRange(n, 0, W_ - 1) * x[b, c, m, n],
                   "zero-padded input", latex=r"\tilde{x}", text="x\u0303")
hidden = Definition("h", (b, d, i, j),
                    sp.Max(0, gamma[d] * (sp.Sum(W1[d, c2] * x[b, c2, i, j], (c2, 0, C - 1)) + b1[d]) + beta[d]),
                    "kernel generator: reduce (with bias), BatchNorm (eval), ReLU", shape=(B, D, H, W_))
kernels = Definition("Wk", (b, k, i, j), sp.Sum(W2[k, d] * hidden[b, d, i, j], (d, 0, D - 1)) + b2[k],
                     "generated kernels: G·K² values per output pixel", latex=r"W_{\mathrm{idw}}", text="W\u1d62",
                     shape=(B, G * K**2, H, W_))


def torch_reference(t, sizes):
    """I-D-DW's forward in torch ops (eval mode): the biased generator, then unfold, multiply, sum."""
    import torch
    import torch.nn.functional as F
    x_, g, cg, r = t["x"], sizes["G"], sizes["C_g"], sizes["R"]
    kk = 2 * r + 1
    weight = generator_torch(x_, t)
    bsz, _, h, w = weight.shape
    weight = weight.view(bsz, g, kk * kk, h, w)
    cols = F.unfold(x_, kk, padding=r).view(bsz, g, cg, kk * kk, h, w)
    return torch.einsum("bgkhw,bgckhw->bgchw", weight, cols).reshape(bsz, g * cg, h, w)


reference = _numpy_reference(torch_reference)


OPERATOR = Operator(
    name="idynamic_dwconv",
    summary="inhomogeneous dynamic depth-wise conv (I-D-DW): per-pixel kernels from a biased 1×1 generator, "
            "shared by a channel group",
    output=y, lhs_indices=(b, o, i, j),
    traditional=sp.Sum(kernels[b, sp.floor(o / Cg) * K**2 + u * K + v, i, j]
                       * x_pad[b, o, i + u - R, j + v - R], (v, 0, 2 * R), (u, 0, 2 * R)),
    tensors=(x, W1, b1, gamma, beta, W2, b2), batch=b, out_channel=o, position=(i, j),
    definitions=(x_pad, hidden, kernels),
    sizes=((B, "batch size"), (G, "groups"), (Cg, "channels per group (the released configs' heads)"),
           (D, "hidden channels of the kernel generator (official: C/4)"), (H, "height"), (W_, "width"),
           (R, "kernel radius: K = 2R + 1")),
    grid=({B: 1, G: 2, Cg: 1, D: 1, H: 3, W_: 2, R: 1},
          {B: 2, G: 1, Cg: 2, D: 2, H: 2, W_: 3, R: 1},
          {B: 1, G: 2, Cg: 2, D: 1, H: 3, W_: 3, R: 2}),
    reference=reference, reference_name="I-D-DW (involution, stride 1, biased generator; eval mode) in torch ops",
    torch_reference=torch_reference,
    torch_binding=generator_binding(
        "G * (2 * R + 1) ** 2", {"G": "G", "C_g": "m[0].in_channels // G", "D": "m[0].out_channels", "R": "R"},
        arguments=("G", "R"), reduce_bias=True,
        extra=[("m[0].in_channels % G == 0", "the groups G divide the generator's input channels (C = G·C_g)")]),
    bench={B: 8, G: 4, Cg: 16, D: 16, H: 56, W_: 56, R: 3},
    figure={B: 1, G: 2, Cg: 2, D: 2, H: 6, W_: 6, R: 1},
    description="I-D-DW is the inhomogeneous variant of dynamic depth-wise convolution: instead of one kernel per "
                "sample from the global pool, each output pixel gets its own K×K kernel from the input at that "
                "pixel (a 1×1 conv with bias, BatchNorm, ReLU, 1×1 conv), shared by the C_g channels of a group. "
                "It is involution with stride 1 and a biased first conv. Eval mode: BatchNorm is a fixed "
                "per-channel affine map.",
    citation="Han et al., On the Connection between Local Attention and Dynamic Depth-wise Convolution, ICLR 2022",
    notes=("Groups are contiguous blocks of C_g channels; the kernel channel index is g·K² + u·K + v.",
           "The generator's first bias enters before BatchNorm: γ·(W₁x + b₁) + β."),
)


def derive(dv):
    dv.apply("unfold-definition", name="x_pad")
    dv.apply("introduce-delta", targets=[(o, c, 0, C - 1), (i + u - R, m, 0, H - 1), (j + v - R, n, 0, W_ - 1)],
             within=u)
    dv.apply("exchange-sums", outer=[u, v], inner=[c, m, n])
    dv.apply("factor-out", factor=x[b, c, m, n], over=[v, u])
    dv.apply("name-kernel", name="K", channel=c, position=(m, n), indices=(b, o, c, i, j, m, n))
    dv.conclude(omega=Window((WindowAxis(K, 1, 1, R, H), WindowAxis(K, 1, 1, R, W_))), channel=c, neighbour=(m, n))
