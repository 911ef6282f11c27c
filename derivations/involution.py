"""Involution (Li et al., CVPR 2021; d-li14/involution), in eval mode.

    y[b, o, i, j] = Σ_u Σ_v Wk[b, ⌊o/C_g⌋·K² + u·K + v, i, j] · x̃[b, o, s·i + u − R, s·j + v − R]

with K = 2R + 1 and the kernel generated per output pixel by an explicit network (no opaque
function, so that code generation can use it):

    x̄[b, c, i, j]  = 1/s² · Σ_a Σ_e x[b, c, s·i + a, s·j + e]            (AvgPool2d(s, s); x itself when s = 1)
    h[b, d, i, j]  = max(0, γ[d] · Σ_c W₁[d, c] · x̄[b, c, i, j] + β[d])     (1×1 conv without bias, BN, ReLU)
    Wk[b, k, i, j] = Σ_d W₂[k, d] · h[b, d, i, j] + b₂[k]                   (1×1 conv C/r → G·K², with bias)

BatchNorm is in eval mode, folded into the per-channel affine (γ, β) = (weight/√(var+ε),
bias − mean·weight/√(var+ε)). Groups are contiguous blocks of C_g channels (trap 2). The
official code crashes when s ∤ H (⌊H/s⌋ pooled rows vs ⌈H/s⌉ unfolded rows); here the input is
s·H × s·W, so both are H × W.
"""

import sympy as sp

from evosym import Definition, InRange, Operator, TensorDecl, Window, WindowAxis, index, size

from ._conv import _numpy_reference
from ._generator import generator_binding, generator_torch, generator_tensors

B, G, Cg, D = size("B"), size("G"), size("C_g"), size("D")
H, W_, R, s = size("H"), size("W"), size("R"), size("s")
K = 2 * R + 1
C = G * Cg
b, o, c, i, j, u, v, m, n = (index(t) for t in "b o c i j u v m n".split())
k, d, c2, a, e = index("k"), index("d"), index("c_2"), index("a"), index("e")

x = TensorDecl("x", (B, C, s * H, s * W_), "input", "input feature map")
W1, gamma, beta, W2, b2 = generator_tensors(C, D, G * K**2, "span 1×1 conv")
y = TensorDecl("y", (B, C, H, W_), "output", "output feature map")

x_pad = Definition("x_pad", (b, c, m, n),
                   InRange(m, 0, s * H - 1) * InRange(n, 0, s * W_ - 1) * x[b, c, m, n],
                   "zero-padded input", latex=r"\tilde{x}", text="x\u0303")
x_pool = Definition("x_pool", (b, c, i, j),
                    sp.Sum(x[b, c, s * i + a, s * j + e], (e, 0, s - 1), (a, 0, s - 1)) / s**2,
                    "s×s average pool of the input (the input itself when s = 1)", latex=r"\bar{x}", text="x\u0304",
                    shape=(B, C, H, W_))
hidden = Definition("h", (b, d, i, j),
                    sp.Max(0, gamma[d] * sp.Sum(W1[d, c2] * x_pool[b, c2, i, j], (c2, 0, C - 1)) + beta[d]),
                    "kernel generator: reduce, BatchNorm (eval), ReLU", shape=(B, D, H, W_))
kernels = Definition("Wk", (b, k, i, j), sp.Sum(W2[k, d] * hidden[b, d, i, j], (d, 0, D - 1)) + b2[k],
                     "generated kernels: G·K² values per output pixel", latex=r"W_{\mathrm{inv}}", text="W\u1d62\u2099\u1d65",
                     shape=(B, G * K**2, H, W_))


def torch_reference(t, sizes):
    """The official computation (d-li14/involution ``involution_naive``), eval mode, in torch ops."""
    import torch
    import torch.nn.functional as F
    x_, g, cg, r, st = t["x"], sizes["G"], sizes["C_g"], sizes["R"], sizes["s"]
    kk = 2 * r + 1
    weight = generator_torch(F.avg_pool2d(x_, st, st) if st > 1 else x_, t)
    bsz, _, h, w = weight.shape
    weight = weight.view(bsz, g, kk * kk, h, w)
    cols = F.unfold(x_, kk, padding=r, stride=st).view(bsz, g, cg, kk * kk, h, w)
    return torch.einsum("bgkhw,bgckhw->bgchw", weight, cols).reshape(bsz, g * cg, h, w)


reference = _numpy_reference(torch_reference)


OPERATOR = Operator(
    name="involution", summary="involution: per-pixel kernels generated from the (pooled) input, shared by a channel group",
    output=y, lhs_indices=(b, o, i, j),
    traditional=sp.Sum(kernels[b, sp.floor(o / Cg) * K**2 + u * K + v, i, j]
                       * x_pad[b, o, s * i + u - R, s * j + v - R], (v, 0, 2 * R), (u, 0, 2 * R)),
    tensors=(x, W1, gamma, beta, W2, b2), batch=b, out_channel=o, position=(i, j),
    definitions=(x_pad, x_pool, hidden, kernels),
    sizes=((B, "batch size"), (G, "groups (official: C/16)"), (Cg, "channels per group (official group_channels = 16)"),
           (D, "hidden channels of the kernel generator (official: C/4)"), (H, "output height (input s·H)"),
           (W_, "output width (input s·W)"), (R, "kernel radius: K = 2R + 1"), (s, "stride")),
    grid=({B: 1, G: 2, Cg: 1, D: 1, H: 3, W_: 2, R: 1, s: 1},
          {B: 2, G: 1, Cg: 2, D: 2, H: 2, W_: 3, R: 1, s: 1},
          {B: 1, G: 1, Cg: 2, D: 1, H: 2, W_: 2, R: 1, s: 2}),
    reference=reference, reference_name="involution_naive (official, eval mode) in torch ops",
    torch_reference=torch_reference,
    torch_binding=generator_binding(
        "G * (2 * R + 1) ** 2", {"G": "G", "C_g": "m[0].in_channels // G", "D": "m[0].out_channels", "R": "R", "s": "s"},
        arguments=("G", "R", "s"),
        extra=[("m[0].in_channels % G == 0", "the groups G divide the generator's input channels (C = G·C_g)")]),
    bench={B: 8, G: 4, Cg: 16, D: 16, H: 56, W_: 56, R: 3, s: 1},
    figure={B: 1, G: 2, Cg: 2, D: 2, H: 6, W_: 6, R: 1, s: 1},
    description="Involution inverts convolution's sharing: the K×K kernel is generated from the input at each "
                "output pixel (from its s×s pooled neighbourhood when s > 1) and shared by the C_g channels "
                "of a group, while different pixels get different kernels. Eval mode: BatchNorm is a fixed "
                "per-channel affine map.",
    citation="Li et al., Involution: Inverting the Inherence of Convolution for Visual Recognition, CVPR 2021",
    notes=("Sizes are defined consistently: the input is s·H × s·W, so the pooled kernel map and the unfolded "
           "windows are both H × W (the official code crashes when s does not divide the input size).",
           "Groups are contiguous blocks of C_g channels; the kernel channel index is g·K² + u·K + v."),
)


def derive(dv):
    dv.apply("unfold-definition", name="x_pad")
    dv.apply("introduce-delta", targets=[(o, c, 0, C - 1), (s * i + u - R, m, 0, s * H - 1),
                                         (s * j + v - R, n, 0, s * W_ - 1)], within=u)
    dv.apply("exchange-sums", outer=[u, v], inner=[c, m, n])
    dv.apply("factor-out", factor=x[b, c, m, n], over=[v, u])
    dv.apply("name-kernel", name="K", channel=c, position=(m, n), indices=(b, o, c, i, j, m, n))
    dv.conclude(omega=Window((WindowAxis(K, s, 1, R, s * H), WindowAxis(K, s, 1, R, s * W_))),
                channel=c, neighbour=(m, n))
