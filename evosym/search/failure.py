"""How the search fails: :class:`SearchFailed` for users, :class:`Stuck` between tactics."""

from __future__ import annotations

from ..errors import EvosymError


class SearchFailed(EvosymError):
    """The search found no proof within its budget; the message says how far it got."""


class Stuck(Exception):
    """A tactic cannot go on; the message says what part of the expression is not yet in the form."""
