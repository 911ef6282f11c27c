"""Causal MHSA whose logits add a term read from the input, x[b, 0, i]·x[b, 0, m] (an SDPA attn_mask computed per sample, with the causal mask folded into it)."""
import dataclasses

from evosym import Operator
from evosym.derivations import _sequence_attention as S

A = S.build(causal=True, grouped=False)
N = A.heads_size
x = A.x
defs = list(A.definitions)
defs[3] = dataclasses.replace(defs[3], body=defs[3].body + x[S.b, 0, S.i] * x[S.b, 0, S.m])   # the logits + x[b,0,i]·x[b,0,m]
A = dataclasses.replace(A, definitions=tuple(defs))


def torch_reference(t, sizes):
    return S.explicit_reference(t, sizes, causal=True,
                                logit_term=lambda t_, logit: (t_["x"][:, 0, :, None] * t_["x"][:, 0, None, :])[:, None])


def reference(arrays, sizes):
    import torch
    return torch_reference({k: torch.from_numpy(a).to(torch.float64) for k, a in arrays.items()}, sizes).numpy()


OPERATOR = Operator(
    name="sdpa_data_bias", summary="causal MHSA whose logits add x[b, 0, i]·x[b, 0, m]", description="look-alike of mhsa_causal: a causal mask and a logit term read from the input",
    output=A.y, lhs_indices=(S.b, S.o, S.i), traditional=A.traditional,
    tensors=A.tensors, batch=S.b, out_channel=S.o, position=(S.i,), definitions=A.definitions, sizes=A.sizes,
    grid=({S.B: 1, N: 2, S.Dh: 1, S.L: 3}, {S.B: 2, N: 1, S.Dh: 2, S.L: 2}, {S.B: 1, N: 1, S.Dh: 1, S.L: 4}),
    reference=reference, reference_name="explicit softmax", torch_reference=torch_reference,
    bench={S.B: 2, N: 2, S.Dh: 4, S.L: 8},
)


def derive(dv):
    S.derive(dv, A)
