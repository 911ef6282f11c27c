"""The parent side: run the worker in a child process under a hard wall-clock limit, read its replies.

The limit is enforced here, by killing the child's process group, so an operator file that
ignores or blocks signals or sleeps cannot outlast it (nor can a process it started: the confined child starts none,
:mod:`.processes`, and where it could, the group's kill reaches what it forked). Any way the child ends other than
handing back a reply for a source (it exits, is killed, prints garbage) becomes a
:class:`DerivationFailed` (a failed proof, exit 1); a file that cannot be loaded or derived is a
:class:`~evosym.errors.OperatorFileError` (exit 2). Never is it taken for a proof.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

from ..errors import EvosymError, OperatorFileError, TimeLimitExceeded
from ..proof.codec import escaped
from .imports import protect_recorded

READY = "{\"ready\": true}\n"   # the child's first line, once evosym is imported: the time limit counts from here
# The worker started with evosym's own folder first on its import path, and neither the current folder nor a relative
# entry anywhere on it (`python -m` would put the current folder first, and PYTHONPATH may hold "."): a json.py beside
# an operator file would otherwise run before the worker has confined itself.
ROOT = str(Path(__file__).resolve().parents[2])
_START = (f"import os, sys; here = os.path.realpath(os.getcwd()); sys.path[:] = [{ROOT!r}] + "
          "[p for p in sys.path[1:] if p and os.path.isabs(p) and os.path.realpath(p) != here]; import runpy; "
          "runpy.run_module('evosym.worker', run_name='__main__', alter_sys=True)")
UNCONFINED = "{\"ready\": true, \"confined\": false}\n"   # the same where the kernel has no Landlock (.landlock)

TAIL = 6        # lines of the child's standard error shown when it dies
FORWARD = 1 << 20   # bytes of the child's standard error passed on at most (its last ones)
STARTUP = 120   # seconds the child may take to import evosym, before any user code runs
MAX_LINE = 1 << 25   # bytes of one reply: 32 MiB (the largest catalogue derivation is under 1 MB; json.loads of a
                     # line of empty lists takes ~24× its size)


class LineTooLong(EvosymError):
    """The child sent more than MAX_LINE bytes without ending its line (a reply is one line)."""


class DerivationFailed(EvosymError):
    """The child ended without handing back a derivation: a failed proof, never a proof."""


def derivations(sources: list[str], time_limit: float | None, *, search: bool = False) -> Iterator[tuple[str, dict, object]]:
    """(source, derivation, the file's plain data as handed back: :mod:`.handback`) for each source, in order, derived in one child process; ``time_limit``
    seconds (None or 0: none) for each source, counted from the previous reply; ``search``: by the proof
    search instead of each file's ``derive``."""
    with tempfile.TemporaryDirectory(prefix="evosym-worker-", ignore_cleanup_errors=True) as scratch, tempfile.TemporaryFile() as err:
        proc = start(sources, scratch, err, "search" if search else "derive")
        done = False
        try:
            lines = _lines(proc, time_limit)
            check_ready(next(lines, None), proc, err)
            for source in sources:
                line = next(lines, None)
                if isinstance(line, TimeLimitExceeded):
                    raise TimeLimitExceeded(f"{source}: deriving it did not finish within {time_limit:g} s "
                                            "(the operator file's process was killed; raise the limit with --time-limit)")
                reply = _parse(line, source, proc, err)
                if "error" in reply:
                    message = escaped(str(reply.get("message", ""))[:4000]) or "no message"   # the file's words
                    forward_output(err)   # what it printed before (its own debugging output), as after a derivation
                    if reply["error"] == "usage":
                        raise OperatorFileError(message)
                    raise DerivationFailed(message)
                if not isinstance(reply.get("derivation"), dict):
                    raise DerivationFailed(f"{source}: the operator file's process handed back no derivation")
                protect_recorded(scratch)   # (before the caller writes anything)
                yield source, reply["derivation"], reply.get("data")
            done = True
        finally:
            kill_group(proc)
            protect_recorded(scratch)   # what it ran before it failed, too (a failure's report may be written next)
            if done:   # on a failure its last lines are in the message already
                forward_output(err)


def start(sources: list[str], scratch: str, err, mode: str, stdin=subprocess.DEVNULL) -> subprocess.Popen:
    """The worker on ``sources`` in ``mode`` (:data:`evosym.worker.MODES`), in a process group of its own, confining
    itself to writing beneath ``scratch`` (its TMPDIR); its standard error goes to the file ``err``, its protocol
    channel is ``proc.stdout``."""
    env = dict(os.environ, PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1", EVOSYM_WORKER_SCRATCH=scratch,
               TMPDIR=scratch, EVOSYM_WORKER_MODE=mode,   # the only folder the confined child may write
               EVOSYM_WORKER_PARENT=str(os.getpid()))     # it dies with this process, however this one ends
    return subprocess.Popen([sys.executable, "-c", _START, *sources], stdin=stdin, stdout=subprocess.PIPE, stderr=err,
                            env=env, start_new_session=True)


def check_ready(line, proc, err) -> None:
    """The child's first line says it has imported evosym, confined (or unconfined: warned once per process); each
    source's time limit starts after it."""
    global _warned
    if not isinstance(line, bytes) or line.strip() not in (READY.strip().encode(), UNCONFINED.strip().encode()):
        if line is None:
            proc.wait()
        raise DerivationFailed(f"the process for operator files {how_it_ended(proc.returncode) if line is None else 'did not start'}"
                               f"{last_output(err)}")
    if line.strip() == UNCONFINED.strip().encode() and not _warned:
        _warned = True
        sys.stderr.write("evosym: warning: the process that runs operator files cannot be confined on this system "
                         "(it needs Landlock, Linux 5.13 or later, for files and a seccomp filter, x86-64 or AArch64, "
                         "for sockets): a file can write whatever you can, evosym's installed files and its proof "
                         "cache included, or have a service of yours do it, and so reach later verdicts. Run only "
                         "operator files you trust (docs/proofs.md, \"Who runs what\").\n")


_warned = False


def _lines(proc, time_limit) -> Iterator:
    """Complete lines from the child's standard output, or a TimeLimitExceeded instance when one is overdue
    (the first line, the child's READY, may take up to STARTUP seconds whatever the limit), or a LineTooLong
    instance for a line of more than MAX_LINE bytes."""
    parts, size = [], 0   # the line so far, in chunks (joined once: a long line is read in linear time)
    fd = proc.stdout.fileno()
    limit = max(STARTUP, time_limit or 0)
    rest = b""
    while True:
        deadline = time.monotonic() + limit if limit else None
        limit = time_limit
        chunk = rest
        while b"\n" not in chunk:
            parts.append(chunk)
            size += len(chunk)
            if size > MAX_LINE:
                yield LineTooLong(f"a reply longer than {MAX_LINE >> 20} MiB")
                return
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([fd], [], [], wait)
            if not ready:
                yield TimeLimitExceeded("time limit")
                return
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return
        head, rest = chunk.split(b"\n", 1)
        line = b"".join(parts) + head
        parts, size = [], 0
        yield line


def _parse(line, source, proc, err) -> dict:
    if isinstance(line, LineTooLong):
        raise DerivationFailed(f"{source}: the operator file's process handed back {line}, not a derivation")
    if line is None:
        proc.wait()
        raise DerivationFailed(f"{source}: the operator file's process {how_it_ended(proc.returncode)} before handing "
                               f"back a derivation{last_output(err)}")
    try:
        reply = json.loads(line)
    except (ValueError, RecursionError):
        raise DerivationFailed(f"{source}: the operator file's process handed back something that is not a "
                               "derivation") from None
    if not isinstance(reply, dict) or reply.get("source") != source:
        raise DerivationFailed(f"{source}: the operator file's process handed back a reply for another source")
    return reply


def how_it_ended(code) -> str:
    """How a child with return code ``code`` ended, for an error message ("was killed by SIGKILL")."""
    if code is not None and code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def _last(err, limit: int) -> tuple[str, int]:
    """The last ``limit`` bytes of the child's standard error as text, and how many bytes came before them (read no
    further: the file is the operator file's to fill, after its time limit has stopped counting)."""
    size = err.seek(0, os.SEEK_END)
    err.seek(max(0, size - limit))
    return err.read(limit).decode("utf-8", "replace"), max(0, size - limit)


def last_output(err) -> str:
    """The child's last lines of standard error for an error message, on that message's one line (" | " between
    them): the command prints an error as one line, so a newline in it would show as an escape."""
    text, _ = _last(err, 1 << 16)
    lines = [l.strip() for l in visible(text).splitlines() if l.strip()][-TAIL:]
    return "" if not lines else "; its last output: " + " | ".join(lines)


def kill_group(proc) -> None:
    """End the child and everything it started (its own process group)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()
    try:   # a grandchild the file forked into the group is gone too
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.stdout.close()


def visible(text: str) -> str:
    """The operator file's output with its control and format characters (escape sequences, carriage returns,
    direction overrides; not newlines or tabs) written as escapes: on a terminal they could erase the verdict or print
    a forged one."""
    return escaped(text, "\n\t")


def forward_output(err, who: str = "the operator file") -> None:
    """What the child (``who`` runs in it) printed, passed on to our standard error under a line that says whose it
    is, each of its lines marked "  | ": a line it prints as if it were evosym's verdict reads as its own."""
    text, before = _last(err, FORWARD)
    text = visible(text)
    if text:
        left = f" (its first {before} bytes left out)" if before else ""
        sys.stderr.write(f"evosym: {who} printed{left}:\n" + "".join(f"  | {line}\n" for line in text.split("\n")
                                                                     [:-1 if text.endswith("\n") else None]))
