"""Multi-head cross-attention with any boolean mask per sample, head and query: ``nn.MultiheadAttention`` called as
``m(query, key, value, attn_mask=…)`` with an (L, S) or (B·N, L, S) mask, with or without a key_padding_mask (an
encoder–decoder's ``memory_mask``), and ``F.scaled_dot_product_attention`` between the projections of two inputs with a
boolean (or 0/−inf) attn_mask or ``is_causal=True`` (the upper-left causal mask of L queries over S keys).

    y[b, o, i]  = b_O[o] + Σ_c' W_O[o, c'] · z[b, c', i],   z[b, c', i] = Σ_{m<S} A[b, ⌊c'/d⌋, i, m] · v[b, c', m]
    q = W_Q·x + b_Q,  k = W_K·x_k + b_K,  v = W_V·x_v + b_V
    ℓ[b, h, i, m] = 1/√d · Σ_e q[b, h·d + e, i] · k[b, h·d + e, m],   E = M[b, h, i, m]·exp(ℓ),   A = E / Σ_m' E

Four inputs: the queries' tokens x (B, C, L), the keys' x_k (B, C_k, S), the values' x_v (B, C_v, S), and the mask M
(B, N, L, S) (argument ``allowed``), 1 where query i of head h in sample b sees key m and 0 where it does not. M is
declared an *indicator* (every entry 0 or 1 and a 1 in every row (b, h, i): a query that sees no key has a 0/0 softmax),
the premise from which the proof's unit-sum step moves the value bias out of the kernel; the generated module checks it
on every input. As an Evolution form over the value input x_v the kernel is K[b,o,c,i,m] = Σ_h A_h(b, i, m)·(W_O^h
W_V^h)[o, c], 0 where the mask hides, Ω every key.
"""

from evosym import Operator

from . import _sequence_attention as S
from ._conv import _numpy_reference
from ._mha_binding import cross_binding

A = S.build(causal=False, grouped=False, cross=True, masked=True)


def torch_reference(t, sizes):
    """``F.multi_head_attention_forward`` with separate projection weights on x, x_k, x_v and the boolean attn_mask
    ``allowed == 0`` per sample and head, (B·N, L, S) (True where a key is hidden)."""
    return S.cross_mha_forward(t, sizes, attn_mask=(t["allowed"] == 0).flatten(0, 1))


reference = _numpy_reference(torch_reference)


OPERATOR = Operator(
    name="cross_attention_masked",
    summary="multi-head cross-attention with any boolean mask per sample, head and query (M[b, h, i, m] = 1 where "
            "query i sees key m, a key in every row): queries from x, keys from x_k, values from x_v, softmax over "
            "the keys the mask shows, output projection",
    output=A.y, lhs_indices=(S.b, S.o, S.i), traditional=A.traditional, value="xv",
    tensors=A.tensors, batch=S.b, out_channel=S.o, position=(S.i,), definitions=A.definitions, sizes=A.sizes,
    **S.cross_shapes(A),
    reference=reference,
    reference_name="torch.nn.functional.multi_head_attention_forward with separate q/k/v projection weights and a "
                   "boolean attn_mask (B·N, L, S)",
    torch_reference=torch_reference,
    torch_binding=cross_binding(call="cross_mask"),
    description="Every query token of x attends to the tokens of a second sequence that a mask shows it, the mask "
                "given per sample, head and query (an encoder–decoder's memory_mask, the upper-left causal mask of "
                "SDPA's is_causal over S keys, a padded memory per query). As an Evolution form over the value input "
                "x_v, K[b,o,c,i,m] = Σ_h A_h(b,i,m)·(W_O^h W_V^h)[o,c]: dynamic (from x, x_k and the mask), global over "
                "the S keys, position-specific, full channel mixing, 0 where the mask hides. The value bias leaves "
                "the kernel because every query sees a key (the mask's premise): β = b_O + W_O·b_V.",
    citation="Vaswani et al., NeurIPS 2017 (encoder–decoder attention); torch.nn.MultiheadAttention with a boolean "
             "attn_mask (L, S)",
    notes=("Four inputs, channels first: x (B, C, L), x_k (B, C_k, S), x_v (B, C_v, S) and allowed = M (B, N, L, S), 1 "
           "where a query sees a key and 0 where it does not: from SDPA's boolean attn_mask (True = seen) "
           "M = attn_mask.expand(B, N, L, S).to(x.dtype); from nn.MultiheadAttention's (True = hidden) ~mask.",
           "M is an indicator: every entry 0 or 1 and a 1 in every row; the generated module refuses other masks.",
           "from_torch takes any nn.MultiheadAttention without add_bias_kv or add_zero_attn (kdim and vdim are C_k "
           "and C_v). Heads are head-major; the logits are scaled by 1/√d."),
)


def derive(dv):
    S.derive(dv, A)
