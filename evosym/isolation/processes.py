"""No new processes from the operator files' process: a seccomp filter that makes ``fork``, ``vfork`` and a
``clone`` without CLONE_THREAD fail with EPERM (threads are still made: PyTorch's and OpenMP's), and ``clone3`` fail
with ENOSYS (its flags lie behind a pointer a filter cannot read; the C library then makes its threads with
``clone``, whose flags it can).

Why: a process the file started could leave the process group the parent kills (``setsid``) and outlive the command,
and the files it imported or ran (another interpreter, a shell) escape the record of what the command may never
overwrite (:mod:`.imports`), which sees the worker's own interpreter only. An operator file has no need to start
one: an ``execve`` in place stays the same process, confined, in the group, dying with the parent.

x86-64 and AArch64 only: elsewhere :func:`deny_processes` installs nothing and says so.
"""

from __future__ import annotations

from .seccomp import ALLOW, ARCH, AUDIT_ARCH, ENOSYS, EPERM, JEQ_K, JSET_K, LD_ABS_W, NR, RET_K, X32, arg, install, \
    machine, program

_CLONE_THREAD = 0x00010000
# machine: (fork-like numbers, denied outright; clone's number(s); clone3's number(s)); x86-64's x32 calls too
_CALLS = {"x86_64": ((57, 58, X32 | 57, X32 | 58), (56, X32 | 56), (435, X32 | 435)),
          "aarch64": ((), (220,), (435,))}


def _program(arch: int, denied: tuple[int, ...], clones: tuple[int, ...], clone3: tuple[int, ...]) -> bytes:
    """Another architecture → EPERM; nr in DENIED → EPERM; nr in CLONE3 → ENOSYS; nr in CLONES → allowed where its
    flags (args[0]) hold CLONE_THREAD, else EPERM; anything else allowed."""
    n, m, k3 = len(denied), len(clones), len(clone3)
    allow = 3 + n + m + k3
    eperm, enosys, flags = allow + 1, allow + 2, allow + 3
    code = [(LD_ABS_W, 0, 0, ARCH),
            (JEQ_K, 0, eperm - 2, arch),
            (LD_ABS_W, 0, 0, NR)]
    for nr in denied:
        code.append((JEQ_K, eperm - len(code) - 1, 0, nr))
    for nr in clones:
        code.append((JEQ_K, flags - len(code) - 1, 0, nr))
    for nr in clone3:
        code.append((JEQ_K, enosys - len(code) - 1, 0, nr))
    assert len(code) == allow
    code += [(RET_K, 0, 0, ALLOW),
             (RET_K, 0, 0, EPERM),
             (RET_K, 0, 0, ENOSYS),
             (LD_ABS_W, 0, 0, arg(0)),                       # clone: A = low word of its flags
             (JSET_K, 0, 1, _CLONE_THREAD),                  #   a thread of this process: allowed; else EPERM
             (RET_K, 0, 0, ALLOW),
             (RET_K, 0, 0, EPERM)]
    return program(code)


def deny_processes() -> bool:
    """Install the filter in this process; False where this platform has none of it (nothing installed). Raises
    OSError where the kernel refuses it."""
    name = machine()
    return name is not None and install(_program(AUDIT_ARCH[name], *_CALLS[name]))
