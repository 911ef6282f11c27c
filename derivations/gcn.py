"""Graph convolution (Kipf & Welling): one GCN layer with the renormalised adjacency.

    y[b, p, o] = bias[o] + Σ_q Â[p, q] · h[b, q, o],      h[b, q, o] = Σ_c x[b, q, c] · W[c, o]
    Â[p, q]    = (A[p, q] + δ(p, q)) / (√d̃[p] · √d̃[q]),      d̃[p] = 1 + Σ_q A[p, q]

x is (B, N, C): N nodes with C features (channels last). A is the N×N weighted adjacency without
self-loops (entries ≥ 0); Ã = A + I adds them and D̃ is Ã's row sums, so d̃ ≥ 1 and Â =
D̃^(−1/2)·Ã·D̃^(−1/2) is defined. W is C×O (Kipf's H·W orientation), bias per output channel.
Â is an explicit SymPy expression (a definition), so code generation computes it from A.
"""

import sympy as sp

from evosym import Definition, Global, Operator, TensorDecl
from evosym.ir.symbols import index, size

from ._conv import _numpy_reference

B, N, C, O = size("B"), size("N"), size("C"), size("O")
b, p, o, c, q, q2 = (index(s) for s in "b p o c q q_2".split())

x = TensorDecl("x", (B, N, C), "input", "node features, channels last (B × N × C)")
A = TensorDecl("A", (N, N), "parameter", "weighted adjacency without self-loops (entries ≥ 0)",
               torch_name="adjacency", domain="nonnegative")
W = TensorDecl("W", (C, O), "parameter", "layer weight (C × O, Kipf's H·W orientation)", torch_name="weight")
bias = TensorDecl("bias", (O,), "parameter", "per-output-channel bias", latex=r"\mathrm{bias}", torch_name="bias")
y = TensorDecl("y", (B, N, O), "output", "output node features")

degree = Definition("deg", (p,), 1 + sp.Sum(A[p, q2], (q2, 0, N - 1)),
                    "degree of node p in Ã = A + I (row sum, self-loop included)", latex=r"\tilde{d}",
                    text="d\u0303", shape=(N,))
adj = Definition("Ahat", (p, q), (A[p, q] + sp.KroneckerDelta(p, q)) / (sp.sqrt(degree[p]) * sp.sqrt(degree[q])),
                 "renormalised adjacency D̃^(−1/2)·(A + I)·D̃^(−1/2)", latex=r"\hat{A}", text="\u00c2",
                 shape=(N, N))
support = Definition("xw", (b, q, o), sp.Sum(x[b, q, c] * W[c, o], (c, 0, C - 1)),
                     "the channel map first (Kipf's H·W), once per node", latex="h", text="h", shape=(B, N, O))


def torch_reference(t, sizes):
    """The dense GCN formula: Ã = A + I, D̃ its row sums, D̃^(−1/2)·Ã·D̃^(−1/2)·x·W + bias."""
    import torch
    a = t["A"] + torch.eye(t["A"].shape[0], dtype=t["A"].dtype)
    s = a.sum(1).rsqrt()
    return (s[:, None] * a * s[None, :]) @ (t["x"] @ t["W"]) + t["bias"]


OPERATOR = Operator(
    name="gcn",
    summary="graph convolution (Kipf & Welling): renormalised adjacency D̃^(−1/2)(A + I)D̃^(−1/2) times x·W, plus bias",
    output=y, lhs_indices=(b, p, o),
    traditional=bias[o] + sp.Sum(adj[p, q] * support[b, q, o], (q, 0, N - 1)),
    tensors=(x, A, W, bias), batch=b, out_channel=o, position=(p,), value="x", definitions=(degree, adj, support),
    sizes=((B, "batch size"), (N, "nodes"), (C, "input channels"), (O, "output channels")),
    grid=({B: 1, N: 3, C: 2, O: 1}, {B: 2, N: 2, C: 1, O: 2}, {B: 1, N: 1, C: 2, O: 2}),
    reference=_numpy_reference(torch_reference), reference_name="the dense GCN formula in torch ops",
    torch_reference=torch_reference,
    bench={B: 8, N: 256, C: 64, O: 64},
    figure={B: 1, N: 3, C: 2, O: 2},
    description="Each node averages its neighbours' and its own features, weighted by the renormalised "
                "adjacency, after a linear map of the channels. As an Evolution form "
                "K[o,c,p,q] = Â[p,q]·W[c,o]: static, global over the nodes but zero off the graph's edges "
                "(one hop: Â[p,q] has the factor A[p,q] + δ(p,q)), position-specific, full channel mixing, "
                "separable.",
    citation="Kipf & Welling, Semi-Supervised Classification with Graph Convolutional Networks, ICLR 2017",
    notes=("The degree is Ã's row sum (Kipf's D̃_ii = Σ_j Ã_ij); for a symmetric A this is every convention.",
           "A must have no self-loops and non-negative weights (the random inputs of every check draw them so)."),
)


def derive(d):
    d.apply("unfold-definition", name="xw")
    d.apply("move-into-sum", factor=adj[p, q], into=c)
    d.apply("exchange-sums", outer=[q], inner=[c])
    d.apply("name-kernel", name="K", channel=c, position=(q,), indices=(o, c, p, q))
    d.conclude(omega=Global((N,)), channel=c, neighbour=(q,))
