"""The committed generated modules the coverage sweeps run, imported once per process."""

from __future__ import annotations

import importlib.util
import sys

_LOADED: dict = {}


def generated(name: str):
    """The committed generated PyTorch module of a catalogue operator (``codegen/torch/NAME.py``), imported once."""
    if name not in _LOADED:
        from evosym.codegen.generate import committed_dir
        path = committed_dir() / f"{name}.py"
        if not path.is_file():
            raise ValueError(f"no committed generated module for {name!r} at {path} (a source checkout has them)")
        spec = importlib.util.spec_from_file_location(f"evosym_coverage_{name}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        _LOADED[name] = module
    return _LOADED[name]


def module_class(module):
    """The module's nn.Module class (the one of its exports that is not the functional form)."""
    return next(getattr(module, n) for n in module.__all__ if not n.endswith("_evolution"))
