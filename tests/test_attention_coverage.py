"""PyTorch's attention (F.scaled_dot_product_attention between projections, nn.MultiheadAttention) against
evosym's generated modules: the sweep, the routing, the refusals, the table of docs/attention-coverage.md.

- every call of the sweep either equals PyTorch on both paths of the generated module (float64, within a
  rounding bound) or is refused with a ValueError with a message; never a wrong number, never a result
  where PyTorch refuses; the sweep reaches all four operators and catches a module that drops the mask;
- the boolean mask conventions are not mixed up (SDPA: True = allowed; nn.MultiheadAttention: True = masked);
- from_torch takes nn.MultiheadAttention with batch_first either way and bias=False, refuses what it cannot
  represent with the argument's name in the message;
- a wrong grouped-query head mapping (repeat instead of repeat_interleave) fails its proof;
- the page docs/attention-coverage.md is the one these tests compute (``EVOSYM_UPDATE_GOLDEN=1`` rewrites it).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest
import sympy as sp
import torch
import torch.nn.functional as F
from torch import nn

from evosym import Derivation
from evosym.coverage import attention as at
from evosym.coverage import attention_sweep as sw

DOC = Path(__file__).resolve().parent.parent / "docs" / "attention-coverage.md"
F64 = torch.float64


@pytest.fixture(scope="module")
def tallies():
    return {f: sw.sweep(f) for f in at.FUNCTIONS}


@pytest.mark.parametrize("function", at.FUNCTIONS)
def test_sweep_no_wrong_result(tallies, function):
    t = tallies[function]
    print(f"{function}: tried {t['tried']}, matched {t['matched']}, refused {t['refused']} "
          f"({t['torch refused']} refused by PyTorch too), operators {t['operators']}")
    assert not t["failures"], "\n".join(t["failures"][:20])
    assert t["tried"] == t["matched"] + t["refused"] and t["matched"] > 0
    assert all(msg.strip() for msg in t["reasons"])


def test_sweep_reaches_every_operator(tallies):
    """A sweep that routes nothing to an operator would not test it."""
    assert set(tallies[at.FUNCTIONS[0]]["operators"]) == {"mhsa", "mhsa_causal", "mhsa_bias", "gqa_attention",
                                                          "gqa_causal", "cross_attention", "mhsa_sample_bias",
                                                          "mhsa_key_padding", "cross_attention_key_padding",
                                                          "mhsa_causal_key_padding", "mhsa_masked",
                                                          "mhsa_masked_bias", "cross_attention_masked",
                                                          "cross_attention_masked_bias", "gqa_masked",
                                                          "gqa_masked_bias", "gqa_cross_attention",
                                                          "gqa_cross_attention_masked",
                                                          "gqa_cross_attention_masked_bias"}
    assert set(tallies[at.FUNCTIONS[1]]["operators"]) == {"mhsa", "mhsa_causal", "mhsa_bias", "cross_attention",
                                                          "mhsa_sample_bias", "mhsa_key_padding",
                                                          "cross_attention_key_padding", "mhsa_causal_key_padding",
                                                          "mhsa_masked", "mhsa_masked_bias", "cross_attention_masked",
                                                          "cross_attention_masked_bias"}


def test_sweep_catches_a_module_that_drops_the_mask(monkeypatch):
    """The comparison is live: computing the causal calls with the unmasked operator is reported."""
    real = at._run

    def unmasked(r, x, weights, path, kv=None):
        if r.operator == "mhsa_causal":
            r = at.Route("mhsa", r.sizes, r.query_factor)
        return real(r, x, weights, path, kv)
    monkeypatch.setattr(at, "_run", unmasked)
    out, gen = sw._tally(), torch.Generator().manual_seed(0)
    for case in sw.sdpa_combinations():
        if case[:3] == (2, 2, False) and case[3] in ("none", "causal bool"):   # a few calls, causal and not
            sw._sdpa_case(out, gen, case)
    assert out["matched"] > 0 and any("wrong result" in f for f in out["failures"])
    assert all("is_causal=True" in f or "attn_mask=causal" in f for f in out["failures"])


def test_sweep_catches_a_cross_attention_that_reads_the_wrong_input(monkeypatch):
    """The cross-attention calls are compared too: keys and values read from x instead of the second input (its
    first tokens, where it is at least as wide) are reported as wrong results."""
    real = at._run

    def from_x(r, x, weights, path, kv=None):
        if r.operator == "cross_attention":
            kv = kv.clone()
            kv[..., :x.shape[-2], :] = x[..., :kv.shape[-1]]
        return real(r, x, weights, path, kv)
    monkeypatch.setattr(at, "_run", from_x)
    out, gen = sw._tally(), torch.Generator().manual_seed(0)
    for case in sw.sdpa_combinations():
        if case[:3] == (2, 2, False) and case[8]:
            sw._sdpa_case(out, gen, case)
    assert any("cross=True" in f and "wrong result" in f for f in out["failures"])


def test_docs_table_is_current(tallies):
    fresh = sw.markdown(tallies)
    if os.environ.get("EVOSYM_UPDATE_GOLDEN") == "1":
        DOC.write_text(fresh, encoding="utf-8")
    assert DOC.read_text(encoding="utf-8") == fresh, f"{DOC} is stale: rerun with EVOSYM_UPDATE_GOLDEN=1 and review"


# ---------------------------------------------------------------- masks and routes

def test_boolean_mask_conventions_are_not_mixed_up():
    L = 4
    allowed = torch.ones(L, L, dtype=torch.bool).tril()
    assert at.mask_kind(allowed, L, true_masks=False) == "causal"          # SDPA: True = attend
    assert at.mask_kind(~allowed, L, true_masks=True) == "causal"          # nn.MultiheadAttention: True = masked
    with pytest.raises(ValueError, match="masks every key of query row 3"):
        at.mask_kind(allowed, L, true_masks=True)                          # read the wrong way: the last row sees nothing
    float_causal = nn.Transformer.generate_square_subsequent_mask(L, dtype=F64)
    assert at.mask_kind(float_causal, L, true_masks=True) == at.mask_kind(float_causal, L, true_masks=False) == "causal"
    assert at.mask_kind(torch.zeros(L, L, dtype=F64), L, true_masks=False) == "none"


def test_mask_kinds_name_what_the_mask_does_to_the_logits():
    """Every mask with a softmax has a kind (what masked_bias_tables turns into inputs), square or not."""
    inf = float("-inf")
    hard_and_bias = torch.zeros(3, 3, dtype=F64).fill_diagonal_(inf) + 0.5
    assert at.mask_kind(hard_and_bias, 3, true_masks=False) == "masked_bias"
    assert at.mask_kind(torch.zeros(3, 3, dtype=F64).fill_diagonal_(inf).requires_grad_(), 3,
                        true_masks=False) == "masked_bias"          # 0/−inf differentiated: a bias too
    assert at.mask_kind(torch.eye(3, dtype=torch.bool), 3, true_masks=False) == "pattern"
    assert at.mask_kind(torch.full((3, 3), 0.25, dtype=F64), 3, true_masks=False) == "bias"
    assert at.mask_kind(torch.zeros(3, 3, dtype=F64, requires_grad=True), 3, true_masks=False) == "bias"
    upper_left = torch.ones(2, 5, dtype=torch.bool).tril()           # cross-attention: L = 2 queries, S = 5 keys
    assert at.mask_kind(upper_left, 2, true_masks=False, keys=5) == "causal"
    assert at.mask_kind(~upper_left, 2, true_masks=True, keys=5) == "causal"
    assert at.mask_kind(torch.ones(2, 5, dtype=torch.bool), 2, true_masks=False, keys=5) == "none"
    assert at.mask_kind(torch.eye(2, 5, dtype=torch.bool) | upper_left.flip(-1), 2, true_masks=False,
                        keys=5) == "pattern"


@pytest.mark.parametrize("mask, keys, needle", [
    (torch.ones(2, 2, dtype=torch.bool), None, "must end in (3, 3)"),
    (torch.ones(3, 3, dtype=torch.bool), 4, "must end in (3, 4)"),
    (torch.ones(3, 3, dtype=torch.int64), None, "boolean or floating point"),
    (torch.zeros(3, 3, dtype=F64).fill_diagonal_(float("nan")), None, "NaN or +inf"),
    (torch.zeros(3, 4, dtype=torch.bool), 4, "masks every key of query row 0"),
    (torch.zeros(3, 4, dtype=F64).index_fill_(0, torch.tensor([2]), float("-inf")) + torch.eye(3, 4, dtype=F64), 4,
     "masks every key of query row 2"),
])
def test_other_masks_are_refused_with_the_reason(mask, keys, needle):
    with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        at.mask_kind(mask, 3, true_masks=False, keys=keys)


def test_a_fully_masked_row_is_refused_and_pytorch_gives_no_softmax_there():
    """PyTorch's answer for a fully masked row is not a softmax (zeros in 2.13, NaN before): evosym refuses."""
    q = torch.randn(1, 1, 3, 2, dtype=F64)
    mask = torch.ones(3, 3, dtype=torch.bool).tril()
    mask[1] = False
    row = torch.nn.functional.scaled_dot_product_attention(q, q, q, attn_mask=mask)[0, 0, 1]
    assert bool((row == 0).all()) or bool(row.isnan().all())
    with pytest.raises(ValueError, match="0/0"):
        at.mask_kind(mask, 3, true_masks=False)


@pytest.mark.parametrize("kw, needle", [
    (dict(dropout_p=0.1), "dropout_p=0.1 is not supported"),
    (dict(is_causal=True, mask="causal"), "documents the pair as an error"),
    (dict(mask="Causal"), "mask must be 'none', 'causal', 'bias', 'pattern' or 'masked_bias'"),
    (dict(mask=None), "mask must be 'none', 'causal', 'bias', 'pattern' or 'masked_bias'"),
    (dict(mask="masked_bias"), "needs the bias and the keys each query sees"),
    (dict(kv_heads=1), "need enable_gqa=True"),
    (dict(heads=3, kv_heads=2, enable_gqa=True), "multiple of the key/value heads"),
    (dict(scale=float("nan")), "scale must be a finite number"),
    (dict(is_causal=1), "is_causal must be True or False"),
])
def test_route_refusals_name_the_argument(kw, needle):
    args = dict(heads=2, kv_heads=2, head_dim=2, length=4)
    args.update(kw)
    with pytest.raises(ValueError, match=needle):
        at.route(**args)


def test_scale_is_the_query_projection_scaled():
    r = at.route(heads=2, kv_heads=2, head_dim=4, length=3, scale=0.25)
    assert r.operator == "mhsa" and r.query_factor == pytest.approx(0.5)


# ---------------------------------------------------------------- from_torch of nn.MultiheadAttention

@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("causal", [False, True])
def test_from_torch_equals_the_module(batch_first, bias, causal):
    torch.manual_seed(3)
    m = nn.MultiheadAttention(6, 3, batch_first=batch_first, bias=bias, dtype=F64).eval()
    layer = at.from_torch(m, causal=causal)
    x = torch.randn(2, 6, 5, dtype=F64)                                   # the generated modules' (B, C, L) tokens
    tokens = x.transpose(1, 2) if batch_first else x.permute(2, 0, 1)
    mask = nn.Transformer.generate_square_subsequent_mask(5, dtype=F64) if causal else None
    out = m(tokens, tokens, tokens, need_weights=False, attn_mask=mask, is_causal=causal)[0]
    want = out.transpose(1, 2) if batch_first else out.permute(1, 2, 0)
    for path in ("auto", "generic"):
        got = layer(x, path=path) if causal else layer(x.unsqueeze(2), path=path).squeeze(2)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("make, words", [
    (lambda: nn.MultiheadAttention(6, 2, kdim=4, vdim=4), "kdim and vdim equal embed_dim"),
    (lambda: nn.MultiheadAttention(6, 2, add_bias_kv=True), "add_bias_kv=False"),
    (lambda: nn.MultiheadAttention(6, 2, add_zero_attn=True), "add_zero_attn=False"),
    (lambda: nn.MultiheadAttention(6, 2, dropout=0.1), "dropout 0.1 is active in training mode"),
    (lambda: nn.Linear(6, 6), "expected a torch.nn.MultiheadAttention"),
])
def test_from_torch_refusals_name_the_argument(causal, make, words):
    with pytest.raises(ValueError, match=words):
        at.from_torch(make(), causal=causal)


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("kdim, vdim", [(None, None), (3, 3), (3, 5)])
def test_cross_attention_through_multihead_attention_equals_the_module(batch_first, kdim, vdim):
    torch.manual_seed(5)
    m = nn.MultiheadAttention(4, 2, kdim=kdim, vdim=vdim, batch_first=batch_first, dtype=F64).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, dtype=F64))

    def seq(length, width):
        return torch.randn((2, length, width) if batch_first else (length, 2, width), dtype=F64)
    x, k, v = seq(3, 4), seq(6, kdim or 4), seq(6, vdim or 4)
    want = m(x, k, v, need_weights=False)[0]
    for path in ("auto", "generic"):
        y, w = at.multihead_attention(m, x, k, v, need_weights=False, path=path)
        assert w is None
        torch.testing.assert_close(y, want, rtol=1e-12, atol=1e-12)
    assert at.mha_route(m, x, k, v, need_weights=False).operator == "cross_attention"


def test_cross_attention_through_sdpa_equals_sdpa_between_projections():
    torch.manual_seed(6)
    x, y = torch.randn(2, 3, 4, dtype=F64), torch.randn(2, 7, 5, dtype=F64)
    wq, wk, wv, wo = torch.randn(4, 4, dtype=F64), torch.randn(4, 5, dtype=F64), torch.randn(4, 5, dtype=F64), \
        torch.randn(4, 4, dtype=F64)
    bq, bk, bv, bo = (torch.randn(4, dtype=F64) for _ in range(4))

    def heads(t):
        return t.unflatten(-1, (2, 2)).transpose(1, 2)
    z = F.scaled_dot_product_attention(heads(F.linear(x, wq, bq)), heads(F.linear(y, wk, bk)), heads(F.linear(y, wv, bv)),
                                       scale=0.3)
    want = F.linear(z.transpose(1, 2).flatten(2), wo, bo)
    for path in ("auto", "generic"):
        got = at.self_attention(x, wq, bq, wk, bk, wv, bv, wo, bo, num_heads=2, kv_input=y, scale=0.3, path=path)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(3, 5), (1, 5), (1, 1, 5), (4, 1, 5), (4, 3, 5)])
@pytest.mark.parametrize("float_mask", [False, True], ids=["bool", "minus-inf"])
def test_unbatched_grouped_cross_attention_takes_every_mask_shape(shape, float_mask):
    """An unbatched grouped cross-attention (enable_gqa, keys from a second input) with a mask hiding the same keys
    from every query (read as the keys each sample sees) or a pattern: its tables took an unbatched (S,) as (B, S)
    (an IndexError); equal to SDPA, both paths, the batched call too."""
    torch.manual_seed(7)
    allowed = torch.tensor([True, False, True, True, False]).expand(shape).clone()
    if shape[-2] == 3:
        allowed[..., 1, 0] = False   # a pattern (query 1 hides key 0 too)
    mask = allowed if not float_mask else torch.zeros(shape, dtype=F64).masked_fill(~allowed, -torch.inf)
    x, kv = torch.randn(3, 4, dtype=F64), torch.randn(5, 6, dtype=F64)
    wq, wo, wk, wv = torch.randn(4, 4, dtype=F64), torch.randn(4, 4, dtype=F64), torch.randn(2, 6, dtype=F64), \
        torch.randn(2, 6, dtype=F64)

    def heads(t, n):
        return t.unflatten(-1, (n, 1)).transpose(-3, -2)
    for batch in ((), (2,)):
        xb, kvb = x.expand(batch + x.shape), kv.expand(batch + kv.shape)
        z = F.scaled_dot_product_attention(heads(F.linear(xb, wq), 4), heads(F.linear(kvb, wk), 2),
                                           heads(F.linear(kvb, wv), 2), attn_mask=mask, enable_gqa=True)
        want = F.linear(z.transpose(-3, -2).flatten(-2), wo)
        for path in ("auto", "generic"):
            got = at.self_attention(xb, wq, None, wk, None, wv, None, wo, None, num_heads=4, attn_mask=mask,
                                    enable_gqa=True, kv_input=kvb, path=path)
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_what_cross_attention_and_key_padding_mask_refuse_is_said():
    m = nn.MultiheadAttention(4, 2, batch_first=True, dtype=F64).eval()
    x, y = torch.randn(2, 3, 4, dtype=F64), torch.randn(2, 5, 4, dtype=F64)
    with pytest.raises(ValueError, match="key_padding_mask hides every key of sample 1"):
        at.multihead_attention(m, x, x, x, key_padding_mask=torch.tensor([[False, True, True], [True, True, True]]),
                               need_weights=False)
    with pytest.raises(ValueError, match=r"key_padding_mask hides every key of the \(unbatched\) input"):
        at.multihead_attention(m, x[0], x[0], x[0], key_padding_mask=torch.ones(3, dtype=torch.bool), need_weights=False)
    with pytest.raises(ValueError, match="need_weights=True is not supported"):
        at.multihead_attention(m, x, y, y)
    with pytest.raises(ValueError, match="masks every key of query row 1"):
        at.multihead_attention(m, x, y, y, attn_mask=torch.eye(3, 5, dtype=torch.bool).logical_not_().index_fill_(
            0, torch.tensor([1]), True), need_weights=False)
    with pytest.raises(ValueError, match=r"attn_mask must have shape \(L, S\) = \(3, 5\)"):
        at.multihead_attention(m, x, y, y, attn_mask=torch.zeros(3, 3, dtype=torch.bool), need_weights=False)
    with pytest.raises(ValueError, match="key and value must have one sequence length"):
        at.multihead_attention(m, x, y, y[:, :4], need_weights=False)
    with pytest.raises(ValueError, match="key has 3 channels .* kdim is 4"):
        at.multihead_attention(m, x, y[..., :3], y, need_weights=False)
    allowed = at.multihead_attention(m, x, y, y, attn_mask=torch.zeros(3, 5, dtype=torch.bool), need_weights=False)[0]
    torch.testing.assert_close(allowed, m(x, y, y, need_weights=False)[0], rtol=1e-12, atol=1e-12)
    w = [torch.eye(4, dtype=F64), None] * 4
    for inert in (torch.ones(3, 5, dtype=torch.bool), torch.zeros(2, 1, 3, 5, dtype=F64)):   # changes nothing: taken,
        torch.testing.assert_close(                                                          # as with self-attention
            at.self_attention(x, *w, num_heads=2, kv_input=y, is_causal=True, attn_mask=inert),
            at.self_attention(x, *w, num_heads=2, kv_input=y, is_causal=True), rtol=0, atol=0)
    for mask in (torch.ones(3, 5, dtype=torch.bool).tril(), torch.full((3, 5), 0.5, dtype=F64),
                 torch.zeros(3, 5, dtype=F64, requires_grad=True)):   # anything else beside is_causal: refused
        with pytest.raises(ValueError, match="documents the pair as an error"):
            at.self_attention(x, *w, num_heads=2, kv_input=y, is_causal=True, attn_mask=mask)
    with pytest.raises(ValueError, match="kv_input must be a \\(B, S, E_kv\\) tensor"):
        at.self_attention(x, *w, num_heads=2, kv_input=y[0])


# ---------------------------------------------------------------- the proofs

def test_a_wrong_grouped_query_head_mapping_fails_its_proof(monkeypatch):
    """Query head h reads key/value head ⌊h/G⌋ (repeat_interleave); h mod N_kv (repeat) is refuted by the
    reference check against SDPA's enable_gqa."""
    from evosym.derivations import _sequence_attention as S
    import evosym.derivations.gqa_attention as g
    monkeypatch.setattr(S, "kv_head", lambda hq, G, Nkv: sp.Mod(hq, Nkv))
    wrong = importlib.reload(g)
    try:
        d = Derivation(wrong.OPERATOR)
        S.derive(d, wrong.A)
        cp = d.proof().check()
        assert not cp.ok and any("reference" in f for f in cp.failures())
    finally:
        monkeypatch.undo()
        importlib.reload(g)


def test_the_causal_operators_are_proved_causal():
    """Ω(i) = {m ≤ i} as a window ending at i: the causal property is derived symbolically (reach 0), and the
    unmasked sequence attention is not (only for L = 1)."""
    from evosym import catalogue
    from evosym.analysis.properties import analyse
    for name, want in (("mhsa_causal", "yes"), ("gqa_causal", "yes")):
        cp = catalogue.checked(name)
        assert cp.ok, cp.failures()
        assert analyse(cp).get("causal") == want
    assert analyse(catalogue.checked("gqa_attention")).get("causal") != "yes"   # causal only when L = 1


def test_a_float_attn_mask_is_mhsa_bias_and_a_per_sample_one_is_mhsa_sample_bias():
    torch.manual_seed(5)
    m = nn.MultiheadAttention(4, 2, batch_first=True, dtype=F64).eval()
    with torch.no_grad():
        m.in_proj_bias.normal_()
    x = torch.randn(3, 5, 4, dtype=F64)
    bias = torch.randn(2, 5, 5, dtype=F64)
    mask = bias.repeat(3, 1, 1)                                            # (B·N, L, L), equal across the batch
    for expected in ("mhsa_bias", "mhsa_sample_bias"):
        want = m(x, x, x, attn_mask=mask, need_weights=False)[0]
        assert at.mha_route(m, x, x, x, need_weights=False, attn_mask=mask).operator == expected
        for path in ("auto", "generic"):
            got, weights = at.multihead_attention(m, x, x, x, attn_mask=mask, need_weights=False, path=path)
            assert weights is None
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
        mask[2] += 1.0                                                     # the last sample's first head differs


@pytest.mark.parametrize("with_mask", [False, True])
def test_a_float_key_padding_mask_is_a_per_sample_bias(with_mask):
    torch.manual_seed(7)
    m = nn.MultiheadAttention(4, 2, dtype=F64).eval()                     # (L, B, E) layout
    x = torch.randn(5, 3, 4, dtype=F64)
    padding = torch.randn(3, 5, dtype=F64)
    mask = torch.randn(5, 5, dtype=F64) if with_mask else None
    want = m(x, x, x, key_padding_mask=padding, attn_mask=mask, need_weights=False)[0]
    assert at.mha_route(m, x, x, x, padding, False, mask).operator == "mhsa_sample_bias"
    for path in ("auto", "generic"):
        got = at.multihead_attention(m, x, x, x, key_padding_mask=padding, attn_mask=mask, need_weights=False,
                                     path=path)[0]
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(3, 5\)"):
        at.multihead_attention(m, x, x, x, key_padding_mask=padding[:, :4], need_weights=False)


def test_a_per_sample_bias_module_refuses_a_non_finite_entry():
    layer = at.from_torch(nn.MultiheadAttention(4, 2, dtype=F64).eval(), sample_bias=True)
    x, bias = torch.randn(2, 4, 3, dtype=F64), torch.zeros(2, 2, 3, 3, dtype=F64)
    assert layer(x, bias).shape == (2, 4, 3)
    bias[1, 0, 2, 1] = float("-inf")
    with pytest.raises(ValueError, match="every entry of attn_mask must be finite"):
        layer(x, bias)


@pytest.mark.parametrize("batch_first", [True, False])
def test_a_boolean_or_minus_inf_key_padding_mask_is_mhsa_key_padding(batch_first):
    """Keys hidden per sample (padding of sequences of different lengths): the visible keys V = 1 − mask are
    mhsa_key_padding's second input; both paths equal nn.MultiheadAttention, batched and unbatched, and the routes
    that would need two masks, or that leave a sample no key, are refused with the reason."""
    torch.manual_seed(3)
    m = nn.MultiheadAttention(6, 2, batch_first=batch_first, dtype=F64).eval()
    x = torch.randn((3, 5, 6) if batch_first else (5, 3, 6), dtype=F64)
    hidden = torch.tensor([[False, False, True, True, True], [False] * 5, [True, True, True, True, False]])
    masks = (hidden, torch.zeros(3, 5, dtype=F64).masked_fill(hidden, float("-inf")),
             torch.zeros(3, 5).masked_fill(hidden, float("-inf")))            # float32, as PyTorch takes it too
    for mask in masks:
        r = at.mha_route(m, x, x, x, mask, False)
        assert r.operator == "mhsa_key_padding" and torch.equal(r.bias, (~hidden).to(F64))
        want = m(x, x, x, key_padding_mask=mask, need_weights=False)[0]
        for path in ("auto", "generic"):
            got = at.multihead_attention(m, x, x, x, key_padding_mask=mask, need_weights=False, path=path)
            assert got[1] is None
            torch.testing.assert_close(got[0], want, rtol=1e-12, atol=1e-12)
    xu = torch.randn(5, 6, dtype=F64)                                     # unbatched: (L, E) and (L,)
    torch.testing.assert_close(at.multihead_attention(m, xu, xu, xu, key_padding_mask=hidden[0], need_weights=False)[0],
                               m(xu, xu, xu, key_padding_mask=hidden[0], need_weights=False)[0], rtol=1e-12, atol=1e-12)
    assert at.mha_route(m, x, x, x, torch.zeros(3, 5, dtype=torch.bool), False).operator == "mhsa"   # hides nothing
    causal = torch.ones(5, 5, dtype=torch.bool).triu(1)
    for kw, words in ((dict(attn_mask=causal), "hides the first key of sample 2 together with the causal mask"),
                      (dict(attn_mask=causal, is_causal=True), "hides the first key of sample 2"),
                      (dict(is_causal=True), "is_causal=True without attn_mask"),
                      (dict(key_padding_mask=torch.ones(3, 5, dtype=torch.bool)), "hides every key of sample 0"),
                      (dict(key_padding_mask=hidden.to(torch.int64)), "key_padding_mask must be boolean or floating")):
        with pytest.raises(ValueError, match=words):
            at.multihead_attention(m, x, x, x, **{"key_padding_mask": hidden, **kw}, need_weights=False)
    with pytest.raises(ValueError, match="a float key_padding_mask with NaN"):
        at.multihead_attention(m, x, x, x, key_padding_mask=torch.full((3, 5), float("nan"), dtype=F64),
                               need_weights=False)


class _Projections:
    """Random q/k/v/out projections (e channels, n heads; keys and values from ``kv_channels`` channels when given)
    and the two sides compared: SDPA between ``F.linear`` projections, and evosym's ``self_attention``."""

    def __init__(self, e, n, kv_channels=None):
        self.n, self.e = n, e
        self.w = [torch.randn(e, e if j in (0, 3) or kv_channels is None else kv_channels, dtype=F64) / 3
                  for j in range(4)]
        self.bias = [torch.randn(e, dtype=F64) for _ in range(4)]

    def reference(self, x, mask, y=None):
        w, bias, n, e = self.w, self.bias, self.n, self.e
        src = x if y is None else y
        q = F.linear(x, w[0], bias[0]).unflatten(-1, (n, e // n)).transpose(-2, -3)
        k, v = (F.linear(src, w[j], bias[j]).unflatten(-1, (n, e // n)).transpose(-2, -3) for j in (1, 2))
        z = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return F.linear(z.transpose(-2, -3).flatten(-2), w[3], bias[3])

    def ours(self, x, mask, y=None, **kw):
        w, bias = self.w, self.bias
        return at.self_attention(x, w[0], bias[0], w[1], bias[1], w[2], bias[2], w[3], bias[3], num_heads=self.n,
                                 attn_mask=mask, kv_input=y, **kw)


@pytest.mark.parametrize("batch_first", [True, False])
def test_a_key_padding_mask_with_the_causal_mask_is_mhsa_causal_key_padding(batch_first):
    """A decoder's self-attention over right-padded sequences (tgt_mask with tgt_key_padding_mask): the causal
    attn_mask (boolean or float, with or without is_causal) and a boolean or 0/−inf key_padding_mask route to
    mhsa_causal_key_padding; outputs and the module's parameter gradients equal nn.MultiheadAttention on both paths,
    batched and unbatched; a mask hiding a sample's first key (query 0 would see no key) is refused, and the
    generated module checks that premise itself."""
    torch.manual_seed(7)
    m = nn.MultiheadAttention(6, 2, batch_first=batch_first, dtype=F64).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn_like(p) / 3)
    x = torch.randn((3, 5, 6) if batch_first else (5, 3, 6), dtype=F64)
    hidden = torch.tensor([[False, False, False, True, True], [False] * 5, [False] + [True] * 4])
    causal_bool = torch.ones(5, 5, dtype=torch.bool).triu(1)
    causal_float = nn.Transformer.generate_square_subsequent_mask(5, dtype=F64)
    for mask in (hidden, torch.zeros(3, 5, dtype=F64).masked_fill(hidden, float("-inf"))):
        for kw in (dict(attn_mask=causal_bool), dict(attn_mask=causal_float, is_causal=True)):
            r = at.mha_route(m, x, x, x, mask, False, kw["attn_mask"], kw.get("is_causal", False))
            assert r.operator == "mhsa_causal_key_padding" and torch.equal(r.bias, (~hidden).to(F64))
            for path in ("auto", "generic"):
                grads = []
                for call in (lambda: m(x, x, x, key_padding_mask=mask, need_weights=False, **kw)[0],
                             lambda: at.multihead_attention(m, x, x, x, key_padding_mask=mask, need_weights=False,
                                                            path=path, **kw)[0]):
                    m.zero_grad()
                    y = call()
                    y.square().sum().backward()
                    grads.append((y.detach(), [p.grad.clone() for p in m.parameters()]))
                torch.testing.assert_close(grads[1][0], grads[0][0], rtol=1e-12, atol=1e-12)
                for ours, theirs in zip(grads[1][1], grads[0][1]):
                    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)
    xu = torch.randn(5, 6, dtype=F64)
    torch.testing.assert_close(
        at.multihead_attention(m, xu, xu, xu, key_padding_mask=hidden[0], attn_mask=causal_bool, need_weights=False)[0],
        m(xu, xu, xu, key_padding_mask=hidden[0], attn_mask=causal_bool, need_weights=False)[0], rtol=1e-12, atol=1e-12)
    first = hidden.clone()
    first[1, 0] = True
    with pytest.raises(ValueError, match="hides the first key of sample 1 together with the causal mask"):
        at.multihead_attention(m, x, x, x, key_padding_mask=first, attn_mask=causal_bool, need_weights=False)
    layer = at.from_torch(m, causal=True, key_padding=True)
    tokens = x.transpose(1, 2) if batch_first else x.permute(1, 2, 0)
    assert layer(tokens, (~hidden).to(F64)).shape == (3, 6, 5)
    for path in ("auto", "generic"):
        with pytest.raises(ValueError, match=r"key_mask hides the first key of row 1:"):
            layer(tokens, (~first).to(F64), path=path)
        with pytest.raises(ValueError, match="must be 0 or 1"):
            layer(tokens, torch.full((3, 5), 0.5, dtype=F64).index_fill(1, torch.tensor([0]), 1.0), path=path)


def test_an_sdpa_mask_that_is_causal_and_hides_keys_per_sample():
    """attn_mask = tril(L, L) & the keys each sample sees (one mask: SDPA takes attn_mask or is_causal): routed to
    mhsa_causal_key_padding, both paths equal to SDPA, unbatched too (grouped heads: gqa_masked); a hidden first key
    and is_causal beside the mask are refused with the reason."""
    torch.manual_seed(19)
    bsz, length, e, n = 3, 6, 8, 2
    x = torch.randn(bsz, length, e, dtype=F64)
    pr = _Projections(e, n)
    w, bias, reference, ours = pr.w, pr.bias, pr.reference, pr.ours
    seen = torch.tensor([[True] * 4 + [False] * 2, [True] * 6, [True] + [False] * 5])
    tril = torch.ones(length, length, dtype=torch.bool).tril()
    allowed = seen[:, None, None, :] & tril
    for mask in (allowed, allowed.expand(bsz, n, length, length),
                 torch.zeros(allowed.shape, dtype=F64).masked_fill(~allowed, float("-inf"))):
        assert at.sdpa_route(x, w[0], w[1], w[2], num_heads=n, attn_mask=mask).operator == "mhsa_causal_key_padding"
        for path in ("auto", "generic"):
            torch.testing.assert_close(ours(x, mask, path=path), reference(x, mask), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours(x[0], allowed[0]), reference(x[0], allowed[0]), rtol=1e-12, atol=1e-12)
    first = allowed.clone()
    first[2, ..., 0] = False
    for mask, kw, words in ((first, {}, "hides the first key of sample 2|masks every key of query row 0"),
                            (allowed, {"is_causal": True}, "is_causal=True with an attn_mask")):
        with pytest.raises(ValueError, match=words):
            ours(x, mask, **kw)
    wk = torch.randn(e // 2, e, dtype=F64)   # 1 key/value head for 2 query heads
    assert at.sdpa_route(x, w[0], wk, wk, num_heads=n, attn_mask=allowed, enable_gqa=True).operator == "gqa_masked"


@pytest.mark.parametrize("batch_first", [True, False])
def test_any_boolean_mask_with_a_key_in_every_row_is_mhsa_masked(batch_first):
    """Bands, per-sample and per-head patterns, causal masks with left padding, a pattern with a key_padding_mask:
    the keys each query sees are mhsa_masked's second input (B, N, L, L); outputs and the parameters' gradients equal
    PyTorch's (SDPA between projections, nn.MultiheadAttention), both paths, batched and unbatched; a row that sees no
    key (0/0) is refused, by the routes and by the generated module itself."""
    torch.manual_seed(23)
    bsz, length, e, n = 3, 6, 8, 2
    idx = torch.arange(length)
    band = (idx[:, None] - idx[None, :]).abs() <= 1
    per_head = torch.rand(bsz, n, length, length) > 0.5
    per_head[..., 3] = True
    left_padded = torch.ones(length, length, dtype=torch.bool).tril() & (idx[None, :] >= idx.clamp(max=2)[:, None])
    pr = _Projections(e, n)
    x = torch.randn(bsz, length, e, dtype=F64)
    for mask in (band, torch.zeros(length, length, dtype=F64).masked_fill(~band, float("-inf")), per_head,
                 left_padded.expand(bsz, 1, length, length)):
        assert at.sdpa_route(x, pr.w[0], pr.w[1], pr.w[2], num_heads=n, attn_mask=mask).operator == "mhsa_masked"
        for path in ("auto", "generic"):
            torch.testing.assert_close(pr.ours(x, mask, path=path), pr.reference(x, mask), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(pr.ours(x[1], per_head[1]), pr.reference(x[1], per_head[1]), rtol=1e-12, atol=1e-12)
    empty = band.clone()
    empty[2] = False
    with pytest.raises(ValueError, match="masks every key of query row 2"):
        pr.ours(x, empty)
    m = nn.MultiheadAttention(e, n, batch_first=batch_first, dtype=F64).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn_like(p) / 3)
    xm = x if batch_first else x.transpose(0, 1)
    kpm = torch.zeros(bsz, length, dtype=torch.bool)
    kpm[0, -1], kpm[2, 2] = True, True
    for kw in (dict(attn_mask=~band), dict(attn_mask=(~per_head).flatten(0, 1)), dict(attn_mask=~band, key_padding_mask=kpm),
               dict(attn_mask=torch.zeros(length, length, dtype=F64).masked_fill(~band, float("-inf")),
                    key_padding_mask=kpm)):
        assert at.mha_route(m, xm, xm, xm, kw.get("key_padding_mask"), False, kw["attn_mask"]).operator == "mhsa_masked"
        for path in ("auto", "generic"):
            grads = []
            for call in (lambda: m(xm, xm, xm, need_weights=False, **kw)[0],
                         lambda: at.multihead_attention(m, xm, xm, xm, need_weights=False, path=path, **kw)[0]):
                m.zero_grad()
                y = call()
                y.square().sum().backward()
                grads.append((y.detach(), [p.grad.clone() for p in m.parameters()]))
            torch.testing.assert_close(grads[1][0], grads[0][0], rtol=1e-12, atol=1e-12)
            for ours, theirs in zip(grads[1][1], grads[0][1]):
                torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)
    xu = x[0]
    torch.testing.assert_close(at.multihead_attention(m, xu, xu, xu, attn_mask=~per_head[0], need_weights=False)[0],
                               m(xu, xu, xu, attn_mask=~per_head[0], need_weights=False)[0], rtol=1e-12, atol=1e-12)
    hides_row = torch.zeros(bsz, length, dtype=torch.bool)
    hides_row[1, :2] = True   # the band's row 0 sees keys 0 and 1 only
    with pytest.raises(ValueError, match="masks every key of query row 0 with the key_padding_mask"):
        at.multihead_attention(m, xm, xm, xm, attn_mask=~band, key_padding_mask=hides_row, need_weights=False)
    layer = at.from_torch(m, masked=True)
    tokens = x.transpose(1, 2)
    assert layer(tokens, band.expand(bsz, n, length, length).to(F64)).shape == (bsz, e, length)
    for path in ("auto", "generic"):
        with pytest.raises(ValueError, match=r"allowed hides every key of row 0, 0, 2:"):
            layer(tokens, empty.expand(bsz, n, length, length).to(F64), path=path)
    with pytest.raises(ValueError, match=r"not torch.bool: .* from one that is True where seen \(SDPA's attn_mask\)"):
        layer(tokens, band.expand(bsz, n, length, length))


def test_the_key_padding_module_refuses_a_mask_outside_its_premise():
    """V must be 0/1 with a 1 in every sample: the premise the proof's unit-sum step rests on, checked on every call
    (a sample with every key hidden would be 0/0; a 0.5 is no mask)."""
    layer = at.from_torch(nn.MultiheadAttention(4, 2, dtype=F64).eval(), key_padding=True)
    x = torch.randn(2, 4, 3, dtype=F64)
    assert layer(x, torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=F64)).shape == (2, 4, 3)
    for bad, words in ((torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]), "hides every key of row 1:"),
                       (torch.tensor([[1.0, 0.5, 0.0], [1.0, 1.0, 1.0]]), "must be 0 or 1"),
                       (torch.tensor([[1.0, 2.0, 0.0], [1.0, 1.0, 1.0]]), "must be 0 or 1"),
                       (torch.tensor([[1.0, float("nan"), 0.0], [1.0, 1.0, 1.0]]), "must be 0 or 1")):
        for path in ("auto", "generic"):
            with pytest.raises(ValueError, match=words):
                layer(x, bad.to(F64), path=path)
    with pytest.raises(ValueError, match="pass one of them"):
        at.from_torch(nn.MultiheadAttention(4, 2, dtype=F64).eval(), key_padding=True, sample_bias=True)
    with pytest.raises(ValueError, match="pass one of them"):
        at.from_torch(nn.MultiheadAttention(4, 2, dtype=F64).eval(), key_padding=True, causal=True, cross=True)
    with pytest.raises(ValueError, match=r"not torch.bool: from a boolean mask that is True where hidden .* pass "
                                         r"\(~mask\).to\(x.dtype\)"):
        layer(x, torch.tensor([[False, True, True], [True, True, False]]))
    with pytest.raises(ValueError, match=r"hides every key of row 0: the softmax"):   # unbatched: a batch of one
        layer(x[0], torch.zeros(3, dtype=F64))


@pytest.mark.parametrize("kw", [{}, {"bias": False}, {"kdim": 3, "vdim": 5}], ids=["packed", "no-bias", "kdim-vdim"])
def test_multihead_attention_differentiates_the_modules_own_parameters(kw):
    """Called through evosym, a backward reaches m's own in/out projections exactly as through m itself (a copy of
    the weights would train nothing, silently)."""
    torch.manual_seed(11)
    m = nn.MultiheadAttention(6, 2, batch_first=True, dtype=F64, **kw).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn_like(p) / 3)
    x = torch.randn(3, 5, 6, dtype=F64)
    cross = "kdim" in kw
    args = (x, torch.randn(3, 4, 3, dtype=F64), torch.randn(3, 4, 5, dtype=F64)) if cross else (x, x, x)
    hidden = (torch.tensor([[False, False, True, True], [False] * 4, [True] * 3 + [False]]) if cross else
              torch.tensor([[False, False, True, True, True], [False] * 5, [True] * 4 + [False]]))
    for path in ("auto", "generic"):
        grads = []
        for call in (lambda: m(*args, key_padding_mask=hidden, need_weights=False)[0],
                     lambda: at.multihead_attention(m, *args, key_padding_mask=hidden, need_weights=False, path=path)[0]):
            m.zero_grad()
            call().square().sum().backward()
            grads.append([p.grad.clone() for p in m.parameters()])
        assert len(grads[1]) > 0
        for ours, theirs in zip(grads[1], grads[0]):
            torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kw", [{"batch_first": True}, {"kdim": 3, "vdim": 5}], ids=["batch-first", "kdim-vdim"])
def test_a_key_padding_mask_on_cross_attention_is_cross_attention_key_padding(kw):
    """An encoder–decoder's memory_key_padding_mask: keys of the second sequence hidden per sample. Boolean and 0/−inf
    masks route to cross_attention_key_padding (the visible keys (B, S) its fourth input), both paths equal
    nn.MultiheadAttention, batched and unbatched, with from_torch taking cross and key_padding together; a causal mask
    beside it that leaves a query no key, and a sample with every key hidden, are refused with the reason."""
    torch.manual_seed(13)
    m = nn.MultiheadAttention(6, 2, dtype=F64, **kw).eval()
    first = kw.get("batch_first", False)

    def seq(length, width):
        return torch.randn((3, length, width) if first else (length, 3, width), dtype=F64)
    q, k, v = seq(4, 6), seq(5, m.kdim), seq(5, m.vdim)
    hidden = torch.tensor([[False, False, False, True, True], [False] * 5, [True] * 4 + [False]])
    for mask in (hidden, torch.zeros(3, 5, dtype=F64).masked_fill(hidden, float("-inf"))):
        r = at.mha_route(m, q, k, v, mask, False)
        assert r.operator == "cross_attention_key_padding" and torch.equal(r.bias, (~hidden).to(F64))
        want = m(q, k, v, key_padding_mask=mask, need_weights=False)[0]
        for path in ("auto", "generic"):
            torch.testing.assert_close(at.multihead_attention(m, q, k, v, key_padding_mask=mask, need_weights=False,
                                                              path=path)[0], want, rtol=1e-12, atol=1e-12)
    qu, ku, vu = (t[0] if first else t[:, 0] for t in (q, k, v))
    torch.testing.assert_close(at.multihead_attention(m, qu, ku, vu, key_padding_mask=hidden[2], need_weights=False)[0],
                               m(qu, ku, vu, key_padding_mask=hidden[2], need_weights=False)[0], rtol=1e-12, atol=1e-12)
    layer = at.from_torch(m, cross=True, key_padding=True)
    tokens = [t.permute(1, 2, 0) if not first else t.transpose(1, 2) for t in (q, k, v)]
    got = layer(*tokens, (~hidden).to(F64))
    want = m(q, k, v, key_padding_mask=hidden, need_weights=False)[0]
    torch.testing.assert_close(got, want.transpose(1, 2) if first else want.permute(1, 2, 0), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=r"hides every key of row 1:"):
        layer(*tokens, torch.tensor([[1.0] + [0.0] * 4, [0.0] * 5, [1.0] * 5], dtype=F64))
    causal = torch.ones(4, 5, dtype=torch.bool).triu(1)
    for call, words in ((dict(key_padding_mask=hidden, attn_mask=causal), "masks every key of query row 0 with the "
                         "key_padding_mask"),
                        (dict(key_padding_mask=hidden, is_causal=True, attn_mask=causal), "query row 0 with the key_pad"),
                        (dict(key_padding_mask=torch.ones(3, 5, dtype=torch.bool)), "hides every key of sample 0")):
        with pytest.raises(ValueError, match=words):
            at.multihead_attention(m, q, k, v, **call, need_weights=False)
    with pytest.raises(ValueError, match="or cross and key_padding together"):
        at.from_torch(m, cross=True, key_padding=True, causal=True)


def test_an_sdpa_mask_hiding_keys_per_sample_on_cross_attention():
    """SDPA between projections of two sequences with an attn_mask (B, 1, 1, S) hiding keys per sample:
    cross_attention_key_padding, both paths equal to SDPA, unbatched too; a per-query pattern is cross_attention_masked
    and is_causal beside a mask refused."""
    torch.manual_seed(17)
    bsz, length, keys, e, ekv, n = 3, 4, 6, 8, 5, 2
    x, y = torch.randn(bsz, length, e, dtype=F64), torch.randn(bsz, keys, ekv, dtype=F64)
    pr = _Projections(e, n, kv_channels=ekv)
    w = pr.w

    def reference(x, y, mask):
        return pr.reference(x, mask, y)

    def ours(x, y, mask, **kw):
        return pr.ours(x, mask, y, **kw)
    allowed = torch.tensor([[True] * 3 + [False] * 3, [True] * 6, [False] * 5 + [True]])[:, None, None, :]
    for mask in (allowed, allowed.expand(bsz, n, length, keys),
                 torch.zeros(allowed.shape, dtype=F64).masked_fill(~allowed, float("-inf"))):
        r = at.sdpa_route(x, w[0], w[1], w[2], num_heads=n, attn_mask=mask, kv_input=y)
        assert r.operator == "cross_attention_key_padding"
        for path in ("auto", "generic"):
            torch.testing.assert_close(ours(x, y, mask, path=path), reference(x, y, mask), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours(x[2], y[2], allowed[2]), reference(x[2], y[2], allowed[2]), rtol=1e-12, atol=1e-12)
    per_query = allowed.expand(bsz, n, length, keys).clone()
    per_query[0, 0, 1, 0] = False
    assert at.sdpa_route(x, w[0], w[1], w[2], num_heads=n, attn_mask=per_query, kv_input=y).operator == \
        "cross_attention_masked"
    torch.testing.assert_close(ours(x, y, per_query), reference(x, y, per_query), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="documents the pair as an error"):
        ours(x, y, allowed, is_causal=True)


def test_an_sdpa_mask_hiding_keys_per_sample_is_mhsa_key_padding():
    """An attn_mask (B, 1, 1, L) (or broadcast to (B, N, L, L)) that hides the same keys from every head and query of
    a sample is a key padding mask: mhsa_key_padding, both paths equal to SDPA (grouped heads: gqa_masked; a pattern
    that differs between rows: mhsa_masked); with is_causal, or a sample with every key hidden, it is refused with the
    reason."""
    torch.manual_seed(5)
    bsz, length, e, n = 3, 5, 8, 2
    x = torch.randn(bsz, length, e, dtype=F64)
    pr = _Projections(e, n)
    w, bias, reference, ours = pr.w, pr.bias, pr.reference, pr.ours
    hidden = torch.tensor([[False, False, True, True, True], [False] * 5, [True, True, True, True, False]])
    allowed = ~hidden[:, None, None, :]
    for mask in (allowed, allowed.expand(bsz, n, length, length),
                 torch.zeros(allowed.shape, dtype=F64).masked_fill(~allowed, float("-inf"))):
        assert at.sdpa_route(x, w[0], w[1], w[2], num_heads=n, attn_mask=mask).operator == "mhsa_key_padding"
        for path in ("auto", "generic"):
            torch.testing.assert_close(ours(x, mask, path=path), reference(x, mask), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours(x[0], allowed[0]), reference(x[0], allowed[0]), rtol=1e-12, atol=1e-12)
    rows_differ = allowed.expand(bsz, n, length, length).clone()
    rows_differ[0, 1, 2, 0] = False
    whole_sample = allowed.clone()
    whole_sample[1] = False
    assert at.sdpa_route(x, w[0], w[1], w[2], num_heads=n, attn_mask=rows_differ).operator == "mhsa_masked"
    torch.testing.assert_close(ours(x, rows_differ), reference(x, rows_differ), rtol=1e-12, atol=1e-12)
    for mask, kw, words in ((whole_sample, {}, "masks every key of query row"),
                            (allowed, {"is_causal": True}, "is_causal=True with an attn_mask is not taken")):
        with pytest.raises(ValueError, match=words):
            ours(x, mask, **kw)
    wk = torch.randn(e // 2, e, dtype=F64)   # 1 key/value head for 2 query heads
    assert at.sdpa_route(x, w[0], wk, wk, num_heads=n, attn_mask=allowed, enable_gqa=True).operator == "gqa_masked"


def test_masks_that_require_grad_are_differentiated_and_sparse_or_meta_masks_are_handled():
    """A 0/−inf float mask that requires grad is a hard mask and a bias (mhsa_masked_bias) whose gradient, where it
    is finite, equals PyTorch's; an all-zero float mask that requires grad is a bias (it gets its gradient too); a
    sparse mask is a ValueError from the generated module, and meta tensors (shape inference) pass its premise check."""
    torch.manual_seed(29)
    bsz, length, e, n = 2, 5, 8, 2
    idx = torch.arange(length)
    band = (idx[:, None] - idx[None, :]).abs() <= 1
    pr = _Projections(e, n)
    x = torch.randn(bsz, length, e, dtype=F64)
    for base in (torch.zeros(length, length, dtype=F64).masked_fill(~band, float("-inf")),
                 torch.zeros(bsz, 1, length, length, dtype=F64), torch.zeros(length, length, dtype=F64)):
        ours, theirs = base.clone().requires_grad_(), base.clone().requires_grad_()
        assert at.sdpa_route(x, *pr.w[:3], num_heads=n, attn_mask=ours).operator == (
            "mhsa_masked_bias" if bool(base.isinf().any()) else "mhsa_sample_bias" if base.dim() == 4 else "mhsa_bias")
        got = torch.autograd.grad(pr.ours(x, ours).sum(), ours)[0]
        want = torch.autograd.grad(pr.reference(x, theirs).sum(), theirs)[0]
        assert bool(got.abs().max() > 0.01)
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    m = nn.MultiheadAttention(e, n, batch_first=True, dtype=F64).eval()
    kpm = torch.zeros(bsz, length, dtype=F64)
    kpm[0, -1] = float("-inf")
    ours, theirs = kpm.clone().requires_grad_(), kpm.clone().requires_grad_()
    got = torch.autograd.grad(at.multihead_attention(m, x, x, x, key_padding_mask=ours, need_weights=False)[0].sum(),
                              ours)[0]
    want = torch.autograd.grad(m(x, x, x, key_padding_mask=theirs, need_weights=False)[0].sum(), theirs)[0]
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    layer = at.from_torch(m, masked=True)
    allowed = band.expand(bsz, n, length, length).to(F64)
    with pytest.raises(ValueError, match="allowed must be a dense tensor, not torch.sparse_coo"):
        layer(x.transpose(1, 2), allowed.contiguous().to_sparse())
    meta = layer.to("meta")
    assert meta(x.transpose(1, 2).to("meta"), allowed.to("meta")).shape == (bsz, e, length)


@pytest.mark.parametrize("batch_first", [True, False])
def test_a_hard_mask_beside_a_bias_is_mhsa_masked_bias(batch_first):
    """A float attn_mask mixing −inf with finite values (ALiBi beside the causal mask), a finite float attn_mask beside
    a boolean key_padding_mask, a causal or other boolean mask beside a finite float key_padding_mask, and a float
    key_padding_mask with −inf: M (the keys each query sees) and P (the bias) of mhsa_masked_bias; outputs and the
    module's parameter gradients equal nn.MultiheadAttention on both paths, batched and unbatched; a combination that
    leaves a query no key is refused, naming the row."""
    torch.manual_seed(31)
    bsz, length, e, n = 3, 5, 6, 2
    m = nn.MultiheadAttention(e, n, batch_first=batch_first, dtype=F64).eval()
    x = torch.randn((bsz, length, e) if batch_first else (length, bsz, e), dtype=F64)
    causal = nn.Transformer.generate_square_subsequent_mask(length, dtype=F64)
    alibi = causal + 0.3 * (torch.arange(length)[:, None] - torch.arange(length)[None, :]).to(F64)
    idx = torch.arange(length)
    band = (idx[:, None] - idx[None, :]).abs() > 1                        # True = hidden
    hidden = torch.tensor([[False] * 5, [False, False, False, True, True], [False, False, True, False, True]])
    soft = torch.randn(bsz, length, dtype=F64)
    per_sample = alibi * torch.arange(1, bsz * n + 1, dtype=F64)[:, None, None]
    cases = (dict(attn_mask=alibi), dict(attn_mask=alibi.float()), dict(attn_mask=per_sample),
             dict(attn_mask=torch.randn(length, length, dtype=F64), key_padding_mask=hidden),
             dict(attn_mask=causal, key_padding_mask=soft), dict(attn_mask=causal, is_causal=True, key_padding_mask=soft),
             dict(attn_mask=band, key_padding_mask=soft), dict(key_padding_mask=soft.masked_fill(hidden, float("-inf"))),
             dict(attn_mask=alibi, key_padding_mask=soft.masked_fill(hidden, float("-inf"))),
             dict(attn_mask=alibi, key_padding_mask=hidden))
    for kw in cases:
        r = at.mha_route(m, x, x, x, kw.get("key_padding_mask"), False, kw.get("attn_mask"), kw.get("is_causal", False))
        assert r.operator == "mhsa_masked_bias", kw
        assert bool(((r.allowed == 0) | (r.allowed == 1)).all()) and bool(r.bias.isfinite().all())
        want = m(x, x, x, need_weights=False, **kw)[0]
        for path in ("auto", "generic"):
            m.zero_grad()
            got = at.multihead_attention(m, x, x, x, need_weights=False, path=path, **kw)[0]
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
            grads = torch.autograd.grad(got.square().sum(), list(m.parameters()))
            expected = torch.autograd.grad(m(x, x, x, need_weights=False, **kw)[0].square().sum(), list(m.parameters()))
            for g, w in zip(grads, expected):
                torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)
    xu = x[:, 0] if not batch_first else x[0]                              # unbatched: (L, E)
    for kw in (dict(attn_mask=alibi), dict(attn_mask=causal, key_padding_mask=soft[1]),
               dict(key_padding_mask=soft[2].masked_fill(hidden[2], float("-inf")))):
        torch.testing.assert_close(at.multihead_attention(m, xu, xu, xu, need_weights=False, **kw)[0],
                                   m(xu, xu, xu, need_weights=False, **kw)[0], rtol=1e-12, atol=1e-12)
    trailing = torch.zeros(bsz, length, dtype=torch.bool)
    trailing[1, -2:] = True                                               # sample 1's row 4 of the band: keys 3, 4
    for kw, words in ((dict(attn_mask=band, key_padding_mask=soft.masked_fill(trailing, float("-inf"))),
                       r"masks every key of query row 4 with the key_padding_mask \(at index \(1, 0\)"),
                      (dict(attn_mask=alibi.masked_fill(idx[:, None] == 2, float("-inf"))), "query row 2"),
                      (dict(attn_mask=alibi, key_padding_mask=hidden.roll(1, -1)), "query row 0"),
                      (dict(attn_mask=alibi, is_causal=True), "hint that attn_mask is the causal mask")):
        with pytest.raises(ValueError, match=words):
            at.multihead_attention(m, x, x, x, need_weights=False, **kw)


def test_an_sdpa_mask_mixing_minus_inf_and_a_bias_is_mhsa_masked_bias():
    """SDPA's float attn_mask with −inf and finite entries, in every broadcast shape, float32 beside float64 queries,
    is mhsa_masked_bias (M = isfinite(mask), P = the finite entries, 0 elsewhere), equal to SDPA on both paths and
    unbatched (grouped heads: gqa_masked_bias); with is_causal or a row of −inf it is refused with the reason."""
    torch.manual_seed(37)
    bsz, length, e, n = 2, 5, 8, 2
    pr = _Projections(e, n)
    x = torch.randn(bsz, length, e, dtype=F64)
    idx = torch.arange(length)
    slope = 0.25 * (idx[:, None] - idx[None, :]).to(F64)
    alibi = slope.masked_fill(idx[None, :] > idx[:, None], float("-inf"))
    band = (idx[:, None] - idx[None, :]).abs() <= 1
    per_head = (torch.randn(bsz, n, length, length, dtype=F64)).masked_fill(~band, float("-inf"))
    for mask in (alibi, alibi.float(), alibi.expand(bsz, 1, length, length), per_head, per_head[:1]):
        r = at.sdpa_route(x, *pr.w[:3], num_heads=n, attn_mask=mask)
        assert r.operator == "mhsa_masked_bias" and r.allowed.shape == r.bias.shape == (bsz, n, length, length)
        for path in ("auto", "generic"):
            torch.testing.assert_close(pr.ours(x, mask, path=path), pr.reference(x, mask), rtol=1e-12, atol=1e-12)
        mu = mask if mask.dim() == 2 else mask[0]
        torch.testing.assert_close(pr.ours(x[0], mu), pr.reference(x[0], mu), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="documents the pair as an error"):
        pr.ours(x, alibi, is_causal=True)
    with pytest.raises(ValueError, match="masks every key of query row 3"):
        pr.ours(x, alibi.masked_fill(idx[:, None] == 3, float("-inf")))
    w = pr.w
    assert at.sdpa_route(x, w[0], w[1][:4], w[2][:4], num_heads=n, attn_mask=alibi, enable_gqa=True).operator == \
        "gqa_masked_bias"


def test_the_masked_bias_module_checks_both_premises():
    """The generated module refuses an M that is not an indicator (a fraction, a row with no key) and a P that is
    not finite (−inf belongs in M), naming the input; inside the premise P's entries where M is 0 do not matter."""
    torch.manual_seed(41)
    bsz, length, e, n = 2, 4, 4, 2
    layer = at.from_torch(nn.MultiheadAttention(e, n, dtype=F64).eval(), sample_bias=True, masked=True)
    x = torch.randn(bsz, e, length, dtype=F64)
    seen = torch.ones(bsz, n, length, length, dtype=F64).tril()
    bias = torch.randn(bsz, n, length, length, dtype=F64)
    y = layer(x, seen, bias)
    torch.testing.assert_close(layer(x, seen, bias + 5.0 * (seen == 0)), y, rtol=1e-12, atol=1e-12)
    for m_, p_, words in ((seen * 0.5 + 0.5 * seen.tril(-1), bias, "every entry of allowed must be 0 or 1"),
                          (seen.masked_fill(torch.arange(length)[:, None] == 1, 0), bias,
                           "allowed hides every key of row 0, 0, 1"),
                          (seen, bias.masked_fill(seen == 0, float("-inf")), "every entry of attn_mask must be finite"),
                          (seen, bias.masked_fill(seen == 0, float("nan")), "every entry of attn_mask must be finite")):
        with pytest.raises(ValueError, match=words):
            layer(x, m_, p_)


@pytest.mark.parametrize("kw", [dict(batch_first=True), dict(kdim=5, vdim=3)], ids=["batch-first", "kdim-vdim"])
def test_masks_and_biases_on_cross_attention(kw):
    """An encoder–decoder's memory_mask and its float forms: a boolean or 0/−inf (L, S) or (B·N, L, S) attn_mask (also
    with is_causal as its hint, and beside a boolean key_padding_mask) is cross_attention_masked; a finite float mask,
    a float mask with −inf, and a float key_padding_mask (with or without −inf, with or without a mask) are
    cross_attention_masked_bias. Outputs and the module's parameter gradients equal nn.MultiheadAttention on both
    paths, batched and unbatched; from_torch takes cross and masked (and sample_bias)."""
    torch.manual_seed(43)
    bsz, length, keys, e, n = 3, 4, 6, 6, 2
    m = nn.MultiheadAttention(e, n, dtype=F64, **kw).eval()
    first = kw.get("batch_first", False)

    def seq(tokens, width):
        return torch.randn((bsz, tokens, width) if first else (tokens, bsz, width), dtype=F64)
    q, k, v = seq(length, e), seq(keys, m.kdim), seq(keys, m.vdim)
    causal = torch.ones(length, keys, dtype=torch.bool).triu(1)             # True = hidden: the upper-left causal mask
    slope = 0.3 * (torch.arange(length)[:, None] - torch.arange(keys)[None, :]).to(F64)
    hidden = torch.tensor([[False] * 6, [False, False, False, True, True, True], [False, True, False, True, False, True]])
    soft = torch.randn(bsz, keys, dtype=F64)
    per_head = torch.rand(bsz * n, length, keys) < 0.4
    per_head[..., 0] = False
    for call, operator in ((dict(attn_mask=causal), "cross_attention_masked"),
                           (dict(attn_mask=causal, is_causal=True), "cross_attention_masked"),
                           (dict(attn_mask=torch.zeros(length, keys, dtype=F64).masked_fill(causal, float("-inf"))),
                            "cross_attention_masked"),
                           (dict(attn_mask=per_head, key_padding_mask=hidden), "cross_attention_masked"),
                           (dict(attn_mask=slope), "cross_attention_masked_bias"),
                           (dict(attn_mask=slope.masked_fill(causal, float("-inf"))), "cross_attention_masked_bias"),
                           (dict(key_padding_mask=soft), "cross_attention_masked_bias"),
                           (dict(key_padding_mask=soft.masked_fill(hidden, float("-inf"))), "cross_attention_masked_bias"),
                           (dict(attn_mask=causal, key_padding_mask=soft), "cross_attention_masked_bias"),
                           (dict(attn_mask=slope, key_padding_mask=hidden), "cross_attention_masked_bias")):
        r = at.mha_route(m, q, k, v, call.get("key_padding_mask"), False, call.get("attn_mask"),
                         call.get("is_causal", False))
        assert r.operator == operator, call
        want = m(q, k, v, need_weights=False, **call)[0]
        expected = torch.autograd.grad(want.square().sum(), list(m.parameters()))
        for path in ("auto", "generic"):
            got = at.multihead_attention(m, q, k, v, need_weights=False, path=path, **call)[0]
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
            for g, w in zip(torch.autograd.grad(got.square().sum(), list(m.parameters())), expected):
                torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)
    qu, ku, vu = (t[0] if first else t[:, 0] for t in (q, k, v))
    for call in (dict(attn_mask=causal), dict(attn_mask=slope.masked_fill(causal, float("-inf"))),
                 dict(key_padding_mask=soft[1])):
        torch.testing.assert_close(at.multihead_attention(m, qu, ku, vu, need_weights=False, **call)[0],
                                   m(qu, ku, vu, need_weights=False, **call)[0], rtol=1e-12, atol=1e-12)
    layer = at.from_torch(m, cross=True, masked=True)
    tokens = [t.permute(1, 2, 0) if not first else t.transpose(1, 2) for t in (q, k, v)]
    seen = (~causal).to(F64).expand(bsz, n, length, keys)
    want = m(q, k, v, attn_mask=causal, need_weights=False)[0]
    torch.testing.assert_close(layer(*tokens, seen), want.transpose(1, 2) if first else want.permute(1, 2, 0),
                               rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=r"allowed hides every key of row 0, 0, 0"):
        layer(*tokens, seen * (torch.arange(keys) > 0))
    both = at.from_torch(m, cross=True, masked=True, sample_bias=True)
    got = both(*tokens, seen, slope.expand(bsz, n, length, keys))
    want = m(q, k, v, attn_mask=slope.masked_fill(causal, float("-inf")), need_weights=False)[0]
    torch.testing.assert_close(got, want.transpose(1, 2) if first else want.permute(1, 2, 0), rtol=1e-12, atol=1e-12)
    for call, words in ((dict(attn_mask=~causal, is_causal=True), "hint that attn_mask is the causal mask"),
                        (dict(is_causal=True), "is_causal=True without attn_mask"),
                        (dict(attn_mask=slope.masked_fill(causal, float("-inf")), is_causal=True), "hint that attn_mask"),
                        (dict(attn_mask=causal, key_padding_mask=hidden.roll(1, -1)), "query row 0 with the key_pad")):
        with pytest.raises(ValueError, match=words):
            at.multihead_attention(m, q, k, v, need_weights=False, **call)


def test_sdpa_cross_attention_with_is_causal_or_a_mask_or_a_bias():
    """SDPA between the projections of two sequences with is_causal (the upper-left causal mask of L queries over S
    keys), a boolean pattern per query, a float bias, a float mask with −inf: cross_attention_masked or
    cross_attention_masked_bias, both paths and unbatched equal to SDPA; with grouped key/value heads (enable_gqa)
    gqa_cross_attention_masked or gqa_cross_attention_masked_bias, equal to SDPA too."""
    torch.manual_seed(47)
    bsz, length, keys, e, ekv, n = 2, 5, 3, 8, 5, 2                      # more queries than keys: rows past S see all
    x, y = torch.randn(bsz, length, e, dtype=F64), torch.randn(bsz, keys, ekv, dtype=F64)
    pr = _Projections(e, n, kv_channels=ekv)
    w = pr.w
    pattern = torch.rand(bsz, n, length, keys) < 0.5
    pattern[..., 1] = True
    bias = torch.randn(bsz, 1, length, keys, dtype=F64)
    for kw, operator in ((dict(is_causal=True), "cross_attention_masked"),
                         (dict(attn_mask=pattern), "cross_attention_masked"),
                         (dict(attn_mask=bias), "cross_attention_masked_bias"),
                         (dict(attn_mask=bias.masked_fill(~pattern[:, :1], float("-inf"))), "cross_attention_masked_bias")):
        mask = kw.get("attn_mask")
        assert at.sdpa_route(x, w[0], w[1], w[2], num_heads=n, kv_input=y, **kw).operator == operator
        q = F.linear(x, w[0], pr.bias[0]).unflatten(-1, (n, e // n)).transpose(-2, -3)
        k_, v_ = (F.linear(y, w[j], pr.bias[j]).unflatten(-1, (n, e // n)).transpose(-2, -3) for j in (1, 2))
        want = F.linear(F.scaled_dot_product_attention(q, k_, v_, **kw).transpose(-2, -3).flatten(-2), w[3], pr.bias[3])
        for path in ("auto", "generic"):
            torch.testing.assert_close(pr.ours(x, mask, y, is_causal=kw.get("is_causal", False), path=path), want,
                                       rtol=1e-12, atol=1e-12)
        mu = None if mask is None else mask[0]
        torch.testing.assert_close(pr.ours(x[0], mu, y[0], is_causal=kw.get("is_causal", False)), want[0],
                                   rtol=1e-12, atol=1e-12)
        # one key/value head for the two query heads (enable_gqa): the grouped operators, M over the query heads
        wg = (w[0], pr.bias[0], w[1][:4], pr.bias[1][:4], w[2][:4], pr.bias[2][:4], w[3], pr.bias[3])
        assert at.sdpa_route(x, wg[0], wg[2], wg[4], num_heads=n, kv_input=y, enable_gqa=True,
                             **kw).operator == "gqa_" + operator
        k_, v_ = (F.linear(y, wg[j], wg[j + 1]).unflatten(-1, (1, e // n)).transpose(-2, -3) for j in (2, 4))
        want = F.linear(F.scaled_dot_product_attention(q, k_, v_, enable_gqa=True, **kw).transpose(-2, -3).flatten(-2),
                        w[3], pr.bias[3])
        for path in ("auto", "generic"):
            torch.testing.assert_close(at.self_attention(x, *wg, num_heads=n, kv_input=y, enable_gqa=True, path=path,
                                                         **kw), want, rtol=1e-12, atol=1e-12)


def test_mask_dtypes_and_layouts_are_taken_as_pytorch_takes_them():
    """Two float32 masks with float64 queries are summed in float32, as PyTorch sums them (a sum that overflows to
    −inf hides the key there, as in PyTorch); a float32 bias beyond float16's range with float16 queries is refused
    with the reason, not as a non-finite input; sparse masks are refused with a ValueError."""
    torch.manual_seed(53)
    m = nn.MultiheadAttention(4, 2, batch_first=True, dtype=F64).eval()
    x = torch.randn(2, 3, 4, dtype=F64)
    am, kpm = torch.randn(3, 3), torch.randn(2, 3)
    kpm[0, 2] = float("-inf")
    for a, p in ((am, kpm), (torch.full((3, 3), -3e38).index_fill_(1, torch.tensor([0]), 0.0),
                             torch.full((2, 3), -3e38).index_fill_(1, torch.tensor([0]), 0.0))):
        want = m(x, x, x, key_padding_mask=p, attn_mask=a, need_weights=False)[0]
        got = at.multihead_attention(m, x, x, x, key_padding_mask=p, attn_mask=a, need_weights=False)[0]
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    m16 = nn.MultiheadAttention(4, 2, batch_first=True, dtype=torch.float16).eval()
    x16 = torch.randn(2, 3, 4, dtype=torch.float16)
    big = torch.zeros(3, 3).index_fill_(1, torch.tensor([1]), 1e5)   # 1e5 above the rest of each row
    big[0, 2] = float("-inf")
    with pytest.raises(ValueError, match="beyond the range of the queries' dtype float16"):
        at.multihead_attention(m16, x16, x16, x16, attn_mask=big, need_weights=False)
    for call, words in ((dict(attn_mask=torch.zeros(3, 3, dtype=F64).to_sparse()), "attn_mask must be a dense tensor"),
                        (dict(key_padding_mask=torch.zeros(2, 3, dtype=F64).to_sparse()),
                         "key_padding_mask must be a dense tensor")):
        with pytest.raises(ValueError, match=words):
            at.multihead_attention(m, x, x, x, need_weights=False, **call)
    layer = at.from_torch(m, sample_bias=True)
    with pytest.raises(ValueError, match="attn_mask must be a dense tensor"):
        layer(x.transpose(1, 2), torch.zeros(2, 2, 3, 3, dtype=F64).to_sparse())


def test_grouped_heads_with_a_mask_or_a_bias():
    """SDPA with enable_gqa and an attn_mask: a boolean or 0/−inf pattern (key padding, causal with padding, per
    query head) is gqa_masked, a float mask with a finite part (ALiBi slopes per query head, with or without −inf) is
    gqa_masked_bias; both paths, unbatched and the gradients of the mask equal SDPA; a row with no key, is_causal
    beside a mask and a head count that is not a multiple are refused with the reason."""
    torch.manual_seed(59)
    bsz, length, e, n, kv = 2, 5, 8, 4, 2
    d = e // n
    x = torch.randn(bsz, length, e, dtype=F64)
    w = [torch.randn(e, e, dtype=F64) / 3, torch.randn(kv * d, e, dtype=F64) / 3, torch.randn(kv * d, e, dtype=F64) / 3,
         torch.randn(e, e, dtype=F64) / 3]
    b = [torch.randn(e, dtype=F64), torch.randn(kv * d, dtype=F64), torch.randn(kv * d, dtype=F64),
         torch.randn(e, dtype=F64)]

    def reference(x, mask):
        q = F.linear(x, w[0], b[0]).unflatten(-1, (n, d)).transpose(-2, -3)
        k, v = (F.linear(x, w[j], b[j]).unflatten(-1, (kv, d)).transpose(-2, -3) for j in (1, 2))
        z = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)
        return F.linear(z.transpose(-2, -3).flatten(-2), w[3], b[3])

    def ours(x, mask, **kw):
        return at.self_attention(x, w[0], b[0], w[1], b[1], w[2], b[2], w[3], b[3], num_heads=n, attn_mask=mask,
                                 enable_gqa=True, **kw)
    idx = torch.arange(length)
    causal = idx[None, :] <= idx[:, None]
    keep = torch.tensor([[True] * 5, [True, True, True, False, False]])[:, None, None, :]
    slopes = -0.5 * torch.arange(1, n + 1, dtype=F64)[:, None, None] * (idx[:, None] - idx[None, :]).abs()
    for mask, operator in ((keep, "gqa_masked"), (keep & causal, "gqa_masked"),
                           ((torch.rand(bsz, n, length, length) < 0.5) | torch.eye(length, dtype=torch.bool), "gqa_masked"),
                           (slopes, "gqa_masked_bias"), (slopes.masked_fill(~causal, float("-inf")), "gqa_masked_bias"),
                           (slopes.float(), "gqa_masked_bias")):
        assert at.sdpa_route(x, w[0], w[1], w[2], num_heads=n, attn_mask=mask, enable_gqa=True).operator == operator
        for path in ("auto", "generic"):
            torch.testing.assert_close(ours(x, mask, path=path), reference(x, mask), rtol=1e-12, atol=1e-12)
        mu = mask[0] if mask.dim() == 4 else mask
        torch.testing.assert_close(ours(x[0], mu), reference(x[0], mu), rtol=1e-12, atol=1e-12)
    mine, theirs = (slopes.masked_fill(~causal, float("-inf")).requires_grad_() for _ in range(2))
    got = torch.autograd.grad(ours(x, mine).square().sum(), mine)[0]
    want = torch.autograd.grad(reference(x, theirs).square().sum(), theirs)[0]
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    assert at.sdpa_route(x, w[0], w[1], w[2], num_heads=n, attn_mask=causal, enable_gqa=True).operator == "gqa_causal"
    for mask, kw, words in ((keep & ~causal, {}, "masks every key of query row 4"),
                            (keep, {"is_causal": True}, "documents the pair as an error"),
                            (keep, {"enable_gqa": False}, "need enable_gqa=True")):
        with pytest.raises(ValueError, match=words):
            at.self_attention(x, w[0], b[0], w[1], b[1], w[2], b[2], w[3], b[3], num_heads=n, attn_mask=mask,
                              **{"enable_gqa": True, **kw})


def test_mask_sums_that_overflow_and_causal_hints_that_show_every_key():
    """Two float32 masks whose sum overflows to +inf are refused (PyTorch's softmax is NaN there), not read as hidden
    keys; a float16 call with a large bias only where a boolean key_padding_mask hides is taken (the hidden entries
    need not fit float16); is_causal as the hint of a causal mask that shows every key (S = 1, or one token) is
    taken."""
    torch.manual_seed(61)
    m = nn.MultiheadAttention(4, 2, batch_first=True, dtype=F64).eval()
    q, kv = torch.randn(2, 3, 4, dtype=F64), torch.randn(2, 5, 4, dtype=F64)
    am, kpm = torch.zeros(3, 5), torch.zeros(2, 5)
    am[:, 2], kpm[:, 2] = 3e38, 3e38
    for key in (kv, q):
        with pytest.raises(ValueError, match=r"reach \+inf or NaN"):
            at.multihead_attention(m, q, key, key, attn_mask=am[:, :key.shape[1]], key_padding_mask=kpm[:, :key.shape[1]],
                                   need_weights=False)
    m16 = nn.MultiheadAttention(4, 2, batch_first=True, dtype=torch.float16).eval()
    x16 = torch.randn(2, 3, 4, dtype=torch.float16)
    big = torch.randn(3, 3)
    big[:, 2] = -1e5
    hidden = torch.tensor([[False, False, True], [False, False, True]])
    got = at.multihead_attention(m16, x16, x16, x16, attn_mask=big, key_padding_mask=hidden, need_weights=False)[0]
    want = m16(x16, x16, x16, attn_mask=big, key_padding_mask=hidden, need_weights=False)[0]
    torch.testing.assert_close(got, want, rtol=2e-2, atol=2e-2)
    one = torch.randn(2, 1, 4, dtype=F64)
    for query, key, mask in ((q, one, torch.zeros(3, 1, dtype=torch.bool)), (one, one, torch.zeros(1, 1, dtype=torch.bool))):
        torch.testing.assert_close(
            at.multihead_attention(m, query, key, key, attn_mask=mask, is_causal=True, need_weights=False)[0],
            m(query, key, key, attn_mask=mask, is_causal=True, need_weights=False)[0], rtol=1e-12, atol=1e-12)


def test_a_large_negative_float32_padding_hides_keys_of_float16_queries():
    """A float32 mask with entries below float16's range (−1e9, float32's min: the padding idiom) beside float16
    queries hides those keys, as PyTorch's softmax does, where the row has an entry far enough above them that their
    weight is exactly 0; an entry just outside the range, close to the rest of its row, is still refused."""
    torch.manual_seed(67)
    m = nn.MultiheadAttention(8, 2, batch_first=True).half().eval()
    x = torch.randn(2, 4, 8, dtype=torch.float16)
    for value in (torch.finfo(torch.float32).min, -1e9):
        kpm = torch.zeros(2, 4)
        kpm[0, 3] = value
        am = torch.zeros(4, 4)
        am[:, 2] = value
        for call in (dict(key_padding_mask=kpm), dict(attn_mask=am), dict(attn_mask=am, key_padding_mask=kpm)):
            r = at.mha_route(m, x, x, x, call.get("key_padding_mask"), False, call.get("attn_mask"))
            assert r.operator == "mhsa_masked_bias" and bool((r.allowed == 0).any())
            torch.testing.assert_close(at.multihead_attention(m, x, x, x, need_weights=False, **call)[0],
                                       m(x, x, x, need_weights=False, **call)[0], rtol=2e-2, atol=2e-2)
    close = torch.full((4, 4), -6e4)   # within 65504 of its row's largest entry: taken, the rows shifted
    close[:, 2] = -7e4
    torch.testing.assert_close(at.multihead_attention(m, x, x, x, attn_mask=close, need_weights=False)[0],
                               m(x, x, x, attn_mask=close, need_weights=False)[0], rtol=2e-2, atol=2e-2)
    far = torch.zeros(4, 4)   # 7e4 below its row's largest entry: neither representable nor provably of weight 0
    far[:, 2] = -7e4
    with pytest.raises(ValueError, match="beyond the range of the queries' dtype float16"):
        at.multihead_attention(m, x, x, x, attn_mask=far, need_weights=False)


@pytest.mark.parametrize("dtype, mask", [
    (torch.float16, lambda L: 2048 + torch.arange(L, dtype=torch.float32).expand(L, L)),   # an offset float16 loses
    (torch.float16, lambda L: -5e4 + 0.25 * torch.arange(L, dtype=torch.float32).expand(L, L)),
    (torch.bfloat16, lambda L: 256 + 0.5 * torch.arange(L, dtype=torch.float32).expand(L, L)),
    (torch.bfloat16, lambda L: torch.zeros(L, L).index_fill_(1, torch.tensor([L - 1]), -1e9)),
    (torch.float16, lambda L: torch.zeros(1, 1, L, L).index_fill_(3, torch.tensor([0]), torch.finfo(torch.float32).min)),
])
@pytest.mark.parametrize("cross", [False, True])
def test_a_float32_mask_beside_half_queries_keeps_the_differences_in_its_rows(dtype, mask, cross):
    """PyTorch adds a float32 mask to half-precision logits in float32; evosym's operators take the bias in the
    queries' dtype, so each row is shifted by its largest entry first (the softmax ignores the offset): the
    differences survive the conversion (review finding: 2048 + k in float16 was rounded to even numbers, an error of
    1.3 on the output where PyTorch's was 0.002). Compared with float64 on the same half inputs: evosym's error is of
    the order of PyTorch's own."""
    torch.manual_seed(71)
    L, S, E, N = 4, (5 if cross else 4), 8, 2
    w = {k: (torch.randn(*sh, dtype=F64) * 0.5).to(dtype) for k, sh in dict(
        q_weight=(E, E), q_bias=(E,), k_weight=(E, E), k_bias=(E,), v_weight=(E, E), v_bias=(E,), out_weight=(E, E),
        out_bias=(E,)).items()}
    x = torch.randn(2, L, E, dtype=F64).to(dtype)
    kv = torch.randn(2, S, E, dtype=F64).to(dtype) if cross else None
    m = mask(S)[..., :L, :] if not cross else mask(S)[..., :L, :]

    def sdpa(x_, kv_, w_, m_):
        src = x_ if kv_ is None else kv_
        q, k, v = (F.linear(t, w_[n + "_weight"], w_[n + "_bias"]).unflatten(-1, (N, -1)).transpose(1, 2)
                   for t, n in ((x_, "q"), (src, "k"), (src, "v")))
        z = F.scaled_dot_product_attention(q, k, v, attn_mask=m_).transpose(1, 2).flatten(-2)
        return F.linear(z, w_["out_weight"], w_["out_bias"])
    exact = sdpa(x.double(), None if kv is None else kv.double(), {k: t.double() for k, t in w.items()}, m.double())
    theirs = (sdpa(x, kv, w, m).double() - exact).abs().max()
    ours = (at.self_attention(x, **w, num_heads=N, attn_mask=m, kv_input=kv).double() - exact).abs().max()
    assert ours <= 3 * theirs + 4 * torch.finfo(dtype).eps, (ours, theirs)


def _padded_row(dtype, L):
    m = torch.zeros(2, 1, L, L, dtype=dtype)
    m[1, :, 1, :] = torch.finfo(dtype).min   # a padded query row: every key at the dtype's min
    return m


@pytest.mark.parametrize("dtype, mask", [
    (torch.float16, _padded_row),
    (torch.bfloat16, _padded_row),
    (torch.float16, lambda dt, L: (-1e4 + 0.25 * torch.arange(L).expand(L, L)).to(dt)),   # an offset shared by rows
    (torch.bfloat16, lambda dt, L: (-3e4 + 64 * torch.arange(L).expand(L, L)).to(dt)),
    (torch.float16, lambda dt, L: torch.zeros(L, L, dtype=dt).index_fill_(1, torch.tensor([0]), 20)
     .index_fill_(1, torch.tensor([2]), torch.finfo(dt).min)),   # a row whose shift would overflow: kept as it is
])
@pytest.mark.parametrize("path", ["auto", "generic"])
def test_a_half_mask_in_the_queries_dtype_keeps_the_logits_precision(dtype, mask, path):
    """A float16 or bfloat16 mask beside queries of its dtype, which PyTorch adds to the logits in float32: the
    operators add it in the queries' dtype, where a row of float16's min (a padded query row) left the logits nothing
    (spacing 32 there: the generic path was off by 0.98 where PyTorch's float16 error is 0.004). Each row is shifted by
    its largest entry where the shifted row fits: both paths within a few times PyTorch's own error."""
    torch.manual_seed(72)
    L, E, N = 4, 4, 2
    w = {k: torch.randn(*sh, dtype=F64).to(dtype) for k, sh in dict(
        q_weight=(E, E), q_bias=(E,), k_weight=(E, E), k_bias=(E,), v_weight=(E, E), v_bias=(E,), out_weight=(E, E),
        out_bias=(E,)).items()}
    x, m = torch.randn(2, L, E, dtype=F64).to(dtype), mask(dtype, L)

    def sdpa(x_, w_, m_):
        q, k, v = (F.linear(x_, w_[n + "_weight"], w_[n + "_bias"]).unflatten(-1, (N, -1)).transpose(1, 2)
                   for n in "qkv")
        return F.linear(F.scaled_dot_product_attention(q, k, v, attn_mask=m_).transpose(1, 2).flatten(-2),
                        w_["out_weight"], w_["out_bias"])
    # the truth, and PyTorch's own error, from the mask less its rows' largest entries (the softmax is the same; even
    # float64 loses the logits beside bfloat16's min, 3.4e38, and PyTorch's float32 sum returns uniform weights there)
    shifted = m.double() - m.double().amax(-1, keepdim=True)
    exact = sdpa(x.double(), {k: t.double() for k, t in w.items()}, shifted)
    theirs = (sdpa(x, w, shifted.to(dtype)).double() - exact).abs().max()
    ours = (at.self_attention(x, **w, num_heads=N, attn_mask=m, path=path).double() - exact).abs().max()
    assert ours <= 3 * theirs + 4 * torch.finfo(dtype).eps * exact.abs().max(), (ours, theirs)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("path", ["auto", "generic"])
def test_a_half_mask_row_beyond_its_range_after_the_shift_is_refused(dtype, path):
    """A row holding the dtype's min beside a large positive entry (min, 6e4 in float16) does not fit shifted by its
    largest entry; kept as it was, that offset wiped out the logits (2.7 off on the generic path): refused, naming
    −inf and boolean masks, which are taken. A row of min beside small entries (|largest| ≤ 64) is still taken."""
    L, E, N = 4, 4, 2
    big = 6e4 if dtype == torch.float16 else 3e38
    w = [torch.randn(E, E).to(dtype), None] * 4
    x = torch.randn(2, L, E).to(dtype)
    m = torch.zeros(L, L, dtype=dtype)
    m[:, 0], m[:, 1] = torch.finfo(dtype).min, big
    with pytest.raises(ValueError, match=r"below its row's largest seen entry.*hide that key \(−inf, or a boolean mask\)"):
        at.self_attention(x, *w, num_heads=N, attn_mask=m, path=path)
    assert at.self_attention(x, *w, num_heads=N, attn_mask=m.masked_fill(m == torch.finfo(dtype).min, -torch.inf),
                             path=path).isfinite().all()
    small = m.clone()
    small[:, 1] = 20
    assert at.self_attention(x, *w, num_heads=N, attn_mask=small, path=path).isfinite().all()


def test_a_float32_mask_beyond_bfloat16_after_the_shift_is_refused_with_the_way_out():
    """float32's min as padding beside bfloat16 queries: bfloat16 reaches nearly float32's range, so such an entry is
    not provably of weight 0 (the logits may differ by up to 2·max) and does not fit: refused, naming −inf or a boolean
    mask, which are taken."""
    L, E, N = 4, 8, 2
    x = torch.randn(2, L, E).to(torch.bfloat16)
    w = [torch.randn(E, E).to(torch.bfloat16), None] * 4
    pad = torch.zeros(L, L).index_fill_(1, torch.tensor([3]), torch.finfo(torch.float32).min)
    with pytest.raises(ValueError, match=r"beyond the range of the queries' dtype bfloat16.*−inf, or a boolean mask"):
        at.self_attention(x, *w, num_heads=N, attn_mask=pad)
    for hidden in (pad.masked_fill(pad < 0, float("-inf")), pad == 0):
        assert at.sdpa_route(x, w[0], w[2], w[4], num_heads=N, attn_mask=hidden).operator == "mhsa_key_padding"


def test_a_wrong_path_or_one_without_kernels_is_an_attention_refusal():
    """path= is checked with the other arguments, and the generated module's own refusal (no kernels for an attention
    operator, a premise) reaches the caller as AttentionRefused (review finding: a plain ValueError or EvosymError)."""
    x = torch.randn(2, 3, 4, dtype=F64)
    w = [torch.eye(4, dtype=F64), None] * 4
    for path, words in (("bogus", "path must be 'auto', 'generic' or 'kernels', not 'bogus'"),
                        ("kernels", "kernel")):
        with pytest.raises(at.AttentionRefused, match=words):
            at.self_attention(x, *w, num_heads=2, is_causal=True, path=path)
        m = nn.MultiheadAttention(4, 2, batch_first=True, dtype=F64).eval()
        with pytest.raises(at.AttentionRefused, match=words):
            at.multihead_attention(m, x, x, x, need_weights=False, path=path)


def test_is_causal_on_grouped_cross_attention():
    """SDPA's upper-left causal mask over S = 1 key shows that key to every query: taken as no mask
    (gqa_cross_attention); over S = 2 keys it hides one: gqa_cross_attention_masked; both equal to PyTorch."""
    torch.manual_seed(5)
    x, kv = torch.randn(2, 3, 4, dtype=F64), torch.randn(2, 1, 4, dtype=F64)
    wq, wk = torch.randn(4, 4, dtype=F64), torch.randn(2, 4, dtype=F64)
    w = [wq, None, wk, None, torch.randn(2, 4, dtype=F64), None, torch.randn(4, 4, dtype=F64), None]
    got = at.self_attention(x, *w, num_heads=2, is_causal=True, enable_gqa=True, kv_input=kv)
    q = (x @ wq.T).unflatten(-1, (2, 2)).transpose(1, 2)
    k, v = ((kv @ t.T).unflatten(-1, (1, 2)).transpose(1, 2) for t in (wk, w[4]))
    want = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True).transpose(1, 2).flatten(-2) @ w[6].T
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    assert at.sdpa_route(x, w[0], w[2], w[4], num_heads=2, is_causal=True, enable_gqa=True,
                         kv_input=kv).operator == "gqa_cross_attention"
    kv2 = torch.randn(2, 2, 4, dtype=F64)
    assert at.sdpa_route(x, w[0], w[2], w[4], num_heads=2, is_causal=True, enable_gqa=True,
                         kv_input=kv2).operator == "gqa_cross_attention_masked"
    k, v = ((kv2 @ t.T).unflatten(-1, (1, 2)).transpose(1, 2) for t in (wk, w[4]))
    want = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True).transpose(1, 2).flatten(-2) @ w[6].T
    torch.testing.assert_close(at.self_attention(x, *w, num_heads=2, is_causal=True, enable_gqa=True, kv_input=kv2),
                               want, rtol=1e-12, atol=1e-12)
