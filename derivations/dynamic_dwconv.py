"""Dynamic depth-wise convolution (Han et al., ICLR 2022; DemystifyLocalViT ``DynamicDWConv``), eval mode.

    y[b, o, i, j] = bias[o] + Σ_u Σ_v Wk[b, o·K² + u·K + v] · x̃[b, o, i + u − R, j + v − R]

with K = 2R + 1 (padding K//2, stride 1) and one K×K kernel per sample and channel, generated from
the global average pool by an explicit network:

    x̄[b, c]  = 1/(H·W) · Σ_a Σ_e x[b, c, a, e]                         (AdaptiveAvgPool2d(1))
    h[b, d]  = max(0, γ[d] · Σ_c W₁[d, c] · x̄[b, c] + β[d])            (1×1 conv C → D without bias, BN, ReLU)
    Wk[b, k] = Σ_d W₂[k, d] · h[b, d] + b₂[k]                          (1×1 conv D → C·K², with bias)

BatchNorm is in eval mode, folded into (γ, β). The kernel is dynamic but shared across positions.
The released code at its latest revision builds a static conv when asked for this one (an ``if``
that should be ``elif``, trap 7 of the spec); the reference here is the first revision's forward.
"""

import sympy as sp

from evosym import Definition, InRange, Operator, TensorDecl, Window, WindowAxis, index, size

from ._conv import _numpy_reference
from ._generator import generator_binding, generator_torch, generator_tensors

B, C, D = size("B"), size("C"), size("D")
H, W_, R = size("H"), size("W"), size("R")
K = 2 * R + 1
b, o, c, i, j, u, v, m, n = (index(t) for t in "b o c i j u v m n".split())
k, d, c2, a, e = index("k"), index("d"), index("c_2"), index("a"), index("e")

x = TensorDecl("x", (B, C, H, W_), "input", "input feature map")
W1, gamma, beta, W2, b2 = generator_tensors(C, D, C * K**2, "1×1 conv (to the C·K² kernel values)")
bias = TensorDecl("bias", (C,), "parameter", "static per-channel bias of the depthwise conv",
                  latex=r"\mathrm{bias}", torch_name="bias")
y = TensorDecl("y", (B, C, H, W_), "output", "output feature map")

x_pad = Definition("x_pad", (b, c, m, n), InRange(m, 0, H - 1) * InRange(n, 0, W_ - 1) * x[b, c, m, n],
                   "zero-padded input", latex=r"\tilde{x}", text="x\u0303")
x_gap = Definition("x_gap", (b, c), sp.Sum(x[b, c, a, e], (e, 0, W_ - 1), (a, 0, H - 1)) / (H * W_),
                   "global average pool of the input", latex=r"\bar{x}", text="x\u0304", shape=(B, C))
hidden = Definition("h", (b, d), sp.Max(0, gamma[d] * sp.Sum(W1[d, c2] * x_gap[b, c2], (c2, 0, C - 1)) + beta[d]),
                    "kernel generator: reduce, BatchNorm (eval), ReLU", shape=(B, D))
kernels = Definition("Wk", (b, k), sp.Sum(W2[k, d] * hidden[b, d], (d, 0, D - 1)) + b2[k],
                     "generated kernels: C·K² values per sample", latex=r"W_{\mathrm{dyn}}", text="W_dyn",
                     shape=(B, C * K**2))


def torch_reference(t, sizes):
    """The released forward (first revision of ``DynamicDWConv``), eval mode, in torch ops."""
    import torch.nn.functional as F
    x_, r = t["x"], sizes["R"]
    kk = 2 * r + 1
    bsz, ch, h, w = x_.shape
    weight = generator_torch(F.adaptive_avg_pool2d(x_, (1, 1)), t).view(bsz * ch, 1, kk, kk)
    out = F.conv2d(x_.reshape(1, -1, h, w), weight, t["bias"].repeat(bsz), stride=1, padding=r, groups=bsz * ch)
    return out.view(bsz, ch, out.shape[-2], out.shape[-1])


reference = _numpy_reference(torch_reference)


OPERATOR = Operator(
    name="dynamic_dwconv", summary="dynamic depth-wise convolution: per-sample K×K kernels from the global average pool",
    output=y, lhs_indices=(b, o, i, j),
    traditional=bias[o] + sp.Sum(kernels[b, o * K**2 + u * K + v] * x_pad[b, o, i + u - R, j + v - R],
                                 (v, 0, 2 * R), (u, 0, 2 * R)),
    tensors=(x, W1, gamma, beta, W2, b2, bias), batch=b, out_channel=o, position=(i, j),
    definitions=(x_pad, x_gap, hidden, kernels),
    sizes=((B, "batch size"), (C, "channels"), (D, "hidden channels of the kernel generator (official: C/4)"),
           (H, "height"), (W_, "width"), (R, "kernel radius: K = 2R + 1")),
    grid=({B: 1, C: 2, D: 1, H: 3, W_: 2, R: 1},
          {B: 2, C: 1, D: 2, H: 2, W_: 3, R: 1},
          {B: 1, C: 1, D: 1, H: 4, W_: 3, R: 1}),
    reference=reference, reference_name="DynamicDWConv (DemystifyLocalViT, first revision, eval mode) in torch ops",
    torch_reference=torch_reference,
    torch_binding=generator_binding(
        "m[0].in_channels * (2 * R + 1) ** 2", {"C": "m[0].in_channels", "D": "m[0].out_channels", "R": "R"},
        arguments=("R", "bias=None"), tensors={"bias": "bias"},
        extra=[("bias is None or (isinstance(bias, torch.Tensor) and tuple(bias.shape) == (m[0].in_channels,))",
                "bias (the depthwise conv's static bias, zeros when not given) is None or a tensor of C values")]),
    bench={B: 8, C: 64, D: 16, H: 56, W_: 56, R: 3},
    figure={B: 1, C: 2, D: 1, H: 6, W_: 6, R: 1},
    description="A depthwise convolution whose K×K kernels are generated per sample from the globally pooled "
                "input: dynamic like attention, but one kernel per channel shared by every position. Eval mode: "
                "BatchNorm is a fixed per-channel affine map.",
    citation="Han et al., On the Connection between Local Attention and Dynamic Depth-wise Convolution, ICLR 2022",
    notes=("The kernel channel index is c·K² + u·K + v (weight.view(B·C, 1, K, K) in the released code).",),
)


def derive(dv):
    dv.apply("unfold-definition", name="x_pad")
    dv.apply("introduce-delta", targets=[(o, c, 0, C - 1), (i + u - R, m, 0, H - 1), (j + v - R, n, 0, W_ - 1)],
             within=u)
    dv.apply("exchange-sums", outer=[u, v], inner=[c, m, n])
    dv.apply("factor-out", factor=x[b, c, m, n], over=[v, u])
    dv.apply("name-kernel", name="K", channel=c, position=(m, n), indices=(b, o, c, i, j, m, n))
    dv.conclude(omega=Window((WindowAxis(K, 1, 1, R, H), WindowAxis(K, 1, 1, R, W_))), channel=c, neighbour=(m, n))
