"""nn.MultiheadAttention(add_zero_attn=True) through evosym: cross-attention over the keys' tokens and one zero token,
exact where PyTorch's appended zero key and value are the zero token's projections (key and value biases zero and
taking no gradient), refused with the reason everywhere else."""

from __future__ import annotations

import pytest
import torch

from evosym.coverage.attention import multihead_attention

F64 = torch.float64
E, HEADS, L, S, B = 8, 2, 5, 4, 3


def _module(**kw):
    torch.manual_seed(sum(map(ord, repr(sorted(kw.items())))))
    m = torch.nn.MultiheadAttention(E, HEADS, add_zero_attn=True, dtype=F64, **kw).eval()
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name != "in_proj_bias":
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


def test_zero_biases_are_taken_where_no_gradient_reaches_them():
    m = _module()   # bias=True: PyTorch initialises the in-projection bias to zero
    x = torch.randn(L, B, E, dtype=F64)
    with torch.no_grad():
        torch.testing.assert_close(multihead_attention(m, x, x, x, need_weights=False)[0],
                                   m(x, x, x, need_weights=False)[0], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="require a gradient"):
        multihead_attention(m, x, x, x, need_weights=False)
    m.in_proj_bias.requires_grad_(False)
    torch.testing.assert_close(multihead_attention(m, x, x, x, need_weights=False)[0],
                               m(x, x, x, need_weights=False)[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rows", ["key", "value", "both"])
def test_non_zero_key_or_value_biases_are_refused(rows):
    m = _module()
    with torch.no_grad():   # the query bias may be anything; the key's or the value's may not
        m.in_proj_bias[:E] = 1.0
        if rows in ("key", "both"):
            m.in_proj_bias[E + 3] = 0.5
        if rows in ("value", "both"):
            m.in_proj_bias[2 * E] = -0.5
    x = torch.randn(L, B, E, dtype=F64)
    with torch.no_grad(), pytest.raises(ValueError, match="non-zero key or value projection biases"):
        multihead_attention(m, x, x, x, need_weights=False)


def test_is_causal_add_bias_kv_and_training_dropout_are_refused():
    x = torch.randn(L, B, E, dtype=F64)
    causal = torch.ones(L, L, dtype=torch.bool).triu(1)
    with pytest.raises(ValueError, match="is_causal=True is not supported"):
        multihead_attention(_module(bias=False), x, x, x, need_weights=False, attn_mask=causal, is_causal=True)
    with pytest.raises(ValueError, match="add_bias_kv=True is not supported"):
        multihead_attention(_module(bias=False, add_bias_kv=True), x, x, x, need_weights=False)
    with pytest.raises(ValueError, match="dropout 0.2 is active in training mode"):
        multihead_attention(_module(bias=False, dropout=0.2).train(), x, x, x, need_weights=False)


def test_wrong_sizes_are_named_with_the_callers_shapes():
    """Checked before the zero key is appended: the message gives the caller's S, not S + 1."""
    m, x = _module(bias=False), torch.randn(L, B, E, dtype=F64)
    cases = (({"attn_mask": torch.zeros(L, L + 1, dtype=F64)}, r"attn_mask must have shape \(5, 5\) or \(6, 5, 5\) .* not \(5, 6\)"),
             ({"attn_mask": torch.zeros(7, L, L, dtype=F64)}, r"not \(7, 5, 5\)"),
             ({"key_padding_mask": torch.zeros(B + 1, L, dtype=torch.bool)}, r"key_padding_mask must have shape \(3, 5\) .* not \(4, 5\)"),
             ({"key_padding_mask": torch.zeros(L, dtype=torch.bool)}, r"not \(5,\)"),
             ({"is_causal": 1}, "is_causal must be True or False, not 1"))
    for args, match in cases:
        with pytest.raises(ValueError, match=match):
            multihead_attention(m, x, x, x, need_weights=False, **args)
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
