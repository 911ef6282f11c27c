"""The operator files' process confined with Linux Landlock before any user code runs: it may read, but may not
create, write, truncate, rename, link or remove any file or folder except beneath one private scratch folder (its
TMPDIR, removed by the parent afterwards), nor use a device's ioctls, open TCP connections, or signal or reach an
abstract socket of a process outside the confinement.

Why: a separate process keeps an operator file away from the checker's memory, but a process running as the user can
still write what the user can — evosym's installed sources, which the checker imports later in the same run or the
next, and the proof cache, whose entries it could forge with a valid hash — and so reach the verdict of this or a
later run. Landlock rules cannot be lifted by the confined process or its children (``no_new_privs``, inherited
across fork and exec), and a confined process cannot ptrace one outside.

Where the kernel has no Landlock (not Linux, before 5.13, or disabled) nothing is confined: :func:`confine` says so
and the parent warns (docs/proofs.md, "Who runs what").
"""

from __future__ import annotations

import ctypes
import os
import struct

from .libc import libc as load_libc, no_new_privs

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446   # the syscall numbers, the same on every architecture
_VERSION = 1 << 0                                            # landlock_create_ruleset flag: ask for the ABI version
_PATH_BENEATH = 1                                            # rule type

# filesystem rights (ABI version that introduced them): every right that changes the filesystem
_WRITE = {1 << 1: 1,    # WRITE_FILE
          1 << 4: 1,    # REMOVE_DIR
          1 << 5: 1,    # REMOVE_FILE
          1 << 6: 1,    # MAKE_CHAR
          1 << 7: 1,    # MAKE_DIR
          1 << 8: 1,    # MAKE_REG
          1 << 9: 1,    # MAKE_SOCK
          1 << 10: 1,   # MAKE_FIFO
          1 << 11: 1,   # MAKE_BLOCK
          1 << 12: 1,   # MAKE_SYM
          1 << 13: 2,   # REFER (link or rename into another folder)
          1 << 14: 3,   # TRUNCATE
          1 << 15: 5}   # IOCTL_DEV (e.g. TIOCSTI on a terminal)
_FILE_RIGHTS = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 14) | (1 << 15)   # those a rule on a file (not a folder) may hold
_NET = 3        # BIND_TCP | CONNECT_TCP (ABI 4)
_SCOPED = 3     # ABSTRACT_UNIX_SOCKET | SIGNAL (ABI 6)


def abi() -> int:
    """The kernel's Landlock ABI version; 0 where there is none."""
    libc = load_libc()
    if libc is None:
        return 0
    version = libc.syscall(ctypes.c_long(_CREATE_RULESET), None, ctypes.c_size_t(0), ctypes.c_uint32(_VERSION))
    return max(0, int(version))


def confine(scratch: str, also: tuple = ()) -> int:
    """Confine this process (and all it starts) as the module says, ``scratch`` (and the folders ``also`` that exist)
    writable; returns the ABI version used, or 0 where Landlock is not available (nothing confined). Raises OSError
    where the kernel has Landlock but refuses the confinement: the caller must then not run user code."""
    version = abi()
    if version == 0:
        return 0
    libc = load_libc()
    fs = sum(right for right, since in _WRITE.items() if since <= version)
    attr = struct.pack("=QQQ", fs, _NET if version >= 4 else 0, _SCOPED if version >= 6 else 0)
    size = 24 if version >= 6 else 16 if version >= 4 else 8
    buf = ctypes.create_string_buffer(attr[:size], size)
    ruleset = libc.syscall(ctypes.c_long(_CREATE_RULESET), buf, ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset: " + os.strerror(ctypes.get_errno()))
    try:
        _allow(libc, ruleset, scratch, fs)
        for folder in also:
            if os.path.isdir(folder):
                _allow(libc, ruleset, folder, fs)
        if os.path.exists(os.devnull):
            _allow(libc, ruleset, os.devnull, fs & _FILE_RIGHTS & ~(1 << 15))
        no_new_privs(libc)
        if libc.syscall(ctypes.c_long(_RESTRICT_SELF), ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self: " + os.strerror(ctypes.get_errno()))
    finally:
        os.close(ruleset)
    return version


def _allow(libc, ruleset: int, path: str, rights: int) -> None:
    """Grant ``rights`` beneath ``path`` (a folder) or on it (a file)."""
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        rule = ctypes.create_string_buffer(struct.pack("=Qi", rights, fd), 12)   # landlock_path_beneath_attr (packed)
        if libc.syscall(ctypes.c_long(_ADD_RULE), ctypes.c_int(ruleset), ctypes.c_int(_PATH_BENEATH), rule,
                        ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule({path}): " + os.strerror(ctypes.get_errno()))
    finally:
        os.close(fd)
