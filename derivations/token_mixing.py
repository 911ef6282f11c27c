"""Token mixing (MLP-Mixer): one linear layer across the tokens, shared by every channel.

    y[b, n, o] = bias[n] + Σ_m W[n, m] · x[b, m, o]

x is (B, N, C) with the channels last, as in MLP-Mixer, whose token-mixing MLP transposes the
tokens into the last axis, applies ``nn.Linear(N, N)`` and transposes back. The MLP is two such
layers around a GELU; each layer is this operator (the GELU between them is not linear, so the
whole MLP is not one Evolution form with a static kernel). The bias is per token, not per channel.
"""

import sympy as sp

from evosym import Global, Operator, TensorDecl
from evosym.ir.symbols import index, size

from ._conv import _numpy_reference

B, N, C = size("B"), size("N"), size("C")
b, n, o, c, m = (index(s) for s in "b n o c m".split())

x = TensorDecl("x", (B, N, C), "input", "tokens, channels last (B × N × C)")
W = TensorDecl("W", (N, N), "parameter", "token-mixing weight (nn.Linear(N, N) layout: output token × input token)",
               torch_name="weight")
bias = TensorDecl("bias", (N,), "parameter", "per-token bias", latex=r"\mathrm{bias}", torch_name="bias")
y = TensorDecl("y", (B, N, C), "output", "output tokens")


def torch_reference(t, sizes):
    """MLP-Mixer's token mixing: transpose tokens last, nn.Linear over them, transpose back."""
    import torch.nn.functional as F
    return F.linear(t["x"].transpose(1, 2), t["W"], t["bias"]).transpose(1, 2)


OPERATOR = Operator(
    name="token_mixing",
    summary="token mixing (MLP-Mixer): one linear layer across the tokens, shared by every channel, per-token bias",
    output=y, lhs_indices=(b, n, o), traditional=bias[n] + sp.Sum(W[n, m] * x[b, m, o], (m, 0, N - 1)),
    tensors=(x, W, bias), batch=b, out_channel=o, position=(n,), value="x",
    sizes=((B, "batch size"), (N, "tokens"), (C, "channels")),
    grid=({B: 1, N: 3, C: 2}, {B: 2, N: 4, C: 1}, {B: 1, N: 1, C: 3}),
    reference=_numpy_reference(torch_reference), reference_name="MLP-Mixer token mixing: F.linear over the transposed tokens",
    torch_reference=torch_reference,
    torch_binding={"module": "torch.nn.Linear", "requires": [("m.in_features == m.out_features",
                                                              "token mixing maps N tokens to N tokens")],
                   "sizes": {"N": "m.in_features"}, "tensors": {"W": "m.weight", "bias": "m.bias"}},
    bench={B: 8, N: 196, C: 512},
    figure={B: 1, N: 4, C: 2},
    description="One layer of MLP-Mixer's token-mixing MLP: every channel mixes the N tokens with the same "
                "N×N matrix. As an Evolution form K[o,c,p,q] = δ(o,c)·W[p,q]: static, global (every token "
                "reads every token), position-specific (W[p,q] is not a function of q − p), depthwise and "
                "one kernel shared by all channels.",
    citation="Tolstikhin et al., MLP-Mixer: An all-MLP Architecture for Vision, NeurIPS 2021",
    notes=("The token-mixing MLP is two of these layers around a GELU; this operator is one layer.",
           "The bias is indexed by the output token, so it is β[b, o, p] = bias[p] in the Evolution form."),
)


def derive(d):
    d.apply("introduce-delta", targets=[(o, c, 0, C - 1)], within=m)
    d.apply("exchange-sums", outer=[m], inner=[c])
    d.apply("name-kernel", name="K", channel=c, position=(m,), indices=(o, c, n, m))
    d.conclude(omega=Global((N,)), channel=c, neighbour=(m,))
