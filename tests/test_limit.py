"""The α → ∞ limit (Cordonnier: attention → convolution): the steps, the pad-and-crop condition, the
target comparison, the error bound, and that each of them can fail."""

from dataclasses import replace

import pytest
import sympy as sp

from evosym import Definition
from evosym.catalogue import load
from evosym.printers.latex import render_latex
from evosym.printers.markdown import render_markdown
from evosym.printers.text import render_text
from evosym.proof import limit as L
from evosym.proof.proof import rule_context
from evosym.proof.rules import get_rule


@pytest.fixture(scope="module")
def cordonnier():
    mod = load("cordonnier_attention")
    return mod, mod.proof()


@pytest.fixture(scope="module")
def checked(cordonnier):
    return cordonnier[1].check()


def test_the_limit_is_proved_and_the_limit_operator_is_the_convolution(checked):
    assert checked.ok and checked.limit is not None and checked.limit.ok
    rules = [s.rule for s in checked.limit.steps]
    assert rules == ["softmax-limit", "limit-of-kernel"]
    assert all(s.check.general for s in checked.limit.steps)
    i, j, u, v, m, n = (sp.Symbol(t, integer=True) for t in "i j u v m n".split())
    assert checked.limit.steps[0].after == sp.KroneckerDelta(m, i + u) * sp.KroneckerDelta(n, j + v)
    assert checked.limit.target.ok and checked.limit.target.name.startswith("limit operator = conv2d")
    # K∞ reads only W_O and deltas: the convolution's kernel
    k_inf = checked.limit.steps[1].after
    assert {str(r.base.label) for r in k_inf.atoms(sp.Indexed)} == {"WO"}


def test_the_error_table_respects_the_bound_and_gives_alpha_for_each_error(checked):
    lim = checked.limit
    for alpha, measured, bound in lim.rows:
        assert measured <= bound * (1 + 1e-9)
    by_alpha = {a: m for a, m, _ in lim.rows}
    assert by_alpha[4.5] > 0.05          # α = 4.5 is not enough: 8 % of the weight is off the peak
    assert by_alpha[50.0] < 1e-20        # α = 50 is
    for err, from_bound, measured in lim.needed:
        assert measured <= from_bound    # the bound is valid, so it never asks for less than needed
        assert L.weight_bound(from_bound, lim.dims) == pytest.approx(err, rel=1e-9)
        assert L._measured(_entries(checked), measured) <= err * (1 + 1e-9)
        assert L._measured(_entries(checked), measured * 0.99) > err   # and that α is (nearly) the least one


def _entries(checked):
    op = checked.operator
    defs = checked.proof.definitions()
    return L._entries(op, defs, defs[op.limit.weights], op.limit, op.grid)


def test_bound_formulas():
    assert L.theta(50.0) == pytest.approx(1.0)
    assert L.weight_bound(0.0, 2) == 2.0
    for alpha in (0.5, 3.0, 20.0, 60.0):
        t = sp.exp(-sp.Float(alpha, 50))
        exact = 2 * (1 - ((1 - t) / (1 + t)) ** 2)
        assert L.weight_bound(alpha, 2) == pytest.approx(float(exact), rel=1e-12)
        assert L.alpha_for(L.weight_bound(alpha, 2), 2) == pytest.approx(alpha, rel=1e-9)


def test_a_wrong_peak_is_refuted(cordonnier):
    """Peak one row too high: the well is not centred there (precondition fails) and the exact limit differs."""
    mod, proof = cordonnier
    op = mod.operator
    i, j, u, v = (sp.Symbol(t, integer=True) for t in "i j u v".split())
    bad = replace(op, limit=replace(op.limit, minimiser=(i + u - 1, j + v)))
    report = L.check_limit(replace(proof, operator=bad), op.grid, L.run_limit_target(bad, op.grid))
    step = report.steps[0]
    assert not report.ok and not step.check.ok and not step.check.general
    assert any(not o.proved and "free of" in o.text for o in step.obligations)
    assert "exact limit" in step.check.counterexample.left


def test_without_pad_and_crop_the_peak_leaves_the_keys_and_the_limit_is_not_the_convolution(cordonnier):
    """Keys = the unpadded input, query at (i, j): at the border the best key p + Δ_h is outside, so the
    pad-and-crop precondition is not proved and the exact limit peaks at the nearest key instead."""
    mod, proof = cordonnier
    op = mod.operator
    defs = dict(proof.definitions())
    m_ = mod.module
    H, W_, R, K = m_.H, m_.W_, m_.R, m_.K
    u, v, i, j, m, n, m2, n2 = m_.u, m_.v, m_.i, m_.j, m_.m, m_.n, m_.m2, m_.n2
    alpha = m_.alpha
    logit = Definition("logit", (u, v, i, j, m, n),
                       -alpha[0] * ((m - i - (u - R)) ** 2 + (n - j - (v - R)) ** 2 - (u - R) ** 2 - (v - R) ** 2),
                       shape=(K, K, H, W_, H, W_))
    norm = Definition("Z", (u, v, i, j), sp.Sum(sp.exp(logit[u, v, i, j, m2, n2]), (n2, 0, W_ - 1), (m2, 0, H - 1)),
                      shape=(K, K, H, W_))
    attn = Definition("attn", (u, v, i, j, m, n), sp.exp(logit[u, v, i, j, m, n]) / norm[u, v, i, j],
                      shape=(K, K, H, W_, H, W_))
    defs.update(logit=logit, Z=norm, attn=attn)
    spec = replace(op.limit, minimiser=(i + u - R, j + v - R))
    app = get_rule("softmax-limit").apply(sp.Limit(attn.lhs, spec.sharpness, sp.oo), rule_context(op, defs),
                                          name="attn", sharpness=spec.sharpness, peak=tuple(zip(spec.keys, spec.minimiser)))
    in_range = [o for o in app.obligations if "the peak is one of the keys" in o.text]
    assert len(in_range) == 2 and not any(o.proved for o in in_range)
    assert all(o.proved for o in app.obligations if "free of" in o.text)   # the well itself is right
    ce = L._exact_limit(attn, app.after, L._entries(op, defs, attn, spec, op.grid))
    assert ce is not None and "exact limit = 1" in ce.left and "claimed = 0" in ce.right


def test_a_wrong_weight_map_fails_the_target_check(cordonnier):
    """The constructive map with the taps transposed (u ↔ v) is not the convolution."""
    mod, proof = cordonnier
    op, m_ = mod.operator, mod.module
    import torch.nn.functional as F

    def transposed(t, sizes):
        w = m_.conv_weight(t["WO"], sizes).transpose(2, 3)
        return F.conv2d(t["x"], w, t["bO"], padding=sizes["R"])
    bad = replace(op, limit=replace(op.limit, target_reference=transposed))
    report = L.check_limit(replace(proof, operator=bad), op.grid, L.run_limit_target(bad, op.grid))
    assert not report.target.ok and not report.steps[1].check.ok and not report.ok
    assert report.steps[0].check.ok


def test_a_bound_that_is_too_tight_is_caught(cordonnier, monkeypatch):
    mod, proof = cordonnier
    monkeypatch.setattr(L, "weight_bound", lambda alpha, dims: 2 * (1 - L.theta(alpha) ** -dims) / 10 if alpha > 0 else 2.0)
    report = L.check_limit(proof, mod.operator.grid, L.run_limit_target(mod.operator, mod.operator.grid))
    assert not report.bound.ok and not report.ok


def test_limit_of_kernel_refuses_a_kernel_that_keeps_the_sharpness(cordonnier):
    mod, proof = cordonnier
    op = mod.operator
    defs = dict(proof.definitions())
    k = defs["K"]
    defs["K"] = Definition("K", k.params, k.body * (1 + op.limit.sharpness))
    app = get_rule("limit-of-kernel").apply(sp.Limit(k.lhs, op.limit.sharpness, sp.oo), rule_context(op, defs), name="K",
                                            weights="attn", sharpness=op.limit.sharpness,
                                            peak=tuple(zip(op.limit.keys, op.limit.minimiser)))
    assert any(not o.proved and "only through" in o.text for o in app.obligations)


def test_the_proof_prints_the_limit_in_every_format(checked):
    text = render_text(checked)
    assert "Limit α → ∞: conv2d(x, W_conv, b_O, padding=R)" in text
    assert "Limit step 1. softmax-limit" in text and "lim_{α→∞} A[u, v, i, j, m, n] = δ(m, i + u)·δ(n, j + v)" in text
    assert "0 ≤ i + u ≤ H + 2·R - 1 (the peak is one of the keys)" in text
    assert "needed for a given error" in text
    md = render_markdown(checked)
    assert "Limit $\\alpha \\to \\infty$" in md and "| 4.5 |" in md
    tex = render_latex(checked)
    assert "\\subsection*{Limit $\\alpha \\to \\infty$" in tex and "\\lim_{\\alpha \\to \\infty}" in tex
    assert tex.isascii()


def test_an_operator_without_a_limit_has_no_limit_section():
    cp = load("conv1d").proof().check()
    assert cp.limit is None and "Limit" not in render_text(cp)
