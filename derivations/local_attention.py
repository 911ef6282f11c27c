"""Local self-attention over a K×K window with zero-padded keys (SASA / SAN border policy).

    y[b, o, i, j] = Σ_u Σ_v A[b, ⌊o/d⌋, i, j, u, v] · ṽ[b, o, i + u − R, j + v − R]

with K = 2R + 1, N heads of d channels each (head-major: head h owns channels [h·d, (h+1)·d)) and
every piece written out as an explicit SymPy expression (no opaque function, so that code
generation can use it):

    q[b, c, i, j]  = Σ_c' W_q[c, c'] · x[b, c', i, j]                       (1×1 conv, no bias)
    k̃[b, c, m, n]  = [0 ≤ m < H]·[0 ≤ n < W] · Σ_c' W_k[c, c'] · x[b, c', m, n]   (keys, zero-padded)
    ṽ[b, c, m, n]  = [0 ≤ m < H]·[0 ≤ n < W] · Σ_c' W_v[c, c'] · x[b, c', m, n]   (values, zero-padded)
    ℓ[b, h, i, j, u, v] = 1/√d · Σ_e q[b, h·d + e, i, j] · k̃[b, h·d + e, i + u − R, j + v − R]
    Z[b, h, i, j]  = Σ_u Σ_v exp(ℓ[b, h, i, j, u, v])
    A              = exp(ℓ) / Z                                              (softmax over the window)

The border policy is SASA's: the window is centred on p and may leave the image; keys and values
there are zeros, and the zero keys stay inside the softmax (each contributes e⁰ = 1 to Z). The
projections have no bias (as in the SASA reference code), so a zero-padded input gives zero-padded
keys and values. There is no relative-position term and no output projection.
"""

import sympy as sp

from evosym import Definition, InRange, Operator, TensorDecl, Window, WindowAxis, index, size

from ._conv import _numpy_reference

B, N, Dh, H, W_, R = size("B"), size("N"), size("d"), size("H"), size("W"), size("R")
K = 2 * R + 1
C = N * Dh
b, o, c, i, j, u, v, m, n = (index(t) for t in "b o c i j u v m n".split())
h, e, c2, u2, v2 = index("h"), index("e"), index("c_2"), index("u_2"), index("v_2")

x = TensorDecl("x", (B, C, H, W_), "input", "input feature map")
Wq = TensorDecl("Wq", (C, C), "parameter", "query projection: 1×1 conv weight (no bias)", latex="W_q", text="W_q",
                torch_name="query_weight")
Wk = TensorDecl("Wk", (C, C), "parameter", "key projection: 1×1 conv weight (no bias)", latex="W_k", text="W_k",
                torch_name="key_weight")
Wv = TensorDecl("Wv", (C, C), "parameter", "value projection: 1×1 conv weight (no bias)", latex="W_v", text="W_v",
                torch_name="value_weight")
y = TensorDecl("y", (B, C, H, W_), "output", "output feature map")


def _inside(mm, nn):
    return InRange(mm, 0, H - 1) * InRange(nn, 0, W_ - 1)


query = Definition("qry", (b, c, i, j), sp.Sum(Wq[c, c2] * x[b, c2, i, j], (c2, 0, C - 1)),
                   "queries: 1×1 projection of the input", latex="q", text="q", shape=(B, C, H, W_))
key_pad = Definition("key_pad", (b, c, m, n), _inside(m, n) * sp.Sum(Wk[c, c2] * x[b, c2, m, n], (c2, 0, C - 1)),
                     "keys: 1×1 projection of the input, zero outside it", latex=r"\tilde{k}", text="k\u0303",
                     shape=(B, C, H, W_))
value_pad = Definition("val_pad", (b, c, m, n), _inside(m, n) * sp.Sum(Wv[c, c2] * x[b, c2, m, n], (c2, 0, C - 1)),
                       "values: 1×1 projection of the input, zero outside it", latex=r"\tilde{v}", text="v\u0303",
                       shape=(B, C, H, W_))
logit = Definition("logit", (b, h, i, j, u, v),
                   sp.Sum(query[b, h * Dh + e, i, j] * key_pad[b, h * Dh + e, i + u - R, j + v - R], (e, 0, Dh - 1))
                   / sp.sqrt(Dh),
                   "attention logits: scaled dot product of the query at p and the key at tap (u, v)",
                   latex=r"\ell", text="\u2113", shape=(B, N, H, W_, K, K))
norm = Definition("Z", (b, h, i, j), sp.Sum(sp.exp(logit[b, h, i, j, u2, v2]), (v2, 0, 2 * R), (u2, 0, 2 * R)),
                  "softmax denominator over the K×K window (zero keys included)", latex="Z", shape=(B, N, H, W_))
attn = Definition("attn", (b, h, i, j, u, v), sp.exp(logit[b, h, i, j, u, v]) / norm[b, h, i, j],
                  "attention weights: softmax of the logits over the window", latex="A", text="A")


def torch_reference(t, sizes):
    """The unfold-based implementation (SASA-style zero-padded keys): project, unfold keys and values
    into K² copies, softmax over the window, weighted sum."""
    import torch
    import torch.nn.functional as F
    x_, nh, r = t["x"], sizes["N"], sizes["R"]
    kk = 2 * r + 1
    bsz, ch, hh, ww = x_.shape
    dh = ch // nh
    q = F.conv2d(x_, t["Wq"][:, :, None, None]).view(bsz, nh, dh, 1, hh * ww).permute(0, 1, 4, 3, 2)
    k = F.unfold(F.conv2d(x_, t["Wk"][:, :, None, None]), kk, padding=r).view(bsz, nh, dh, kk * kk, hh * ww)
    val = F.unfold(F.conv2d(x_, t["Wv"][:, :, None, None]), kk, padding=r).view(bsz, nh, dh, kk * kk, hh * ww)
    att = torch.softmax(q @ k.permute(0, 1, 4, 2, 3) / dh ** 0.5, dim=-1)    # (b, n, p, 1, K²)
    out = att @ val.permute(0, 1, 4, 3, 2)                                    # (b, n, p, 1, d)
    return out.squeeze(3).permute(0, 1, 3, 2).reshape(bsz, ch, hh, ww)


reference = _numpy_reference(torch_reference)


OPERATOR = Operator(
    name="local_attention",
    summary="local self-attention over a K×K window, zero-padded keys inside the softmax (SASA border policy)",
    output=y, lhs_indices=(b, o, i, j),
    traditional=sp.Sum(attn[b, sp.floor(o / Dh), i, j, u, v] * value_pad[b, o, i + u - R, j + v - R],
                       (v, 0, 2 * R), (u, 0, 2 * R)),
    tensors=(x, Wq, Wk, Wv), batch=b, out_channel=o, position=(i, j),
    definitions=(query, key_pad, value_pad, logit, norm, attn),
    sizes=((B, "batch size"), (N, "heads"), (Dh, "channels per head"), (H, "height"), (W_, "width"),
           (R, "window radius: K = 2R + 1")),
    grid=({B: 1, N: 2, Dh: 1, H: 3, W_: 2, R: 1},
          {B: 2, N: 1, Dh: 2, H: 2, W_: 3, R: 1},
          {B: 1, N: 1, Dh: 1, H: 3, W_: 3, R: 2}),
    reference=reference, reference_name="unfold-based local attention (SASA zero-padded keys) in torch ops",
    torch_reference=torch_reference,
    bench={B: 8, N: 4, Dh: 16, H: 56, W_: 56, R: 3},
    figure={B: 1, N: 2, Dh: 1, H: 6, W_: 6, R: 1},
    description="Each output pixel attends to the K×K window around it: a query from the pixel, keys and values "
                "from the window (1×1 projections of the input), a softmax over the window per head. As an "
                "Evolution form the kernel is the attention weight times the value projection, "
                "K[b,o,c,p,q] = A[b,⌊o/d⌋,p,q]·W_v[o,c]: dynamic from pairs (p, q), position-specific, and "
                "separable (a spatial map per head ⊗ the value projection). At the border the window keeps "
                "its K² taps: keys and values outside the image are zeros and the zero keys stay in the "
                "softmax (SASA's padding).",
    citation="Ramachandran et al., Stand-Alone Self-Attention in Vision Models, NeurIPS 2019",
    notes=("Border policy: zero-padded keys and values inside the softmax (SASA/SAN). NATTEN's clamped window "
           "and Swin's fixed windows are different operators at the border.",
           "Heads are head-major: head h owns channels [h·d, (h+1)·d). The logits are scaled by 1/√d.",
           "No bias in the projections, no relative-position term, no output projection."),
)


def derive(dv):
    dv.apply("unfold-definition", name="val_pad")
    dv.apply("move-into-sum", factor=attn[b, sp.floor(o / Dh), i, j, u, v] * _inside(i + u - R, j + v - R), into=c2)
    dv.apply("introduce-delta", targets=[(i + u - R, m, 0, H - 1), (j + v - R, n, 0, W_ - 1)], within=c2)
    dv.apply("exchange-sums", outer=[u, v], inner=[c2])
    dv.apply("exchange-sums", outer=[u, v], inner=[m, n])
    dv.apply("factor-out", factor=x[b, c2, m, n], over=[v, u])
    dv.apply("name-kernel", name="K", channel=c2, position=(m, n), indices=(b, o, c2, i, j, m, n))
    dv.conclude(omega=Window((WindowAxis(K, 1, 1, R, H), WindowAxis(K, 1, 1, R, W_))), channel=c2, neighbour=(m, n))
