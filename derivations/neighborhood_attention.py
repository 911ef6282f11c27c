"""Neighbourhood attention (NATTEN border policy): a K×K window clamped inside the image, with a
relative position bias.

    y[b, o, i, j] = Σ_u Σ_v A[b, ⌊o/d⌋, i, j, u, v] · val[b, o, σ_H(i) + u, σ_W(j) + v]

    σ_L(i) = min(max(i − R, 0), L − K)   (the window's start: centred on i, shifted to stay inside)

with K = 2R + 1 ≤ H, W, N heads of d channels (head-major), and, as explicit SymPy expressions:

    q, k, val      = 1×1 projections of x (no bias)
    ℓ[b, h, i, j, u, v] = 1/√d · Σ_e q[b, h·d + e, i, j] · k[b, h·d + e, σ_H(i) + u, σ_W(j) + v]
                          + rpb[h, σ_H(i) + u − i + K − 1, σ_W(j) + v − j + K − 1]
    A              = exp(ℓ) / Σ_{u, v} exp(ℓ)                                  (softmax over the window)

NATTEN's start is written in its code as max(i − R, 0) + [i + R ≥ L]·(L − i − R − 1), the same
as σ_L(i) when L ≥ K. Every query sees exactly K² real keys: no padding and nothing outside the
image in the softmax. The relative position bias rpb (per head, (2K − 1)² entries) is indexed by
key − query + K − 1 on each axis; NATTEN's kernels index it from a per-query start (get_pb_start),
which is the same entry. The projections have no bias and there is no output projection, as in
``local_attention`` (the same operator with the SASA border policy), so the two differ only at the
border and by the positional term.
"""

import sympy as sp

from evosym import Operator, TensorDecl, WindowAxis, size

from . import _attention as A
from ._attention import B, C, Dh, N, b, h, i, j, o, u, v
from ._conv import _numpy_reference

H, W_, R = size("H"), size("W"), size("R")
K = 2 * R + 1
AXES = (WindowAxis(K, 1, 1, R, H, clamp=True), WindowAxis(K, 1, 1, R, W_, clamp=True))
si, sj = AXES[0].start(i), AXES[1].start(j)   # σ_H(i) = min(max(i − R, 0), H − K), σ_W(j) likewise
ki, kj = si + u, sj + v

x, Wq, Wk, Wv, query, key, value = A.projections(H, W_)
rpb = TensorDecl("rpb", (N, 2 * K - 1, 2 * K - 1), "parameter",
                 "relative position bias per head, indexed by key − query + K − 1", latex=r"\mathrm{rpb}",
                 torch_name="rpb")
y = TensorDecl("y", (B, C, H, W_), "output", "output feature map")
logit, norm, attn = A.softmax(A.dot(query, key, ki, kj) + rpb[h, ki - i + K - 1, kj - j + K - 1], K, H, W_,
                              "attention logits: scaled dot product of the query at p and the key at tap (u, v) of the "
                              "clamped window, plus the relative position bias of key − query", "K×K clamped")


def torch_reference(t, sizes):
    """NATTEN semantics with gathers (no natten package), written from NATTEN's own index formulas:
    each query's K×K window of keys and values starts at max(i − R, 0) + [i + R ≥ L]·(L − i − R − 1),
    its bias entries at get_pb_start(i) + u (K − 1 − i near the start, L − i − 1 near the end, R
    inside); softmax over the window, weighted sum."""
    import torch
    import torch.nn.functional as F
    x_, nh, r = t["x"], sizes["N"], sizes["R"]
    kk = 2 * r + 1
    bsz, ch, hh, ww = x_.shape
    dh = ch // nh

    def starts(length):
        i_ = torch.arange(length)
        return (i_ - r).clamp(min=0) + (i_ + r >= length).long() * (length - i_ - r - 1)
    rows = (starts(hh)[:, None] + torch.arange(kk)[None, :])          # (H, K): key rows of each query row
    cols = (starts(ww)[:, None] + torch.arange(kk)[None, :])          # (W, K)
    q = F.conv2d(x_, t["Wq"][:, :, None, None]).view(bsz, nh, dh, hh, ww)
    k = F.conv2d(x_, t["Wk"][:, :, None, None]).view(bsz, nh, dh, hh, ww)
    val = F.conv2d(x_, t["Wv"][:, :, None, None]).view(bsz, nh, dh, hh, ww)
    ri, ci = rows[:, None, :, None].expand(hh, ww, kk, kk), cols[None, :, None, :].expand(hh, ww, kk, kk)
    k_win, v_win = k[:, :, :, ri, ci], val[:, :, :, ri, ci]           # (B, N, d, H, W, K, K)
    kk2 = kk * kk   # (matrix products, not einsum: with d = 1 an einsum becomes a product the FLOP counter skips)
    q_rows = q.permute(0, 1, 3, 4, 2).unsqueeze(-2)                                   # (B, N, H, W, 1, d)
    logits = (q_rows @ k_win.permute(0, 1, 3, 4, 2, 5, 6).reshape(bsz, nh, hh, ww, dh, kk2)).view(
        bsz, nh, hh, ww, kk, kk) / dh ** 0.5
    def pb_starts(length):   # NATTEN's get_pb_start: where query i's K bias entries begin in the 2K − 1 table
        i_ = torch.arange(length)
        return torch.where(i_ < r, kk - 1 - i_, torch.where(i_ + r >= length, length - i_ - 1, torch.full_like(i_, r)))
    bi = (pb_starts(hh)[:, None] + torch.arange(kk)[None, :])[:, None, :, None].expand(hh, ww, kk, kk)
    bj = (pb_starts(ww)[:, None] + torch.arange(kk)[None, :])[None, :, None, :].expand(hh, ww, kk, kk)
    logits = logits + t["rpb"][:, bi, bj]
    att = torch.softmax(logits.flatten(-2), dim=-1).view_as(logits)
    out = att.reshape(bsz, nh, hh, ww, 1, kk2) @ v_win.permute(0, 1, 3, 4, 5, 6, 2).reshape(bsz, nh, hh, ww, kk2, dh)
    return out.squeeze(-2).permute(0, 1, 4, 2, 3).reshape(bsz, ch, hh, ww)


reference = _numpy_reference(torch_reference)


OPERATOR = Operator(
    name="neighborhood_attention",
    summary="neighbourhood attention over a K×K window clamped inside the image, relative position bias (NATTEN border policy)",
    output=y, lhs_indices=(b, o, i, j),
    traditional=A.traditional(attn, value, ki, kj, K),
    tensors=(x, Wq, Wk, Wv, rpb), batch=b, out_channel=o, position=(i, j),
    definitions=(query, key, value, logit, norm, attn),
    sizes=((B, "batch size"), (N, "heads"), (Dh, "channels per head"), (H, "height"), (W_, "width"),
           (R, "window radius: K = 2R + 1")),
    constraints=(sp.Ge(H, K), sp.Ge(W_, K)),   # the clamped window lies inside the image (NATTEN's condition)
    grid=({B: 1, N: 2, Dh: 1, H: 4, W_: 3, R: 1},
          {B: 2, N: 1, Dh: 2, H: 3, W_: 5, R: 1},
          {B: 1, N: 1, Dh: 1, H: 6, W_: 5, R: 2}),
    reference=reference, reference_name="gather-based neighbourhood attention in torch ops (NATTEN's clamped window and rpb)",
    torch_reference=torch_reference,
    bench={B: 8, N: 4, Dh: 16, H: 56, W_: 56, R: 3},
    figure={B: 1, N: 2, Dh: 1, H: 6, W_: 6, R: 1},
    description="Each output pixel attends to a K×K window of keys around it, the window shifted at the border so "
                "that it stays inside the image: every pixel sees K² real keys. Logits add a learned relative "
                "position bias per head indexed by key − query. As an Evolution form K[b,o,c,p,q] = "
                "A[b,⌊o/d⌋,p,q]·W_v[o,c] over the clamped window: dynamic from pairs, position-specific, separable "
                "per output channel; the border policy is read off Ω.",
    citation="Hassani et al., Neighborhood Attention Transformer, CVPR 2023 (NATTEN: clamped windows, rpb)",
    notes=("Border policy: the window is clamped inside the image (NATTEN), not zero-padded (SASA's local_attention) "
           "and not fixed (Swin). The image must be at least K along each axis.",
           "The step that reads the clamped window as a sum over input positions needs K ≤ H, W: proved under the "
           "declared constraints H, W ≥ 2R + 1 (general).",
           "Relative position bias indexed by key − query + K − 1 per axis, table (2K − 1)² per head.",
           "No bias in the projections and no output projection (NATTEN's module adds a qkv bias and a projection: "
           "see mhsa for how both are proved)."),
)


def derive(dv):
    A.derive(dv, attn, x, ki, kj, H, W_, AXES)
