"""Multi-head cross-attention with some keys hidden per sample: ``nn.MultiheadAttention`` called as
``m(query, key, value, key_padding_mask=…)`` (an encoder–decoder's attention to a padded memory: ``nn.Transformer``'s
``memory_key_padding_mask``).

    y[b, o, i]  = b_O[o] + Σ_c' W_O[o, c'] · z[b, c', i],   z[b, c', i] = Σ_{m<S} A[b, ⌊c'/d⌋, i, m] · v[b, c', m]
    q = W_Q·x + b_Q,  k = W_K·x_k + b_K,  v = W_V·x_v + b_V
    ℓ[b, h, i, m] = 1/√d · Σ_e q[b, h·d + e, i] · k[b, h·d + e, m],   E = V[b, m]·exp(ℓ),   A = E / Σ_m' E

Four inputs: the queries' tokens x (B, C, L), the keys' x_k (B, C_k, S), the values' x_v (B, C_v, S), and the
visible keys V (B, S) (argument ``key_mask``), 1 where sample b attends to key m and 0 where it is hidden: from
PyTorch's boolean key_padding_mask (True = hidden), V = ``(~key_padding_mask).to(x.dtype)``. V is declared an
*indicator* (every entry 0 or 1 and a 1 in every sample: a sample whose keys are all hidden has a 0/0 softmax, NaN or
zeros in PyTorch), the premise that lets the proof move the value bias out of the kernel (Σ_m E > 0 because some V[b, m] = 1);
the generated module checks it on every input. As an Evolution form over the value input x_v the kernel is
K[b,o,c,i,m] = Σ_h A_h(b, i, m)·(W_O^h W_V^h)[o, c], 0 at the hidden keys, Ω every key.
"""

from evosym import Operator

from . import _sequence_attention as S
from ._conv import _numpy_reference
from ._mha_binding import cross_binding

A = S.build(causal=False, grouped=False, cross=True, key_mask=True)


def torch_reference(t, sizes):
    """``F.multi_head_attention_forward`` with separate projection weights on x, x_k, x_v and the boolean
    key_padding_mask ``key_mask == 0`` (True where a key is hidden)."""
    return S.cross_mha_forward(t, sizes, key_padding_mask=t["key_mask"] == 0)


reference = _numpy_reference(torch_reference)


OPERATOR = Operator(
    name="cross_attention_key_padding",
    summary="multi-head cross-attention with keys hidden per sample (nn.MultiheadAttention(query, key, value, "
            "key_padding_mask), kdim/vdim): queries from x, keys from x_k, values from x_v, softmax over the keys "
            "each sample sees (V[b, m] = 1), output projection",
    output=A.y, lhs_indices=(S.b, S.o, S.i), traditional=A.traditional, value="xv",
    tensors=A.tensors, batch=S.b, out_channel=S.o, position=(S.i,), definitions=A.definitions, sizes=A.sizes,
    **S.cross_shapes(A),
    reference=reference,
    reference_name="torch.nn.functional.multi_head_attention_forward with separate q/k/v projection weights and a "
                   "boolean key_padding_mask (B, S)",
    torch_reference=torch_reference,
    torch_binding=cross_binding(call="cross_key_padding"),
    description="Every query token of x attends to the tokens of a second sequence that its sample does not hide (a "
                "padded encoder memory): queries are a biased projection of x, keys of x_k, values of x_v, a softmax "
                "per head over the visible keys, then the output projection. As an Evolution form over the value "
                "input x_v, K[b,o,c,i,m] = Σ_h A_h(b,i,m)·(W_O^h W_V^h)[o,c]: dynamic (from x, x_k and the mask), "
                "global over the S keys, position-specific, full channel mixing, 0 at the hidden keys. The value "
                "bias leaves the kernel because every sample sees a key (the mask's premise): β = b_O + W_O·b_V.",
    citation="Vaswani et al., NeurIPS 2017 (encoder–decoder attention over a padded memory); "
             "torch.nn.MultiheadAttention with a boolean key_padding_mask",
    notes=("Four inputs, channels first: x (B, C, L), x_k (B, C_k, S), x_v (B, C_v, S) and key_mask = V (B, S), 1 where "
           "a key is seen and 0 where it is hidden: from PyTorch's boolean key_padding_mask (True = hidden), "
           "V = (~key_padding_mask).to(x.dtype).",
           "V is an indicator: every entry 0 or 1 and a 1 in every sample; the generated module refuses other masks.",
           "from_torch takes any nn.MultiheadAttention without add_bias_kv or add_zero_attn (kdim and vdim are C_k "
           "and C_v). Heads are head-major; the logits are scaled by 1/√d."),
)


def derive(dv):
    S.derive(dv, A)
