"""Multi-head cross-attention: queries from one sequence, keys and values from others (``nn.MultiheadAttention``
called as ``m(query, key, value)``, with ``kdim`` and ``vdim``).

    y[b, o, i]  = b_O[o] + Σ_c' W_O[o, c'] · z[b, c', i]
    z[b, c', i] = Σ_{m<S} A[b, ⌊c'/d⌋, i, m] · v[b, c', m]
    q = W_Q·x + b_Q (x: B × C × L),  k = W_K·x_k + b_K (x_k: B × C_k × S),  v = W_V·x_v + b_V (x_v: B × C_v × S)
    ℓ[b, h, i, m] = 1/√d · Σ_e q[b, h·d + e, i] · k[b, h·d + e, m],   A = softmax over the S keys

The operator has three input tensors; the Evolution form aggregates the value input x_v over its S positions
(Ω(i) = every key) with a kernel made from the queries' and the keys' inputs:
K[b,o,c,i,m] = Σ_h A_h(i, m)·(W_O^h W_V^h)[o, c]. The value bias leaves the kernel (each softmax sums to one), so
β = b_O + W_O·b_V. With x_k = x_v this is ``F.scaled_dot_product_attention`` between projections of two
sequences (an encoder–decoder's cross-attention); with x = x_k = x_v it is ``mhsa_causal``'s unmasked sibling.
The construction and the proof are shared with the self-attention operators (``_sequence_attention``).
"""

from evosym import Operator

from . import _sequence_attention as S
from ._conv import _numpy_reference
from ._mha_binding import cross_binding

A = S.build(causal=False, grouped=False, cross=True)
N = A.heads_size
Skv, Ck, Cv = (dict((str(s), s) for s, _ in A.sizes)[n] for n in ("S", "C_k", "C_v"))


def torch_reference(t, sizes):
    """``F.multi_head_attention_forward`` (what ``nn.MultiheadAttention`` runs) with separate projection weights, on
    the (tokens, batch, channels) sequences x, x_k, x_v."""
    return S.cross_mha_forward(t, sizes)


reference = _numpy_reference(torch_reference)


OPERATOR = Operator(
    name="cross_attention",
    summary="multi-head cross-attention (nn.MultiheadAttention(query, key, value), kdim/vdim): queries from x, keys "
            "from x_k, values from x_v, biased projections, 1/√d scaling, softmax over the S keys, output projection",
    output=A.y, lhs_indices=(S.b, S.o, S.i), traditional=A.traditional, value="xv",
    tensors=A.tensors, batch=S.b, out_channel=S.o, position=(S.i,), definitions=A.definitions, sizes=A.sizes,
    grid=({S.B: 1, N: 2, S.Dh: 1, S.L: 2, Skv: 3, Ck: 1, Cv: 2},
          {S.B: 2, N: 1, S.Dh: 2, S.L: 3, Skv: 1, Ck: 2, Cv: 1},
          {S.B: 1, N: 1, S.Dh: 1, S.L: 1, Skv: 2, Ck: 3, Cv: 1}),
    reference=reference,
    reference_name="torch.nn.functional.multi_head_attention_forward with separate q/k/v projection weights",
    torch_reference=torch_reference,
    torch_binding=cross_binding(),
    bench={S.B: 8, N: 8, S.Dh: 32, S.L: 196, Skv: 77, Ck: 256, Cv: 256},
    figure={S.B: 1, N: 2, S.Dh: 1, S.L: 3, Skv: 4, Ck: 1, Cv: 1},
    description="Every query token of x attends to every token of a second sequence: queries are a biased "
                "projection of x, keys of x_k, values of x_v (C_k and C_v channels: kdim and vdim), a softmax per "
                "head over the S keys, then the output projection. As an Evolution form over the value input x_v, "
                "K[b,o,c,i,m] = Σ_h A_h(i,m)·(W_O^h W_V^h)[o,c]: dynamic (from x and x_k), global over the S keys, "
                "position-specific, full channel mixing. The value bias leaves the kernel because each softmax sums "
                "to one: β = b_O + W_O·b_V.",
    citation="Vaswani et al., Attention Is All You Need, NeurIPS 2017 (the decoder's encoder–decoder attention; "
             "torch.nn.MultiheadAttention with kdim and vdim)",
    notes=("Three inputs, channels first: x (B, C, L) the queries' tokens, x_k (B, C_k, S) the keys', x_v (B, C_v, S) "
           "the values'; PyTorch's batch_first (B, L, C) sequences are t.transpose(1, 2). Pass the same tensor as x_k "
           "and x_v when keys and values come from one sequence (an encoder's output).",
           "from_torch takes any nn.MultiheadAttention without add_bias_kv or add_zero_attn: its kdim and vdim are C_k "
           "and C_v (the packed in_proj_weight when they equal embed_dim, the separate q/k/v weights otherwise).",
           "No mask: every query sees all S keys. Heads are head-major (head h owns channels [h·d, (h+1)·d)); the "
           "logits are scaled by 1/√d."),
)


def derive(dv):
    S.derive(dv, A)
