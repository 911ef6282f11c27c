"""softmax-limit's peak is one point, and the error-bound check tests something (an adversarial pass, 2026-12-07).

The hole: a peak q* that reads the key itself (q* = L − 1 − q, or q* = q) passed every precondition of the rule — the
well ℓ + α·(q − q*)² was free of q for a logit with no single minimum, and q* ∈ [0, L − 1] followed from q's own range —
and with ``errors=(), alphas=()`` the finite-α check compared nothing and printed ✓: PROVED, and a certificate that
verified, for lim A = δ(q, L − 1 − q), which is 0 where the true limit at even L is ½ on the two centre keys."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import sympy as sp

from evosym import Definition, Derivation, Global, Operator, SoftmaxLimit, TensorDecl, index, size
from evosym.proof import limit as LIM
from evosym.proof.proof import rule_context
from evosym.proof.rules import get_rule
from evosym.proof.rules.base import Obligation
from evosym.proof.rules.limits import collapse_deltas
from evosym.verify import _first_failure

B, C, L = size("B"), size("C"), size("L")
b, o, c, i, m, m2 = (index(s) for s in ("b", "o", "c", "i", "m", "m_2"))
alpha = TensorDecl("alpha", (1,), "parameter", "sharpness", latex=r"\alpha", text="α", domain="nonnegative")
A = alpha[0]


def _centre(t, sizes):
    """The true limit operator: the mean of the one or two keys nearest the centre (L − 1)/2, at every position."""
    xx, n = t["x"], sizes["L"]
    return ((xx[:, :, [n // 2]] + xx[:, :, [(n - 1) // 2]]) / 2).expand_as(xx)


def flat_well(minimiser, **limit) -> Operator:
    """y[b, o, i] = Σ_m A[i, m]·x[b, o, m], A the softmax over m of −α·(2m − L + 1)²: its deepest point is the
    centre (L − 1)/2, a key at odd L and between two keys at even L; ``minimiser`` is the peak the file claims."""
    x, y = TensorDecl("x", (B, C, L), "input"), TensorDecl("y", (B, C, L), "output")
    logit = Definition("logit", (i, m), -A * (2 * m - L + 1) ** 2, shape=(L, L))
    norm = Definition("Z", (i,), sp.Sum(sp.exp(logit[i, m2]), (m2, 0, L - 1)), shape=(L,))
    attn = Definition("attn", (i, m), sp.exp(logit[i, m]) / norm[i], shape=(L, L))

    def reference(arrays, sizes):
        n, a = sizes["L"], float(arrays["alpha"][0])
        w = np.exp(-a * (2 * np.arange(n) - n + 1.0) ** 2)
        return np.repeat(np.einsum("m,bcm->bc", w / w.sum(), arrays["x"].astype(float))[:, :, None], n, axis=2)
    spec = dict(weights="attn", sharpness=A, keys=(m,), minimiser=(minimiser,), target="x at the centre",
                target_reference=_centre)
    return Operator(name="flat_well", summary="", output=y, lhs_indices=(b, o, i),
                    traditional=sp.Sum(attn[i, m] * x[b, o, m], (m, 0, L - 1)), tensors=(x, alpha), batch=b,
                    out_channel=o, position=(i,), definitions=(logit, norm, attn),
                    sizes=((B, ""), (C, ""), (L, "")), grid=({B: 1, C: 1, L: 1}, {B: 2, C: 2, L: 3}, {B: 1, C: 1, L: 5}),
                    reference=reference, limit=SoftmaxLimit(**{**spec, **limit}))


def checked(op):
    d = Derivation(op)
    d.apply("introduce-delta", targets=[(o, c, 0, C - 1)], within=m)
    d.apply("name-kernel", name="K", channel=c, position=(m,), indices=(o, c, i, m))
    d.conclude(omega=Global((L,)), channel=c, neighbour=(m,))
    return d.proof().check()


def test_the_claimed_limit_is_false_at_even_lengths():
    """What the hole proved, evaluated: at L = 2 and 4 the weights at α = 40 are ½ on the centre keys, the claim
    δ(m, L − 1 − m) is 0 at every key (no key is its own reflection at even L)."""
    for n in (2, 4):
        w = np.exp(-40.0 * (2 * np.arange(n) - n + 1.0) ** 2)
        w /= w.sum()
        claimed = [float(k == n - 1 - k) for k in range(n)]
        assert np.allclose(w[[n // 2 - 1, n // 2]], 0.5) and claimed == [0.0] * n


@pytest.mark.parametrize("peak", ["reflected key", "the key itself"])
@pytest.mark.parametrize("values", ["none", "default"])
def test_a_peak_that_reads_the_key_is_no_point_and_the_limit_is_not_proved(peak, values):
    minimiser = {"reflected key": L - 1 - m, "the key itself": m}[peak]
    kw = dict(errors=(), alphas=()) if values == "none" else {}
    cp = checked(flat_well(minimiser, **kw))
    assert not cp.ok
    step = cp.limit.steps[0]
    assert not step.check.general
    point = [o_ for o_ in step.obligations if "is one point for each index" in o_.text]
    assert len(point) == 1 and not point[0].proved and point[0].refuted and str(point[0]).endswith("(it mentions (m,))")
    assert not cp.limit.bound.ok   # empty: nothing compared; default: q* is no key, every weight counts off it
    # verify's message (it once raised IndexError: the limit's failures were not among the proof's): the exact limit
    # where the grid shows the claim false (q* = q), else the bound check
    first = "limit step 1" if peak == "the key itself" else "error bound at finite α"
    assert _first_failure(cp).startswith(first) and cp.failures()[0].splitlines()[0] == _first_failure(cp)


def test_the_true_centre_is_one_point_but_no_integer_at_every_length():
    """The same well with its true centre (L − 1)/2 (a key at the odd lengths of the grid): one point, not shown
    integer for every L, so the step is bounded, not refused."""
    cp = checked(flat_well((L - 1) / 2))
    step = cp.limit.steps[0]
    assert not step.check.general
    assert [o_.proved for o_ in step.obligations if "is one point" in o_.text] == [True]


def _rule(definition, minimiser):
    """softmax-limit applied to lim_{α→∞} attn[i, m] with ``definition`` as the logit."""
    op = flat_well(m)
    defs = {"logit": definition, "Z": Definition("Z", (i,), sp.Sum(sp.exp(definition.base[i, m2]), (m2, 0, L - 1)),
                                                    shape=(L,))}
    defs["attn"] = Definition("attn", (i, m), sp.exp(definition.base[i, m]) / defs["Z"].base[i], shape=(L, L))
    return get_rule("softmax-limit").apply(sp.Limit(defs["attn"].base[i, m], A, sp.oo), rule_context(op, defs),
                                           name="attn", sharpness=A, peak=((m, minimiser),))


def test_a_peak_that_moves_with_the_sharpness_is_no_limit():
    """ℓ = −α·(m − min(L − 1, ⌊α⌋))²: the well is exact and the peak a key, but it moves with α (the true limit is
    δ(m, L − 1)); a claim δ(m, min(L − 1, ⌊α⌋)) still reads α, and is refused."""
    peak = sp.Min(L - 1, sp.floor(A))
    app = _rule(Definition("logit", (i, m), -A * (m - peak) ** 2, shape=(L, L)), peak)
    point = [o_ for o_ in app.obligations if "is one point" in o_.text]
    assert len(point) == 1 and point[0].refuted and str(point[0]).endswith("(it mentions (alpha[0],))")
    assert all(o_.proved for o_ in app.obligations if "free of" in o_.text)   # (the well itself is right)


def test_a_peak_at_the_query_keeps_the_rule_general():
    app = _rule(Definition("logit", (i, m), -A * (m - i) ** 2 + i, shape=(L, L)), i)
    assert all(o_.proved for o_ in app.obligations), [str(o_) for o_ in app.obligations if not o_.proved]


@pytest.mark.parametrize("alphas, errors, why", [
    ((), (1e-2,), "declares no sharpness"),
    ((-1.0,), (), "α = -1.0 is not a finite number > 0"),
    ((0,), (), "α = 0 is not a finite number > 0"),
    ((1.0, math.nan), (), "α = nan"),
    ((math.inf,), (), "α = inf"),
    ((True,), (), "α = True"),
    ((1.0,), (2.0,), "error 2.0 is not a finite number in [1e-300, 2)"),
    ((1.0,), (5e-324,), "error 5e-324"),   # (its α was log(0): a math domain error, an adversarial pass found)
    ((1.0,), (0.0,), "error 0.0"),
    ((1.0,), (-0.5,), "error -0.5"),
    ((1.0,), (math.nan,), "error nan"),
])
def test_sharpness_values_and_errors_that_test_nothing_fail_the_bound_check(alphas, errors, why):
    spec = replace(flat_well(L - 1 - m).limit, alphas=alphas, errors=errors)
    assert why in LIM._error_values(spec)
    rows, needed, result = LIM._errors(spec, [])
    assert not result.ok and result.message.startswith("not checked: ") and rows == needed == ()


def test_integer_sharpness_values_are_numbers_and_tiny_errors_have_their_alpha():
    spec = replace(flat_well(L - 1 - m).limit, alphas=(1, 10), errors=(1e-2, 1e-300))
    assert LIM._error_values(spec) == "" and 690 < LIM.alpha_for(1e-300, 1) < 695


def test_a_peak_that_reads_a_definition_or_a_tensor_is_no_point():
    """q* = min(L − 1, ⌊D[i]⌋) with D := α (α moving the peak through a definition), or a peak read from a tensor:
    one point is given by the sizes and A's other indices only."""
    D = sp.IndexedBase("D")
    for peak in (sp.Min(L - 1, sp.floor(D[i])), sp.IndexedBase("x")[0, 0, i]):
        app = _rule(Definition("logit", (i, m), -A * (m - i) ** 2, shape=(L, L)), peak)
        point = [o_ for o_ in app.obligations if "is one point" in o_.text]
        assert len(point) == 1 and point[0].refuted and "[" in str(point[0]).rsplit("(it mentions", 1)[1]


def test_collapsing_a_delta_needs_no_other_range_to_read_its_variable():
    """Σ_{q=0}^{L−1} Σ_{u=0}^{q} δ(q, 2)·x[u] is Σ_{u=0}^{2} x[u] (L ≥ 3); substituting q only in the summand would
    leave Σ_{u=0}^{q} with q free: refused, not rewritten."""
    q, u = index("q"), index("u")
    X = sp.IndexedBase("x")
    obligations: list[Obligation] = []
    collapse_deltas(sp.Sum(sp.KroneckerDelta(q, 2) * X[u], (u, 0, q), (q, 0, L - 1)), {}, obligations)
    bound = [o_ for o_ in obligations if "no other sum's range mentions" in o_.text]
    assert len(bound) == 1 and bound[0].refuted and str(bound[0]).endswith("(the range of (u,) does)")
    obligations.clear()
    collapse_deltas(sp.Sum(sp.KroneckerDelta(q, 2) * X[u], (u, 0, L - 1), (q, 0, L - 1)), {}, obligations)
    assert [o_.proved for o_ in obligations if "no other sum's range" in o_.text] == [True]
