"""3-D average pooling (cubic window K, stride s, zero padding P, padding counted).

    y[b, o, i, j, k] = 1/K³ · Σ_u Σ_v Σ_t x̃[b, o, s·i + u − P, s·j + v − P, s·k + t − P]

each output axis ⌊(L + 2P − K)/s⌋ + 1. No derive.
"""

import sympy as sp

from evosym import Definition, InRange, Operator, TensorDecl, index, size

B, C, D, H, W_, K, s = (size(t) for t in ("B", "C", "D", "H", "W", "K", "s"))
P = size("P", zero=True)
b, o, c, i, j, k = (index(t) for t in "b o c i j k".split())
u, v, t, m, n, l = (index(t_) for t_ in "u v t m n l".split())


def _out(L):
    return sp.floor((L + 2 * P - K) / s) + 1


x = TensorDecl("x", (B, C, D, H, W_), "input", "input volume")
y = TensorDecl("y", (B, C, _out(D), _out(H), _out(W_)), "output", "pooled volume")
x_pad = Definition("x_pad", (b, c, m, n, l),
                   InRange(m, 0, D - 1) * InRange(n, 0, H - 1) * InRange(l, 0, W_ - 1) * x[b, c, m, n, l],
                   "zero-padded input")


def reference(arrays, sizes):
    import torch
    import torch.nn.functional as F
    x_ = torch.from_numpy(arrays["x"]).to(torch.float64)
    return F.avg_pool3d(x_, sizes["K"], sizes["s"], sizes["P"]).numpy()


OPERATOR = Operator(
    name="avg_pool3d_cubic", summary="3-D average pooling, cubic window K, stride s, zero padding P (counted)",
    output=y, lhs_indices=(b, o, i, j, k),
    traditional=sp.Sum(x_pad[b, o, s * i + u - P, s * j + v - P, s * k + t - P], (t, 0, K - 1), (v, 0, K - 1),
                       (u, 0, K - 1)) / K**3,
    tensors=(x,), batch=b, out_channel=o, position=(i, j, k), definitions=(x_pad,),
    sizes=((B, "batch size"), (C, "channels"), (D, "input depth"), (H, "input height"), (W_, "input width"),
           (K, "window size (all axes)"), (s, "stride (all axes)"), (P, "zero padding (all axes)")),
    grid=({B: 1, C: 2, D: 3, H: 4, W_: 3, K: 2, s: 1, P: 0},
          {B: 2, C: 1, D: 4, H: 3, W_: 5, K: 3, s: 2, P: 1},
          {B: 1, C: 1, D: 2, H: 3, W_: 2, K: 2, s: 2, P: 1}),
    reference=reference, reference_name="torch.nn.functional.avg_pool3d",
)
