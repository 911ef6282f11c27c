"""softmax-sums-to-one on weights masked by an input declared an *indicator* (0/1 with a 1 along its last axis in
every row: a key padding mask), E := V[r…, m]·exp(ℓ): Z > 0 follows from the premise only when the sum runs over
exactly V's last axis, V is read there at the summed variable itself and its other indices are provably inside V.
The premise is on input values, so only an input may carry it (the generated module checks it at every call,
``tests/test_attention_coverage.py``); every way of reading the mask that the premise does not cover is refused.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch

from evosym import Definition, InRange, TensorDecl, index, size
from evosym.errors import RuleError
from evosym.ir.tensors import in_domain
from evosym.proof.rules import get_rule
from evosym.proof.rules.base import Context
from evosym.proof.rules.softmax import visible_by_premise

B, C, L, K = size("B"), size("C"), size("L"), size("K")
b, o, i, m, m2 = (index(t) for t in "b o i m m_2".split())
X = sp.IndexedBase("x")
V, U = sp.IndexedBase("V"), sp.IndexedBase("U")
RULE = get_rule("softmax-sums-to-one")


def decls(**domains):
    """x, and the masks V (B, L), U (B, L), W (B, C, L), T (B, K) with the given domains (indicator by default)."""
    out = {"x": TensorDecl("x", (B, C, L), "input")}
    for name, shape in (("V", (B, L)), ("U", (B, L)), ("W", (B, C, L)), ("T", (B, K))):
        domain = domains.get(name, "indicator")
        out[name] = TensorDecl(name, shape, "input", domain=domain)
    return out


def apply(mask, *, z_hi=L - 1, tensors=None):
    ell = Definition("ell", (b, o, i, m), X[b, o, m], shape=(B, C, L, L))
    e = Definition("E", (b, o, i, m), mask * sp.exp(ell[b, o, i, m]), shape=(B, C, L, L))
    z = Definition("Z", (b, o, i), sp.Sum(e[b, o, i, m2], (m2, 0, z_hi)), shape=(B, C, L))
    a = Definition("attn", (b, o, i, m), e[b, o, i, m] / z[b, o, i], shape=(B, C, L, L))
    defs = {d.name: d for d in (ell, e, z, a)}
    ctx = Context({b: (0, B - 1), o: (0, C - 1), i: (0, L - 1)}, defs, frozenset({B, C, L, K}), "x",
                  tensors or decls())
    return RULE.apply(sp.Sum(a[b, o, i, m], (m, 0, z_hi)), ctx, name="attn", over=[m])


@pytest.mark.parametrize("mask", [V[b, m], sp.IndexedBase("W")[b, o, m]], ids=["per-sample", "per-sample-and-head"])
def test_an_indicator_over_the_summed_axis_proves_each_row_nonempty(mask):
    app = apply(mask)
    assert app.after == 1 and all(ob.proved for ob in app.obligations)
    text = " ".join(ob.render()[0] for ob in app.obligations)
    assert "declared 'indicator'" in text and "Z[b, o, i] > 0" in text


@pytest.mark.parametrize("mask", [
    V[b, i],                              # the query's position, not the summed key
    V[b, m + 1],                          # shifted: key L − 1 reads past the end, the premise's 1 may be missed
    V[b, L - 1 - m],                      # reversed (a bijection, but not the bare variable: not taken)
    V[b + 1, m],                          # another sample's row: not provably inside V
    V[b, m] ** 2,                         # a power of the read (equal on 0/1, but not the shape the rule takes)
    1 - V[b, m],                          # the hidden keys instead of the visible ones: every key of a row may be 1
], ids=["query-index", "shifted", "reversed", "other-row", "squared", "negated"])
def test_reads_the_premise_does_not_cover_are_refused(mask):
    with pytest.raises(RuleError, match="> 0 is not proved|is not a read of a definition"):
        apply(mask)


def test_an_indicator_beside_a_bracket_or_another_indicator_is_refused():
    """The premise gives each row some visible key, not one that also passes a bracket (a causal row 0 sees key 0
    only, which the mask may hide) or another mask."""
    for mask in (V[b, m] * InRange(m, 0, i), V[b, m] * U[b, m]):
        with pytest.raises(RuleError, match="not proved"):
            apply(mask)


def test_a_sum_over_part_of_the_axis_or_another_axis_is_refused():
    with pytest.raises(RuleError, match="not proved"):
        apply(V[b, m], z_hi=L - 2)                       # the row's 1 may be the last key
    with pytest.raises(RuleError, match="not proved|ill-formed|range"):
        apply(sp.IndexedBase("T")[b, m])                 # T's last axis has K entries, the sum runs over L
    assert visible_by_premise([V[b, m2]], [(m2, 1, L - 1)], {b: (0, B - 1)}, Context(tensors=decls())) is None
    assert visible_by_premise([V[b, m2]], [(m2, 0, L - 1)], {b: (0, B - 1)}, Context(tensors=decls())) is not None
    assert visible_by_premise([V[b, m2]], [(m2, 0, L - 1)], {}, Context(tensors=decls())) is None   # b's range unknown
    # an axis that may be empty (a size declared ≥ 0): no input has a 1 in it, so the premise proves nothing there
    K0 = size("K_0", zero=True)
    empty = {"E": TensorDecl("E", (B, K0), "input", domain="indicator")}
    E_ = sp.IndexedBase("E")
    assert visible_by_premise([E_[b, m2]], [(m2, 0, K0 - 1)], {b: (0, B - 1)}, Context(tensors=empty)) is None
    nonempty = {"E": TensorDecl("E", (B, K), "input", domain="indicator")}
    assert visible_by_premise([E_[b, m2]], [(m2, 0, K - 1)], {b: (0, B - 1)}, Context(tensors=nonempty)) is not None


@pytest.mark.parametrize("domain", ["real", "nonnegative", "finite"])
def test_a_mask_not_declared_an_indicator_proves_nothing(domain):
    with pytest.raises(RuleError, match="is not a read of a definition E := G·exp"):
        apply(V[b, m], tensors=decls(V=domain))


def test_only_an_input_may_be_declared_an_indicator():
    for role in ("parameter", "output"):
        with pytest.raises(ValueError, match="only an input with at least one axis can be declared an indicator"):
            TensorDecl("V", (B, L), role, domain="indicator")
    with pytest.raises(ValueError, match="only an input"):
        TensorDecl("V", (), "input", domain="indicator")
    # a context that smuggles in a parameter with the domain (bypassing the declaration) proves nothing either
    sneaky = decls()
    object.__setattr__(sneaky["V"], "role", "parameter")
    with pytest.raises(RuleError, match="is not a read of a definition E := G·exp"):
        apply(V[b, m], tensors=sneaky)


@pytest.mark.parametrize("draw", [lambda g, shape: torch.randn(shape, generator=g, dtype=torch.float64),
                                  lambda g, shape: torch.from_numpy(np.random.default_rng(0).integers(-3, 4, size=shape)),
                                  lambda g, shape: -torch.ones(shape)],
                         ids=["normal", "integers", "all-negative"])
def test_random_inputs_drawn_into_the_domain_keep_the_premise(draw):
    """What every check draws for an indicator: 0/1 entries, a 1 in every row, and some 0s (a mask that hides)."""
    t = TensorDecl("V", (B, L), "input", domain="indicator")
    g = torch.Generator().manual_seed(0)
    v = in_domain(t, draw(g, (64, 5)))
    assert set(torch.unique(v).tolist()) <= {0, 1} and bool((v == 1).any(-1).all())
    w = in_domain(t, draw(g, (64, 5)).numpy())
    assert set(np.unique(w).tolist()) <= {0, 1} and bool((w == 1).any(-1).all())


# -- a leading indicator: the first entry of every row is 1 (a right-padded mask), so key 0 is visible beside brackets

LEAD = decls(V="leading_indicator", U="leading_indicator", W="leading_indicator", T="leading_indicator")


@pytest.mark.parametrize("mask, z_hi", [
    (InRange(m, 0, i) * V[b, m], L - 1),      # causal and keys hidden per sample: key 0 passes [0 ≤ m ≤ i], V[b, 0] = 1
    (InRange(m, -3, i) * V[b, m], L - 1),     # a bracket reaching below 0 still passes at 0
    (V[b, m], i),                             # the row's sum over the keys 0 … i only
    (V[b, m], L - 1),                         # the whole axis: a leading indicator is an indicator
    (InRange(m, 0, i) * sp.IndexedBase("W")[b, o, m], L - 1),
], ids=["causal", "bracket-below-zero", "prefix-sum", "whole-axis", "per-head"])
def test_a_leading_indicator_proves_key_zero_visible_beside_brackets(mask, z_hi):
    app = apply(mask, z_hi=z_hi, tensors=LEAD)
    assert app.after == 1 and all(ob.proved for ob in app.obligations)
    text = " ".join(ob.render()[0] for ob in app.obligations)
    assert "Z[b, o, i] > 0" in text and ("'leading_indicator'" in text or "'indicator'" in text)


@pytest.mark.parametrize("mask", [
    InRange(m, 1, i) * V[b, m],               # the bracket hides key 0: query 0 sees no key
    InRange(m, i, L - 1) * V[b, m],           # anti-causal: key 0 passes only at query 0
    InRange(m, 0, i) * V[b, m + 1],           # shifted: V[b, 1] is the one read at key 0, and it may be 0
    InRange(m, 0, i) * V[b, L - 1 - m],       # reversed: key 0 reads V's last entry
    InRange(m, 0, i) * V[b + 1, m],           # another sample's row: not provably inside V
    InRange(m, 0, i) * V[b, i],               # the query's position, not the summed key
    InRange(m, 0, i) * V[b, m] * U[b, m],     # two masks (each leading; the rule takes one read)
    InRange(m, 0, i) * (1 - V[b, m]),         # the hidden keys: key 0 is hidden in every row
], ids=["bracket-hides-0", "anti-causal", "shifted", "reversed", "other-row", "query-index", "two-masks", "negated"])
def test_a_leading_indicator_does_not_cover_other_reads(mask):
    with pytest.raises(RuleError, match="> 0 is not proved|is not a read of a definition"):
        apply(mask, tensors=LEAD)


def test_a_plain_indicator_beside_the_causal_bracket_is_still_refused():
    """An indicator's 1 may be any key of the row: under [m ≤ i], row 0 sees key 0 only, which it may hide."""
    with pytest.raises(RuleError, match="not proved"):
        apply(InRange(m, 0, i) * V[b, m], tensors=decls())


def test_a_leading_indicator_needs_key_zero_inside_the_sum_and_the_axis():
    ctx = Context(tensors=LEAD)
    rows = {b: (0, B - 1), i: (0, L - 1)}
    causal = [InRange(m2, 0, i), V[b, m2]]
    assert visible_by_premise(causal, [(m2, 0, L - 1)], rows, ctx)[0] == "first"
    assert visible_by_premise(causal, [(m2, 1, L - 1)], rows, ctx) is None       # the sum starts after key 0
    assert visible_by_premise(causal, [(m2, 0, L - 1)], {i: (0, L - 1)}, ctx) is None   # b's range unknown
    K0 = size("K_0", zero=True)
    E_ = sp.IndexedBase("E")
    empty = Context(tensors={"E": TensorDecl("E", (B, K0), "input", domain="leading_indicator")})
    assert visible_by_premise([InRange(m2, 0, i), E_[b, m2]], [(m2, 0, K0 - 1)], rows, empty) is None
    with pytest.raises(ValueError, match="only an input"):
        TensorDecl("V", (B, L), "parameter", domain="leading_indicator")


def test_inputs_drawn_into_a_leading_indicator_keep_its_premise():
    t = TensorDecl("V", (B, L), "input", domain="leading_indicator")
    g = torch.Generator().manual_seed(0)
    for draw in (torch.randn((64, 5), generator=g, dtype=torch.float64), -torch.ones(8, 5)):
        v = in_domain(t, draw)
        assert set(torch.unique(v).tolist()) <= {0, 1} and bool((v[..., 0] == 1).all()) and v.dtype == draw.dtype
        w = in_domain(t, draw.numpy())
        assert set(np.unique(w).tolist()) <= {0, 1} and bool((w[..., 0] == 1).all())
    assert bool((in_domain(t, torch.randn((64, 5), generator=g)) == 0).any())   # and it hides some keys
