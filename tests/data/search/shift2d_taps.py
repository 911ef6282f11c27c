"""The ShiftNet 3×3 shift (Wu et al., CVPR 2018) written as its usual implementation: a depthwise
3×3 convolution with a fixed one-hot kernel. The channels are split into 9 contiguous groups of C_g;
group g = ⌊o/C_g⌋ keeps only tap (u, v) with 3u + v = g, so it reads x̃ at offset (⌊g/3⌋ − 1, g mod 3 − 1).

    y[b, o, i, j] = Σ_u Σ_v δ(3u + v, ⌊o/C_g⌋) · x̃[b, o, i + u − 1, j + v − 1]

(The direct form, a read at a channel-dependent offset, is tests/data/search/unsupported/shift2d.py.)
No derive.
"""

import sympy as sp

from evosym import Definition, InRange, Operator, TensorDecl, index, size

B, Cg, H, W_ = size("B"), size("C_g"), size("H"), size("W")
C = 9 * Cg
b, o, c, i, j, m, n, u, v = (index(t) for t in "b o c i j m n u v".split())

x = TensorDecl("x", (B, C, H, W_), "input", "input feature map (9·C_g channels)")
y = TensorDecl("y", (B, C, H, W_), "output", "shifted feature map")
x_pad = Definition("x_pad", (b, c, m, n), InRange(m, 0, H - 1) * InRange(n, 0, W_ - 1) * x[b, c, m, n],
                   "zero-padded input")


def reference(arrays, sizes):
    """torch slicing: group g copies its channels shifted by (dy, dx) = (g // 3 − 1, g % 3 − 1), zero fill."""
    import torch
    x_ = torch.from_numpy(arrays["x"]).to(torch.float64)
    cg = sizes["C_g"]
    hh, ww = x_.shape[2], x_.shape[3]
    out = torch.zeros_like(x_)
    for grp in range(9):
        dy, dx = grp // 3 - 1, grp % 3 - 1
        sl = slice(grp * cg, (grp + 1) * cg)
        i0, i1 = max(0, -dy), min(hh, hh - dy)
        j0, j1 = max(0, -dx), min(ww, ww - dx)
        if i0 < i1 and j0 < j1:
            out[:, sl, i0:i1, j0:j1] = x_[:, sl, i0 + dy:i1 + dy, j0 + dx:j1 + dx]
    return out.numpy()


OPERATOR = Operator(
    name="shift2d_taps", summary="ShiftNet 3×3 shift as a depthwise 3×3 convolution with a one-hot kernel per group",
    output=y, lhs_indices=(b, o, i, j),
    traditional=sp.Sum(sp.KroneckerDelta(3 * u + v, sp.floor(o / Cg)) * x_pad[b, o, i + u - 1, j + v - 1],
                       (v, 0, 2), (u, 0, 2)),
    tensors=(x,), batch=b, out_channel=o, position=(i, j), definitions=(x_pad,),
    sizes=((B, "batch size"), (Cg, "channels per shift group (9 groups)"), (H, "height"), (W_, "width")),
    grid=({B: 1, Cg: 1, H: 3, W_: 3}, {B: 1, Cg: 2, H: 2, W_: 3}, {B: 2, Cg: 1, H: 2, W_: 2}),
    reference=reference, reference_name="torch slicing per channel group",
)
