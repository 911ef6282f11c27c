"""A column-wise matrix product beside a depthwise window whose weight is a definition without a shape:
y[b, o, i, j] = Σ_t G[b, o, i, t]·x[b, o, t, j] + Σ_{u,v} 2·w[o, u, v]·x̃[b, o, i + u − R, j + v − R], H ≠ W.
The window part's weight must be compiled with the definition's body (no tensor `wd` exists at run time)."""
import sympy as sp

from evosym import Definition, InRange, Operator, TensorDecl, index, size

B, C, H, W, R = size("B"), size("C"), size("H"), size("W"), size("R")
b, o, i, j, t, u, v, m, n = (index(s) for s in "b o i j t u v m n".split())
x = TensorDecl("x", (B, C, H, W), "input", "the values")
gm = TensorDecl("G", (B, C, H, H), "input", "a row mixer per sample and channel")
w = TensorDecl("w", (C, 2 * R + 1, 2 * R + 1), "parameter", "the depthwise window")
y = TensorDecl("y", (B, C, H, W), "output", "matrix product plus window")
wd = Definition("wd", (o, u, v), 2 * w[o, u, v], "the window doubled")
x_pad = Definition("x_pad", (b, o, m, n), InRange(m, 0, H - 1) * InRange(n, 0, W - 1) * x[b, o, m, n], "x, zero outside")


def torch_reference(t_, sizes):
    import torch
    import torch.nn.functional as F
    return torch.matmul(t_["G"], t_["x"]) + F.conv2d(t_["x"], 2 * t_["w"][:, None], padding=sizes["R"],
                                                     groups=t_["x"].shape[1])


def reference(arrays, sizes):
    import torch
    return torch_reference({k: torch.from_numpy(a).double() for k, a in arrays.items()}, sizes).numpy()


OPERATOR = Operator(
    name="band_scaled_weight2d", summary="a column-wise matrix product beside a doubled depthwise window",
    output=y, lhs_indices=(b, o, i, j),
    traditional=sp.Sum(gm[b, o, i, t] * x[b, o, t, j], (t, 0, H - 1))
    + sp.Sum(wd[o, u, v] * x_pad[b, o, i + u - R, j + v - R], (u, 0, 2 * R), (v, 0, 2 * R)),
    tensors=(x, gm, w), batch=b, out_channel=o, position=(i, j), value="x", definitions=(x_pad, wd),
    sizes=((B, "batch"), (C, "channels"), (H, "height"), (W, "width"), (R, "window radius")),
    grid=({B: 2, C: 1, H: 3, W: 4, R: 1}, {B: 1, C: 2, H: 4, W: 2, R: 1}),
    reference=reference, torch_reference=torch_reference, reference_name="torch.matmul + F.conv2d",
)
