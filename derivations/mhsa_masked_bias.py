"""Multi-head self-attention over a 1-D token sequence with a hard mask and an additive bias together: a float
``attn_mask`` that mixes −inf (hidden keys) with finite values (a bias: ALiBi or T5 relative positions beside a causal
or padding mask), a boolean mask beside a float ``key_padding_mask``, a float mask beside a boolean one.

    y[b, o, i]  = b_O[o] + Σ_c' W_O[o, c'] · z[b, c', i],   z[b, c', i] = Σ_m A[b, ⌊c'/d⌋, i, m] · v[b, c', m]
    ℓ[b, h, i, m] = 1/√d · Σ_e q[b, h·d + e, i] · k[b, h·d + e, m] + P[b, h, i, m],   E = M[b, h, i, m]·exp(ℓ),
    A = E / Σ_m' E

Three inputs: the tokens x (B, C, L), the mask M (B, N, L, L) (argument ``allowed``: 1 where query i of head h in
sample b sees key m, 0 where PyTorch adds −inf) and the bias P (B, N, L, L) (argument ``attn_mask``: the finite entries
of the float mask, any finite value where M is 0). M is an *indicator* (every entry 0 or 1, a 1 in every row (b, h, i))
and P is *finite*: from those premises the proof's unit-sum step proves every row's normaliser positive, so the value
bias leaves the kernel, as in mhsa_masked; the generated module checks both on every input. As an Evolution form over x
the kernel is K[b,o,c,i,m] = Σ_h A_h(b, i, m)·(W_O^h W_V^h)[o, c], 0 where the mask hides, Ω every token.
"""

from evosym import Operator

from . import _sequence_attention as S
from ._conv import _numpy_reference
from ._mha_binding import binding

A = S.build(causal=False, grouped=False, masked=True, biased="input")
N = A.heads_size


def torch_reference(t, sizes):
    """``F.multi_head_attention_forward`` (what ``nn.MultiheadAttention`` runs) on the tokens x with one float attn_mask
    per sample and head, (B·N, L, L): P where M shows the key, −inf where it hides it."""
    mixed = t["attn_mask"].masked_fill(t["allowed"] == 0, float("-inf"))
    return S.mha_forward(t, sizes, attn_mask=mixed.flatten(0, 1))


reference = _numpy_reference(torch_reference)


OPERATOR = Operator(
    name="mhsa_masked_bias",
    summary="multi-head self-attention over a token sequence with a hard mask and an additive bias per sample and "
            "head (M[b, h, i, m] = 1 where query i sees key m, a key in every row; P[b, h, i, m] added to the logits): "
            "biased projections, 1/√d scaling, softmax over the keys the mask shows, output projection",
    output=A.y, lhs_indices=(S.b, S.o, S.i), traditional=A.traditional,
    tensors=A.tensors, batch=S.b, out_channel=S.o, position=(S.i,), definitions=A.definitions, sizes=A.sizes,
    grid=({S.B: 2, N: 2, S.Dh: 1, S.L: 3},
          {S.B: 1, N: 1, S.Dh: 2, S.L: 2},
          {S.B: 1, N: 2, S.Dh: 1, S.L: 4}),
    reference=reference,
    reference_name="torch.nn.functional.multi_head_attention_forward with a float attn_mask (B·N, L, L) mixing −inf "
                   "and finite values",
    torch_reference=torch_reference,
    torch_binding=binding(call="mask_bias"),
    bench={S.B: 8, N: 8, S.Dh: 32, S.L: 196},
    figure={S.B: 1, N: 2, S.Dh: 1, S.L: 4},
    description="Every query attends to the keys a mask shows it, with an additive bias on their logits, both given "
                "per sample and head: what a float attn_mask that mixes −inf with finite values means (a causal or "
                "padding mask beside ALiBi or a T5 relative position bias). As an Evolution form over x, "
                "K[b,o,c,i,m] = Σ_h A_h(b,i,m)·(W_O^h W_V^h)[o,c]: dynamic (from x, the mask and the bias), global, "
                "position-specific, full channel mixing, 0 where the mask hides. The value bias leaves the kernel "
                "because every query sees a key (the mask's premise): β = b_O + W_O·b_V.",
    citation="Vaswani et al., NeurIPS 2017; Press et al., ICLR 2022 (ALiBi); Raffel et al., JMLR 2020 (T5); "
             "torch.nn.functional.scaled_dot_product_attention with a float attn_mask",
    notes=("Three inputs: x (B, C, L), channels first; allowed = M (B, N, L, L), 1 where a query sees a key and 0 where "
           "it does not; attn_mask = P (B, N, L, L), finite. From a float SDPA attn_mask F mixing −inf and finite values: "
           "M = torch.isfinite(F).to(x.dtype), P = F.masked_fill(M == 0, 0) (both broadcast to (B, N, L, L); "
           "expanded views are not copied).",
           "M is an indicator (every entry 0 or 1, a 1 in every row: every query sees a key) and P is finite; the "
           "generated module refuses other inputs. P's entries where M is 0 do not change the output.",
           "Heads are head-major: head h owns channels [h·d, (h+1)·d). The logits are scaled by 1/√d."),
)


def derive(dv):
    S.derive(dv, A)
