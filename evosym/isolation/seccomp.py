"""Installing a seccomp filter in this process, and the BPF words both filters are written in (:mod:`.sockets`,
:mod:`.processes`): each filter is a short program over ``struct seccomp_data`` (the call's number, its architecture,
its six arguments), installed once, inherited by every thread and process started after it, never removable."""

from __future__ import annotations

import ctypes
import platform
import struct
import sys

from .libc import libc, no_new_privs, prctl

_SET_SECCOMP, _MODE_FILTER = 22, 2                 # prctl option, its mode
LD_ABS_W, JEQ_K, JSET_K, AND_K, RET_K = 0x20, 0x15, 0x45, 0x54, 0x06   # BPF: load a word of seccomp_data, jump if
ALLOW, EPERM, ENOSYS = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38    # equal / if bits set, A &= k, return
NR, ARCH = 0, 4                                    # offsets in seccomp_data: the call's number, its architecture
X32 = 0x40000000                                   # x86-64's x32 calls: its numbers with this bit


def arg(i: int) -> int:
    """The offset of the low word of argument ``i`` in seccomp_data (little-endian machines only: those below)."""
    return 16 + 8 * i


# machine: AUDIT_ARCH_… of the calls a filter allows (any other architecture's entry, e.g. i386's int 0x80, is EPERM)
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}


def machine() -> str | None:
    """This machine's key in :data:`AUDIT_ARCH`, or None where no filter is written for it (or off Linux)."""
    name = platform.machine().lower()
    return name if sys.platform.startswith("linux") and name in AUDIT_ARCH else None


def program(code: list[tuple[int, int, int, int]]) -> bytes:
    """struct sock_filter entries (code, jump if true, jump if false, k)."""
    return b"".join(struct.pack("=HBBI", *c) for c in code)


def install(words: bytes) -> bool:
    """Install the filter ``words`` in this process (no_new_privs set first, as seccomp requires); False where the C
    library cannot be loaded (nothing installed). Raises OSError where the kernel refuses it."""
    lib = libc()
    if lib is None:
        return False
    filters = ctypes.create_string_buffer(words, len(words))

    class _Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    fprog = _Fprog(len(words) // 8, ctypes.addressof(filters))
    no_new_privs(lib)
    prctl(lib, _SET_SECCOMP, _MODE_FILTER, ctypes.byref(fprog))
    return True


def install_for_machine(make, calls: dict) -> bool:
    """Install ``make(AUDIT_ARCH, *calls[machine])``, the filter written for this machine's call numbers; False where
    none is written for it (nothing installed). Raises OSError where the kernel refuses it."""
    name = machine()
    return name is not None and install(make(AUDIT_ARCH[name], *calls[name]))
