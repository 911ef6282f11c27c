"""True convolution (1-D, 2-D, 3-D), the LTI system, Dirichlet convolution and Möbius inversion in both directions
(issue 31).

The catalogue-wide tests prove, verify and check these operators like every other; here: the new
rules (divisor-delta, swap-divisors, mobius-sum) refuse wrong uses, the identity mobius-sum trusts is
compared with SymPy far beyond the grids, the causal property's verdicts, the divisor lowering (no
N×N kernel, and a wrong gather fails the numeric check), and the framework identities the docs state.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sympy as sp
import torch

from evosym import Derivation, Global, Window, WindowAxis, catalogue
from evosym.analysis.report import properties_of
from evosym.codegen.check import check_operator
from evosym.codegen.generate import generate
from evosym.errors import RuleError
from evosym.proof.rules.divisors import divides

from evosym.derivations import _convolve as CV
from evosym.derivations import convolve2d_full, convolve2d_same
from evosym.derivations import convolve2d_valid as CONV2D
from evosym.derivations import convolve3d_full, convolve3d_same, convolve3d_valid
from evosym.derivations import convolve_full, convolve_same, convolve_valid
from evosym.derivations import dirichlet_conv as DIRICHLET
from evosym.derivations import mobius_inversion as MOBIUS
from evosym.derivations import mobius_inversion_converse as CONVERSE
from evosym.proof.rules import Context, get_rule

CONVOLVE = {"full": convolve_full, "same": convolve_same, "valid": convolve_valid}
CONVOLVE2D = {"full": convolve2d_full, "same": convolve2d_same, "valid": CONV2D}
CONVOLVE3D = {"full": convolve3d_full, "same": convolve3d_same, "valid": convolve3d_valid}


def _dirichlet(*, traditional=None, **divisor_delta):
    """dirichlet_conv's derivation with divisor-delta's arguments (or the traditional form) replaced."""
    op = DIRICHLET.OPERATOR if traditional is None else dataclasses.replace(DIRICHLET.OPERATOR, traditional=traditional)
    M = DIRICHLET
    args = dict(n=M.p + 1, divisor=M.d + 1, shift=1, var=M.m, lo=0, hi=M.N - 1, within=M.d)
    args.update(divisor_delta)
    d = Derivation(op)
    d.apply("divisor-delta", **args)
    d.apply("introduce-delta", targets=[(M.o, M.c, 0, M.C - 1)], within=M.m)
    d.apply("exchange-sums", outer=[M.d], inner=[M.m, M.c])
    d.apply("factor-out", factor=sp.IndexedBase("x")[M.b, M.c, M.m], over=[M.d])
    d.apply("name-kernel", name="K", channel=M.c, position=(M.m,), indices=(M.o, M.c, M.p, M.m))
    d.conclude(omega=M.OMEGA, channel=M.c, neighbour=(M.m,))
    return d.proof().check(reference=False)


def test_dirichlet_proof_is_general_and_its_baseline_helper_proves():
    cp = _dirichlet()
    assert cp.ok, cp.failures()
    assert [s.rule for s in cp.steps][0] == "divisor-delta" and all(s.check.general for s in cp.steps)


def test_divisor_delta_with_a_range_too_short_is_bounded_and_fails():
    # hi = N − 2 drops the quotient n/d = N: the precondition is not proved, and the grid finds the lost term
    cp = _dirichlet(hi=DIRICHLET.N - 2)
    assert not cp.ok
    first = cp.steps[0]
    assert not first.check.general and not first.check.ok
    assert any(not ob.proved and "≤" in ob.text for ob in first.obligations)


@pytest.mark.parametrize("bad", [
    dict(shift=0),                       # reads x at (p+1)/(d+1), which the summand does not read
    dict(n=DIRICHLET.p),                 # the guard is [d + 1 | p + 1], not [d + 1 | p]
    dict(divisor=DIRICHLET.d + 2),       # not the guard's divisor
])
def test_divisor_delta_refuses_a_read_or_guard_that_is_not_there(bad):
    with pytest.raises(RuleError):
        _dirichlet(**bad)


def test_divisor_delta_without_the_guard_is_refused_and_a_zero_based_divisor_is_not_general():
    M = DIRICHLET
    unguarded = sp.Sum(M.f[M.o, M.d] * M.x[M.b, M.o, (M.p + 1) / (M.d + 1) - 1], (M.d, 0, M.N - 1))
    with pytest.raises(RuleError):   # the traditional form itself reads x at 3/2 (ill-formed) and has no guard
        _dirichlet(traditional=unguarded)
    # divisor d (from 0): d ≥ 1 is not provable, so the step cannot be general whatever the grid says
    zero_based = sp.Sum(divides(M.d, M.p + 1) * M.f[M.o, M.d] * M.x[M.b, M.o, (M.p + 1) / M.d - 1], (M.d, 0, M.N - 1))
    try:
        cp = _dirichlet(traditional=zero_based, divisor=M.d)
    except RuleError:
        return
    assert not cp.ok and not cp.steps[0].check.general


def _mobius(*, hi=None, e=None, skip_swap=False):
    M = MOBIUS
    d = Derivation(M.OPERATOR)
    d.apply("unfold-definition", name="G")
    d.apply("move-into-sum", factor=divides(M.d + 1, M.p + 1) * sp.mobius(M.d + 1), into=M.e)
    d.apply("exchange-sums", outer=[M.d], inner=[M.e])
    if not skip_swap:
        d.apply("swap-divisors", n=M.p + 1, first=M.d + 1, second=M.e + 1, within=M.d)
    d.apply("factor-out", factor=M.x[M.b, M.o, M.e] * divides(M.e + 1, M.p + 1), over=[M.d])
    d.apply("mobius-sum", over=M.d, n=M.p + 1, e=M.e + 1 if e is None else e)
    d.apply("introduce-delta", targets=[(M.o, M.c, 0, M.C - 1)], within=M.e)
    d.apply("name-kernel", name="K", channel=M.c, position=(M.e,), indices=(M.o, M.c, M.p, M.e))
    d.conclude(omega=Window((WindowAxis(1, 1, 1, 0, M.N),)), channel=M.c, neighbour=(M.e,))
    return d.proof().check(reference=False)


def test_mobius_inversion_proof_is_general():
    cp = _mobius()
    assert cp.ok, cp.failures()
    assert {"swap-divisors", "mobius-sum"} <= {s.rule for s in cp.steps} and all(s.check.general for s in cp.steps)


def test_mobius_sum_refuses_wrong_uses():
    # without the swap the summand is [d | n]·[e | n/d]·μ(d), not [d | n/e]·μ(d): no factor to move out, no match
    with pytest.raises(RuleError):
        _mobius(skip_swap=True)
    # e = 1 claims Σ_{d | n} μ(d) = [n = 1] where the sum is over the divisors of n/(e+1): the guard [1 | n] is
    # not the summand's quotient, so the rule does not match
    with pytest.raises(RuleError):
        _mobius(e=1)


@pytest.mark.parametrize("lo,hi,proved", [(0, "N - 1", True), (0, "N - 2", False), (1, "N - 1", False), (0, "p", True),
                                           (0, "p - 1", False)])
def test_mobius_sum_needs_the_divisor_range_to_start_at_1_and_reach_n(lo, hi, proved):
    """[e | n]·Σ_{d=lo}^{hi} [d + 1 | n/e]·μ(d + 1): general only when d + 1 runs over 1 … D with D ≥ n."""
    M = MOBIUS
    n, e1 = M.p + 1, M.e + 1
    hi = sp.sympify(hi, locals={"N": M.N, "p": M.p})
    expr = divides(e1, n) * M.x[M.b, M.o, M.e] * sp.Sum(divides(M.d + 1, n / e1) * sp.mobius(M.d + 1), (M.d, lo, hi))
    ctx = Context(ranges={M.p: (0, M.N - 1), M.e: (0, M.N - 1), M.b: (0, M.B - 1), M.o: (0, M.C - 1)},
                  sizes=frozenset({M.B, M.C, M.N}))
    app = get_rule("mobius-sum").apply(expr, ctx, over=M.d, n=n, e=e1)
    assert all(ob.proved for ob in app.obligations) == proved
    assert app.after == M.x[M.b, M.o, M.e] * sp.KroneckerDelta(e1, n)


def _converse(*, definition=None, outer=None, skip_swap=False):
    """mobius_inversion_converse's derivation, with the μ factor of its definition f = g ∗ μ or the outer sum's
    factor (1 = 1(d)) replaced (a wrong converse), or without the swap of the divisor guards."""
    M = CONVERSE
    op, defn = M.OPERATOR, M.F
    if definition is not None:
        defn = dataclasses.replace(M.F, body=sp.Sum(divides(M.e + 1, M.m + 1) * M.x[M.b, M.c, M.e] * definition,
                                                    (M.e, 0, M.N - 1)))
        op = dataclasses.replace(op, definitions=(defn,))
    if outer is not None:
        op = dataclasses.replace(op, traditional=sp.Sum(divides(M.d + 1, M.p + 1) * outer * defn[M.b, M.o, (M.p + 1) / (M.d + 1) - 1],
                                                        (M.d, 0, M.N - 1)))
    d = Derivation(op)
    d.apply("unfold-definition", name="F")
    d.apply("move-into-sum", factor=divides(M.d + 1, M.p + 1) * (outer if outer is not None else 1), into=M.e)
    d.apply("exchange-sums", outer=[M.d], inner=[M.e])
    if not skip_swap:
        d.apply("swap-divisors", n=M.p + 1, first=M.d + 1, second=M.e + 1, within=M.d)
    d.apply("factor-out", factor=M.x[M.b, M.o, M.e] * divides(M.e + 1, M.p + 1), over=[M.d])
    d.apply("mobius-sum", over=M.d, n=M.p + 1, e=M.e + 1)
    d.apply("introduce-delta", targets=[(M.o, M.c, 0, M.C - 1)], within=M.e)
    d.apply("name-kernel", name="K", channel=M.c, position=(M.e,), indices=(M.o, M.c, M.p, M.e))
    d.conclude(omega=Window((WindowAxis(1, 1, 1, 0, M.N),)), channel=M.c, neighbour=(M.e,))
    return d.proof().check(reference=False)


def test_mobius_inversion_converse_proof_is_general_and_uses_the_complementary_divisor():
    cp = _converse()
    assert cp.ok, cp.failures()
    assert [s.rule for s in cp.steps] == [s.rule for s in catalogue.checked("mobius_inversion").steps]
    assert all(s.check.general for s in cp.steps)
    step = next(s for s in cp.steps if s.rule == "mobius-sum")
    assert any("permutes the divisors" in ob.how for ob in step.obligations)
    k = cp.evolution.kernel_body
    assert k == catalogue.checked("mobius_inversion").evolution.kernel_body   # both end as the identity


@pytest.mark.parametrize("wrong", [
    dict(definition=sp.mobius(MOBIUS.e + 1)),                                  # f(m) = Σ_{e|m} g(e)·μ(e): not g ∗ μ
    dict(definition=sp.mobius(MOBIUS.m + 1)),                                  # μ(m), not μ(m/e)
    dict(definition=sp.Integer(1)),                                            # f = g ∗ 1: (g ∗ 1) ∗ 1 ≠ g
    dict(outer=sp.mobius(MOBIUS.d + 1)),                                       # (g ∗ μ) ∗ μ ≠ g
    dict(skip_swap=True),                                                      # the guards not swapped: no match
])
def test_a_wrong_converse_is_refused(wrong):
    with pytest.raises(RuleError):
        _converse(**wrong)


def _reflected(*, lo=0, hi="N - 1", guard=True, mob=None, div_of=None):
    """mobius-sum applied to [e + 1 | n]·x[e]·Σ_{d=lo}^{hi} [d + 1 | n/(e + 1)]·μ(n/((e + 1)(d + 1))), n = p + 1."""
    M = MOBIUS
    n, e1 = M.p + 1, M.e + 1
    hi = sp.sympify(hi, locals={"N": M.N, "p": M.p})
    mob = sp.mobius(n / (e1 * (M.d + 1))) if mob is None else mob
    div_of = n / e1 if div_of is None else div_of
    expr = (divides(e1, n) if guard else 1) * M.x[M.b, M.o, M.e] * sp.Sum(divides(M.d + 1, div_of) * mob, (M.d, lo, hi))
    ctx = Context(ranges={M.p: (0, M.N - 1), M.e: (0, M.N - 1), M.b: (0, M.B - 1), M.o: (0, M.C - 1)},
                  sizes=frozenset({M.B, M.C, M.N}))
    return get_rule("mobius-sum").apply(expr, ctx, over=M.d, n=n, e=e1)


@pytest.mark.parametrize("lo,hi,guard,proved", [
    (0, "N - 1", True, True), (0, "p", True, True),
    (0, "N - 2", True, False),          # misses the divisor d + 1 = N of n = N (μ(1) at e = 0)
    (1, "N - 1", True, False),          # misses d + 1 = 1, the term μ(n/e)
    (0, "p - 1", True, False),
    (0, "N - 1", False, False),         # no [e + 1 | n]: n/(e + 1) need not be an integer
])
def test_mobius_sum_complementary_form_needs_its_preconditions(lo, hi, guard, proved):
    app = _reflected(lo=lo, hi=hi, guard=guard)
    assert all(ob.proved for ob in app.obligations) == proved
    assert any("permutes" in ob.how for ob in app.obligations)


@pytest.mark.parametrize("bad", [
    dict(mob=sp.mobius((MOBIUS.p + 1) / (MOBIUS.d + 1))),                       # μ(n/d), not μ(n/(e·d))
    dict(mob=sp.mobius((MOBIUS.p + 1) / ((MOBIUS.e + 1) * (MOBIUS.d + 2)))),    # not the guard's divisor
    dict(div_of=MOBIUS.p + 1),                                                   # guard [d | n], not [d | n/e]
    dict(mob=sp.mobius((MOBIUS.p + 1) / (MOBIUS.e + 1))),                       # μ(n/e): free of d
])
def test_mobius_sum_complementary_form_refuses_other_summands(bad):
    with pytest.raises(RuleError):
        _reflected(**bad)


def test_a_too_short_complementary_sum_fails_at_the_grid():
    """The rule's conclusion with d + 1 running only to N − 1: not general, and the exact grid comparison finds
    the missing term (a proof cannot pass on the label alone)."""
    M = CONVERSE
    op = M.OPERATOR
    short = sp.Sum(divides(M.d + 1, M.p + 1) * M.F[M.b, M.o, (M.p + 1) / (M.d + 1) - 1], (M.d, 0, M.N - 2))
    d = Derivation(dataclasses.replace(op, traditional=short))
    d.apply("unfold-definition", name="F")
    d.apply("move-into-sum", factor=divides(M.d + 1, M.p + 1), into=M.e)
    d.apply("exchange-sums", outer=[M.d], inner=[M.e])
    d.apply("swap-divisors", n=M.p + 1, first=M.d + 1, second=M.e + 1, within=M.d)
    d.apply("factor-out", factor=M.x[M.b, M.o, M.e] * divides(M.e + 1, M.p + 1), over=[M.d])
    d.apply("mobius-sum", over=M.d, n=M.p + 1, e=M.e + 1)
    d.apply("introduce-delta", targets=[(M.o, M.c, 0, M.C - 1)], within=M.e)
    d.apply("name-kernel", name="K", channel=M.c, position=(M.e,), indices=(M.o, M.c, M.p, M.e))
    d.conclude(omega=Window((WindowAxis(1, 1, 1, 0, M.N),)), channel=M.c, neighbour=(M.e,))
    cp = d.proof().check(reference=False)
    assert not cp.ok
    step = next(s for s in cp.steps if s.rule == "mobius-sum")
    assert not step.check.general and not step.check.ok


@pytest.mark.parametrize("limit", [300])
def test_both_directions_compose_to_the_identity_up_to(limit):
    """Bounded, beyond the grids: the two composites' matrices (exact integers, from the operators' torch references)
    are the identity for N = limit, and the converse's reference is the identity on random integer input."""
    eye = torch.eye(limit, dtype=torch.float64)
    for M in (MOBIUS, CONVERSE):
        assert torch.equal(M.torch_reference({"x": eye}, {}), eye), M.OPERATOR.name
    g = np.random.default_rng(3).integers(-9, 9, size=(2, 3, 40)).astype(np.float64)
    assert np.array_equal(CONVERSE.reference({"x": g}, {}), g)


@pytest.mark.parametrize("limit", [2000])
def test_the_identity_mobius_sum_trusts_holds_for_every_m_up_to(limit):
    """μ ∗ 1 = ε, bounded: Σ_{d | m} μ(d) = [m = 1] for every m ≤ 2000 (SymPy's μ and divisors)."""
    for m in range(1, limit + 1):
        assert sum(int(sp.mobius(dv)) for dv in sp.divisors(m)) == (1 if m == 1 else 0), m


def test_causal_property_verdicts():
    want = {"lti_system": "yes", "convolve_full": "yes", "correlate_reversed": "yes", "dirichlet_conv": "yes",
            "mobius_inversion": "yes", "mobius_inversion_converse": "yes",
            "convolve2d_valid": "n/a (2-D positions)", "fourier_conv1d": "no (a read past p at the grid)",
            "convolve_valid": "only when K - 1 ≤ 0", "gcn": "only when N - 1 ≤ 0"}
    for name, value in want.items():
        props = properties_of(catalogue.checked(name))
        assert props.get("causal") == value, (name, props.get("causal"))
        how = next(p.how for p in props.items if p.name == "causal")
        assert "INCONSISTENT" not in how and "Ω(p) ⊆ {q ≤ p}" in how


def test_causal_property_sees_a_window_that_reads_ahead():
    """lti_system with its window moved one step ahead (padding K − 2): no longer causal, at the grid too."""
    from evosym.analysis.causal import causality
    from evosym.analysis.properties import Property
    cp = catalogue.checked("lti_system")
    sizes = {str(s): s for s, _ in cp.operator.sizes}
    K, L = sizes["K"], sizes["L"]
    ahead = dataclasses.replace(cp.evolution, omega=Window((WindowAxis(K, 1, 1, K - 2, L),)))
    prop = causality(cp.operator, ahead, Property)
    assert prop.value == "no (Ω(p) reaches 1 past p)" and "INCONSISTENT" not in prop.how
    assert "causal at 4 of 4" not in prop.how
    # a global Ω over the same positions: every position reads the last one
    glob = dataclasses.replace(cp.evolution, omega=Global((L,)))
    assert causality(cp.operator, glob, Property).value == "only when L - 1 ≤ 0"


def test_dirichlet_properties():
    props = properties_of(catalogue.checked("dirichlet_conv"))
    assert props.get("kernel") == "static" and props.get("space") == "position-specific"
    assert props.get("Ω").startswith("divisors of p + 1, |Ω(p)| = d(p + 1)")
    assert "INCONSISTENT" not in next(p.how for p in props.items if p.name == "Ω")


def test_divisor_lowering_builds_no_square_kernel():
    gen = generate("dirichlet_conv")
    assert gen.plan.path == "divisor-slices"
    assert "einsum" not in gen.source and "_kernel_tensor" not in gen.source and "index_add" in gen.source
    mod = {}
    exec(compile(gen.source, "<dirichlet_conv>", "exec"), mod)
    for n in list(range(1, 18)) + [24, 25, 26, 30, 48, 49, 50, 63, 64, 65]:   # around squares: D = ⌊√N⌋ changes
        x = torch.randn(2, 3, n, dtype=torch.float64, requires_grad=True)
        f = torch.randn(3, n, dtype=torch.float64, requires_grad=True)
        want = torch.zeros_like(x)
        for k in range(1, n + 1):
            for dv in sp.divisors(k):
                want[..., k - 1] += f[None, :, dv - 1] * x[..., k // dv - 1]
        up = torch.randn(want.shape, dtype=torch.float64)
        grads = torch.autograd.grad(want, (x, f), up)
        for path in ("auto", "generic"):
            got = mod["dirichlet_conv_evolution"](x, f, C=3, N=n, path=path)
            assert torch.allclose(got, want, rtol=1e-12, atol=1e-12), (n, path)
            for a, b in zip(torch.autograd.grad(got, (x, f), up), grads):
                assert torch.allclose(a, b, rtol=1e-12, atol=1e-12), (n, path)
    n, x, f = 30, torch.randn(2, 3, 30, dtype=torch.float64), torch.randn(3, 30, dtype=torch.float64)
    want = mod["dirichlet_conv_evolution"](x, f, C=3, N=n, path="generic")
    layer = mod["DirichletConvEvolution"](3, n, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(f)
    assert torch.allclose(layer(x), want, rtol=1e-12, atol=1e-12) and "C=3, N=30" in repr(layer)
    with pytest.raises(ValueError):
        mod["dirichlet_conv_evolution"](x, f, C=3, N=29)
    with pytest.raises(ValueError):
        mod["dirichlet_conv_evolution"](x, f, C=3, N=n, path="kernels")
    fn = mod["dirichlet_conv_evolution"]
    assert torch.equal(fn(x, f, C=np.int64(3), N=np.int64(n)), fn(x, f, C=3, N=n))   # numpy integers are sizes
    for sizes, match in ((dict(C=3, N=30.0), "N .* must be an integer"), (dict(C=3.0, N=30), "C .* must be an integer"),
                         (dict(C=0, N=0), "C .* must be an integer"), (dict(C=3, N=True), "N .* must be an integer")):
        with pytest.raises(ValueError, match=match):
            fn(x, f, **sizes)
        with pytest.raises(ValueError, match=match):   # the constructor checks its sizes as the function does
            mod["DirichletConvEvolution"](**sizes)
    assert repr(mod["DirichletConvEvolution"](np.int64(3), np.int64(n))) == repr(layer)   # numpy sizes: as ints
    for args, error, match in (((x.numpy(), f), TypeError, "x must be a torch.Tensor, not ndarray"),
                               ((x.long(), f), TypeError, "floating-point"),
                               ((x, f.tolist()), TypeError, "weight must be a torch.Tensor, not list"),
                               ((x[..., :-1], f), ValueError, r"length N = 30; got shape \(2, 3, 29\)")):
        with pytest.raises(error, match=match):
            fn(*args, C=3, N=n)


def test_the_divisor_module_takes_unbatched_inputs_and_torch_func_transforms():
    """An x without the batch axis was refused ("x must have 3 dimensions"), and vmap over the weight alone failed
    (y, made from x, could not take the weight's batch in place): found 2026-12-05, both paths."""
    mod = {}
    exec(compile(generate("dirichlet_conv").source, "<dirichlet_conv>", "exec"), mod)
    fn = mod["dirichlet_conv_evolution"]
    g = torch.Generator().manual_seed(4)
    x, f = (torch.randn(s, generator=g, dtype=torch.float64) for s in ((2, 3, 30), (3, 30)))
    fs, xs = torch.randn(4, 3, 30, generator=g, dtype=torch.float64), torch.randn(4, 2, 3, 30, generator=g, dtype=torch.float64)
    for path in ("auto", "generic"):
        call = lambda a, w: fn(a, w, C=3, N=30, path=path)
        for xx in (x, x[1]):   # batched and unbatched x
            one = call(xx, f)
            assert one.shape == xx.shape
            if xx.dim() == 2:
                torch.testing.assert_close(one, call(x, f)[1], rtol=0, atol=0)
            torch.testing.assert_close(torch.func.vmap(lambda w: call(xx, w))(fs), torch.stack([call(xx, w) for w in fs]),
                                       rtol=1e-12, atol=1e-12)   # the weight alone
            torch.testing.assert_close(torch.func.vmap(call)(xs[:, 0] if xx.dim() == 2 else xs, fs),
                                       torch.stack([call(a, w) for a, w in zip(xs[:, 0] if xx.dim() == 2 else xs, fs)]),
                                       rtol=1e-12, atol=1e-12)   # both
            jac = torch.func.jacrev(lambda w: call(xx, w))(f)
            torch.testing.assert_close(torch.func.jacfwd(lambda w: call(xx, w))(f), jac, rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(torch.einsum("...ij,ij->...", jac, f), one, rtol=1e-12, atol=1e-12)   # linear in f
        xu, fu = x[0].clone().requires_grad_(), f.clone().requires_grad_()
        up = torch.randn(3, 30, generator=g, dtype=torch.float64)
        got = torch.autograd.grad(call(xu, fu), (xu, fu), up)
        want = torch.autograd.grad(call(xu.unsqueeze(0), fu), (xu, fu), up.unsqueeze(0))
        for a, b in zip(got, want):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    for bad in (x[0, 0], x[None]):
        with pytest.raises(ValueError, match="x must have 3 dimensions .* or 2 without the batch"):
            fn(bad, f, C=3, N=30)


@pytest.mark.parametrize("old,new,gradients", [
    ("for k in range(1, N // (D + 1) + 1):", "for k in range(1, N // (D + 1)):", False),   # slices: drops a k
    ("for d in range(1, D + 1):", "for d in range(1, D):", False),                       # slices: drops d = D
    ("_add(y, (D + 1) * k - 1, k,", "_add(y, (D + 1) * k, k,", False),                   # slices: off by one
    ("y[:, :, start::step] += value", "y[:, :, start::step] = value", False),             # slices: not summed
    ("torch.arange(d - 1, N, d, device=x.device)", "torch.arange(0, N, d, device=x.device)", False),   # scatter: off by one
    ("weight[None, :, d - 1:d] * x", "weight[None, :, d - 1:d].detach() * x", True),   # scatter: no gradient for f
])
def test_a_wrong_divisor_lowering_fails_the_numeric_check(old, new, gradients):
    source = generate("dirichlet_conv").source
    assert old in source
    report = check_operator("dirichlet_conv", source=source.replace(old, new), variants=0, gradients=gradients)
    assert not report.ok


def test_convolution_is_correlation_with_the_reversed_filter():
    """The two proofs end in the same kernel, and numpy/torch compute what the docs say they compute."""
    a, b = catalogue.checked("convolve_full").evolution, catalogue.checked("correlate_reversed").evolution
    assert a.kernel_body == b.kernel_body and a.omega == b.omega
    rng = np.random.default_rng(0)
    xs, hs = rng.standard_normal(9), rng.standard_normal(4)
    assert np.allclose(np.convolve(xs, hs), np.correlate(xs, hs[::-1], "full"))
    torch_conv = torch.nn.functional.conv1d(torch.tensor(xs)[None, None], torch.tensor(hs)[None, None], padding=3)
    assert np.allclose(torch_conv.numpy().ravel(), np.correlate(xs, hs, "full"))          # torch: no flip
    assert not np.allclose(torch_conv.numpy().ravel(), np.convolve(xs, hs))


def test_2d_valid_matches_scipy_signal_convolve():
    signal = pytest.importorskip("scipy.signal")
    op = CONV2D.OPERATOR
    rng = np.random.default_rng(1)
    xs, hs = rng.standard_normal((1, 2, 6, 5)), rng.standard_normal((2, 3, 2))
    got = op.reference({"x": xs, "h": hs}, {})
    for cc in range(2):
        assert np.allclose(got[0, cc], signal.convolve(xs[0, cc], hs[cc], mode="valid"))


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_1d_modes_match_scipy_signal_convolve(mode):
    signal = pytest.importorskip("scipy.signal")
    op = CONVOLVE[mode].OPERATOR
    rng = np.random.default_rng(2)
    for L, K in ((7, 3), (6, 4), (5, 5)):
        xs, hs = rng.standard_normal((1, 1, L)), rng.standard_normal((1, K))
        assert np.allclose(op.reference({"x": xs, "h": hs}, {})[0, 0], signal.convolve(xs[0, 0], hs[0], mode=mode))


# -- 2-D true convolution, modes 'full' and 'same' ------------------------------------------------------------------

SHAPES_2D = [((4, 5), (2, 3)), ((3, 3), (3, 1)), ((5, 4), (4, 2)), ((4, 6), (2, 2)), ((3, 4), (1, 4)), ((2, 2), (2, 2))]


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_2d_modes_match_scipy_signal_convolve2d(mode):
    """scipy.signal.convolve2d and scipy.signal.convolve (when SciPy is installed): even and odd filter sizes on both
    axes, so the 'same' centring ⌊(K − 1)/2⌋ is scipy's, not PyTorch's ⌈(K − 1)/2⌉."""
    signal = pytest.importorskip("scipy.signal")
    op = CONVOLVE2D[mode].OPERATOR
    rng = np.random.default_rng(4)
    for (nh, nw), (kh, kw) in SHAPES_2D:
        xs, hs = rng.standard_normal((2, 2, nh, nw)), rng.standard_normal((2, kh, kw))
        got = op.reference({"x": xs, "h": hs}, {})
        for bb in range(2):
            for cc in range(2):
                assert np.allclose(got[bb, cc], signal.convolve2d(xs[bb, cc], hs[cc], mode=mode)), (mode, nh, nw, kh, kw)
                assert np.allclose(got[bb, cc], signal.convolve(xs[bb, cc], hs[cc], mode=mode, method="direct"))


@pytest.mark.parametrize("mode", ["full", "same"])
def test_2d_modes_match_numpy_column_then_row_convolution(mode):
    """Without SciPy: a rank-one filter u·vᵀ convolves columns with u, then rows with v (numpy.convolve in each mode,
    whose 1-D 'same' centre is ⌊(K − 1)/2⌋ too); a different computation from the references' row sums."""
    op = CONVOLVE2D[mode].OPERATOR
    rng = np.random.default_rng(5)
    for (nh, nw), (kh, kw) in SHAPES_2D:
        xs, u, v = rng.standard_normal((nh, nw)), rng.standard_normal(kh), rng.standard_normal(kw)
        cols = np.stack([np.convolve(xs[:, jj], u, mode) for jj in range(nw)], axis=1)
        want = np.stack([np.convolve(cols[ii], v, mode) for ii in range(cols.shape[0])])
        got = op.reference({"x": xs[None, None], "h": np.outer(u, v)[None]}, {})[0, 0]
        assert got.shape == want.shape and np.allclose(got, want), (mode, nh, nw, kh, kw)


def _convolve2d_proof(mode, shifts):
    """The 2-D operator of ``mode`` with the read shifted by ``shifts`` instead, proved by the same steps."""
    sh, sw = shifts
    op = dataclasses.replace(CONVOLVE2D[mode].OPERATOR, traditional=sp.Sum(
        CV.h2[CV.o, CV.k, CV.l] * CV.x2_pad[CV.b, CV.o, CV.i + sh - CV.k, CV.j + sw - CV.l],
        (CV.l, 0, CV.Kw - 1), (CV.k, 0, CV.Kh - 1)))
    d = Derivation(op)
    d.apply("unfold-definition", name="x_pad")
    d.apply("introduce-delta", targets=[(CV.o, CV.c, 0, CV.C - 1), (CV.i + sh - CV.k, CV.m, 0, CV.H - 1),
                                        (CV.j + sw - CV.l, CV.q, 0, CV.W - 1)], within=CV.l)
    d.apply("exchange-sums", outer=[CV.k, CV.l], inner=[CV.c, CV.m, CV.q])
    d.apply("factor-out", factor=sp.IndexedBase("x")[CV.b, CV.c, CV.m, CV.q] * sp.KroneckerDelta(CV.c, CV.o),
            over=[CV.l, CV.k])
    d.apply("name-kernel", name="K", channel=CV.c, position=(CV.m, CV.q), indices=(CV.o, CV.c, CV.i, CV.j, CV.m, CV.q))
    sh_pad, sw_pad = CV.Kh - 1 - sh, CV.Kw - 1 - sw
    d.conclude(omega=Window((WindowAxis(CV.Kh, 1, 1, sh_pad, CV.H), WindowAxis(CV.Kw, 1, 1, sw_pad, CV.W))),
               channel=CV.c, neighbour=(CV.m, CV.q))
    return d.proof().check()


def test_2d_proofs_are_general_and_the_helper_reproduces_them():
    for mode in ("full", "same"):
        cp = catalogue.checked(f"convolve2d_{mode}")
        assert cp.ok and len(cp.steps) == 5 and all(s.check.general for s in cp.steps)
        again = _convolve2d_proof(mode, CV.SHIFT2[mode])
        assert again.ok, again.failures()
        assert again.evolution.kernel_body == cp.evolution.kernel_body


@pytest.mark.parametrize("mode,shifts", [
    ("same", (sp.ceiling((CV.Kh - 1) / 2), sp.ceiling((CV.Kw - 1) / 2))),   # PyTorch's centre for padding='same'
    ("same", (sp.floor(CV.Kh / 2), sp.floor((CV.Kw - 1) / 2))),             # scipy's centre on one axis only
    ("full", (sp.Integer(1), sp.Integer(0))),                                 # one row off
])
def test_2d_with_another_centre_fails_the_reference(mode, shifts):
    """Every step of a wrongly centred form is still general (it is a valid operator), but it is not what scipy
    computes: the reference check at the grid shapes (even sizes among them) fails."""
    cp = _convolve2d_proof(mode, shifts)
    assert all(s.check.general for s in cp.steps)
    assert not cp.ok and any("reference" in f for f in cp.failures())


def test_generated_2d_same_matches_the_reference_for_even_filters():
    """The generated module's generic and default (native conv2d, the right edge padded for an even filter) paths at
    shapes outside the grid, even and odd filter sizes."""
    gen = generate("convolve2d_same")
    mod = {}
    exec(compile(gen.source, "<convolve2d_same>", "exec"), mod)
    fn = mod["convolve2d_same_evolution"]
    rng = np.random.default_rng(6)
    for (nh, nw), (kh, kw) in SHAPES_2D:
        xs, hs = rng.standard_normal((2, 3, nh, nw)), rng.standard_normal((3, kh, kw))
        want = CONV2D_SAME_REF({"x": xs, "h": hs}, {})
        for path in ("generic", "auto"):
            got = fn(torch.tensor(xs), torch.tensor(hs), C=3, K_h=kh, K_w=kw, path=path).numpy()
            assert np.allclose(got, want, rtol=1e-12, atol=1e-12), (path, nh, nw, kh, kw)


CONV2D_SAME_REF = convolve2d_same.OPERATOR.reference


# -- 3-D true convolution, modes 'full', 'same' and 'valid' (scipy.signal.convolve on each channel's volume) ---------

# (D, H, W), (K_d, K_h, K_w): even and odd filter lengths on every axis (an even K tells scipy's 'same' centre
# ⌊(K − 1)/2⌋ from PyTorch's ⌈(K − 1)/2⌉), filters as long as their axis, 1-tap axes, no cube; none is a grid shape
SHAPES_3D = [((3, 4, 5), (2, 3, 4)), ((4, 3, 2), (3, 2, 1)), ((2, 5, 3), (1, 4, 2)), ((5, 2, 4), (4, 1, 3)),
             ((3, 3, 4), (3, 2, 4))]
FLIP3 = (-3, -2, -1)


def _per_channel(fn, xs, hs):
    """fn(volume, filter) on every (sample, channel): channel c is convolved with filter c."""
    return np.stack([np.stack([fn(xs[bb, cc], hs[cc]) for cc in range(xs.shape[1])]) for bb in range(xs.shape[0])])


def _zeros(mode, k):
    """The zeros before and after an axis that make conv3d's outputs the mode's, written out from numpy's and scipy's
    documented modes (not taken from _convolve): 'full' K − 1 on both sides, 'valid' none, 'same' the full output
    kept from ⌊(K − 1)/2⌋, so ⌈(K − 1)/2⌉ before and ⌊(K − 1)/2⌋ after."""
    return {"full": (k - 1, k - 1), "same": (k - 1 - (k - 1) // 2, (k - 1) // 2), "valid": (0, 0)}[mode]


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_3d_modes_match_scipy_signal_convolve(mode):
    """The operator's numpy reference and its torch reference against scipy.signal.convolve on each channel's volume
    (direct and FFT methods, when SciPy is installed): even and odd filter lengths on every axis, non-cubic sizes."""
    signal = pytest.importorskip("scipy.signal")
    op = CONVOLVE3D[mode].OPERATOR
    rng = np.random.default_rng(7)
    for dims, ks in SHAPES_3D:
        xs, hs = rng.standard_normal((2, 2) + dims), rng.standard_normal((2,) + ks)
        want = _per_channel(lambda a, f: signal.convolve(a, f, mode=mode, method="direct"), xs, hs)
        assert np.allclose(want, _per_channel(lambda a, f: signal.convolve(a, f, mode=mode, method="fft"), xs, hs))
        got = op.reference({"x": xs, "h": hs}, {})
        assert got.shape == want.shape and np.allclose(got, want, rtol=1e-12, atol=1e-12), (mode, dims, ks)
        got = op.torch_reference({"x": torch.tensor(xs), "h": torch.tensor(hs)}, {}).numpy()
        assert got.shape == want.shape and np.allclose(got, want, rtol=1e-12, atol=1e-12), (mode, dims, ks)


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_3d_modes_match_numpy_axis_by_axis_convolution(mode):
    """Without SciPy: a rank-one filter u⊗v⊗w convolves along depth with u, then height with v, then width with w
    (numpy.convolve in the mode on every axis): a different computation from the references' sums of row
    convolutions."""
    op = CONVOLVE3D[mode].OPERATOR
    rng = np.random.default_rng(8)
    for dims, ks in SHAPES_3D:
        xs, taps = rng.standard_normal(dims), [rng.standard_normal(k) for k in ks]
        want = xs
        for axis, f in enumerate(taps):
            want = np.apply_along_axis(lambda row, f=f: np.convolve(row, f, mode), axis, want)
        h = np.einsum("i,j,k->ijk", *taps)[None]
        for got in (op.reference({"x": xs[None, None], "h": h}, {}),
                    op.torch_reference({"x": torch.tensor(xs[None, None]), "h": torch.tensor(h)}, {}).numpy()):
            assert got[0, 0].shape == want.shape and np.allclose(got[0, 0], want, rtol=1e-12, atol=1e-12), (dims, ks)


@pytest.mark.parametrize("mode,steps", [("full", 5), ("same", 5), ("valid", 4)])
def test_3d_proofs_are_general_and_read_the_filter_reversed_on_every_axis(mode, steps):
    """The N-d identity in the proved kernel: at tap u of the window (stride 1, dilation 1, K − 1 − s zeros before),
    K̂ = δ(c, o)·h[c, K_d − 1 − u₁, K_h − 1 − u₂, K_w − 1 − u₃]: the window's aggregation is a cross-correlation
    (what conv3d computes) with h reversed on every axis."""
    from evosym.facts.kernel import kernel_facts
    cp = catalogue.checked(f"convolve3d_{mode}")
    assert cp.ok, cp.failures()
    assert len(cp.steps) == steps and all(s.check.general for s in cp.steps)
    A, ev = CV.CONVOLVE3D, cp.evolution
    taps = kernel_facts(cp).taps
    reversed_h = A.h[(ev.channel,) + tuple(K - 1 - u for K, u in zip(A.filters, taps.taps))]
    assert sp.expand(taps.expr - sp.KroneckerDelta(ev.channel, ev.out_channel) * reversed_h) == 0
    assert taps.tap_hi == tuple(K - 1 for K in A.filters)
    shift = {"full": lambda K: 0, "same": lambda K: sp.floor((K - 1) / 2), "valid": lambda K: K - 1}[mode]
    assert ev.omega == Window(tuple(WindowAxis(K, 1, 1, K - 1 - shift(K), L) for K, L in zip(A.filters, A.lengths)))


def test_3d_correlation_with_the_reversed_filter_proves_to_convolve3d_full():
    """correlate_reversed in 3-D: Σ_u h[c, K − 1 − u]·x̃[b, c, p − (K − 1) + u] on every axis (conv3d with the flipped
    filter and K − 1 zeros) reindexes each tap (u = K − 1 − k, rule reindex-sum) and continues as convolve3d_full's
    proof: every step general, the same Evolution kernel and Ω."""
    A = CV.CONVOLVE3D
    us = tuple(sp.Symbol(f"u_{a}", integer=True) for a in "dhw")
    read = tuple(p - (K - 1) + u for p, K, u in zip(A.outputs, A.filters, us))
    form = sp.Sum(A.h[(CV.o,) + tuple(K - 1 - u for K, u in zip(A.filters, us))] * A.x_pad[(CV.b, CV.o) + read],
                  *[(u, 0, K - 1) for u, K in zip(us, A.filters)][::-1])
    d = Derivation(dataclasses.replace(convolve3d_full.OPERATOR, name="correlate3d_reversed", traditional=form))
    for u, k, K in zip(us, A.taps, A.filters):
        d.apply("reindex-sum", var=u, new=k, expr_of_new=K - 1 - k)
    CV.convolve3d_derive("full", d)
    cp = d.proof().check()
    assert cp.ok, cp.failures()
    assert [s.rule for s in cp.steps][:3] == ["reindex-sum"] * 3 and all(s.check.general for s in cp.steps)
    full = catalogue.checked("convolve3d_full").evolution
    assert cp.evolution.kernel_body == full.kernel_body and cp.evolution.omega == full.omega


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_3d_convolution_is_conv3d_with_the_filter_flipped_on_every_axis(mode):
    """What the docs state: scipy's convolution of volumes = PyTorch's conv3d (a cross-correlation) with
    h.flip(-3, -2, -1) and the mode's zeros; conv3d with h as it is (no flip), or flipped on all axes but one that has
    more than one tap, gives other numbers."""
    op = CONVOLVE3D[mode].OPERATOR
    rng = np.random.default_rng(9)
    for dims, ks in SHAPES_3D:
        xs, hs = rng.standard_normal((2, 2) + dims), rng.standard_normal((2,) + ks)
        want = op.reference({"x": xs, "h": hs}, {})
        x, h = torch.tensor(xs), torch.tensor(hs)
        padded = torch.nn.functional.pad(x, [e for k in reversed(ks) for e in _zeros(mode, k)])

        def conv3d(weight):
            return torch.nn.functional.conv3d(padded, weight[:, None], groups=2).numpy()
        assert np.allclose(conv3d(h.flip(FLIP3)), want, rtol=1e-12, atol=1e-12), (mode, dims, ks)
        assert not np.allclose(conv3d(h), want)                                       # the unflipped filter
        for axis in (a for a in FLIP3 if ks[a] > 1):                                  # one axis left unflipped
            assert not np.allclose(conv3d(h.flip(tuple(a for a in FLIP3 if a != axis))), want), (mode, axis)


def _convolve3d_proof(mode, shifts):
    """The 3-D operator of ``mode`` with the read shifted by ``shifts`` instead, proved by the same steps."""
    base = CONVOLVE3D[mode].OPERATOR
    other = CV.convolve_nd_operator(CV.CONVOLVE3D, mode, name=base.name, summary=base.summary, description="",
                                    citation="", grid=base.grid, bench=None, figure=None, shifts=shifts)
    d = Derivation(dataclasses.replace(base, traditional=other.traditional))
    CV.convolve_nd_derive(CV.CONVOLVE3D, mode, d, shifts=shifts)
    return d.proof().check()


@pytest.mark.parametrize("mode,shifts", [
    ("same", tuple(sp.floor((K - 1) / 2) for K in (CV.Kd, CV.Kh, CV.Kw))),      # the catalogue's centre: proves
    ("same", tuple(sp.ceiling((K - 1) / 2) for K in (CV.Kd, CV.Kh, CV.Kw))),    # PyTorch's centre for padding='same'
    ("same", (sp.floor((CV.Kd - 1) / 2), sp.floor((CV.Kh - 1) / 2), sp.floor(CV.Kw / 2))),   # ⌊K/2⌋ on one axis
    ("full", (sp.Integer(0), sp.Integer(1), sp.Integer(0))),                     # one row off
])
def test_3d_with_another_centre_fails_the_reference(mode, shifts):
    """Every step of a wrongly centred form is still general (it is a valid operator), but it is not what scipy
    computes: the reference check at the grid shapes (K = 2 on every axis among them) fails; the helper itself proves
    the catalogue's form."""
    cp = _convolve3d_proof(mode, shifts)
    assert all(s.check.general for s in cp.steps)
    if shifts == CV.nd_shifts(CV.CONVOLVE3D, mode):
        assert cp.ok, cp.failures()
        assert cp.evolution.kernel_body == catalogue.checked(f"convolve3d_{mode}").evolution.kernel_body
    else:
        assert not cp.ok and any("reference" in f for f in cp.failures())


def _committed(name):
    """The committed generated module (byte for byte what `evosym codegen` writes: tests/test_codegen_golden.py)."""
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "codegen" / "torch" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"committed_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_committed_3d_modules_match_scipy(mode):
    """The generated module at shapes outside the grid, even and odd filter lengths: its generic path, its default path
    (native conv3d; 'same' with the right edge padded where a filter length is even) and its nn.Module, against
    scipy.signal.convolve (without SciPy: the operator's numpy reference, compared with SciPy above)."""
    try:
        from scipy.signal import convolve
    except ImportError:
        convolve = None
    mod = _committed(f"convolve3d_{mode}")
    fn = getattr(mod, f"convolve3d_{mode}_evolution")
    layer_class = getattr(mod, f"Convolve3d{mode.capitalize()}Evolution")
    rng = np.random.default_rng(10)
    for dims, ks in SHAPES_3D:
        xs, hs = rng.standard_normal((2, 3) + dims), rng.standard_normal((3,) + ks)
        if convolve is None:
            want = CONVOLVE3D[mode].OPERATOR.reference({"x": xs, "h": hs}, {})
        else:
            want = _per_channel(lambda a, f: convolve(a, f, mode=mode, method="direct"), xs, hs)
        sizes = dict(C=3, K_d=ks[0], K_h=ks[1], K_w=ks[2])
        for path in ("generic", "auto"):
            got = fn(torch.tensor(xs), torch.tensor(hs), **sizes, path=path).numpy()
            assert got.shape == want.shape and np.allclose(got, want, rtol=1e-12, atol=1e-12), (mode, path, dims, ks)
        layer = layer_class(**sizes, dtype=torch.float64)
        with torch.no_grad():
            layer.weight.copy_(torch.tensor(hs))
            got = layer(torch.tensor(xs), path="generic").numpy()
        assert np.allclose(got, want, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="K_w ≤ W"):            # a filter longer than the volume: outside the proof
        fn(torch.zeros(1, 3, 4, 4, 2, dtype=torch.float64), torch.zeros(3, 2, 2, 3, dtype=torch.float64), C=3, K_d=2,
           K_h=2, K_w=3)


def test_an_unflipped_3d_module_or_reference_fails_the_numeric_check():
    """Canaries for the flip: the generated module with one axis' tap read unreversed, and the right module against a
    reference that forgets to flip (PyTorch's conv3d as it is), both fail `evosym check`'s comparison; the module as
    generated passes it."""
    source = generate("convolve3d_full").source
    flipped = ".flip(1, 2, 3)"   # h[c, K − 1 − u…] read as a slice flipped on the three tap axes
    assert source.count(flipped) == 2
    quick = dict(variants=0, gradients=False)
    assert check_operator("convolve3d_full", source=source, **quick).ok
    for wrong in (".flip(1, 2)", ".flip(2, 3)", ""):   # one axis' taps read unreversed, or none
        assert not check_operator("convolve3d_full", source=source.replace(flipped, wrong), **quick).ok, wrong

    def unflipped(t, sizes):
        h = t["h"]
        return torch.nn.functional.conv3d(t["x"], h[:, None], padding=tuple(k - 1 for k in h.shape[1:]),
                                          groups=h.shape[0])
    assert not check_operator("convolve3d_full", reference=unflipped, **quick).ok


# -- printing: the text printer writes μ where LaTeX writes \mu ------------------------------------------------------

def test_text_printer_writes_mobius_as_mu_like_latex():
    from evosym.printers.expr import latex, text
    dd, nn = sp.symbols("d n", integer=True, positive=True)
    assert text(sp.mobius(dd + 1)) == "μ(d + 1)" and latex(sp.mobius(dd + 1)) == r"\mu\left(d + 1\right)"
    assert text(sp.totient(nn)) == "φ(n)"
    assert text(sp.mobius(nn / (dd + 1))) == "μ(n/(d + 1))"
    # other functions keep their names (the printer knows letters, not operators)
    assert text(sp.Function("f")(dd)) == "f(d)" and text(sp.primeomega(nn)) == "primeomega(n)"
    from evosym.printers.text import render_text
    out = render_text(catalogue.checked("mobius_inversion"))
    assert "μ(d + 1)" in out and "mobius(" not in out


@pytest.mark.parametrize("n", [1, 2, 12, 31, 60])
def test_the_dirichlet_torch_reference_is_the_direct_sum_with_its_gradients(n):
    """The vectorised torch reference (every term gathered, added into its n) against the direct sum over
    sympy.divisors, values and gradients; float32 inputs with a float64 weight promote as the sum does."""
    g = torch.Generator().manual_seed(n)
    x = torch.randn(2, 3, n, generator=g, dtype=torch.float64, requires_grad=True)
    f = torch.randn(3, n, generator=g, dtype=torch.float64, requires_grad=True)
    got = DIRICHLET.torch_reference({"x": x, "f": f}, {})
    want = DIRICHLET.dirichlet_reference({"x": x.detach().numpy(), "f": f.detach().numpy()}, {})
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-12, atol=1e-12)
    w = torch.randn(got.shape, generator=g, dtype=torch.float64)
    direct = torch.stack([sum(f[None, :, d - 1] * x[..., k // d - 1] for d in sp.divisors(k))
                          for k in range(1, n + 1)], dim=-1)
    for a, b in zip(torch.autograd.grad((got * w).sum(), (x, f)), torch.autograd.grad((direct * w).sum(), (x, f))):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    mixed = DIRICHLET.torch_reference({"x": x.detach().float(), "f": f.detach()}, {})
    assert mixed.dtype == torch.float64


@pytest.mark.parametrize("n", [1, 2, 10, 17, 64])
@pytest.mark.parametrize("wanted", ["both", "x", "f"])
def test_the_hyperbola_backward_is_the_adjoint(n, wanted):
    """dirichlet_conv's default path under autograd runs the hyperbola with its own backward (the adjoint's strided
    passes): gradcheck and gradgradcheck in float64, gradients equal the generic path's, for either input alone."""
    from evosym.coverage.modules import generated
    mod = generated("dirichlet_conv")
    g = torch.Generator().manual_seed(n)
    x = torch.randn(2, 3, n, generator=g, dtype=torch.float64, requires_grad=wanted in ("both", "x"))
    w = torch.randn(3, n, generator=g, dtype=torch.float64, requires_grad=wanted in ("both", "f"))
    f = lambda a, b: mod.dirichlet_conv_evolution(a, b, C=3, N=n)
    assert type(f(x, w).grad_fn).__name__ == "_HyperbolaBackward"
    assert torch.autograd.gradcheck(f, (x, w)) and torch.autograd.gradgradcheck(f, (x, w))
    leaves = [t for t in (x, w) if t.requires_grad]
    probe = torch.randn(2, 3, n, generator=g, dtype=torch.float64)
    mine = torch.autograd.grad((f(x, w) * probe).sum(), leaves)
    generic = torch.autograd.grad((mod.dirichlet_conv_evolution(x, w, C=3, N=n, path="generic") * probe).sum(), leaves)
    for a, b in zip(mine, generic):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    with torch.no_grad():
        assert f(x, w).grad_fn is None


def test_the_hyperbola_under_transforms_runs_the_traced_adds():
    """Under torch.func (grad, vmap, jvp) and a forward-mode AD level the custom backward is not used (it has no
    tangent rule): the in-place adds run and agree with the generic path."""
    import torch.autograd.forward_ad as fwAD
    from evosym.coverage.modules import generated
    mod = generated("dirichlet_conv")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 12, generator=g, dtype=torch.float64)
    w = torch.randn(3, 12, generator=g, dtype=torch.float64)
    t = torch.randn(2, 3, 12, generator=g, dtype=torch.float64)
    f = lambda a, path="auto": mod.dirichlet_conv_evolution(a, w, C=3, N=12, path=path)
    torch.testing.assert_close(torch.func.grad(lambda a: f(a).square().sum())(x),
                               torch.func.grad(lambda a: f(a, "generic").square().sum())(x))
    torch.testing.assert_close(torch.func.vmap(f)(x.unsqueeze(1)), f(x).unsqueeze(1))
    torch.testing.assert_close(torch.func.jvp(f, (x,), (t,))[1], f(t))   # linear in x: the tangent is f(t)
    with fwAD.dual_level():
        torch.testing.assert_close(fwAD.unpack_dual(f(fwAD.make_dual(x, t))).tangent, f(t))


def test_the_dirichlet_reference_keeps_no_tensor_of_an_earlier_call():
    """The divisor pairs are kept as plain integers: a first call under inference_mode (or while tracing with fake
    tensors) made the kept index tensors inference (fake) tensors, and a later call with gradients failed."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    DIRICHLET._divisor_pairs.cache_clear()
    x, f = torch.randn(2, 3, 23), torch.randn(3, 23)
    with torch.inference_mode():
        DIRICHLET.torch_reference({"x": x, "f": f}, {})
    with FakeTensorMode() as mode:
        DIRICHLET.torch_reference({"x": mode.from_tensor(x), "f": mode.from_tensor(f)}, {})
    xg = x.clone().requires_grad_()
    y = DIRICHLET.torch_reference({"x": xg, "f": f}, {})
    y.sum().backward()
    assert xg.grad is not None and torch.isfinite(xg.grad).all()



def test_the_hyperbola_saves_only_what_its_backward_reads():
    """Only the tensor the other's gradient needs is saved (the second adversarial pass: with f alone requiring a
    gradient, changing f in place after the call failed the backward, where a product's backward succeeds); and
    torch.jit.trace of the layer traces the in-place adds (the Function's graph differed between invocations)."""
    from evosym.coverage.modules import generated, module_class
    mod = generated("dirichlet_conv")
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(2, 3, 12, generator=g), torch.randn(3, 12, generator=g, requires_grad=True)
    y = mod.dirichlet_conv_evolution(x, w, C=3, N=12)
    with torch.no_grad():
        w.mul_(2)   # w is not needed for w's gradient
    y.sum().backward()
    x2 = torch.randn(2, 3, 12, generator=g, requires_grad=True)
    w2 = torch.randn(3, 12, generator=g)
    y2 = mod.dirichlet_conv_evolution(x2 * 1, w2, C=3, N=12)
    w2.mul_(2)   # x is not needed for x's gradient (w is, and was saved before the change: autograd refuses)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y2.sum().backward()
    layer = module_class(mod)(C=3, N=12)
    traced = torch.jit.trace(layer, (torch.randn(2, 3, 12, generator=g),))
    probe = torch.randn(2, 3, 12, generator=g)
    torch.testing.assert_close(traced(probe), layer(probe))
