"""A generated module's artifact: its kernel sources and the manifest the runtime reads instead of the proof.

For an operator whose module can run compiled kernels, ``evosym codegen`` writes next to ``NAME.py``:
one source per registered kernel backend (:mod:`evosym.runtime.backends`): ``NAME.cpp`` (CPU kernels, where
the CPU target lowers the window), ``NAME.cu`` (CUDA kernels); and
``NAME.manifest.json`` — the sizes in the kernels' order with their lower bounds, the batch,
channel map, input/output lengths and taps as size expressions (:mod:`evosym.runtime.sizeexpr`),
whether the CUDA source has the fused attention, and the SHA-256 of the module and of each source.
Everything here comes from the checked proof and its plan; the runtime (:mod:`evosym.runtime.artifact`)
only reads the result, so a deployed module never calls back into the prover.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass

import sympy as sp

from ..errors import EvosymError
from ..runtime import backends as registry
from ..runtime import sizeexpr
from . import backends
from .plan import Plan, make_plan
from .torchexpr import py_name

SCHEMA = "evosym-kernels/1"
_LOCK = threading.Lock()


def size_json(expr):
    """A SymPy size expression as the runtime's size-expression data (refusing what it cannot state)."""
    expr = sp.sympify(expr)
    if expr.is_Integer:
        return int(expr)
    if expr.is_Rational:
        return ["mul", int(expr.p), ["pow", int(expr.q), -1]]
    if expr.is_Symbol:
        return str(expr)
    if expr.is_Add:
        return ["add", *(size_json(a) for a in sp.Add.make_args(expr))]
    if expr.is_Mul:
        return ["mul", *(size_json(a) for a in sp.Mul.make_args(expr))]
    if expr.is_Pow and expr.exp.is_Integer and abs(int(expr.exp)) <= 8:
        return ["pow", size_json(expr.base), int(expr.exp)]
    for cls, name in ((sp.floor, "floor"), (sp.ceiling, "ceil"), (sp.Min, "min"), (sp.Max, "max"), (sp.Mod, "mod")):
        if isinstance(expr, cls):
            return [name, *(size_json(a) for a in expr.args)]
    raise EvosymError(f"the size expression {expr} cannot be written to a kernel manifest")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Artifact:
    """The kernel sources (target → text) and the manifest's fields of one operator's generated module."""

    name: str
    sources: dict
    fields: dict

    def manifest(self, module_source: str, stem: str | None = None) -> str:
        """The manifest's text for the module ``module_source`` saved as ``stem``.py (its SHA-256 recorded:
        module, manifest and sources are accepted only together; the sources are ``stem``.cpp / .cu)."""
        stem = stem or self.name
        data = dict(self.fields, module_sha256=_sha(module_source),
                    sources={t: {"file": f"{stem}{registry.get(t).suffix}", "sha256": _sha(s)}
                             for t, s in sorted(self.sources.items())})
        rows = (f" {json.dumps(k)}: {json.dumps(v, sort_keys=True, ensure_ascii=False)}" for k, v in sorted(data.items()))
        return "{\n" + ",\n".join(rows) + "\n}\n"   # one field per line: reviewable diffs

    def files(self, module_source: str, stem: str) -> dict:
        """file name → text of what goes next to the module ``stem``.py: the manifest and the kernel sources."""
        out = {f"{stem}{registry.get(t).suffix}": s for t, s in sorted(self.sources.items())}
        out[f"{stem}{MANIFEST}"] = self.manifest(module_source, stem)
        return out


MANIFEST = ".manifest.json"


def artifact(cp, plan: Plan | None = None, regenerate: str | None = None) -> Artifact | None:
    """The artifact of a checked proof's generated module; None when evosym generates no kernels for it
    (a global Ω, a layout the kernel targets refuse: :func:`_built` says which). ``regenerate``: the operator file
    the sources' banners name, as the module's does (:func:`evosym.codegen.render.render_torch`)."""
    return _built(cp, plan, regenerate)[0]


def _built(cp, plan: Plan | None = None, regenerate: str | None = None) -> tuple[Artifact | None, str]:
    """(the artifact, "") or (None, why there is none). Every registered kernel backend renders its source: a
    required one's refusal (the CUDA target's, e.g. a channels-last layout) means no kernels at all; any other
    one's (the CPU target's, e.g. a tiled window) is recorded as the manifest's ``<name>_refusal``."""
    plan = plan or make_plan(cp)
    op, form = cp.operator, cp.evolution
    if not plan.has_kernels:
        return None, f"{op.name}: evosym generates no kernels for this operator: {plan.no_kernels}"
    odd = next((str(s) for s in plan.size_order if not sizeexpr.NAME.match(str(s)) or str(s) in sizeexpr.OPERATIONS),
               None)
    if odd is not None:   # the manifest's size expressions name the sizes as they are
        return None, (f"{op.name}: evosym generates no kernels for this operator: its size {odd!r} is not an ASCII "
                      "identifier, and the kernels' manifest reads sizes by name (rename it to have kernels)")
    sources, refusals = {}, {}
    for b in registry.kernel_backends():   # required ones first
        try:
            sources[b.name] = backends.render(b.name, cp, plan, regenerate=regenerate)
        except EvosymError as exc:
            if b.required:   # no kernels at all (path="kernels" says why)
                why = str(exc).removeprefix(f"{op.name}: ")
                return None, f"{op.name}: evosym generates no kernels for this operator: {why}"
            refusals[f"{b.name}_refusal"] = str(exc)
        else:
            if not b.required:
                refusals[f"{b.name}_refusal"] = ""
    batch = op.output.shape[op.lhs_indices.index(op.batch)]
    fields = {
        "schema": SCHEMA, "operator": op.name, "ident": py_name(op.name), "dims": plan.dims,
        "sizes": [[str(s), 1 if (s.is_positive and s != batch) else 0] for s in plan.size_order],
        "batch": size_json(batch), "channel_map": [size_json(e) for e in plan.channel_map],
        "lengths_in": [size_json(a.length) for a in form.omega.axes],
        "lengths_out": [size_json(op.output.shape[op.lhs_indices.index(p)]) for p in op.position],
        "taps": [size_json(a.kernel) for a in form.omega.axes],
        "attention": plan.attention is not None, **refusals,
    }
    return Artifact(op.name, sources, fields), ""


_MEMO = "_evosym_registered_artifact"   # on the checked proof itself: rendered once, freed with the proof


def _registered(cp) -> tuple:
    """(manifest bytes, sources, why none) of a checked proof's artifact, rendered once per proof."""
    memo = cp.__dict__.get(_MEMO)
    if memo is None:
        art, why = _built(cp)
        memo = (None, None, why) if art is None else (art.manifest("").encode("utf-8"), art.sources, "")
        object.__setattr__(cp, _MEMO, memo)   # a frozen dataclass: a cache, not one of its fields
    return memo


def register_checked(cp, alias: str | None = None) -> str | None:
    """Register the artifact of a checked proof with the runtime (in memory), under its key and its
    operator's name (and ``alias``); returns the key, or None when evosym generates no kernels for it.
    How evosym's tools run fresh generations."""
    from ..runtime import artifact as runtime
    with _LOCK:
        manifest, sources, _ = _registered(cp)
        if manifest is None:
            return None
        key = runtime.register(manifest, sources, alias=cp.operator.name)
        if alias is not None and alias != cp.operator.name:
            runtime.register(manifest, sources, alias=alias)
        return key


def refusal(name_or_path: str, backend: str) -> str:
    """Why the operator's artifact has no source of the kernel backend ``backend`` ("" when it has one), as the
    artifact records it: no kernels at all (a global Ω, the required backend's refusal) or the manifest's
    ``<backend>_refusal``. What tests read instead of hand lists of the operators a backend does not lower."""
    from .. import catalogue
    if not registry.get(backend).kernels:
        raise EvosymError(f"{backend!r} is not a kernel backend (kernel backends: "
                          f"{', '.join(b.name for b in registry.kernel_backends())})")
    manifest, sources, why = _registered(catalogue.checked(name_or_path))
    if manifest is None:
        return why
    if backend in sources:
        return ""
    return json.loads(manifest).get(f"{backend}_refusal") or f"its artifact has no {backend} source"


def kernels_for(name_or_path: str):
    """The generated kernels of a catalogue operator or operator file, registered with the runtime under
    its key and its operator's name (how ``evosym check``, ``bench`` and a module run from a string find
    them): proved once per process, here in the tools, never by the runtime. A clear error says why an
    operator has none (a global Ω, or the kernel target's own refusal)."""
    from .. import catalogue
    from ..runtime.artifact import kernels
    cp = catalogue.checked(name_or_path)
    key = register_checked(cp, alias=name_or_path)
    if key is None:
        raise EvosymError(_registered(cp)[2])
    return kernels(key)
