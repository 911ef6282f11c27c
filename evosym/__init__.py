"""evosym: prove feature operators equal to the Evolution form, and check every step.

    y[b,o,p] = Σ_c Σ_{q∈Ω(p)} K_b[o,c,p,q] · v[b,c,q]      (K_b = F(x_b; θ))

The idea of one unified formula is from Cai, "Evolution: A Unified Formula for Feature
Operators from a High-level Perspective" (arXiv 2305.14409); the notation and the checked
proofs are evosym's own.
"""

from __future__ import annotations

__version__ = "0.1.0"


def attach_source_packages() -> None:
    """In a source checkout, expose ``derivations/`` and ``codegen/templates/`` as subpackages.

    An install (editable or not) maps them to ``evosym.derivations`` and ``evosym.templates``;
    running from the repository without installing (``python -m evosym`` at its root) gets the
    same packages. Called by the modules that read them (the catalogue, the template renderers),
    not at import: ``evosym verify`` never loads the catalogue.
    """
    import importlib.util
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for sub, folder in (("derivations", root / "derivations"), ("templates", root / "codegen" / "templates")):
        name = f"{__name__}.{sub}"
        if name in sys.modules or importlib.util.find_spec(name) is not None:
            continue
        init = folder / "__init__.py"
        if init.is_file():
            spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(folder)])
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)


# The public names, imported on first use (PEP 562): ``import evosym.runtime`` — what a generated module
# needs to run its kernels — then loads neither SymPy nor the prover.
_EXPORTS = {
    "EvosymError": "errors", "EvolutionForm": "ir.evolution", "match_evolution": "ir.evolution",
    "Global": "ir.neighbourhood", "IndexSet": "ir.neighbourhood", "Neighbourhood": "ir.neighbourhood",
    "Window": "ir.neighbourhood", "WindowAxis": "ir.neighbourhood", "SoftmaxLimit": "ir.limit",
    "Operator": "ir.operator", "InRange": "ir.symbols", "index": "ir.symbols", "indices": "ir.symbols",
    "size": "ir.symbols", "sizes": "ir.symbols", "Definition": "ir.tensors", "TensorDecl": "ir.tensors",
    "Derivation": "proof.derivation", "CheckedProof": "proof.proof", "Proof": "proof.proof",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'evosym' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


def _notebook_display() -> None:
    """In IPython or Jupyter, register the printers' rich display of checked proofs (the proof objects
    do not import the printers)."""
    import sys
    if "IPython" in sys.modules:
        try:
            from .printers import notebook  # noqa: F401  (fills evosym.proof.proof.DISPLAY)
        except Exception:   # pragma: no cover - display is a convenience, never a reason to fail an import
            pass


_notebook_display()
