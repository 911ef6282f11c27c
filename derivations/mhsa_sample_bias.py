"""Multi-head self-attention over a 1-D token sequence with an additive attention bias given per sample (a float
``attn_mask`` that differs between the samples of the batch, or a float ``key_padding_mask``).

    y[b, o, i]  = b_O[o] + Σ_c' W_O[o, c'] · z[b, c', i],   z[b, c', i] = Σ_m A[b, ⌊c'/d⌋, i, m] · v[b, c', m]
    ℓ[b, h, i, m] = 1/√d · Σ_e q[b, h·d + e, i] · k[b, h·d + e, m] + P[b, h, i, m],   A = softmax of ℓ over every key

The operator has two input tensors: the tokens x (B, C, L) and the bias P (B, N, L, L) (argument ``attn_mask``),
every entry finite. This is
``F.scaled_dot_product_attention(q, k, v, attn_mask=P)`` between biased projections with a per-sample float mask,
and ``nn.MultiheadAttention`` called with a float ``attn_mask`` of shape (B·N, L, L) and/or a float
``key_padding_mask`` (B, L), which PyTorch adds to the logits (P[b, h, i, m] = attn_mask + key_padding_mask[b, m]).
Every entry of P is finite, so every key keeps a positive weight and Ω is every token; the value bias leaves the
kernel because each softmax sums to one, whatever P is. The Evolution form aggregates x with a kernel made from x
and P: K[b,o,c,i,m] = Σ_h A_h(b, i, m)·(W_O^h W_V^h)[o, c]. mhsa_bias is the same with P a parameter (the same
table for every sample); the construction and the proof are shared (``_sequence_attention``).
"""

from evosym import Operator

from . import _sequence_attention as S
from ._conv import _numpy_reference
from ._mha_binding import binding

A = S.build(causal=False, grouped=False, biased="input")
N = A.heads_size


def torch_reference(t, sizes):
    """``F.multi_head_attention_forward`` (what ``nn.MultiheadAttention`` runs) on the tokens x, with the float
    attn_mask P reshaped to PyTorch's (B·N, L, L)."""
    bsz, length = t["x"].shape[0], t["x"].shape[2]
    return S.mha_forward(t, sizes, attn_mask=t["attn_mask"].reshape(bsz * sizes["N"], length, length))


reference = _numpy_reference(torch_reference)


OPERATOR = Operator(
    name="mhsa_sample_bias",
    summary="multi-head self-attention over a token sequence with an additive bias input P[b, h, i, m] on the "
            "logits (a float attn_mask per sample, a float key_padding_mask): biased projections, 1/√d scaling, "
            "softmax over every key, output projection",
    output=A.y, lhs_indices=(S.b, S.o, S.i), traditional=A.traditional,
    tensors=A.tensors, batch=S.b, out_channel=S.o, position=(S.i,), definitions=A.definitions, sizes=A.sizes,
    grid=({S.B: 2, N: 2, S.Dh: 1, S.L: 3},
          {S.B: 2, N: 1, S.Dh: 2, S.L: 2},
          {S.B: 1, N: 1, S.Dh: 1, S.L: 4}),
    reference=reference,
    reference_name="torch.nn.functional.multi_head_attention_forward with a float attn_mask (B·N, L, L)",
    torch_reference=torch_reference,
    torch_binding=binding(call="sample_bias"),
    bench={S.B: 8, N: 8, S.Dh: 32, S.L: 196},
    figure={S.B: 1, N: 2, S.Dh: 1, S.L: 4},
    description="Every token attends to every token with an additive bias on each logit that is an input of its "
                "own, one table per sample and head (a padding mask as large negative numbers, a per-sample "
                "relative bias). As an Evolution form over x, K[b,o,c,i,m] = Σ_h A_h(b,i,m)·(W_O^h W_V^h)[o,c]: "
                "dynamic (from x and P), global, position-specific, full channel mixing. The value bias leaves the "
                "kernel because each softmax sums to one: β = b_O + W_O·b_V.",
    citation="Vaswani et al., NeurIPS 2017; torch.nn.functional.scaled_dot_product_attention with a float attn_mask "
             "per sample, torch.nn.MultiheadAttention with a float key_padding_mask",
    notes=("Two inputs: x (B, C, L), channels first, and attn_mask = P (B, N, L, L); an SDPA attn_mask that "
           "broadcasts to (B, N, L, L) can be passed expanded (mask.expand(B, N, L, L): a view, not copied).",
           "Every entry of P must be finite (−∞ is not a value the proof gives an input: a boolean or −∞ mask would "
           "allow fully masked rows, where the softmax is 0/0).",
           "Heads are head-major: head h owns channels [h·d, (h+1)·d). The logits are scaled by 1/√d."),
)


def derive(dv):
    S.derive(dv, A)
