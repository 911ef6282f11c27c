"""Causal dilated 1-D convolution (WaveNet / TCN style): zero padding δ(K−1) on the left only.

    y[b, o, i] = Σ_c Σ_u W[o, c, u] · x̃[b, c, i + δ·u − δ·(K − 1)]

with x̃ the zero-padded input; the output is as long as the input and position i reads only
positions ≤ i. No derive: the proof search finds the steps.
"""

import sympy as sp

from evosym import Definition, InRange, Operator, TensorDecl, index, size

B, C, O, L, K, dl = size("B"), size("C"), size("O"), size("L"), size("K"), size("delta")
b, o, c, i, u, m = (index(t) for t in "b o c i u m".split())

x = TensorDecl("x", (B, C, L), "input", "input sequence (B × C × L)")
W = TensorDecl("W", (O, C, K), "parameter", "convolution weight (PyTorch layout)")
y = TensorDecl("y", (B, O, L), "output", "output sequence, as long as the input")
x_pad = Definition("x_pad", (b, c, m), InRange(m, 0, L - 1) * x[b, c, m], "zero-padded input")


def reference(arrays, sizes):
    """torch: pad δ(K−1) zeros on the left, then a plain dilated conv1d."""
    import torch
    import torch.nn.functional as F
    t = torch.from_numpy(arrays["x"]).to(torch.float64)
    w = torch.from_numpy(arrays["W"]).to(torch.float64)
    pad = sizes["delta"] * (sizes["K"] - 1)
    return F.conv1d(F.pad(t, (pad, 0)), w, dilation=sizes["delta"]).numpy()


OPERATOR = Operator(
    name="causal_conv1d", summary="causal dilated 1-D convolution (left zero padding δ(K−1))",
    output=y, lhs_indices=(b, o, i),
    traditional=sp.Sum(W[o, c, u] * x_pad[b, c, i + dl * u - dl * (K - 1)], (u, 0, K - 1), (c, 0, C - 1)),
    tensors=(x, W), batch=b, out_channel=o, position=(i,), definitions=(x_pad,),
    sizes=((B, "batch size"), (C, "input channels"), (O, "output channels"), (L, "sequence length"),
           (K, "kernel size"), (dl, "dilation")),
    grid=({B: 1, C: 2, O: 2, L: 6, K: 3, dl: 1},
          {B: 2, C: 1, O: 3, L: 7, K: 2, dl: 2},
          {B: 1, C: 2, O: 1, L: 5, K: 3, dl: 3}),
    reference=reference, reference_name="F.pad (left) + torch.nn.functional.conv1d",
)
