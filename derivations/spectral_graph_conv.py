"""Spectral graph convolution: filter the graph signal in the eigenbasis of the graph Laplacian.

    y[b, p, o] = Σ_k U[p, k] · g[k] · x̂[b, k, o],      x̂[b, k, o] = Σ_q U[q, k] · x[b, q, o]

x is (B, N, C): N nodes with C features each (channels last, as graph libraries store them). U is
the N×N matrix whose columns are the Laplacian's orthonormal eigenvectors (U Λ Uᵀ = L), so x̂ =
Uᵀx is the graph Fourier transform; g[k] = g(λ_k) is the filter's response at eigenvalue k, one
filter for every channel (Bruna et al.'s non-parametric filter, shared across channels). Nothing in
the identity needs U orthonormal: it holds for any N×N matrix, which is how it is checked.
"""

import sympy as sp

from evosym import Definition, Global, Operator, TensorDecl
from evosym.ir.symbols import index, size

from ._conv import _numpy_reference

B, N, C = size("B"), size("N"), size("C")
b, p, o, c, q, k = (index(s) for s in "b p o c q k".split())

x = TensorDecl("x", (B, N, C), "input", "node features, channels last (B × N × C)")
U = TensorDecl("U", (N, N), "parameter", "Laplacian eigenvectors as columns (the graph Fourier basis)",
               torch_name="eigenvectors")
g = TensorDecl("g", (N,), "parameter", "spectral filter: its response g(λ_k) at each eigenvalue",
               torch_name="spectral_filter")
y = TensorDecl("y", (B, N, C), "output", "filtered node features")

xhat = Definition("xhat", (b, k, o), sp.Sum(U[q, k] * x[b, q, o], (q, 0, N - 1)),
                  "graph Fourier transform of the input: x̂ = Uᵀx", latex=r"\hat{x}", text="x\u0302",
                  shape=(B, N, C))


def torch_reference(t, sizes):
    """U · diag(g) · Uᵀ · x with torch matrix products (per sample, per channel)."""
    u = t["U"]
    return u @ (t["g"][:, None] * (u.transpose(0, 1) @ t["x"]))


OPERATOR = Operator(
    name="spectral_graph_conv",
    summary="spectral graph convolution: y = U·diag(g)·Uᵀ·x in the Laplacian's eigenbasis, one filter for every channel",
    output=y, lhs_indices=(b, p, o),
    traditional=sp.Sum(U[p, k] * g[k] * xhat[b, k, o], (k, 0, N - 1)),
    tensors=(x, U, g), batch=b, out_channel=o, position=(p,), value="x", definitions=(xhat,),
    sizes=((B, "batch size"), (N, "nodes"), (C, "channels")),
    grid=({B: 1, N: 3, C: 2}, {B: 2, N: 2, C: 1}, {B: 1, N: 1, C: 2}),
    reference=_numpy_reference(torch_reference), reference_name="U·diag(g)·Uᵀ·x in torch matrix products",
    torch_reference=torch_reference,
    bench={B: 8, N: 1024, C: 64},
    figure={B: 1, N: 4, C: 2},
    description="The graph signal is transformed into the Laplacian's eigenbasis (x̂ = Uᵀx), scaled by the "
                "filter's response at each eigenvalue, and transformed back. As an Evolution form "
                "K[o,c,p,q] = δ(o,c)·Σ_k U[p,k]·g[k]·U[q,k]: static, global (every node reads every node), "
                "position-specific, depthwise and one kernel shared by all channels. On a cycle graph U is "
                "the DFT basis and the operator is a circular convolution.",
    citation="Bruna et al., Spectral Networks and Locally Connected Networks on Graphs, ICLR 2014",
    notes=("One filter for every channel; Bruna et al. also allow a filter per (output, input) channel pair.",
           "The identity holds for any N×N matrix U; orthonormality only makes Uᵀ the inverse transform."),
)


def derive(d):
    d.apply("unfold-definition", name="xhat")
    d.apply("move-into-sum", factor=U[p, k] * g[k], into=q)
    d.apply("exchange-sums", outer=[k], inner=[q])
    d.apply("factor-out", factor=x[b, q, o], over=[k])
    d.apply("introduce-delta", targets=[(o, c, 0, C - 1)], within=q)
    d.apply("exchange-sums", outer=[q], inner=[c])
    d.apply("name-kernel", name="K", channel=c, position=(q,), indices=(o, c, p, q))
    d.conclude(omega=Global((N,)), channel=c, neighbour=(q,))
