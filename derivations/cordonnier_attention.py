"""Self-attention that expresses a K×K convolution (Cordonnier, Loukas and Jaggi, ICLR 2020).

Multi-head self-attention with N = K² heads, no content terms and the quadratic positional
encoding, over the tokens of the input padded with R = ⌊K/2⌋ zeros per side, cropped back to H×W:

    y[b, o, i, j] = b_O[o] + Σ_{u,v} Σ_c W_O[o, (u·K + v)·C + c] · z[b, u, v, c, i, j]
    z[b, u, v, c, i, j] = Σ_{m,n} A[u, v, i, j, m, n] · x̃[b, c, m, n]          (head (u, v); value = identity)
    ℓ[u, v, i, j, m, n] = −α·(‖δ − Δ‖² − ‖Δ‖²),   δ = (m − i − R, n − j − R),   Δ = (u − R, v − R)
    A = exp(ℓ) / Σ_{m,n} exp(ℓ)                                                 (softmax over every padded key)

Head h = u·K + v has the shift Δ_h = (u − R, v − R); the query of output (i, j) is the padded
token (i + R, j + R) and δ = q − p is key minus query (Cordonnier's sign; Swin's bias uses
query − key). The paper writes the logit as an inner product v_hᵀ r_δ = −α(‖δ‖² − 2⟨Δ, δ⟩), the same
number (the reference computes it that way); each head's softmax is a Gaussian well centred on
p + Δ_h of width 1/√α. The value is the padded input itself (W_V = I, d = C per head) and the
output projection's block for head h is W_O[:, h·C : (h+1)·C].

At every finite α this is an exact Evolution form with a static, global kernel
K[o, c, p, q] = Σ_h A_h(p, q)·W_O^h[o, c]. The limit α → ∞ (softmax → one-hot at q = p + Δ_h) and
the constructive map W_O[o, (u·K + v)·C + c] = W_conv[o, c, u, v] that turns it into
``conv2d(x, W_conv, b_O, padding=R)`` are proved in the operator's limit section, with the
pad-and-crop condition and the α needed for a given error.
"""

import sympy as sp

from evosym import Definition, Global, InRange, Operator, SoftmaxLimit, TensorDecl, index, size

from ._conv import _numpy_reference

B, C, O, H, W_, R = size("B"), size("C"), size("O"), size("H"), size("W"), size("R")
K = 2 * R + 1
b, o, c, i, j, u, v, m, n = (index(t) for t in "b o c i j u v m n".split())
m2, n2, m3, n3 = index("m_2"), index("n_2"), index("m_3"), index("n_3")
Hp, Wp = H + 2 * R, W_ + 2 * R

x = TensorDecl("x", (B, C, H, W_), "input", "input feature map")
alpha = TensorDecl("alpha", (1,), "parameter", "α: sharpness of the quadratic positional encoding (α ≥ 0)",
                   latex=r"\alpha", text="α", domain="nonnegative")
Wo = TensorDecl("WO", (O, K * K * C), "parameter", "output projection: head h = u·K + v owns columns [h·C, (h+1)·C)",
                latex="W_O", text="W_O", torch_name="out_weight")
bo = TensorDecl("bO", (O,), "parameter", "output projection bias", latex="b_O", text="b_O", torch_name="out_bias")
y = TensorDecl("y", (B, O, H, W_), "output", "output feature map (the interior H×W of the padded tokens)")

x_pad = Definition("x_pad", (b, c, m, n), InRange(m - R, 0, H - 1) * InRange(n - R, 0, W_ - 1) * x[b, c, m - R, n - R],
                   "the tokens: the input padded with R zeros per side", latex=r"\tilde{x}", text="x\u0303")
dm, dn = m - i - R, n - j - R           # δ = key − query, the query of output (i, j) being token (i + R, j + R)
logit = Definition("logit", (u, v, i, j, m, n),
                   -alpha[0] * ((dm - (u - R)) ** 2 + (dn - (v - R)) ** 2 - (u - R) ** 2 - (v - R) ** 2),
                   "quadratic positional logits of head (u, v): −α(‖δ − Δ‖² − ‖Δ‖²), δ = key − query, Δ = (u − R, v − R)",
                   latex=r"\ell", text="\u2113", shape=(K, K, H, W_, Hp, Wp))
norm = Definition("Z", (u, v, i, j), sp.Sum(sp.exp(logit[u, v, i, j, m2, n2]), (n2, 0, Wp - 1), (m2, 0, Hp - 1)),
                  "softmax denominator over every padded token", latex="Z", shape=(K, K, H, W_))
attn = Definition("attn", (u, v, i, j, m, n), sp.exp(logit[u, v, i, j, m, n]) / norm[u, v, i, j],
                  "attention weights of head (u, v): softmax of the logits over the keys", latex="A", text="A",
                  shape=(K, K, H, W_, Hp, Wp))
heads = Definition("heads", (b, u, v, c, i, j), sp.Sum(attn[u, v, i, j, m, n] * x_pad[b, c, m, n], (n, 0, Wp - 1), (m, 0, Hp - 1)),
                   "head (u, v)'s output: attention-weighted tokens (value = identity)", latex="z", text="z",
                   shape=(B, K, K, C, H, W_))


def _logits(alpha_, hh, ww, r):
    """(K², H·W, (H+2R)·(W+2R)) logits from Cordonnier's encoding: v_h = −α(1, −2Δ₁, −2Δ₂), r_δ = (‖δ‖², δ₁, δ₂)."""
    import torch
    kk = 2 * r + 1
    qi, qj = torch.meshgrid(torch.arange(hh) + r, torch.arange(ww) + r, indexing="ij")
    ki, kj = torch.meshgrid(torch.arange(hh + 2 * r), torch.arange(ww + 2 * r), indexing="ij")
    d1 = (ki.reshape(1, -1) - qi.reshape(-1, 1)).to(torch.float64)       # δ = key − query, (H·W, keys)
    d2 = (kj.reshape(1, -1) - qj.reshape(-1, 1)).to(torch.float64)
    r_delta = torch.stack([d1 ** 2 + d2 ** 2, d1, d2])                    # (3, H·W, keys)
    shifts = torch.tensor([(a - r, c_ - r) for a in range(kk) for c_ in range(kk)], dtype=torch.float64)
    v_h = torch.stack([torch.ones(kk * kk, dtype=torch.float64), -2 * shifts[:, 0], -2 * shifts[:, 1]], dim=1)
    v_h, r_delta = v_h.to(alpha_.dtype), r_delta.to(alpha_.dtype)   # v_hᵀ r_δ, elementwise (not a counted product)
    return -alpha_ * sum(v_h[:, k, None, None] * r_delta[k] for k in range(3))


def torch_reference(t, sizes):
    """Cordonnier's layer in torch ops: pad by R zeros, K² heads of positional softmax attention over every
    token (value = identity), concatenated heads through the output projection, crop to H×W."""
    import torch
    import torch.nn.functional as F
    x_, r = t["x"], sizes["R"]
    bsz, ch, hh, ww = x_.shape
    att = torch.softmax(_logits(t["alpha"][0], hh, ww, r), dim=-1)            # (K², H·W, keys)
    tokens = F.pad(x_, (r, r, r, r)).flatten(2).transpose(1, 2)             # (B, keys, C)
    z = (att.reshape(1, -1, att.shape[-1]).expand(bsz, -1, -1) @ tokens)    # (B, K²·H·W, C)
    z = z.view(bsz, -1, hh * ww, ch).transpose(1, 2).reshape(bsz, hh * ww, -1)   # (B, H·W, K²·C), heads concatenated
    out = z @ t["WO"].T + t["bO"]
    return out.permute(0, 2, 1).reshape(bsz, -1, hh, ww)


reference = _numpy_reference(torch_reference)


def conv_weight(WO, sizes):
    """The constructive map: W_conv[o, c, u, v] = W_O[o, (u·K + v)·C + c] (head (u, v)'s block is the tap (u, v))."""
    kk, ch = 2 * sizes["R"] + 1, sizes["C"]
    return WO.reshape(WO.shape[0], kk, kk, ch).permute(0, 3, 1, 2)


def conv_reference(t, sizes):
    """The α → ∞ limit's independent reference: torch.nn.functional.conv2d with the mapped weights, padding R."""
    import torch.nn.functional as F
    return F.conv2d(t["x"], conv_weight(t["WO"], sizes), t["bO"], padding=sizes["R"])


OPERATOR = Operator(
    name="cordonnier_attention",
    summary="self-attention that expresses a K×K convolution: K² heads, quadratic positional logits of "
            "sharpness α, pad-and-crop (Cordonnier et al.)",
    output=y, lhs_indices=(b, o, i, j),
    traditional=bo[o] + sp.Sum(Wo[o, (u * K + v) * C + c] * heads[b, u, v, c, i, j], (c, 0, C - 1), (v, 0, K - 1),
                               (u, 0, K - 1)),
    tensors=(x, alpha, Wo, bo), batch=b, out_channel=o, position=(i, j),
    definitions=(x_pad, logit, norm, attn, heads),
    sizes=((B, "batch size"), (C, "input channels (= each head's value size)"), (O, "output channels"),
           (H, "height"), (W_, "width"), (R, "⌊K/2⌋: K = 2R + 1, N = K² heads")),
    grid=({B: 1, C: 1, O: 1, H: 2, W_: 2, R: 1},
          {B: 2, C: 2, O: 1, H: 1, W_: 3, R: 1},
          {B: 1, C: 1, O: 2, H: 3, W_: 1, R: 1}),
    reference=reference, reference_name="Cordonnier's positional attention in torch ops (pad, softmax, heads, crop)",
    torch_reference=torch_reference,
    limit=SoftmaxLimit(
        weights="attn", sharpness=alpha[0], keys=(m, n), minimiser=(i + u, j + v),
        target="conv2d(x, W_conv, b_O, padding=R)", target_reference=conv_reference,
        weight_map="W_conv[o, c, u, v] = W_O[o, (u·K + v)·C + c]",
        errors=(1e-2, 1e-4, 1e-6, 1e-9), alphas=(1.0, 4.5, 10.0, 50.0)),
    bench={B: 8, C: 16, O: 16, H: 14, W_: 14, R: 1},
    figure={B: 1, C: 1, O: 1, H: 3, W_: 3, R: 1},
    description="Multi-head self-attention with K² heads whose logits are positional only: head h prefers the key "
                "at shift Δ_h from its query with a Gaussian well of sharpness α. The input is padded with ⌊K/2⌋ "
                "zeros, every padded token is a key, and the output is cropped back to H×W. At finite α the "
                "Evolution kernel K[o,c,p,q] = Σ_h A_h(p,q)·W_O^h[o,c] is static (positions only), global and "
                "position-specific (the softmax renormalises near the border); as α → ∞ each head becomes "
                "one-hot on p + Δ_h and the layer is exactly the K×K convolution with W_conv[o,c,u,v] = "
                "W_O[o,(u·K+v)·C+c] (the limit section proves it).",
    citation="Cordonnier, Loukas and Jaggi, On the Relationship between Self-Attention and Convolutional Layers, "
             "ICLR 2020 (epfml/attention-cnn)",
    notes=("Relative position δ = key − query (Cordonnier's sign); head h = u·K + v has shift Δ_h = (u − R, v − R).",
           "No content terms, no 1/√d, value = identity (d = C per head). The official code's isotropic spread s is "
           "α = s²/2 in this notation.",
           "Pad-and-crop: the keys are the input padded by R zeros, the queries its interior. Without it the "
           "best key p + Δ_h leaves the image at the border and the softmax renormalises over what is left: the "
           "limit is then not the convolution there (the limit section's pad-and-crop precondition fails)."),
)


def derive(dv):
    dv.apply("unfold-definition", name="heads")
    dv.apply("unfold-definition", name="x_pad")
    dv.apply("introduce-delta", targets=[(m - R, m3, 0, H - 1), (n - R, n3, 0, W_ - 1)], within=m)
    dv.apply("move-into-sum", factor=Wo[o, (u * K + v) * C + c], into=m)
    dv.apply("exchange-sums", outer=[u, v], inner=[c])
    dv.apply("exchange-sums", outer=[m, n], inner=[m3, n3])
    dv.apply("exchange-sums", outer=[u, v], inner=[m3, n3])
    dv.apply("factor-out", factor=x[b, c, m3, n3], over=[n, m, v, u])
    dv.apply("name-kernel", name="K", channel=c, position=(m3, n3), indices=(o, c, i, j, m3, n3))
    dv.conclude(omega=Global((H, W_)), channel=c, neighbour=(m3, n3))
