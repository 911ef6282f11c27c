"""x read transposed beside a depthwise window, y[b, o, i, j] = Σ_t G[b, o, i, t]·x[b, o, j, t] + Σ_{u,v} w[o, u, v]·
x̃[b, o, i + u − R, j + v − R] (square), with no derive(): the search must not take x's row index j, a position of
the other axis, for a window of the rows."""
import sympy as sp

from evosym import Definition, InRange, Operator, TensorDecl, index, size

B, C, H, R = size("B"), size("C"), size("H"), size("R")
b, o, i, j, t, u, v, m, n = (index(s) for s in "b o i j t u v m n".split())
x = TensorDecl("x", (B, C, H, H), "input", "the values")
gm = TensorDecl("G", (B, C, H, H), "input", "a mixer per sample and channel")
w = TensorDecl("w", (C, 2 * R + 1, 2 * R + 1), "parameter", "the depthwise window")
y = TensorDecl("y", (B, C, H, H), "output", "G·xᵀ plus the window")
x_pad = Definition("x_pad", (b, o, m, n), InRange(m, 0, H - 1) * InRange(n, 0, H - 1) * x[b, o, m, n], "x, zero outside")


def torch_reference(t_, sizes):
    import torch
    import torch.nn.functional as F
    xx = t_["x"]
    return torch.matmul(t_["G"], xx.transpose(-1, -2)) + F.conv2d(xx, t_["w"][:, None], padding=sizes["R"],
                                                                  groups=xx.shape[1])


def reference(arrays, sizes):
    import torch
    return torch_reference({k: torch.from_numpy(a).double() for k, a in arrays.items()}, sizes).numpy()


OPERATOR = Operator(
    name="transposed_read2d", summary="a matrix product with x read transposed, beside a depthwise window",
    output=y, lhs_indices=(b, o, i, j),
    traditional=sp.Sum(gm[b, o, i, t] * x[b, o, j, t], (t, 0, H - 1))
    + sp.Sum(w[o, u, v] * x_pad[b, o, i + u - R, j + v - R], (u, 0, 2 * R), (v, 0, 2 * R)),
    tensors=(x, gm, w), batch=b, out_channel=o, position=(i, j), value="x", definitions=(x_pad,),
    sizes=((B, "batch"), (C, "channels"), (H, "side"), (R, "window radius")),
    grid=({B: 2, C: 1, H: 3, R: 1}, {B: 1, C: 2, H: 4, R: 1}),
    reference=reference, torch_reference=torch_reference, reference_name="torch.matmul of xᵀ + F.conv2d",
)
