"""The numeric check's tolerances cannot be widened by the reference (an operator file's is untrusted): Σ|terms| is
the smaller of the reference's and our generic path's, a reference's non-finite value fails, and gradients are
compared at the smaller side's scale. Each case is generated code that is slightly wrong, next to a reference that
is right where it is compared but inflates what the tolerance was computed from."""

from __future__ import annotations

import pytest
import torch

from evosym import catalogue
from evosym.codegen.check import check_operator
from evosym.codegen.plan import make_plan
from evosym.codegen.render import render_torch


def _off(name: str, factor: float = 1 + 1e-6, grad_factor: float = 1.0) -> str:
    """The generated module of ``name`` with its functional form's output (or only its gradient) scaled, except on
    integer-valued inputs (where the check compares exactly: a module wrong only off the integers)."""
    cp = catalogue.checked(name)
    plan = make_plan(cp)
    return render_torch(plan, cp.operator.torch_binding) + (
        f"\n\nclass _Scaled(torch.autograd.Function):\n"
        f"    @staticmethod\n"
        f"    def forward(ctx, y):\n"
        f"        return y * {factor!r}\n"
        f"    @staticmethod\n"
        f"    def backward(ctx, g):\n"
        f"        return g * {factor * grad_factor!r}\n"
        f"\n\n_right = {plan.func_name}\n"
        f"def {plan.func_name}(*args, **kwargs):\n"
        f"    y = _right(*args, **kwargs)\n"
        f"    whole = all(bool((a == a.round()).all()) for a in args if isinstance(a, torch.Tensor))\n"
        f"    return y if whole else _Scaled.apply(y)\n")


def _reference(name: str, on_abs=None, on_output=None):
    right = catalogue.load(name).operator.torch_reference

    def ref(t, sizes):
        y = right(t, sizes)
        if on_abs is not None and all(bool((v >= 0).all()) for v in t.values()):   # the Σ|terms| call
            return on_abs(y)
        return y if on_output is None else on_output(y)
    return ref


def _last(y, value):
    z = y.detach().flatten().clone()
    z[-1] = value
    return z.reshape(y.shape)


class _InfGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, y):
        return y.clone()

    @staticmethod
    def backward(ctx, g):
        return g * float("inf")


@pytest.mark.parametrize("name, reference, what", [
    ("conv1d", _reference("conv1d", on_abs=lambda y: torch.full_like(y, 1e300)), "Σ|terms| of 1e300"),
    ("conv1d", _reference("conv1d", on_abs=lambda y: torch.full_like(y, float("inf"))), "Σ|terms| infinite"),
    ("conv2d", _reference("conv2d", on_abs=lambda y: y * 1e12), "Σ|terms| 1e12 too large"),
    ("mhsa", _reference("mhsa", on_output=lambda y: _last(y, float("inf"))),
     "one output infinite (the scale of a non-linear operator)"),
    ("mhsa", _reference("mhsa", on_output=lambda y: _last(y, 1e300)), "one output of 1e300"),
])
def test_a_reference_cannot_widen_the_forward_tolerance(name, reference, what):
    report = check_operator(name, source=_off(name), reference=reference, variants=0, gradients=False)
    assert not report.ok, (what, report.text())
    right = check_operator(name, reference=reference, variants=0, gradients=False)
    assert right.ok == ("terms" in what), (what, right.text())   # the right module passes where the compared values are right


def test_a_reference_cannot_widen_the_gradient_tolerance():
    ref = _reference("conv1d", on_output=_InfGrad.apply)
    report = check_operator("conv1d", source=_off("conv1d", factor=1.0, grad_factor=1 + 1e-6), reference=ref,
                            variants=0, gradcheck=False)
    assert not report.ok and "gradients auto: differ from the reference's" in report.text(), report.text()
    honest = check_operator("conv1d", source=_off("conv1d", factor=1.0, grad_factor=1 + 1e-6), variants=0,
                            gradcheck=False)
    assert not honest.ok   # (the same module against the honest reference: its gradient is off)
