"""Grouped-query cross-attention: queries from one sequence, keys and values from others, with fewer key/value heads
than query heads (``F.scaled_dot_product_attention(q, k, v, enable_gqa=True)`` with k and v projected from an
encoder's output: a decoder's cross-attention in Llama-style models with grouped key/value heads).

    y[b, o, i]  = b_O[o] + Σ_c' W_O[o, c'] · z[b, c', i]
    z[b, c', i] = Σ_{m<S} A[b, ⌊c'/d⌋, i, m] · v[b, d·⌊⌊c'/d⌋/G⌋ + c' − d·⌊c'/d⌋, m]
    q = W_Q·x + b_Q (x: B × C × L),  k = W_K·x_k + b_K (x_k: B × C_k × S),  v = W_V·x_v + b_V (x_v: B × C_v × S)
    ℓ[b, h, i, m] = 1/√d · Σ_e q[b, h·d + e, i] · k[b, ⌊h/G⌋·d + e, m],   A = softmax over the S keys

Three inputs, as cross_attention; N = N_kv·G query heads of d channels share N_kv key/value heads, query head h
reading key/value head ⌊h/G⌋ (``enable_gqa``'s ``repeat_interleave``), as gqa_attention. The key and value
projections have N_kv·d outputs. ``nn.MultiheadAttention`` has no grouped heads: this is SDPA's form. The
construction and the proof are shared with the other attention operators (``_sequence_attention``).
"""

from evosym import Operator

from . import _sequence_attention as S
from ._conv import _numpy_reference

A = S.build(causal=False, grouped=True, cross=True)


def shapes(a) -> dict:
    """The grid, benchmark and figure sizes of the grouped cross-attention operators (this one and its masked
    variants): keyword arguments of ``Operator``."""
    nkv, g = a.kv_heads, a.group
    skv, ck, cv = (dict((str(s), s) for s, _ in a.sizes)[n] for n in ("S", "C_k", "C_v"))
    return dict(grid=({S.B: 1, nkv: 1, g: 2, S.Dh: 1, S.L: 2, skv: 3, ck: 1, cv: 2},
                      {S.B: 2, nkv: 2, g: 2, S.Dh: 1, S.L: 3, skv: 1, ck: 2, cv: 1},
                      {S.B: 1, nkv: 2, g: 1, S.Dh: 2, S.L: 1, skv: 2, ck: 3, cv: 1}),
                bench={S.B: 8, nkv: 2, g: 4, S.Dh: 32, S.L: 196, skv: 77, ck: 256, cv: 256},
                figure={S.B: 1, nkv: 1, g: 2, S.Dh: 1, S.L: 3, skv: 4, ck: 1, cv: 1})


def torch_reference(t, sizes):
    """``F.scaled_dot_product_attention(q, k, v, enable_gqa=True)`` between ``F.linear`` projections of the three
    inputs' tokens."""
    return S.cross_sdpa_forward(t, sizes, grouped=True)


reference = _numpy_reference(torch_reference)


OPERATOR = Operator(
    name="gqa_cross_attention",
    summary="grouped-query cross-attention (SDPA with enable_gqa=True, keys and values from other sequences): "
            "N_kv·G query heads from x share N_kv key/value heads from x_k and x_v, biased projections, 1/√d "
            "scaling, softmax over the S keys, output projection",
    output=A.y, lhs_indices=(S.b, S.o, S.i), traditional=A.traditional, value="xv",
    tensors=A.tensors, batch=S.b, out_channel=S.o, position=(S.i,), definitions=A.definitions, sizes=A.sizes,
    **shapes(A),
    reference=reference,
    reference_name="torch.nn.functional.scaled_dot_product_attention(enable_gqa=True) between F.linear projections "
                   "of x, x_k and x_v",
    torch_reference=torch_reference,
    description="Every query token of x attends to every token of a second sequence, with fewer key/value heads "
                "than query heads: queries are a biased projection of x, keys of x_k, values of x_v (N_kv·d "
                "outputs each), query head h uses key/value head ⌊h/G⌋. As an Evolution form over the value input "
                "x_v, K[b,o,c,i,m] = Σ_h A_h(i,m)·(W_O^h W_V^⌊h/G⌋)[o,c]: dynamic (from x and x_k), global over "
                "the S keys, position-specific, full channel mixing. The value bias leaves the kernel because each "
                "softmax sums to one.",
    citation="Ainslie et al., GQA, EMNLP 2023; Vaswani et al., NeurIPS 2017 (encoder–decoder attention); "
             "torch.nn.functional.scaled_dot_product_attention with enable_gqa=True",
    notes=("Three inputs, channels first: x (B, C, L) the queries' tokens, C = N_kv·G·d, x_k (B, C_k, S) the keys', "
           "x_v (B, C_v, S) the values'; PyTorch's (B, L, C) sequences are t.transpose(1, 2).",
           "Query head h reads key/value head ⌊h/G⌋ (enable_gqa's repeat_interleave); G = 1 is cross_attention, "
           "N_kv = 1 multi-query cross-attention.",
           "No mask: every query sees all S keys."),
)


def derive(dv):
    S.derive(dv, A)
