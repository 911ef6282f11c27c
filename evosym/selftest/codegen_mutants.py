"""Mutants of generated code: templates and the SymPy→torch printer with a bug each. The numeric
check must fail on the code they generate."""

from __future__ import annotations

import warnings

from ..codegen import torchexpr
from ..codegen.check import check_operator
from ..codegen.plan import make_plan
from ..codegen.render import TEMPLATE, render_torch, template_source
from ..runtime.api import GenericPathWarning
from .registry import Outcome, load, mutant


def _outcome(name, source, variants=0) -> Outcome:
    try:
        with warnings.catch_warnings():   # a mutated module has no kernels built for it: its generic path is the test
            warnings.simplefilter("ignore", GenericPathWarning)
            report = check_operator(name, source=source, variants=variants, gradients=False)
    except Exception as exc:  # generated code that cannot even be loaded is caught too
        return Outcome(True, "numeric check", f"{type(exc).__name__}: {exc}")
    if report.ok:
        return Outcome(False, "nothing", "the generated code still passes")
    first = next(line for line in report.text().splitlines() if "✗" in line and "seed" not in line)
    return Outcome(True, "numeric check", first.strip())


def _template(name, old, new, template=TEMPLATE, **plan_kw) -> Outcome:
    """``old`` → ``new`` in the module template, or in a template it imports (``torch/macros.j2``)."""
    text = template_source(template)
    if old not in text:
        raise AssertionError(f"{template} no longer contains {old!r}: update this mutant")
    cp = load(name).proof().check()
    changed = {"source": text.replace(old, new)} if template == TEMPLATE else {"overrides": {template: text.replace(old, new)}}
    source = render_torch(make_plan(cp, **plan_kw), cp.operator.torch_binding, **changed)
    return _outcome(name, source)


@mutant("generated-code", "template: the unfold ignores dilation")
def template_unfold_without_dilation():
    return _template("conv1d", "windows.unfold(2 + axis, d_ * (K_ - 1) + 1, s_)", "windows.unfold(2 + axis, K_, s_)")


@mutant("generated-code", "template: the native call passes the stride as dilation")
def template_stride_as_dilation():
    return _template("conv1d", "dilation=dilation, groups=", "dilation=stride, groups=")


@mutant("generated-code", "template: the generic path subtracts the bias")
def template_bias_subtracted():
    return _template("conv1d", "    y = y + {{ plan.bias }}.reshape", "    y = y - {{ plan.bias }}.reshape", "torch/macros.j2")


@mutant("generated-code", "template: zero padding one wider on the left")
def template_padding_off_by_one():
    return _template("conv1d", "pad += [P_, max(P_, need - xc.shape[2 + axis] - P_)]", "pad += [P_ + 1, max(P_, need - xc.shape[2 + axis] - P_)]")


@mutant("generated-code", "template: the native call forgets groups")
def template_groups_dropped():
    return _template("conv2d", "groups={{ plan.groups }})", "groups=1)")


@mutant("generated-code", "template: channels-last input not moved to channels-first in the generic path")
def template_layout_ignored():
    return _template("linear", "xc = {{ plan.value }}.movedim(-1, 1)", "xc = {{ plan.value }}")


@mutant("generated-code", "template: the generic path keeps windows from position 1 (off by one)")
def template_window_slice_off_by_one():
    return _template("conv1d", "tuple(slice(0, n) for n in L_out)]\n    windows = windows.reshape(", "tuple(slice(1, n + 1) for n in L_out)]\n    windows = windows.reshape(")


@mutant("generated-code", "template: the native weight is taken from the generic kernel's first group only")
def template_native_bias_dropped():
    return _template("conv1d", '{{ plan.bias or "None" }}, stride=', 'None, stride=')


def _printer(name, method, replacement, **plan_kw) -> Outcome:
    original = getattr(torchexpr.GridCompiler, method)
    setattr(torchexpr.GridCompiler, method, replacement(original))
    try:
        cp = load(name).proof().check()
        source = render_torch(make_plan(cp, **plan_kw), cp.operator.torch_binding)
    finally:
        setattr(torchexpr.GridCompiler, method, original)
    return _outcome(name, source)


@mutant("generated-code", "printer: ⌊a/b⌋ printed as true division")
def printer_floor_as_division():
    def replacement(original):
        def _expr_uncached(self, e):
            out = original(self, e)
            return out.replace(" // ", " / ") if out.count("//") else out
        return _expr_uncached
    return _printer("conv2d", "_expr_uncached", replacement, force_generic=True)


@mutant("generated-code", "printer: Kronecker delta printed as inequality")
def printer_delta_negated():
    def replacement(original):
        def _expr_uncached(self, e):
            out = original(self, e)
            return out.replace(" == ", " != ") if type(e).__name__ == "KroneckerDelta" else out
        return _expr_uncached
    return _printer("conv2d", "_expr_uncached", replacement, force_generic=True, grouped=False)


@mutant("generated-code", "printer: subtraction printed as addition")
def printer_minus_as_plus():
    def replacement(original):
        def _expr_uncached(self, e):
            out = original(self, e)
            return out.replace(" - ", " + ") if type(e).__name__ == "Add" else out
        return _expr_uncached
    return _printer("conv2d", "_expr_uncached", replacement, force_generic=True)


@mutant("generated-code", "printer: an identity read reshaped with its two axes swapped")
def printer_identity_axes_swapped():
    def replacement(original):
        def _read(self, e):
            out = original(self, e)
            st = self.prog.statements[-1]
            if "the whole tensor" in st and st.startswith(out + " = "):
                head, view = st.split(".reshape(", 1)
                dims = view.split(")  #")[0].split(", ")
                big = [k for k, d in enumerate(dims) if d != "1"]
                if len(big) >= 2:
                    dims[big[0]], dims[big[1]] = dims[big[1]], dims[big[0]]
                    self.prog.statements[-1] = f"{head}.reshape({', '.join(dims)})  # mutated"
            return out
        return _read
    return _printer("linear", "_read", replacement, force_generic=True)
