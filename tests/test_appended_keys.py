"""nn.MultiheadAttention(add_bias_kv=True) and (add_zero_attn=True) through evosym: cross-attention over the keys'
tokens and one more token per appended key, each with an indicator channel whose key and value weights are
bias_k − b_K and bias_v − b_V (the zero key: −b_K and −b_V). Values and the gradients of the inputs and of every
parameter (bias_k, bias_v and the in-projection bias too) equal PyTorch's, with any biases and with is_causal (the
causal mask over the appended keys too, or the attn_mask padded beside a key_padding_mask); refused with the reason
for non-finite bias_k/bias_v, training-mode dropout and an is_causal hint that attn_mask is not causal."""

from __future__ import annotations

import pytest
import torch

from evosym.coverage.attention import multihead_attention

F64 = torch.float64
E, HEADS, L, S, B = 8, 2, 5, 4, 3


def _module(biases=False, **kw):
    """add_zero_attn unless told otherwise; every parameter random, the in-projection bias too with ``biases``."""
    kw = {"add_zero_attn": True, **kw}
    torch.manual_seed(sum(map(ord, repr(sorted(kw.items())))))
    m = torch.nn.MultiheadAttention(E, HEADS, dtype=F64, **kw).eval()
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name != "in_proj_bias" or biases:
                p.normal_(0, 0.4)
    return m


def _compare(m, q, k, v, **args):
    leaves = [t for t in {id(t): t for t in (q, k, v)}.values()] + list(m.parameters())
    ref = m(q, k, v, need_weights=False, **args)[0]
    up = torch.linspace(-1, 1, ref.numel(), dtype=F64).view(ref.shape)
    want = torch.autograd.grad(ref, leaves, up)
    for path in ("auto", "generic"):
        got = multihead_attention(m, q, k, v, need_weights=False, path=path, **args)[0]
        torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
        for a, b in zip(torch.autograd.grad(got, leaves, up), want):
            torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("mask", ["none", "bool", "float", "float -inf", "3-D per head"])
def test_self_attention_equals_pytorch_with_every_mask(batch_first, mask):
    m = _module(bias=False, batch_first=batch_first)
    x = torch.randn((B, L, E) if batch_first else (L, B, E), dtype=F64, requires_grad=True)
    g = torch.Generator().manual_seed(1)
    masks = {"none": None, "bool": torch.ones(L, L, dtype=torch.bool).triu(1),
             "float": torch.randn(L, L, generator=g, dtype=F64),
             "float -inf": torch.randn(L, L, generator=g, dtype=F64).masked_fill(torch.ones(L, L).triu(1) > 0, -torch.inf),
             "3-D per head": torch.rand(B * HEADS, L, L, generator=g) > 0.6}
    kpm = torch.zeros(B, L, dtype=torch.bool)
    kpm[0, -1] = kpm[2, 0] = True
    _compare(m, x, x, x, attn_mask=masks[mask])
    _compare(m, x, x, x, attn_mask=masks[mask], key_padding_mask=kpm)


def test_cross_attention_unbatched_and_a_sample_whose_keys_are_all_hidden():
    """kdim/vdim and unbatched calls; a key_padding_mask hiding every token key of a sample leaves it the zero key
    (its weight 1, output the output bias), which PyTorch computes too."""
    m = _module(bias=False, kdim=3, vdim=5)
    q = torch.randn(L, B, E, dtype=F64, requires_grad=True)
    k, v = torch.randn(S, B, 3, dtype=F64, requires_grad=True), torch.randn(S, B, 5, dtype=F64, requires_grad=True)
    kpm = torch.zeros(B, S, dtype=torch.bool)
    kpm[1] = True
    _compare(m, q, k, v, key_padding_mask=kpm, attn_mask=torch.randn(L, S, dtype=F64))
    u = _module(bias=False)
    x = torch.randn(L, E, dtype=F64, requires_grad=True)
    _compare(u, x, x, x, attn_mask=torch.ones(L, L, dtype=torch.bool).tril().logical_not())


APPENDED = [{"add_zero_attn": True}, {"add_bias_kv": True, "add_zero_attn": False},
            {"add_bias_kv": True, "add_zero_attn": True}]


@pytest.mark.parametrize("flags", APPENDED, ids=["zero", "bias_kv", "both"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_any_biases_with_every_mask(flags, batch_first):
    """Non-zero in-projection biases, bias_k and bias_v: values and every gradient (b_K's reaches the appended keys
    through their weight columns and the bias, which cancel) equal PyTorch's."""
    m = _module(biases=True, batch_first=batch_first, **flags)
    x = torch.randn((B, L, E) if batch_first else (L, B, E), dtype=F64, requires_grad=True)
    g = torch.Generator().manual_seed(2)
    kpm = torch.zeros(B, L, dtype=torch.bool)
    kpm[1, :2] = True
    for mask in (None, torch.randn(L, L, generator=g, dtype=F64), torch.rand(B * HEADS, L, L, generator=g) > 0.6):
        _compare(m, x, x, x, attn_mask=mask)
        _compare(m, x, x, x, attn_mask=mask, key_padding_mask=kpm)


@pytest.mark.parametrize("flags", APPENDED, ids=["zero", "bias_kv", "both"])
def test_cross_attention_kdim_vdim_unbatched_and_bias_false(flags):
    m = _module(biases=True, kdim=3, vdim=5, **flags)
    q = torch.randn(L, B, E, dtype=F64, requires_grad=True)
    k, v = torch.randn(S, B, 3, dtype=F64, requires_grad=True), torch.randn(S, B, 5, dtype=F64, requires_grad=True)
    kpm = torch.zeros(B, S, dtype=torch.bool)
    kpm[1] = True   # every token key of sample 1 hidden: the appended keys alone remain, as in PyTorch
    _compare(m, q, k, v, key_padding_mask=kpm, attn_mask=torch.randn(L, S, dtype=F64))
    u = _module(biases=True, **flags)
    x = torch.randn(L, E, dtype=F64, requires_grad=True)
    _compare(u, x, x, x, attn_mask=torch.ones(L, L, dtype=torch.bool).tril().logical_not())
    _compare(_module(bias=False, **flags), x, x, x)


def test_under_no_grad_and_with_frozen_biases():
    m = _module(biases=True, add_bias_kv=True)
    x = torch.randn(L, B, E, dtype=F64)
    with torch.no_grad():
        torch.testing.assert_close(multihead_attention(m, x, x, x, need_weights=False)[0],
                                   m(x, x, x, need_weights=False)[0], rtol=1e-12, atol=1e-12)
    m.in_proj_bias.requires_grad_(False)
    m.bias_k.requires_grad_(False)
    torch.testing.assert_close(multihead_attention(m, x, x, x, need_weights=False)[0],
                               m(x, x, x, need_weights=False)[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("flags", APPENDED, ids=["zero", "bias_kv", "both"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_is_causal_is_the_mask_pytorch_applies(flags, batch_first):
    """Without a key_padding_mask PyTorch applies SDPA's causal mask over the keys and the appended ones (query i
    sees keys 0 … i: a self-attention's queries never see the appended keys, a cross-attention's later queries do);
    with one, attn_mask padded with visible appended keys. Values and every gradient equal PyTorch's; the attn_mask
    (bool or float, 2-D or per head) must be causal, as without appended keys."""
    m = _module(biases=True, batch_first=batch_first, **flags)

    def tokens(n, width=E, batch=B):
        shape = (n, width) if batch is None else (batch, n, width) if batch_first else (n, batch, width)
        return torch.randn(shape, dtype=F64, requires_grad=True)
    hidden = torch.ones(L, L, dtype=torch.bool).triu(1)
    kpm = torch.zeros(B, L, dtype=torch.bool)
    kpm[1, -2:] = True
    for mask in (hidden, torch.zeros(L, L, dtype=F64).masked_fill(hidden, -torch.inf), hidden.repeat(B * HEADS, 1, 1)):
        x = tokens(L)
        _compare(m, x, x, x, attn_mask=mask, is_causal=True)
        _compare(m, x, x, x, attn_mask=mask, is_causal=True, key_padding_mask=kpm)
    x = tokens(L, batch=None)
    _compare(m, x, x, x, attn_mask=hidden, is_causal=True)
    for queries, keys in ((L, S), (S + 3, 2), (3, 1)):   # cross-attention: upper-left causal, L × S (S = 1: all seen)
        q, k, v = tokens(queries), tokens(keys), tokens(keys)
        _compare(m, q, k, v, attn_mask=torch.ones(queries, keys, dtype=torch.bool).triu(1), is_causal=True)
    x = tokens(L)
    with pytest.raises(ValueError, match="is_causal=True is a hint that attn_mask is the causal mask, and it is not"):
        multihead_attention(m, x, x, x, need_weights=False, attn_mask=hidden.roll(1, 0), is_causal=True)
    with pytest.raises(ValueError, match="is_causal=True without attn_mask"):
        multihead_attention(m, x, x, x, need_weights=False, is_causal=True)
    grad = torch.zeros(L, L, dtype=F64).masked_fill(hidden, -torch.inf).requires_grad_()
    with pytest.raises(ValueError, match="a float attn_mask that requires grad is an additive bias here"):
        multihead_attention(m, x, x, x, need_weights=False, attn_mask=grad, is_causal=True)
    with pytest.raises(ValueError, match=r"not \(5, 4\) \(PyTorch ignores attn_mask beside is_causal=True"):
        multihead_attention(m, x, x, x, need_weights=False, attn_mask=hidden[:, :4], is_causal=True)
    with pytest.raises(ValueError, match="length must be an int ≥ 1, not 0"):   # (was a raw RuntimeError)
        multihead_attention(m, tokens(0), tokens(3), tokens(3), need_weights=False,
                            attn_mask=torch.ones(0, 3, dtype=torch.bool), is_causal=True)
    q, k = tokens(L), tokens(0)   # S = 0: the appended keys alone, the first of them seen by every query
    _compare(m, q, k, k, attn_mask=torch.ones(L, 0, dtype=torch.bool), is_causal=True)
    _compare(m, q, k, k, attn_mask=torch.ones(L, 0, dtype=torch.bool), is_causal=True,
             key_padding_mask=torch.zeros(B, 0, dtype=torch.bool))


@pytest.mark.parametrize("flags", APPENDED, ids=["zero", "bias_kv", "both"])
def test_non_finite_biases_and_training_dropout_are_refused(flags):
    x = torch.randn(L, B, E, dtype=F64)
    with pytest.raises(ValueError, match="dropout 0.2 is active in training mode"):
        multihead_attention(_module(dropout=0.2, **flags).train(), x, x, x, need_weights=False)
    if flags.get("add_bias_kv"):
        for name, bad in (("bias_k", torch.inf), ("bias_v", torch.nan)):
            m = _module(**flags)
            with torch.no_grad():
                getattr(m, name)[0, 0, 1] = bad
            with pytest.raises(ValueError, match=f"{name} − b_{name[-1].upper()}.* must be finite"):
                multihead_attention(m, x, x, x, need_weights=False)


def test_wrong_sizes_are_named_with_the_callers_shapes():
    """Checked before a key is appended: the message gives the caller's S, not S + 1."""
    m, x = _module(bias=False), torch.randn(L, B, E, dtype=F64)
    cases = (({"attn_mask": torch.zeros(L, L + 1, dtype=F64)}, r"attn_mask must have shape \(5, 5\) or \(6, 5, 5\) .* not \(5, 6\)"),
             ({"attn_mask": torch.zeros(7, L, L, dtype=F64)}, r"not \(7, 5, 5\)"),
             ({"key_padding_mask": torch.zeros(B + 1, L, dtype=torch.bool)}, r"key_padding_mask must have shape \(3, 5\) .* not \(4, 5\)"),
             ({"key_padding_mask": torch.zeros(L, dtype=torch.bool)}, r"not \(5,\)"),
             ({"is_causal": 1}, "is_causal must be True or False, not 1"))
    for args, match in cases:
        with pytest.raises(ValueError, match=match):
            multihead_attention(m, x, x, x, need_weights=False, **args)
    for flags in APPENDED:   # the caller's channels against kdim / vdim, before the indicator channels are added
        c = _module(bias=False, kdim=3, vdim=5, **flags)
        with pytest.raises(ValueError, match="key has 4 channels .* kdim is 3"):
            multihead_attention(c, x, torch.randn(S, B, 4, dtype=F64), torch.randn(S, B, 5, dtype=F64), need_weights=False)
        with pytest.raises(ValueError, match="value has 6 channels .* vdim is 5"):
            multihead_attention(c, x, torch.randn(S, B, 3, dtype=F64), torch.randn(S, B, 6, dtype=F64), need_weights=False)
    c = _module(bias=False, kdim=3, vdim=5)
    with pytest.raises(ValueError, match=r"one sequence length S, not \[3, 4\]"):
        multihead_attention(c, x, torch.randn(S, B, 3, dtype=F64), torch.randn(S - 1, B, 5, dtype=F64), need_weights=False)
    u = torch.randn(L, E, dtype=F64)   # unbatched: (L, S) or (heads, L, S)
    torch.testing.assert_close(multihead_attention(m, u, u, u, need_weights=False, attn_mask=torch.zeros(HEADS, L, L, dtype=F64))[0],
                               m(u, u, u, need_weights=False, attn_mask=torch.zeros(HEADS, L, L, dtype=F64))[0], rtol=1e-12, atol=1e-12)


def test_nested_and_sparse_inputs_are_refused_clearly():
    m = _module(bias=False)
    nested = torch.nested.nested_tensor([torch.randn(3, E, dtype=F64), torch.randn(4, E, dtype=F64)])
    with pytest.raises(ValueError, match="query must be a dense tensor, not a nested one"):
        multihead_attention(m, nested, nested, nested, need_weights=False)
    x = torch.randn(L, B, E, dtype=F64)
    with pytest.raises(ValueError, match="key must be a dense tensor"):
        multihead_attention(m, x, x.to_sparse(), x, need_weights=False)


@pytest.mark.parametrize("flags", APPENDED, ids=["zero", "bias_kv", "both"])
def test_no_keys_of_the_input_attends_to_the_appended_ones(flags):
    """S = 0: PyTorch attends to the appended keys alone (add_bias_kv: out_proj(bias_v)); so does evosym."""
    m = _module(biases=True, **flags)
    q = torch.randn(L, B, E, dtype=F64, requires_grad=True)
    empty = torch.zeros(0, B, E, dtype=F64, requires_grad=True)
    _compare(m, q, empty, empty)
    _compare(m, q, empty, empty, key_padding_mask=torch.zeros(B, 0, dtype=torch.bool))


def test_non_finite_indicator_columns_are_refused():
    """bias_k − b_K overflowing (both finite) and an infinite in-projection bias: every other token would multiply
    the column by 0 (NaN), so refused with the reason; bias_v − b_V likewise."""
    x = torch.randn(L, B, E, dtype=F64)
    for setup, name in ((lambda m: (m.bias_k.fill_(1e308), m.in_proj_bias[E:2 * E].fill_(-1e308)), "keys"),
                        (lambda m: m.in_proj_bias.__setitem__(2 * E + 1, torch.inf), "values"),
                        (lambda m: m.bias_v.__setitem__((0, 0, 2), torch.nan), "values")):
        for flags in APPENDED[1:]:
            m = _module(biases=True, **flags)
            with torch.no_grad():
                setup(m)
            with pytest.raises(ValueError, match=f"appended {name}' indicator columns .* must be finite"):
                multihead_attention(m, x, x, x, need_weights=False)
    m = _module(biases=True)   # add_zero_attn alone: its column is −b_K
    with torch.no_grad():
        m.in_proj_bias[E] = -torch.inf
    with pytest.raises(ValueError, match="appended keys' indicator columns"):
        multihead_attention(m, x, x, x, need_weights=False)
