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
from .remote import RemoteCandidate, RemoteCopy


@dataclass(frozen=True)
class Proven:
    """A checked operator with its generated (and numerically verified) functional form."""

    operator: Operator
    plan: Plan
    function: object
    omega: object = None     # the proven Ω (its window axes bound the sizes a trial may use)


@functools.lru_cache(maxsize=None)
def proven(name_or_path: str) -> Proven:
    cp = catalogue.checked(name_or_path)   # an operator file: derived and referenced in confined processes
    if not cp.ok:
        raise EvosymError(f"{name_or_path}: the operator's proof does not check; nothing to compare against")
    plan = make_plan(cp)
    generated = load_source(render_torch(plan, cp.operator.torch_binding), cp.operator.name, cp)
    return Proven(cp.operator, plan, getattr(generated, plan.func_name), cp.proof.omega)


MAX_MODULE_SIZE = 1 << 14   # a kernel, channel or head size the harness builds inputs for (16384)


def module_sizes(p: Proven, candidate, sizes: dict | None) -> dict:
    """The operator's module sizes (by name): given, or read from a module of the traditional kind."""
    names = [name for name, _ in p.plan.module_sizes]
    read, padding = (candidate.sizes, candidate.padding) if isinstance(candidate, RemoteCandidate) else \
        read_sizes(p.operator.torch_binding, candidate)   # (a remote candidate's: read in its own process)
    out = {py_name(k): v for k, v in read.items()}
    unread = "" if padding is None else (
        f" (the candidate's padding={padding!r} gives no number to read"
        + (f"; for padding='same' compare with the operator {p.operator.name}_same, which implements it"
           if padding == "same" and f"{p.operator.name}_same" in catalogue.catalogue_names() else "") + ")")
    for k, v in (sizes or {}).items():
        out[py_name(k)] = int(v)
    huge = sorted(f"{k}={v}" for k, v in out.items() if abs(v) > MAX_MODULE_SIZE)
    if huge:   # its inputs are built at least that long, and the smallest fitting length is searched up to 4× it
        raise EvosymError(f"{', '.join(huge)}: the harness checks module sizes up to {MAX_MODULE_SIZE} (inputs are built "
                          "to fit them: a check at larger sizes would not end in reasonable time)")
    missing = [n for n in names if n not in out]
    if missing:
        raise EvosymError(f"give the operator's sizes {', '.join(missing)} (sizes={{...}}){unread}; "
                          f"meanings: " + "; ".join(f"{n} = {m}" for n, m in p.plan.module_sizes if n in missing))
    unknown = [k for k in out if k not in names]
    if unknown:
        raise EvosymError(f"{', '.join(unknown)}: not a size of {p.operator.name} (sizes: {', '.join(names)})")
    return out


def read_sizes(binding: dict | None, candidate) -> tuple[dict, str | None]:
    """The sizes a module of the operator's traditional kind (``binding``'s module) holds, by the binding's names, and
    its padding where that is a word (PyTorch's 'same', 'valid': no number to read), else None."""
    not_built(candidate)
    out, unread = {}, None
    binding = binding or {}
    cls = _resolve(binding.get("module")) if binding.get("module") else None
    if cls is not None and isinstance(candidate, cls):
        padding = getattr(candidate, "padding", None)
        if isinstance(padding, str):
            unread = padding
        # only the sizes are read; whether the candidate's semantics (padding mode …) agree is what the
        # comparison tests, so the binding's requirements are not enforced here
        for name, expr in binding["sizes"].items():
            try:
                out[str(name)] = int(eval(expr, {"torch": torch}, {"m": candidate}))  # noqa: S307 - our own catalogue
            except (TypeError, ValueError, IndexError, NameError, AttributeError, KeyError):
                pass  # e.g. padding='same', or a size from_torch takes as an argument: the user gives that size
    return out, unread


def not_built(candidate) -> None:
    """An ``EvosymError`` for a module holding lazy parameters (``nn.LazyConv2d`` …, or a module with one inside)
    before its first forward pass: their shapes, and the sizes read from them, do not exist yet."""
    if not isinstance(candidate, torch.nn.Module):
        return
    lazy = [name for name, t in [*candidate.named_parameters(), *candidate.named_buffers()]
            if isinstance(t, torch.nn.parameter.UninitializedTensorMixin)]
    if lazy:
        raise EvosymError(f"the candidate ({type(candidate).__name__}) holds lazy parameters whose shapes do not exist "
                          f"yet ({', '.join(lazy[:4])}{' …' if len(lazy) > 4 else ''}): run it once on an input first "
                          "(a lazy layer infers its input size from the first input), or build it with its sizes")


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
    candidate returning the whole dict. A name that is not one of the operator's parameters, an
    attribute path the candidate lacks, or a value that is not a tensor is an ``EvosymError``.
    """
    if isinstance(candidate, RemoteCopy):   # read in the candidate's process
        return candidate.weights(p, weights)
    return mapped([(ir, t) for ir, t, _, _ in p.plan.params], p.operator.name, candidate, weights)


def mapped(params: list, operator: str, candidate, weights) -> dict:
    """:func:`mapped_weights` for the parameters ``params`` ((IR name, torch name) pairs) of ``operator``."""
    if callable(weights):
        given = weights(candidate)
        if not isinstance(given, dict):
            raise EvosymError(f"weights=function(candidate) must return a dict of tensors, not {type(given).__name__}")
    else:
        given = dict(weights or {})
    known = {ir for ir, _ in params} | {t for _, t in params if t}
    unknown = [k for k in given if k not in known]
    if unknown:
        raise EvosymError(f"{', '.join(map(str, unknown))}: not a parameter of {operator} (its parameters: "
                          f"{_names(params)})")
    out = {}
    for ir, torch_name in params:
        spec = given.get(ir, given.get(torch_name, torch_name)) if torch_name else given.get(ir, ir)
        if callable(spec) and not isinstance(spec, torch.Tensor):
            value = spec(candidate)
        elif isinstance(spec, str):
            try:
                value = _operator.attrgetter(spec)(candidate)
            except AttributeError:
                names = ", ".join(n for n, _ in candidate.named_parameters()) if hasattr(candidate, "named_parameters") else "none"
                raise EvosymError(f"the candidate has no {spec!r} for the operator's {ir} ({torch_name}); map it with "
                                  f"weights={{{(torch_name or ir)!r}: 'path.to.tensor' or a function}} (its parameters: "
                                  f"{names or 'none'})") from None
        else:
            value = spec
        if value is not None and not isinstance(value, torch.Tensor):
            raise EvosymError(f"the operator's {ir} ({torch_name}) maps to a {type(value).__name__}, not a tensor")
        out[ir] = value
    return out


def parameter_names(p: Proven) -> str:
    """The operator's parameters as "W (weight), bias (bias)"."""
    return _names([(ir, t) for ir, t, _, _ in p.plan.params])


def _names(params: list) -> str:
    return ", ".join(f"{ir} ({t})" if t and t != ir else ir for ir, t in params) or "none"


def check_weight_shapes(p: Proven, w: dict, names: dict, spec=None) -> None:
    """An ``EvosymError`` when a mapped tensor's shape is not the operator's shape of that parameter at the sizes."""
    given = {} if callable(spec) or spec is None else dict(spec)
    for ir, torch_name, shape, _ in p.plan.params:
        value = w.get(ir)
        if value is None:
            continue
        try:
            want = tuple(int(eval(d, {}, dict(names))) for d in shape)  # noqa: S307 - generated from sizes
        except (NameError, TypeError, ValueError):
            continue
        if tuple(value.shape) != want:
            source = given.get(ir, given.get(torch_name, torch_name or ir))
            source = source if isinstance(source, str) else "the mapped tensor"
            raise EvosymError(f"the candidate's {source} has shape {tuple(value.shape)}, the operator's {ir} needs {want} "
                              f"at the sizes {', '.join(f'{k}={v}' for k, v in sorted(names.items()))}")


def as_dtype(candidate, dtype):
    """A copy of the candidate in ``dtype`` (modules are deep-copied; functions are used as they are; a remote
    candidate is copied in its own process)."""
    if isinstance(candidate, RemoteCandidate):
        return candidate.at(dtype)
    if isinstance(candidate, torch.nn.Module):
        return copied(candidate).to(dtype)
    return candidate


def copied(candidate):
    """A deep copy of the candidate module, or an ``EvosymError`` saying why it has none (the harness compares
    copies: one per dtype, one with its weights drawn at random)."""
    try:
        return copy.deepcopy(candidate)
    except Exception as exc:  # noqa: BLE001 - the candidate's own __deepcopy__ (or a tensor it holds) refused
        raise EvosymError(f"the candidate cannot be copied (copy.deepcopy raised {type(exc).__name__}: "
                          f"{str(exc)[:300]}); the harness compares copies of it, one per dtype. A module holding a "
                          "tensor computed from its parameters cannot be: torch.nn.utils.weight_norm's (deprecated; "
                          "torch.nn.utils.parametrizations.weight_norm can be copied)") from None
