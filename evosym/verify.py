"""``evosym verify``: re-check proof certificates in a process that runs no operator file.

This entry point imports only the trusted base (docs/proofs.md lists it): the certificate
codec, the intermediate representation and the checker. No printer, code generator, catalogue
or user code is loaded, so what it prints depends on the certificate's data and on the checker
alone. Also runnable as ``python -m evosym.verify CERTIFICATE…``.

Exit status: 0 when every certificate reproduces and its proof holds; 1 when one does not
(malformed, a verdict differs from the recomputed one, the proof fails, or it takes longer than the
time limit); 2 when a file cannot be read at all (missing, unreadable, not a regular file, over 64 MiB, not UTF-8).
"""

from __future__ import annotations

import errno
import os
import stat
import sys

from .errors import EvosymError
from .timelimit import time_limit
from .proof.certificate import loads, verify
from .proof.codec import escaped

SHOWN = 5   # differences listed per certificate
MAX_BYTES = 64 << 20   # a certificate's size at most (the largest of the catalogue's is under 1 MB)


def _read(path: str) -> str:
    """A certificate's text: a regular file (a FIFO or a device would never end) of at most MAX_BYTES, UTF-8."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))   # (a FIFO opens without waiting for a writer)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        data = fh.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise OSError(errno.EFBIG, f"larger than {MAX_BYTES >> 20} MiB, which no certificate is")
    return data.decode("utf-8")


def _say(line: str, out) -> None:
    """One line, its control characters (newlines too) as escapes: a path or a certificate's key printed raw could
    erase the verdict before it or print a forged one."""
    print(escaped(line), file=out)


def verify_files(paths: list[str], *, quiet: bool = False, out=None, seconds: float | None = 600.0) -> int:
    """Verify each certificate (at most ``seconds`` each, None or 0 for no limit); print one verdict line each."""
    out = out or sys.stdout
    status = 0
    for path in paths:
        try:
            text = _read(path)
        except (OSError, UnicodeDecodeError) as exc:
            _say(f"evosym: error: cannot read certificate {path}: {getattr(exc, 'strerror', None) or exc}", sys.stderr)
            status = max(status, 2)
            continue
        try:
            with time_limit(seconds, f"verifying {path}"):
                result = verify(loads(text, None))   # (the verdict line names the file)
        except EvosymError as exc:   # malformed, of another version, or refused by the checker itself
            _say(f"REFUSED   {path}: {exc}", out)
            status = max(status, 1)
            continue
        except (Exception, RecursionError, MemoryError) as exc:   # data no operator could produce: refused, never a crash
            _say(f"REFUSED   {path}: the checker cannot process it ({type(exc).__name__}: {str(exc)[:200]})", out)
            status = max(status, 1)
            continue
        cp = result.checked
        name = cp.operator.name
        if result.differences:
            status = max(status, 1)
            _say(f"REFUSED   {path} ({name}): {len(result.differences)} recorded verdict(s) differ from the "
                  f"recomputed ones:", out)
            for d in result.differences[:SHOWN]:
                _say(f"  {d}", out)
            if len(result.differences) > SHOWN:
                _say(f"  … and {len(result.differences) - SHOWN} more", out)
            if not cp.ok:
                _say(f"  the fresh check fails: {_first_failure(cp)}", out)
            continue
        general = sum(s.check.general for s in cp.steps)
        if not cp.ok:
            status = max(status, 1)
            _say(f"FAILED    {path} ({name}): the certificate reproduces, and records a proof that does not hold:", out)
            for f in cp.failures()[:SHOWN]:
                _say("  " + f.splitlines()[0], out)
            continue
        if not quiet:
            limit = "" if cp.limit is None else f" + limit {len(cp.limit.steps)} steps"
            ref = [c for c in cp.checks if c.name.startswith("reference") or "reference" in c.name]
            refnote = "; " + ref[0].name if ref else "; no reference"
            _say(f"VERIFIED  {path} ({name}): {len(cp.steps)} steps ({general} general){limit}, "
                  f"{len(cp.shapes)} shapes, every verdict reproduced{refnote}", out)
    return status


def _first_failure(cp) -> str:
    """The first reason a checked proof fails: a failed premise first (it fails the rest too)."""
    premises = [c for c in cp.checks if c.name == "premises" and not c.ok]
    return f"premises: {premises[0].message}" if premises else cp.failures()[0].splitlines()[0]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    quiet = any(a in ("-q", "--quiet") for a in args)
    paths = [a for a in args if a not in ("-q", "--quiet")]
    if not paths or any(a.startswith("-") for a in paths):
        _say("usage: python -m evosym.verify [--quiet] CERTIFICATE…", sys.stderr)
        return 2
    return verify_files(paths, quiet=quiet)


if __name__ == "__main__":
    sys.exit(main())
