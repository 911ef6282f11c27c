"""No new sockets in the operator files' process: a seccomp filter that makes ``socket()`` fail with EPERM.

Why: Landlock (:mod:`.landlock`, ABI 7 here) does not cover ``connect()`` to a UNIX socket that has a path, nor UDP.
Any service listening as the user acts for whoever connects — a tmux or screen server runs commands, the user's
D-Bus starts units, docker.sock starts containers — so a confined operator file could still have a file written
(an adversarial pass had a tmux server write outside the confinement). So: no ``socket()``; ``socketpair()`` only for
a connected stream pair (a datagram end can send to any path-bound datagram socket, e.g. /dev/log); no io_uring (its
operations, IORING_OP_SOCKET among them, never pass seccomp); and no system call at all through another
architecture's entry (``int 0x80`` reaches the i386 socket() past a filter that reads x86-64 numbers) — each found
by an adversarial pass. The filter is inherited by everything the process starts and cannot be removed.

x86-64 and AArch64 only: elsewhere :func:`deny_sockets` installs nothing and says so.
"""

from __future__ import annotations

from .seccomp import ALLOW, AND_K, ARCH, EPERM, JEQ_K, LD_ABS_W, NR, RET_K, X32, arg, install_for_machine, program

_IO_URING = (425, 426, 427)                                   # io_uring_setup, _enter, _register (every architecture)
_SOCK_STREAM = 1
# machine: (socket numbers, socketpair numbers); x86-64's x32 calls too
_CALLS = {"x86_64": ((41, X32 | 41) + _IO_URING + tuple(X32 | n for n in _IO_URING), (53, X32 | 53)),
          "aarch64": ((198,) + _IO_URING, (199,))}


def _program(arch: int, denied: tuple[int, ...], pairs: tuple[int, ...]) -> bytes:
    """Another architecture → EPERM; nr in DENIED → EPERM; nr in PAIRS (socketpair) → allowed for SOCK_STREAM only;
    anything else allowed."""
    n, m = len(denied), len(pairs)
    eperm, pair = 4 + n + m, 5 + n + m                       # the indices of the EPERM return and the pair's type test
    code = [(LD_ABS_W, 0, 0, ARCH),                          # 0: A = seccomp_data.arch
            (JEQ_K, 0, eperm - 2, arch),                     # 1: another architecture: EPERM
            (LD_ABS_W, 0, 0, NR)]                            # 2: A = seccomp_data.nr
    for k, nr in enumerate(denied):                          # 3 …: denied outright
        code.append((JEQ_K, eperm - (3 + k) - 1, 0, nr))
    for k, nr in enumerate(pairs):                           # socketpair: to the type test
        code.append((JEQ_K, pair - (3 + n + k) - 1, 0, nr))
    code += [(RET_K, 0, 0, ALLOW),                           # allow
             (RET_K, 0, 0, EPERM),                           # eperm
             (LD_ABS_W, 0, 0, arg(1)),                       # pair: A = low word of args[1] (the type)
             (AND_K, 0, 0, 0xF),                             #   without SOCK_NONBLOCK / SOCK_CLOEXEC
             (JEQ_K, 0, 1, _SOCK_STREAM),                    #   a stream pair: allowed; else EPERM
             (RET_K, 0, 0, ALLOW),
             (RET_K, 0, 0, EPERM)]
    return program(code)


def deny_sockets() -> bool:
    """Install the filter in this process; False where this platform has none of it (nothing installed). Raises
    OSError where the kernel refuses it."""
    return install_for_machine(_program, _CALLS)
