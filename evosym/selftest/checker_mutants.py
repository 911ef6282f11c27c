"""Mutants of the numeric checker's inputs: a reference that returns zeros, NaN, a flipped kernel or
the wrong stride, and generated code that returns NaN or is off by a relative 1e-6. The check must
not be fooled by any of them (tolerances are not loose, NaN never passes)."""

from __future__ import annotations

import torch

from ..codegen.check import check_operator
from ..codegen.plan import make_plan
from ..codegen.render import render_torch, template_source
from .registry import Outcome, load, mutant


def _with_reference(name, broken) -> Outcome:
    ref = load(name).operator.torch_reference
    report = check_operator(name, reference=lambda t, s: broken(ref, t, s), variants=0, gradients=False)
    return Outcome(not report.ok, "numeric check" if not report.ok else "nothing", "")


@mutant("numeric-checker", "a reference that returns zeros")
def reference_zeros():
    return _with_reference("conv1d", lambda ref, t, s: torch.zeros_like(ref(t, s)))


@mutant("numeric-checker", "a reference that returns NaN")
def reference_nan():
    return _with_reference("conv1d", lambda ref, t, s: ref(t, s) * float("nan"))


@mutant("numeric-checker", "a reference with a flipped kernel")
def reference_flipped():
    return _with_reference("conv1d", lambda ref, t, s: ref({**t, "W": t["W"].flip(-1)}, s))


@mutant("numeric-checker", "a reference with stride + 1")
def reference_wrong_stride():
    return _with_reference("conv1d", lambda ref, t, s: ref(t, {**s, "s": s["s"] + 1}))


def _with_output(name, rewrite) -> Outcome:
    cp = load(name).proof().check()
    text = template_source()
    old = "    if tuple(y.shape[2:]) == L_out:\n        return y"
    source = render_torch(make_plan(cp), cp.operator.torch_binding, source=text.replace(old, rewrite, 1))
    report = check_operator(name, source=source, variants=0, gradients=False)
    return Outcome(not report.ok, "numeric check" if not report.ok else "nothing", "")


@mutant("numeric-checker", "generated code that returns NaN")
def output_nan():
    return _with_output("conv1d", "    if tuple(y.shape[2:]) == L_out:\n        return y * float('nan')")


@mutant("numeric-checker", "generated code off by a relative 1e-6 (tolerances must be tight)")
def output_slightly_off():
    return _with_output("conv1d", "    if tuple(y.shape[2:]) == L_out:\n        return y * (1 + 1e-6)")


@mutant("numeric-checker", "generated code that returns +inf where the reference is finite")
def output_inf():
    return _with_output("conv1d", "    if tuple(y.shape[2:]) == L_out:\n        return y + float('inf')")
