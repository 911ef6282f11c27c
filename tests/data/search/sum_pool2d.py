"""2-D sum pooling (no division): non-overlapping or strided K_h×K_w windows, no padding.

    y[b, o, i, j] = Σ_u Σ_v x[b, o, s·i + u, s·j + v]

output ⌊(H − K_h)/s⌋ + 1 × ⌊(W − K_w)/s⌋ + 1. Written without a padded definition, so the
in-range premise of the reads is left to the bounded checks. No derive.
"""

import sympy as sp

from evosym import Operator, TensorDecl, index, size

B, C, H, W_, Kh, Kw, s = (size(t) for t in ("B", "C", "H", "W", "K_h", "K_w", "s"))
b, o, i, j, u, v = (index(t) for t in "b o i j u v".split())
H_out = sp.floor((H - Kh) / s) + 1
W_out = sp.floor((W_ - Kw) / s) + 1

x = TensorDecl("x", (B, C, H, W_), "input", "input feature map")
y = TensorDecl("y", (B, C, H_out, W_out), "output", "window sums")


def reference(arrays, sizes):
    """torch: lp_pool2d with p = 1 on a non-negative input is the window sum; here, for signed inputs,
    avg_pool2d times the window area (divisor_override=1 makes it a plain sum)."""
    import torch
    import torch.nn.functional as F
    t = torch.from_numpy(arrays["x"]).to(torch.float64)
    return F.avg_pool2d(t, (sizes["K_h"], sizes["K_w"]), sizes["s"], divisor_override=1).numpy()


OPERATOR = Operator(
    name="sum_pool2d", summary="2-D sum pooling over K_h×K_w windows with stride s (no division, no padding)",
    output=y, lhs_indices=(b, o, i, j),
    traditional=sp.Sum(x[b, o, s * i + u, s * j + v], (v, 0, Kw - 1), (u, 0, Kh - 1)),
    tensors=(x,), batch=b, out_channel=o, position=(i, j),
    sizes=((B, "batch size"), (C, "channels"), (H, "input height"), (W_, "input width"), (Kh, "window height"),
           (Kw, "window width"), (s, "stride (both axes)")),
    grid=({B: 1, C: 2, H: 4, W_: 4, Kh: 2, Kw: 2, s: 2},
          {B: 2, C: 1, H: 5, W_: 4, Kh: 3, Kw: 2, s: 1},
          {B: 1, C: 2, H: 7, W_: 5, Kh: 2, Kw: 3, s: 3}),
    reference=reference, reference_name="torch.nn.functional.avg_pool2d(divisor_override=1)",
)
