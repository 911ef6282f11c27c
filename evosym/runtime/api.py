"""What a generated module calls: one import for its kernel path.

A generated module imports this module (evosym's, or the copy ``evosym codegen --standalone`` puts
next to it) only when it runs compiled kernels, and asks three things: :func:`load` (its artifact's
key, from the manifest next to it), :func:`available` (whether the kernels for a device type build
and load here: decided once per process, a warning once when not), :func:`transformed` (forward-mode AD or a
torch.func transform, where the kernels give no tangent) and the ops themselves.
"""

from __future__ import annotations

import threading
import warnings

from .aggregate import evolution_aggregate, evolution_correlate, library_info, transformed
from .artifact import load
from .attend import evolution_attend
from .attention import evolution_attention


class GenericPathWarning(UserWarning):
    """A module's generated kernels cannot be loaded or built here: it runs its generic path (same values, slower)."""


_LOCK = threading.Lock()
_AVAILABLE: dict = {}   # (module file or name, device type) -> bool
_WARNED: set = set()


def available(module_file, name: str, device_type: str, key: str | None = None) -> bool:
    """Whether the module's generated kernels for ``device_type`` ("cpu" or "cuda") can be loaded or
    built; else one warning per module and False (the module then runs its generic path)."""
    where = (str(module_file or key or name), device_type)
    with _LOCK:
        if where in _AVAILABLE:
            return _AVAILABLE[where]
    try:
        library_info(load(module_file, name, key), device_type)
        ok = True
    except Exception as exc:   # no compiler, no artifact, a failed build: the generic path, said once
        ok = False
        with _LOCK:
            first = where[0] not in _WARNED
            _WARNED.add(where[0])
        if first:
            warnings.warn(f"{name}: generated {device_type.upper()} kernels unavailable ({exc}); using the generic path",
                          GenericPathWarning, stacklevel=3)
    with _LOCK:
        _AVAILABLE[where] = ok
    return ok


__all__ = ["GenericPathWarning", "available", "evolution_aggregate", "evolution_attend", "evolution_attention",
           "evolution_correlate", "load", "transformed"]
