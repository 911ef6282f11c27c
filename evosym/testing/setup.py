"""Setting up an equivalence test: the proven operator's generated code, its sizes, the candidate's weights."""

from __future__ import annotations

import copy
import functools
import operator as _operator
from dataclasses import dataclass

import torch

from .. import catalogue
from ..codegen.check import load_source
from ..codegen.plan import Plan, make_plan
from ..codegen.render import render_torch
from ..codegen.torchexpr import py_name
from ..errors import EvosymError
from ..ir.operator import Operator


@dataclass(frozen=True)
class Proven:
    """A checked operator with its generated (and numerically verified) functional form."""

    operator: Operator
    plan: Plan
    function: object


@functools.lru_cache(maxsize=None)
def proven(name_or_path: str) -> Proven:
    mod = catalogue.load(name_or_path)
    cp = mod.proof().check()
    if not cp.ok:
        raise EvosymError(f"{name_or_path}: the operator's proof does not check; nothing to compare against")
    plan = make_plan(cp)
    generated = load_source(render_torch(plan, cp.operator.torch_binding), cp.operator.name)
    return Proven(cp.operator, plan, getattr(generated, plan.func_name))


def module_sizes(p: Proven, candidate, sizes: dict | None) -> dict:
    """The operator's module sizes (by name): given, or read from a module of the traditional kind."""
    names = [name for name, _ in p.plan.module_sizes]
    out = {}
    binding = p.operator.torch_binding or {}
    cls = _resolve(binding.get("module")) if binding.get("module") else None
    if cls is not None and isinstance(candidate, cls):
        # only the sizes are read; whether the candidate's semantics (padding mode …) agree is what the
        # comparison tests, so the binding's requirements are not enforced here
        for name, expr in binding["sizes"].items():
            try:
                out[py_name(name)] = int(eval(expr, {"torch": torch}, {"m": candidate}))  # noqa: S307 - our own catalogue
            except (TypeError, ValueError, IndexError):
                pass  # e.g. padding='same': the user gives that size
    for k, v in (sizes or {}).items():
        out[py_name(k)] = int(v)
    missing = [n for n in names if n not in out]
    if missing:
        raise EvosymError(f"give the operator's sizes {', '.join(missing)} (sizes={{...}}); "
                          f"meanings: " + "; ".join(f"{n} = {m}" for n, m in p.plan.module_sizes if n in missing))
    unknown = [k for k in out if k not in names]
    if unknown:
        raise EvosymError(f"{', '.join(unknown)}: not a size of {p.operator.name} (sizes: {', '.join(names)})")
    return out


def _resolve(path: str):
    module, _, attr = path.rpartition(".")
    try:
        return functools.reduce(getattr, attr.split("."), __import__(module, fromlist=[attr]))
    except (ImportError, AttributeError):
        return None


def mapped_weights(p: Proven, candidate, weights, dtype) -> dict:
    """The operator's parameter tensors (by IR name) taken from the candidate.

    Default: the attribute named as in the traditional module (``weight``, ``bias``); a ``None``
    bias is zeros. ``weights`` overrides per tensor (IR or torch name → attribute path such as
    "conv.weight", or a function of the candidate returning a tensor), or is a function of the
    candidate returning the whole dict.
    """
    if callable(weights):
        given = weights(candidate)
    else:
        given = dict(weights or {})
    out = {}
    for ir, torch_name, shape, _ in p.plan.params:
        spec = given.get(ir, given.get(torch_name, torch_name))
        if callable(spec):
            value = spec(candidate)
        elif isinstance(spec, str):
            try:
                value = _operator.attrgetter(spec)(candidate)
            except AttributeError:
                names = ", ".join(n for n, _ in candidate.named_parameters()) if hasattr(candidate, "named_parameters") else "none"
                raise EvosymError(f"the candidate has no {spec!r} for the operator's {ir} ({torch_name}); map it with "
                                  f"weights={{{torch_name!r}: 'path.to.tensor' or a function}} (its parameters: {names})") from None
        else:
            value = spec
        out[ir] = value
    return out


def as_dtype(candidate, dtype):
    """A copy of the candidate in ``dtype`` (modules are deep-copied; functions are used as they are)."""
    if isinstance(candidate, torch.nn.Module):
        return copy.deepcopy(candidate).to(dtype)
    return candidate
