"""A derivation that can finish itself: ``d.auto()`` runs the proof search from where ``d`` stands."""

from __future__ import annotations

from ..proof.derivation import Derivation


class SearchingDerivation(Derivation):
    """:class:`Derivation` with :meth:`auto`; the catalogue hands this to every ``derive``."""

    def auto(self) -> "SearchingDerivation":
        """Complete the proof by search: the steps found are appended, and the conclusion (Ω, channel,
        neighbour) is inferred. Raises :class:`SearchFailed` saying how far the search got."""
        from .engine import complete
        complete(self)
        return self
