"""True (flipped) 2-D convolution, mode 'valid' (``scipy.signal.convolve(x, h, 'valid')`` on each channel).

    y[b, c, i, j] = Σ_{k=0}^{K_h−1} Σ_{l=0}^{K_w−1} h[c, k, l] · x[b, c, i + K_h − 1 − k, j + K_w − 1 − l]

i = 0 … H − K_h, j = 0 … W − K_w: only where the filter lies inside the image, so no padding is read.
The filter is flipped on both axes (convolution), unlike PyTorch's conv2d (cross-correlation): this is
conv2d(x, h.flip(-2, -1), groups=C). The 'full' and 'same' modes are convolve2d_full and convolve2d_same.
"""

import sympy as sp

from evosym import Operator, TensorDecl, Window, WindowAxis
from evosym.ir.symbols import index, size

B, C, H, W, Kh, Kw = (size(s) for s in "B C H W K_h K_w".split())
b, o, c, i, j, k, l, m, q = (index(s) for s in "b o c i j k l m q".split())

x = TensorDecl("x", (B, C, H, W), "input", "input images, one per channel")
h = TensorDecl("h", (C, Kh, Kw), "parameter", "each channel's 2-D filter", torch_name="weight")
y = TensorDecl("y", (B, C, H - Kh + 1, W - Kw + 1), "output", "output images ('valid' mode)")


def reference(arrays, sizes):
    """Row by row with numpy.convolve: y[i] = Σ_k convolve(x[i + K_h − 1 − k], h[k], 'valid') (a 2-D convolution is
    a sum of 1-D convolutions of rows; independent of the SymPy form)."""
    import numpy as np
    xs, hs = arrays["x"], arrays["h"]
    nb, nc, nh, nw = xs.shape
    kh, kw = hs.shape[1:]
    out = np.zeros((nb, nc, nh - kh + 1, nw - kw + 1))
    for bb, cc, ii, kk in np.ndindex(nb, nc, nh - kh + 1, kh):
        out[bb, cc, ii] += np.convolve(xs[bb, cc, ii + kh - 1 - kk], hs[cc, kk], "valid")
    return out


def torch_reference(t, sizes):
    """PyTorch's conv2d (a cross-correlation) with the filter flipped on both axes."""
    import torch.nn.functional as F
    return F.conv2d(t["x"], t["h"].flip(-2, -1)[:, None], groups=t["x"].shape[1])


OPERATOR = Operator(
    name="convolve2d_valid",
    summary="true (flipped) 2-D convolution, mode 'valid' (scipy.signal.convolve on each channel)",
    output=y, lhs_indices=(b, o, i, j),
    traditional=sp.Sum(h[o, k, l] * x[b, o, i + Kh - 1 - k, j + Kw - 1 - l], (l, 0, Kw - 1), (k, 0, Kh - 1)),
    tensors=(x, h), batch=b, out_channel=o, position=(i, j), value="x",
    sizes=((B, "batch size"), (C, "channels (each with its own filter)"), (H, "image height"), (W, "image width"),
           (Kh, "filter height (K_h ≤ H)"), (Kw, "filter width (K_w ≤ W)")),
    constraints=(sp.Le(Kh, H), sp.Le(Kw, W)),
    grid=({B: 1, C: 2, H: 4, W: 5, Kh: 2, Kw: 3}, {B: 2, C: 1, H: 3, W: 3, Kh: 3, Kw: 1}),
    reference=reference, reference_name="numpy.convolve along rows, summed over the filter's rows",
    torch_reference=torch_reference,
    bench={B: 8, C: 64, H: 64, W: 64, Kh: 5, Kw: 5}, figure={B: 1, C: 1, H: 6, W: 6, Kh: 3, Kw: 3},
    description="The image-processing convolution (scipy.signal.convolve / convolve2d, mode 'valid'): the filter is "
                "flipped on both axes. As an Evolution form K[o,c,(i,j),(m,q)] = δ(o,c)·h[c, i + K_h − 1 − m, "
                "j + K_w − 1 − q] on the K_h×K_w window at (i, j): static, shared across space, depthwise.",
    citation="scipy.signal.convolve(x, h, mode='valid') for 2-D arrays; numpy.convolve",
    notes=("scipy.signal.convolve in 'valid' mode requires one array to be at least as large as the other on every "
           "axis; here the filter is the smaller (K_h ≤ H, K_w ≤ W).",),
)


def derive(d):
    d.apply("introduce-delta", targets=[(o, c, 0, C - 1), (i + Kh - 1 - k, m, 0, H - 1), (j + Kw - 1 - l, q, 0, W - 1)],
            within=l)
    d.apply("exchange-sums", outer=[k, l], inner=[c, m, q])
    d.apply("factor-out", factor=sp.IndexedBase("x")[b, c, m, q] * sp.KroneckerDelta(c, o), over=[l, k])
    d.apply("name-kernel", name="K", channel=c, position=(m, q), indices=(o, c, i, j, m, q))
    d.conclude(omega=Window((WindowAxis(Kh, 1, 1, 0, H), WindowAxis(Kw, 1, 1, 0, W))), channel=c, neighbour=(m, q))
