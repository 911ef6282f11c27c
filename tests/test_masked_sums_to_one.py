"""softmax-sums-to-one on masked weights A := E[…, q]/Z[…], E := G·exp(ℓ) with G a product of Iverson brackets,
Z := Σ_{q'} E[…, q']: Σ_q A = 1 needs Z > 0, which the rule proves at the use by finding a key inside the summed
range that passes every bracket at every row, for all sizes in their domains, or it refuses the step.

Accepted: the causal mask [m ≤ i] (mhsa_causal, gqa_causal) and other masks that always show a key. Refused, each
in several variants: a mask that can hide every key of a row, a bracket not over the summed variable, a denominator
summing another range or another axis than the numerator, an E without the bracket in the denominator (or the
reverse), a mask offset whose sign is unknown, logits that are not provably real.
"""

from __future__ import annotations

import itertools

import pytest
import sympy as sp

from evosym import Definition, Derivation, InRange, Operator, TensorDecl, catalogue, index, size
from evosym.errors import RuleError
from evosym.proof.rules import get_rule
from evosym.proof.rules.base import Context

B, C, L, K = size("B"), size("C"), size("L"), size("K")
P = size("P", zero=True)
s = index("s")                        # an integer of unknown sign
b, o, i, m, m2 = (index(t) for t in "b o i m m_2".split())
X = sp.IndexedBase("x")
XD = TensorDecl("x", (B, C, L), "input")
RULE = get_rule("softmax-sums-to-one")


def ell(body=None):
    """ℓ[b, o, i, m] := x[b, o, m] (or ``body``): a real logit."""
    return Definition("ell", (b, o, i, m), X[b, o, m] if body is None else body, shape=(B, C, L, L))


def system(mask, *, z_body=None, a_body=None, logit=None, extra=()):
    """(definitions, the expression Σ_{m=0}^{L−1} A[b, o, i, m]) with E := mask·exp(ℓ), Z := Σ_{m2=0}^{L−1} E[b, o, i, m2]
    and A := E/Z unless ``z_body`` / ``a_body`` (functions of the definitions) say otherwise."""
    lg = logit or ell()
    e = Definition("E", (b, o, i, m), mask * sp.exp(lg[b, o, i, m]), shape=(B, C, L, L))
    z = Definition("Z", (b, o, i), z_body(e, lg) if z_body else sp.Sum(e[b, o, i, m2], (m2, 0, L - 1)),
                   shape=(B, C, L))
    a = Definition("attn", (b, o, i, m), a_body(e, z, lg) if a_body else e[b, o, i, m] / z[b, o, i],
                   shape=(B, C, L, L))
    defs = {d.name: d for d in (lg, e, z, a, *extra)}
    return defs, sp.Sum(a[b, o, i, m], (m, 0, L - 1))


def apply(mask, **kw):
    defs, expr = system(mask, **kw)
    ctx = Context({b: (0, B - 1), o: (0, C - 1), i: (0, L - 1)}, defs, frozenset({B, C, L, K, P}), "x", {"x": XD})
    return RULE.apply(expr, ctx, name="attn", over=[m])


def refused(mask, match="", **kw):
    with pytest.raises(RuleError, match=match) as err:
        apply(mask, **kw)
    return str(err.value)


def row_sums(mask, sizes, *, z_range=None):
    """Σ_m E[i, m]/Σ_{m'} E[i, m'] for every row i at concrete sizes, with exp(ℓ) = 1 (None where Z = 0)."""
    Lv = sizes[L]
    lo, hi = z_range or (0, Lv - 1)
    out = []
    for iv in range(Lv):
        g = lambda mv: int(mask.xreplace({**sizes, i: iv, m: mv, o: 0}))
        z = sum(g(mv) for mv in range(lo, hi + 1))
        out.append(None if z == 0 else sp.Rational(sum(g(mv) for mv in range(Lv)), z))
    return out


# -- accepted ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mask", [
    InRange(m, 0, i),                                   # causal: key 0 (and key i) always visible
    InRange(m, i, L - 1),                               # anti-causal: key L − 1 always visible
    InRange(m, 0, i + P),                               # causal with a non-negative look-ahead
    InRange(m, i - K + 1, i),                           # a sliding window of K keys ending at i: key i
    InRange(m, 0, i) * InRange(m, i - K + 1, L - 1),    # two brackets, both passed by key i
    InRange(m, 0, L - 1),                               # a bracket that hides nothing
    InRange(m, 0, i) * InRange(i, 0, L - 1),            # a bracket over the row alone, provably true
], ids=["causal", "anti-causal", "look-ahead", "window", "two-brackets", "no-op", "true-row-bracket"])
def test_masks_that_always_show_a_key_are_accepted(mask):
    app = apply(mask)
    assert app.after == 1
    assert all(ob.proved for ob in app.obligations)
    texts = [ob.render()[0] for ob in app.obligations]
    assert any("Z[b, o, i] > 0" in t for t in texts), texts
    for Lv, Kv, Pv in itertools.product((1, 2, 4), (1, 2), (0, 2)):   # and the rows do sum to one
        assert set(row_sums(mask, {L: Lv, K: Kv, P: Pv})) == {1}


def test_the_catalogue_causal_operators_prove_the_value_bias_placement():
    """mhsa_causal keeps b_V in the value projection; its proof moves it out with a general softmax-sums-to-one."""
    mod = catalogue.load("mhsa_causal")
    assert "bV" in str(mod.operator.definitions[2].body)   # val := b_V + Σ W_V·x
    cp = mod.proof().check(reference=False)
    assert cp.ok, cp.failures()
    [step] = [st for st in cp.steps if st.rule == "softmax-sums-to-one"]
    assert step.check.general
    assert any("> 0" in ob.render()[0] and ob.proved for ob in step.obligations)


# -- refused: a mask that can hide every key of a row -------------------------------------------------------------

@pytest.mark.parametrize("mask", [
    InRange(m, 0, i - 1),          # [m < i]: row 0 sees nothing
    InRange(m, 0, i - 5),          # [m ≤ i − 5]
    InRange(m, i + 1, L - 1),      # [m > i]: row L − 1 sees nothing
    InRange(m, i + 1, i),          # an empty bracket
    InRange(m, L, L + 3),          # keys past the end only
    InRange(m, 0, i - K),          # [m ≤ i − K], K ≥ 1
    InRange(m, 0, i) * InRange(m, i + 1, L - 1),   # two brackets that never agree
], ids=["strict-causal", "minus-5", "strict-anti", "empty-bracket", "past-the-end", "minus-K", "disjoint"])
def test_masks_that_can_hide_a_whole_row_are_refused(mask):
    assert "is not proved" in refused(mask, "> 0 is not proved")
    # and the claim is false: some row has Z = 0 at some sizes
    assert any(None in row_sums(mask, {L: Lv, K: Kv, P: 0}) for Lv in (1, 2, 6) for Kv in (1, 2))


def test_an_empty_summed_range_is_refused():
    """Σ over m ∈ [L, L − 1] (empty) of E/Z, Z over the same empty range: Z = 0, the sum is 0, not 1."""
    def z_body(e, lg):
        return sp.Sum(e[b, o, i, m2], (m2, L, L - 1))
    defs, _ = system(InRange(m, 0, i), z_body=z_body)
    expr = sp.Sum(defs["attn"][b, o, i, m], (m, L, L - 1))
    ctx = Context({b: (0, B - 1), o: (0, C - 1), i: (0, L - 1)}, defs, frozenset({B, C, L}), "x", {"x": XD})
    with pytest.raises(RuleError, match="> 0 is not proved"):
        RULE.apply(expr, ctx, name="attn", over=[m])


# -- refused: a bracket not over the summed variable -----------------------------------------------------------

@pytest.mark.parametrize("mask", [
    InRange(i, 0, L - 2),                     # hides the last row entirely
    InRange(o, 0, 0) * InRange(m, 0, i),      # hides every channel but 0
    InRange(m, 0, i) * InRange(i, 1, L - 1),  # hides row 0
    InRange(i, 0, K - 1),                     # rows past K
], ids=["row", "channel", "row-0", "rows-past-K"])
def test_brackets_over_the_row_that_can_be_false_are_refused(mask):
    refused(mask, "> 0 is not proved")


def test_brackets_over_non_integers_are_refused():
    """A bracket's value is defined on integers only: nothing is proved about [0 ≤ m/2 ≤ i] or [0 ≤ m ≤ i/2]."""
    for mask in (InRange(m / 2, 0, i), InRange(m, 0, i / 2), InRange(m, sp.Rational(1, 2), i)):
        refused(mask, "> 0 is not proved")


# -- refused: a mask offset whose sign is unknown --------------------------------------------------------------

@pytest.mark.parametrize("mask", [
    InRange(m, 0, i + s),         # s: any integer
    InRange(m, 0, i - P),         # P ≥ 0: row 0 hidden once P ≥ 1
    InRange(m, 0, i + P - K),     # P − K of either sign
    InRange(m, s, s + K - 1),     # a window at an unknown place
], ids=["plus-s", "minus-P", "P-minus-K", "window-at-s"])
def test_masks_with_an_offset_of_unknown_sign_are_refused(mask):
    refused(mask, "> 0 is not proved")


# -- refused: a denominator over another range or axis than the numerator --------------------------------------

@pytest.mark.parametrize("z_body", [
    lambda e, lg: sp.Sum(e[b, o, i, m2], (m2, 0, L - 2)),      # one key short
    lambda e, lg: sp.Sum(e[b, o, i, m2], (m2, 1, L - 1)),      # key 0 left out
    lambda e, lg: sp.Sum(e[b, o, i, m2], (m2, 0, L)),          # one key more
    lambda e, lg: sp.Sum(e[b, o, m2, i], (m2, 0, L - 1)),      # the other axis
    lambda e, lg: sp.Sum(e[b, o, m2, m2], (m2, 0, L - 1)),     # the diagonal
    lambda e, lg: sp.Sum(e[b, o, i, m2], (m2, 0, L - 1), (i, 0, L - 1)),   # also over the rows
    lambda e, lg: sp.Sum(e[b, 0, i, m2], (m2, 0, L - 1)),      # another channel's row
], ids=["short", "late-start", "long", "other-axis", "diagonal", "over-rows", "other-row"])
def test_a_denominator_summing_something_else_is_refused(z_body):
    refused(InRange(m, 0, i), "softmax-sums-to-one", z_body=z_body)


def test_a_numerator_read_elsewhere_is_refused():
    """A := E[b, o, m, i]/Z[b, o, i] (the keys on the row axis), or E[b, o, i, m + 1]/Z: not the sum Z normalises."""
    for a_body in (lambda e, z, lg: e[b, o, m, i] / z[b, o, i],
                   lambda e, z, lg: e[b, o, i, m + 1] / z[b, o, i],
                   lambda e, z, lg: e[b, o, i, m] / z[b, o, m]):
        refused(InRange(m, 0, i), "softmax-sums-to-one", a_body=a_body)


# -- refused: a bracket on one side only ---------------------------------------------------------------------------

def test_masked_numerator_over_an_unmasked_denominator_is_refused():
    """A := E/Σ exp(ℓ): the rows sum to (Σ_{m ≤ i} e^ℓ)/(Σ_m e^ℓ) < 1."""
    refused(InRange(m, 0, i), "is not a sum of E",
            z_body=lambda e, lg: sp.Sum(sp.exp(lg[b, o, i, m2]), (m2, 0, L - 1)))


def test_unmasked_numerator_over_a_masked_denominator_is_refused():
    """A := exp(ℓ)/Σ E: the rows sum to (Σ_m e^ℓ)/(Σ_{m ≤ i} e^ℓ) > 1."""
    refused(InRange(m, 0, i), "is not a sum of exp",
            a_body=lambda e, z, lg: sp.exp(lg[b, o, i, m]) / z[b, o, i])


def test_another_mask_in_the_denominator_is_refused():
    """A := E/Σ E' with E' another masked exponential (E' = [m ≤ i − 1]·exp(ℓ), or the same mask under another name)."""
    for mask2 in (InRange(m, 0, i - 1), InRange(m, 0, i)):
        e2 = Definition("E2", (b, o, i, m), mask2 * sp.exp(ell()[b, o, i, m]), shape=(B, C, L, L))
        refused(InRange(m, 0, i), "is not a sum of E", extra=(e2,),
                z_body=lambda e, lg: sp.Sum(e2[b, o, i, m2], (m2, 0, L - 1)))


def test_a_numerator_that_is_not_brackets_times_exp_is_refused():
    """E with another factor (which may be 0 or negative), or without any bracket, is not the masked form."""
    for mask in (2 * InRange(m, 0, i), -InRange(m, 0, i), X[b, o, m] * InRange(m, 0, i), sp.Integer(1)):
        refused(mask, "is not a read of a definition")


# -- refused: logits that are not provably real ------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    sp.I * sp.pi * X[b, o, m],                 # exp(iπx): the terms can cancel
    2 * sp.pi * sp.I * m / L,                  # roots of unity: Σ is 0
    sp.sqrt(X[b, o, m]),                       # complex for a negative entry
    sp.Function("f")(X[b, o, m]),              # an unknown function
    1 / X[b, o, m],                            # a division: undefined at x = 0
    -X[b, o, m] ** -2,                         # exp(−1/x²) is 0/0 in floats at x = 0
    X[b, o, i] / (X[b, o, m] - 1),             # a division by a read that can be 0
    sp.Mod(X[b, o, m], X[b, o, i]),            # a remainder modulo a read that can be 0
], ids=["imaginary", "roots-of-unity", "sqrt", "unknown", "reciprocal", "inverse-square", "quotient", "mod-by-read"])
def test_logits_not_provably_real_are_refused(body):
    refused(InRange(m, 0, i), "not provably real", logit=ell(body))


def test_powers_of_non_zero_sizes_and_remainders_modulo_sizes_stay_real():
    """The guard on division is not a blanket refusal: 1/L, L^-2 and mod L (L ≥ 1) are real."""
    for body in (X[b, o, m] / L, X[b, o, m] * L ** -2, sp.Mod(m, L) * X[b, o, m]):
        assert apply(InRange(m, 0, i), logit=ell(body)).after == 1


# -- refused: a nest that sums a variable twice, bounds that are not integers --------------------------------------

@pytest.mark.parametrize("limits", [((m, 0, L - 1), (m, 0, L - 1)), ((m, 0, L - 1), (m, 0, i)),
                                    ((m, 0, L - 1), (m, 0, L - 1), (m, 0, L - 1))],
                         ids=["twice", "twice-other-range", "three-times"])
@pytest.mark.parametrize("masked", [True, False], ids=["masked", "plain"])
def test_a_nest_summing_a_variable_twice_is_refused(limits, masked):
    """Σ_m Σ_m A is L·Σ_m A, not 1 (a dict of the limits would keep one of them)."""
    defs, _ = system(InRange(m, 0, i)) if masked else _plain(0, L - 1)
    expr = sp.Sum(defs["attn"][b, o, i, m], *limits)
    with pytest.raises(RuleError, match="sums over a variable twice"):
        RULE.apply(expr, _ctx(defs), name="attn", over=[m])


@pytest.mark.parametrize("lo, hi", [(L / 2, L / 2), ((L - 1) / 2, (L - 1) / 2), (L / 2, L / 2 + sp.Rational(1, 3)),
                                    (sp.Rational(1, 2), L - 1)], ids=["half", "half-minus", "third", "half-start"])
@pytest.mark.parametrize("masked", [True, False], ids=["masked", "plain"])
def test_bounds_that_are_not_integers_are_refused(lo, hi, masked):
    """[L/2, L/2] holds no integer for odd L: Z is an empty sum there, whatever the candidate key."""
    if masked:
        defs, _ = system(InRange(m, 0, L), z_body=lambda e, lg: sp.Sum(e[b, o, i, m2], (m2, lo, hi)))
    else:
        defs, _ = _plain(lo, hi)
    with pytest.raises(RuleError, match="not provably integers"):
        RULE.apply(sp.Sum(defs["attn"][b, o, i, m], (m, lo, hi)), _ctx(defs), name="attn", over=[m])


def _plain(lo, hi):
    """The unmasked softmax A := exp(ℓ)/Z, Z := Σ_{m2=lo}^{hi} exp(ℓ[…, m2])."""
    lg = ell()
    z = Definition("Z", (b, o, i), sp.Sum(sp.exp(lg[b, o, i, m2]), (m2, lo, hi)), shape=(B, C, L))
    a = Definition("attn", (b, o, i, m), sp.exp(lg[b, o, i, m]) / z[b, o, i], shape=(B, C, L, L))
    return {d.name: d for d in (lg, z, a)}, None


def _ctx(defs):
    return Context({b: (0, B - 1), o: (0, C - 1), i: (0, L - 1)}, defs, frozenset({B, C, L, K, P}), "x", {"x": XD})


# -- the rule inside a checked proof -------------------------------------------------------------------------------

def _toy(mask, grid):
    """y[b, o, i] = x[b, o, i]·Σ_m A[b, o, i, m] with the masked softmax A of ``system``, proved by one step."""
    defs, expr = system(mask)
    op = Operator(name="masked", summary="", output=TensorDecl("y", (B, C, L), "output"), lhs_indices=(b, o, i),
                  traditional=X[b, o, i] * expr, tensors=(XD,), batch=b, out_channel=o, position=(i,),
                  definitions=tuple(defs.values()), sizes=tuple((t, "") for t in (B, C, L, K, P)), grid=tuple(grid))
    return Derivation(op)


def test_a_refused_step_says_why():
    d = _toy(InRange(m, 0, i - P), ({B: 1, C: 1, L: 2, K: 1, P: 0},))
    with pytest.raises(RuleError, match=r"Z\[b, o, i\] > 0 is not proved: no key of the range 0 ≤ m_2 ≤ L - 1"):
        d.apply("softmax-sums-to-one", name="attn", over=[m])
