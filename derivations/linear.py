"""Linear layer (``torch.nn.functional.linear``) on a token sequence: y[b,n,o] = bias[o] + Σ_c W[o,c]·x[b,n,c]."""

import sympy as sp

from evosym import Operator, TensorDecl, Window, WindowAxis
from evosym.ir.symbols import index, size

B, N, C, O = size("B"), size("N"), size("C"), size("O")
b, n, o, c, q = (index(s) for s in "b n o c q".split())

x = TensorDecl("x", (B, N, C), "input", "token features, channels last (B × N × C)")
W = TensorDecl("W", (O, C), "parameter", "weight (PyTorch layout: out_features × in_features)", torch_name="weight")
bias = TensorDecl("bias", (O,), "parameter", "bias", latex=r"\mathrm{bias}", torch_name="bias")
y = TensorDecl("y", (B, N, O), "output", "output tokens")


def _torch_reference(t, sizes):
    import torch.nn.functional as F
    return F.linear(t["x"], t["W"], t["bias"])


def _reference(arrays, sizes):
    import torch
    return _torch_reference({k: torch.from_numpy(v).to(torch.float64) for k, v in arrays.items()}, sizes).numpy()


OPERATOR = Operator(
    name="linear", summary="linear layer applied to every token (channels last), with bias",
    output=y, lhs_indices=(b, n, o), traditional=bias[o] + sp.Sum(W[o, c] * x[b, n, c], (c, 0, C - 1)),
    tensors=(x, W, bias), batch=b, out_channel=o, position=(n,), value="x",
    sizes=((B, "batch size"), (N, "tokens"), (C, "input features"), (O, "output features")),
    bench={B: 8, N: 3136, C: 64, O: 64},
    figure={B: 1, N: 5, C: 3, O: 2},
    grid=({B: 1, N: 3, C: 4, O: 2}, {B: 2, N: 1, C: 1, O: 3}, {B: 1, N: 4, C: 2, O: 5}),
    reference=_reference, reference_name="torch.nn.functional.linear", torch_reference=_torch_reference,
    torch_binding={"module": "torch.nn.Linear", "requires": [], "sizes": {"C": "m.in_features", "O": "m.out_features"},
                   "tensors": {"W": "m.weight", "bias": "m.bias"}},
    description="nn.Linear on a (B, N, C) sequence: a static, position-independent channel mixing, i.e. "
                "a pointwise convolution over tokens with the channel axis last.",
    citation="PyTorch torch.nn.functional.linear",
)


def derive(d):
    d.apply("introduce-delta", targets=[(n, q, 0, N - 1)], within=c)
    d.apply("name-kernel", name="K", channel=c, position=(q,), indices=(o, c, n, q))
    d.conclude(omega=Window((WindowAxis(1, 1, 1, 0, N),)), channel=c, neighbour=(q,))
