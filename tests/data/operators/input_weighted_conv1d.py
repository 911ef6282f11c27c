"""A 1-D convolution of x weighted at every input position by a second input g: y = W ⋆ (g·x).

Two input tensors: the Evolution form aggregates x (the value) over a window, with a kernel K = W[o, c, u]·g[b, 0, q]
that reads the other input g (B, 1, L) at the window's positions q (zero-padded like x). The generated module takes
(x, g).
"""

from evosym import Definition, InRange, Operator, TensorDecl, Window, WindowAxis, index, size
import sympy as sp

B, C, O, L, R = (size(n) for n in ("B", "C", "O", "L", "R"))
b, o, i, c, u, m = (index(n) for n in ("b", "o", "i", "c", "u", "m"))

x = TensorDecl("x", (B, C, L), "input", "input signal")
g = TensorDecl("g", (B, 1, L), "input", "gate, one value per sample and position")
W = TensorDecl("W", (O, C, 2 * R + 1), "parameter", "filters", torch_name="weight")
y = TensorDecl("y", (B, O, L), "output", "output signal")
x_pad = Definition("x_pad", (b, c, m), InRange(m, 0, L - 1) * x[b, c, m], "zero-padded input")
g_pad = Definition("g_pad", (b, c, m), InRange(m, 0, L - 1) * g[b, c, m], "zero-padded weights")


def torch_reference(t, sizes):
    import torch.nn.functional as F
    return F.conv1d(t["x"] * t["g"], t["W"], padding=sizes["R"])


def reference(arrays, sizes):
    import torch
    return torch_reference({k: torch.from_numpy(v).double() for k, v in arrays.items()}, sizes).numpy()


OPERATOR = Operator(
    name="input_weighted_conv1d", summary="1-D convolution of x weighted per position by a second input",
    output=y, lhs_indices=(b, o, i),
    traditional=sp.Sum(W[o, c, u] * g_pad[b, 0, i + u - R] * x_pad[b, c, i + u - R], (u, 0, 2 * R), (c, 0, C - 1)),
    tensors=(x, g, W), batch=b, out_channel=o, position=(i,), definitions=(x_pad, g_pad),
    sizes=((B, "batch size"), (C, "input channels"), (O, "output channels"), (L, "length"), (R, "radius")),
    grid=({B: 2, C: 2, O: 2, L: 4, R: 1}, {B: 1, C: 1, O: 2, L: 5, R: 2}),
    reference=reference, reference_name="F.conv1d(x · g)", torch_reference=torch_reference,
)


def derive(d):
    d.apply("unfold-definition", name="x_pad")
    d.apply("introduce-delta", targets=[(i + u - R, m, 0, L - 1)], within=c)
    d.apply("exchange-sums", outer=[u], inner=[m])
    d.apply("factor-out", factor=x[b, c, m], over=[u])
    d.apply("name-kernel", name="K_gate", channel=c, position=(m,), indices=(b, o, c, i, m))
    d.conclude(omega=Window((WindowAxis(2 * R + 1, 1, 1, R, L),)), channel=c, neighbour=(m,))
