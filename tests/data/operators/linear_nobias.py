"""A user operator written from scratch: a linear layer WITHOUT bias on (B, N, C) tokens.

    y[b, n, o] = Σ_c W[o, c] · x[b, n, c]
"""

import sympy as sp

from evosym import Operator, TensorDecl, Window, WindowAxis, index, size

B, N, C, O = size("B"), size("N"), size("C"), size("O")
b, n, o, c, q = (index(s) for s in "b n o c q".split())

x = TensorDecl("x", (B, N, C), "input", "tokens, channels last")
W = TensorDecl("W", (O, C), "parameter", "weight, out_features × in_features")
y = TensorDecl("y", (B, N, O), "output", "output tokens")


def _reference(arrays, sizes):
    import torch
    import torch.nn.functional as F
    t = {k: torch.from_numpy(v).to(torch.float64) for k, v in arrays.items()}
    return F.linear(t["x"], t["W"]).numpy()


OPERATOR = Operator(
    name="linear_nobias", summary="token-wise linear layer without bias",
    output=y, lhs_indices=(b, n, o), traditional=sp.Sum(W[o, c] * x[b, n, c], (c, 0, C - 1)),
    tensors=(x, W), batch=b, out_channel=o, position=(n,), value="x",
    sizes=((B, "batch size"), (N, "tokens"), (C, "input features"), (O, "output features")),
    grid=({B: 1, N: 3, C: 2, O: 2}, {B: 2, N: 1, C: 1, O: 1}),
    reference=_reference, reference_name="torch.nn.functional.linear (bias=None)",
)


def derive(d):
    d.apply("introduce-delta", targets=[(n, q, 0, N - 1)], within=c)
    d.apply("name-kernel", name="K", channel=c, position=(q,), indices=(o, c, n, q))
    d.conclude(omega=Window((WindowAxis(1, 1, 1, 0, N),)), channel=c, neighbour=(q,))
