"""Causal multi-head self-attention over a 1-D token sequence (``is_causal=True``).

    y[b, o, i]  = b_O[o] + Σ_c' W_O[o, c'] · z[b, c', i]
    z[b, c', i] = Σ_m A[b, ⌊c'/d⌋, i, m] · v[b, c', m]                 (v: the value projection, with b_V)
    ℓ[b, h, i, m] = 1/√d · Σ_e q[b, h·d + e, i] · k[b, h·d + e, m],   E = [m ≤ i]·exp(ℓ),   A = E / Σ_m' E

with N heads of d channels (head-major) and biased projections of the tokens, as in mhsa. This is
``F.scaled_dot_product_attention(q, k, v, is_causal=True)`` between the projections, and
``nn.MultiheadAttention`` called with ``attn_mask=nn.Transformer.generate_square_subsequent_mask(L)``
(``is_causal=True`` being only a hint that the mask is this one): PyTorch adds −∞ to the logits of the
keys after the query, so their weights are exactly 0 and the softmax normalises over keys 0 … i, which
is the guard [m ≤ i]. Key 0 is visible to every query (0 ≤ i), so no row is fully masked. The value
bias stays in the value projection and the proof moves it out of the kernel: each row of the masked
weights sums to one (softmax-sums-to-one, which proves Σ E > 0 from a key that every row shows). The
construction and the proof are shared with ``gqa_attention`` and ``gqa_causal`` (``_sequence_attention``).
"""

from evosym import Operator

from . import _sequence_attention as S
from ._mha_binding import binding
from ._conv import _numpy_reference

A = S.build(causal=True, grouped=False)
N = A.heads_size


def torch_reference(t, sizes):
    """``F.scaled_dot_product_attention(q, k, v, is_causal=True)`` between ``F.linear`` projections."""
    return S.torch_reference(t, sizes, causal=True, grouped=False)


reference = _numpy_reference(torch_reference)


OPERATOR = Operator(
    name="mhsa_causal",
    summary="causal multi-head self-attention over a token sequence (is_causal=True): biased projections, "
            "1/√d scaling, softmax over the keys at or before the query, output projection",
    output=A.y, lhs_indices=(S.b, S.o, S.i), traditional=A.traditional,
    tensors=A.tensors, batch=S.b, out_channel=S.o, position=(S.i,), definitions=A.definitions, sizes=A.sizes,
    grid=({S.B: 1, N: 2, S.Dh: 1, S.L: 3},
          {S.B: 2, N: 1, S.Dh: 2, S.L: 2},
          {S.B: 1, N: 1, S.Dh: 1, S.L: 4}),
    reference=reference,
    reference_name="torch.nn.functional.scaled_dot_product_attention(is_causal=True) between F.linear projections",
    torch_reference=torch_reference,
    torch_binding=binding(call="causal"),
    bench={S.B: 8, N: 8, S.Dh: 32, S.L: 196},
    figure={S.B: 1, N: 2, S.Dh: 1, S.L: 4},
    description="Token i attends to tokens 0 … i only (the decoder's causal mask): queries, keys and values are "
                "biased projections, a softmax per head over the keys at or before the query, then the output "
                "projection. As an Evolution form K[b,o,c,i,m] = Σ_h A_h(i,m)·(W_O^h W_V^h)[o,c] for m ≤ i and 0 "
                "after i: dynamic from pairs, causal (Ω(i) = {m ≤ i}), position-specific, full channel mixing. "
                "The value bias leaves the kernel because each causal softmax sums to one: β = b_O + W_O·b_V.",
    citation="Vaswani et al., Attention Is All You Need, NeurIPS 2017 (the decoder's masked self-attention; "
             "torch.nn.functional.scaled_dot_product_attention with is_causal=True)",
    notes=("The value bias b_V is in the value projection; the proof moves it out of the kernel, y = b_O + W_O·b_V + "
           "W_O·z, by softmax-sums-to-one on the masked weights (Σ_m A = 1), whose obligation Σ_m E > 0 it proves "
           "from key 0, which passes [m ≤ i] at every query i. Generated code computes A as torch's softmax of ℓ "
           "with −∞ where the mask is 0 (the same ratio, the row maximum subtracted: no overflow in float32).",
           "Tokens are the L positions of x (B, C, L), channels first; PyTorch's batch_first (B, L, C) sequence "
           "is x.transpose(1, 2), its (L, B, C) sequence x.permute(1, 2, 0).",
           "PyTorch masks with −∞ added to the logits after the query: those weights are exactly 0 and the "
           "softmax normalises over keys 0 … i, which is the guard [m ≤ i] of E written here. Query i always sees key i, so "
           "no row is fully masked (the NaN PyTorch returns for an all −∞ row cannot occur).",
           "Ω(i) is written as a window of L taps ending at i (left padding L − 1, clipped at 0): the causal "
           "property is then derived symbolically (reach 0), as for a causal convolution.",
           "from_torch takes an nn.MultiheadAttention's weights; the causal mask is an argument of its forward, "
           "not of the module, so the caller states it by choosing this operator (mhsa is the unmasked one).",
           "Heads are head-major: head h owns channels [h·d, (h+1)·d). The logits are scaled by 1/√d."),
)


def derive(dv):
    S.derive(dv, A)
