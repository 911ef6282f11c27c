"""A graph convolution y[b, o, p] = bias[o] + Σ_q A[p, q]·Σ_c W[o, c]·x[b, c, q] (O ≠ C): lowered as a premix (v = W·x, then A)
with the bias added natively; it was once dropped on that path (review finding)."""
import sympy as sp
from evosym import Definition, Global, Operator, TensorDecl
from evosym.ir.symbols import index, size
B, N, C, O = size("B"), size("N"), size("C"), size("O")
b, p, o, c, q = (index(s) for s in "b p o c q".split())
x = TensorDecl("x", (B, C, N), "input", "node features, channels first")
A = TensorDecl("A", (N, N), "parameter", "adjacency", torch_name="adj")
W = TensorDecl("W", (O, C), "parameter", "weight", torch_name="weight")
bias = TensorDecl("bias", (O,), "parameter", "bias", torch_name="bias")
y = TensorDecl("y", (B, O, N), "output", "out")
def torch_reference(t, sizes):
    import torch
    return torch.einsum("pq,oc,bcq->bop", t["A"], t["W"], t["x"]) + t["bias"][None, :, None]
def reference(arrays, sizes):
    import torch
    return torch_reference({k: torch.from_numpy(v).double() for k, v in arrays.items()}, sizes).numpy()
OPERATOR = Operator(
    name="premix_bias_gcn", summary="graph convolution with an output bias, O ≠ C",
    output=y, lhs_indices=(b, o, p),
    traditional=bias[o] + sp.Sum(A[p, q] * sp.Sum(W[o, c] * x[b, c, q], (c, 0, C - 1)), (q, 0, N - 1)),
    tensors=(x, A, W, bias), batch=b, out_channel=o, position=(p,), value="x",
    sizes=((B, "batch size"), (N, "nodes"), (C, "input channels"), (O, "output channels")),
    grid=({B: 1, N: 3, C: 2, O: 1}, {B: 2, N: 2, C: 1, O: 3}, {B: 1, N: 1, C: 2, O: 2}),
    reference=reference, reference_name="einsum", torch_reference=torch_reference,
)
def derive(d):
    d.apply("move-into-sum", factor=A[p, q], into=c)
    d.apply("exchange-sums", outer=[q], inner=[c])
    d.apply("name-kernel", name="K", channel=c, position=(q,), indices=(b, o, c, p, q))
    d.conclude(omega=Global((N,)), channel=c, neighbour=(q,))
