"""evosym: prove feature operators equal to the Evolution form, and check every step.

    y[b,o,p] = Σ_c Σ_{q∈Ω(p)} K_b[o,c,p,q] · v[b,c,q]      (K_b = F(x_b; θ))

The idea of one unified formula is from Cai, "Evolution: A Unified Formula for Feature
Operators from a High-level Perspective" (arXiv 2305.14409); the notation and the checked
proofs are evosym's own.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import EvosymError
from .ir.evolution import EvolutionForm, match_evolution
from .ir.neighbourhood import Global, IndexSet, Neighbourhood, Window, WindowAxis
from .ir.operator import Operator
from .ir.symbols import InRange, index, indices, size, sizes
from .ir.tensors import Definition, TensorDecl
from .proof.derivation import Derivation
from .proof.proof import CheckedProof, Proof

__all__ = [
    "CheckedProof", "Definition", "Derivation", "EvolutionForm", "EvosymError", "Global", "InRange", "IndexSet",
    "Neighbourhood", "Operator", "Proof", "TensorDecl", "Window", "WindowAxis", "__version__", "index", "indices",
    "match_evolution", "size", "sizes",
]
