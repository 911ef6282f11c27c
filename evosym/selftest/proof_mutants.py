"""Mutants of proof steps: a rule applied where its precondition fails, wrong reindexing, dropped
terms, tampered records. The proof checker must refute each with a counterexample."""

from __future__ import annotations

import dataclasses

import sympy as sp

from .. import Derivation, Operator, TensorDecl, Window, WindowAxis
from ..ir.symbols import index, size
from ..proof.step import Step
from .registry import Outcome, load, mutant, outcome_of_check, proof


def _conv1d_prefix(d, fam):
    d.apply("unfold-definition", name="x_pad")
    d.apply("split-channels-into-groups", var=fam.cg, new=fam.c, group=sp.floor(fam.o / fam.Og), groups=fam.G, block=fam.Cg)


def _fam():
    from ..derivations._conv import ConvFamily
    return ConvFamily(1)


def _tamper(name, k, change) -> Outcome:
    """Replace step k's result with change(step) and re-link the next step, then check."""
    p = proof(name)
    steps = list(p.steps)
    steps[k] = change(steps[k])
    if k + 1 < len(steps):
        steps[k + 1] = dataclasses.replace(steps[k + 1], before=steps[k].after)
    op = p.operator
    return outcome_of_check(dataclasses.replace(p, steps=tuple(steps)).check(grid=op.grid[:3], reference=False))


@mutant("proof-step", "introduce-delta with a range one short (m ≤ L − 2): its precondition fails")
def delta_range_too_small():
    fam, op = _fam(), load("conv1d").operator
    d = Derivation(op)
    _conv1d_prefix(d, fam)
    d.apply("introduce-delta", targets=[(e, q, 0, L - 2) for e, q, L in zip(fam.offsets(), fam.q, fam.L)], within=fam.c)
    d.conclude(omega=fam.window(), channel=fam.c, neighbour=fam.q)
    return outcome_of_check(d.proof().check(grid=op.grid[:3], reference=False))


@mutant("proof-step", "split-channels-into-groups with the group index off by one")
def wrong_group_index():
    fam, op = _fam(), load("conv1d").operator
    d = Derivation(op)
    d.apply("unfold-definition", name="x_pad")
    d.apply("split-channels-into-groups", var=fam.cg, new=fam.c, group=sp.floor(fam.o / fam.Og) + 1, groups=fam.G, block=fam.Cg)
    d.conclude(omega=fam.window(), channel=fam.c, neighbour=fam.q)
    return outcome_of_check(d.proof().check(grid=op.grid[3:5], reference=False))


@mutant("proof-step", "exchange-sums on a triangular sum (the inner range depends on the outer variable)")
def exchange_dependent_bounds():
    B, C, L = size("B"), size("C"), size("L")
    b, o, i, a, c = (index(n) for n in "b o i a c".split())
    x, y = TensorDecl("x", (B, C, L), "input"), TensorDecl("y", (B, C, L), "output")
    op = Operator(name="prefix", summary="", output=y, lhs_indices=(b, o, i),
                  traditional=sp.Sum(x[b, c, i], (c, 0, a), (a, 0, C - 1)), tensors=(x,), batch=b, out_channel=o,
                  position=(i,), sizes=((B, ""), (C, ""), (L, "")), grid=({B: 1, C: 3, L: 2},))
    d = Derivation(op)
    d.apply("exchange-sums", outer=[a], inner=[c])
    d.conclude(omega=Window((WindowAxis(1, 1, 1, 0, L),)), channel=c, neighbour=(i,))
    return outcome_of_check(d.proof().check())


@mutant("proof-step", "factor-out of a factor that depends on the summation variable")
def factor_out_dependent():
    op = load("linear").operator
    o, c, n, q = (index(s) for s in "o c n q".split())
    d = Derivation(op)
    d.apply("introduce-delta", targets=[(n, q, 0, size("N") - 1)], within=c)
    d.apply("factor-out", factor=sp.IndexedBase("W")[o, c], over=[q])   # W does not depend on q: valid
    d.apply("factor-out", factor=sp.IndexedBase("W")[o, c], over=[c])   # but it depends on c
    d.conclude(omega=Window((WindowAxis(1, 1, 1, 0, size("N")),)), channel=c, neighbour=(q,))
    return outcome_of_check(d.proof().check(reference=False))


@mutant("proof-step", "reindex-sum with u = K − 1 − 2v, not a bijection of the integers")
def non_bijective_reindex():
    mod = load("textbook_conv1d")
    ex = mod.module
    d = Derivation(mod.operator)
    d.apply("unfold-definition", name="x_pad")
    d.apply("reindex-sum", var=ex.u, new=ex.v, expr_of_new=ex.K - 1 - 2 * ex.v)
    d.conclude(omega=Window((WindowAxis(ex.K, 1, 1, ex.K - 1 - ex.P, ex.L),)), channel=ex.c, neighbour=(ex.m,))
    return outcome_of_check(d.proof().check(reference=False))


@mutant("proof-step", "a step whose recorded result drops the bias term")
def dropped_term():
    o = load("conv1d").operator.out_channel
    return _tamper("conv1d", 2, lambda s: dataclasses.replace(s, after=s.after - sp.IndexedBase("bias")[o]))


@mutant("proof-step", "a step whose recorded result flips the sign of the aggregation")
def flipped_sign():
    bias = sp.IndexedBase("bias")[load("conv1d").operator.out_channel]
    return _tamper("conv1d", 3, lambda s: dataclasses.replace(s, after=2 * bias - s.after))


@mutant("proof-step", "a step whose result is SymPy's delta summation (reads W[m/2]: trap 9)")
def sympy_delta_summation():
    B, L, K = size("B"), size("L"), size("K")
    b, o, m, u = (index(s) for s in "b o m u".split())
    x, W, y = TensorDecl("x", (B, 1, L), "input"), TensorDecl("W", (K,), "parameter"), TensorDecl("y", (B, 1, L), "output")
    before = sp.Sum(sp.KroneckerDelta(m, 2 * u) * W[u], (u, 0, K - 1)) * x[b, o, m]
    op = Operator(name="upsample", summary="", output=y, lhs_indices=(b, o, m), traditional=before, tensors=(x, W),
                  batch=b, out_channel=o, position=(m,), sizes=((B, ""), (L, ""), (K, "")), grid=({B: 1, L: 5, K: 2},))
    step = Step("sympy-doit", "SymPy's delta summation", (), before, before.doit())
    p = dataclasses.replace(proof("linear"), operator=op, steps=(step,))
    return outcome_of_check(p.check(reference=False))


@mutant("proof-step", "a step recorded with the next step's result (it claims what another rule did)")
def skipped_step():
    p = proof("conv1d")
    steps = list(p.steps)
    steps[3] = dataclasses.replace(steps[3], after=steps[4].after)
    steps[4] = dataclasses.replace(steps[4], before=steps[4].after)
    return outcome_of_check(dataclasses.replace(p, steps=tuple(steps)).check(grid=p.operator.grid[:2], reference=False))


@mutant("proof-step", "unfold-definition recorded with a padding definition that lost its guard")
def unguarded_unfold():
    p = proof("conv1d")
    x_pad = p.operator.definitions[0]
    from ..ir.symbols import InRange
    unguarded = x_pad.body.xreplace({a: sp.Integer(1) for a in x_pad.body.atoms(InRange)})
    assert unguarded != x_pad.body
    reads = {r: unguarded.xreplace(dict(zip(x_pad.params, r.indices))) for r in p.operator.traditional.atoms(sp.Indexed)
             if str(r.base.label) == "x_pad"}
    return _tamper("conv1d", 0, lambda s: dataclasses.replace(s, after=s.before.xreplace(reads)))


@mutant("proof-step", "name-kernel whose recorded definition differs from the kernel it replaced")
def renamed_kernel_changed():
    def change(s):
        d = s.defines[0]
        wrong = dataclasses.replace(d, body=d.body * 2)
        return dataclasses.replace(s, defines=(wrong,))
    p = proof("conv1d")
    steps = list(p.steps)
    steps[-1] = change(steps[-1])
    return outcome_of_check(dataclasses.replace(p, steps=tuple(steps)).check(grid=p.operator.grid[:2], reference=False))
