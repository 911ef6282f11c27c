"""assert_equivalent / the pytest fixture / check --candidate for an operator with several inputs (cross_attention:
x, xk, xv): the candidate is called with every input in the operator's order, every input is drawn and varied, and
candidates that ignore, swap or cache inputs, or scale the logits wrongly, fail with a message that says so."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from evosym import catalogue
from evosym.codegen.torchexpr import py_name
from evosym.errors import EvosymError
from evosym.testing import assert_equivalent
from evosym.testing.domain import Domain, kinds
from evosym.testing.setup import proven

N, D, C_K, C_V = 2, 2, 3, 3          # small: every trial is cheap
E = N * D
SIZES = dict(N=N, d=D, C_k=C_K, C_v=C_V)
OP = "cross_attention"


# -- candidates ---------------------------------------------------------------------------------------------------

class MHA(nn.Module):
    """``nn.MultiheadAttention`` (kdim, vdim, batch_first) taking channels-first x, xk, xv."""

    def __init__(self, kdim=C_K, vdim=C_V):
        super().__init__()
        torch.manual_seed(0)
        self.mha = nn.MultiheadAttention(E, N, kdim=kdim, vdim=vdim, batch_first=True)
        with torch.no_grad():             # non-zero biases: a forgotten bias would show
            self.mha.in_proj_bias.normal_()
            self.mha.out_proj.bias.normal_()

    def forward(self, x, xk, xv):
        y, _ = self.mha(x.transpose(1, 2), xk.transpose(1, 2), xv.transpose(1, 2), need_weights=False)
        return y.transpose(1, 2)


def mha_weights(c):
    m, e = c.mha, c.mha.embed_dim
    return {"WQ": m.q_proj_weight, "WK": m.k_proj_weight, "WV": m.v_proj_weight, "bQ": m.in_proj_bias[:e],
            "bK": m.in_proj_bias[e:2 * e], "bV": m.in_proj_bias[2 * e:], "WO": m.out_proj.weight, "bO": m.out_proj.bias}


def attention(x, xk, xv, w, scale=None):
    """Cross-attention by hand (F.scaled_dot_product_attention), the parameters ``w`` under the operator's torch names."""
    def heads(name, t):                   # (B, C, T) -> (B, N, T, d)
        p = torch.einsum("oc,bct->bot", w[name + "_weight"], t) + w[name + "_bias"][:, None]
        return p.reshape(p.shape[0], N, D, p.shape[-1]).transpose(2, 3)
    z = F.scaled_dot_product_attention(heads("q", x), heads("k", xk), heads("v", xv), scale=scale)
    z = z.transpose(2, 3).reshape(z.shape[0], E, z.shape[2])
    return torch.einsum("oc,bcl->bol", w["out_weight"], z) + w["out_bias"][:, None]


class Attention(nn.Module):
    """:func:`attention` as a module."""

    def __init__(self, kdim=C_K, vdim=C_V):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        shapes = dict(q_weight=(E, E), q_bias=(E,), k_weight=(E, kdim), k_bias=(E,), v_weight=(E, vdim), v_bias=(E,),
                      out_weight=(E, E), out_bias=(E,))
        for name, shape in shapes.items():
            setattr(self, name, nn.Parameter(torch.randn(shape, generator=g)))

    def attend(self, x, xk, xv, scale=None):
        return attention(x, xk, xv, dict(self.named_parameters()), scale)

    def forward(self, x, xk, xv):
        return self.attend(x, xk, xv)


class XAsKeys(Attention):
    """Ignores xk: the queries' tokens are the keys' too (it raises where L ≠ S)."""

    def __init__(self):
        super().__init__(kdim=E)

    def forward(self, x, xk, xv):
        return self.attend(x, x, xv)


class XAsKeysWhenSquare(Attention):
    """A "self-attention fast path": x read as the keys whenever it has the keys' shape (L = S, C_k = C)."""

    def __init__(self):
        super().__init__(kdim=E)

    def forward(self, x, xk, xv):
        return self.attend(x, x if x.shape == xk.shape else xk, xv)


class XvAsKeys(Attention):
    """Ignores xk: the values' tokens are the keys' too."""

    def forward(self, x, xk, xv):
        return self.attend(x, xv, xv)


class Swapped(Attention):
    """Keys from xv and values from xk."""

    def forward(self, x, xk, xv):
        return self.attend(x, xv, xk)


class ScaleOneOverD(Attention):
    """Logits scaled by 1/d instead of 1/√d."""

    def forward(self, x, xk, xv):
        return self.attend(x, xk, xv, scale=1.0 / D)


class CacheByShape(Attention):
    """Caches its output by the inputs' shapes."""

    store: dict = {}

    def forward(self, x, xk, xv):
        key = (tuple(x.shape), tuple(xk.shape), tuple(xv.shape), x.dtype)
        if key not in self.store:
            self.store[key] = self.attend(x, xk, xv).detach()
        return self.store[key].clone()


class CacheByValues(Attention):
    """Caches its output keyed on the values' input alone (x and xk are not looked at on a hit)."""

    def __init__(self):
        super().__init__()
        self.store = {}

    def forward(self, x, xk, xv):
        key = (tuple(xv.shape), xv.dtype, float(xv.detach().double().sum()))
        if key not in self.store:
            self.store[key] = self.attend(x, xk, xv).detach()
        return self.store[key].clone()


class ZeroWhenAliased(Attention):
    """Exact unless keys and values are passed as one tensor (an encoder's output, m(q, kv, kv)): then zeros."""

    def forward(self, x, xk, xv):
        y = self.attend(x, xk, xv)
        return y * 0 if xk is xv else y


class ReturnsX(Attention):
    def forward(self, x, xk, xv):
        return x


class ZeroesXk(Attention):
    def forward(self, x, xk, xv):
        y = self.attend(x, xk, xv)
        xk.data.zero_()
        return y


class DetachesXk(Attention):
    def forward(self, x, xk, xv):
        return self.attend(x, xk.detach(), xv)


class WrongGradientXk(Attention):
    """Forward exact; the gradient with respect to xk scaled by 1.5."""

    def forward(self, x, xk, xv):
        return self.attend(x, xk + 0.5 * (xk - xk.detach()), xv)


class OneArgument(nn.Module):
    def forward(self, x):
        return x


@pytest.fixture(autouse=True)
def _clear_caches():
    yield
    CacheByShape.store.clear()


def _fails(candidate, sizes=SIZES, **kw) -> str:
    with pytest.raises(AssertionError) as info:
        assert_equivalent(candidate, OP, sizes=sizes, **kw)
    text = str(info.value)
    assert text.startswith(f"{OP}: ") and "configuration:" in text and "seed" in text, text
    return text


# -- correct candidates pass ----------------------------------------------------------------------------------------

def test_multihead_attention_with_kdim_and_vdim_passes():
    report = assert_equivalent(MHA(), OP, sizes=SIZES, weights=mha_weights, gradients=True)
    assert len(report.trials) == 8
    configs = {c for c, _, _ in report.trials}
    sizes = [dict(kv.split("=") for kv in c.split(", ")) for c in configs]
    assert any(s["L"] != s["S"] for s in sizes) and any(s["L"] == s["S"] for s in sizes), configs


def test_a_function_of_the_three_inputs_passes_with_its_weights_given():
    weights = dict(Attention().named_parameters())

    def attend(x, xk, xv):
        return attention(x, xk, xv, {k: v.to(x.dtype) for k, v in weights.items()})
    assert len(assert_equivalent(attend, OP, sizes=SIZES, weights=weights, trials=2).trials) == 4


def test_the_pytest_fixture_takes_the_same_candidates(evosym_equivalent):
    evosym_equivalent(Attention(), OP, sizes=SIZES, trials=1)


# -- wrong candidates fail, and say why -----------------------------------------------------------------------------

@pytest.mark.parametrize("candidate, sizes, words", [
    (XvAsKeys, SIZES, ["only the input xk changes", "the candidate ignores xk"]),
    (XAsKeysWhenSquare, dict(SIZES, C_k=E), ["the candidate ignores xk"]),
    (XAsKeys, dict(SIZES, C_k=E), ["the candidate raised RuntimeError", "called as candidate(x, xk, xv) with x (2, 4, 7), "
                                   "xk (2, 4, 5), xv (2, 3, 5)"]),
    (Swapped, SIZES, ["diagnosis: matches the operator with its inputs xk and xv exchanged"]),
    (ScaleOneOverD, SIZES, ["diagnosis: matches the operator with twice the factor 1/√d"]),
    (CacheByShape, SIZES, ["cause: it returns the same output for two different inputs: the candidate caches"]),
    (CacheByValues, SIZES, ["only x changed", "cause: its output does not change when only the input x changes",
                            "caches results across calls"]),
    (ReturnsX, SIZES, ["cause: it returns its input x (the output shares the input x's memory)"]),
    (ZeroWhenAliased, SIZES, ["(autograd enabled, xv passed as the same tensor as xk)"]),
    (ZeroesXk, SIZES, ["modifies its input in place: 30 of 30 entries of the input xk it was given changed (it zeroed it)"]),
])
def test_wrong_candidates_fail_and_are_named(candidate, sizes, words):
    text = _fails(candidate(), sizes)
    for w in words:
        assert w in text, text
    assert text.count("cause:") <= 1, text


@pytest.mark.parametrize("candidate, words", [
    (DetachesXk, "the candidate's output does not depend on its input xk through autograd"),
    (WrongGradientXk, "gradients with respect to the input xk differ (forward agrees)"),
])
def test_gradients_are_compared_with_respect_to_every_input(candidate, words):
    assert_equivalent(candidate(), OP, sizes=SIZES, trials=1)      # the forward agrees
    assert words in _fails(candidate(), gradients=True, trials=1)


def test_a_candidate_taking_one_input_is_a_clear_error():
    with pytest.raises(EvosymError, match=r"cross_attention has 3 inputs \(x, xk, xv\): the candidate is called as "
                                          r"candidate\(x, xk, xv\).*OneArgument.forward\(x\)"):
        assert_equivalent(OneArgument(), OP, sizes=SIZES)
    with pytest.raises(EvosymError, match=r"candidate\(x, xk, xv\)"):
        assert_equivalent(lambda x: x, OP, sizes=SIZES)


# -- sizes: every input's ---------------------------------------------------------------------------------------------

def test_sizes_of_the_queries_alone_are_drawn():
    """L is a size of x only: the domain draws it (with and without the code generator's plan)."""
    p = proven(OP)
    op = p.operator
    by_name = {py_name(s): s for s, _ in op.sizes}
    fixed = {by_name[k]: v for k, v in SIZES.items()}
    bare = Domain(op, catalogue.load(OP).proof().omega, None, fixed)
    for d in (Domain(op, p.omega, p.plan, fixed), bare):
        assert {str(s) for s in d.runtime} == {"B", "L", "S"} and str(d.batch) == "B"
        low = d.minimum()
        drawn = [d.draw(k, np.random.default_rng(0), low) for k in kinds(6)]
        for v in drawn:
            assert d.ok(d.env(v))
        by = [{str(s): n for s, n in v.items()} for v in drawn]
        assert by[0]["L"] != by[0]["S"] and by[3]["L"] == by[3]["S"], by


# -- the command line ---------------------------------------------------------------------------------------------------

def _cli(capsys, monkeypatch, tmp_path, source, *argv):
    from cli_helpers import run_cli
    name = f"several_inputs_candidate_{len(list(tmp_path.iterdir()))}"
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        return run_cli(capsys, "check", "--candidate", f"{name}:make", OP, *argv)
    finally:
        sys.modules.pop(name, None)


SIZE_ARGS = [a for k, v in SIZES.items() for a in ("--size", f"{k}={v}")]
HEADER = f"import sys\nsys.path.insert(0, {str(__import__('pathlib').Path(__file__).parent)!r})\n"


def test_check_candidate_on_the_command_line(capsys, monkeypatch, tmp_path):
    source = HEADER + "from test_harness_several_inputs import Attention\n\ndef make():\n    return Attention()\n"
    rc, out, err = _cli(capsys, monkeypatch, tmp_path, source, *SIZE_ARGS, "--gradients")
    assert rc == 0 and out.startswith("EQUIVALENT") and "8 comparisons" in out, out + err
    source = HEADER + "from test_harness_several_inputs import Swapped\n\ndef make():\n    return Swapped()\n"
    rc, out, err = _cli(capsys, monkeypatch, tmp_path, source, *SIZE_ARGS)
    assert rc == 1 and out.startswith("NOT EQUIVALENT") and "xk and xv exchanged" in out, out + err


def test_a_one_argument_candidate_on_the_command_line_is_a_usage_error(capsys, monkeypatch, tmp_path):
    source = HEADER + "from test_harness_several_inputs import OneArgument\n\ndef make():\n    return OneArgument()\n"
    rc, out, err = _cli(capsys, monkeypatch, tmp_path, source, *SIZE_ARGS)
    assert rc == 2 and "candidate(x, xk, xv)" in err and "Traceback" not in out + err, out + err


# -- a bare nn.MultiheadAttention is taken for the attention operators bound to it --------------------------------

def _mha(seed=0, **kw):
    torch.manual_seed(seed)
    m = nn.MultiheadAttention(8, 2, dtype=torch.float64, **kw).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.3)
    return m


@pytest.mark.parametrize("operator, kw, sizes", [
    ("mhsa", dict(batch_first=True), None),
    ("mhsa_causal", {}, None),
    ("mhsa_bias", dict(batch_first=True), {"L": 6}),
    ("mhsa_sample_bias", {}, None),
    ("cross_attention", dict(kdim=3, vdim=5, batch_first=True), None),
    ("cross_attention", {}, None),
    ("mhsa_key_padding", dict(batch_first=True), None),
    ("mhsa_causal_key_padding", dict(batch_first=True), None),
    ("mhsa_causal_key_padding", {}, None),
    ("mhsa_masked", dict(batch_first=True), None),
    ("mhsa_masked", {}, None),
    ("mhsa_masked_bias", dict(batch_first=True), None),
    ("mhsa_masked_bias", {}, None),
    ("cross_attention_key_padding", dict(kdim=3, vdim=5, batch_first=True), None),
    ("cross_attention_key_padding", {}, None),
    ("cross_attention_masked", dict(kdim=3, vdim=5, batch_first=True), None),
    ("cross_attention_masked_bias", {}, None),
])
def test_a_bare_multihead_attention_is_a_candidate_with_no_wrapper(operator, kw, sizes):
    """Called as the operator's generated module is (channels-first tokens, its masks as inputs), its weights read
    through the operator's binding: no wrapper, no weight mapping from the user."""
    report = assert_equivalent(_mha(**kw), operator, sizes=sizes, trials=1, gradients=True)
    assert report.sizes["N"] == 2 and report.sizes["d"] == 4


@pytest.mark.parametrize("operator", ["mhsa", "mhsa_causal", "mhsa_key_padding", "mhsa_causal_key_padding",
                                      "mhsa_masked", "mhsa_masked_bias"])
def test_a_bare_multihead_attention_whose_weights_the_binding_cannot_read_is_a_clear_error(operator):
    """kdim/vdim ≠ embed_dim: no packed in_proj_weight to read for a self-attention operator (a raw TypeError
    before): a ValueError saying what the operator needs."""
    with pytest.raises(ValueError, match="cannot be read as the operator's weights: the operator needs kdim and vdim "
                                         "equal embed_dim"):
        assert_equivalent(_mha(kdim=6, vdim=5, batch_first=True), operator, trials=1)


@pytest.mark.parametrize("operator, kw, words", [
    ("mhsa", dict(batch_first=True, add_bias_kv=True), "differs from the proven operator"),
    ("mhsa_causal", dict(dropout=0.5), "differs from the proven operator"),
])
def test_a_bare_multihead_attention_that_computes_something_else_fails(operator, kw, words):
    m = _mha(**kw)
    if "dropout" in kw:
        m.train()
    with pytest.raises(AssertionError, match=words):
        assert_equivalent(m, operator, trials=1)


class KeyPaddingMHA(MHA):
    """:class:`MHA` with a fourth input, the visible keys (B, S), as its key_padding_mask (True where hidden); or,
    ``ignore``, without it (what cross_attention computes)."""

    def __init__(self, ignore=False):
        super().__init__()
        self.ignore = ignore

    def forward(self, x, xk, xv, key_mask):
        mask = None if self.ignore else key_mask == 0
        y, _ = self.mha(x.transpose(1, 2), xk.transpose(1, 2), xv.transpose(1, 2), key_padding_mask=mask,
                        need_weights=False)
        return y.transpose(1, 2)


def test_cross_attention_key_padding_takes_four_inputs_and_its_mask_is_live():
    """cross_attention_key_padding's fourth input is drawn as an indicator (0/1, a key seen in every sample) and is
    live: the module called with it passes, the same module ignoring it fails and is named."""
    report = assert_equivalent(KeyPaddingMHA(), "cross_attention_key_padding", sizes=SIZES, weights=mha_weights,
                               gradients=True)
    assert len(report.trials) > 0
    with pytest.raises(AssertionError, match="differs from the proven operator"):
        assert_equivalent(KeyPaddingMHA(ignore=True), "cross_attention_key_padding", sizes=SIZES, weights=mha_weights)


@pytest.mark.parametrize("call", ["mask", "sample_bias"])
def test_a_multihead_attention_dropping_the_bias_or_the_hard_mask_of_mhsa_masked_bias_fails(call):
    """mhsa_masked_bias's two mask inputs are drawn (M an indicator, P finite) and both are live: a bare
    nn.MultiheadAttention called with only the hard mask (M), or with M read as an additive bias, fails."""
    from derivations.mhsa_masked_bias import OPERATOR
    from evosym.testing.adapters import adapt
    binding = dict(OPERATOR.torch_binding, call=call)
    candidate, weights = adapt(_mha(batch_first=True), binding)
    with pytest.raises(AssertionError, match="differs from the proven operator"):
        assert_equivalent(candidate, "mhsa_masked_bias", sizes={"N": 2, "d": 4}, weights=weights, trials=1)
