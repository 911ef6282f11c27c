"""No new processes from the operator files' process, no other program in it, no escape from dying with its parent:
a seccomp filter that makes ``fork``, ``vfork``, a ``clone`` without CLONE_THREAD, ``execve``, ``execveat``,
``prctl(PR_SET_PDEATHSIG, …)`` and every call that changes the process's user or group ids or capabilities (the
kernel clears the parent-death signal then: a file run as root cleared it by ``setfsgid``) fail with EPERM, and
``clone3`` fail with ENOSYS (its flags lie behind a pointer a filter cannot read; the C library then makes its threads
with ``clone``, whose flags it can). Threads are still made (PyTorch's and OpenMP's).

Why: a process the file started could leave the process group the parent kills (``setsid``) and outlive the command;
a program it ran (another interpreter, a shell, in a new process or in place of this one) would run files the record
of what the command may never overwrite (:mod:`.imports`) does not see, as the record is this interpreter's audit
hook; and a file that cleared its parent-death signal outlived a parent killed outright (SIGKILL, SIGQUIT: found by
adversarial passes, by prctl and, as root, by a credential change). An operator file has no need of any of it.

x86-64 and AArch64 only: elsewhere :func:`deny_processes` installs nothing and says so.
"""

from __future__ import annotations

from .seccomp import ALLOW, ARCH, ENOSYS, EPERM, JEQ_K, JSET_K, LD_ABS_W, NR, RET_K, X32, arg, install_for_machine, \
    program

_CLONE_THREAD = 0x00010000
_PDEATHSIG = 1   # prctl's option
# the credential calls (setuid, setgid, setreuid, setregid, setgroups, setresuid, setresgid, setfsuid, setfsgid,
# capset): the kernel clears the parent-death signal whenever a process's user or group ids change
_X86_CREDENTIALS = (105, 106, 113, 114, 116, 117, 119, 122, 123, 126)
_ARM_CREDENTIALS = (146, 144, 145, 143, 159, 147, 149, 151, 152, 91)
# machine: (denied outright: fork, vfork, execve, execveat, the credential calls; clone; clone3; prctl), x32 numbers too
_CALLS = {"x86_64": ((57, 58, 59, 322) + _X86_CREDENTIALS
                     + tuple(X32 | n for n in (57, 58, 59, 322, 520, 545) + _X86_CREDENTIALS),
                     (56, X32 | 56), (435, X32 | 435), (157, X32 | 157)),
          "aarch64": ((221, 281) + _ARM_CREDENTIALS, (220,), (435,), (167,))}


def _program(arch: int, denied: tuple[int, ...], clones: tuple[int, ...], clone3: tuple[int, ...],
             prctls: tuple[int, ...]) -> bytes:
    """Another architecture → EPERM; nr in DENIED → EPERM; nr in CLONE3 → ENOSYS; nr in CLONES → allowed where its
    flags (args[0]) hold CLONE_THREAD, else EPERM; nr in PRCTLS → EPERM for PR_SET_PDEATHSIG (args[0]), else
    allowed; anything else allowed."""
    allow = 3 + len(denied) + len(clones) + len(clone3) + len(prctls)
    eperm, enosys, flags, option = allow + 1, allow + 2, allow + 3, allow + 7
    code = [(LD_ABS_W, 0, 0, ARCH),
            (JEQ_K, 0, eperm - 2, arch),
            (LD_ABS_W, 0, 0, NR)]
    for numbers, target in ((denied, eperm), (clones, flags), (clone3, enosys), (prctls, option)):
        for nr in numbers:
            code.append((JEQ_K, target - len(code) - 1, 0, nr))
    assert len(code) == allow
    code += [(RET_K, 0, 0, ALLOW),
             (RET_K, 0, 0, EPERM),
             (RET_K, 0, 0, ENOSYS),
             (LD_ABS_W, 0, 0, arg(0)),                       # clone: A = low word of its flags
             (JSET_K, 0, 1, _CLONE_THREAD),                  #   a thread of this process: allowed; else EPERM
             (RET_K, 0, 0, ALLOW),
             (RET_K, 0, 0, EPERM),
             (LD_ABS_W, 0, 0, arg(0)),                       # prctl: A = its option (an int: the low word)
             (JEQ_K, 0, 1, _PDEATHSIG),                      #   PR_SET_PDEATHSIG: EPERM; any other option allowed
             (RET_K, 0, 0, EPERM),
             (RET_K, 0, 0, ALLOW)]
    return program(code)


def deny_processes() -> bool:
    """Install the filter in this process; False where this platform has none of it (nothing installed). Raises
    OSError where the kernel refuses it."""
    return install_for_machine(_program, _CALLS)
