"""MHSA whose output keeps only the first L - 1 tokens (look-alike: output length != query length)."""

from evosym import Operator, TensorDecl
from evosym.derivations import _sequence_attention as S

CAUSAL = True   # with the causal mask (the window then holds the keys of the L − 1 outputs)
A = S.build(causal=CAUSAL, grouped=False)
N = A.heads_size
y = TensorDecl("y", (S.B, N * S.Dh, S.L - 1), "output", "first L-1 output tokens")


def torch_reference(t, sizes):
    return S.torch_reference(t, sizes, causal=CAUSAL, grouped=False)[..., :-1]


def reference(arrays, sizes):
    import torch
    return torch_reference({k: torch.from_numpy(a).to(torch.float64) for k, a in arrays.items()}, sizes).numpy()


OPERATOR = Operator(
    name="sdpa_short_out", summary="causal MHSA keeping the first L − 1 outputs", description="look-alike of mhsa_causal: fewer outputs than queries",
    output=y, lhs_indices=(S.b, S.o, S.i), traditional=A.traditional,
    tensors=A.tensors, batch=S.b, out_channel=S.o, position=(S.i,), definitions=A.definitions, sizes=A.sizes,
    grid=({S.B: 1, N: 2, S.Dh: 1, S.L: 3}, {S.B: 2, N: 1, S.Dh: 2, S.L: 2}, {S.B: 1, N: 1, S.Dh: 1, S.L: 4}),
    reference=reference, reference_name="SDPA sliced", torch_reference=torch_reference,
    bench={S.B: 2, N: 2, S.Dh: 4, S.L: 8},
)


def derive(dv):
    S.derive(dv, A)
