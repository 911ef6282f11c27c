"""A K×K convolution as K² shifted pointwise convolutions (the decomposition behind ACmix).

    z[b, o, u, v, m, n] = Σ_c W[o, c, u, v] · x[b, c, m, n]                 (one 1×1 convolution per tap)
    y[b, o, i, j]      = Σ_u Σ_v [0 ≤ i + u − R < H]·[0 ≤ j + v − R < W] · z[b, o, u, v, i + u − R, j + v − R]

with K = 2R + 1: the output of tap (u, v)'s 1×1 convolution is shifted by (u − R, v − R) and the K²
shifted maps are summed (zeros shifted in at the border). Pan et al. (ACmix, CVPR 2022) use it to
share the 1×1 stage, which dominates the cost (K²·C·O multiply-adds per position), between a
convolution and self-attention. The proof reaches the Evolution kernel of the K×K convolution with
padding R, and the reference is ``F.conv2d`` itself: the decomposition is checked against the
convolution it claims to be.
"""

import sympy as sp

from evosym import Definition, InRange, Operator, TensorDecl, Window, WindowAxis, index, size

from ._conv import _numpy_reference

B, C, O, H, W_, R = size("B"), size("C"), size("O"), size("H"), size("W"), size("R")
K = 2 * R + 1
b, o, c, i, j, u, v, m, n = (index(t) for t in "b o c i j u v m n".split())

x = TensorDecl("x", (B, C, H, W_), "input", "input feature map")
W = TensorDecl("W", (O, C, K, K), "parameter", "convolution weight (PyTorch layout): tap (u, v)'s 1×1 weight is W[:, :, u, v]",
               torch_name="weight")
y = TensorDecl("y", (B, O, H, W_), "output", "output feature map")

z = Definition("z", (b, o, u, v, m, n), sp.Sum(W[o, c, u, v] * x[b, c, m, n], (c, 0, C - 1)),
               "the K² pointwise convolutions: tap (u, v)'s 1×1 convolution of the input", shape=(B, O, K, K, H, W_))


def _inside(a, length):
    return InRange(a, 0, length - 1)


def torch_reference(t, sizes):
    """The K×K convolution it claims to be: torch.nn.functional.conv2d with padding R."""
    import torch.nn.functional as F
    return F.conv2d(t["x"], t["W"], padding=int(sizes["R"]))


OPERATOR = Operator(
    name="shifted_pointwise_conv2d",
    summary="a K×K convolution (padding R) written as K² shifted 1×1 convolutions, summed (ACmix's decomposition)",
    output=y, lhs_indices=(b, o, i, j),
    traditional=sp.Sum(_inside(i + u - R, H) * _inside(j + v - R, W_) * z[b, o, u, v, i + u - R, j + v - R],
                       (v, 0, 2 * R), (u, 0, 2 * R)),
    tensors=(x, W), batch=b, out_channel=o, position=(i, j), definitions=(z,),
    sizes=((B, "batch size"), (C, "input channels"), (O, "output channels"), (H, "height"), (W_, "width"),
           (R, "kernel radius: K = 2R + 1, zero padding R")),
    grid=({B: 1, C: 2, O: 2, H: 4, W_: 3, R: 1},
          {B: 2, C: 1, O: 1, H: 3, W_: 5, R: 1},
          {B: 1, C: 1, O: 2, H: 5, W_: 4, R: 2}),
    reference=_numpy_reference(torch_reference), reference_name="torch.nn.functional.conv2d (padding R)",
    torch_reference=torch_reference,
    bench={B: 8, C: 64, O: 64, H: 56, W_: 56, R: 1},
    figure={B: 1, C: 1, O: 1, H: 6, W_: 6, R: 1},
    description="Each tap (u, v) of a K×K kernel is a 1×1 convolution of the whole input; shifting its output by "
                "(u − R, v − R) and summing the K² maps gives the K×K convolution. As an Evolution form it is the "
                "convolution's: static, shared across space, full channel mixing, a K×K window with zero padding.",
    citation="Pan et al., On the Integration of Self-Attention and Convolution (ACmix), CVPR 2022, Sec. 3.3",
    notes=("The 1×1 stage costs K²·C·O multiply-adds per position, the whole cost of the convolution: ACmix "
           "computes it once (three 1×1 maps) and shares it between the attention and the convolution paths.",
           "Zeros are shifted in at the border: the brackets [0 ≤ i + u − R < H] are the convolution's zero padding."),
)


def derive(d):
    d.apply("unfold-definition", name="z")
    d.apply("move-into-sum", factor=_inside(i + u - R, H) * _inside(j + v - R, W_), into=c)
    d.apply("introduce-delta", targets=[(i + u - R, m, 0, H - 1), (j + v - R, n, 0, W_ - 1)], within=c)
    d.apply("exchange-sums", outer=[u, v], inner=[c])
    d.apply("exchange-sums", outer=[u, v], inner=[m, n])
    d.apply("factor-out", factor=x[b, c, m, n], over=[v, u])
    d.apply("name-kernel", name="K", channel=c, position=(m, n), indices=(o, c, i, j, m, n))
    d.conclude(omega=Window((WindowAxis(K, 1, 1, R, H), WindowAxis(K, 1, 1, R, W_))), channel=c, neighbour=(m, n))
