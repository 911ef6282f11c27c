"""1-D average pooling (kernel K, stride s, no padding), written as a user's operator file.

    y[b, o, i] = (1/K) · Σ_{u=0}^{K-1} x[b, o, s·i + u]

Prove it with ``evosym prove docs/examples/my_avg_pool1d.py``.
"""

import sympy as sp

from evosym import Operator, TensorDecl, Window, WindowAxis, index, size

# sizes (positive integers) and indices
B, C, L, K, s = (size(n) for n in ("B", "C", "L", "K", "s"))
b, o, i, c, u, m = (index(n) for n in ("b", "o", "i", "c", "u", "m"))
L_out = sp.floor((L - K) / s) + 1

x = TensorDecl("x", (B, C, L), "input", "input signal")
y = TensorDecl("y", (B, C, L_out), "output", "pooled signal")


def reference(arrays, sizes):
    """An independent implementation: PyTorch's avg_pool1d, in float64."""
    import torch
    import torch.nn.functional as F
    t = torch.from_numpy(arrays["x"]).double()
    return F.avg_pool1d(t, kernel_size=sizes["K"], stride=sizes["s"]).numpy()


OPERATOR = Operator(
    name="my_avg_pool1d",
    summary="1-D average pooling, kernel K, stride s, no padding",
    output=y,
    lhs_indices=(b, o, i),
    traditional=sp.Sum(x[b, o, s * i + u], (u, 0, K - 1)) / K,
    tensors=(x,),
    batch=b, out_channel=o, position=(i,),
    sizes=((B, "batch size"), (C, "channels"), (L, "input length"), (K, "kernel size"), (s, "stride")),
    grid=({B: 1, C: 2, L: 5, K: 2, s: 1}, {B: 2, C: 1, L: 7, K: 3, s: 2}, {B: 1, C: 3, L: 6, K: 1, s: 3}),
    reference=reference, reference_name="torch.nn.functional.avg_pool1d",
)


def derive(d):
    # the constant 1/K goes inside the sum: it becomes part of the kernel
    d.apply("move-into-sum", factor=1 / K, into=u)
    # channel o and position s·i + u become sums over c and m, each pinned by a Kronecker delta
    d.apply("introduce-delta", targets=[(o, c, 0, C - 1), (s * i + u, m, 0, L - 1)], within=u)
    # move the sums over c and m outside the sum over u
    d.apply("exchange-sums", outer=[u], inner=[c, m])
    # x[b, c, m] does not depend on u: take it out of that sum
    d.apply("factor-out", factor=x[b, c, m], over=[u])
    # everything left of x[b, c, m] is the Evolution kernel
    d.apply("name-kernel", name="K_pool", channel=c, position=(m,), indices=(o, c, i, m))
    d.conclude(omega=Window((WindowAxis(K, s, 1, 0, L),)), channel=c, neighbour=(m,))
