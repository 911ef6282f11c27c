"""A child whose every descendant ends with it: the candidate's process of ``evosym check --candidate``.

The candidate is the user's code and runs unconfined: it may start processes (build an extension, a data loader's
workers). One that leaves the process group (``setsid``) and is orphaned escapes a kill of the group and the
parent-death signal (which a fork does not inherit), and could outlive the check, then write over its report.
:func:`contain` (called before anything else is imported) makes the process a new PID namespace's first process:
when it ends, however it ends, the kernel kills every process in the namespace. The process that called it stays
outside, only waiting for it and ending the same way (its parent, the checking process, kills its group and it dies
with that process, and the namespace's first process dies with it). Unprivileged, the namespace needs a user
namespace too (the user's own ids mapped onto themselves); where the kernel allows neither, nothing is contained,
and :func:`contain` says so (False).
"""

from __future__ import annotations

import ctypes
import os
import signal

from .libc import _PDEATHSIG, libc, prctl

CLONE_NEWUSER, CLONE_NEWPID = 0x10000000, 0x20000000


def _unshare(lib, flags: int) -> bool:
    return lib.unshare(ctypes.c_int(flags)) == 0


def _own_ids() -> None:
    """In a new user namespace: this user's uid and gid mapped onto themselves (files keep their owner)."""
    uid, gid = os.getuid(), os.getgid()
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as fh:
            fh.write(text)


def contain() -> bool:
    """Fork into a new PID namespace; returns in the namespace's first process (True), or here, uncontained, where
    the kernel refuses (False). The calling process waits for it and ends as it ended (exit status or signal)."""
    lib = libc()
    if lib is None:
        return False
    if not _unshare(lib, CLONE_NEWPID):
        try:
            if not _unshare(lib, CLONE_NEWUSER | CLONE_NEWPID):
                return False
            _own_ids()
        except OSError:
            return False
    pid = os.fork()
    if pid == 0:
        prctl(lib, _PDEATHSIG, signal.SIGKILL)   # (its parent is outside the namespace: getppid() reads 0 here)
        return True
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)
