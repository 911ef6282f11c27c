"""Causal multi-head self-attention with some keys hidden per sample: ``nn.MultiheadAttention`` called with the causal
``attn_mask`` and a boolean ``key_padding_mask`` (a decoder's self-attention over right-padded sequences:
``nn.TransformerDecoder``'s ``tgt_mask`` with ``tgt_key_padding_mask``).

    y[b, o, i]  = b_O[o] + Σ_c' W_O[o, c'] · z[b, c', i],   z[b, c', i] = Σ_m A[b, ⌊c'/d⌋, i, m] · v[b, c', m]
    ℓ[b, h, i, m] = 1/√d · Σ_e q[b, h·d + e, i] · k[b, h·d + e, m]
    E = [m ≤ i]·V[b, m]·exp(ℓ),   A = E / Σ_m' E

Two inputs: the tokens x (B, C, L) and the visible keys V (B, L) (argument ``key_mask``), 1 where sample b attends to
key m and 0 where it is hidden: V = ``(~key_padding_mask).to(x.dtype)``. Query i sees the keys m ≤ i that its sample
does not hide; query 0 sees key 0 alone, so a sample whose first key is hidden has a 0/0 row (PyTorch returns NaN
or, on its autograd path, zeros there). V is therefore declared a *leading indicator*: every entry 0 or 1 and the first entry of every sample 1 (a
right-padded mask: padding at the end). From that premise the proof's unit-sum step finds the key m = 0 visible to
every query (it passes the causal bracket and V[b, 0] = 1), so every row's normaliser is positive and the value
bias leaves the kernel; the generated module checks the premise on every input. As an Evolution form over x the
kernel is K[b,o,c,i,m] = Σ_h A_h(b, i, m)·(W_O^h W_V^h)[o, c], 0 after the query and at the hidden keys, with Ω(i) the
causal window {m ≤ i}.
"""

from evosym import Operator

from . import _sequence_attention as S
from ._conv import _numpy_reference
from ._mha_binding import binding

A = S.build(causal=True, grouped=False, key_mask=True)
N = A.heads_size


def torch_reference(t, sizes):
    """``F.multi_head_attention_forward`` (what ``nn.MultiheadAttention`` runs) on the tokens x with the causal boolean
    attn_mask (True above the diagonal) and the boolean key_padding_mask ``key_mask == 0`` (True where hidden)."""
    import torch
    length = t["x"].shape[-1]
    causal = torch.ones(length, length, dtype=torch.bool, device=t["x"].device).triu(1)
    return S.mha_forward(t, sizes, attn_mask=causal, key_padding_mask=t["key_mask"] == 0)


reference = _numpy_reference(torch_reference)


OPERATOR = Operator(
    name="mhsa_causal_key_padding",
    summary="causal multi-head self-attention over a token sequence with keys hidden per sample (the causal mask and "
            "a boolean key_padding_mask, negated: V[b, m] = 1 where key m is seen, V[b, 0] = 1): biased projections, "
            "1/√d scaling, softmax over the visible keys up to the query, output projection",
    output=A.y, lhs_indices=(S.b, S.o, S.i), traditional=A.traditional,
    tensors=A.tensors, batch=S.b, out_channel=S.o, position=(S.i,), definitions=A.definitions, sizes=A.sizes,
    grid=({S.B: 2, N: 2, S.Dh: 1, S.L: 3},
          {S.B: 3, N: 1, S.Dh: 2, S.L: 2},
          {S.B: 1, N: 1, S.Dh: 1, S.L: 4}),
    reference=reference,
    reference_name="torch.nn.functional.multi_head_attention_forward with the causal boolean attn_mask and a boolean "
                   "key_padding_mask (B, L)",
    torch_reference=torch_reference,
    torch_binding=binding(call="causal_key_padding"),
    bench={S.B: 8, N: 8, S.Dh: 32, S.L: 196},
    figure={S.B: 1, N: 2, S.Dh: 1, S.L: 4},
    description="Every token attends to the tokens at or before it that its sample does not hide (a decoder over a "
                "batch of right-padded sequences). As an Evolution form over x, K[b,o,c,i,m] = Σ_h A_h(b,i,m)·"
                "(W_O^h W_V^h)[o,c]: dynamic (from x and the mask), causal, position-specific, full channel mixing, "
                "0 after the query and at the hidden keys. The value bias leaves the kernel because every query sees "
                "key 0 (the mask's premise: the first key of every sample is seen): β = b_O + W_O·b_V.",
    citation="Vaswani et al., NeurIPS 2017 (the decoder's masked self-attention); torch.nn.MultiheadAttention with a "
             "causal attn_mask and a boolean key_padding_mask",
    notes=("Two inputs: x (B, C, L), channels first, and key_mask = V (B, L), 1 where a key is seen and 0 where it "
           "is hidden: from PyTorch's boolean key_padding_mask (True = hidden), V = (~key_padding_mask).to(x.dtype).",
           "V is a leading indicator: every entry 0 or 1 and V[b, 0] = 1 in every sample (padding at the end); the "
           "generated module refuses other masks (a hidden first key leaves query 0 no key: PyTorch returns NaN or zeros there).",
           "Heads are head-major: head h owns channels [h·d, (h+1)·d). The logits are scaled by 1/√d."),
)


def derive(dv):
    S.derive(dv, A)
