"""Grouped-query cross-attention with a hard mask and an additive bias per sample, query head and query
(``F.scaled_dot_product_attention(q, k, v, attn_mask=…, enable_gqa=True)`` with k and v projected from another sequence
and a float attn_mask: finite entries add to the logits, −inf hides).

    ℓ[b, h, i, m] = 1/√d · Σ_e q[b, h·d + e, i] · k[b, ⌊h/G⌋·d + e, m] + P[b, h, i, m]
    E = M[b, h, i, m]·exp(ℓ),   A = E / Σ_m' E,   y = b_O + W_O·(Σ_m A·v)   (query head h reads value head ⌊h/G⌋)

Five inputs: x (B, C, L), x_k (B, C_k, S), x_v (B, C_v, S), the mask M (B, N, L, S) (argument ``allowed``, an
*indicator*: 0 or 1, a 1 in every row) and the bias P (B, N, L, S) (argument ``attn_mask``, declared *finite*; any value
where M hides): a float attn_mask is M = isfinite(mask), P = mask with −inf replaced by 0. The construction and the
proof are shared with the other attention operators (``_sequence_attention``).
"""

from evosym import Operator

from . import _sequence_attention as S
from ._conv import _numpy_reference
from .gqa_cross_attention import shapes

A = S.build(causal=False, grouped=True, cross=True, masked=True, biased="input")


def torch_reference(t, sizes):
    """``F.scaled_dot_product_attention(q, k, v, attn_mask=P with −inf where M is 0, enable_gqa=True)`` between
    ``F.linear`` projections of the three inputs' tokens."""
    return S.cross_sdpa_forward(t, sizes, grouped=True)


reference = _numpy_reference(torch_reference)


OPERATOR = Operator(
    name="gqa_cross_attention_masked_bias",
    summary="grouped-query cross-attention with a hard mask and an additive bias per sample, query head and query "
            "(SDPA with enable_gqa=True, keys and values from other sequences, a float attn_mask): N_kv·G query heads "
            "share N_kv key/value heads, softmax over the keys the mask shows, output projection",
    output=A.y, lhs_indices=(S.b, S.o, S.i), traditional=A.traditional, value="xv",
    tensors=A.tensors, batch=S.b, out_channel=S.o, position=(S.i,), definitions=A.definitions, sizes=A.sizes,
    **shapes(A),
    reference=reference,
    reference_name="torch.nn.functional.scaled_dot_product_attention(attn_mask=P with −inf where M is 0, "
                   "enable_gqa=True) between F.linear projections of x, x_k and x_v",
    torch_reference=torch_reference,
    description="Every query token of x attends to the tokens of a second sequence that a mask shows it, each logit "
                "plus a bias, with fewer key/value heads than query heads: query head h uses key/value head ⌊h/G⌋. As "
                "an Evolution form over the value input x_v, K[b,o,c,i,m] = Σ_h A_h(b,i,m)·(W_O^h W_V^⌊h/G⌋)[o,c]: "
                "dynamic (from x, x_k, the mask and the bias), global over the S keys, position-specific, full channel "
                "mixing, 0 where the mask hides. The value bias leaves the kernel because every query sees a key.",
    citation="Ainslie et al., GQA, EMNLP 2023; torch.nn.functional.scaled_dot_product_attention with enable_gqa=True "
             "and a float attn_mask",
    notes=("Five inputs, channels first: x (B, C, L), C = N_kv·G·d, x_k (B, C_k, S), x_v (B, C_v, S), allowed = M and "
           "attn_mask = P, both (B, N, L, S) over the query heads: from a float attn_mask, M = isfinite(mask) and P = "
           "mask.nan_to_num(neginf=0).",
           "M is an indicator (a 1 in every row) and P finite; the generated module refuses other inputs.",
           "Query head h reads key/value head ⌊h/G⌋ (enable_gqa's repeat_interleave)."),
)


def derive(dv):
    S.derive(dv, A)
