"""Mutants of the checker's reading of numbers (holes 27–29): SymPy evaluates a function of a symbolic argument when it
builds it, from the symbols' assumptions, and a fold that is wrong for some of their values lets a rule that
substitutes a variable change the operator's value while the step is checked as an identity (27); mobius-sum's
identity is about a sum as a whole, so its n must not read the summed variable, whose range the rule's other
obligations leave out (28); numbers and functions the exact evaluator keeps as independent atoms may be related
(sin²m + cos²m = 1), so a polynomial in them that is not 0 by its coefficients may still be 0, and the support of K
counts a tap only where K is proved non-zero (29); the bounded comparison took SymPy's simplification for equality,
which decides sign and Heaviside of a number by its own evaluation (30); a quotient by a value that is 0 in disguise
cancelled to 1 (31); a number in the subnormal range was given the error bound of a normal one (32); a division by a
value that is 0 for every input was an atom like any other, equal to itself (33); an indicator's entries were read as
any real number, so M − M², 0 at every 0/1 input, was not 0 (34); a function of an entry was an atom wherever it
was read, μ(W) + μ(1 − W) too, which has no value at any W (35). Killed as in
:mod:`.trust_mutants`: the hostile example gets through the checker without the fix, not through the real one.
"""

from __future__ import annotations

import contextlib
import dataclasses
from unittest import mock

import sympy as sp
from sympy.core.cache import clear_cache

from .. import Definition, Derivation, Global, TensorDecl, Window, WindowAxis, index
from ..ir import numbers as NU
from ..proof import bounded as BD
from ..proof import evaluate as EV
from ..proof import magnitude as MG
from ..proof import poly as PY
from ..proof import proof as PF
from ..proof import support as SU
from ..proof.rules import divisors as DV
from .registry import mutant
from .trust_mutants import (B, C, CATEGORY, IDENTITY, K, L, P, W, X, _checked, _witness_shape, b, c, i, o, q, toy,
                            trial)

a = sp.Symbol("a", integer=True, positive=True)   # (a binder over [1, L]: positive, as its range allows)
e, m = index("e"), index("m")


@contextlib.contextmanager
def _sympy_fold():
    """SymPy's own fold of μ, which multiplies the signs of a product's numeric factors and drops its symbols."""
    clear_cache()
    try:
        with mock.patch.object(sp.mobius, "eval", classmethod(NU._SYMPY_EVAL)):
            yield
    finally:
        clear_cache()   # (what it folded is not left in SymPy's cache for the real checker)


def folded_mobius_proof():
    """y = Σ_{a=1}^{L} x[b, o, a − 1] + (K − 1)(K − 2)·Σ_{e=1}^{L} μ(2e)·x[b, o, e − 1], the two sums merged over a
    (an adversarial pass, 2026-12-07): SymPy rebuilt μ(2e) as μ(2a), a declared positive, and folded it to −1,
    so the derivation's kernel is (1 − (K − 1)(K − 2))·δ(c, o)·δ(m, a − 1) and every step general; the grid's
    K = 1, 2 hide the term, at K = 3 and L = 3 it is −x where the operator gives x. The derivation is recorded
    with SymPy's fold (an operator file's process may restore it) and checked with the checker's."""
    merged = sp.Sum(sp.mobius(2 * e) * X[b, o, e - 1], (e, 1, L))
    op = toy(sp.Sum(X[b, o, a - 1], (a, 1, L)) + (K - 1) * (K - 2) * merged,
             grid=({B: 1, C: 2, L: 3, K: 1, P: 0}, {B: 2, C: 1, L: 4, K: 2, P: 0}))
    d = Derivation(op)
    with _sympy_fold():
        d.apply("move-into-sum", factor=(K - 1) * (K - 2), into=e)
        d.apply("merge-sums", first=a, second=e, common=X[b, o, a - 1])
        d.apply("introduce-delta", targets=[(o, c, 0, C - 1), (a - 1, m, 0, L - 1)], within=a)
        d.apply("exchange-sums", outer=[a], inner=[m, c])
        d.apply("factor-out", factor=X[b, c, m], over=[a])
        d.apply("name-kernel", name="Kn", channel=c, position=(m,), indices=(o, c, i, m))
        d.conclude(omega=Global((L,)), channel=c, neighbour=(m,))
    return d.proof().check(reference=False)


@mutant(CATEGORY, "hole 27: SymPy's fold of μ(2a), −1 for a declared positive (μ(4) = 0): merge-sums rebuilt μ(2e) as "
                  "μ(2a), every step general, false at K = 3")
def mobius_folded_by_sympy():
    return trial("evosym's fold of μ (at integers only)", folded_mobius_proof, _sympy_fold)


def dependent_mobius_proof():
    """y = x[b, o, i]·(1 + Σ_{d=1}^{K+2} [d | n]·μ(d)) with n = (d mod K) + 2, read as Σ_{d | n} μ(d) = [n = 1]: the
    outer ranges alone give n ≥ 2, so the sum became δ(1, n) and SymPy folded that to 0, y = x[b, o, i] (an
    adversarial pass, 2026-12-07). The sum is 0 at K = 1 (the grid) and −1 at K = 2, where y = 0."""
    dv = sp.Symbol("d", integer=True, positive=True)   # (a binder over [1, K + 2])
    n = sp.Mod(dv, K) + 2
    op = toy(X[b, o, i] * (1 + sp.Sum(DV.divides(dv, n) * sp.mobius(dv), (dv, 1, K + 2))),
             grid=({B: 1, C: 2, L: 3, K: 1, P: 0}, {B: 2, C: 1, L: 2, K: 1, P: 1}))
    d = Derivation(op)
    d.apply("mobius-sum", over=dv, n=n, e=1)
    d.apply("introduce-delta", targets=[(o, c, 0, C - 1), (i, q, 0, L - 1)])
    d.apply("name-kernel", name="Kn", channel=c, position=(q,), indices=(o, c, i, q))
    d.conclude(omega=IDENTITY, channel=c, neighbour=(q,))
    return d.proof()


@mutant(CATEGORY, "hole 28: mobius-sum with an n that reads the summed variable (n = (d mod K) + 2: n ≥ 2 from the "
                  "outer ranges, the sum folded to 0) labelled general, −1 at K = 2")
def mobius_over_a_dependent_n():
    return trial("mobius-sum's obligation that n and e are constants of the sum", _checked(dependent_mobius_proof),
                 lambda: mock.patch.object(DV, "constant_over", lambda node, *exprs: True), step=0,
                 witness=_witness_shape(({B: 1, C: 1, L: 2, K: 2, P: 0},)), level="general-only")


def vanishing_tap_proof():
    """y = Σ_c Σ_m δ(c, o)·(δ(m, i) + δ(m, i + 1)·(sin²m + cos²m − 1))·x[b, c, m], the identity, concluded with the
    two-tap window {i, i + 1}: the second tap is 0 everywhere, but sin 2, cos 2 … are atoms to the exact evaluator and
    the polynomial sin²2 + cos²2 − 1 in them is not 0 by its coefficients (an adversarial pass, 2026-12-07)."""
    return _two_tap_proof(sp.sin(m) ** 2 + sp.cos(m) ** 2 - 1)


def _two_tap_proof(factor, definitions=(), inputs=()):
    """y = Σ_c Σ_m δ(c, o)·(δ(m, i) + δ(m, i + 1)·``factor``)·x[b, c, m], concluded with the two-tap window {i, i + 1}:
    the identity, with a second tap whose factor is 0 for every admissible input, so the window is false."""
    tap = sp.KroneckerDelta(m, i) + sp.KroneckerDelta(m, i + 1) * factor
    op = toy(sp.Sum(sp.KroneckerDelta(c, o) * tap * X[b, c, m], (m, 0, L - 1), (c, 0, C - 1)), definitions=definitions,
             grid=({B: 1, C: 2, L: 4, K: 1, P: 0}, {B: 2, C: 1, L: 3, K: 1, P: 0}))
    d = Derivation(dataclasses.replace(op, tensors=op.tensors + tuple(inputs)))
    d.apply("name-kernel", name="Kn", channel=c, position=(m,), indices=(o, c, i, m))
    d.conclude(omega=Window((WindowAxis(2, 1, 1, 0, L),)), channel=c, neighbour=(m,))
    return d.proof()


def _atoms_independent():
    """The support check of old: a polynomial in the atoms that is not 0 by its coefficients counts as non-zero."""
    stack = contextlib.ExitStack()
    stack.enter_context(mock.patch.object(SU, "nonzero", lambda v: not PY.is_zero(v)))
    stack.enter_context(mock.patch.object(SU, "vanishes", PY.is_zero))
    return stack


@mutant(CATEGORY, "hole 29: the support of K counting a tap whose factor sin²m + cos²m − 1 is 0 everywhere (a "
                  "polynomial in the atoms sin 2, cos 2 …): a two-tap Ω PROVED for the identity")
def support_counts_related_atoms():
    return trial("the support check's proof that a tap of Ω is non-zero", _checked(vanishing_tap_proof),
                 _atoms_independent)



UP, TINY = sp.log(sp.Rational(10**60 + 1, 10**60)), sp.Rational(1, 10**61)   # log(1 + 10⁻⁶⁰) > 10⁻⁶¹
t = index("t")


def dropped_term_proof(body):
    """y = Σ_c δ(c, o)·x[b, c, i] + G[i + L], G[t] = ``body``, the identity with G's read (past every output position) rewritten
    as Σ_m δ(m, i + L)·G[m] over [0, L − 1], which is 0: a step that drops G[i + L] and that only the bounded
    comparison judges (the read's range is not proved). Where the body is not 0 the step is false."""
    def build(*definitions):
        G = Definition("G", (t,), body)
        op = toy(sp.Sum(sp.KroneckerDelta(c, o) * X[b, c, i], (c, 0, C - 1)) + sp.IndexedBase("G")[i + L],
                 definitions=(G,) + definitions, grid=({B: 1, C: 2, L: 3, K: 1, P: 0}, {B: 2, C: 1, L: 2, K: 1, P: 0}))
        d = Derivation(op)
        d.apply("introduce-delta", targets=[(i + L, m, 0, L - 1)])
        d.apply("introduce-delta", targets=[(i, q, 0, L - 1)], within=c)
        d.apply("name-kernel", name="Kn", channel=c, position=(q,), indices=(o, c, i, q))
        d.conclude(omega=IDENTITY, channel=c, neighbour=(q,))
        return d.proof().check(reference=False)
    return build


@mutant(CATEGORY, "hole 30: the bounded comparison taking SymPy's simplification for equality: sign(t·log(1 + 10⁻⁶⁰) − "
                  "t·10⁻⁶¹) + 1, which is 2, made 0, and a step dropping it PROVED")
def sympy_decides_a_sign():
    body = (sp.sign((t + 1) * UP - (t + 1) * TINY) + 1) * W[0, 0]   # (t keeps SymPy from folding it at construction)
    return trial("the bounded comparison's conditions on SymPy's word", lambda: dropped_term_proof(body)(),
                 lambda: mock.patch.object(BD, "_sympy_may_decide", lambda diff: True))


ZERO = sp.sin(t) ** 2 + sp.cos(t) ** 2 - 1   # (0 everywhere; two definitions of it keep SymPy from cancelling D/D)


def _divisions_unchecked():
    """The evaluator of old: a division by a value that is not exactly 0 is an atom, whether or not it is proved
    non-zero."""
    return mock.patch.object(EV, "_divisor", lambda v, what: v)


def _quotients_cancelled():
    """Hole 31's mutation: quotients cancel by any denominator (and, as before hole 33, the evaluator divides by any
    value that is not exactly 0: its refusal would refuse the example first)."""
    stack = contextlib.ExitStack()
    real = PY.cancel_quotients
    stack.enter_context(mock.patch.object(PY, "cancel_quotients", lambda v, nonzero: real(v, lambda d: True)))
    stack.enter_context(_divisions_unchecked())
    return stack


@mutant(CATEGORY, "hole 31: a quotient D/D cancelled to 1 where D = sin²t + cos²t − 1 is 0: a step dropping "
                  "(D/D − 1)·W, undefined, PROVED")
def quotient_by_a_zero_in_disguise():
    body = (sp.IndexedBase("d1")[t] / sp.IndexedBase("d2")[t] - 1) * W[0, 0]
    return trial("cancelling a quotient only by a denominator proved non-zero",
                 lambda: dropped_term_proof(body)(Definition("d1", (t,), ZERO), Definition("d2", (t,), ZERO)),
                 _quotients_cancelled)


@mutant(CATEGORY, "hole 33: a division by a value that is 0 for every input (e = sin²W + cos²W − 1 from two "
                  "definitions) kept as an atom: 1/e₁ − 1/e₂, two equal atoms, an exact 0, and a step dropping it PROVED")
def division_by_a_zero_in_disguise():
    zero = sp.sin(W[0, 0]) ** 2 + sp.cos(W[0, 0]) ** 2 - 1
    body = 1 / sp.IndexedBase("e1")[t] - 1 / sp.IndexedBase("e2")[t]
    return trial("the evaluator's refusal to divide by a value not proved non-zero",
                 lambda: dropped_term_proof(body)(Definition("e1", (t,), zero), Definition("e2", (t,), zero)),
                 _divisions_unchecked)


def lifted_subnormal_proof():
    """The identity concluded with the two-tap window {i, i + 1}, the second tap's factor 10³⁰⁰·(e^(m−740) −
    (e^((m−740)/2))²), 0 everywhere: e^(m−740) is a subnormal float, off by up to 2·10⁻³, which the coefficient lifts
    above the subnormal range, and the float evaluation called the tap non-zero with a bound of U (an adversarial
    pass, 2026-12-07)."""
    sa, sh = Definition("sa", (t,), sp.exp(t - 740)), Definition("sh", (t,), sp.exp((t - 740) / 2))
    return _two_tap_proof(sp.Integer(10) ** 300 * (sp.IndexedBase("sa")[m] - sp.IndexedBase("sh")[m] ** 2),
                          definitions=(sa, sh))


@mutant(CATEGORY, "hole 32: a subnormal number given the error bound of a normal one: a two-tap Ω PROVED for the "
                  "identity, its second tap 10³⁰⁰·(e^(m−740) − (e^((m−740)/2))²) = 0")
def subnormal_number_bound():
    return trial("the float evaluation's refusal of subnormal numbers", _checked(lifted_subnormal_proof),
                 lambda: mock.patch.object(MG, "TINY", 0.0))


def indicator_tap_proof():
    """The identity concluded with the two-tap window {i, i + 1}, the second tap's factor M − M² for an input M declared
    an indicator: a non-zero polynomial, 0 at every 0/1 input (an adversarial pass, 2026-12-07)."""
    Mi = sp.IndexedBase("M")[m]
    return _two_tap_proof(Mi - Mi ** 2, inputs=(TensorDecl("M", (L,), "input", domain="indicator"),))


@mutant(CATEGORY, "hole 34: an indicator's entries read as any real number: M − M² (0 at every 0/1 input) counted in "
                  "K's support, a two-tap Ω PROVED for the identity")
def indicator_read_as_real():
    return trial("the indicator domain of \"not 0\"", _checked(indicator_tap_proof),
                 lambda: mock.patch.object(PF, "entries_of", lambda names: contextlib.nullcontext()))


@mutant(CATEGORY, "hole 35: a function of an entry kept as an atom where it has no value: g₁ − g₂ with g = μ(W) + "
                  "μ(1 − W) (undefined at every W) an exact 0, and a step dropping it PROVED")
def function_outside_its_domain():
    w = sp.IndexedBase("W")[0, 0]
    nowhere = sp.mobius(w) + sp.mobius(1 - w)
    body = sp.IndexedBase("g1")[t] - sp.IndexedBase("g2")[t]
    return trial("the evaluator's refusal of a function where it may have no value",
                 lambda: dropped_term_proof(body)(Definition("g1", (t,), nowhere), Definition("g2", (t,), nowhere)),
                 lambda: mock.patch.object(EV, "_refuse_outside_domain", lambda e, name, vals: None))
