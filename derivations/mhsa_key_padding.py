"""Multi-head self-attention over a 1-D token sequence with some keys hidden per sample: ``nn.MultiheadAttention``
called with a boolean ``key_padding_mask`` (padded tokens of a batch of sequences of different lengths).

    y[b, o, i]  = b_O[o] + Σ_c' W_O[o, c'] · z[b, c', i],   z[b, c', i] = Σ_m A[b, ⌊c'/d⌋, i, m] · v[b, c', m]
    ℓ[b, h, i, m] = 1/√d · Σ_e q[b, h·d + e, i] · k[b, h·d + e, m],   E = V[b, m]·exp(ℓ),   A = E / Σ_m' E

The operator has two inputs: the tokens x (B, C, L) and the visible keys V (B, L) (argument ``key_mask``), 1 where
sample b attends to key m and 0 where the key is hidden: PyTorch's boolean key_padding_mask is True where hidden, so
V = ``(~key_padding_mask).to(x.dtype)``. PyTorch adds −∞ to the hidden keys' logits, exp(ℓ − ∞) = 0, which is the
factor V of E. V is declared an *indicator*: every entry 0 or 1 and a 1 in every sample (a sample whose keys are all
hidden has a 0/0 softmax: PyTorch returns NaN or zeros there). That premise is what lets the proof move the value bias out of
the kernel (every row's weights sum to one: Σ_m E > 0 because some V[b, m] = 1), and the generated module checks it
on every input, refusing a mask that breaks it. As an Evolution form over x the kernel is
K[b,o,c,i,m] = Σ_h A_h(b, i, m)·(W_O^h W_V^h)[o, c], 0 at the hidden keys, with Ω every token.
"""

from evosym import Operator

from . import _sequence_attention as S
from ._conv import _numpy_reference
from ._mha_binding import binding

A = S.build(causal=False, grouped=False, key_mask=True)
N = A.heads_size


def torch_reference(t, sizes):
    """``F.multi_head_attention_forward`` (what ``nn.MultiheadAttention`` runs) on the tokens x with the boolean
    key_padding_mask ``key_mask == 0`` (True where a key is hidden)."""
    return S.mha_forward(t, sizes, key_padding_mask=t["key_mask"] == 0)


reference = _numpy_reference(torch_reference)


OPERATOR = Operator(
    name="mhsa_key_padding",
    summary="multi-head self-attention over a token sequence with keys hidden per sample (a boolean "
            "key_padding_mask, negated: V[b, m] = 1 where key m is seen): biased projections, 1/√d scaling, "
            "softmax over the visible keys, output projection",
    output=A.y, lhs_indices=(S.b, S.o, S.i), traditional=A.traditional,
    tensors=A.tensors, batch=S.b, out_channel=S.o, position=(S.i,), definitions=A.definitions, sizes=A.sizes,
    grid=({S.B: 2, N: 2, S.Dh: 1, S.L: 3},
          {S.B: 3, N: 1, S.Dh: 2, S.L: 2},
          {S.B: 1, N: 1, S.Dh: 1, S.L: 4}),
    reference=reference,
    reference_name="torch.nn.functional.multi_head_attention_forward with a boolean key_padding_mask (B, L)",
    torch_reference=torch_reference,
    torch_binding=binding(call="key_padding"),
    bench={S.B: 8, N: 8, S.Dh: 32, S.L: 196},
    figure={S.B: 1, N: 2, S.Dh: 1, S.L: 4},
    description="Every token attends to the tokens its sample does not hide (padding in a batch of sequences of "
                "different lengths). As an Evolution form over x, K[b,o,c,i,m] = Σ_h A_h(b,i,m)·(W_O^h W_V^h)[o,c]: "
                "dynamic (from x and the mask), global, position-specific, full channel mixing, 0 at the hidden "
                "keys. The value bias leaves the kernel because each softmax sums to one, which holds because "
                "every sample sees a key (the mask's premise): β = b_O + W_O·b_V.",
    citation="Vaswani et al., NeurIPS 2017; torch.nn.MultiheadAttention with a boolean key_padding_mask",
    notes=("Two inputs: x (B, C, L), channels first, and key_mask = V (B, L), 1 where a key is seen and 0 where it "
           "is hidden: from PyTorch's boolean key_padding_mask (True = hidden), V = (~key_padding_mask).to(x.dtype).",
           "V is an indicator: every entry 0 or 1 and a 1 in every sample; the generated module refuses other "
           "masks (a sample with every key hidden has no softmax: PyTorch returns NaN or zeros there).",
           "Heads are head-major: head h owns channels [h·d, (h+1)·d). The logits are scaled by 1/√d."),
)


def derive(dv):
    S.derive(dv, A)
