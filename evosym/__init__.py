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


from .errors import EvosymError
from .ir.evolution import EvolutionForm, match_evolution
from .ir.neighbourhood import Global, IndexSet, Neighbourhood, Window, WindowAxis
from .ir.limit import SoftmaxLimit
from .ir.operator import Operator
from .ir.symbols import InRange, index, indices, size, sizes
from .ir.tensors import Definition, TensorDecl
from .proof.derivation import Derivation
from .proof.proof import CheckedProof, Proof

__all__ = [
    "CheckedProof", "Definition", "Derivation", "EvolutionForm", "EvosymError", "Global", "InRange", "IndexSet",
    "Neighbourhood", "Operator", "Proof", "SoftmaxLimit", "TensorDecl", "Window", "WindowAxis", "__version__", "index", "indices",
    "match_evolution", "size", "sizes",
]
