"""evosym.coverage.attention's argument checks: every attn_mask PyTorch takes (boolean, or float in float32 or the
query's dtype; SDPA: anything of 2 or more dimensions that broadcasts to the logits; nn.MultiheadAttention: (L, L)
or (batch·heads, L, L)) is taken or refused for what it means, never for its form; every one PyTorch refuses is
refused with evosym's own error (an EvosymError that is a ValueError) saying what was expected, never a raw
torch error. Likewise from_torch's ``causal``/``bias``, a width E ≠ num_heads·d, and query/key dtype mismatches
(reported as such, not as cross-attention)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from evosym.coverage import attention as at
from evosym.coverage import attention_sweep as sw
from evosym.errors import EvosymError

F64 = torch.float64
B, N, D, L = 2, 2, 2, 4
E = N * D


def _causal(*shape):
    """SDPA's causal pattern (True = allowed) broadcast to ``shape`` (…, L, L)."""
    return torch.ones(L, L, dtype=torch.bool).tril().expand(*shape).contiguous()


def _bias(*shape, dtype=F64):
    """A finite bias, the same for every sample, broadcast to ``shape``."""
    idx = torch.arange(L, dtype=dtype)
    table = (0.25 * (idx[:, None] - idx[None, :]))
    return table[: shape[-2], : shape[-1]].expand(*shape).contiguous() if shape[-2:] == (L, L) else \
        torch.linspace(-1, 1, math.prod(shape), dtype=dtype).view(shape)


def _refused(fn, *needles):
    """fn() raises evosym's error (an EvosymError and a ValueError) whose message has every needle."""
    with pytest.raises(EvosymError) as info:
        fn()
    assert isinstance(info.value, ValueError), type(info.value)
    for needle in needles:
        assert needle in str(info.value), str(info.value)
    return str(info.value)


def _sdpa_setup(seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(B, L, E, generator=gen, dtype=F64)
    w = [torch.randn(s, generator=gen, dtype=F64) / math.sqrt(E) for s in ((E, E), (E,)) * 4]
    return x, w


SDPA_TAKEN = [   # PyTorch takes these; evosym computes them (all allowed, causal, or a bias the same per sample)
    ("causal (L, L)", _causal(L, L)), ("causal (1, 1, L, L)", _causal(1, 1, L, L)),
    ("causal (B, 1, L, L)", _causal(B, 1, L, L)), ("causal (1, N, L, L)", _causal(1, N, L, L)),
    ("causal (N, L, L)", _causal(N, L, L)), ("all allowed (1, L)", torch.ones(1, L, dtype=torch.bool)),
    ("all allowed (L, 1)", torch.ones(L, 1, dtype=torch.bool)), ("bias float32 (L, L)", _bias(L, L, dtype=torch.float32)),
    ("bias (1, L): a key bias", _bias(1, L)), ("bias (L, 1): a query bias", _bias(L, 1)),
    ("bias (N, 1, L)", _bias(N, 1, L)),
]
SDPA_REFUSED = [   # PyTorch refuses these too: (name, mask, words of evosym's message)
    ("int64", torch.ones(L, L, dtype=torch.int64), ("boolean or floating point", "int64")),
    ("uint8", torch.ones(L, L, dtype=torch.uint8), ("boolean or floating point", "uint8")),
    ("float16 for float64 queries", torch.zeros(L, L, dtype=torch.float16), ("float32 or the query's dtype float64",)),
    ("complex", torch.zeros(L, L, dtype=torch.complex64), ("boolean or floating point",)),
    ("1-D", torch.ones(L, dtype=torch.bool), ("does not broadcast", "2 or more dimensions")),
    ("0-D", torch.tensor(True), ("does not broadcast",)),
    ("(L, L + 1)", torch.ones(L, L + 1, dtype=torch.bool), ("(4, 5) does not broadcast", "(2, 2, 4, 4)")),
    ("(L - 1, L - 1)", torch.ones(L - 1, L - 1, dtype=torch.bool), ("does not broadcast",)),
    ("(3, L, L): 3 heads for 2", _causal(3, L, L), ("does not broadcast",)),
    ("5-D", _causal(1, 1, 1, L, L), ("does not broadcast",)),
    ("a list", [[True] * L] * L, ("must be a tensor or None",)),
]


@pytest.mark.parametrize("name, mask", SDPA_TAKEN, ids=[c[0] for c in SDPA_TAKEN])
def test_sdpa_masks_pytorch_takes_are_computed(name, mask):
    x, w = _sdpa_setup()
    want = sw._sdpa_torch(x, w, N, N, D, mask, False, None, 0.0, False)
    for path in ("auto", "generic"):
        got = at.self_attention(x, *w, num_heads=N, attn_mask=mask, path=path)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, mask, words", SDPA_REFUSED, ids=[c[0] for c in SDPA_REFUSED])
def test_sdpa_masks_pytorch_refuses_are_refused_clearly(name, mask, words):
    x, w = _sdpa_setup()
    if isinstance(mask, torch.Tensor):
        with pytest.raises((RuntimeError, IndexError)):   # PyTorch refuses it
            sw._sdpa_torch(x, w, N, N, D, mask, False, None, 0.0, False)
    _refused(lambda: at.self_attention(x, *w, num_heads=N, attn_mask=mask), "attn_mask", *words)


def test_an_unbatched_sdpa_call_takes_masks_of_its_own_rank():
    x, w = _sdpa_setup()
    want = at.self_attention(x[0], *w, num_heads=N)
    for mask in (_causal(L, L), _causal(N, L, L), torch.ones(1, 1, L, dtype=torch.bool)):
        got = at.self_attention(x[0], *w, num_heads=N, attn_mask=mask)
        ref = want if bool(mask.all()) else at.self_attention(x[0], *w, num_heads=N, is_causal=True)
        torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    _refused(lambda: at.self_attention(x[0], *w, num_heads=N, attn_mask=_causal(B, N, L, L)), "(2, 4, 4)")


def test_a_mask_on_another_device_is_refused_clearly():
    x, w = _sdpa_setup()
    m = nn.MultiheadAttention(E, N, batch_first=True, dtype=F64).eval()
    meta = torch.ones(L, L, dtype=torch.bool, device="meta")
    _refused(lambda: at.self_attention(x, *w, num_heads=N, attn_mask=meta), "attn_mask is on meta", "query's device")
    _refused(lambda: at.multihead_attention(m, x, x, x, attn_mask=meta, need_weights=False), "attn_mask is on meta")


def _module(seed=0):
    torch.manual_seed(seed)
    m = nn.MultiheadAttention(E, N, batch_first=True, dtype=F64).eval()
    with torch.no_grad():
        m.in_proj_bias.normal_()
    return m


MHA_TAKEN = [   # True = masked (nn.MultiheadAttention's convention)
    ("causal bool (L, L)", ~_causal(L, L)), ("causal float32 (L, L)", nn.Transformer.generate_square_subsequent_mask(L)),
    ("causal (B·N, L, L)", ~_causal(B * N, L, L)), ("bias (B·N, L, L)", _bias(N, L, L).repeat(B, 1, 1)),
]
MHA_REFUSED = [
    ("(N, L, L) for a batch of 2", ~_causal(N, L, L), ("(L, L) = (4, 4) or (batch·heads, L, L) = (4, 4, 4)", "(2, 4, 4)")),
    ("(1, L, L)", ~_causal(1, L, L), ("(batch·heads, L, L)",)),
    ("(B, N, L, L)", ~_causal(B, N, L, L), ("(batch·heads, L, L)",)),
    ("(1, L)", torch.zeros(1, L, dtype=torch.bool), ("(L, L) = (4, 4)", "(1, 4)")),
    ("(L,)", torch.zeros(L, dtype=torch.bool), ("(L, L) = (4, 4)",)),
    ("(L, L + 1)", torch.zeros(L, L + 1, dtype=torch.bool), ("not (4, 5)",)),
    ("int64", torch.zeros(L, L, dtype=torch.int64), ("boolean or floating point",)),
    ("uint8", torch.zeros(L, L, dtype=torch.uint8), ("boolean or floating point",)),
    ("float16", torch.zeros(L, L, dtype=torch.float16), ("float32 or the query's dtype float64",)),
]


@pytest.mark.parametrize("name, mask", MHA_TAKEN, ids=[c[0] for c in MHA_TAKEN])
def test_module_masks_pytorch_takes_are_computed(name, mask):
    m = _module()
    x = torch.randn(B, L, E, dtype=F64)
    want = m(x, x, x, attn_mask=mask, need_weights=False)[0]
    for path in ("auto", "generic"):
        got, _ = at.multihead_attention(m, x, x, x, attn_mask=mask, need_weights=False, path=path)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, mask, words", MHA_REFUSED, ids=[c[0] for c in MHA_REFUSED])
def test_module_masks_pytorch_refuses_are_refused_clearly(name, mask, words):
    m = _module()
    x = torch.randn(B, L, E, dtype=F64)
    with pytest.raises((RuntimeError, AssertionError)):   # PyTorch refuses it
        m(x, x, x, attn_mask=mask, need_weights=False)
    _refused(lambda: at.multihead_attention(m, x, x, x, attn_mask=mask, need_weights=False), "attn_mask", *words)


def test_an_unbatched_module_call_takes_heads_masks_and_refuses_batch_ones():
    m = _module()
    x = torch.randn(L, E, dtype=F64)
    mask = ~_causal(N, L, L)
    want = m(x, x, x, attn_mask=mask, need_weights=False)[0]
    torch.testing.assert_close(at.multihead_attention(m, x, x, x, attn_mask=mask, need_weights=False)[0], want,
                               rtol=1e-12, atol=1e-12)
    with pytest.raises((RuntimeError, AssertionError)):
        m(x, x, x, attn_mask=~_causal(B * N, L, L), need_weights=False)
    _refused(lambda: at.multihead_attention(m, x, x, x, attn_mask=~_causal(B * N, L, L), need_weights=False),
             "(heads, L, L) = (2, 4, 4)")


# ---------------------------------------------------------------- from_torch, widths, dtypes

@pytest.mark.parametrize("causal", ["no", 1, None, torch.tensor(True)])
def test_from_torch_refuses_a_causal_that_is_not_a_bool(causal):
    _refused(lambda: at.from_torch(_module(), causal=causal), "causal must be True or False")


@pytest.mark.parametrize("bias, words", [
    (torch.zeros(3, 5, 5, dtype=F64), ("(heads, L, L) = (2, L, L) or (L, L)", "(3, 5, 5)")),
    (torch.zeros(2, 5, 4, dtype=F64), ("the same L twice", "(2, 5, 4)")),
    (torch.zeros(5, dtype=F64), ("(5,)",)),
    (torch.zeros(2, 5, 5, dtype=torch.int64), ("floating point", "int64")),
    (torch.zeros(2, 5, 5, dtype=torch.float16), ("float32 or the module's dtype float64", "float16")),
    (torch.zeros(2, 5, 5, dtype=torch.bool), ("floating point", "bool")),
    (torch.full((2, 5, 5), float("-inf"), dtype=F64), ("must be finite",)),
    (torch.full((2, 5, 5), float("nan"), dtype=F64), ("must be finite",)),
    ([[0.0]], ("must be a tensor", "list")),
    (torch.zeros(2, 5, 5, dtype=F64, device="meta"), ("bias is on meta",)),
])
def test_from_torch_refuses_a_bad_bias_clearly(bias, words):
    _refused(lambda: at.from_torch(_module(), bias=bias), "bias", *words)


@pytest.mark.parametrize("bias", [torch.randn(2, 5, 5, dtype=F64), torch.randn(5, 5, dtype=F64),
                                  torch.randn(2, 5, 5, dtype=torch.float32)])
def test_from_torch_takes_a_bias_table_pytorch_takes_as_an_attn_mask(bias):
    m = _module()
    x = torch.randn(B, 5, E, dtype=F64)
    mask = bias.repeat(B, 1, 1) if bias.dim() == 3 else bias
    want = m(x, x, x, attn_mask=mask, need_weights=False)[0]
    layer = at.from_torch(m, bias=bias)
    torch.testing.assert_close(layer(x.transpose(1, 2)).transpose(1, 2), want, rtol=1e-12, atol=1e-12)


def test_a_width_other_than_heads_times_head_dim_names_both_sizes():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(B, L, 6, dtype=F64)
    w = [torch.randn(s, generator=gen, dtype=F64) for s in ((4, 6), (4,), (4, 6), (4,), (4, 6), (4,), (6, 4), (6,))]
    sw._sdpa_torch(x, w, N, N, D, None, False, None, 0.0, False)   # PyTorch takes E = 6 with num_heads·d = 4
    msg = _refused(lambda: at.self_attention(x, *w, num_heads=N), "E = 6", "num_heads·d = 2·2 = 4")
    assert "must be equal" in msg
    _refused(lambda: at.self_attention(x, torch.randn(6, 5, dtype=F64), None, *w[2:], num_heads=N),
             "q_weight must have shape (6, 6)", "not (6, 5)")
    x4, w4 = _sdpa_setup()
    _refused(lambda: at.self_attention(x4, *w4[:6], torch.randn(E, E + 1, dtype=F64), w4[7], num_heads=N),
             "out_weight must have shape (4, 4)")
    _refused(lambda: at.self_attention(x4, w4[0], torch.zeros(E + 1, dtype=F64), *w4[2:], num_heads=N),
             "q_bias must have shape (4,)")
    _refused(lambda: at.self_attention(x4, w4[0].float(), *w4[1:], num_heads=N), "q_weight is float32", "x is float64")
    m = _module()
    _refused(lambda: at.multihead_attention(m, x, x, x, need_weights=False), "E = 6 channels", "embed_dim is 4")


@pytest.mark.parametrize("which", ["key", "value", "both"])
def test_a_dtype_mismatch_is_reported_as_one_not_as_cross_attention(which):
    m = _module()
    x = torch.randn(B, L, E, dtype=F64)
    k = x.float() if which in ("key", "both") else x
    v = x.float() if which in ("value", "both") else x
    with pytest.raises(RuntimeError):
        m(x, k, v, need_weights=False)
    msg = _refused(lambda: at.multihead_attention(m, x, k, v, need_weights=False), "dtype or device mismatch",
                   "float64", "float32")
    assert "cross-attention" not in msg
    msg = _refused(lambda: at.multihead_attention(m, x.float(), x.float(), x.float(), need_weights=False),
                   "module's parameters are float64")
    xs, w = _sdpa_setup()
    msg = _refused(lambda: at.self_attention(xs, *w, num_heads=N, kv_input=xs.float()), "dtype or device mismatch")
    assert "cross-attention" not in msg
