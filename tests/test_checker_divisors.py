"""Every division is by a value proved non-zero, or the step is not labelled general.

A rule's identity is computed in SymPy's arithmetic of fractions, which holds only where no divisor vanishes:
an adaptive pooling whose input length may be 0 divides by an empty bin there, and its proof printed "valid for
all sizes". These tests widen a domain, drop a constraint, or divide by a size that may be 1 − 1, and check that
the steps are then bounded with the obligation printed; and that the prover's lemmas are sound at many values.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
import sympy as sp

from cli_helpers import run_module
from evosym import Definition, InRange, TensorDecl, index, size
from evosym.printers import render
from evosym.proof.rules.base import Context
from evosym.proof.ranged import _positive_part, _without_rounding
from evosym.proof.rules.nonzero import nonzero
from test_premises import GRID1, K, _check, _identity_derivation, _op, _x_pad, b, i, o
from test_premises import B as B_, C as C_, L as L_, P as P_

ROOT = Path(__file__).resolve().parents[1]
OBLIGATION = "≠ 0 wherever it divides"

N, D = size("N"), size("D")
Z = size("Z", zero=True)
j, w = index("j"), index("w")


def _ctx(tensors=(), constraints=()):
    return Context({}, {}, frozenset({N, D, Z}), "x", {t.name: t for t in tensors}, tuple(constraints))


@pytest.mark.parametrize("expr, ranges, constraints, proved", [
    (N, {}, (), True),
    (N - 1, {}, (), False),                                    # N = 1
    (N - 1, {}, (sp.Ge(N, 2),), True),                         # a constraint is part of the domain
    (N - 1, {}, (sp.Gt(N, 1),), True),
    (N - 2, {}, (sp.Ge(N, 2),), False),
    (j, {j: (0, N - 1)}, (sp.Ge(j, 1),), False),               # a "constraint" on an index is no hypothesis
    (N - 1, {}, (sp.Ge(N - D, 1),), True),                     # N ≥ D + 1 ≥ 2
    (N - 1, {}, (sp.Ge(N - D, 0),), False),                    # N ≥ D ≥ 1 allows N = 1
    (N - 1, {}, (sp.Ge(N - D, 0), sp.Ge(D, 2)), True),         # two slacks: N ≥ D ≥ 2
    (N - 2, {}, (sp.Ge(N - D, 0), sp.Ge(D, 2)), False),        # N = D = 2
    (N - 2, {}, (sp.Ge(N - D, 0), sp.Ge(D, 3)), True),
    (N - 3, {}, (sp.Ge(N - D, 0), sp.Ge(D, 3), sp.Ge(Z, 1)), False),   # N = D = 3, whatever the third says
    (N + D - 3, {}, (sp.Ge(N - D, 0), sp.Ge(D, 2)), True),     # N + D − 4 = (N − D) + 2·(D − 2)
    (N + 3 * D - 7, {}, (sp.Ge(N - D, 0), sp.Ge(D, 2)), False),   # needs 3·(D − 2): not proved (sound, coarse)
    (N - 2 * D + 1, {}, (sp.Ge(N - D, 0), sp.Ge(D, 2)), False),   # N = D = 2 gives −1
    (N - 1, {}, (sp.Ge(N - D, 0), sp.Ge(D - N, 0)), False),    # N = D (both ways) is no bound below 2
    (N - 1, {}, (sp.Ge(N, D),), False),
    (Z, {}, (), False),                                        # a size that may be 0
    (Z + 1, {}, (), True),
    (j + 1, {j: (0, N - 1)}, (), True),
    (j, {j: (0, N - 1)}, (), False),
    (j - N, {j: (0, N - 1)}, (), True),                        # negative throughout: non-zero
    (2 * N - 2 * j - 1, {j: (0, N - 1)}, (), True),
    (N * (Z + 1), {}, (), True),
    (N ** 2 * D, {}, (), True),
    (sp.sqrt(N), {}, (), True),
    (sp.exp(Z - N) + 1, {}, (), True),
    (sp.Sum(sp.exp(j), (j, 0, N - 1)), {}, (), True),
    (sp.Sum(sp.exp(j), (j, 0, Z - 1)), {}, (), False),         # an empty range at Z = 0
    (sp.Sum(sp.exp(j), (j, 1, N - 1)), {}, (), False),         # empty at N = 1
    (sp.Sum(InRange(j + w, 0, N - 1), (w, 0, D - 1)), {j: (0, N - 1)}, (), True),   # w = 0 is in every window
    (sp.Sum(InRange(j + w, N, 2 * N), (w, 0, D - 1)), {j: (0, N - 1)}, (), False),  # j = 0, D = 1 sees none
    (sp.Sum(InRange(w, sp.floor(j * N / D), sp.ceiling((j + 1) * N / D) - 1), (w, 0, N - 1)), {j: (0, D - 1)}, (),
     True),                                                    # an adaptive pooling's bin
    (sp.Sum(InRange(w, sp.floor(j * Z / D), sp.ceiling((j + 1) * Z / D) - 1), (w, 0, Z - 1)), {j: (0, D - 1)}, (),
     False),                                                   # … over an input that may be empty
])
def test_the_divisor_prover(expr, ranges, constraints, proved):
    assert nonzero(expr, dict(ranges), _ctx(constraints=constraints)) is proved


def test_reads_of_tensors_are_non_zero_only_by_their_domain():
    x = TensorDecl("x", (N,), "input")
    a = TensorDecl("a", (N,), "input", domain="nonnegative")
    m = TensorDecl("m", (N,), "input", domain="indicator")
    ctx = _ctx((x, a, m))
    at = {j: (0, N - 1)}
    assert not nonzero(x[j], at, ctx)                            # a real entry may be 0
    assert not nonzero(a[j], at, ctx)
    assert nonzero(1 + a[j], at, ctx)
    assert nonzero(1 + sp.Sum(a[w], (w, 0, N - 1)), at, ctx)
    assert not nonzero(1 + sp.Sum(x[w], (w, 0, N - 1)), at, ctx)  # −1 is a real entry's value
    assert nonzero(sp.exp(x[j]), at, ctx)
    assert nonzero(sp.Sum(m[w] * sp.exp(x[w]), (w, 0, N - 1)), at, ctx)   # the premise: a 1 in every row
    assert not nonzero(sp.Sum(m[w] * sp.exp(x[w]), (w, 0, N - 2)), at, ctx)  # not the whole row
    assert not nonzero(sp.Sum(a[w] * sp.exp(x[w]), (w, 0, N - 1)), at, ctx)


R_ = sp.Symbol("r", integer=True)
A_ = sp.Symbol("a", integer=True)
FLOOR_MINUS_CEILING = sp.floor(A_ / N) - sp.ceiling((A_ - 2 * R_) / N) + R_


@pytest.mark.parametrize("x", [
    sp.floor(A_ / N) + R_, R_ - sp.floor(A_ / N), sp.ceiling(A_ / N) + R_, R_ - sp.ceiling(A_ / N),
    sp.floor((A_ + R_) / N) - sp.floor(A_ / N) - 1, sp.floor(A_ / N) - sp.floor((A_ - R_) / N) + R_ - 2,
    sp.ceiling((A_ + R_) / N) - sp.floor(A_ / N) - 1, sp.ceiling((A_ + R_) / N) - sp.ceiling(A_ / N) - 1,
    FLOOR_MINUS_CEILING,
])
def test_the_conditions_without_rounding_imply_the_inequality(x):
    """Wherever the condition holds the inequality does, at every integer of a box (exactly, both ways, for one
    floor or ceiling)."""
    plain = _without_rounding(sp.expand(x, deep=False))
    if x == FLOOR_MINUS_CEILING:
        assert plain is None   # ⌊x⌋ − ⌈y⌉: no bound is claimed
        return
    assert plain is not None and not plain.has(sp.floor, sp.ceiling)
    one = len(x.atoms(sp.floor, sp.ceiling)) == 1
    for n, a, r in itertools.product(range(1, 6), range(-12, 13), range(-4, 5)):
        at = {N: n, A_: a, R_: r}
        holds, implied = bool(plain.subs(at) >= 0), bool(x.subs(at) >= 0)
        assert implied or not holds, (x, at)
        if one:
            assert holds == implied, (x, at)


def test_a_positive_part_in_floors_is_never_negative():
    zz, bb = sp.Symbol("z", integer=True), sp.Symbol("q", integer=True, positive=True)
    term = zz * sp.floor((zz + bb) / bb)
    assert _positive_part(term) and _positive_part(3 * term)
    assert not _positive_part(-term) and not _positive_part(zz * sp.floor((zz + bb + 1) / bb))
    assert all(term.subs({zz: z, bb: q}) >= 0 for z in range(-20, 21) for q in range(1, 8))


def _steps(cp):
    return [(s.check.general, [str(ob) for ob in s.obligations if OBLIGATION in ob.text]) for s in cp.steps]


def test_a_division_by_a_size_that_may_be_one_minus_one_is_not_general():
    xp = _x_pad()
    cp = _check(_identity_derivation(_op(xp[b, o, i] / (K - 1), definitions=[xp], grid=tuple(
        {**g, K: g[K] + 1} for g in GRID1))))
    assert cp.ok, cp.failures()
    steps = _steps(cp)
    assert steps and all(not general and any("K - 1" in t for t in obs) for general, obs in steps), steps
    text = render(cp, "text")
    assert "0 general" in text and "K - 1 ≠ 0 wherever it divides" in text
    # with the constraint K ≥ 2 the domain excludes it: general, and the domain printed with the constraint
    cp = _check(_identity_derivation(_op(xp[b, o, i] / (K - 1), definitions=[xp], constraints=(sp.Ge(K, 2),),
                                         grid=tuple({**g, K: g[K] + 1} for g in GRID1))))
    assert cp.ok and all(general and not obs for general, obs in _steps(cp)), _steps(cp)
    assert "P ≥ 0 (integers); K ≥ 2" in render(cp, "text")


def _prove_file(tmp_path, name, edit_pool=None, edit_op=None):
    """`evosym prove` of a copy of a catalogue operator file (and of the family module it imports), edited."""
    pool = (ROOT / "derivations" / "_pool.py").read_text(encoding="utf-8")
    (tmp_path / "_pool.py").write_text(edit_pool(pool) if edit_pool else pool, encoding="utf-8")
    src = (ROOT / "derivations" / f"{name}.py").read_text(encoding="utf-8").replace("from ._pool", "from _pool")
    src = src.replace(f'name="{name}"', f'name="{name}_edited"')
    path = tmp_path / f"{name}_edited.py"
    path.write_text(edit_op(src) if edit_op else src, encoding="utf-8")
    res = run_module("prove", str(path), cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def _verdict(out):
    return re.search(r"PROVED\. (\d+) steps: (\d+) general", out).groups()


@pytest.mark.parametrize("name, edit_pool, unproved", [
    # the input length may be 0: a bin is empty there (the hole: this printed 6 general)
    ("adaptive_avg_pool1d", lambda s: s.replace(
        "self.L = tuple(size(LENGTH[a]) for a in self.axes)\n        self.Lo",
        "self.L = tuple(size(LENGTH[a], zero=True) for a in self.axes)\n        self.Lo"), "Σ_{m'=0}^{L_in - 1}"),
    # without PyTorch's 2P ≤ K a window may lie wholly in the padding: it counts no entry
    ("avg_pool1d_exclude_pad", lambda s: s.replace("out = tuple(sp.Le(2 * P, K) for P, K in zip(self.P, self.K))",
                                                   "out = ()"), "Σ_{u'=0}^{K - 1}"),
    ("avg_pool1d_ceil_exclude_pad", lambda s: s.replace("out = tuple(sp.Le(2 * P, K) for P, K in zip(self.P, self.K))",
                                                        "out = ()"), "Σ_{u'=0}^{K - 1}"),
])
def test_a_widened_domain_makes_the_steps_bounded(tmp_path, name, edit_pool, unproved):
    assert edit_pool(ROOT.joinpath("derivations", "_pool.py").read_text(encoding="utf-8")) != \
        ROOT.joinpath("derivations", "_pool.py").read_text(encoding="utf-8")
    out = _prove_file(tmp_path, name, edit_pool)
    steps, general = _verdict(out)
    assert general == "0" and int(steps) > 0, out[-1500:]
    assert unproved in out and OBLIGATION in out


def test_the_unedited_copies_stay_general(tmp_path):
    out = _prove_file(tmp_path, "adaptive_avg_pool1d")
    steps, general = _verdict(out)
    assert general == steps and OBLIGATION not in out


def test_acmix_states_the_sizes_its_coordinates_divide_by():
    from evosym import catalogue
    [m] = [m for m in catalogue.load_all() if m.operator.name == "acmix_attention"]
    cp = m.proof().check(reference=False)
    assert "H ≥ 2; W ≥ 2" in render(cp, "text")
    assert all(s.check.general for s in cp.steps)   # the reflection step too, under R < H, W (since 2026-12-06)
    assert not any(OBLIGATION in ob.text for s in cp.steps for ob in s.obligations)


# -- an adversarial pass's findings (each got every step general before its fix) -----------------------------------

G = ({B_: 1, C_: 2, L_: 3, K: 2, P_: 1}, {B_: 2, C_: 1, L_: 4, K: 3, P_: 2})
w_, r_ = index("w"), index("r")


def _labels(traditional, defs=(), grid=G, **kw):
    """(ok, [general per step]) of y = x_pad·(traditional's factor), the identity derivation."""
    xp = _x_pad()
    cp = _check(_identity_derivation(_op(xp[b, o, i] * traditional, definitions=[xp, *defs], grid=grid, **kw)))
    return cp.ok, [s.check.general for s in cp.steps]


@pytest.mark.parametrize("factor", [
    (L_ - 1) ** (-L_), (L_ - 1) ** (-K), (L_ - 1) ** (i - L_), P_ ** (P_ - 1),      # exponents of either sign
    sp.exp(-L_ * sp.log(L_ - 1)),
    sp.cot(sp.pi * (L_ - 1) / 4), sp.factorial(L_ - 2), sp.harmonic(L_ - 2), sp.gamma(L_ - 2),   # poles
])
def test_a_division_or_pole_off_the_grid_is_not_general(factor):
    ok, general = _labels(factor)
    assert general and not all(general), (factor, ok, general)


@pytest.mark.parametrize("factor, grid", [
    ((L_ - 3) ** (-L_), ({B_: 1, C_: 2, L_: 3, K: 2, P_: 1}, {B_: 2, C_: 1, L_: 4, K: 3, P_: 2})),
    (sp.tan(sp.pi * (L_ - 1) / 4), G),                                   # tan(π/2) at L = 3, a grid shape
])
def test_a_division_or_pole_at_a_grid_shape_fails_there(factor, grid):
    ok, _ = _labels(factor, grid=grid)
    assert not ok


def test_a_definition_read_under_a_sum_of_its_own_variable_is_read_without_capture():
    """D[r] := Σ_w 1/(r − w + K) read as Σ_w D[w]: a substitution that captures w saw the divisor K (general)."""
    d = Definition("Dd", (r_,), sp.Sum(1 / (r_ - w_ + K), (w_, 0, L_ - 1)))
    ok, general = _labels(sp.Sum(d[w_], (w_, 0, L_ - 1)), [d],
                          grid=({B_: 1, C_: 2, L_: 3, K: 4, P_: 1}, {B_: 2, C_: 1, L_: 4, K: 5, P_: 0}))
    assert not all(general)   # 0 at K = 1, L = 2


def test_a_division_at_the_end_of_a_long_chain_of_definitions_is_seen():
    chain = [Definition(f"D{k}", (r_,), sp.IndexedBase(f"D{k + 1}")[r_] + 1) for k in range(30)]
    chain.append(Definition("D30", (r_,), sp.exp(1 / (L_ - 1))))
    ok, general = _labels(chain[0][i], chain)
    assert not all(general)


@pytest.mark.parametrize("body", [
    1 / (1 + sp.Sum(1, (w_, 0, P_ - 2))),                  # −1 at P = 0 (a backwards range): 1/0
    1 + sp.Sum(1 / (w_ - L_ + 1), (w_, L_, L_ + P_ - 2)),   # the term read outside [lo, hi] at P = 0
])
def test_a_backwards_sum_in_a_definition_is_not_general(body):
    d = Definition("Dd", (r_,), body)
    ok, general = _labels(d[i], [d])
    assert not all(general)


def test_a_division_in_a_declared_shape_is_not_general():
    xp = _x_pad(shape=(B_, C_, L_ + sp.floor(1 / (L_ - 1))))
    cp = _check(_identity_derivation(_op(xp[b, o, i], definitions=[xp], grid=G)))
    assert not all(s.check.general for s in cp.steps)


def test_self_reading_definitions_and_huge_powers_end_quickly():
    import time
    d = Definition("Dd", (r_,), sp.IndexedBase("Dd")[r_ + 1] + sp.IndexedBase("Dd")[r_ + 2])
    start = time.perf_counter()
    ok, general = _labels(1 / d[i], [d])
    assert not ok and time.perf_counter() - start < 60          # (the premises refuse a self-reading definition)
    start = time.perf_counter()
    assert not nonzero((N - D) ** 100 + 1, {}, _ctx())             # true, but not multiplied out: not proved
    assert not nonzero(sp.Max(*[sp.IndexedBase("Dd")[j + k] for k in range(6)]) + 1, {j: (0, N - 1)},
                       Context({}, {"Dd": Definition("Dd", (r_,), sp.Max(*[sp.IndexedBase("Dd")[r_ + k]
                                                                              for k in range(1, 7)]) + 1)},
                               frozenset({N, D, Z}), "x", {}, ()))
    assert time.perf_counter() - start < 30


def test_a_complex_sum_limit_is_refused_not_a_crash():
    d = Definition("Dd", (r_,), 1 / sp.Sum(sp.exp(w_), (w_, 0, sp.I * L_)))
    ok, general = _labels(d[i], [d])
    assert not ok or not all(general)


def test_an_equality_constraint_is_a_hypothesis_both_ways():
    ok, general = _labels(1 / (K - P_), constraints=(sp.Eq(K, 2 * P_ + 1),),
                          grid=({B_: 1, C_: 2, L_: 3, K: 3, P_: 1}, {B_: 2, C_: 1, L_: 4, K: 1, P_: 0}))
    assert ok and all(general), general


@pytest.mark.parametrize("low, general", [(2, True), (1, False)])
def test_two_constraints_together_are_a_hypothesis(low, general):
    """L ≥ K and K ≥ 2 make L − 1 ≥ 1 (the slacks added); L ≥ K ≥ 1 leaves L = 1, where 1/(L − 1) is undefined."""
    ok, labels = _labels(1 / (L_ - 1), constraints=(sp.Ge(L_, K), sp.Ge(K, low)),
                         grid=({B_: 1, C_: 2, L_: 3, K: 2, P_: 1}, {B_: 2, C_: 1, L_: 4, K: 3, P_: 0}))
    assert ok and all(labels) is general, labels


# -- a second adversarial pass --------------------------------------------------------------------------------------

def test_a_guard_speaks_of_its_own_variable_not_of_one_a_definition_binds_again():
    """δ(0, w mod 2) outside a read of D[r] := Σ_{w=2K}^{2K+P} μ(w/2): the guard made w/2 an integer for the outer
    w, and the fact was taken for the definition's own w (μ(K + 1/2) at P ≥ 1: PROVED, 3 general)."""
    d = Definition("Dd", (r_,), sp.Sum(sp.mobius(w_ / 2), (w_, 2 * K, 2 * K + P_)))
    ok, general = _labels(sp.Sum(sp.KroneckerDelta(0, sp.Mod(w_, 2)) * d[i], (w_, 0, L_ - 1)), [d],
                          grid=({B_: 1, C_: 2, L_: 3, K: 2, P_: 0}, {B_: 2, C_: 1, L_: 4, K: 3, P_: 0}))
    assert not all(general)
    # the guard over its own variable does make μ(w/2) defined: general
    ok, general = _labels(2 + sp.Sum(sp.KroneckerDelta(0, sp.Mod(w_ + 2, 2)) * sp.mobius((w_ + 2) / 2), (w_, 0, L_ - 1)))
    assert ok and all(general), general


@pytest.mark.parametrize("fn", [sp.mobius, sp.totient, sp.primenu])
def test_a_number_theory_function_of_a_non_integer_fails_the_check_not_the_checker(fn):
    ok, general = _labels(fn((i + 2) / 2))
    assert not ok


def test_a_power_too_large_to_multiply_out_fails_quickly():
    import time
    c_ = index("e")
    X = sp.IndexedBase("x")
    start = time.perf_counter()
    ok, _ = _labels(sp.Sum(sp.Sum(X[b, c_, w_], (w_, 0, L_ - 1)), (c_, 0, C_ - 1)) ** 40,
                    grid=({B_: 1, C_: 2, L_: 4, K: 2, P_: 0},))
    assert not ok and time.perf_counter() - start < 60


@pytest.mark.parametrize("e, integer", [((L_ + 1) ** 200 - L_, True), (L_ ** 100_000 - L_ / 3, False),
                                        ((L_ - K) ** 60 * (C_ + 1) ** 9, True), (((L_ + 1) ** 200 - L_ - 1) / 2, False),
                                        (1 / (L_ + 2) ** 40, False)])
def test_a_large_power_is_not_proved_and_answers_at_once(e, integer):
    """The sign and integrality provers answer "not proved" for a power above MAX_POWER instead of multiplying it
    out ((L + 1)^200: 20 s in SymPy's own assumptions, L^100000: minutes), unless its tree alone shows an integer;
    a power at the limit is still proved."""
    import time

    from evosym.proof.symbolic import integer_valued, nonnegative
    start = time.perf_counter()
    assert not nonnegative(e) and integer_valued(e) is integer
    assert time.perf_counter() - start < 2
    assert nonnegative((L_ + 1) ** 8 - L_) and integer_valued(((L_ + 1) ** 8 - L_ - 1) / 2)


@pytest.mark.parametrize("e", [sp.factorial(sp.Max((-1) ** (C_ - sp.Rational(1, 4)), C_)),
                               sp.binomial(sp.Rational(1, 4), sp.Min((-1) ** (L_ * (L_ + 1) / 2 - sp.Rational(1, 4)),
                                                                     (-1) ** L_ + C_))])
def test_an_expression_sympys_assumptions_raise_on_is_not_proved(e):
    """SymPy raises "The argument … is not comparable" asking the sign or integrality of a Max or Min of complex
    powers (an adversarial pass): the provers answer "not proved"."""
    from evosym.proof.symbolic import integer_valued, nonnegative
    assert not nonnegative(e) and not integer_valued(e) and not nonnegative(e - 1)


@pytest.mark.parametrize("name", ["Gamma", "psi", "Log", "Tan", "Sqrt", "Exp", "COS"])
def test_an_undefined_function_named_as_a_function_with_poles_or_a_function_word_is_refused(name):
    ok, _ = _labels(sp.Function(name)(L_ - 1))
    assert not ok


@pytest.mark.parametrize("factor", [
    sp.tanh(sp.IndexedBase("W")[o, 0]), sp.erf(L_), sp.atan(L_),            # total on real arguments
    1 / sp.cosh(sp.IndexedBase("W")[o, 0]),
    sp.Piecewise((1 / L_, L_ > 1), (1, True)),
    sp.Function("sigma")(L_ - 1), sp.Function("phi")(L_),                 # activations a paper names so
])
def test_functions_defined_everywhere_keep_the_steps_general(factor):
    ok, general = _labels(factor)
    assert ok and all(general), (factor, general)
