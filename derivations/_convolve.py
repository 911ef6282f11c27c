"""Shared construction of true (flipped) convolution, as in signal processing (``numpy.convolve``; in 2-D, at the
end of this module, ``scipy.signal.convolve2d`` in modes 'full' and 'same').

    y[b, c, n] = Σ_{k=0}^{K−1} h[c, k] · x̃[b, c, n + s − k]

x̃ is the input zero outside [0, L − 1]; h is each channel's filter (impulse response); the kernel is
*flipped*: output n reads the input at n − k with the filter's tap k, which is what ``numpy.convolve``,
``scipy.signal.convolve`` and the textbook (x ∗ h)[n] = Σ_k h[k]·x[n − k] compute. What PyTorch and
TensorFlow call convolution is the cross-correlation Σ_k w[k]·x[n + k] (no flip); see
docs/convolution-notes.md. Each channel is convolved with its own filter (numpy.convolve row by row:
depthwise, no channel mixing).

The mode fixes the shift s and the output length, as ``numpy.convolve`` defines them for K ≤ L:

    full   s = 0            length L + K − 1   (every output that overlaps the input)
    same   s = ⌊(K − 1)/2⌋  length L           (the full output's centre; numpy's choice of centre)
    valid  s = K − 1        length L − K + 1   (outputs where the filter lies inside the input)
    causal s = 0            length L           (full truncated to the input length: a causal LTI system)

numpy swaps its arguments when the filter is longer than the signal; these operators state K ≤ L
instead (a constraint), which is the case of a filter applied to a signal.
"""

from __future__ import annotations

import sympy as sp

from evosym import Operator, TensorDecl, Window, WindowAxis
from evosym.ir.symbols import InRange, index, size
from evosym.ir.tensors import Definition

B, C, L, K = size("B"), size("C"), size("L"), size("K")
b, o, c, n, k, m = (index(t) for t in "b o c n k m".split())

SHIFT = {"full": sp.Integer(0), "same": sp.floor((K - 1) / 2), "valid": K - 1, "causal": sp.Integer(0)}
LENGTH = {"full": L + K - 1, "same": L, "valid": L - K + 1, "causal": L}

x = TensorDecl("x", (B, C, L), "input", "input signals, one per channel (B × C × L)")
h = TensorDecl("h", (C, K), "parameter", "each channel's filter (impulse response), tap k at delay k",
               torch_name="weight")
x_pad = Definition("x_pad", (b, c, m), InRange(m, 0, L - 1) * x[b, c, m],
                   "the input, zero before 0 and after L − 1", latex=r"\tilde{x}", text="x\u0303")


def convolve_reference(mode):
    """numpy.convolve itself, row by row (independent of the SymPy form); 'causal' is 'full' cut to L."""
    def reference(arrays, sizes):
        import numpy as np
        xs, hs = arrays["x"], arrays["h"]
        rows = [[np.convolve(xs[i, j], hs[j], "full" if mode == "causal" else mode) for j in range(xs.shape[1])]
                for i in range(xs.shape[0])]
        out = np.array(rows, dtype=np.float64).reshape(xs.shape[0], xs.shape[1], -1)
        return out[..., :xs.shape[-1]] if mode == "causal" else out
    return reference


def torch_convolve(mode):
    """The same in torch ops (for generated code's checks): cross-correlation with the flipped filter, the
    identity numpy's convolution and PyTorch's conv1d are related by, with the mode's padding."""
    def reference(t, sizes):
        import torch.nn.functional as F
        xt, ht = t["x"], t["h"]
        kk = ht.shape[-1]
        full = F.conv1d(F.pad(xt, (kk - 1, kk - 1)), ht.flip(-1)[:, None, :], groups=xt.shape[1])
        start = {"full": 0, "same": (kk - 1) // 2, "valid": kk - 1, "causal": 0}[mode]
        length = {"full": full.shape[-1], "same": xt.shape[-1], "valid": xt.shape[-1] - kk + 1,
                  "causal": xt.shape[-1]}[mode]
        return full[..., start:start + length]
    return reference


def omega(mode) -> Window:
    """Ω(n) = {n + s − k : 0 ≤ k ≤ K − 1} ∩ [0, L − 1]: a K-tap window, stride 1, padding K − 1 − s."""
    return Window((WindowAxis(K, 1, 1, K - 1 - SHIFT[mode], L),))


GRID = ({B: 1, C: 2, L: 5, K: 3}, {B: 2, C: 1, L: 4, K: 4}, {B: 1, C: 1, L: 6, K: 2},
        {B: 1, C: 1, L: 3, K: 1})


def convolve_operator(mode: str, *, name: str, summary: str, description: str, citation: str, notes=(),
                      grid=GRID) -> Operator:
    y = TensorDecl("y", (B, C, LENGTH[mode]), "output", f"output signals ({mode} mode)")
    return Operator(
        name=name, summary=summary, output=y, lhs_indices=(b, o, n),
        traditional=sp.Sum(h[o, k] * x_pad[b, o, n + SHIFT[mode] - k], (k, 0, K - 1)),
        tensors=(x, h), batch=b, out_channel=o, position=(n,), value="x", definitions=(x_pad,),
        sizes=((B, "batch size"), (C, "channels (each with its own filter)"), (L, "signal length"),
               (K, "filter length (K ≤ L)")),
        constraints=(sp.Le(K, L),), grid=tuple(grid),
        reference=convolve_reference(mode), torch_reference=torch_convolve(mode),
        reference_name="numpy.convolve" + (" (mode 'full', the first L outputs)" if mode == "causal" else f" (mode '{mode}')"),
        bench={B: 8, C: 64, L: 4096, K: 9}, figure={B: 1, C: 1, L: 6, K: 3},
        description=description, citation=citation, notes=tuple(notes))


def convolve_derive(mode: str, d) -> None:
    """Unfold the padding, read x through a delta on its position (and the channel), name K."""
    d.apply("unfold-definition", name="x_pad")
    d.apply("introduce-delta", targets=[(o, c, 0, C - 1), (n + SHIFT[mode] - k, m, 0, L - 1)], within=k)
    d.apply("exchange-sums", outer=[k], inner=[c, m])
    d.apply("factor-out", factor=sp.IndexedBase("x")[b, c, m] * sp.KroneckerDelta(c, o), over=[k])
    d.apply("name-kernel", name="K", channel=c, position=(m,), indices=(o, c, n, m))
    d.conclude(omega=omega(mode), channel=c, neighbour=(m,))


# -- 2-D: scipy.signal.convolve2d(x, h, mode) on each channel, modes 'full' and 'same' ------------------------------
#
#     y[b, c, i, j] = Σ_{k=0}^{K_h−1} Σ_{l=0}^{K_w−1} h[c, k, l] · x̃[b, c, i + s_h − k, j + s_w − l]
#
# The filter is flipped on both axes; x̃ is the image zero outside [0, H − 1] × [0, W − 1]. The shifts are the 1-D
# ones per axis: 'full' s = 0 (output (H + K_h − 1) × (W + K_w − 1)), 'same' s = ⌊(K − 1)/2⌋ (output H × W).
# scipy's 'same' keeps the full output from ⌊(K − 1)/2⌋ on each axis, as numpy.convolve does in 1-D (checked
# against scipy.signal.convolve2d in tests/test_signal_ops.py for even and odd filter sizes). 'valid' is
# convolve2d_valid (no padding, written without x̃).

H, W, Kh, Kw = size("H"), size("W"), size("K_h"), size("K_w")
i, j, l, q = (index(t) for t in "i j l q".split())

SHIFT2 = {"full": (sp.Integer(0), sp.Integer(0)), "same": (sp.floor((Kh - 1) / 2), sp.floor((Kw - 1) / 2))}
LENGTH2 = {"full": (H + Kh - 1, W + Kw - 1), "same": (H, W)}

x2 = TensorDecl("x", (B, C, H, W), "input", "input images, one per channel")
h2 = TensorDecl("h", (C, Kh, Kw), "parameter", "each channel's 2-D filter", torch_name="weight")
x2_pad = Definition("x_pad", (b, c, m, q), InRange(m, 0, H - 1) * InRange(q, 0, W - 1) * x2[b, c, m, q],
                    "the image, zero outside [0, H − 1] × [0, W − 1]", latex=r"\tilde{x}", text="x\u0303")


def convolve2d_reference(mode):
    """Row by row with numpy.convolve (independent of the SymPy form): the full output's row i + k receives
    numpy.convolve(x[i], h[k], 'full') (a 2-D convolution is a sum of 1-D convolutions of rows); 'same' keeps it
    from ⌊(K − 1)/2⌋ on each axis."""
    def reference(arrays, sizes):
        import numpy as np
        xs, hs = arrays["x"], arrays["h"]
        nb, nc, nh, nw = xs.shape
        kh, kw = hs.shape[1:]
        full = np.zeros((nb, nc, nh + kh - 1, nw + kw - 1))
        for bb, cc, ii, kk in np.ndindex(nb, nc, nh, kh):
            full[bb, cc, ii + kk] += np.convolve(xs[bb, cc, ii], hs[cc, kk], "full")
        if mode == "full":
            return full
        si, sj = (kh - 1) // 2, (kw - 1) // 2
        return full[:, :, si:si + nh, sj:sj + nw]
    return reference


def torch_convolve2d(mode):
    """PyTorch's conv2d (a cross-correlation) with the filter flipped on both axes and K − 1 zeros on every side,
    cut to the mode's rows and columns (for generated code's checks)."""
    def reference(t, sizes):
        import torch.nn.functional as F
        xt, ht = t["x"], t["h"]
        kh, kw = ht.shape[-2:]
        full = F.conv2d(F.pad(xt, (kw - 1, kw - 1, kh - 1, kh - 1)), ht.flip(-2, -1)[:, None], groups=xt.shape[1])
        if mode == "full":
            return full
        si, sj = (kh - 1) // 2, (kw - 1) // 2
        return full[..., si:si + xt.shape[-2], sj:sj + xt.shape[-1]]
    return reference


def omega2(mode) -> Window:
    """Ω(i, j): the K_h × K_w window, stride 1, padding K − 1 − s on each axis, clipped to the image."""
    sh, sw = SHIFT2[mode]
    return Window((WindowAxis(Kh, 1, 1, Kh - 1 - sh, H), WindowAxis(Kw, 1, 1, Kw - 1 - sw, W)))


GRID2 = ({B: 1, C: 2, H: 3, W: 4, Kh: 2, Kw: 3}, {B: 2, C: 1, H: 4, W: 2, Kh: 4, Kw: 2},
         {B: 1, C: 1, H: 2, W: 3, Kh: 1, Kw: 3})


def convolve2d_operator(mode: str, *, name: str, summary: str, description: str, citation: str, notes=(),
                        grid=GRID2) -> Operator:
    sh, sw = SHIFT2[mode]
    y = TensorDecl("y", (B, C) + LENGTH2[mode], "output", f"output images ({mode} mode)")
    return Operator(
        name=name, summary=summary, output=y, lhs_indices=(b, o, i, j),
        traditional=sp.Sum(h2[o, k, l] * x2_pad[b, o, i + sh - k, j + sw - l], (l, 0, Kw - 1), (k, 0, Kh - 1)),
        tensors=(x2, h2), batch=b, out_channel=o, position=(i, j), value="x", definitions=(x2_pad,),
        sizes=((B, "batch size"), (C, "channels (each with its own filter)"), (H, "image height"), (W, "image width"),
               (Kh, "filter height (K_h ≤ H)"), (Kw, "filter width (K_w ≤ W)")),
        constraints=(sp.Le(Kh, H), sp.Le(Kw, W)), grid=tuple(grid),
        reference=convolve2d_reference(mode), torch_reference=torch_convolve2d(mode),
        reference_name="numpy.convolve (mode 'full') along rows, summed over the filter's rows"
                       + ("" if mode == "full" else ", cut from ⌊(K − 1)/2⌋ on each axis"),
        bench={B: 8, C: 64, H: 64, W: 64, Kh: 5, Kw: 5}, figure={B: 1, C: 1, H: 6, W: 6, Kh: 3, Kw: 3},
        description=description, citation=citation, notes=tuple(notes))


def convolve2d_derive(mode: str, d) -> None:
    """Unfold the padding, read x through deltas on its two positions (and the channel), name K."""
    sh, sw = SHIFT2[mode]
    d.apply("unfold-definition", name="x_pad")
    d.apply("introduce-delta", targets=[(o, c, 0, C - 1), (i + sh - k, m, 0, H - 1), (j + sw - l, q, 0, W - 1)],
            within=l)
    d.apply("exchange-sums", outer=[k, l], inner=[c, m, q])
    d.apply("factor-out", factor=sp.IndexedBase("x")[b, c, m, q] * sp.KroneckerDelta(c, o), over=[l, k])
    d.apply("name-kernel", name="K", channel=c, position=(m, q), indices=(o, c, i, j, m, q))
    d.conclude(omega=omega2(mode), channel=c, neighbour=(m, q))
