"""Multi-head self-attention over a 1-D token sequence with any boolean mask: ``F.scaled_dot_product_attention``'s
boolean ``attn_mask`` (or a 0/−inf float one) of any pattern — a band, blocks, a sliding window, a causal mask with
left padding, different per sample and head — and ``nn.MultiheadAttention``'s masks and key_padding_mask together.

    y[b, o, i]  = b_O[o] + Σ_c' W_O[o, c'] · z[b, c', i],   z[b, c', i] = Σ_m A[b, ⌊c'/d⌋, i, m] · v[b, c', m]
    ℓ[b, h, i, m] = 1/√d · Σ_e q[b, h·d + e, i] · k[b, h·d + e, m],   E = M[b, h, i, m]·exp(ℓ),   A = E / Σ_m' E

Two inputs: the tokens x (B, C, L) and the mask M (B, N, L, L) (argument ``allowed``), 1 where query i of head h in
sample b sees key m and 0 where it does not: SDPA's boolean attn_mask (True = seen) broadcast to the logits,
``mask.expand(B, N, L, L).to(x.dtype)`` (an expanded view: no copy). M is declared an *indicator*: every entry 0 or 1
and a 1 in every row (b, h, i) — a query that sees no key has a 0/0 softmax (PyTorch returns NaN or zeros there). From
that premise the proof's unit-sum step proves every row's normaliser positive (the sum runs over M's whole last axis),
so the value bias leaves the kernel; the generated module checks the premise on every input. As an Evolution form over
x the kernel is K[b,o,c,i,m] = Σ_h A_h(b, i, m)·(W_O^h W_V^h)[o, c], 0 where the mask hides, Ω every token (which keys a
query sees is data, not a neighbourhood).
"""

from evosym import Operator

from . import _sequence_attention as S
from ._conv import _numpy_reference
from ._mha_binding import binding

A = S.build(causal=False, grouped=False, masked=True)
N = A.heads_size


def torch_reference(t, sizes):
    """``F.multi_head_attention_forward`` (what ``nn.MultiheadAttention`` runs) on the tokens x with the boolean
    attn_mask ``mask == 0`` per sample and head, (B·N, L, L) (True where a key is hidden)."""
    return S.mha_forward(t, sizes, attn_mask=(t["allowed"] == 0).flatten(0, 1))


reference = _numpy_reference(torch_reference)


OPERATOR = Operator(
    name="mhsa_masked",
    summary="multi-head self-attention over a token sequence with any boolean mask per sample and head (M[b, h, i, m] = 1 "
            "where query i sees key m, a key in every row): biased projections, 1/√d scaling, softmax over the keys "
            "the mask shows, output projection",
    output=A.y, lhs_indices=(S.b, S.o, S.i), traditional=A.traditional,
    tensors=A.tensors, batch=S.b, out_channel=S.o, position=(S.i,), definitions=A.definitions, sizes=A.sizes,
    grid=({S.B: 2, N: 2, S.Dh: 1, S.L: 3},
          {S.B: 1, N: 1, S.Dh: 2, S.L: 2},
          {S.B: 1, N: 2, S.Dh: 1, S.L: 4}),
    reference=reference,
    reference_name="torch.nn.functional.multi_head_attention_forward with a boolean attn_mask (B·N, L, L)",
    torch_reference=torch_reference,
    torch_binding=binding(call="mask"),
    bench={S.B: 8, N: 8, S.Dh: 32, S.L: 196},
    figure={S.B: 1, N: 2, S.Dh: 1, S.L: 4},
    description="Every query attends to the keys a mask shows it, the mask given per sample and head (any pattern: "
                "bands, blocks, sliding windows, causal with left padding, key padding). As an Evolution form over x, "
                "K[b,o,c,i,m] = Σ_h A_h(b,i,m)·(W_O^h W_V^h)[o,c]: dynamic (from x and the mask), global, "
                "position-specific, full channel mixing, 0 where the mask hides. The value bias leaves the kernel "
                "because every query sees a key (the mask's premise): β = b_O + W_O·b_V.",
    citation="Vaswani et al., NeurIPS 2017; torch.nn.functional.scaled_dot_product_attention with a boolean attn_mask",
    notes=("Two inputs: x (B, C, L), channels first, and allowed = M (B, N, L, L), 1 where a query sees a key and 0 where "
           "it does not: from SDPA's boolean attn_mask (True = seen) M = attn_mask.expand(B, N, L, L).to(x.dtype); "
           "from a 0/−inf float one M = torch.isfinite(attn_mask); from nn.MultiheadAttention's (True = hidden) ~mask.",
           "M is an indicator: every entry 0 or 1 and a 1 in every row (every query sees a key); the generated module "
           "refuses other masks.",
           "Heads are head-major: head h owns channels [h·d, (h+1)·d). The logits are scaled by 1/√d."),
)


def derive(dv):
    S.derive(dv, A)
