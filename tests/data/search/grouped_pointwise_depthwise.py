"""A grouped 1×1 convolution followed by a depthwise 3×3 convolution (ShuffleNet / MobileNetV2 block
without the nonlinearities): G groups, C_g input and O_g output channels per group.

    P[b, c, m, n] = Σ_c' W₁[c, c'] · x[b, ⌊c/O_g⌋·C_g + c', m, n]                 (grouped pointwise)
    P̃             = P inside the image, 0 outside                                  (zero padding 1)
    y[b, o, i, j] = Σ_u Σ_v W₂[o, u, v] · P̃[b, o, i + u − 1, j + v − 1]          (depthwise 3×3)

No derive: the proof search finds the steps.
"""

import sympy as sp

from evosym import Definition, InRange, Operator, TensorDecl, index, size

B, G, Cg, Og, H, W_ = size("B"), size("G"), size("C_g"), size("O_g"), size("H"), size("W")
C, O = G * Cg, G * Og
b, o, c, i, j, u, v, m, n = (index(t) for t in "b o c i j u v m n".split())
c2 = index("c_2")

x = TensorDecl("x", (B, C, H, W_), "input", "input feature map")
W1 = TensorDecl("W1", (O, Cg), "parameter", "grouped 1×1 weight (PyTorch layout, kernel axes dropped)",
                latex="W_1", text="W_1")
W2 = TensorDecl("W2", (O, 3, 3), "parameter", "depthwise 3×3 weight", latex="W_2", text="W_2")
y = TensorDecl("y", (B, O, H, W_), "output", "output feature map")
pw_pad = Definition("pw_pad", (b, c, m, n),
                    InRange(m, 0, H - 1) * InRange(n, 0, W_ - 1)
                    * sp.Sum(W1[c, c2] * x[b, sp.floor(c / Og) * Cg + c2, m, n], (c2, 0, Cg - 1)),
                    "grouped pointwise convolution, zero outside the image", latex=r"\tilde{P}", text="P\u0303",
                    shape=(B, O, H, W_))


def reference(arrays, sizes):
    """torch: conv2d(groups=G) with 1×1 kernels, then conv2d(groups=O) with 3×3 kernels, padding 1."""
    import torch
    import torch.nn.functional as F
    t = {k: torch.from_numpy(v).to(torch.float64) for k, v in arrays.items()}
    mid = F.conv2d(t["x"], t["W1"][:, :, None, None], groups=sizes["G"])
    return F.conv2d(mid, t["W2"][:, None], padding=1, groups=mid.shape[1]).numpy()


OPERATOR = Operator(
    name="grouped_pointwise_depthwise", summary="grouped 1×1 convolution then depthwise 3×3 (zero padding 1)",
    output=y, lhs_indices=(b, o, i, j),
    traditional=sp.Sum(W2[o, u, v] * pw_pad[b, o, i + u - 1, j + v - 1], (v, 0, 2), (u, 0, 2)),
    tensors=(x, W1, W2), batch=b, out_channel=o, position=(i, j), definitions=(pw_pad,),
    sizes=((B, "batch size"), (G, "groups of the pointwise convolution"), (Cg, "input channels per group"),
           (Og, "output channels per group"), (H, "height"), (W_, "width")),
    grid=({B: 1, G: 2, Cg: 1, Og: 2, H: 3, W_: 3},
          {B: 2, G: 1, Cg: 2, Og: 1, H: 2, W_: 4},
          {B: 1, G: 3, Cg: 2, Og: 1, H: 4, W_: 3}),
    reference=reference, reference_name="torch conv2d(groups=G, 1×1) then conv2d(groups=O, 3×3)",
)
