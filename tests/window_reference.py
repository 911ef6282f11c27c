"""Windows of every border policy as gather indices, written from the operators' papers and official
code (not from evosym's window maps), and the aggregation and softmax attention over them in plain
torch ops: the independent references the generated kernels are compared with at small sizes.

A window is a pair (index, valid) of integer tensors of shape (L_out, K) per axis: tap u of output
position p reads input position index[p, u] when valid[p, u] (zero-padded windows leave the input;
the others never do).
"""

from __future__ import annotations

import torch


def zero_padded(length: int, radius: int):
    """SASA's centred window, zero outside the input: i − R + u."""
    i, u = torch.arange(length)[:, None], torch.arange(2 * radius + 1)[None, :]
    q = i - radius + u
    return q.clamp(0, length - 1), (q >= 0) & (q < length)


def clamped(length: int, radius: int):
    """NATTEN's window, shifted to stay inside the input: it starts at max(i − R, 0) + [i + R ≥ L]·(L − i − R − 1)."""
    i = torch.arange(length)
    start = (i - radius).clamp(min=0) + (i + radius >= length).long() * (length - i - radius - 1)
    q = start[:, None] + torch.arange(2 * radius + 1)[None, :]
    return q, torch.ones_like(q, dtype=torch.bool)


def rolled_tiles(length: int, size: int, shift: int):
    """Swin's shifted windows: roll by −S, cut into tiles of M, roll back. Position i sits at r = (i − S) mod L
    of the rolled image, in the tile that starts at M·⌊r/M⌋; its keys are that tile's positions, rolled back."""
    i = torch.arange(length)
    tile = (i - shift) % length // size * size
    q = (tile[:, None] + torch.arange(size)[None, :] + shift) % length
    return q, torch.ones_like(q, dtype=torch.bool)


def gather(t, rows, cols):
    """t[b, c, index_h[i, u], index_w[j, v]] · valid → (B, C, H_out, W_out, K_h, K_w)."""
    (ri, rv), (ci, cv) = rows, cols
    got = t[:, :, ri[:, None, :, None], ci[None, :, None, :]]
    return got * (rv[:, None, :, None] & cv[None, :, None, :]).to(t.dtype)


def aggregate(x, kt, rows, cols):
    """y[b, c, p] = Σ_u kt[b, ⌊c/share⌋, 0, 0, u, p] · x̃[b, c, q(p, u)] for a depthwise kernel tensor
    (B or 1, C/share, 1, 1, K_h, K_w, H_out, W_out)."""
    share = x.shape[1] // kt.shape[1]
    k = kt[:, :, 0, 0].permute(0, 1, 4, 5, 2, 3).repeat_interleave(share, dim=1)   # (B, C, H_out, W_out, K_h, K_w)
    return (k * gather(x, rows, cols)).sum((-2, -1))


def attention(a, b, v, heads, rows, cols, bias=None):
    """y[b, c, p] = Σ_u softmax_u(Σ_{e in head} a[b, e, p]·b̃[b, e, q(p, u)] + β[b, head, u, p])·ṽ[b, c, q(p, u)];
    a tap outside the input has logit β (or 0) and stays in the softmax (SASA's zero-padded keys)."""
    B, C, H, W = a.shape
    d = C // heads
    kw, vw = gather(b, rows, cols), gather(v, rows, cols)               # (B, C, H, W, K_h, K_w)
    logits = (a[..., None, None] * kw).view(B, heads, d, *kw.shape[2:]).sum(2)
    if bias is not None:                                               # (B or 1, heads, K_h, K_w, H, W)
        logits = logits + bias.permute(0, 1, 4, 5, 2, 3)
    weights = torch.softmax(logits.flatten(-2), -1).view_as(logits).repeat_interleave(d, dim=1)
    return (weights * vw).sum((-2, -1))
