"""Grouped-query cross-attention with any boolean mask per sample, query head and query
(``F.scaled_dot_product_attention(q, k, v, attn_mask=…, enable_gqa=True)`` with k and v projected from another sequence
and a boolean or 0/−inf attn_mask, or ``is_causal=True``: the upper-left causal mask of L queries over S keys).

    y[b, o, i]  = b_O[o] + Σ_c' W_O[o, c'] · z[b, c', i]
    z[b, c', i] = Σ_{m<S} A[b, ⌊c'/d⌋, i, m] · v[b, d·⌊⌊c'/d⌋/G⌋ + c' − d·⌊c'/d⌋, m]
    ℓ[b, h, i, m] = 1/√d · Σ_e q[b, h·d + e, i] · k[b, ⌊h/G⌋·d + e, m],   E = M[b, h, i, m]·exp(ℓ),   A = E / Σ_m' E

Four inputs: x (B, C, L), x_k (B, C_k, S), x_v (B, C_v, S) and the mask M (B, N, L, S) over the N = N_kv·G query heads
(argument ``allowed``), declared an *indicator* (every entry 0 or 1 and a 1 in every row), the premise from which the
proof's unit-sum step moves the value bias out of the kernel; the generated module checks it on every input. Query
head h reads key/value head ⌊h/G⌋ (``enable_gqa``'s ``repeat_interleave``), as in gqa_cross_attention; the
construction and the proof are shared (``_sequence_attention``).
"""

from evosym import Operator

from . import _sequence_attention as S
from ._conv import _numpy_reference
from .gqa_cross_attention import shapes

A = S.build(causal=False, grouped=True, cross=True, masked=True)


def torch_reference(t, sizes):
    """``F.scaled_dot_product_attention(q, k, v, attn_mask=M != 0, enable_gqa=True)`` between ``F.linear``
    projections of the three inputs' tokens."""
    return S.cross_sdpa_forward(t, sizes, grouped=True)


reference = _numpy_reference(torch_reference)


OPERATOR = Operator(
    name="gqa_cross_attention_masked",
    summary="grouped-query cross-attention with any boolean mask per sample, query head and query (SDPA with "
            "enable_gqa=True, keys and values from other sequences, a boolean attn_mask or is_causal): N_kv·G query "
            "heads share N_kv key/value heads, softmax over the keys the mask shows, output projection",
    output=A.y, lhs_indices=(S.b, S.o, S.i), traditional=A.traditional, value="xv",
    tensors=A.tensors, batch=S.b, out_channel=S.o, position=(S.i,), definitions=A.definitions, sizes=A.sizes,
    **shapes(A),
    reference=reference,
    reference_name="torch.nn.functional.scaled_dot_product_attention(attn_mask=M != 0, enable_gqa=True) between "
                   "F.linear projections of x, x_k and x_v",
    torch_reference=torch_reference,
    description="Every query token of x attends to the tokens of a second sequence that a mask shows it, with fewer "
                "key/value heads than query heads: query head h uses key/value head ⌊h/G⌋. As an Evolution form over "
                "the value input x_v, K[b,o,c,i,m] = Σ_h A_h(b,i,m)·(W_O^h W_V^⌊h/G⌋)[o,c]: dynamic (from x, x_k and "
                "the mask), global over the S keys, position-specific, full channel mixing, 0 where the mask hides. "
                "The value bias leaves the kernel because every query sees a key (the mask's premise).",
    citation="Ainslie et al., GQA, EMNLP 2023; torch.nn.functional.scaled_dot_product_attention with enable_gqa=True "
             "and a boolean attn_mask",
    notes=("Four inputs, channels first: x (B, C, L), C = N_kv·G·d, x_k (B, C_k, S), x_v (B, C_v, S) and allowed = M "
           "(B, N, L, S) over the query heads: from SDPA's boolean attn_mask (True = seen) "
           "M = attn_mask.expand(B, N, L, S).to(x.dtype); SDPA's is_causal over S keys is M = tril(L, S).",
           "M is an indicator: every entry 0 or 1 and a 1 in every row; the generated module refuses other masks.",
           "Query head h reads key/value head ⌊h/G⌋ (enable_gqa's repeat_interleave)."),
)


def derive(dv):
    S.derive(dv, A)
