"""1-D convolution with replicate padding (PyTorch padding_mode='replicate'): positions left of the
signal read its first sample, positions right of it its last.

    x̂[b, c, m]  = x[b, c, min(max(m, 0), L − 1)]
    y[b, o, i]  = Σ_c Σ_u W[o, c, u] · x̂[b, c, i + u − P]

stride 1, output length L + 2P − K + 1. No derive.
"""

import sympy as sp

from evosym import Definition, Operator, TensorDecl, index, size

B, C, O, L, K = size("B"), size("C"), size("O"), size("L"), size("K")
P = size("P", zero=True)
b, o, c, i, u, m = (index(t) for t in "b o c i u m".split())

x = TensorDecl("x", (B, C, L), "input", "input sequence")
W = TensorDecl("W", (O, C, K), "parameter", "convolution weight (PyTorch layout)")
y = TensorDecl("y", (B, O, L + 2 * P - K + 1), "output", "output sequence")
x_rep = Definition("x_rep", (b, c, m), x[b, c, sp.Min(sp.Max(m, 0), L - 1)],
                   "replicate-padded input: the nearest edge sample outside the signal",
                   latex=r"\hat{x}", text="x\u0302")


def reference(arrays, sizes):
    """torch: F.pad(mode='replicate') then an unpadded conv1d."""
    import torch
    import torch.nn.functional as F
    t = {k: torch.from_numpy(v).to(torch.float64) for k, v in arrays.items()}
    p = sizes["P"]
    return F.conv1d(F.pad(t["x"], (p, p), mode="replicate"), t["W"]).numpy()


OPERATOR = Operator(
    name="replicate_conv1d", summary="1-D convolution with replicate padding P, stride 1",
    output=y, lhs_indices=(b, o, i),
    traditional=sp.Sum(W[o, c, u] * x_rep[b, c, i + u - P], (u, 0, K - 1), (c, 0, C - 1)),
    tensors=(x, W), batch=b, out_channel=o, position=(i,), definitions=(x_rep,),
    sizes=((B, "batch size"), (C, "input channels"), (O, "output channels"), (L, "input length"),
           (K, "kernel size"), (P, "replicate padding on each side")),
    grid=({B: 1, C: 2, O: 2, L: 5, K: 3, P: 1},
          {B: 2, C: 1, O: 1, L: 4, K: 3, P: 2},
          {B: 1, C: 1, O: 3, L: 6, K: 5, P: 2}),
    reference=reference, reference_name="F.pad(mode='replicate') + torch.nn.functional.conv1d",
)
