"""Where the causal operators put the value bias b_V: after the softmax, y = b_O + W_O·b_V + W_O·z, because each
row of the masked weights A = [m ≤ i]·exp(ℓ) / Σ_m' [m' ≤ i]·exp(ℓ) sums to one. The rule softmax-sums-to-one
takes unmasked weights only, so mhsa_causal and gqa_causal state this placement in their traditional form and
the reference check confirms it at the grid shapes; these tests pin it against PyTorch at other shapes with a
large value bias: the output equals PyTorch's, and b_V moves every output row by exactly W_O·b_V (once, not
(i + 1) times as an unnormalised Σ_{m ≤ i} would, and not 0 as a dropped bias would)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from evosym.coverage import attention as at
from evosym.coverage import attention_sweep as sw

F64 = torch.float64


def _mha(seed):
    torch.manual_seed(seed)
    m = nn.MultiheadAttention(6, 3, batch_first=True, dtype=F64).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.normal_()
        m.in_proj_bias[12:].mul_(10)   # the value bias b_V, large
    return m


def _without_value_bias(m):
    m0 = _mha(0)
    m0.load_state_dict(m.state_dict())
    with torch.no_grad():
        m0.in_proj_bias[12:].zero_()
    return m0


@pytest.mark.parametrize("mask", ["float", "bool"])
def test_mhsa_causal_value_bias_matches_multihead_attention(mask):
    m = _mha(1)
    L = 7
    x = torch.randn(2, L, 6, dtype=F64)
    causal = nn.Transformer.generate_square_subsequent_mask(L, dtype=F64) if mask == "float" else \
        torch.ones(L, L, dtype=torch.bool).triu(1)
    moved = (m.out_proj.weight @ m.in_proj_bias[12:]).detach()   # W_O·b_V
    outputs = {}
    for name, module in (("with", m), ("without", _without_value_bias(m))):
        want = module(x, x, x, attn_mask=causal, is_causal=True, need_weights=False)[0]
        layer = at.from_torch(module, causal=True)
        for path in ("auto", "generic"):
            got = layer(x.transpose(1, 2), path=path).transpose(1, 2)
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
        outputs[name] = (want, got)
    for k in range(2):   # PyTorch's and evosym's: b_V shifts every row i by W_O·b_V exactly
        shift = outputs["with"][k] - outputs["without"][k]
        torch.testing.assert_close(shift, moved.expand_as(shift), rtol=1e-12, atol=1e-12)
    assert float(moved.abs().max()) > 1   # the bias is visible: dropping it or counting it i + 1 times fails


def test_gqa_causal_value_bias_matches_sdpa_with_is_causal():
    heads, kv, d, L = 4, 2, 2, 6
    e, ekv = heads * d, kv * d
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, L, e, generator=gen, dtype=F64)
    shapes = ((e, e), (e,), (ekv, e), (ekv,), (ekv, e), (ekv,), (e, e), (e,))
    w = [torch.randn(s, generator=gen, dtype=F64) for s in shapes]
    w[5] = 10 * w[5]   # the value bias, large
    r = at.sdpa_route(x, w[0], w[2], w[4], num_heads=heads, is_causal=True, enable_gqa=True)
    assert r.operator == "gqa_causal"
    shifts = []
    for bv in (w[5], torch.zeros_like(w[5])):
        ws = w[:5] + [bv] + w[6:]
        want = sw._sdpa_torch(x, ws, heads, kv, d, None, True, None, 0.0, True)
        for path in ("auto", "generic"):
            got = at.self_attention(x, *ws, num_heads=heads, is_causal=True, enable_gqa=True, path=path)
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
        shifts.append((want, got))
    moved = w[6] @ w[5].view(kv, d).repeat_interleave(heads // kv, 0).reshape(e)   # b_V of head ⌊h/G⌋
    for k in range(2):   # query head h reads value head ⌊h/G⌋: W_O·(b_V of each query head's value head)
        shift = shifts[0][k] - shifts[1][k]
        torch.testing.assert_close(shift, moved.expand_as(shift), rtol=1e-12, atol=1e-12)
    assert float(moved.abs().max()) > 1
