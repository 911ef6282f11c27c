"""A channels-last token operator: a per-token linear layer (with bias) followed by a learned
per-channel gain (LayerScale, CaiT).

    y[b, n, o] = γ[o] · (Σ_c W[o, c] · x[b, n, c] + bias[o])

x is B × N × C (tokens, channels last). No derive.
"""

import sympy as sp

from evosym import Operator, TensorDecl, index, size

B, N, C, O = size("B"), size("N"), size("C"), size("O")
b, n, o, c = (index(t) for t in "b n o c".split())

x = TensorDecl("x", (B, N, C), "input", "tokens, channels last")
W = TensorDecl("W", (O, C), "parameter", "linear weight (out_features × in_features)")
bias = TensorDecl("bias", (O,), "parameter", "linear bias")
gamma = TensorDecl("gamma", (O,), "parameter", "per-channel gain (LayerScale)", latex=r"\gamma", text="\u03b3")
y = TensorDecl("y", (B, N, O), "output", "output tokens")


def reference(arrays, sizes):
    import torch
    import torch.nn.functional as F
    t = {k: torch.from_numpy(v).to(torch.float64) for k, v in arrays.items()}
    return (F.linear(t["x"], t["W"], t["bias"]) * t["gamma"]).numpy()


OPERATOR = Operator(
    name="token_linear_layerscale", summary="per-token linear layer with bias, then a per-channel gain (channels last)",
    output=y, lhs_indices=(b, n, o),
    traditional=gamma[o] * (sp.Sum(W[o, c] * x[b, n, c], (c, 0, C - 1)) + bias[o]),
    tensors=(x, W, bias, gamma), batch=b, out_channel=o, position=(n,),
    sizes=((B, "batch size"), (N, "tokens"), (C, "input features"), (O, "output features")),
    grid=({B: 1, N: 3, C: 4, O: 2}, {B: 2, N: 2, C: 1, O: 3}, {B: 1, N: 5, C: 2, O: 4}),
    reference=reference, reference_name="torch.nn.functional.linear(...) * gamma",
)
