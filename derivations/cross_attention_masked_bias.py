"""Multi-head cross-attention with a hard mask and an additive bias: ``nn.MultiheadAttention`` called as
``m(query, key, value, attn_mask=…, key_padding_mask=…)`` with a float mask (finite values, −inf where hidden), a float
key_padding_mask, or a boolean mask beside a float one, and ``F.scaled_dot_product_attention`` between the projections
of two inputs with a float attn_mask (a relative position bias over the memory, with or without hidden keys).

    y[b, o, i]  = b_O[o] + Σ_c' W_O[o, c'] · z[b, c', i],   z[b, c', i] = Σ_{m<S} A[b, ⌊c'/d⌋, i, m] · v[b, c', m]
    q = W_Q·x + b_Q,  k = W_K·x_k + b_K,  v = W_V·x_v + b_V
    ℓ[b, h, i, m] = 1/√d · Σ_e q[b, h·d + e, i] · k[b, h·d + e, m] + P[b, h, i, m],   E = M[b, h, i, m]·exp(ℓ),
    A = E / Σ_m' E

Five inputs: the queries' tokens x (B, C, L), the keys' x_k (B, C_k, S), the values' x_v (B, C_v, S), the mask M
(B, N, L, S) (argument ``allowed``: 1 where query i of head h in sample b sees key m, 0 where PyTorch adds −inf) and
the bias P (B, N, L, S) (argument ``attn_mask``: the finite entries of the float mask, any finite value where M is 0).
M is an *indicator* (a key in every row) and P *finite*: from those premises the proof's unit-sum step moves the value
bias out of the kernel; the generated module checks both on every input. A bias that hides nothing is M = 1. As an
Evolution form over the value input x_v the kernel is K[b,o,c,i,m] = Σ_h A_h(b, i, m)·(W_O^h W_V^h)[o, c], 0 where the
mask hides, Ω every key.
"""

from evosym import Operator

from . import _sequence_attention as S
from ._conv import _numpy_reference
from ._mha_binding import cross_binding

A = S.build(causal=False, grouped=False, cross=True, masked=True, biased="input")


def torch_reference(t, sizes):
    """``F.multi_head_attention_forward`` with separate projection weights on x, x_k, x_v and one float attn_mask per
    sample and head, (B·N, L, S): P where M shows the key, −inf where it hides it."""
    mixed = t["attn_mask"].masked_fill(t["allowed"] == 0, float("-inf"))
    return S.cross_mha_forward(t, sizes, attn_mask=mixed.flatten(0, 1))


reference = _numpy_reference(torch_reference)


OPERATOR = Operator(
    name="cross_attention_masked_bias",
    summary="multi-head cross-attention with a hard mask and an additive bias per sample, head and query (M[b, h, i, m] "
            "= 1 where query i sees key m, a key in every row; P[b, h, i, m] added to the logits): queries from x, keys "
            "from x_k, values from x_v, softmax over the keys the mask shows, output projection",
    output=A.y, lhs_indices=(S.b, S.o, S.i), traditional=A.traditional, value="xv",
    tensors=A.tensors, batch=S.b, out_channel=S.o, position=(S.i,), definitions=A.definitions, sizes=A.sizes,
    **S.cross_shapes(A),
    reference=reference,
    reference_name="torch.nn.functional.multi_head_attention_forward with separate q/k/v projection weights and a "
                   "float attn_mask (B·N, L, S) mixing −inf and finite values",
    torch_reference=torch_reference,
    torch_binding=cross_binding(call="cross_mask_bias"),
    description="Every query token of x attends to the tokens of a second sequence that a mask shows it, with an "
                "additive bias on their logits, both given per sample, head and query (a float memory_mask, a float "
                "memory_key_padding_mask, a relative position bias over the memory). As an Evolution form over the "
                "value input x_v, K[b,o,c,i,m] = Σ_h A_h(b,i,m)·(W_O^h W_V^h)[o,c]: dynamic (from x, x_k, the mask and "
                "the bias), global over the S keys, position-specific, full channel mixing, 0 where the mask hides. "
                "The value bias leaves the kernel because every query sees a key (the mask's premise): "
                "β = b_O + W_O·b_V.",
    citation="Vaswani et al., NeurIPS 2017 (encoder–decoder attention); torch.nn.MultiheadAttention with a float "
             "attn_mask (L, S)",
    notes=("Five inputs, channels first: x (B, C, L), x_k (B, C_k, S), x_v (B, C_v, S), allowed = M (B, N, L, S) and "
           "attn_mask = P (B, N, L, S). From a float attn_mask F mixing −inf and finite values: "
           "M = torch.isfinite(F).to(x.dtype), P = F.masked_fill(M == 0, 0); a finite F is M = 1, P = F.",
           "M is an indicator (every entry 0 or 1, a 1 in every row) and P is finite; the generated module refuses "
           "other inputs. P's entries where M is 0 do not change the output.",
           "from_torch takes any nn.MultiheadAttention without add_bias_kv or add_zero_attn (kdim and vdim are C_k "
           "and C_v). Heads are head-major; the logits are scaled by 1/√d."),
)


def derive(dv):
    S.derive(dv, A)
