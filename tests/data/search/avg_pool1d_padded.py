"""1-D average pooling with stride and zero padding (PyTorch's default count_include_pad=True).

    y[b, o, i] = 1/K · Σ_u x̃[b, o, s·i + u − P]

output length ⌊(L + 2P − K)/s⌋ + 1. PyTorch requires P ≤ K/2 (the grid respects it). No derive.
"""

import sympy as sp

from evosym import Definition, InRange, Operator, TensorDecl, index, size

B, C, L, K, s = size("B"), size("C"), size("L"), size("K"), size("s")
P = size("P", zero=True)
b, o, c, i, u, m = (index(t) for t in "b o c i u m".split())
L_out = sp.floor((L + 2 * P - K) / s) + 1

x = TensorDecl("x", (B, C, L), "input", "input signal")
y = TensorDecl("y", (B, C, L_out), "output", "pooled signal")
x_pad = Definition("x_pad", (b, c, m), InRange(m, 0, L - 1) * x[b, c, m], "zero-padded input")


def reference(arrays, sizes):
    import torch
    import torch.nn.functional as F
    t = torch.from_numpy(arrays["x"]).to(torch.float64)
    return F.avg_pool1d(t, sizes["K"], sizes["s"], sizes["P"]).numpy()


OPERATOR = Operator(
    name="avg_pool1d_padded", summary="1-D average pooling, kernel K, stride s, zero padding P (padding counted)",
    output=y, lhs_indices=(b, o, i),
    traditional=sp.Sum(x_pad[b, o, s * i + u - P], (u, 0, K - 1)) / K,
    tensors=(x,), batch=b, out_channel=o, position=(i,), definitions=(x_pad,),
    sizes=((B, "batch size"), (C, "channels"), (L, "input length"), (K, "window size"), (s, "stride"),
           (P, "zero padding on each side")),
    grid=({B: 1, C: 2, L: 6, K: 3, s: 1, P: 1},
          {B: 2, C: 1, L: 7, K: 4, s: 2, P: 2},
          {B: 1, C: 3, L: 5, K: 2, s: 3, P: 0}),
    reference=reference, reference_name="torch.nn.functional.avg_pool1d",
)
