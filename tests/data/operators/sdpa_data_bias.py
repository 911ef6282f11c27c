"""Causal MHSA whose logits add a term read from the input, x[b, 0, i]·x[b, 0, m] (an SDPA attn_mask computed per sample, with the causal mask folded into it)."""
import dataclasses
import sympy as sp
from evosym import Operator
from evosym.derivations import _sequence_attention as S

VARIANT = "xbias"
CAUSAL = True
A = S.build(causal=CAUSAL, grouped=False)
N = A.heads_size
x = A.x
defs = list(A.definitions)
lg = defs[3]
extra = {"const": sp.Integer(1), "alibi": -(S.h + 1) * (S.i - S.m), "xbias": x[S.b, 0, S.i] * x[S.b, 0, S.m],
         "sizeb": sp.log(S.L)}[VARIANT]
defs[3] = dataclasses.replace(lg, body=lg.body + extra)
A = dataclasses.replace(A, definitions=tuple(defs))


def torch_reference(t, sizes):
    import torch, torch.nn.functional as F, math
    x_ = t["x"].transpose(1, 2)
    bsz, L, ch = x_.shape
    dh = sizes["d"]; nh = ch // dh
    def split(z):
        return z.view(bsz, L, z.shape[-1] // dh, dh).transpose(1, 2)
    q, k, v = (split(F.linear(x_, t[w], t[bb])) for w, bb in (("WQ", "bQ"), ("WK", "bK"), ("WV", "bV")))
    logit = q @ k.transpose(-1, -2) / dh ** 0.5
    ii = torch.arange(L, dtype=logit.dtype)
    if VARIANT == "const": logit = logit + 1
    if VARIANT == "alibi": logit = logit - (torch.arange(nh, dtype=logit.dtype) + 1)[:, None, None] * (ii[:, None] - ii[None, :])
    if VARIANT == "xbias": logit = logit + (t["x"][:, 0, :, None] * t["x"][:, 0, None, :])[:, None]
    if VARIANT == "sizeb": logit = logit + math.log(L)
    if CAUSAL:
        keep = torch.ones(L, L, dtype=torch.bool).tril()
        logit = logit.masked_fill(~keep, float("-inf"))
    z = (torch.softmax(logit, -1) @ v).transpose(1, 2).reshape(bsz, L, ch)
    return F.linear(z, t["WO"], t["bO"]).transpose(1, 2)


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
