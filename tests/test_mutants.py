"""Deliberately wrong operator definitions and proof steps must fail, with a counterexample.

Each mutant names what is wrong; the test asserts that the check refutes it and that the
failure carries concrete sizes, an output index (or position) and both sides.
"""

from __future__ import annotations

import dataclasses

import sympy as sp

from evosym import Derivation, Operator, TensorDecl, Window, WindowAxis, catalogue
from evosym.derivations import _conv as C
from evosym.ir.symbols import index, size
from evosym.proof.reference import run_and_check_reference
from evosym.proof.step import Step


def _failures(cp):
    assert not cp.ok, "the mutant was not caught"
    return cp.failures()


def _has_counterexample(text: str):
    assert "sizes: " in text, text
    assert ("output index: " in text) or ("p=" in text), text


def _conv_mutant(family: C.ConvFamily, *, traditional=None, omega=None, grid=None):
    """A conv2d operator and proof built from a (possibly mutated) family; run the usual derivation."""
    base = catalogue.load("conv2d").operator
    op = C.conv_operator(family, name="conv2d_mutant", summary="mutant", bias=True, grid=grid or base.grid[:4],
                         description="", reference_name="torch.nn.functional.conv2d")
    if traditional is not None:
        op = dataclasses.replace(op, traditional=traditional(op))
    d = Derivation(op)
    C.conv_derive(family, d)
    proof = d.proof()
    if omega is not None:
        proof = dataclasses.replace(proof, omega=omega)
    return proof.check()


# -- wrong operator definitions ------------------------------------------------------------

def test_off_by_one_padding_is_refuted():
    class OffByOne(C.ConvFamily):
        def offsets(self):
            return tuple(e + 1 for e in super().offsets())
    fails = _failures(_conv_mutant(OffByOne(2)))
    text = "\n".join(fails)
    assert "support of K" in text and "reference" in text
    _has_counterexample(text)


def test_dilation_ignored_is_refuted():
    class NoDilation(C.ConvFamily):
        def offsets(self):
            return tuple(s * p + u - P for s, p, u, P in zip(self.s, self.p, self.u, self.P))
    text = "\n".join(_failures(_conv_mutant(NoDilation(2))))
    assert "reference" in text
    _has_counterexample(text)


def test_swapped_kernel_indices_are_refuted():
    fam = C.ConvFamily(2)
    W = sp.IndexedBase("W")
    good = W[(fam.o, fam.cg) + fam.u]
    bad = W[(fam.cg, fam.o) + fam.u]
    cp = _conv_mutant(fam, traditional=lambda op: op.traditional.xreplace({good: bad}))
    text = "\n".join(_failures(cp))
    assert "outside [0," in text  # W read out of its shape: O_g·G ≠ C_g at the grid shapes
    _has_counterexample(text)


def test_transposed_kernel_is_refuted():
    fam = C.ConvFamily(2)
    W = sp.IndexedBase("W")
    good = W[(fam.o, fam.cg) + fam.u]
    bad = W[(fam.o, fam.cg) + fam.u[::-1]]
    text = "\n".join(_failures(_conv_mutant(fam, traditional=lambda op: op.traditional.xreplace({good: bad}))))
    _has_counterexample(text)


def test_group_mapping_c_mod_G_is_refuted_by_the_reference():
    """Channel c in group c mod G instead of contiguous blocks: no rule applies, the reference refutes it."""
    fam = C.ConvFamily(2)
    op = catalogue.load("conv2d").operator
    x_pad = sp.IndexedBase("x_pad")
    group = sp.floor(fam.o / fam.Og)

    def mutate(e):
        if isinstance(e, sp.Indexed) and e.base == x_pad:
            return x_pad[(fam.b, fam.cg * fam.G + group) + tuple(e.indices[2:])]
        return None
    reads = {r: mutate(r) for r in op.traditional.atoms(sp.Indexed) if mutate(r) is not None}
    bad = dataclasses.replace(op, traditional=op.traditional.xreplace(reads))
    result = run_and_check_reference(bad)
    assert not result.ok
    assert result.counterexample is not None
    assert "G=2" in result.counterexample.sizes or "G=3" in result.counterexample.sizes
    assert result.counterexample.index.startswith("y[")
    assert result.counterexample.left and result.counterexample.right


def test_wrong_declared_neighbourhood_is_refuted():
    fam = C.ConvFamily(2)
    axes = tuple(WindowAxis(K, s, d, P + 1, L) for K, s, d, P, L in zip(fam.K, fam.s, fam.dil, fam.P, fam.L))
    text = "\n".join(_failures(_conv_mutant(fam, omega=Window(axes))))
    assert "support of K" in text and "in Ω(p) only" in text
    _has_counterexample(text)


# -- wrong proof steps ------------------------------------------------------------------------

def test_delta_range_too_small_is_refuted():
    op = catalogue.load("conv2d").operator
    fam = C.ConvFamily(2)
    d = Derivation(op)
    d.apply("unfold-definition", name="x_pad")
    d.apply("split-channels-into-groups", var=fam.cg, new=fam.c, group=sp.floor(fam.o / fam.Og), groups=fam.G, block=fam.Cg)
    d.apply("introduce-delta", targets=[(e, q, 0, L - 2) for e, q, L in zip(fam.offsets(), fam.q, fam.L)], within=fam.c)
    d.conclude(omega=fam.window(), channel=fam.c, neighbour=fam.q)
    cp = d.proof().check()
    step = cp.steps[2]
    assert not step.check.ok and not step.check.general
    assert "not provably inside" in step.check.replay or "not proved" in step.check.replay
    ce = step.check.counterexample
    assert ce is not None and ce.index.startswith("y[") and ce.left != ce.right
    assert "left − right" in ce.detail


def test_exchange_with_dependent_bounds_is_refuted():
    """Σ_a Σ_{c≤a} f exchanged as if rectangular: the precondition fails and the result is ill-formed."""
    B, C_, L = size("B"), size("C"), size("L")
    b, o, i, a, c = (index(n) for n in "b o i a c".split())
    x = TensorDecl("x", (B, C_, L), "input")
    y = TensorDecl("y", (B, C_, L), "output")
    op = Operator(name="prefix", summary="", output=y, lhs_indices=(b, o, i),
                  traditional=sp.Sum(x[b, c, i], (c, 0, a), (a, 0, C_ - 1)), tensors=(x,), batch=b,
                  out_channel=o, position=(i,), sizes=((B, ""), (C_, ""), (L, "")),
                  grid=({B: 1, C_: 3, L: 2},))
    d = Derivation(op)
    d.apply("exchange-sums", outer=[a], inner=[c])
    step = d.steps[0]
    assert not all(ob.proved for ob in step.obligations)
    d.conclude(omega=Window((WindowAxis(1, 1, 1, 0, L),)), channel=c, neighbour=(i,))
    cp = d.proof().check()
    check = cp.steps[0].check
    assert not check.ok and not check.general
    assert "unbound variable" in check.counterexample.detail
    _has_counterexample(check.counterexample.text())


def test_factoring_out_a_dependent_factor_is_refuted():
    op = catalogue.load("linear").operator
    o, c, n, q = (index(s) for s in "o c n q".split())
    W = sp.IndexedBase("W")
    d = Derivation(op)
    d.apply("introduce-delta", targets=[(n, q, 0, size("N") - 1)], within=c)
    d.apply("factor-out", factor=W[o, c], over=[q])   # W[o, c] does not depend on q: fine
    d.apply("factor-out", factor=W[o, c], over=[c])   # but it depends on c: wrong
    d.conclude(omega=Window((WindowAxis(1, 1, 1, 0, size("N")),)), channel=c, neighbour=(q,))
    cp = d.proof().check()
    assert cp.steps[1].check.ok and cp.steps[1].check.general
    bad = cp.steps[2].check
    assert not bad.ok and not bad.general
    _has_counterexample(bad.counterexample.text())


def test_dropped_term_is_refuted_by_replay_and_bounded_check():
    proof = catalogue.load("conv2d").proof()
    o = proof.operator.out_channel
    steps = list(proof.steps)
    steps[2] = dataclasses.replace(steps[2], after=steps[2].after - sp.IndexedBase("bias")[o])
    steps[3] = dataclasses.replace(steps[3], before=steps[2].after)
    cp = dataclasses.replace(proof, steps=tuple(steps)).check()
    check = cp.steps[2].check
    assert not check.ok
    assert "does not produce the recorded result" in check.message
    assert check.counterexample is not None and check.counterexample.detail == "left − right = bias[0]"


def test_wrong_group_index_in_split_channels_is_refuted():
    op = catalogue.load("conv2d").operator
    fam = C.ConvFamily(2)
    d = Derivation(op)
    d.apply("unfold-definition", name="x_pad")
    d.apply("split-channels-into-groups", var=fam.cg, new=fam.c, group=sp.floor(fam.o / fam.Og) + 1,
            groups=fam.G, block=fam.Cg)
    d.conclude(omega=fam.window(), channel=fam.c, neighbour=fam.q)
    cp = d.proof().check()
    check = cp.steps[1].check
    assert not check.ok and not check.general
    assert "0 ≤ " in check.replay
    _has_counterexample(check.counterexample.text())


def test_sympy_delta_summation_trap_is_caught():
    """SymPy's Sum(δ(m, 2u)·W[u]).doit() reads W[m/2]: the bounded check reports the non-integer index."""
    B, L, K = size("B"), size("L"), size("K")
    b, o, m, u = (index(s) for s in "b o m u".split())
    x = TensorDecl("x", (B, 1, L), "input")
    W = TensorDecl("W", (K,), "parameter")
    y = TensorDecl("y", (B, 1, L), "output")
    before = sp.Sum(sp.KroneckerDelta(m, 2 * u) * W[u], (u, 0, K - 1)) * x[b, o, m]
    op = Operator(name="upsample", summary="", output=y, lhs_indices=(b, o, m), traditional=before, tensors=(x, W),
                  batch=b, out_channel=o, position=(m,), sizes=((B, ""), (L, ""), (K, "")),
                  grid=({B: 1, L: 5, K: 2},))
    after = before.doit()
    assert sp.IndexedBase("W")[m / 2] in after.atoms(sp.Indexed)  # the trap is real in this SymPy
    step = Step("sympy-doit", "SymPy's delta summation (not an evosym rule)", (), before, after)
    proof = dataclasses.replace(catalogue.load("linear").proof(), operator=op, steps=(step,))
    check = proof.check(reference=False).steps[0].check
    assert not check.ok
    assert "1/2" in check.counterexample.detail and "not an integer" in check.counterexample.detail
    assert check.counterexample.index == "y[b=0, o=0, m=1]"


def test_non_bijective_reindexing_is_refuted():
    """u = K − 1 − 2v is not a bijection of the integers: the σ = ±1 precondition fails, the check refutes it."""
    from pathlib import Path
    path = Path(__file__).resolve().parent.parent / "evosym" / "selftest" / "operators" / "textbook_conv1d.py"
    mod = catalogue.load(str(path))
    ex = mod.module
    d = Derivation(mod.operator)
    d.apply("unfold-definition", name="x_pad")
    d.apply("reindex-sum", var=ex.u, new=ex.v, expr_of_new=ex.K - 1 - 2 * ex.v)
    d.conclude(omega=Window((WindowAxis(ex.K, 1, 1, ex.K - 1 - ex.P, ex.L),)), channel=ex.c, neighbour=(ex.m,))
    cp = d.proof().check()
    check = cp.steps[1].check
    assert not check.ok and not check.general
    assert "σ" in check.replay or "{1, −1}" in check.replay
    _has_counterexample(check.counterexample.text())


def test_a_reference_that_raises_fails_the_check_instead_of_crashing():
    op = catalogue.load("linear").operator

    def broken(arrays, sizes):
        raise RuntimeError("boom")
    result = run_and_check_reference(dataclasses.replace(op, reference=broken))
    assert not result.ok and "reference, which it calls 'torch.nn.functional.linear', raised RuntimeError" in result.message and "boom" in result.message
