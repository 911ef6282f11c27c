"""Depthwise-separable 2-D convolution (MobileNet / Xception): a depthwise K×K convolution with
'same' zero padding, then a pointwise 1×1 convolution, two weight tensors.

    D[b, c, i, j] = Σ_u Σ_v W_d[c, u, v] · x̃[b, c, i + u − R, j + v − R]      (depthwise, K = 2R + 1)
    y[b, o, i, j] = Σ_c W_p[o, c] · D[b, c, i, j]                                (pointwise)

No derive: the proof search finds the steps.
"""

import sympy as sp

from evosym import Definition, InRange, Operator, TensorDecl, index, size

B, C, O, H, W_, R = size("B"), size("C"), size("O"), size("H"), size("W"), size("R")
K = 2 * R + 1
b, o, c, i, j, u, v, m, n = (index(t) for t in "b o c i j u v m n".split())

x = TensorDecl("x", (B, C, H, W_), "input", "input feature map")
Wd = TensorDecl("Wd", (C, K, K), "parameter", "depthwise weight (one K×K filter per channel)", latex="W_d", text="W_d")
Wp = TensorDecl("Wp", (O, C), "parameter", "pointwise 1×1 weight", latex="W_p", text="W_p")
y = TensorDecl("y", (B, O, H, W_), "output", "output feature map")
x_pad = Definition("x_pad", (b, c, m, n), InRange(m, 0, H - 1) * InRange(n, 0, W_ - 1) * x[b, c, m, n],
                   "zero-padded input")
dw = Definition("dw", (b, c, i, j),
                sp.Sum(Wd[c, u, v] * x_pad[b, c, i + u - R, j + v - R], (v, 0, 2 * R), (u, 0, 2 * R)),
                "depthwise K×K convolution, 'same' zero padding", latex="D", text="D", shape=(B, C, H, W_))


def reference(arrays, sizes):
    """torch: conv2d with groups=C (depthwise) then a 1×1 conv2d."""
    import torch
    import torch.nn.functional as F
    t = {k: torch.from_numpy(v).to(torch.float64) for k, v in arrays.items()}
    ch = t["x"].shape[1]
    mid = F.conv2d(t["x"], t["Wd"][:, None], padding=sizes["R"], groups=ch)
    return F.conv2d(mid, t["Wp"][:, :, None, None]).numpy()


OPERATOR = Operator(
    name="separable_conv2d", summary="depthwise K×K ('same' zero padding) then pointwise 1×1 convolution",
    output=y, lhs_indices=(b, o, i, j),
    traditional=sp.Sum(Wp[o, c] * dw[b, c, i, j], (c, 0, C - 1)),
    tensors=(x, Wd, Wp), batch=b, out_channel=o, position=(i, j), definitions=(x_pad, dw),
    sizes=((B, "batch size"), (C, "input channels"), (O, "output channels"), (H, "height"), (W_, "width"),
           (R, "kernel radius: K = 2R + 1")),
    grid=({B: 1, C: 2, O: 3, H: 3, W_: 4, R: 1},
          {B: 2, C: 1, O: 2, H: 4, W_: 3, R: 1},
          {B: 1, C: 2, O: 1, H: 3, W_: 5, R: 2}),
    reference=reference, reference_name="torch conv2d(groups=C) then 1×1 conv2d",
)
