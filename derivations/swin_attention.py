"""Window attention with shifted windows (Swin border policy): fixed M×M windows, a relative position
bias indexed by query − key, and for a shift S > 0 the cyclic roll with Swin's −100 mask.

Swin rolls the input by (−S, −S), cuts it into non-overlapping M×M windows, attends inside each
window and rolls the result back. In the input's own coordinates position i sees the window that
starts at σ(i) = M·⌊(i − S)/M⌋ + S, its keys at (σ(i) + u) mod H; r(i) = (i − S) mod H is i's
position in the rolled image and (i − S) mod M its coordinate inside its window. With N heads of d
channels (head-major), every piece as an explicit SymPy expression:

    q, k, val       = 1×1 projections of x (no bias)
    ℓ[b, h, i, j, u, v] = 1/√d · Σ_e q[b, h·d + e, i, j] · k[b, h·d + e, (σ(i) + u) mod H, (σ(j) + v) mod W]
                      + rpb[h, (i − S) mod M − u + M − 1, (j − S) mod M − v + M − 1]      (query − key)
                      − 100 · δ([same region of the rolled image for query and key], 0)
    A               = exp(ℓ) / Σ_{u, v} exp(ℓ)

The regions are Swin's img_mask slices of the rolled image, [0, L − M), [L − M, L − S), [L − S, L)
per axis: a window at the end of the rolled image holds positions that were far apart before the
roll, and their pairs get −100 (a large negative logit, not −∞: the weight e^(−100) stays in K).
The mask is written δ(same, 0), not 1 − same: SymPy would distribute −100·(1 − same) into
100·same − 100, and the generated code would then add 100 to a logit and take it away again,
losing seven bits of the logit in float32.
With S = 0 every window lies in one region and the mask vanishes (Swin builds none). H = M·T_h and
W = M·T_w (whole windows), and a shift only on an image of at least two windows per axis (Swin's block
turns the shift off on a smaller one). No bias in the projections and no output projection, as in
``local_attention`` and ``neighborhood_attention``.
"""

import sympy as sp

from evosym import InRange, Operator, TensorDecl, WindowAxis, size

from . import _attention as A
from ._attention import B, C, Dh, N, b, h, i, j, o, u, v
from ._conv import _numpy_reference

M, Th, Tw = size("M"), size("T_h"), size("T_w")
S = size("S", zero=True)
H, W_ = M * Th, M * Tw
AXES = (WindowAxis(M, 1, 1, S, H, wrap=True, tiled=True), WindowAxis(M, 1, 1, S, W_, wrap=True, tiled=True))
ki, kj = AXES[0].position(i, u), AXES[1].position(j, v)   # (σ(i) + u) mod H, (σ(j) + v) mod W

x, Wq, Wk, Wv, query, key, value = A.projections(H, W_)
rpb = TensorDecl("rpb", (N, 2 * M - 1, 2 * M - 1), "parameter",
                 "relative position bias per head, indexed by query − key + M − 1", latex=r"\mathrm{rpb}", torch_name="rpb")
y = TensorDecl("y", (B, C, H, W_), "output", "output feature map")


def _region(r, length):
    """Swin's img_mask label of rolled position r: 0 in [0, L − M), 1 in [L − M, L − S), 2 in [L − S, L)."""
    return InRange(r, length - M, length - 1) + InRange(r, length - S, length - 1)


def _same_region(p, k_, length):
    """[query at p and key at k_ lie in one region of the rolled image] (positions before the roll)."""
    return sp.KroneckerDelta(_region(sp.Mod(p - S, length), length), _region(sp.Mod(k_ - S, length), length))


logit, norm, attn = A.softmax(
    A.dot(query, key, ki, kj) + rpb[h, sp.Mod(i - S, M) - u + M - 1, sp.Mod(j - S, M) - v + M - 1]
    - 100 * sp.KroneckerDelta(_same_region(i, ki, H) * _same_region(j, kj, W_), 0), M, H, W_,
    "attention logits: scaled dot product of the query at p and the key at tap (u, v) of p's window, the relative "
    "position bias of query − key, and −100 across regions of the rolled image", "M×M")


def torch_reference(t, sizes):
    """Swin's own recipe in torch ops: roll by −S, window_partition, (q·scale)·kᵀ + the bias gathered
    through relative_position_index (coords_q − coords_k + M − 1), + the img_mask mask (−100) when
    S > 0, softmax, ·v, window_reverse, roll back by +S."""
    import torch
    import torch.nn.functional as F
    x_, nh, mw, sh = t["x"], sizes["N"], sizes["M"], sizes["S"]
    bsz, ch, hh, ww = x_.shape
    dh = ch // nh

    def windows(z):   # (B, C, H, W) → rolled, (B·nW, heads, M², d)
        z = torch.roll(z.permute(0, 2, 3, 1), shifts=(-sh, -sh), dims=(1, 2))
        z = z.view(bsz, hh // mw, mw, ww // mw, mw, ch).permute(0, 1, 3, 2, 4, 5).reshape(-1, mw * mw, ch)
        return z.view(z.shape[0], mw * mw, nh, dh).transpose(1, 2)
    q, k, val = (windows(F.conv2d(x_, t[w][:, :, None, None])) for w in ("Wq", "Wk", "Wv"))
    coords = torch.stack(torch.meshgrid(torch.arange(mw), torch.arange(mw), indexing="ij")).flatten(1)   # (2, M²)
    rel = coords[:, :, None] - coords[:, None, :] + mw - 1                                                 # query − key
    att = (q * dh ** -0.5) @ k.transpose(-2, -1) + t["rpb"][:, rel[0], rel[1]][None]
    if sh > 0:
        img = torch.zeros(hh, ww)
        cnt = 0
        for hs in (slice(0, -mw), slice(-mw, -sh), slice(-sh, None)):
            for ws in (slice(0, -mw), slice(-mw, -sh), slice(-sh, None)):
                img[hs, ws] = cnt
                cnt += 1
        lab = img.view(hh // mw, mw, ww // mw, mw).permute(0, 2, 1, 3).reshape(-1, mw * mw)
        mask = (lab[:, None, :] != lab[:, :, None]).to(att.dtype) * -100.0                                    # (nW, M², M²)
        att = (att.view(bsz, -1, nh, mw * mw, mw * mw) + mask[None, :, None]).view_as(att)
    out = (torch.softmax(att, dim=-1) @ val).transpose(1, 2).reshape(-1, mw * mw, ch)
    out = out.view(bsz, hh // mw, ww // mw, mw, mw, ch).permute(0, 1, 3, 2, 4, 5).reshape(bsz, hh, ww, ch)
    return torch.roll(out, shifts=(sh, sh), dims=(1, 2)).permute(0, 3, 1, 2)


reference = _numpy_reference(torch_reference)


OPERATOR = Operator(
    name="swin_attention",
    summary="window attention over fixed M×M windows, shifted by S with Swin's cyclic roll and −100 mask, "
            "relative position bias (Swin border policy)",
    output=y, lhs_indices=(b, o, i, j),
    traditional=A.traditional(attn, value, ki, kj, M),
    tensors=(x, Wq, Wk, Wv, rpb), batch=b, out_channel=o, position=(i, j),
    definitions=(query, key, value, logit, norm, attn),
    sizes=((B, "batch size"), (N, "heads"), (Dh, "channels per head"), (M, "window size"),
           (Th, "windows along the height: H = M·T_h"), (Tw, "windows along the width: W = M·T_w"),
           (S, "shift (0 ≤ S < M; Swin's shifted blocks use ⌊M/2⌋)")),
    grid=({B: 1, N: 2, Dh: 1, M: 2, Th: 2, Tw: 2, S: 1},
          {B: 1, N: 1, Dh: 2, M: 3, Th: 2, Tw: 2, S: 1},
          {B: 2, N: 1, Dh: 1, M: 2, Th: 1, Tw: 3, S: 0}),
    # Swin shifts by less than a window (⌊M/2⌋): its masks are built for that; and only an image of at least two
    # windows on both axes (S = 0 or T_h, T_w ≥ 2): on one no larger than its window Swin's block turns the shift off
    constraints=(sp.Le(S, M - 1), sp.Ge(S * (Th - 2), 0), sp.Ge(S * (Tw - 2), 0)),
    reference=reference, reference_name="Swin's roll, window_partition, relative_position_index and img_mask in torch ops",
    torch_reference=torch_reference,
    bench={B: 8, N: 4, Dh: 16, M: 7, Th: 8, Tw: 8, S: 3},
    figure={B: 1, N: 1, Dh: 1, M: 3, Th: 2, Tw: 2, S: 1},
    description="Each output pixel attends to the pixels of its fixed M×M window; the windows are shifted by S "
                "and wrap around the image (Swin's cyclic roll), and pairs that the roll brought together get a "
                "−100 logit. Logits add a relative position bias per head indexed by query − key. As an Evolution "
                "form K[b,o,c,p,q] = A[b,⌊o/d⌋,p,q]·W_v[o,c] over p's window: dynamic from pairs, position-specific, "
                "separable per output channel, no padding.",
    citation="Liu et al., Swin Transformer, ICCV 2021 (WindowAttention, shifted windows, relative position bias)",
    notes=("Border policy: fixed non-overlapping windows, shifted by S and wrapping around, with the −100 mask "
           "across the roll's seams (Swin); not zero-padded (SASA) nor clamped (NATTEN).",
           "The relative position bias is indexed by query − key + M − 1 (Swin), the opposite sign of Cordonnier's "
           "key − query; Swin flattens its table to (2M − 1)² rows, rpb[h, Δh, Δw] is its row Δh·(2M − 1) + Δw.",
           "The mask is −100, not −∞: masked keys keep the weight e^(−100)·… in K, so Ω is the whole window.",
           "A shift needs at least two windows on each axis: S = 0 or T_h, T_w ≥ 2 (declared as S·(T_h − 2) ≥ 0 and "
           "S·(T_w − 2) ≥ 0). On an image no larger than its window Swin's block turns the shift off (and shrinks the "
           "window), so shifted windows there are no Swin computation; the generated code refuses them.",
           "No bias in the projections and no output projection (Swin's WindowAttention adds a qkv bias and a "
           "projection: see mhsa for how both are proved)."),
)


def derive(dv):
    A.derive(dv, attn, x, ki, kj, H, W_, AXES)
