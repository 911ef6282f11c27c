"""A candidate named on the command line (``MODULE:ATTR``) made into the object the harness calls.

Run in the candidate's own process (:mod:`.candidate_process`), never in the checking one: importing the module runs
the user's code.
"""

from __future__ import annotations

import importlib
import os
import sys

from ..errors import EvosymError
from ..proof.codec import escaped


def load_candidate(spec: str):
    """Import MODULE:ATTR; call it when it is a factory (not a module or a tensor function's class)."""
    import torch
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise EvosymError(f"--candidate takes MODULE:ATTR, e.g. my_pkg.layers:make_conv, not {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:   # the user's module: any error (a SyntaxError, a sys.exit) is theirs, said
        raise EvosymError(f"--candidate: cannot import {module_name}: {raised(exc)}") from None
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise EvosymError(f"--candidate: {module_name} has no {attr!r}") from None
    if isinstance(obj, type) or (callable(obj) and not isinstance(obj, torch.nn.Module)):
        try:
            obj = obj()
        except KeyboardInterrupt:
            raise
        except TypeError as exc:
            raise EvosymError(f"--candidate: {spec} must be a module or a function of no arguments that returns "
                              f"one ({exc})") from None
        except BaseException as exc:
            raise EvosymError(f"--candidate: calling {spec} raised {raised(exc)}") from None
    return obj


def raised(exc: BaseException) -> str:
    """An exception of the user's code, in words (a sys.exit says so: it never ends the check with its status)."""
    if isinstance(exc, SystemExit):
        return f"SystemExit: sys.exit({exc.code!r}) was called (the check has no verdict then: it fails)"
    text = str(exc)
    text = text if len(text) <= 2000 else text[:2000] + "…"   # (a traceback's text: its start says what failed)
    return f"{type(exc).__name__}: {escaped(text)}{hint(exc)}"


def hint(exc: BaseException) -> str:
    """Why a PermissionError, where the candidate's containment is the likely cause."""
    denied = isinstance(exc, PermissionError) or any(w in str(exc) for w in ("Operation not permitted",
                                                                           "Permission denied"))
    if denied and os.environ.get("EVOSYM_MISSING") is not None:
        return (" (the candidate's process may write only beneath its TMPDIR, which is also its XDG_CACHE_HOME and "
                "torch's cache folders, and /dev/shm; it may not create sockets, which DataLoader workers need: "
                "docs/testing.md)")
    return ""
