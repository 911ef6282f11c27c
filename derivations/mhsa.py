"""Multi-head self-attention over the H·W tokens of a feature map (``nn.MultiheadAttention`` semantics).

    y[b, o, i, j] = b_O[o] + Σ_c' W_O[o, c'] · z[b, c', i, j]
    z[b, c', i, j] = Σ_m Σ_n A[b, ⌊c'/d⌋, i, j, m, n] · v[b, c', m, n]          (the heads' outputs)

with N heads of d channels (head-major: head h owns channels [h·d, (h+1)·d)), every piece an
explicit SymPy expression:

    q[b, c, i, j]  = b_Q[c] + Σ_c'' W_Q[c, c''] · x[b, c'', i, j]          (in-projections, with bias)
    k[b, c, m, n]  = b_K[c] + Σ_c'' W_K[c, c''] · x[b, c'', m, n]
    v[b, c, m, n]  = b_V[c] + Σ_c'' W_V[c, c''] · x[b, c'', m, n]
    ℓ[b, h, i, j, m, n] = 1/√d · Σ_e q[b, h·d + e, i, j] · k[b, h·d + e, m, n]
    Z[b, h, i, j]  = Σ_m Σ_n exp(ℓ[b, h, i, j, m, n])
    A              = exp(ℓ) / Z                                     (softmax over every key)

The tokens are the positions of x (B, C, H, W) in row-major order, as ``x.flatten(2)`` gives
them to ``nn.MultiheadAttention(C, N, batch_first=True)``; no mask, no dropout, no extra key or
value bias. The value bias leaves the kernel: Σ_q A = 1, so it reaches the output as the static
β = b_O + W_O·b_V.
"""

import sympy as sp

from evosym import Definition, Global, Operator, TensorDecl, index, size

from ._sequence_attention import mha_forward
from ._conv import _numpy_reference
from ._mha_binding import binding

B, N, Dh, H, W_ = size("B"), size("N"), size("d"), size("H"), size("W")
C = N * Dh
b, o, c, i, j, m, n = (index(t) for t in "b o c i j m n".split())
h, e, c2, c3, m2, n2 = index("h"), index("e"), index("c_2"), index("c_3"), index("m_2"), index("n_2")
c4, m3, n3 = index("c_4"), index("m_3"), index("n_3")

x = TensorDecl("x", (B, C, H, W_), "input", "input feature map; its H·W positions are the tokens")


def _weight(name, what, torch_name):
    return TensorDecl(name, (C, C), "parameter", f"{what} projection weight", latex=f"W_{name[1]}",
                      text=f"W_{name[1]}", torch_name=torch_name)


def _bias(name, what, torch_name):
    return TensorDecl(name, (C,), "parameter", f"{what} projection bias", latex=f"b_{name[1]}",
                      text=f"b_{name[1]}", torch_name=torch_name)


Wq, Wk, Wv, Wo = (_weight(n_, w, t) for n_, w, t in (("WQ", "query", "q_weight"), ("WK", "key", "k_weight"),
                                                    ("WV", "value", "v_weight"), ("WO", "output", "out_weight")))
bq, bk, bv, bo = (_bias(n_, w, t) for n_, w, t in (("bQ", "query", "q_bias"), ("bK", "key", "k_bias"),
                                                  ("bV", "value", "v_bias"), ("bO", "output", "out_bias")))
y = TensorDecl("y", (B, C, H, W_), "output", "output feature map (the attended tokens)")


def _projection(name, weight, bias_, what, latex):
    return Definition(name, (b, c, m, n), bias_[c] + sp.Sum(weight[c, c3] * x[b, c3, m, n], (c3, 0, C - 1)),
                      f"{what}: in-projection of every token, with bias", latex=latex, text=latex,
                      shape=(B, C, H, W_))


query = _projection("qry", Wq, bq, "queries", "q")
key = _projection("key", Wk, bk, "keys", "k")
value = _projection("val", Wv, bv, "values", "v")
logit = Definition("logit", (b, h, i, j, m, n),
                   sp.Sum(query[b, h * Dh + e, i, j] * key[b, h * Dh + e, m, n], (e, 0, Dh - 1)) / sp.sqrt(Dh),
                   "attention logits: scaled dot product of the query at p = (i, j) and the key at q = (m, n)",
                   latex=r"\ell", text="\u2113", shape=(B, N, H, W_, H, W_))
norm = Definition("Z", (b, h, i, j), sp.Sum(sp.exp(logit[b, h, i, j, m2, n2]), (n2, 0, W_ - 1), (m2, 0, H - 1)),
                  "softmax denominator over every key", latex="Z", shape=(B, N, H, W_))
attn = Definition("attn", (b, h, i, j, m, n), sp.exp(logit[b, h, i, j, m, n]) / norm[b, h, i, j],
                  "attention weights: softmax of the logits over the keys", latex="A", text="A")
heads = Definition("heads", (b, c, i, j), sp.Sum(attn[b, sp.floor(c / Dh), i, j, m, n] * value[b, c, m, n],
                                                 (n, 0, W_ - 1), (m, 0, H - 1)),
                   "the heads' outputs: attention-weighted values, before the output projection",
                   latex="z", text="z", shape=(B, C, H, W_))


def torch_reference(t, sizes):
    """``torch.nn.functional.multi_head_attention_forward`` (the function behind nn.MultiheadAttention)
    on the tokens x.flatten(2), in its (tokens, batch, channels) layout."""
    return mha_forward(t, sizes)


reference = _numpy_reference(torch_reference)


OPERATOR = Operator(
    name="mhsa",
    summary="multi-head self-attention over the H·W tokens (nn.MultiheadAttention): biased projections, "
            "1/√d scaling, softmax over every key, output projection",
    output=y, lhs_indices=(b, o, i, j),
    traditional=bo[o] + sp.Sum(Wo[o, c2] * heads[b, c2, i, j], (c2, 0, C - 1)),
    tensors=(x, Wq, bq, Wk, bk, Wv, bv, Wo, bo), batch=b, out_channel=o, position=(i, j),
    definitions=(query, key, value, logit, norm, attn, heads),
    sizes=((B, "batch size"), (N, "heads"), (Dh, "channels per head"), (H, "height"), (W_, "width")),
    grid=({B: 1, N: 2, Dh: 1, H: 2, W_: 2},
          {B: 2, N: 1, Dh: 2, H: 1, W_: 3},
          {B: 1, N: 1, Dh: 1, H: 3, W_: 1}),
    reference=reference, reference_name="torch.nn.functional.multi_head_attention_forward on the flattened tokens",
    torch_reference=torch_reference,
    torch_binding=binding(),
    bench={B: 8, N: 8, Dh: 32, H: 14, W_: 14},
    figure={B: 1, N: 2, Dh: 1, H: 2, W_: 3},
    description="Every token attends to every token: queries, keys and values are biased 1×1 projections, "
                "a softmax per head over all H·W keys, then the output projection. As an Evolution form "
                "K[b,o,c,p,q] = Σ_c' W_O[o,c']·A[b,⌊c'/d⌋,p,q]·W_V[c',c] = Σ_h A_h(p,q)·(W_O^h W_V^h)[o,c]: "
                "dynamic from pairs (p, q), global, position-specific, full channel mixing, a sum of N "
                "separable terms (one per head). The value bias leaves the kernel because each softmax "
                "sums to one: β = b_O + W_O·b_V.",
    citation="Vaswani et al., Attention Is All You Need, NeurIPS 2017 (torch.nn.MultiheadAttention)",
    notes=("Tokens are the H·W positions in row-major order (x.flatten(2)); no mask, no dropout. A 1-D sequence "
           "(B, L, C) is x.transpose(1, 2).unsqueeze(2) (H = 1, W = L); see mhsa_causal for is_causal=True.",
           "from_torch takes an nn.MultiheadAttention (batch_first either way: it fixes the torch module's input "
           "layout, not the weights; bias=False as zero biases; dropout only in eval mode) and refuses kdim/vdim "
           "≠ embed_dim, add_bias_kv and add_zero_attn, which need a second input or key positions outside x.",
           "Heads are head-major: head h owns channels [h·d, (h+1)·d). The logits are scaled by 1/√d.",
           "The output projection mixes the heads: the kernel is full in the channels and not one "
           "separable product unless N = 1."),
)


def derive(dv):
    dv.apply("unfold-definition", name="heads")
    dv.apply("move-into-sum", factor=Wo[o, c2], into=m)
    dv.apply("unfold-definition", name="val")
    dv.apply("split-sum", over=c2, rename=[(c2, c4), (m, m3), (n, n3)])
    dv.apply("factor-out", factor=Wo[o, c4] * bv[c4], over=[n3, m3])
    dv.apply("softmax-sums-to-one", name="attn", over=[n3, m3])
    dv.apply("move-into-sum", factor=Wo[o, c2] * attn[b, sp.floor(c2 / Dh), i, j, m, n], into=c3)
    dv.apply("exchange-sums", outer=[n, m, c2], inner=[c3])
    dv.apply("exchange-sums", outer=[c2], inner=[n, m])
    dv.apply("factor-out", factor=x[b, c3, m, n], over=[c2])
    dv.apply("name-kernel", name="K", channel=c3, position=(m, n), indices=(b, o, c3, i, j, m, n))
    dv.conclude(omega=Global((H, W_)), channel=c3, neighbour=(m, n))
