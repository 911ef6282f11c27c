"""A box sum with a declared parameter it never reads (look-alike: the gradient check takes the gradient of a tensor
nothing reads as zero on both sides, not as an error)."""

import sympy as sp

from evosym import Definition, InRange, Operator, TensorDecl, index, size

B, C, L = size("B"), size("C"), size("L")
K, s = size("K"), size("s")
P = size("P", zero=True)
b, c, i, u, m = (index(t) for t in "b c i u m".split())
L_out = sp.floor((L + 2 * P - K) / s) + 1

x = TensorDecl("x", (B, C, L), "input", "input sequence")
unused = TensorDecl("unused", (C,), "parameter", "a declared parameter the operator never reads")
y = TensorDecl("y", (B, C, L_out), "output", "box sums")
x_pad = Definition("x_pad", (b, c, m), InRange(m, 0, L - 1) * x[b, c, m], "zero-padded input", text="x\u0303")


def torch_reference(t, sizes):
    import torch.nn.functional as F
    k, st, p, ch = (int(sizes[n]) for n in ("K", "s", "P", "C"))
    return F.conv1d(F.pad(t["x"], (p, p)), t["x"].new_ones(ch, 1, k), stride=st, groups=ch)


def reference(arrays, sizes):
    import torch
    return torch_reference({k: torch.from_numpy(a).to(torch.float64) for k, a in arrays.items()}, sizes).numpy()


OPERATOR = Operator(
    name="box_sum_unused_parameter", summary="a box sum over K positions with stride s and zero padding P (any P < K)",
    description="look-alike of avg_pool1d: the sum, not the mean, and padding beyond half the window",
    output=y, lhs_indices=(b, c, i),
    traditional=sp.Sum(x_pad[b, c, s * i + u - P], (u, 0, K - 1)),
    tensors=(x, unused), batch=b, out_channel=c, position=(i,), value="x", definitions=(x_pad,),
    sizes=((B, "batch size"), (C, "channels"), (L, "length"), (K, "window"), (s, "stride"), (P, "zero padding")),
    grid=({B: 1, C: 2, L: 5, K: 3, s: 1, P: 2}, {B: 2, C: 1, L: 6, K: 2, s: 2, P: 1}, {B: 1, C: 2, L: 4, K: 3, s: 2, P: 0}),
    constraints=(sp.Le(P, K - 1), sp.Le(K, L + 2 * P)),
    reference=reference, reference_name="F.conv1d with a ones filter on the zero-padded input", torch_reference=torch_reference,
    bench={B: 8, C: 64, L: 4096, K: 5, s: 1, P: 4},
)


def derive(d):
    d.auto()
