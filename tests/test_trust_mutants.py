"""The self-test's checker mutants (evosym/selftest/trust_mutants.py, trust_conclusion_mutants.py,
trust_reading_mutants.py, trust_fold_mutants.py): one per fix of the holes 1–36, each killed because its hostile
example gets through the checker with that fix disabled and not through the real one; the harness never counts a kill
it did not see, and every mutation is undone afterwards.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest
import sympy as sp

from evosym.proof import premises as PR
from evosym.proof.evaluate import Evaluator
from evosym.proof.rules import softmax as SM
from evosym.proof.proof import CheckedProof
from evosym.ir import numbers as NU
from evosym.selftest import trust_conclusion_mutants as TC
from evosym.selftest import trust_fold_mutants as TF
from evosym.selftest import trust_mutants as TM
from evosym.selftest import trust_reading_mutants as TR
from evosym.selftest.registry import MUTANTS, OPERATORS
from evosym.selftest.run import summary

try:
    from .conftest import selftest_rows
except ImportError:  # tests/ is not a package
    from conftest import selftest_rows

GENERAL = "ok and labelled general although "
# mutant → (the fix it disables, what gets through without it)
EXPECTED = {
    "binder-assumptions-unchecked": ("the binder premise", "step 2 (introduce-delta) " + GENERAL + "it fails at"),
    "grid-outside-domains": ("the grid premise", "PROVED"),
    "open-definitions": ("the closed-definitions premise", "step 1 (factor-out) " + GENERAL + "with D's body"),
    "reads-outside-shapes": ("the shape check of definition reads", "PROVED"),
    "reindex-by-half-size": ("reindex-sum's obligation that the shift is an integer",
                             "step 1 (reindex-sum) " + GENERAL + "it fails at B=1, C=1, K=3"),
    "split-into-half-blocks": ("split-channels-into-groups' obligation that the block is a positive integer",
                               "step 1 (split-channels-into-groups) " + GENERAL + "it fails at B=1, C=3"),
    "congruence-with-half-period": ("congruence-to-remainder's obligation that the period is a positive integer",
                                    "step 1 (congruence-to-remainder) " + GENERAL + "it fails at B=1, C=1, K=1, L=3"),
    "backwards-sums-read-empty": ("the evaluator's refusal of backwards sums",
                                  "step 1 (introduce-delta) ok and labelled bounded although by SymPy's reading"),
    "ill-formed-ranges-general": ("the obligation that every range is well-formed",
                                  "step 1 (introduce-delta) " + GENERAL + "it fails at B=1, C=1, K=2, L=2, P=0"),
    "size-named-as-index": ("the premise that every name stands for one thing", "PROVED"),
    "floats-read-as-decimals": ("the evaluator's exact reading of floats", "PROVED"),
    "floats-in-rules-general": ("the obligation that a general step holds no float",
                                "step 1 (move-into-sum) " + GENERAL + "it fails at B=1, C=1, K=2, L=2, P=0"),
    "labels-with-assumptions": ("the premise that a tensor's label is its plain name",
                                "step 1 (roots-of-unity-sum) " + GENERAL + "at K = L = 2, W[0, 0] = 1/2 the sides are"),
    "reads-through-ranges": ("the reads' dependence through the ranges around them", "PROVED"),
    "names-printed-alike": ("the premise that names print apart", "PROVED"),
    "divisions-by-zero-general": ("the obligation that every division is by a value proved non-zero",
                                  "step 1 (move-into-sum) " + GENERAL + "it fails at B=1, C=1, K=1, L=2, P=0"),
    "reads-past-a-shape-general": ("the obligation that every read lies inside its tensor's shape",
                                   "step 1 (unfold-definition) " + GENERAL + "it fails at B=1, C=1, K=2, L=3, P=0"),
    "masked-softmax-row-may-be-empty": ("softmax-sums-to-one's obligation that Z > 0 (a key every row shows)",
                                        "step 1 (softmax-sums-to-one) " + GENERAL + "it fails at B=1, C=1, K=1, L=2, P=1"),
    "limit-keeps-alpha": ("the limit operator's freedom from α", "PROVED"),
    "matcher-sees-direct-reads-only": ("the matcher's look through definitions", "PROVED"),
    "reference-tolerance-loose": ("the reference check's rounding tolerance", "PROVED"),
    "reference-integer-inputs-only": ("the reference check's dyadic inputs", "PROVED"),
    "reference-named-as-the-library": ("the reference check's honest label", "PROVED, 'reference (torch.nn.functional.linear)"),
    "twin-names": ("the unique-names premise", "PROVED"),
    "half-bounds-general": ("the check that every sum's bounds are integers",
                            "step 1 (introduce-delta) " + GENERAL + "it fails at B=1, C=1, K=3, L=3, P=0"),
    "limit-peak-reads-the-key": ("the peak's being one point and the error values' check", "PROVED"),
    "sizes-declared-even": ("the premise that no size is declared even or odd", "PROVED"),
    "mobius-folded-by-sympy": ("evosym's fold of μ (at integers only)", "PROVED"),
    "mobius-over-a-dependent-n": ("mobius-sum's obligation that n and e are constants of the sum",
                                  "step 1 (mobius-sum) " + GENERAL + "it fails at B=1, C=1, K=2, L=2, P=0"),
    "support-counts-related-atoms": ("the support check's proof that a tap of Ω is non-zero", "PROVED"),
    "sympy-decides-a-sign": ("the bounded comparison's conditions on SymPy's word", "PROVED"),
    "quotient-by-a-zero-in-disguise": ("cancelling a quotient only by a denominator proved non-zero", "PROVED"),
    "subnormal-number-bound": ("the float evaluation's refusal of subnormal numbers", "PROVED"),
    "division-by-a-zero-in-disguise": ("the evaluator's refusal to divide by a value not proved non-zero", "PROVED"),
    "indicator-read-as-real": ('the indicator domain of "not 0"', "PROVED"),
    "function-outside-its-domain": ("the evaluator's refusal of a function where it may have no value", "PROVED"),
    "limit-in-a-definition": ("the sharpness's being a parameter's entry", "PROVED"),
}
# what the real checker says about each hostile example
REFUSED = {
    "binder-assumptions-unchecked": "summation variable m is declared integer=True, positive=True",
    "grid-outside-domains": "the grid is outside the sizes' domains",
    "open-definitions": "the body of D[b, c, q] reads u",
    "reads-outside-shapes": "ill-formed",
    "reindex-by-half-size": "not general: rule replayed; precondition not proved symbolically: K/2 is integer-valued",
    "split-into-half-blocks": "C/2 is a positive integer (not proved)",
    "congruence-with-half-period": "L/2 is a positive integer (not proved)",
    "backwards-sums-read-empty": "ill-formed",
    "masked-softmax-row-may-be-empty": "Z[b, o, i] > 0 is not proved: no key of the range 0 ≤ q ≤ L - 1",
    "limit-keeps-alpha": "β still depends on the sharpness alpha[0]",
    "matcher-sees-direct-reads-only": "reads the value x at the aggregated channel c",
    "reference-tolerance-loose": "differs from the file's reference",
    "reference-integer-inputs-only": "differs from the file's reference",
    "reference-named-as-the-library": "the file's reference, which it calls",
    "twin-names": "the name V is declared 2 times",
    "ill-formed-ranges-general": "the sum over m runs over a well-formed range: integer bounds, K - 2 ≥ 2 − 1 for every size",
    "half-bounds-general": "the sum over m runs over a well-formed range: integer bounds, K - 1 ≥ -K/2 − 1",
    "size-named-as-index": "the name i stands for 2 things",
    "floats-read-as-decimals": "step 1 (move-into-sum): before and after differ",
    "floats-in-rules-general": "the result holds no float constant",
    "labels-with-assumptions": "the tensor W is read through a label that carries assumptions",
    "reads-through-ranges": "the kernel reads the value x at the aggregated channel c",
    "names-printed-alike": "the names sigma and \u03c3 print alike (as \u03c3)",
    "divisions-by-zero-general": "P ≠ 0 wherever it divides, for every size in its domain (not proved symbolically",
    "reads-past-a-shape-general": "the read W[o, i] lies inside W's shape (C, K), for every size in its domain",
    "limit-peak-reads-the-key": "error bound at finite α: not checked: it declares no sharpness α",
    "sizes-declared-even": "evosym does not reason with even= or odd=",
    "mobius-folded-by-sympy": "step 2 (merge-sums): merge-sums with these arguments does not produce the recorded "
                              "result",
    "mobius-over-a-dependent-n": "Mod(d, K) + 2 and 1 do not depend on d (constants of the sum) (they read a variable "
                                 "the sum binds)",
    "support-counts-related-atoms": "support of K: the support of K could not be decided",
    "sympy-decides-a-sign": "step 1 (introduce-delta): before and after are not proved equal",
    "quotient-by-a-zero-in-disguise": "step 1 (introduce-delta): the starting expression is ill-formed at these sizes",
    "subnormal-number-bound": "support of K: the support of K could not be decided",
    "division-by-a-zero-in-disguise": "step 1 (introduce-delta): the starting expression is ill-formed at these sizes",
    "indicator-read-as-real": "support of K: the support of K could not be decided",
    "function-outside-its-domain": "step 1 (introduce-delta): the starting expression is ill-formed at these sizes",
    "limit-in-a-definition": "limit step 1 (softmax-limit): the sharpness s[0] cannot tend to ∞ on its own: it reads s, "
                             "a definition, not a parameter",
}


@pytest.fixture(scope="module")
def rows():
    return {m.name: (m, o, t) for m, o, t in selftest_rows(TM.CATEGORY)}


def test_the_category_has_a_mutant_for_every_hole():
    mine = [m for m in MUTANTS if m.category == TM.CATEGORY]
    assert sorted(m.name for m in mine) == sorted([*EXPECTED, "prove-in-the-files-process", "operator-file-unconfined",
                                                              "operator-file-starts-processes",
                                                              "generation-imports-the-file"])
    holes = {int(re.match(r"hole (\d+):", m.description).group(1)) for m in mine}
    assert holes == set(range(1, 37))


def test_every_checker_mutant_is_killed_by_its_fix(rows):
    assert all(o.killed for _, o, _ in rows.values()), summary([r for r in rows.values()], verbose=True)
    for name, (by, verdict) in EXPECTED.items():
        _, o, _ = rows[name]
        assert o.by == by, (name, o.by)
        # the kill condition is that the hostile example got through the mutant: the mutation patched something
        assert o.detail.startswith("without the fix: " + verdict), (name, o.detail)
        assert REFUSED[name] in o.detail.split("; the checker: ", 1)[1], (name, o.detail)
    _, o, _ = rows["prove-in-the-files-process"]
    assert o.by == "the child process of evosym prove"
    assert o.detail.startswith("in the file's process: PROVED; evosym prove: exit 1, FAILED hostile_patch_ok")
    _, o, _ = rows["operator-file-unconfined"]
    assert o.by == "the Landlock confinement of the worker"
    assert o.detail.startswith("unconfined: the file outside changed; confined: unchanged (PROVED textbook_conv1d")
    _, o, _ = rows["operator-file-starts-processes"]
    assert o.by == "the seccomp filter refusing fork and clone in the worker"
    assert o.detail.startswith("processes allowed: the detached process outlived the run; confined: none (PROVED")
    _, o, _ = rows["generation-imports-the-file"]
    assert o.by == "the plain data handed back and the confined reference process"
    assert o.detail.startswith("imported: the file outside changed; evosym codegen: unchanged (# Generated by evosym")


def test_the_category_is_fast(rows):
    assert sum(t for _, _, t in rows.values()) < 30
    assert max(t for _, _, t in rows.values()) < 10


def test_every_mutation_is_undone(rows):
    """After the whole category ran here, the checker is the real one again: every hostile example is refused."""
    assert isinstance(CheckedProof.__dict__["ok"], property) and CheckedProof.ok.fget.__module__ == "evosym.proof.proof"
    assert isinstance(Evaluator.__dict__["_outside"], staticmethod)
    assert PR.binder_problem.__module__ == PR._grid.__module__ == PR.free_names.__module__ == "evosym.proof.premises"
    assert SM.visible_key.__module__ == "evosym.proof.rules.softmax" and SM.visible_key.__name__ == "visible_key"
    for build, step in ((TM.positive_binder_proof, 1), (TM.grid_outside_domain_proof, None), (TM.open_definition_proof, 0),
                        (TM.short_shape_proof, None), (TM.half_shift_proof, 0), (TM.backwards_sum_proof, 0),
                        (TM.hidden_row_proof, 0)):
        assert TM.accepted(build().check(reference=False), step) is None, build.__name__
    assert TM.accepted(TR.guarded_range_proof().check(reference=False), 0, "general-only") is None
    for build in (TR.float_in_empty_sum_proof, TR.integer_label_proof):
        assert TM.accepted(build().check(reference=False), 0, "general-only") is None, build.__name__
    for build in (TR.size_named_as_index_proof, TR.rounded_float_proof, TR.pinned_by_range_proof):
        assert TM.accepted(build().check(reference=False)) is None, build.__name__
    for build in (TC.renamed_square_proof, TC.slightly_off_reference_proof, TC.rounding_reference_proof,
                  TF.folded_mobius_proof):
        assert not build().ok, build.__name__
    assert sp.mobius.eval.__func__ is NU._eval and str(sp.mobius(2 * TF.a)) == "mobius(2*a)"
    assert TF.DV.constant_over.__module__ == "evosym.proof.rules.divisors"
    assert TM.accepted(TF.dependent_mobius_proof().check(reference=False), 0, "general-only") is None
    assert TF.SU.nonzero.__module__ == "evosym.proof.magnitude" and TF.SU.vanishes.__name__ == "vanishes"
    assert not TF.vanishing_tap_proof().check(reference=False).ok
    assert TF.BD._sympy_may_decide.__module__ == "evosym.proof.bounded" and TF.MG.TINY == 1e-290
    assert TF.PY.cancel_quotients.__module__ == "evosym.proof.poly" and TF.EV._divisor.__module__ == "evosym.proof.evaluate"
    assert not TF.lifted_subnormal_proof().check(reference=False).ok
    assert TF.PF.entries_of is TF.MG.entries_of and not TF.indicator_tap_proof().check(reference=False).ok
    for body in ((sp.sign((TF.t + 1) * TF.UP - (TF.t + 1) * TF.TINY) + 1) * TF.W[0, 0],):
        assert not TF.dropped_term_proof(body)().ok


def test_the_harness_counts_no_kill_it_did_not_see():
    """A hostile example the real checker accepts means the fix is missing; one the mutant refuses too means the
    mutation disabled nothing: both survive."""
    def valid():   # a linear layer without bias, its derivation and an honest reference: PROVED
        form = sp.Sum(TC.W[TC.o, TC.c] * TC.X[TC.b, TC.n, TC.c], (TC.c, 0, TC.C - 1))
        return TC._pointwise(TC._tokens(form, reference=lambda a, s: a["x"] @ a["W"].T))
    missing = TM.trial("a fix", valid, contextlib.nullcontext)
    assert not missing.killed and "the fix (a fix) is missing" in missing.detail
    inert = TM.trial("a fix", lambda: TM.half_shift_proof().check(reference=False), contextlib.nullcontext, step=0)
    assert not inert.killed and "the mutation disables nothing that matters" in inert.detail
    # a general label that no witness refutes is not a kill either
    unrefuted = TM.trial("the integrality obligation", lambda: TM.half_shift_proof().check(reference=False),
                         lambda: TM.without_integrality(TM.ReindexSum, "integer-valued"), step=0, witness=lambda cp: None)
    assert not unrefuted.killed and "no witness shows the label false" in unrefuted.detail


def test_the_hostile_operator_file_is_packaged_but_never_listed():
    """It lies in the packaged operators folder, and its leading underscore keeps it out of the globs that load
    every worked operator file (tests/test_rules.py) into the test process."""
    path = OPERATORS / "_hostile_patch_ok.py"
    assert path.is_file() and TC.HOSTILE_FILE == path
    assert path not in set(Path(OPERATORS).glob("[!_]*.py"))


def test_the_command_line_offers_every_category():
    from evosym.cli.main import build_parser
    from evosym.selftest.registry import CATEGORIES
    parser = build_parser()
    sub = next(a for a in parser._subparsers._group_actions if "selftest" in a.choices).choices["selftest"]
    [category] = [a for a in sub._actions if a.dest == "category"]
    assert tuple(category.choices) == CATEGORIES
