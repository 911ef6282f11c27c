"""MHSA whose query bias has one entry more than the queries (read as bQ[c], c < N·d; look-alike: the in-projection's
bias does not line up with F.linear's rows, so the SDPA path must not take it as the projection's bias)."""

import dataclasses

from evosym import Operator
from evosym.derivations import _sequence_attention as S

A = S.build(causal=False, grouped=False)
N = A.heads_size
tensors = list(A.tensors)
tensors[2] = dataclasses.replace(tensors[2], shape=(N * S.Dh + 1,))   # bQ: one unread entry at the end
A = dataclasses.replace(A, tensors=tuple(tensors))


def torch_reference(t, sizes):
    return S.explicit_reference({**t, "bQ": t["bQ"][:-1]}, sizes, causal=False)


def reference(arrays, sizes):
    import torch
    return torch_reference({k: torch.from_numpy(a).to(torch.float64) for k, a in arrays.items()}, sizes).numpy()


OPERATOR = Operator(
    name="sdpa_long_query_bias", summary="MHSA with a query bias one entry longer than the queries",
    description="look-alike of mhsa: the projection's bias is longer than its rows",
    output=A.y, lhs_indices=(S.b, S.o, S.i), traditional=A.traditional,
    tensors=A.tensors, batch=S.b, out_channel=S.o, position=(S.i,), definitions=A.definitions, sizes=A.sizes,
    grid=({S.B: 1, N: 2, S.Dh: 1, S.L: 3}, {S.B: 2, N: 1, S.Dh: 2, S.L: 2}, {S.B: 1, N: 1, S.Dh: 1, S.L: 4}),
    reference=reference, reference_name="explicit softmax", torch_reference=torch_reference,
    bench={S.B: 2, N: 2, S.Dh: 4, S.L: 8},
)


def derive(dv):
    S.derive(dv, A)
