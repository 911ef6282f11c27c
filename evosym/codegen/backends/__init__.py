"""The code generators of the registered backends: one folder each (``<name>/``: ``render``, its config and
its ``templates/``), found through the registry (:mod:`evosym.runtime.backends`), never by an if-chain.

``module(name)`` imports a backend's renderer by the module path the registry records; ``render`` calls it.
A renderer takes a checked proof and its plan (``render(cp, plan, source=None)``: ``source``, a template text
to render instead of its template, for canaries) and returns the generated text; an operator it cannot lower
is an :class:`~evosym.errors.EvosymError` saying why (the artifact records an optional backend's refusal).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from pathlib import Path

from ...errors import EvosymError
from ...runtime import backends as registry


def module(name: str):
    """The renderer module of the registered backend ``name`` (an unknown name, or a registered renderer that
    is not importable: a clear error)."""
    path = registry.get(name).codegen
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError as exc:
        if exc.name and path.startswith(exc.name):   # the renderer itself is missing, not one of its imports
            raise EvosymError(f"backend {name!r}: its renderer {path} cannot be imported ({exc})") from None
        raise


def render(name: str, cp, plan, **options) -> str:
    """The text backend ``name`` generates for the checked proof ``cp`` and its plan. ``regenerate`` (the operator
    file its banner names) reaches only a renderer that takes it: a backend written before it names the operator."""
    renderer = module(name).render
    taken = inspect.signature(renderer).parameters
    if "regenerate" not in taken and not any(p.kind is p.VAR_KEYWORD for p in taken.values()):
        options.pop("regenerate", None)
    return renderer(cp, plan, **options)


def template_folders() -> dict:
    """prefix → folder of templates: ``common`` (macros shared by the kernel templates) and each registered
    backend's ``templates/`` (a template ``cpu/kernels.cpp.j2`` is ``cpu``'s ``templates/kernels.cpp.j2``)."""
    folders = {"common": Path(__file__).resolve().parent / "common" / "templates"}
    for name in registry.names():
        try:
            spec = importlib.util.find_spec(registry.get(name).codegen)
        except ModuleNotFoundError:   # its package is missing: rendering it says so (:func:`module`)
            spec = None
        for root in (spec.submodule_search_locations or []) if spec else []:
            if (Path(root) / "templates").is_dir():
                folders[name] = Path(root) / "templates"
    return folders
