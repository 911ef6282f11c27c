"""1-D convolution with a fixed stride 2 and dilation 2, zero padding P and a bias.

    y[b, o, i] = bias[o] + Σ_c Σ_u W[o, c, u] · x̃[b, c, 2·i + 2·u − P]

output length ⌊(L + 2P − 2(K − 1) − 1)/2⌋ + 1 (PyTorch's formula with s = δ = 2). No derive.
"""

import sympy as sp

from evosym import Definition, InRange, Operator, TensorDecl, index, size

B, C, O, L, K = size("B"), size("C"), size("O"), size("L"), size("K")
P = size("P", zero=True)
b, o, c, i, u, m = (index(t) for t in "b o c i u m".split())
L_out = sp.floor((L + 2 * P - 2 * (K - 1) - 1) / 2) + 1

x = TensorDecl("x", (B, C, L), "input", "input sequence (B × C × L)")
W = TensorDecl("W", (O, C, K), "parameter", "convolution weight (PyTorch layout)")
bias = TensorDecl("bias", (O,), "parameter", "per-output-channel bias")
y = TensorDecl("y", (B, O, L_out), "output", "output sequence")
x_pad = Definition("x_pad", (b, c, m), InRange(m, 0, L - 1) * x[b, c, m], "zero-padded input")


def reference(arrays, sizes):
    """torch.nn.functional.conv1d with stride=2, dilation=2, padding=P."""
    import torch
    import torch.nn.functional as F
    t = {k: torch.from_numpy(v).to(torch.float64) for k, v in arrays.items()}
    return F.conv1d(t["x"], t["W"], t["bias"], stride=2, dilation=2, padding=sizes["P"]).numpy()


OPERATOR = Operator(
    name="strided_dilated_conv1d", summary="1-D convolution, stride 2, dilation 2, zero padding P, bias",
    output=y, lhs_indices=(b, o, i),
    traditional=bias[o] + sp.Sum(W[o, c, u] * x_pad[b, c, 2 * i + 2 * u - P], (u, 0, K - 1), (c, 0, C - 1)),
    tensors=(x, W, bias), batch=b, out_channel=o, position=(i,), definitions=(x_pad,),
    sizes=((B, "batch size"), (C, "input channels"), (O, "output channels"), (L, "input length"),
           (K, "kernel size"), (P, "zero padding on each side")),
    grid=({B: 1, C: 2, O: 2, L: 9, K: 3, P: 1},
          {B: 2, C: 1, O: 3, L: 8, K: 2, P: 0},
          {B: 1, C: 2, O: 1, L: 6, K: 3, P: 3}),
    reference=reference, reference_name="torch.nn.functional.conv1d (stride=2, dilation=2)",
)
