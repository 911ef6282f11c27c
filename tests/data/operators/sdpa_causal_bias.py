"""Causal MHSA with a static additive bias P[h, i, m] (look-alike: mask + bias)."""

from evosym import Operator
from evosym.derivations import _sequence_attention as S

A = S.build(causal=True, grouped=False, biased=True)
N = A.heads_size


def torch_reference(t, sizes):
    return S.explicit_reference(t, sizes, causal=True, logit_term=lambda t_, logit: t_["P"].unsqueeze(0))


def reference(arrays, sizes):
    import torch
    return torch_reference({k: torch.from_numpy(a).to(torch.float64) for k, a in arrays.items()}, sizes).numpy()


OPERATOR = Operator(
    name="sdpa_causal_bias", summary="causal MHSA with a static additive bias P[h, i, m]", description="look-alike of mhsa_causal: a causal mask and a logit bias (SDPA takes one or the other)",
    output=A.y, lhs_indices=(S.b, S.o, S.i), traditional=A.traditional,
    tensors=A.tensors, batch=S.b, out_channel=S.o, position=(S.i,), definitions=A.definitions, sizes=A.sizes,
    grid=({S.B: 1, N: 2, S.Dh: 1, S.L: 3}, {S.B: 2, N: 1, S.Dh: 2, S.L: 2}, {S.B: 1, N: 1, S.Dh: 1, S.L: 4}),
    reference=reference, reference_name="explicit masked softmax", torch_reference=torch_reference,
    bench={S.B: 2, N: 2, S.Dh: 4, S.L: 8},
)


def derive(dv):
    S.derive(dv, A)
