"""Mutants of kernel properties: a property the lowering relies on, claimed where it does not
hold. Code generated under the false claim must fail the numeric check (or be refused)."""

from __future__ import annotations

import sympy as sp

from ..codegen import plan as plan_module
from ..codegen.check import check_operator
from ..codegen.plan import make_plan
from ..codegen.render import render_torch
from ..errors import EvosymError
from .registry import OPERATORS, Outcome, load, mutant


def _check(name, source) -> Outcome:
    target = str(OPERATORS / f"{name}.py") if (OPERATORS / f"{name}.py").is_file() else name
    try:
        report = check_operator(target, source=source, variants=0, gradients=False)
    except EvosymError as exc:
        return Outcome(True, "code generation refused", str(exc))
    if report.ok:
        return Outcome(False, "nothing", "the generated code still passes")
    first = next(line for line in report.text().splitlines() if "✗" in line and "seed" not in line)
    return Outcome(True, "numeric check", first.strip())


def _plan(name, **kw):
    return make_plan(load(name).proof().check(), **kw)


def _generated(name, **kw):
    """Generated source under a false claim, or the generator's refusal as a kill."""
    try:
        p = _plan(name, **kw)
        return render_torch(p, load(name).operator.torch_binding), None
    except EvosymError as exc:
        return None, Outcome(True, "code generation refused", str(exc))


@mutant("kernel-property", "gated_conv1d's dynamic kernel declared static (sample 0's kernel used for every sample)")
def dynamic_declared_static():
    op = load("gated_conv1d").operator
    source, refused = _generated("gated_conv1d", mutate_kernel=lambda k: k.xreplace({op.batch: 0}))
    return refused or _check("gated_conv1d", source)


@mutant("kernel-property", "locally_connected1d's position-specific kernel declared shared (position 0's filter everywhere)")
def position_specific_declared_shared():
    op = load("locally_connected1d").operator
    source, refused = _generated("locally_connected1d", mutate_kernel=lambda k: k.xreplace({op.position[0]: 0}))
    return refused or _check("locally_connected1d", source)


@mutant("kernel-property", "conv1d (G = 1 in some shapes) lowered with a fixed groups = 2")
def wrong_group_count():
    cp = load("conv1d").proof().check()
    p = make_plan(cp)
    p.groups = "2"
    return _check("conv1d", render_torch(p, cp.operator.torch_binding))


@mutant("kernel-property", "depthwise kernel declared full-mixing: the channel delta dropped")
def depthwise_declared_full():
    c, o = sp.Symbol("c", integer=True), sp.Symbol("o", integer=True)

    def drop_delta(k):
        return k.xreplace({d: 1 for d in k.atoms(sp.KroneckerDelta)})
    source, refused = _generated("depthwise_conv2d", mutate_kernel=drop_delta, force_generic=True)
    del c, o
    return refused or _check("depthwise_conv2d", source)


@mutant("kernel-property", "textbook_conv1d's window padding K − 1 − P declared non-negative (native conv cannot crop)")
def padding_declared_nonnegative():
    original = plan_module.nonnegative
    plan_module.nonnegative = lambda e: True
    try:
        cp = load("textbook_conv1d").proof().check()
        p = make_plan(cp)
    finally:
        plan_module.nonnegative = original
    if p.path != "native-conv":
        return Outcome(False, "nothing", "the lowering did not take the claim: the mutant is not exercised")
    return _check("textbook_conv1d", render_torch(p, cp.operator.torch_binding))
