"""The candidate's process of ``evosym check --candidate``: every process it starts ends with it, and none of them
may write outside its scratch folder, reach a service, or touch a process outside.

The candidate is the user's code: it may start processes (build an extension, a data loader's workers), so it is not
held to the operator files' "no process" filter. But a process that leaves the process group (``setsid``) and clears
its parent-death signal escapes a kill of the group, outlives the check and could write over its report; and any
process of the user's could write a module the checking process imports later (a lazy import, at exit too), read its
memory or stop it. So :func:`contain` (called before anything else is imported):

- forks into a new PID namespace: the candidate's process is its first process, and when that ends the kernel kills
  every process in it. The process that called :func:`contain` stays outside and only waits: for the first process
  to end (it then ends the same way) or for its lifeline from the checking process to close (the checking process
  ended the check, or died): it then kills the first process (a SIGKILL from outside the namespace, which no process
  inside can refuse) and so the whole namespace;
- in the first process, before anything of the user's runs: Landlock (:mod:`.landlock`: writes only beneath the
  scratch folder and /dev/shm, whose POSIX semaphores multiprocessing needs and which the checking process never
  reads; no signal to and no ptrace of a process outside, which the namespace hides too) and the socket
  filter (:mod:`.sockets`: no service acts for it). It may read anything and start processes, which inherit both.

Unprivileged, the namespace needs a user namespace (the user's own ids mapped onto themselves). Where the kernel
gives none, or no Landlock, that part is missing and :func:`contain` says which (the parent warns).
"""

from __future__ import annotations

import ctypes
import os
import select
import signal

from .landlock import confine
from .libc import _PDEATHSIG, libc, prctl
from .sockets import deny_sockets

CLONE_NEWUSER, CLONE_NEWPID = 0x10000000, 0x20000000
SHARED = ("/dev/shm",)   # also writable: POSIX shared memory and semaphores (multiprocessing, DataLoader workers)


def _unshare(lib, flags: int) -> bool:
    return lib.unshare(ctypes.c_int(flags)) == 0


def _own_ids() -> None:
    """In a new user namespace: this user's uid and gid mapped onto themselves (files keep their owner)."""
    uid, gid = os.getuid(), os.getgid()
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as fh:
            fh.write(text)


def _namespace(lib) -> bool:
    if _unshare(lib, CLONE_NEWPID):
        return True
    try:
        if not _unshare(lib, CLONE_NEWUSER | CLONE_NEWPID):
            return False
        _own_ids()
    except OSError:
        return False
    return True


def contain(scratch: str, lifeline: int) -> str:
    """Fork into a new PID namespace and confine the first process (writes beneath ``scratch`` only); returns there,
    with what is missing ("" where nothing: "namespace", "confinement" or both, comma-separated). The calling process
    waits for the first process or for ``lifeline`` (a pipe's read end) to close, and ends as the first process
    ended."""
    lib = libc()
    missing = []
    if lib is None or not _namespace(lib):
        missing.append("namespace")
    pid = os.fork() if lib is not None else 0
    if pid == 0:
        os.close(lifeline)
        if lib is not None:
            prctl(lib, _PDEATHSIG, signal.SIGKILL)   # (its parent is outside the namespace: getppid() reads 0 here)
        confined = confine(scratch, SHARED)          # (raises where the kernel has it but refuses: nothing runs)
        confined = deny_sockets() and confined
        if not confined:
            missing.append("confinement")
        return ", ".join(missing)
    _wait(pid, lifeline)


def _wait(pid: int, lifeline: int):
    """Wait for ``pid`` to end or for ``lifeline`` to close (then kill it); end as it ended."""
    try:
        watch = [lifeline, os.pidfd_open(pid)]
    except OSError:
        watch = [lifeline]
    status = None
    while status is None:
        ready, _, _ = select.select(watch, [], [], None if len(watch) == 2 else 0.2)
        if lifeline in ready:   # the check is over (or the checking process died): the namespace ends now
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os._exit(0)
        else:
            done, code = os.waitpid(pid, os.WNOHANG)
            status = code if done else None
    if os.WIFSIGNALED(status):   # (SIGKILL and SIGSTOP keep their default action: nothing to reset)
        sig = os.WTERMSIG(status)
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)
