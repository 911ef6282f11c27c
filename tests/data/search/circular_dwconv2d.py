"""Depthwise 2-D convolution with circular padding (a convolution on the torus, as in global-filter and
spherical/periodic-domain models): every channel has its own K×K filter, the image wraps around.

    y[b, o, i, j] = Σ_u Σ_v W[o, u, v] · x[b, o, (i + u − R) mod H, (j + v − R) mod W]

K = 2R + 1, output H × W. PyTorch's circular padding needs R ≤ H, W (the grid respects it). No derive.
"""

import sympy as sp

from evosym import Definition, Operator, TensorDecl, index, size

B, C, H, W_, R = size("B"), size("C"), size("H"), size("W"), size("R")
K = 2 * R + 1
b, o, c, i, j, u, v, m, n = (index(t) for t in "b o c i j u v m n".split())

x = TensorDecl("x", (B, C, H, W_), "input", "input feature map")
W = TensorDecl("W", (C, K, K), "parameter", "depthwise K×K filters")
y = TensorDecl("y", (B, C, H, W_), "output", "output feature map")
x_circ = Definition("x_circ", (b, c, m, n), x[b, c, sp.Mod(m, H), sp.Mod(n, W_)],
                    "circularly padded input: positions wrap around", latex=r"\mathring{x}", text="x\u030a")


def reference(arrays, sizes):
    """torch: F.pad(mode='circular') then conv2d(groups=C) without padding."""
    import torch
    import torch.nn.functional as F
    t = {k: torch.from_numpy(a).to(torch.float64) for k, a in arrays.items()}
    r = sizes["R"]
    xp = F.pad(t["x"], (r, r, r, r), mode="circular")
    return F.conv2d(xp, t["W"][:, None], groups=xp.shape[1]).numpy()


OPERATOR = Operator(
    name="circular_dwconv2d", summary="depthwise K×K convolution with circular padding (stride 1, output H × W)",
    output=y, lhs_indices=(b, o, i, j),
    traditional=sp.Sum(W[o, u, v] * x_circ[b, o, i + u - R, j + v - R], (v, 0, 2 * R), (u, 0, 2 * R)),
    tensors=(x, W), batch=b, out_channel=o, position=(i, j), definitions=(x_circ,),
    sizes=((B, "batch size"), (C, "channels"), (H, "height"), (W_, "width"), (R, "kernel radius: K = 2R + 1")),
    grid=({B: 1, C: 2, H: 3, W_: 4, R: 1}, {B: 2, C: 1, H: 4, W_: 3, R: 1}, {B: 1, C: 1, H: 5, W_: 4, R: 2}),
    reference=reference, reference_name="F.pad(mode='circular') + conv2d(groups=C)",
)
