"""Grouped-query self-attention over a 1-D token sequence (``enable_gqa=True``).

    y[b, o, i]  = b_O[o] + Σ_c' W_O[o, c'] · z[b, c', i]
    z[b, c', i] = Σ_m A[b, ⌊c'/d⌋, i, m] · v[b, d·⌊⌊c'/d⌋/G⌋ + c' − d·⌊c'/d⌋, m]
    ℓ[b, h, i, m] = 1/√d · Σ_e q[b, h·d + e, i] · k[b, ⌊h/G⌋·d + e, m],   A = softmax over every key m

N = N_kv·G query heads of d channels share N_kv key/value heads: query head h reads key/value head
⌊h/G⌋, which is what ``F.scaled_dot_product_attention(q, k, v, enable_gqa=True)`` computes (it repeats
each key/value head G times in place, ``repeat_interleave``, not ``repeat``). The key and value
projections have N_kv·d outputs, the query and output projections N·d; all four are biased (a model
without biases, such as Llama's, passes zeros). The construction and the proof are shared with
``mhsa_causal`` (``_sequence_attention``).
"""

from evosym import Operator

from . import _sequence_attention as S
from ._conv import _numpy_reference

A = S.build(causal=False, grouped=True)


def torch_reference(t, sizes):
    """``F.scaled_dot_product_attention(q, k, v, enable_gqa=True)`` between ``F.linear`` projections."""
    return S.torch_reference(t, sizes, causal=False, grouped=True)


reference = _numpy_reference(torch_reference)


OPERATOR = Operator(
    name="gqa_attention",
    summary="grouped-query self-attention over a token sequence (enable_gqa=True): N_kv·G query heads share "
            "N_kv key/value heads, biased projections, 1/√d scaling, softmax over every key, output projection",
    output=A.y, lhs_indices=(S.b, S.o, S.i), traditional=A.traditional,
    tensors=A.tensors, batch=S.b, out_channel=S.o, position=(S.i,), definitions=A.definitions, sizes=A.sizes,
    **S.grouped_shapes(A),
    reference=reference,
    reference_name="torch.nn.functional.scaled_dot_product_attention(enable_gqa=True) between F.linear projections",
    torch_reference=torch_reference,
    description="Every token attends to every token, with fewer key/value heads than query heads: query head h "
                "uses key/value head ⌊h/G⌋. As an Evolution form K[b,o,c,i,m] = Σ_h A_h(i,m)·(W_O^h W_V^⌊h/G⌋)[o,c]: "
                "dynamic from pairs, global, position-specific, full channel mixing; the G query heads of a group "
                "share one value map. The value bias leaves the kernel because each softmax sums to one.",
    citation="Ainslie et al., GQA: Training Generalized Multi-Query Transformer Models from Multi-Head "
             "Checkpoints, EMNLP 2023 (torch.nn.functional.scaled_dot_product_attention with enable_gqa=True)",
    notes=("Query head h reads key/value head ⌊h/G⌋ (consecutive query heads share a key/value head): PyTorch's "
           "enable_gqa repeats the key/value heads with repeat_interleave; G = 1 is mhsa over a sequence, "
           "N_kv = 1 multi-query attention.",
           "Tokens are the L positions of x (B, C, L), channels first, C = N_kv·G·d; PyTorch's (B, L, C) sequence "
           "is x.transpose(1, 2).",
           "No causal mask (see mhsa_causal for is_causal=True)."),
)


def derive(dv):
    S.derive(dv, A)
