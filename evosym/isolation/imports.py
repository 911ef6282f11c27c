"""The files an operator file's process ran or read besides evosym and Python's installation: its helper modules.

A command never writes over a file it reads, and an operator file reads its helpers (``import helper`` beside it,
a package, ``importlib``, ``runpy``): an operator named like one had ``codegen op.py --output . --force`` replace
the user's module. The confined process (:mod:`evosym.worker`) records, through an audit hook, the file of every
code object it executes or compiles (a module's body, whatever loaded it) and every file it opens, into a file of
its scratch folder as it goes, so that what it ran before it was killed or failed is there too; the parent reads
that file whenever it is about to write (:func:`protect_recorded`) and makes every later write of the process
refuse those files (:func:`evosym.targets.protect`). The record is written by untrusted code: a false entry can only
refuse a write. Not seen: what a process or interpreter the operator file starts runs (it has no hook).
"""

from __future__ import annotations

import os
import sys

from ..targets import protect

RECORD = "imports"      # the record's name in the scratch folder: absolute paths, each ended by a NUL byte
MAX_BYTES = 1 << 22     # bytes of the record read at most (4 MiB)
MAX_PATH = 4096
MAX_FILES = 10_000      # entries taken at most (each is looked at before every write)


def record(scratch: str) -> None:
    """The child's side, before any user code runs: the file of every later executed or compiled code object and every
    file opened (a module's source or bytecode, a zip on the path, a file read and exec'd), a relative name taken
    from the working folder at that moment, is appended to the record once, unless it lies (itself and through its
    links) within Python's installation, evosym or the system's pseudo-files."""
    import sysconfig
    paths = sysconfig.get_paths()
    roots = tuple(os.path.join(os.path.realpath(p), "") for p in
                  {paths["stdlib"], paths["platstdlib"], paths["purelib"], paths["platlib"],
                   os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "/proc", "/sys", "/dev",
                   os.path.realpath(scratch)})
    fd = os.open(os.path.join(scratch, RECORD), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    seen = set()

    def hook(event, args):
        if event == "exec" and args:
            file = getattr(args[0], "co_filename", None)
        elif event in ("compile", "open") and len(args) > 1:
            file = args[1] if event == "compile" else args[0]
        else:
            return
        if isinstance(file, bytes):
            file = os.fsdecode(file)
        if not isinstance(file, str) or not file or file.startswith("<") or len(file) > MAX_PATH:
            return   # (a descriptor, or a name such as <string>: no file)
        if not os.path.isabs(file):   # (relative to the working folder of the moment)
            try:
                file = os.path.join(os.getcwd(), file)
            except OSError:
                return
        if file in seen:
            return
        seen.add(file)
        if _installed(file, roots):
            return
        try:
            os.write(fd, os.fsencode(file) + b"\0")
        except (OSError, ValueError):
            pass
    sys.addaudithook(hook)


def _installed(file: str, roots: tuple) -> bool:
    """Whether ``file`` lies within one of ``roots`` (folders ending in a separator), itself and through its links: a
    link from the installation to the user's folder (an editable install) is the user's file."""
    return os.path.abspath(file).startswith(roots) and os.path.realpath(file).startswith(roots)


def recorded(scratch: str) -> list[str]:
    """The parent's side: the absolute paths in the record (the first MAX_FILES in its first MAX_BYTES bytes; anything
    else ignored)."""
    try:
        with open(os.path.join(scratch, RECORD), "rb") as fh:
            data = fh.read(MAX_BYTES)
    except OSError:
        return []
    files = []
    for raw in data.split(b"\0")[:-1]:   # (a last entry without its NUL may be cut: not taken)
        file = os.fsdecode(raw)
        if 0 < len(file) <= MAX_PATH and os.path.isabs(file):
            files.append(file)
    return files[:MAX_FILES]


def protect_recorded(scratch: str) -> None:
    """Never overwrite, for the rest of this process, a file the record names."""
    protect(recorded(scratch))
