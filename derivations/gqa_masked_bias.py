"""Grouped-query self-attention over a 1-D token sequence with an additive bias and a hard mask per sample, head and
query (``F.scaled_dot_product_attention(q, k, v, attn_mask=…, enable_gqa=True)`` with a float mask: ALiBi with or
without −inf beside it, a relative position bias, padding as −inf).

    y[b, o, i]  = b_O[o] + Σ_c' W_O[o, c'] · z[b, c', i]
    z[b, c', i] = Σ_m A[b, ⌊c'/d⌋, i, m] · v[b, d·⌊⌊c'/d⌋/G⌋ + c' − d·⌊c'/d⌋, m]
    ℓ[b, h, i, m] = 1/√d · Σ_e q[b, h·d + e, i] · k[b, ⌊h/G⌋·d + e, m] + P[b, h, i, m],   E = M[b, h, i, m]·exp(ℓ),
    A = E / Σ_m' E

Three inputs: the tokens x (B, C, L), the mask M (B, N, L, L) (argument ``allowed``: 1 where query i of head h in
sample b sees key m, 0 where the float mask is −inf) and the bias P (B, N, L, L) (argument ``attn_mask``: the finite
entries, any finite value where M is 0), over the N = N_kv·G query heads. M is an *indicator* (a key in every row) and
P *finite*; a bias that hides nothing is M = 1. From those premises the proof's unit-sum step moves the value bias out
of the kernel; the generated module checks both on every input. Query head h reads key/value head ⌊h/G⌋.
"""

from evosym import Operator

from . import _sequence_attention as S
from ._conv import _numpy_reference

A = S.build(causal=False, grouped=True, masked=True, biased="input")


def torch_reference(t, sizes):
    """``F.scaled_dot_product_attention(q, k, v, attn_mask=P with −inf where M is 0, enable_gqa=True)`` between
    ``F.linear`` projections."""
    return S.torch_reference(t, sizes, causal=False, grouped=True, biased="input", masked=True)


reference = _numpy_reference(torch_reference)


OPERATOR = Operator(
    name="gqa_masked_bias",
    summary="grouped-query self-attention over a token sequence with a hard mask and an additive bias per sample, "
            "query head and query (enable_gqa=True with a float attn_mask): N_kv·G query heads share N_kv key/value "
            "heads, biased projections, 1/√d scaling, softmax over the keys the mask shows, output projection",
    output=A.y, lhs_indices=(S.b, S.o, S.i), traditional=A.traditional,
    tensors=A.tensors, batch=S.b, out_channel=S.o, position=(S.i,), definitions=A.definitions, sizes=A.sizes,
    **S.grouped_shapes(A),
    reference=reference,
    reference_name="torch.nn.functional.scaled_dot_product_attention(attn_mask=P with −inf where M = 0, "
                   "enable_gqa=True) between F.linear projections",
    torch_reference=torch_reference,
    description="Every query attends to the keys a mask shows it, with an additive bias on their logits, and fewer "
                "key/value heads than query heads (query head h uses key/value head ⌊h/G⌋): a float attn_mask with "
                "enable_gqa, e.g. ALiBi slopes per query head beside the causal mask. As an Evolution form "
                "K[b,o,c,i,m] = Σ_h A_h(b,i,m)·(W_O^h W_V^⌊h/G⌋)[o,c]: dynamic (from x, the mask and the bias), "
                "global, position-specific, full channel mixing, 0 where the mask hides. The value bias leaves the "
                "kernel because every query sees a key (the mask's premise).",
    citation="Ainslie et al., EMNLP 2023 (GQA); Press et al., ICLR 2022 (ALiBi); "
             "torch.nn.functional.scaled_dot_product_attention with enable_gqa=True and a float attn_mask",
    notes=("Three inputs: x (B, C, L), channels first, C = N_kv·G·d; allowed = M and attn_mask = P, (B, N, L, L) over "
           "the query heads. From a float SDPA attn_mask F: M = torch.isfinite(F).to(x.dtype), P = "
           "F.masked_fill(M == 0, 0) (broadcast views are not copied); a finite F is M = 1, P = F.",
           "M is an indicator (every entry 0 or 1, a 1 in every row) and P is finite; the generated module refuses "
           "other inputs.",
           "Query head h reads key/value head ⌊h/G⌋ (enable_gqa's repeat_interleave)."),
)


def derive(dv):
    S.derive(dv, A)
