"""The sharpness of a limit is a parameter that can grow on its own, and a kernel's limit is its value at the
weights' limit only where it is a polynomial in them (evosym/proof/rules/limits.py: sharpness_problem, continuous_in).

An adversarial pass (2026-12-07) had three limit sections PROVED and VERIFIED with the sharpness a definition s[0]
read by the logits: s := −α (α ≥ 0, so s never grows: the weights go to the farthest keys), s := 1 (no parameter at
all) and s := α/(1 + α) (bounded by 1) — each claimed the identity as the limit. And a kernel sign(A), which is 1 at
every finite sharpness, had its limit taken as sign(δ) (refused then only by the support check)."""

from __future__ import annotations

import pytest
import sympy as sp

from evosym import Definition, Derivation, Global, Operator, SoftmaxLimit, TensorDecl, index, size

B, C, L = size("B"), size("C"), size("L")
b, o, c, i, m, m2, k = (index(s) for s in ("b", "o", "c", "i", "m", "m_2", "k"))
alpha = TensorDecl("alpha", (1,), "parameter", "sharpness", latex=r"\alpha", text="α", domain="nonnegative")
beta = TensorDecl("beta", (1,), "input", "a sharpness given as an input")
x, y = TensorDecl("x", (B, C, L), "input"), TensorDecl("y", (B, C, L), "output")


def well(sharpness, *, definitions=(), kernel=lambda a: a, tensors=(x, alpha)):
    """y[b, o, i] = Σ_m kernel(A[i, m])·x[b, o, m], A the softmax over m of −S·(m − i)², claimed to tend to the
    identity as S → ∞."""
    logit = Definition("logit", (i, m), -sharpness * (m - i) ** 2, shape=(L, L))
    norm = Definition("Z", (i,), sp.Sum(sp.exp(logit[i, m2]), (m2, 0, L - 1)), shape=(L,))
    attn = Definition("attn", (i, m), sp.exp(logit[i, m]) / norm[i], shape=(L, L))
    op = Operator(name="well", summary="", output=y, lhs_indices=(b, o, i),
                  traditional=sp.Sum(kernel(attn[i, m]) * x[b, o, m], (m, 0, L - 1)), tensors=tensors, batch=b,
                  out_channel=o, position=(i,), definitions=(*definitions, logit, norm, attn),
                  sizes=((B, ""), (C, ""), (L, "")), grid=({B: 1, C: 1, L: 1}, {B: 2, C: 2, L: 3}),
                  limit=SoftmaxLimit(weights="attn", sharpness=sharpness, keys=(m,), minimiser=(i,), target="identity",
                                     target_reference=lambda t, sizes: t["x"].clone()))
    d = Derivation(op)
    d.apply("introduce-delta", targets=[(o, c, 0, C - 1)], within=m)
    d.apply("name-kernel", name="K", channel=c, position=(m,), indices=(o, c, i, m))
    d.conclude(omega=Global((L,)), channel=c, neighbour=(m,))
    return d.proof().check(reference=False)


def test_a_parameter_s_entry_is_a_sharpness():
    cp = well(alpha[0])
    assert cp.limit is not None and all(s.check.ok and s.check.general for s in cp.limit.steps), cp.failures()


@pytest.mark.parametrize("body, words", [
    (-alpha[0], "it reads s, a definition, not a parameter"),                 # never grows (α ≥ 0)
    (sp.Integer(1), "it reads s, a definition, not a parameter"),             # no parameter at all
    (alpha[0] / (1 + alpha[0]), "it reads s, a definition, not a parameter"),  # bounded by 1
])
def test_a_sharpness_read_through_a_definition_is_refused(body, words):
    s = Definition("s", (k,), body, "the sharpness, as a definition", shape=(1,))
    cp = well(s[0], definitions=(s,))
    step = cp.limit.steps[0]
    assert not cp.ok and not step.check.ok and "the sharpness s[0] cannot tend to ∞ on its own" in step.check.message
    assert words in step.check.message
    grows = [ob for ob in step.obligations if "is an entry of a declared parameter" in ob.text]
    assert len(grows) == 1 and grows[0].refuted and not step.check.general


@pytest.mark.parametrize("sharpness, tensors, words", [
    (beta[0], (x, beta), "beta is declared an input, not a parameter"),
    (L, (x, alpha), "L is not a read of a parameter"),
])
def test_a_sharpness_that_is_no_parameter_is_refused(sharpness, tensors, words):
    cp = well(sharpness, tensors=tensors)
    assert not cp.ok and words in cp.limit.steps[0].check.message


@pytest.mark.parametrize("kernel", [sp.sign, sp.Heaviside, lambda a: sp.Max(a, sp.Rational(1, 2)) ** 0 * sp.sign(a)])
def test_a_kernel_that_jumps_at_the_limit_is_refused(kernel):
    """sign(A) is 1 at every finite sharpness (A > 0): its limit is 1, not sign(δ); a polynomial in A keeps its."""
    cp = well(alpha[0], kernel=kernel)
    step = cp.limit.steps[1]
    assert not cp.ok and not step.check.ok and "K is not a polynomial in the reads of attn" in step.check.message
    squared = well(alpha[0], kernel=lambda a: a ** 2)   # A² → δ² = δ: a polynomial, and the identity again
    assert squared.limit.steps[1].check.ok, squared.limit.steps[1].check.message
