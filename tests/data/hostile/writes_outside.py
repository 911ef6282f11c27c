"""HOSTILE: a correct operator (textbook conv1d) whose file, at import, tries to change what the checker reads later —
a file standing for evosym's own sources, a folder standing for the proof cache — and to reach its parent or a service of the user's (a
signal, a TCP connection, a UNIX socket, a UDP datagram). Each attempt's outcome goes to standard error as "ATTEMPT name: denied|DONE". Paths from the
environment: EVOSYM_TEST_VICTIM (a file), EVOSYM_TEST_FOLDER (a folder), EVOSYM_TEST_SOCKET (a listening socket)."""

import os
import signal
import socket
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
