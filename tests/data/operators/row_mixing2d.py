"""A per-channel matrix product over the rows, y[b, o, i, j] = Σ_t G[b, o, i, t]·x[b, o, t, j] (H ≠ W): the proof
search concludes with a window of stride 0 on the rows (every output row reads every input row of its column)."""
import sympy as sp

from evosym import Operator, TensorDecl, index, size

B, C, H, W = size("B"), size("C"), size("H"), size("W")
b, o, i, j, t = (index(s) for s in "b o i j t".split())
x = TensorDecl("x", (B, C, H, W), "input", "the values")
gm = TensorDecl("G", (B, C, H, H), "input", "a row mixer per sample and channel")
y = TensorDecl("y", (B, C, H, W), "output", "G·x per channel")


def torch_reference(t_, sizes):
    import torch
    return torch.matmul(t_["G"], t_["x"])


def reference(arrays, sizes):
    import torch
    return torch_reference({k: torch.from_numpy(a).double() for k, a in arrays.items()}, sizes).numpy()


OPERATOR = Operator(
    name="row_mixing2d", summary="a per-channel matrix product over the rows", output=y, lhs_indices=(b, o, i, j),
    traditional=sp.Sum(gm[b, o, i, t] * x[b, o, t, j], (t, 0, H - 1)),
    tensors=(x, gm), batch=b, out_channel=o, position=(i, j), value="x",
    sizes=((B, "batch"), (C, "channels"), (H, "height"), (W, "width")),
    grid=({B: 2, C: 1, H: 3, W: 4}, {B: 1, C: 2, H: 4, W: 2}),
    reference=reference, torch_reference=torch_reference, reference_name="torch.matmul",
)
