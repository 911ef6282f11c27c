"""Causal cumulative mean along a sequence (prefix average, as in causal 'average attention'):

    y[b, o, i] = 1/(i + 1) · Σ_{m=0}^{i} x[b, o, m]

No derive.
"""

import sympy as sp

from evosym import Operator, TensorDecl, index, size

B, C, L = size("B"), size("C"), size("L")
b, o, i, m = (index(t) for t in "b o i m".split())

x = TensorDecl("x", (B, C, L), "input", "input sequence")
y = TensorDecl("y", (B, C, L), "output", "prefix means")


def reference(arrays, sizes):
    import torch
    x_ = torch.from_numpy(arrays["x"]).to(torch.float64)
    counts = torch.arange(1, x_.shape[-1] + 1, dtype=torch.float64)
    return (torch.cumsum(x_, dim=-1) / counts).numpy()


OPERATOR = Operator(
    name="cumulative_mean1d", summary="causal prefix mean along the sequence",
    output=y, lhs_indices=(b, o, i),
    traditional=sp.Sum(x[b, o, m], (m, 0, i)) / (i + 1),
    tensors=(x,), batch=b, out_channel=o, position=(i,),
    sizes=((B, "batch size"), (C, "channels"), (L, "sequence length")),
    grid=({B: 1, C: 2, L: 5}, {B: 2, C: 1, L: 4}, {B: 1, C: 3, L: 1}),
    reference=reference, reference_name="torch.cumsum / arange",
)
