"""A column-wise matrix product beside a depthwise window whose weight is w scaled by a batch mean written as a sum
in the kernel, (1/B)·Σ_{b'} z[b', o] (HyperZ·Z·W's local branch in miniature): the window part reads an input and
a sum, yet it is one kernel for every sample and position, so it is split off as one native convolution."""
import sympy as sp

from evosym import Definition, InRange, Operator, TensorDecl, index, size

B, C, H, W, R = size("B"), size("C"), size("H"), size("W"), size("R")
b, b2, o, i, j, t, u, v, m, n = (index(s) for s in "b b_2 o i j t u v m n".split())
x = TensorDecl("x", (B, C, H, W), "input", "the values")
z = TensorDecl("z", (B, C), "input", "a context per sample and channel")
gm = TensorDecl("G", (B, C, H, H), "input", "a row mixer per sample and channel")
w = TensorDecl("w", (C, 2 * R + 1, 2 * R + 1), "parameter", "the depthwise window")
y = TensorDecl("y", (B, C, H, W), "output", "matrix product plus the context-scaled window")
x_pad = Definition("x_pad", (b, o, m, n), InRange(m, 0, H - 1) * InRange(n, 0, W - 1) * x[b, o, m, n], "x, zero outside")


def torch_reference(t_, sizes):
    import torch
    import torch.nn.functional as F
    weight = (t_["w"] * t_["z"].mean(0)[:, None, None])[:, None]
    return torch.matmul(t_["G"], t_["x"]) + F.conv2d(t_["x"], weight, padding=sizes["R"], groups=t_["x"].shape[1])


def reference(arrays, sizes):
    import torch
    return torch_reference({k: torch.from_numpy(a).double() for k, a in arrays.items()}, sizes).numpy()


OPERATOR = Operator(
    name="band_batch_mean2d", summary="a column-wise matrix product beside a window scaled by a batch mean",
    output=y, lhs_indices=(b, o, i, j),
    traditional=sp.Sum(gm[b, o, i, t] * x[b, o, t, j], (t, 0, H - 1))
    + sp.Sum(sp.Sum(z[b2, o], (b2, 0, B - 1)) / B * w[o, u, v] * x_pad[b, o, i + u - R, j + v - R],
             (u, 0, 2 * R), (v, 0, 2 * R)),
    tensors=(x, z, gm, w), batch=b, out_channel=o, position=(i, j), value="x", definitions=(x_pad,),
    sizes=((B, "batch"), (C, "channels"), (H, "height"), (W, "width"), (R, "window radius")),
    grid=({B: 2, C: 1, H: 3, W: 4, R: 1}, {B: 1, C: 2, H: 4, W: 2, R: 1}),
    reference=reference, torch_reference=torch_reference, reference_name="torch.matmul + F.conv2d",
)
