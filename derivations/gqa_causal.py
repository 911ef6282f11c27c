"""Causal grouped-query self-attention over a 1-D token sequence (``is_causal=True, enable_gqa=True``).

A decoder's attention with fewer key/value heads than query heads (Llama, Mistral, Qwen): token i
attends to tokens 0 … i, and query head h of N = N_kv·G reads key/value head ⌊h/G⌋ (SDPA's
``enable_gqa``, i.e. ``repeat_interleave`` of the key/value heads). Both pieces and the proof are
shared with ``mhsa_causal`` and ``gqa_attention`` (``_sequence_attention``): the masked weights
E = [m ≤ i]·exp(ℓ) normalised over every key, the value bias moved out of the kernel because each row of
the masked weights sums to one (proved: key 0 is visible to every query), K vanishing after the query,
Ω(i) = {m ≤ i}.
"""

from evosym import Operator

from . import _sequence_attention as S
from ._conv import _numpy_reference

A = S.build(causal=True, grouped=True)
Nkv, G = A.sizes[1][0], A.sizes[2][0]


def torch_reference(t, sizes):
    """``F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)`` between ``F.linear`` projections."""
    return S.torch_reference(t, sizes, causal=True, grouped=True)


reference = _numpy_reference(torch_reference)


OPERATOR = Operator(
    name="gqa_causal",
    summary="causal grouped-query self-attention over a token sequence (is_causal=True, enable_gqa=True): "
            "N_kv·G query heads share N_kv key/value heads, softmax over the keys at or before the query",
    output=A.y, lhs_indices=(S.b, S.o, S.i), traditional=A.traditional,
    tensors=A.tensors, batch=S.b, out_channel=S.o, position=(S.i,), definitions=A.definitions, sizes=A.sizes,
    grid=({S.B: 1, Nkv: 1, G: 2, S.Dh: 1, S.L: 3},
          {S.B: 2, Nkv: 2, G: 2, S.Dh: 1, S.L: 2},
          {S.B: 1, Nkv: 2, G: 1, S.Dh: 2, S.L: 3}),
    reference=reference,
    reference_name="torch.nn.functional.scaled_dot_product_attention(is_causal=True, enable_gqa=True) between "
                   "F.linear projections",
    torch_reference=torch_reference,
    bench={S.B: 8, Nkv: 2, G: 4, S.Dh: 32, S.L: 196},
    figure={S.B: 1, Nkv: 1, G: 2, S.Dh: 1, S.L: 4},
    description="A decoder's grouped-query attention: token i attends to tokens 0 … i, and query head h uses "
                "key/value head ⌊h/G⌋. As an Evolution form K[b,o,c,i,m] = Σ_h A_h(i,m)·(W_O^h W_V^⌊h/G⌋)[o,c] for "
                "m ≤ i and 0 after i: dynamic from pairs, causal, position-specific, full channel mixing.",
    citation="Ainslie et al., GQA, EMNLP 2023; Vaswani et al., NeurIPS 2017 (masked self-attention); "
             "torch.nn.functional.scaled_dot_product_attention with is_causal=True and enable_gqa=True",
    notes=("Query head h reads key/value head ⌊h/G⌋ (PyTorch's enable_gqa: repeat_interleave of the key/value "
           "heads). PyTorch's −∞ mask after the query gives weights exactly 0: the softmax normalises over keys "
           "0 … i, and key i is always visible, so no row is fully masked.",
           "Tokens are the L positions of x (B, C, L), channels first, C = N_kv·G·d; PyTorch's (B, L, C) sequence "
           "is x.transpose(1, 2). Ω(i) = {m ≤ i}, written as a window of L taps ending at i: causal, derived."),
)


def derive(dv):
    S.derive(dv, A)
