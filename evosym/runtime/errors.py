"""The runtime's error type: evosym's own :class:`~evosym.errors.EvosymError` when evosym is installed.

The runtime is the lowest layer and can be copied next to a generated module (``evosym codegen
--standalone``) into an environment that has only torch and a C++ compiler. There the relative
import has no parent package, and an error class of the same name and meaning stands in.
"""

from __future__ import annotations

try:
    from ..errors import EvosymError
except ImportError:   # the runtime copied next to a generated module, without evosym
    class EvosymError(Exception):
        """An error whose message is meant for the user (the standalone runtime's stand-in)."""

__all__ = ["EvosymError"]
