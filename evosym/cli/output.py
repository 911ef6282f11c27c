"""Writing output files: atomically, and never over an existing file without ``--force``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import EvosymError, OutputExists


def check_target(path: str | os.PathLike, *, force: bool = False) -> Path:
    """Refuse a target that cannot be written, before any work is done for it."""
    path = Path(path)
    if path.is_dir():
        raise EvosymError(f"{path} is a directory; give a file name")
    if os.path.lexists(path) and not force:   # a dangling symbolic link is something the user had too
        raise OutputExists(f"{path} exists; use --force to overwrite it")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise EvosymError(f"cannot write {path}: folder {folder} does not exist")
    return path


def _mode_for(path: Path) -> int:
    """The existing file's permissions, else what a new file would get under the umask."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _link_new(tmp: str, path: Path) -> None:
    """Put ``tmp`` at ``path`` only if nothing is there, atomically (a file created since
    :func:`check_target` looked is not overwritten); a plain rename where the file system has no hard links."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise OutputExists(f"{path} exists; use --force to overwrite it") from None
    except OSError:   # no hard links here (some network and FAT file systems)
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def write_atomic(path: str | os.PathLike, text: str, *, force: bool = False) -> Path:
    """Write ``text`` to ``path`` via a temporary file in the same folder and an atomic rename."""
    path = check_target(path, force=force)
    folder = path.parent if str(path.parent) else Path(".")
    mode = _mode_for(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise EvosymError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        if force:
            os.replace(tmp, path)
        else:
            _link_new(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise EvosymError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
    return path
