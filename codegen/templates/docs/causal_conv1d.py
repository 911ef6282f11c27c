"""Causal depthwise 1-D convolution: the short convolution of Mamba and Hyena, as a user's operator file.

    y[b, o, t] = Σ_{u=0}^{K-1} W[o, u] · x̃[b, o, t + u − (K − 1)]      (x̃: x with K − 1 zeros on the left)

No derive(d): evosym's proof search finds the steps (``evosym prove FILE --show-derive`` prints them).
"""

import sympy as sp

from evosym import Definition, InRange, Operator, TensorDecl, index, size

B, C, L, K = (size(n) for n in ("B", "C", "L", "K"))
b, o, t, c, u, m = (index(n) for n in ("b", "o", "t", "c", "u", "m"))

x = TensorDecl("x", (B, C, L), "input", "input sequence")
W = TensorDecl("W", (C, K), "parameter", "one filter per channel", torch_name="weight")
y = TensorDecl("y", (B, C, L), "output", "output sequence (same length)")
x_pad = Definition("x_pad", (b, c, m), InRange(m, 0, L - 1) * x[b, c, m],
                   "x with zeros outside [0, L): only the left ones are read", latex=r"\tilde{x}")


def torch_reference(tensors, sizes):
    """An independent implementation: left-pad, then a depthwise conv1d (PyTorch)."""
    import torch.nn.functional as F
    k = sizes["K"]
    x_ = F.pad(tensors["x"], (k - 1, 0))
    return F.conv1d(x_, tensors["W"][:, None, :], groups=sizes["C"])


def reference(arrays, sizes):
    """The same in float64 on NumPy arrays, for the proof's exact reference check."""
    import torch
    return torch_reference({k: torch.from_numpy(v).double() for k, v in arrays.items()}, sizes).numpy()


OPERATOR = Operator(
    name="causal_conv1d",
    summary="causal depthwise 1-D convolution (output t reads inputs t−K+1 … t)",
    output=y, lhs_indices=(b, o, t),
    traditional=sp.Sum(W[o, u] * x_pad[b, o, t + u - (K - 1)], (u, 0, K - 1)),
    tensors=(x, W), definitions=(x_pad,),
    batch=b, out_channel=o, position=(t,),
    sizes=((B, "batch size"), (C, "channels"), (L, "sequence length"), (K, "filter length")),
    grid=({B: 1, C: 2, L: 5, K: 3}, {B: 2, C: 1, L: 4, K: 4}, {B: 1, C: 3, L: 6, K: 1}),
    reference=reference, torch_reference=torch_reference, reference_name="F.conv1d after F.pad (K − 1 zeros on the left)",
    figure={B: 1, C: 2, L: 10, K: 4},
)

