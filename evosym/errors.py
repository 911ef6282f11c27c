"""Error types that reach the user as one clear line.

Every failure a user can cause (unknown operator, malformed operator file, bad rule
arguments, an existing output file) is an :class:`EvosymError`; the CLI prints its message
and exits non-zero instead of showing a traceback.
"""

from __future__ import annotations


class EvosymError(Exception):
    """Base class for errors whose message is meant for the user."""


class OperatorNotFound(EvosymError):
    """An operator name that is neither in the catalogue nor an existing file."""


class OperatorFileError(EvosymError):
    """A user's operator file that cannot be loaded or does not define an operator."""


class RuleError(EvosymError):
    """A rule that cannot be applied where or how the derivation asked."""


class MatchError(EvosymError):
    """An expression that is not in the Evolution form."""


class IllFormedAccess(EvosymError):
    """A tensor read at a non-integer or out-of-range index during a bounded check."""


class OutputExists(EvosymError):
    """An output file exists and ``--force`` was not given."""


class TimeLimitExceeded(EvosymError):
    """An operator file took longer than ``--time-limit``; never mistaken for a failed step."""
