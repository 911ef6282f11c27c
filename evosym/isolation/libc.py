"""The C library calls the confinements make (:mod:`.landlock`, :mod:`.seccomp`): the library itself, and
``prctl(PR_SET_NO_NEW_PRIVS)``, which each needs before it may confine an unprivileged process."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys

_NO_NEW_PRIVS = 38   # prctl options
_PDEATHSIG = 1
_DUMPABLE = 4


@functools.cache
def libc():
    """The C library with errno kept, or None off Linux (or where it cannot be loaded); found once (finding it runs
    ``ldconfig``: a process, which the confined worker may no longer start)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    except OSError:
        return None


def prctl(lib, option: int, *args) -> None:
    """``prctl(option, args…)`` (unsigned longs or pointers, padded to four); OSError naming it when it fails."""
    values = [ctypes.c_ulong(a) if isinstance(a, int) else a for a in args]
    values += [ctypes.c_ulong(0)] * (4 - len(values))
    if lib.prctl(ctypes.c_int(option), *values) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}): " + os.strerror(ctypes.get_errno()))


def no_new_privs(lib) -> None:
    """This process and all it starts can gain no privileges (set-uid, file capabilities) any more."""
    prctl(lib, _NO_NEW_PRIVS, 1)


def die_with_parent(parent: int) -> None:
    """This process is killed when its parent ``parent`` ends (a parent killed by a signal cannot kill it): at once
    if the parent has already gone. Nothing off Linux."""
    lib = libc()
    if lib is not None:
        prctl(lib, _PDEATHSIG, 9)   # SIGKILL
    if os.getppid() != parent:
        os._exit(3)


def not_dumpable() -> None:
    """No process of this user may attach to this one or read its memory any more (``ptrace``, ``/proc/PID/mem``;
    root may): what it computes stays its own while a process it does not trust runs beside it. Nothing off Linux."""
    lib = libc()
    if lib is not None:
        prctl(lib, _DUMPABLE, 0)
