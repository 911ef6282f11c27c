"""A causal softmax written as the proof states it, E = [m ≤ i]·exp(ℓ), A = E/Σ E, is generated as
torch's softmax of ℓ with −∞ where the mask hides a key: the same ratio, computed with the maximum
subtracted, so float32 logits far beyond exp's range (≈ 88) still give PyTorch's result."""

from __future__ import annotations

import pytest
import sympy as sp
import torch

from evosym.facts.softmax import rewrite_softmax
from evosym.ir.symbols import InRange, index, size
from evosym.ir.tensors import Definition
from test_codegen_runtime import load


@pytest.mark.parametrize("name, cls, sizes", [("mhsa_causal", "MhsaCausalEvolution", dict(N=2, d=3)),
                                              ("gqa_causal", "GqaCausalEvolution", None)])
def test_large_logits_in_float32_match_pytorch(name, cls, sizes):
    module = load(name)
    text = open(module.__file__, encoding="utf-8").read()
    assert "masked_fill" in text and "torch.exp(" not in text, "the causal softmax is not generated as a softmax"
    klass = getattr(module, cls)
    if sizes is None:   # GQA: its own sizes (query heads, key/value heads, channels per head)
        sizes = {n: 2 for n in klass.__init__.__code__.co_varnames[1:klass.__init__.__code__.co_argcount]}
    torch.manual_seed(0)
    layer = klass(**sizes)
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_()
    channels = next(iter(layer.parameters())).shape[-1]   # the query projection's input width, C
    x = 30 * torch.randn(2, channels, 7)   # logits of order 10³: exp alone overflows float32
    with torch.no_grad():
        y = layer(x)
        assert torch.isfinite(y).all()
        y64 = layer.double()(x.double())
    torch.testing.assert_close(y.double(), y64, rtol=1e-3, atol=1e-3 * float(y64.abs().max()))


def test_a_numerator_that_is_not_what_the_denominator_sums_is_left_alone():
    b, i, m, m2 = index("b"), index("i"), index("m"), index("m_2")
    L = size("L")
    ell = Definition("logit", (b, i, m), sp.Indexed(sp.IndexedBase("x"), b, i, m), "ℓ", shape=(size("B"), L, L))
    E = Definition("E", (b, i, m), InRange(m, 0, i) * sp.exp(ell.base[b, i, m]), "E", shape=ell.shape)
    F = Definition("F", (b, i, m), InRange(m, i, L - 1) * sp.exp(ell.base[b, i, m]), "F", shape=ell.shape)
    Z = Definition("Z", (b, i), sp.Sum(E.base[b, i, m2], (m2, 0, L - 1)), "Z", shape=(size("B"), L))
    defs = {d.name: d for d in (ell, E, F, Z)}
    good, found, _ = rewrite_softmax(E.base[b, i, m] / Z.base[b, i], defs)
    assert list(found) == ["masked_softmax_logit"] and found["masked_softmax_logit"].mask == InRange(m, 0, i)
    for wrong in (F.base[b, i, m] / Z.base[b, i], sp.exp(ell.base[b, i, m]) / Z.base[b, i]):
        same, found, _ = rewrite_softmax(wrong, defs)
        assert found == {} and same == wrong
