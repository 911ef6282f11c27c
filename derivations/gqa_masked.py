"""Grouped-query self-attention over a 1-D token sequence with any boolean mask per sample, head and query
(``F.scaled_dot_product_attention(q, k, v, attn_mask=…, enable_gqa=True)`` with a boolean or 0/−inf mask: padding,
bands, causal with padding, per head).

    y[b, o, i]  = b_O[o] + Σ_c' W_O[o, c'] · z[b, c', i]
    z[b, c', i] = Σ_m A[b, ⌊c'/d⌋, i, m] · v[b, d·⌊⌊c'/d⌋/G⌋ + c' − d·⌊c'/d⌋, m]
    ℓ[b, h, i, m] = 1/√d · Σ_e q[b, h·d + e, i] · k[b, ⌊h/G⌋·d + e, m],   E = M[b, h, i, m]·exp(ℓ),   A = E / Σ_m' E

Two inputs: the tokens x (B, C, L) and the mask M (B, N, L, L) over the N = N_kv·G query heads (argument ``allowed``),
1 where query i of head h in sample b sees key m and 0 where it does not. M is declared an *indicator* (every entry 0
or 1, a 1 in every row): from that premise the proof's unit-sum step moves the value bias out of the kernel; the
generated module checks it on every input. Query head h reads key/value head ⌊h/G⌋ (``enable_gqa``'s
``repeat_interleave``), as in gqa_attention; the construction and the proof are shared (``_sequence_attention``).
"""

from evosym import Operator

from . import _sequence_attention as S
from ._conv import _numpy_reference

A = S.build(causal=False, grouped=True, masked=True)


def torch_reference(t, sizes):
    """``F.scaled_dot_product_attention(q, k, v, attn_mask=M != 0, enable_gqa=True)`` between ``F.linear``
    projections."""
    return S.torch_reference(t, sizes, causal=False, grouped=True, masked=True)


reference = _numpy_reference(torch_reference)


OPERATOR = Operator(
    name="gqa_masked",
    summary="grouped-query self-attention over a token sequence with any boolean mask per sample, query head and "
            "query (enable_gqa=True with a boolean attn_mask, a key in every row): N_kv·G query heads share N_kv "
            "key/value heads, biased projections, 1/√d scaling, softmax over the keys the mask shows, output "
            "projection",
    output=A.y, lhs_indices=(S.b, S.o, S.i), traditional=A.traditional,
    tensors=A.tensors, batch=S.b, out_channel=S.o, position=(S.i,), definitions=A.definitions, sizes=A.sizes,
    **S.grouped_shapes(A),
    reference=reference,
    reference_name="torch.nn.functional.scaled_dot_product_attention(attn_mask=M != 0, enable_gqa=True) between "
                   "F.linear projections",
    torch_reference=torch_reference,
    description="Every query attends to the keys a mask shows it, with fewer key/value heads than query heads: query "
                "head h uses key/value head ⌊h/G⌋. As an Evolution form K[b,o,c,i,m] = Σ_h A_h(b,i,m)·(W_O^h "
                "W_V^⌊h/G⌋)[o,c]: dynamic (from x and the mask), global, position-specific, full channel mixing, 0 "
                "where the mask hides. The value bias leaves the kernel because every query sees a key (the mask's "
                "premise).",
    citation="Ainslie et al., EMNLP 2023 (GQA); torch.nn.functional.scaled_dot_product_attention with enable_gqa=True "
             "and a boolean attn_mask",
    notes=("Two inputs: x (B, C, L), channels first, C = N_kv·G·d, and allowed = M (B, N, L, L) over the query heads: "
           "from SDPA's boolean attn_mask (True = seen) M = attn_mask.expand(B, N, L, L).to(x.dtype); from a 0/−inf "
           "float one M = torch.isfinite(attn_mask).",
           "M is an indicator: every entry 0 or 1 and a 1 in every row; the generated module refuses other masks.",
           "Query head h reads key/value head ⌊h/G⌋ (enable_gqa's repeat_interleave)."),
)


def derive(dv):
    S.derive(dv, A)
