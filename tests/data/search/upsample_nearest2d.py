"""Nearest-neighbour upsampling by an integer factor s (torch.nn.functional.interpolate, mode='nearest').

    y[b, o, i, j] = x[b, o, ⌊i/s⌋, ⌊j/s⌋]          output s·H × s·W

No derive.
"""

import sympy as sp

from evosym import Operator, TensorDecl, index, size

B, C, H, W_, s = size("B"), size("C"), size("H"), size("W"), size("s")
b, o, i, j = (index(t) for t in "b o i j".split())

x = TensorDecl("x", (B, C, H, W_), "input", "input feature map")
y = TensorDecl("y", (B, C, s * H, s * W_), "output", "upsampled feature map")


def reference(arrays, sizes):
    import torch
    import torch.nn.functional as F
    x_ = torch.from_numpy(arrays["x"]).to(torch.float64)
    return F.interpolate(x_, scale_factor=sizes["s"], mode="nearest").numpy()


OPERATOR = Operator(
    name="upsample_nearest2d", summary="nearest-neighbour upsampling by an integer factor s",
    output=y, lhs_indices=(b, o, i, j),
    traditional=x[b, o, sp.floor(i / s), sp.floor(j / s)],
    tensors=(x,), batch=b, out_channel=o, position=(i, j),
    sizes=((B, "batch size"), (C, "channels"), (H, "input height"), (W_, "input width"), (s, "scale factor")),
    grid=({B: 1, C: 2, H: 2, W_: 3, s: 2}, {B: 2, C: 1, H: 3, W_: 2, s: 1}, {B: 1, C: 1, H: 2, W_: 2, s: 3}),
    reference=reference, reference_name="torch.nn.functional.interpolate(mode='nearest')",
)
