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

import ctypes
import platform
import struct
import sys

from .libc import libc, no_new_privs, prctl

_SET_SECCOMP, _MODE_FILTER = 22, 2                     # prctl option, its mode
_LD_ABS_W, _JEQ_K, _AND_K, _RET_K = 0x20, 0x15, 0x54, 0x06   # BPF: load a word of seccomp_data, jump if equal, A &= k,
_ALLOW, _EPERM = 0x7FFF0000, 0x00050000 | 1                   # return; SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EPERM
_IO_URING = (425, 426, 427)                                   # io_uring_setup, _enter, _register (every architecture)
_SOCK_STREAM = 1
# architecture: (AUDIT_ARCH_…, socket numbers, socketpair numbers); x86-64's x32 calls are its numbers | 0x40000000
_ARCHES = {"x86_64": (0xC000003E, (41, 0x40000000 | 41) + _IO_URING + tuple(0x40000000 | n for n in _IO_URING),
                      (53, 0x40000000 | 53)),
           "aarch64": (0xC00000B7, (198,) + _IO_URING, (199,))}


def _program(arch: int, denied: tuple[int, ...], pairs: tuple[int, ...]) -> bytes:
    """struct sock_filter entries: another architecture → EPERM; nr in DENIED → EPERM; nr in PAIRS (socketpair) →
    allowed for SOCK_STREAM only; anything else allowed."""
    n, m = len(denied), len(pairs)
    eperm, pair = 4 + n + m, 5 + n + m                       # the indices of the EPERM return and the pair's type test
    code = [(_LD_ABS_W, 0, 0, 4),                            # 0: A = seccomp_data.arch
            (_JEQ_K, 0, eperm - 2, arch),                    # 1: another architecture: EPERM
            (_LD_ABS_W, 0, 0, 0)]                            # 2: A = seccomp_data.nr
    for k, nr in enumerate(denied):                          # 3 …: denied outright
        code.append((_JEQ_K, eperm - (3 + k) - 1, 0, nr))
    for k, nr in enumerate(pairs):                           # socketpair: to the type test
        code.append((_JEQ_K, pair - (3 + n + k) - 1, 0, nr))
    code += [(_RET_K, 0, 0, _ALLOW),                         # allow
             (_RET_K, 0, 0, _EPERM),                         # eperm
             (_LD_ABS_W, 0, 0, 24),                          # pair: A = low word of args[1] (the type)
             (_AND_K, 0, 0, 0xF),                            #   without SOCK_NONBLOCK / SOCK_CLOEXEC
             (_JEQ_K, 0, 1, _SOCK_STREAM),                   #   a stream pair: allowed; else EPERM
             (_RET_K, 0, 0, _ALLOW),
             (_RET_K, 0, 0, _EPERM)]
    return b"".join(struct.pack("=HBBI", *c) for c in code)


def deny_sockets() -> bool:
    """Install the filter in this process (no_new_privs set first, as seccomp requires); False where this platform
    has none of it (nothing installed). Raises OSError where the kernel refuses it."""
    machine = platform.machine().lower()
    if not sys.platform.startswith("linux") or machine not in _ARCHES:
        return False
    lib = libc()
    if lib is None:
        return False
    program = _program(*_ARCHES[machine])
    filters = ctypes.create_string_buffer(program, len(program))

    class _Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    fprog = _Fprog(len(program) // 8, ctypes.addressof(filters))
    no_new_privs(lib)
    prctl(lib, _SET_SECCOMP, _MODE_FILTER, ctypes.byref(fprog))
    return True
