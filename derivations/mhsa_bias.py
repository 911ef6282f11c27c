"""Multi-head self-attention over a 1-D token sequence with a static additive attention bias (a float
``attn_mask``).

    y[b, o, i]  = b_O[o] + Σ_c' W_O[o, c'] · z[b, c', i],   z[b, c', i] = Σ_m A[b, ⌊c'/d⌋, i, m] · v[b, c', m]
    ℓ[b, h, i, m] = 1/√d · Σ_e q[b, h·d + e, i] · k[b, h·d + e, m] + P[h, i, m],   A = softmax of ℓ over every key m

This is ``F.scaled_dot_product_attention(q, k, v, attn_mask=P)`` between biased projections with a float
mask P of shape (N, L, L) (or (L, L), the same for every head; (1, N, L, L) broadcast over the batch),
and ``nn.MultiheadAttention`` with a float ``attn_mask`` of shape (L, L), or (B·N, L, L) equal across the
batch. P is a parameter of the operator, a finite bias like Swin's relative position bias but a free
L×L table per head: every entry finite, so every key keeps a positive weight and Ω is every token (a
mask with −∞ entries, or a boolean one, is not this operator: −∞ is not a value a parameter takes in
the proof; the causal mask is ``mhsa_causal``). The construction and proof are shared with
``mhsa_causal`` and ``gqa_attention`` (``_sequence_attention``): the value bias leaves the kernel
because each softmax sums to one.
"""

from evosym import Operator

from . import _sequence_attention as S
from ._conv import _numpy_reference
from ._mha_binding import binding

A = S.build(causal=False, grouped=False, biased=True)
N = A.heads_size


def torch_reference(t, sizes):
    """``F.scaled_dot_product_attention(q, k, v, attn_mask=P[None])`` between ``F.linear`` projections."""
    return S.torch_reference(t, sizes, causal=False, grouped=False, biased=True)


reference = _numpy_reference(torch_reference)


OPERATOR = Operator(
    name="mhsa_bias",
    summary="multi-head self-attention over a token sequence with a static additive bias P[h, i, m] on the "
            "logits (a float attn_mask): biased projections, 1/√d scaling, softmax over every key",
    output=A.y, lhs_indices=(S.b, S.o, S.i), traditional=A.traditional,
    tensors=A.tensors, batch=S.b, out_channel=S.o, position=(S.i,), definitions=A.definitions, sizes=A.sizes,
    grid=({S.B: 1, N: 2, S.Dh: 1, S.L: 3},
          {S.B: 2, N: 1, S.Dh: 2, S.L: 2},
          {S.B: 1, N: 1, S.Dh: 1, S.L: 4}),
    reference=reference,
    reference_name="torch.nn.functional.scaled_dot_product_attention(attn_mask=P) between F.linear projections",
    torch_reference=torch_reference,
    torch_binding=binding(bias_table=True),
    bench={S.B: 8, N: 8, S.Dh: 32, S.L: 196},
    figure={S.B: 1, N: 2, S.Dh: 1, S.L: 4},
    description="Every token attends to every token with a learned or given additive bias P[h, i, m] on each "
                "logit (ALiBi, T5's relative bias, a soft mask, written out as a table). As an Evolution form "
                "K[b,o,c,i,m] = Σ_h A_h(i,m)·(W_O^h W_V^h)[o,c]: dynamic from pairs, global, position-specific "
                "(the bias breaks translation invariance unless P depends on i − m only), full channel mixing.",
    citation="Vaswani et al., NeurIPS 2017; torch.nn.functional.scaled_dot_product_attention with a float attn_mask",
    notes=("P has shape (N, L, L): the module is made for one sequence length L. A float attn_mask of shape (L, L) "
           "is P with the same table for every head.",
           "Every entry of P is finite, so Ω is every token; −∞ entries (a hard mask) are not a parameter value: "
           "the causal mask is mhsa_causal, other hard masks are refused.",
           "Tokens are the L positions of x (B, C, L), channels first; PyTorch's (B, L, C) sequence is "
           "x.transpose(1, 2)."),
)


def derive(dv):
    S.derive(dv, A)
