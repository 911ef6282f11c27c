"""No new sockets in the operator files' process: a seccomp filter that makes ``socket()`` fail with EPERM.

Why: Landlock (:mod:`.landlock`, ABI 7 here) does not cover ``connect()`` to a UNIX socket that has a path, nor UDP.
Any service listening as the user acts for whoever connects — a tmux or screen server runs commands, the user's
D-Bus starts units, docker.sock starts containers — so a confined operator file could still have a file written
(an adversarial pass had a tmux server write outside the confinement). No socket can be made at all; socketpair()
(an already connected pair inside the process) stays allowed. The filter is inherited by everything the process
starts and cannot be removed.

x86-64 (including its x32 calls) and AArch64 only: elsewhere :func:`deny_sockets` installs nothing and says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import struct
import sys

_SET_SECCOMP, _MODE_FILTER, _NO_NEW_PRIVS = 22, 2, 38   # prctl options
_LD_ABS_W, _JEQ_K, _RET_K = 0x20, 0x15, 0x06            # BPF: load a word of seccomp_data, jump if equal, return
_ALLOW, _EPERM = 0x7FFF0000, 0x00050000 | 1             # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EPERM
_ARCHES = {"x86_64": (0xC000003E, (41, 0x40000000 | 41)),   # AUDIT_ARCH_X86_64: socket, and its x32 number
           "aarch64": (0xC00000B7, (198,))}                # AUDIT_ARCH_AARCH64: socket


def _program(arch: int, numbers: tuple[int, ...]) -> bytes:
    """if arch == ARCH and nr in NUMBERS: return EPERM; else allow (struct sock_filter entries)."""
    n = len(numbers)
    code = [(_LD_ABS_W, 0, 0, 4),                    # A = seccomp_data.arch
            (_JEQ_K, 0, n + 1, arch),                # another architecture: allow
            (_LD_ABS_W, 0, 0, 0)]                    # A = seccomp_data.nr
    for k, nr in enumerate(numbers):                 # socket(): to the EPERM return, past the allow
        code.append((_JEQ_K, n - k, 0, nr))
    code += [(_RET_K, 0, 0, _ALLOW), (_RET_K, 0, 0, _EPERM)]
    return b"".join(struct.pack("=HBBI", *c) for c in code)


def deny_sockets() -> bool:
    """Install the filter in this process (no_new_privs set first, as seccomp requires); False where this platform
    has none of it (nothing installed). Raises OSError where the kernel refuses it."""
    machine = platform.machine().lower()
    if not sys.platform.startswith("linux") or machine not in _ARCHES:
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    program = _program(*_ARCHES[machine])
    filters = ctypes.create_string_buffer(program, len(program))

    class _Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    fprog = _Fprog(len(program) // 8, ctypes.addressof(filters))
    ulong = ctypes.c_ulong
    if libc.prctl(ctypes.c_int(_NO_NEW_PRIVS), ulong(1), ulong(0), ulong(0), ulong(0)) != 0 or \
            libc.prctl(ctypes.c_int(_SET_SECCOMP), ulong(_MODE_FILTER), ctypes.byref(fprog), ulong(0), ulong(0)) != 0:
        raise OSError(ctypes.get_errno(), "seccomp: " + os.strerror(ctypes.get_errno()))
    return True
