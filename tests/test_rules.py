"""Every rule that claims a general identity is checked against the bounded checker on a dense grid.

A rule wrong for some sizes cannot keep its general label: each use below is general (all its
preconditions proved symbolically) and must also agree exactly at every one of many shapes,
far more than the catalogue's own grids.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest
import sympy as sp

from evosym import Derivation, catalogue
from evosym.errors import RuleError
from evosym.derivations import _conv as C
from evosym.proof.limit import check_limit, run_limit_target
from evosym.proof.rules import RULES, get_rule

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"
SELFTEST_OPERATORS = Path(__file__).resolve().parent.parent / "evosym" / "selftest" / "operators"


def _dense_conv1d_grid(n: int, seed: int = 11):
    fam = C.ConvFamily(1)
    shapes = []
    for G, Cg, Og, L, K, s, d, P in itertools.product((1, 2), (1, 2), (1, 2), range(1, 7), (1, 2, 3), (1, 2, 3), (1, 2), (0, 1, 2)):
        if (L + 2 * P - d * (K - 1) - 1) // s + 1 >= 1 and L + 2 * P - d * (K - 1) - 1 >= 0:
            shapes.append(fam.config(B=1, G=G, C_g=Cg, O_g=Og, L=L, K=K, s=s, delta=d, P=P))
    return random.Random(seed).sample(shapes, n)


def test_conv1d_rules_hold_on_a_dense_grid():
    proof = catalogue.load("conv1d").proof()
    cp = proof.check(grid=_dense_conv1d_grid(80), reference=False)
    assert cp.ok, cp.failures()
    assert {s.rule for s in cp.steps} == {"unfold-definition", "split-channels-into-groups", "introduce-delta",
                                         "exchange-sums", "factor-out", "name-kernel"}
    assert all(s.check.general for s in cp.steps)


def test_depthwise_rules_hold_on_more_shapes():
    fam = C.ConvFamily(2, depthwise=True)
    grid = [fam.config(C=c, M=m_, L=(h, w), K=(kh, kw), s=(sh, 1), delta=(1, dw), P=(ph, 0))
            for c, m_, h, w, kh, kw, sh, dw, ph in [(1, 1, 3, 2, 2, 1, 1, 1, 0), (2, 1, 4, 3, 3, 2, 2, 2, 1),
                                                    (1, 3, 2, 5, 1, 3, 2, 1, 2), (3, 1, 5, 4, 2, 2, 3, 1, 1)]]
    cp = catalogue.load("depthwise_conv2d").proof().check(grid=grid)
    assert cp.ok, cp.failures()


def test_every_rule_has_a_statement_and_is_exercised_by_a_checked_proof():
    """Each rule is used by a proof the tests check (catalogue or docs examples), so it meets grids."""
    sources = catalogue.catalogue_names() + [str(p) for p in sorted(EXAMPLES.glob("*.py"))] + \
        [str(p) for p in sorted(SELFTEST_OPERATORS.glob("[!_]*.py"))]
    used = set()
    for source in sources:
        mod = catalogue.load(source)
        proof = mod.proof()
        used |= {s.rule for s in proof.steps}
        if mod.operator.limit is not None:   # the limit section's steps, checked on the grid too
            used |= {s.rule for s in check_limit(proof, mod.operator.grid, run_limit_target(mod.operator, mod.operator.grid)).steps}
    for name, rule in RULES.items():
        assert rule.statement() and rule.statement()[0].isupper(), name
        assert name in used, f"rule {name} is used by no checked proof, so never checked on a grid"


def test_unknown_rule_suggests():
    with pytest.raises(RuleError, match="did you mean exchange-sums"):
        get_rule("exchange-sum")


def test_rules_refuse_wrong_places():
    op = catalogue.load("linear").operator
    d = Derivation(op)
    with pytest.raises(RuleError, match="not a defined tensor"):
        d.apply("unfold-definition", name="nope")
    with pytest.raises(RuleError, match="no sum binds"):
        d.apply("exchange-sums", outer=[op.batch], inner=[op.out_channel])
    with pytest.raises(RuleError, match="bad arguments"):
        d.apply("factor-out", factor=1)


def test_arguments_of_the_wrong_kind_are_named():
    """Arguments a rule declares as index variables, given as something else, are named in a RuleError (an adversarial
    pass, 2026-12-07: exchange-sums with outer=[] raised a bare IndexError, reindex-sum's new=3 SymPy's ValueError);
    and arguments of the right kinds that still fit no sum say so, as the checker's replay does."""
    op = catalogue.load("conv1d").operator
    c, u = sp.Symbol("c'", integer=True), sp.Symbol("u", integer=True)
    e = next(r for r in op.traditional.atoms(sp.Indexed) if str(r.base) == "x_pad").indices[-1]   # s·i + δ·u − P
    cases = [("exchange-sums", dict(outer=[], inner=[u]), "outer must be a non-empty list of Symbols"),
             ("exchange-sums", dict(outer=[c], inner=("u",)), "inner must be a non-empty list of Symbols"),
             ("reindex-sum", dict(var=u, new=3, expr_of_new=3), "new must be a Symbol .*not 3"),
             ("name-kernel", dict(name="K", channel=c, position=[u + 1], indices=[u]), "position must be a non-empty"),
             ("introduce-delta", dict(targets=[(e, 5, 0, 3)], within=u), "its arguments do not fit the rule "
                                                                        r"\(ValueError: .*\); `evosym rules`")]
    for rule, args, why in cases:
        with pytest.raises(RuleError, match=f"^{rule}: {why}"):
            Derivation(op).apply(rule, **args)
    Derivation(op).apply("introduce-delta", targets=[(e, sp.Symbol("m", integer=True), 0, 3)], within=None)   # optional


@pytest.mark.parametrize("path, grid", [
    ("evosym/selftest/operators/textbook_conv1d.py",   # reindex-sum (reflection), negative window offsets
     [{"B": 1, "C": c, "O": o, "L": L, "K": K, "P": P} for c, o, L, K, P in
      [(1, 1, 1, 1, 0), (2, 1, 3, 2, 2), (1, 2, 6, 4, 1), (1, 1, 2, 3, 1), (2, 2, 5, 3, 0), (1, 1, 4, 1, 3)]]),
    ("docs/examples/my_avg_pool1d.py",       # move-into-sum, introduce-delta from the output index's range
     [{"B": b, "C": c, "L": L, "K": K, "s": s} for b, c, L, K, s in
      [(1, 1, 1, 1, 1), (2, 1, 6, 2, 3), (1, 2, 9, 4, 2), (1, 1, 5, 5, 1), (1, 3, 7, 3, 4)]]),
    ("evosym/selftest/operators/gated_conv1d.py",   # a dynamic kernel
     [{"B": b, "C": c, "O": o, "L": L, "R": R} for b, c, o, L, R in [(1, 1, 1, 1, 1), (2, 2, 1, 3, 0 + 1), (1, 1, 2, 6, 2)]]),
])
def test_more_rules_hold_on_more_shapes(path, grid):
    mod = catalogue.load(str(Path(__file__).resolve().parent.parent / path))
    by_name = {str(s): s for s, _ in mod.operator.sizes}
    shapes = [{by_name[k]: v for k, v in g.items()} for g in grid]
    cp = mod.proof().check(grid=shapes)
    assert cp.ok, cp.failures()


def test_mhsa_rules_hold_on_more_shapes():
    """split-sum and softmax-sums-to-one (general) agree exactly at shapes beyond the catalogue grid."""
    mod = catalogue.load("mhsa")
    by_name = {str(s): s for s, _ in mod.operator.sizes}
    grid = [{"B": 1, "N": 3, "d": 1, "H": 1, "W": 2}, {"B": 1, "N": 2, "d": 2, "H": 2, "W": 1},
            {"B": 2, "N": 1, "d": 1, "H": 2, "W": 2}]
    cp = mod.proof().check(grid=[{by_name[k]: v for k, v in g.items()} for g in grid], reference=False)
    assert cp.ok, cp.failures()
    assert {"split-sum", "softmax-sums-to-one"} <= {s.rule for s in cp.steps if s.check.general}


def _derivation_until(name, rule):
    """(module, derivation, step): the operator's derivation replayed up to (not including) the first use of ``rule``."""
    mod = catalogue.load(name)
    d = Derivation(mod.operator)
    for step in mod.proof().steps:
        if step.rule == rule:
            return mod, d, step
        d.apply(step.rule, **step.kwargs)
    raise AssertionError(f"no {rule} step in {name}")


def _mhsa_at_softmax_step():
    """MHSA's derivation up to the bias term Σ_q A[…, q] that softmax-sums-to-one removes."""
    return _derivation_until("mhsa", "softmax-sums-to-one")


def test_softmax_sums_to_one_refuses_other_sums():
    """Only the sum over exactly the normalised axes is 1: summing over one of the two key axes, or
    over a definition that is not a softmax, is refused."""
    mod, d, step = _mhsa_at_softmax_step()
    n3, m3 = step.kwargs["over"]
    with pytest.raises(RuleError, match="not exactly"):
        d.apply("softmax-sums-to-one", name="attn", over=[n3])
    with pytest.raises(RuleError, match="must be one read of the definition"):
        d.apply("softmax-sums-to-one", name="logit", over=[n3, m3])
    d.apply("softmax-sums-to-one", name="attn", over=[n3, m3])   # the real use goes through


def test_softmax_over_a_shorter_range_is_refused(tmp_path):
    """A denominator that sums over fewer keys than the attention then reads is not a softmax over
    those keys: the rule refuses, so the derivation cannot claim Σ_q A = 1."""
    src = (Path(__file__).resolve().parent.parent / "derivations/mhsa.py").read_text()
    src = src.replace("from ._", "from evosym.derivations._")   # a user's file: absolute imports of the helpers
    src = src.replace("(n2, 0, W_ - 1), (m2, 0, H - 1))", "(n2, 0, W_ - 1), (m2, 0, H - 2))")
    path = tmp_path / "mhsa_short_softmax.py"
    path.write_text(src.replace('name="mhsa"', 'name="mhsa_short_softmax"'))
    with pytest.raises(RuleError, match="not the sum over the axes"):
        catalogue.load(str(path)).proof()


def test_split_sum_needs_fresh_names():
    mod, d, _ = _mhsa_at_softmax_step()
    fresh = Derivation(mod.operator)
    steps = mod.proof().steps
    for step in steps[:3]:
        fresh.apply(step.rule, **step.kwargs)
    c2 = next(v for v, _ in steps[3].kwargs["rename"])
    i = mod.operator.position[0]
    fresh.apply("split-sum", over=c2, rename=[(c2, i)])
    assert not fresh.steps[-1].obligations[-1].proved   # i is the output position: not fresh, not general


def _fourier_until(rule):
    """The convolution theorem's derivation up to (not including) the first use of ``rule``."""
    return _derivation_until("fourier_conv1d", rule)


def test_roots_of_unity_sum_refuses_a_summand_or_range_it_does_not_cover():
    """The orthogonality rule needs the bare exponential over exactly one period."""
    import sympy as sp
    mod, d, step = _fourier_until("factor-out")
    k = step.kwargs["over"][0]
    with pytest.raises(RuleError, match="not e\\^"):   # x·W still inside the frequency sum
        d.apply("roots-of-unity-sum", over=k)
    mod, d, step = _fourier_until("roots-of-unity-sum")
    node = next(n for n in sp.preorder_traversal(d.expr) if isinstance(n, sp.Sum) and n.limits[0][0] == k)
    short = d.expr.xreplace({node: sp.Sum(node.function, (k, 0, node.limits[0][2] - 1))})
    d2 = Derivation(mod.operator)
    d2.expr = short
    with pytest.raises(RuleError, match="not one period"):
        d2.apply("roots-of-unity-sum", over=k)
    d.apply("roots-of-unity-sum", over=k)   # the real use goes through, every obligation proved
    assert all(ob.proved for ob in d.steps[-1].obligations)


def test_congruence_to_remainder_needs_one_period():
    mod, d, step = _fourier_until("congruence-to-remainder")
    m = step.kwargs["var"]
    u = next(v for v in mod.operator.traditional.atoms() if str(v) == "c")   # c ranges over channels, not positions
    with pytest.raises(RuleError):
        d.apply("congruence-to-remainder", var=u)
    d.apply("congruence-to-remainder", var=m)
    assert all(ob.proved for ob in d.steps[-1].obligations)


def test_a_wrong_orthogonality_is_caught_by_the_exact_step_check(monkeypatch):
    """If the rule claimed Σ_k e^{2πi·k·n/L} = L·[n + 1 ≡ 0 (mod L)] (off by one), the step comparison
    (exact arithmetic in the cyclotomic field) must refute it at the grid shapes."""
    import sympy as sp
    rule = RULES["roots-of-unity-sum"]
    real = type(rule).apply

    def wrong(self, expr, ctx, **args):
        app = real(self, expr, ctx, **args)
        moved = app.after.replace(lambda e: isinstance(e, sp.Mod) and not e.args[0].has(sp.Mod),
                                  lambda e: sp.Mod(e.args[0] + 1, e.args[1]))
        return type(app)(moved, app.obligations, app.defines)
    monkeypatch.setattr(type(rule), "apply", wrong)
    checked = catalogue.load("fourier_conv1d").proof().check()   # afresh: the rule is patched
    assert not checked.ok
    bad = [s for s in checked.steps if not s.check.ok]
    assert bad and bad[0].rule == "roots-of-unity-sum"


def test_conjugate_real_names_a_tensor_that_is_conjugated():
    mod, d, _ = _fourier_until("conjugate-real")
    with pytest.raises(RuleError, match="no conjugate"):
        d.apply("conjugate-real", name="x")
    d.apply("conjugate-real", name="W")
    assert d.steps[-1].obligations[0].proved


def test_merge_sums_needs_equal_ranges_and_a_common_factor():
    import sympy as sp
    from evosym.proof.rules.base import Context
    a_, b_, L_, M_ = sp.symbols("a b L M", integer=True, positive=True)
    x_, f_, g_ = sp.IndexedBase("x"), sp.IndexedBase("F"), sp.IndexedBase("G")
    rule = get_rule("merge-sums")
    ok = rule.apply(sp.Sum(f_[a_] * x_[a_], (a_, 0, L_ - 1)) + sp.Sum(g_[b_] * x_[b_], (b_, 0, L_ - 1)), Context(),
                    first=a_, second=b_, common=x_[a_])
    assert ok.after == sp.Sum((f_[a_] + g_[a_]) * x_[a_], (a_, 0, L_ - 1)) and all(o.proved for o in ok.obligations)
    with pytest.raises(RuleError, match="ranges differ"):
        rule.apply(sp.Sum(f_[a_], (a_, 0, L_ - 1)) + sp.Sum(g_[b_], (b_, 0, M_ - 1)), Context(), first=a_, second=b_)
    with pytest.raises(RuleError, match="not a factor of both"):
        rule.apply(sp.Sum(f_[a_] * x_[a_], (a_, 0, L_ - 1)) + sp.Sum(g_[b_], (b_, 0, L_ - 1)), Context(),
                   first=a_, second=b_, common=x_[a_])
    with pytest.raises(RuleError, match="capture"):   # G reads a freely: renaming b to a would capture it
        rule.apply(sp.Sum(f_[a_], (a_, 0, L_ - 1)) + sp.Sum(g_[b_] * g_[a_], (b_, 0, L_ - 1)), Context(),
                   first=a_, second=b_)


def test_mhsa_causal_rules_hold_on_more_shapes():
    """The masked softmax-sums-to-one (general: Z > 0 proved from key 0, visible to every query) agrees exactly at
    shapes beyond the catalogue grid, longer sequences included."""
    mod = catalogue.load("mhsa_causal")
    by_name = {str(s): s for s, _ in mod.operator.sizes}
    grid = [{"B": 1, "N": 1, "d": 1, "L": 5}, {"B": 1, "N": 3, "d": 1, "L": 2}, {"B": 1, "N": 1, "d": 2, "L": 1}]
    cp = mod.proof().check(grid=[{by_name[k]: v for k, v in g.items()} for g in grid], reference=False)
    assert cp.ok, cp.failures()
    assert {"split-sum", "softmax-sums-to-one"} <= {s.rule for s in cp.steps if s.check.general}


def test_softmax_over_a_diagonal_denominator_is_refused():
    """Z[b, o, i] := Σ_w exp(ℓ[b, o, w, w]) reads the summed variable at two places: it is not the sum that
    A[b, o, i, m] := exp(ℓ[b, o, i, m])/Z[b, o, i] normalises (with ℓ = x[i]·x[m] the rows do not sum to one).
    The rule once matched the last of the two places only and took the step as general."""
    import sympy as sp
    from evosym import Definition, TensorDecl, index, size
    from evosym.proof.rules.base import Context
    B, C, L = size("B"), size("C"), size("L")
    b, o, i, m, w = (index(t) for t in "b o i m w".split())
    x = sp.IndexedBase("x")
    ell = Definition("ell", (b, o, i, m), x[b, o, i] * x[b, o, m], shape=(B, C, L, L))
    z = Definition("Z", (b, o, i), sp.Sum(sp.exp(ell[b, o, w, w]), (w, 0, L - 1)), shape=(B, C, L))
    a = Definition("attn", (b, o, i, m), sp.exp(ell[b, o, i, m]) / z[b, o, i], shape=(B, C, L, L))
    ctx = Context({b: (0, B - 1), o: (0, C - 1), i: (0, L - 1)}, {d.name: d for d in (ell, z, a)},
                  frozenset({B, C, L}), "x", {"x": TensorDecl("x", (B, C, L), "input")})
    with pytest.raises(RuleError, match="not the sum over the axes"):
        get_rule("softmax-sums-to-one").apply(sp.Sum(a[b, o, i, m], (m, 0, L - 1)), ctx, name="attn", over=[m])
