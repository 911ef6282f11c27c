"""gated_conv1d with its gate from the global pool Σ_j x[b, 0, j] instead of the centre pixel.

The property table must change: dynamic from a global pool, and shared across space again.
"""

import sympy as sp

from evosym import Definition, InRange, Operator, TensorDecl, Window, WindowAxis, index, size

B, C, O, L, R = (size(n) for n in ("B", "C", "O", "L", "R"))
b, o, i, c, u, m, j = (index(n) for n in ("b", "o", "i", "c", "u", "m", "j"))

x = TensorDecl("x", (B, C, L), "input", "input signal")
W = TensorDecl("W", (O, C, 2 * R + 1), "parameter", "filters", torch_name="weight")
y = TensorDecl("y", (B, O, L), "output", "output signal")
x_pad = Definition("x_pad", (b, c, m), InRange(m, 0, L - 1) * x[b, c, m], "zero-padded input")
pool = sp.Sum(x[b, 0, j], (j, 0, L - 1))


def torch_reference(t, sizes):
    import torch.nn.functional as F
    return F.conv1d(t["x"], t["W"], padding=sizes["R"]) * t["x"][:, 0:1, :].sum(-1, keepdim=True)


def reference(arrays, sizes):
    import torch
    return torch_reference({k: torch.from_numpy(v).double() for k, v in arrays.items()}, sizes).numpy()


OPERATOR = Operator(
    name="pool_gated_conv1d", summary="1-D convolution gated by the global sum of channel 0",
    output=y, lhs_indices=(b, o, i),
    traditional=pool * sp.Sum(W[o, c, u] * x_pad[b, c, i + u - R], (u, 0, 2 * R), (c, 0, C - 1)),
    tensors=(x, W), batch=b, out_channel=o, position=(i,), definitions=(x_pad,),
    sizes=((B, "batch size"), (C, "input channels"), (O, "output channels"), (L, "length"), (R, "radius")),
    grid=({B: 2, C: 2, O: 2, L: 4, R: 1}, {B: 1, C: 1, O: 2, L: 5, R: 2}),
    reference=reference, reference_name="F.conv1d · Σ x[:, 0]", torch_reference=torch_reference,
)


def derive(d):
    d.apply("unfold-definition", name="x_pad")
    d.apply("move-into-sum", factor=pool, into=c)
    d.apply("introduce-delta", targets=[(i + u - R, m, 0, L - 1)], within=c)
    d.apply("exchange-sums", outer=[u], inner=[m])
    d.apply("factor-out", factor=x[b, c, m], over=[u])
    d.apply("name-kernel", name="K_pool", channel=c, position=(m,), indices=(b, o, c, i, m))
    d.conclude(omega=Window((WindowAxis(2 * R + 1, 1, 1, R, L),)), channel=c, neighbour=(m,))
