"""Proof search: find the rule applications that take an operator to its Evolution form.

The search is untrusted. It only proposes ordinary steps (rule name and arguments) on a
:class:`~evosym.proof.derivation.Derivation`; every step it emits is replayed and checked by the
same trusted core as a hand-written one, and the neighbourhood Ω it infers is verified by the
same support check. What it adds is convenience: an operator file may leave out ``derive``
(or end it with ``d.auto()``), and ``evosym prove FILE --show-derive`` prints the proof found as
the ``derive`` function a user could paste into the file.
"""

from .derivation import SearchingDerivation
from .engine import SearchFailed, complete
from .source import derive_source

__all__ = ["SearchFailed", "SearchingDerivation", "complete", "derive_source"]
