"""Mamba-style short causal depthwise convolution on channels-last tokens (B × N × C), with bias:
each channel is filtered along the token axis by its own K taps, reading only past tokens.

    y[b, n, o] = bias[o] + Σ_u W[o, u] · x̃[b, n + u − (K − 1), o]

with x̃ zero before the first token. No derive.
"""

import sympy as sp

from evosym import Definition, InRange, Operator, TensorDecl, index, size

B, N, C, K = size("B"), size("N"), size("C"), size("K")
b, n, o, c, u, m = (index(t) for t in "b n o c u m".split())

x = TensorDecl("x", (B, N, C), "input", "tokens, channels last")
W = TensorDecl("W", (C, K), "parameter", "depthwise taps (conv1d weight with its singleton axis dropped)")
bias = TensorDecl("bias", (C,), "parameter", "per-channel bias")
y = TensorDecl("y", (B, N, C), "output", "output tokens")
x_pad = Definition("x_pad", (b, m, c), InRange(m, 0, N - 1) * x[b, m, c], "input, zero before the first token")


def reference(arrays, sizes):
    """torch: transpose to channels-first, conv1d(groups=C, padding=K−1), keep the first N outputs."""
    import torch
    import torch.nn.functional as F
    t = {k: torch.from_numpy(v).to(torch.float64) for k, v in arrays.items()}
    xt = t["x"].transpose(1, 2)
    kk, nn = sizes["K"], xt.shape[-1]
    out = F.conv1d(xt, t["W"][:, None, :], t["bias"], padding=kk - 1, groups=xt.shape[1])[..., :nn]
    return out.transpose(1, 2).contiguous().numpy()


OPERATOR = Operator(
    name="token_causal_dwconv", summary="causal depthwise conv1d over channels-last tokens, with bias (Mamba's short conv)",
    output=y, lhs_indices=(b, n, o),
    traditional=bias[o] + sp.Sum(W[o, u] * x_pad[b, n + u - (K - 1), o], (u, 0, K - 1)),
    tensors=(x, W, bias), batch=b, out_channel=o, position=(n,), definitions=(x_pad,),
    sizes=((B, "batch size"), (N, "tokens"), (C, "channels"), (K, "kernel size")),
    grid=({B: 1, N: 5, C: 2, K: 3}, {B: 2, N: 4, C: 3, K: 2}, {B: 1, N: 3, C: 1, K: 4}),
    reference=reference, reference_name="torch conv1d(groups=C, padding=K−1) truncated, channels last",
)
