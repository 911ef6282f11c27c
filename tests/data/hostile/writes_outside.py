"""HOSTILE: a correct operator (textbook conv1d) whose file, at import, tries to change what the checker reads later —
a file standing for evosym's own sources, a folder standing for the proof cache — to reach its parent or a service of the user's (a
signal, a TCP connection, a UNIX socket, a UDP datagram), to start a process (each way of making one), to run another
program in its place (execve: last, as it would end the file), and to outlive its parent (clearing the parent-death
signal). Each attempt's outcome goes to standard error as "ATTEMPT name: denied|DONE". Paths from the
environment: EVOSYM_TEST_VICTIM (a file), EVOSYM_TEST_FOLDER (a folder), EVOSYM_TEST_SOCKET (a listening socket)."""

import ctypes
import mmap
import os
import platform
import signal
import socket
import subprocess
import sys

from evosym.selftest.operators.textbook_conv1d import OPERATOR, derive  # noqa: F401

victim, folder = os.environ["EVOSYM_TEST_VICTIM"], os.environ["EVOSYM_TEST_FOLDER"]
listener = os.environ.get("EVOSYM_TEST_SOCKET")   # a UNIX socket a service of the user's listens on


def _append():
    with open(victim, "a") as f:
        f.write("PATCHED\n")


def _truncate():
    os.truncate(victim, 0)


def _connect():
    with socket.create_connection(("127.0.0.1", 9), timeout=2):
        pass


def _unix():
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(listener)
        s.sendall(b"FROM THE OPERATOR FILE")


def _udp():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"x", ("127.0.0.1", 9))


def _datagram_pair():   # a datagram end of a socketpair can send to any path-bound datagram socket
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with a, b:
        a.sendto(b"FROM THE OPERATOR FILE", os.environ["EVOSYM_TEST_DATAGRAM"])


def _io_uring():   # its operations (IORING_OP_SOCKET) never pass seccomp: the ring itself must be refused
    libc = ctypes.CDLL(None, use_errno=True)
    params = ctypes.create_string_buffer(120)
    fd = libc.syscall(425, 8, params)   # io_uring_setup (every architecture)
    if fd < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    os.close(fd)


def _int80():   # the i386 socket() through int 0x80, past a filter that reads x86-64 numbers
    if platform.machine() != "x86_64":
        raise PermissionError("not x86-64")
    code = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    code.write(bytes.fromhex("53b86701000089fb89f131d2cd805bc3"))   # push ebx; eax=359; ebx=edi; ecx=esi; int 0x80
    call = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(code)))
    fd = call(socket.AF_UNIX, socket.SOCK_STREAM)
    if fd < 0:
        raise PermissionError(-fd, os.strerror(-fd))
    os.close(fd)


def _started(pid):   # a child made by a raw call returns here too: it ends at once
    if pid == 0:
        os._exit(0)
    if pid < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    os.waitpid(pid, 0)


def _raw(nr, *args):
    libc = ctypes.CDLL(None, use_errno=True)
    return lambda: _started(libc.syscall(nr, *args))


def _clone3():   # clone3(struct clone_args{flags=0, …, exit_signal=SIGCHLD}, size): a fork by its flags
    args = (ctypes.c_uint64 * 11)(0, 0, 0, 0, signal.SIGCHLD, 0, 0, 0, 0, 0, 0)
    try:
        _raw(435, args, ctypes.sizeof(args))()
    except OSError as exc:
        if exc.errno == 38:   # ENOSYS: the filter's answer (the C library then uses clone, whose flags are read)
            raise PermissionError("clone3 refused") from None
        raise


def _int80_fork():   # the i386 fork() through int 0x80
    if platform.machine() != "x86_64":
        raise PermissionError("not x86-64")
    code = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    code.write(bytes.fromhex("b802000000cd80c3"))   # eax=2 (fork); int 0x80; ret
    call = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(code)))
    pid = call()
    if pid < 0:
        raise PermissionError(-pid, os.strerror(-pid))
    _started(pid)


def _execveat():   # execveat(AT_FDCWD, "/bin/true", argv, envp, 0)
    libc = ctypes.CDLL(None, use_errno=True)
    argv = (ctypes.c_char_p * 2)(b"true", None)
    nr = {"x86_64": 322, "aarch64": 281}.get(platform.machine())
    if nr is None or libc.syscall(nr, -100, b"/bin/true", argv, argv, 0) < 0:
        raise PermissionError(ctypes.get_errno(), "execveat refused")


def _clear_pdeathsig():
    if ctypes.CDLL(None, use_errno=True).prctl(1, 0, 0, 0, 0) != 0:   # PR_SET_PDEATHSIG, 0
        raise PermissionError(ctypes.get_errno(), "prctl refused")


def _pdeathsig_by_credentials():   # as root: a changed fsgid clears the parent-death signal (then set back)
    libc = ctypes.CDLL(None, use_errno=True)
    nr = {"x86_64": 123, "aarch64": 152}.get(platform.machine())
    if nr is not None:
        libc.syscall(nr, 65534)
        libc.syscall(nr, os.getgid())
    signum = ctypes.c_int(-1)
    libc.prctl(2, ctypes.byref(signum), 0, 0, 0)   # PR_GET_PDEATHSIG
    if signum.value != 0:
        raise PermissionError("the parent-death signal is kept")


FORK, CLONE = {"x86_64": (57, 56), "aarch64": (None, 220)}.get(platform.machine(), (None, None))
attempts = {
    "append": _append,
    "truncate": _truncate,
    "replace": lambda: open(victim + ".new", "w").close() or os.replace(victim + ".new", victim),
    "remove": lambda: os.remove(victim),
    "rename": lambda: os.rename(victim, os.path.join(folder, "moved")),
    "create": lambda: open(os.path.join(folder, "forged.json"), "w").close(),
    "mkdir": lambda: os.mkdir(os.path.join(folder, "sub")),
    "symlink": lambda: os.symlink(victim, os.path.join(folder, "link")),
    "hardlink": lambda: os.link(victim, os.path.join(folder, "hard")),
    "signal-parent": lambda: os.kill(os.getppid(), signal.SIGWINCH),
    "tcp-connect": _connect,
    "unix-connect": _unix,
    "udp-send": _udp,
    "datagram-pair": _datagram_pair,
    "io-uring": _io_uring,
    "int-0x80-socket": _int80,
    "fork": lambda: _started(os.fork()),
    "subprocess": lambda: subprocess.run(["true"]),
    "posix-spawn": lambda: os.waitpid(os.posix_spawn("/bin/true", ["true"], {}), 0),
    "setsid-daemon": lambda: subprocess.Popen(["sleep", "600"], start_new_session=True),
    "fork-call": _raw(FORK) if FORK else _raw(CLONE, signal.SIGCHLD, 0, 0, 0, 0),
    "clone-call": _raw(CLONE, signal.SIGCHLD, 0, 0, 0, 0),
    "clone3-call": _clone3,
    "int-0x80-fork": _int80_fork,
    "clear-pdeathsig": _clear_pdeathsig,
    "pdeathsig-by-credentials": _pdeathsig_by_credentials,
    "execveat-call": _execveat,
    "execve": lambda: os.execv("/bin/true", ["true"]),
}
for name, attempt in attempts.items():
    try:
        attempt()
        outcome = "DONE"
    except PermissionError:
        outcome = "denied"
    except OSError as exc:   # e.g. connection refused: the call itself was allowed
        outcome = f"DONE ({type(exc).__name__})"
    print(f"ATTEMPT {name}: {outcome}", file=sys.stderr)
