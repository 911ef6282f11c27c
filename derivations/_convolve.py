"""Shared construction of true (flipped) convolution, as in signal processing (``numpy.convolve``; in 2-D and 3-D,
at the end of this module, ``scipy.signal.convolve`` / ``convolve2d`` on each channel, built by one N-d builder).

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

from dataclasses import dataclass

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


# -- N-d: scipy.signal.convolve(x, h, mode) on each channel, for 2-D and 3-D arrays ------------------------------------
#
#     y[b, c, p₁, …, p_N] = Σ_{k₁} … Σ_{k_N} h[c, k₁, …, k_N] · x̃[b, c, p₁ + s₁ − k₁, …, p_N + s_N − k_N]
#
# The filter is flipped on every axis; x̃ is the input zero outside its box [0, L₁ − 1] × … × [0, L_N − 1]. The shift
# and the output length are the 1-D ones on each axis (SHIFT, LENGTH above): 'full' s = 0 (L + K − 1 outputs), 'same'
# s = ⌊(K − 1)/2⌋ (L outputs), 'valid' s = K − 1 (L − K + 1 outputs). scipy's 'same' keeps the full output from
# ⌊(K − 1)/2⌋ on each axis, as numpy.convolve does in 1-D (checked against scipy.signal.convolve2d / convolve in
# tests/test_signal_ops.py for even and odd filter sizes on every axis). 'valid' reads only inside the input, so its
# traditional form reads x itself (no x̃, one step fewer). One builder serves every rank: ConvolveAxes holds a rank's
# symbols and tensors, CONVOLVE2D and CONVOLVE3D are the two in the catalogue. The 2-D 'valid' operator predates the
# builder and is written out in convolve2d_valid.py (the same form and steps).

ND_SHIFT = {"full": lambda K: sp.Integer(0), "same": lambda K: sp.floor((K - 1) / 2), "valid": lambda K: K - 1}
ND_LENGTH = {"full": lambda L, K: L + K - 1, "same": lambda L, K: L, "valid": lambda L, K: L - K + 1}
CUT = {"full": "", "same": ", cut from ⌊(K − 1)/2⌋ on each axis", "valid": ", cut from K − 1 on each axis"}


@dataclass(frozen=True)
class ConvolveAxes:
    """The symbols and tensors of an N-d true convolution, one entry per position axis (outer axis first): the input
    lengths, filter lengths, output positions, filter taps and input positions, and how the docs name the arrays."""

    lengths: tuple
    filters: tuple
    outputs: tuple
    taps: tuple
    inputs: tuple
    x: TensorDecl
    h: TensorDecl
    x_pad: Definition
    size_notes: tuple        # (symbol, description) of each length, then each filter length
    things: str              # "images", "volumes": the word for the input arrays

    @property
    def rank(self) -> int:
        return len(self.lengths)


def convolve_axes(lengths, filters, outputs, taps, inputs, *, thing, length_words, filter_words) -> ConvolveAxes:
    """A rank's ConvolveAxes; ``thing`` names one input array ("image"), ``length_words`` its axes' lengths
    ("height", "width"), ``filter_words`` the filter's ("height", "width")."""
    rank = len(lengths)
    if not rank == len(filters) == len(outputs) == len(taps) == len(inputs) == len(length_words) == len(filter_words):
        raise ValueError(f"convolve_axes: every axis needs a length, a filter length, an output, a tap and an input "
                         f"index, and two words; got {rank} lengths")
    x_ = TensorDecl("x", (B, C) + tuple(lengths), "input", f"input {thing}s, one per channel")
    h_ = TensorDecl("h", (C,) + tuple(filters), "parameter", f"each channel's {rank}-D filter", torch_name="weight")
    guard = sp.Mul(*(InRange(q_, 0, L_ - 1) for q_, L_ in zip(inputs, lengths)))
    box = " × ".join(f"[0, {L_} − 1]" for L_ in lengths)
    pad = Definition("x_pad", (b, c) + tuple(inputs), guard * x_[(b, c) + tuple(inputs)],
                     f"the {thing}, zero outside {box}", latex=r"\tilde{x}", text="x\u0303")
    notes = (tuple((L_, f"{thing} {w}") for L_, w in zip(lengths, length_words))
             + tuple((K_, f"filter {w} ({K_} ≤ {L_})") for K_, L_, w in zip(filters, lengths, filter_words)))
    return ConvolveAxes(tuple(lengths), tuple(filters), tuple(outputs), tuple(taps), tuple(inputs), x_, h_, pad, notes,
                        f"{thing}s")


def _check_mode(mode):
    if mode not in ND_SHIFT:
        raise ValueError(f"mode must be one of {', '.join(ND_SHIFT)}, not {mode!r}")


def nd_shifts(ax: ConvolveAxes, mode: str, shifts=None) -> tuple:
    """The read's shift s on each axis: output p reads the input at p + s − k. ``shifts`` replaces the mode's (a
    wrongly centred form, which the tests prove step by step and see fail the reference check)."""
    _check_mode(mode)
    if shifts is not None:
        if len(shifts) != ax.rank:
            raise ValueError(f"shifts: one per axis ({ax.rank}), not {len(shifts)}")
        return tuple(sp.sympify(s_) for s_ in shifts)
    return tuple(ND_SHIFT[mode](K_) for K_ in ax.filters)


def convolve_nd_reference(mode):
    """Row by row with numpy.convolve (independent of the SymPy form), for any rank: a convolution of arrays is a sum
    of 1-D convolutions of their last-axis rows, so the full output's row at r + t receives numpy.convolve(x's row r,
    h's row t, 'full') for every row index r of x and t of h; the mode then keeps the block from the shift on each
    axis."""
    _check_mode(mode)

    def reference(arrays, sizes):
        import numpy as np
        xs, hs = arrays["x"], arrays["h"]
        nb, nc, lens, ks = xs.shape[0], xs.shape[1], xs.shape[2:], hs.shape[1:]
        full = np.zeros((nb, nc) + tuple(n_ + k_ - 1 for n_, k_ in zip(lens, ks)))
        for bb, cc, *row in np.ndindex(nb, nc, *lens[:-1]):
            for tap in np.ndindex(*ks[:-1]):
                at = tuple(r_ + t_ for r_, t_ in zip(row, tap))
                full[(bb, cc) + at] += np.convolve(xs[(bb, cc) + tuple(row)], hs[(cc,) + tap], "full")
        if mode == "full":
            return full
        starts = [(k_ - 1) // 2 if mode == "same" else k_ - 1 for k_ in ks]
        keep = [n_ if mode == "same" else n_ - k_ + 1 for n_, k_ in zip(lens, ks)]
        return full[(slice(None), slice(None)) + tuple(slice(s_, s_ + n_) for s_, n_ in zip(starts, keep))]
    return reference


def torch_convolve_nd(mode):
    """PyTorch's conv1d/2d/3d (a cross-correlation) with the filter flipped on every axis and K − 1 zeros on every
    side (the full convolution), cut to the mode's block (for generated code's checks)."""
    _check_mode(mode)

    def reference(t, sizes):
        import torch.nn.functional as F
        xt, ht = t["x"], t["h"]
        ks = tuple(ht.shape[1:])
        if not 1 <= len(ks) <= 3:
            raise ValueError(f"torch_convolve_nd: PyTorch convolves 1-D to 3-D arrays, not {len(ks)}-D")
        conv = (F.conv1d, F.conv2d, F.conv3d)[len(ks) - 1]
        full = conv(F.pad(xt, [e for k_ in reversed(ks) for e in (k_ - 1, k_ - 1)]),
                    ht.flip(tuple(range(-len(ks), 0)))[:, None], groups=xt.shape[1])
        if mode == "full":
            return full
        lens = xt.shape[2:]
        starts = [(k_ - 1) // 2 if mode == "same" else k_ - 1 for k_ in ks]
        keep = [n_ if mode == "same" else n_ - k_ + 1 for n_, k_ in zip(lens, ks)]
        return full[(Ellipsis,) + tuple(slice(s_, s_ + n_) for s_, n_ in zip(starts, keep))]
    return reference


def omega_nd(ax: ConvolveAxes, mode: str, shifts=None) -> Window:
    """Ω(p): the K₁ × … × K_N window, stride 1, padding K − 1 − s on each axis, clipped to the input."""
    return Window(tuple(WindowAxis(K_, 1, 1, K_ - 1 - s_, L_)
                        for K_, s_, L_ in zip(ax.filters, nd_shifts(ax, mode, shifts), ax.lengths)))


def convolve_nd_operator(ax: ConvolveAxes, mode: str, *, name: str, summary: str, description: str, citation: str,
                         grid, bench, figure, notes=(), shifts=None) -> Operator:
    """scipy.signal.convolve(x, h, mode) on each channel of ``ax``'s arrays, in its traditional form (``shifts``: see
    nd_shifts; the output's shape and the references stay the mode's)."""
    shifts = nd_shifts(ax, mode, shifts)
    y = TensorDecl("y", (B, C) + tuple(ND_LENGTH[mode](L_, K_) for L_, K_ in zip(ax.lengths, ax.filters)), "output",
                   f"output {ax.things} ({mode} mode)")
    read = ax.x if mode == "valid" else ax.x_pad          # 'valid' never reads outside the input
    at = tuple(p_ + s_ - k_ for p_, s_, k_ in zip(ax.outputs, shifts, ax.taps))
    limits = tuple((k_, 0, K_ - 1) for k_, K_ in zip(ax.taps, ax.filters))[::-1]   # SymPy: the first limit is innermost
    return Operator(
        name=name, summary=summary, output=y, lhs_indices=(b, o) + ax.outputs,
        traditional=sp.Sum(ax.h[(o,) + ax.taps] * read[(b, o) + at], *limits),
        tensors=(ax.x, ax.h), batch=b, out_channel=o, position=ax.outputs, value="x",
        definitions=() if mode == "valid" else (ax.x_pad,),
        sizes=((B, "batch size"), (C, "channels (each with its own filter)")) + ax.size_notes,
        constraints=tuple(sp.Le(K_, L_) for K_, L_ in zip(ax.filters, ax.lengths)), grid=tuple(grid),
        reference=convolve_nd_reference(mode), torch_reference=torch_convolve_nd(mode),
        reference_name="numpy.convolve (mode 'full') along rows, summed over the filter's rows" + CUT[mode],
        bench=bench, figure=figure, description=description, citation=citation, notes=tuple(notes))


def convolve_nd_derive(ax: ConvolveAxes, mode: str, d, shifts=None) -> None:
    """Unfold the padding (not in 'valid'), read x through deltas on its positions (and the channel), move the sums
    over the taps inside, name K (``shifts``: see nd_shifts)."""
    shifts = nd_shifts(ax, mode, shifts)
    if mode != "valid":
        d.apply("unfold-definition", name="x_pad")
    reads = [(p_ + s_ - k_, q_, 0, L_ - 1) for p_, s_, k_, q_, L_ in zip(ax.outputs, shifts, ax.taps, ax.inputs,
                                                                         ax.lengths)]
    d.apply("introduce-delta", targets=[(o, c, 0, C - 1)] + reads, within=ax.taps[-1])
    d.apply("exchange-sums", outer=list(ax.taps), inner=[c, *ax.inputs])
    d.apply("factor-out", factor=sp.IndexedBase("x")[(b, c) + ax.inputs] * sp.KroneckerDelta(c, o),
            over=list(ax.taps[::-1]))
    d.apply("name-kernel", name="K", channel=c, position=ax.inputs, indices=(o, c) + ax.outputs + ax.inputs)
    d.conclude(omega=omega_nd(ax, mode, shifts), channel=c, neighbour=ax.inputs)


# -- 2-D: scipy.signal.convolve2d(x, h, mode) on each channel, modes 'full' and 'same' (convolve2d_valid.py: 'valid')

H, W, Kh, Kw = size("H"), size("W"), size("K_h"), size("K_w")
i, j, l, q = (index(t) for t in "i j l q".split())

CONVOLVE2D = convolve_axes((H, W), (Kh, Kw), (i, j), (k, l), (m, q), thing="image", length_words=("height", "width"),
                           filter_words=("height", "width"))
x2, h2, x2_pad = CONVOLVE2D.x, CONVOLVE2D.h, CONVOLVE2D.x_pad
SHIFT2 = {mode: nd_shifts(CONVOLVE2D, mode) for mode in ("full", "same")}

GRID2 = ({B: 1, C: 2, H: 3, W: 4, Kh: 2, Kw: 3}, {B: 2, C: 1, H: 4, W: 2, Kh: 4, Kw: 2},
         {B: 1, C: 1, H: 2, W: 3, Kh: 1, Kw: 3})


def convolve2d_operator(mode: str, *, name: str, summary: str, description: str, citation: str, notes=(),
                        grid=GRID2) -> Operator:
    return convolve_nd_operator(CONVOLVE2D, mode, name=name, summary=summary, description=description,
                                citation=citation, notes=notes, grid=grid,
                                bench={B: 8, C: 64, H: 64, W: 64, Kh: 5, Kw: 5},
                                figure={B: 1, C: 1, H: 6, W: 6, Kh: 3, Kw: 3})


def convolve2d_derive(mode: str, d) -> None:
    """Unfold the padding, read x through deltas on its two positions (and the channel), name K."""
    convolve_nd_derive(CONVOLVE2D, mode, d)


# -- 3-D: scipy.signal.convolve(x, h, mode) on each channel of a volume, modes 'full', 'same' and 'valid' -------------
#
#     y[b, c, i, j, n] = Σ_{k=0}^{K_d−1} Σ_{l=0}^{K_h−1} Σ_{r=0}^{K_w−1} h[c, k, l, r] · x̃[b, c, i + s_d − k, j + s_h − l,
#                                                                                         n + s_w − r]

D, Kd = size("D"), size("K_d")
r, t = index("r"), index("t")

CONVOLVE3D = convolve_axes((D, H, W), (Kd, Kh, Kw), (i, j, n), (k, l, r), (m, q, t), thing="volume",
                           length_words=("depth", "height", "width"), filter_words=("depth", "height", "width"))
x3, h3, x3_pad = CONVOLVE3D.x, CONVOLVE3D.h, CONVOLVE3D.x_pad

# Small enough that every step's exact comparison (each output of each shape, every sum unrolled over C·D·H·W input
# positions) keeps `evosym prove` at about a second, and still telling: an even and an odd filter length > 1 on every
# axis (K = 2 separates scipy's ⌊(K − 1)/2⌋ from ⌈(K − 1)/2⌉ and from ⌊K/2⌋), filters as long as their axis, a 1-tap
# axis in every shape (one of length 1), no cube, C = 2 and B = 2.
GRID3 = ({B: 1, C: 2, D: 1, H: 2, W: 3, Kd: 1, Kh: 2, Kw: 3},
         {B: 2, C: 1, D: 2, H: 3, W: 2, Kd: 2, Kh: 1, Kw: 2},
         {B: 1, C: 1, D: 3, H: 3, W: 2, Kd: 3, Kh: 3, Kw: 1})


def convolve3d_operator(mode: str, *, name: str, summary: str, description: str, citation: str, notes=(),
                        grid=GRID3) -> Operator:
    return convolve_nd_operator(CONVOLVE3D, mode, name=name, summary=summary, description=description,
                                citation=citation, notes=notes, grid=grid,
                                bench={B: 4, C: 32, D: 16, H: 28, W: 28, Kd: 3, Kh: 3, Kw: 3},
                                figure={B: 1, C: 1, D: 3, H: 5, W: 5, Kd: 3, Kh: 3, Kw: 3})


def convolve3d_derive(mode: str, d) -> None:
    """Unfold the padding (not in 'valid'), read x through deltas on its three positions (and the channel), name K."""
    convolve_nd_derive(CONVOLVE3D, mode, d)
