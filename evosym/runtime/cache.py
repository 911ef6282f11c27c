"""The kernel cache on disk: where it lives, what a valid entry is, how one is published.

An entry is ``<root>/<key[:2]>/<key>.so`` with a sidecar record ``<key>.json`` (the key, the
library's size and SHA-256, what built it) and a lock file ``<key>.lock`` (:mod:`.lock`). Why the
record: "the file exists" is not "the library is good". A truncated library makes ``dlopen`` map
pages past the end of the file (SIGBUS: the interpreter dies), a file of garbage fails to load in
every later process, and a stale library with the same symbols computes other numbers. So an entry
is loaded only when its bytes match its record, checked *before* anything loads it; anything
else is rebuilt. The record is the commit point: it is written last, atomically, and only for a
library that was shown to load.

Files are written in a private workspace inside the cache (same file system, so ``os.replace``
is atomic), named with the host and process id; workspaces of builds that died (SIGKILL, power
loss) are removed by the next build. Published files get the permissions the umask gives a new
file, so a cache shared by a group works. A configured cache that cannot be used (not a folder,
not writable) falls back to a private folder with one warning instead of a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import stat
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from .errors import EvosymError

FORMAT = 1                       # the record's format; another one is rebuilt
MAX_RECORD = 64 * 1024           # a record is a few hundred bytes; anything larger is not one
STALE_AGE = 24 * 3600.0          # a workspace this old is abandoned whatever its pid says (pid reuse)
_WORKSPACE = re.compile(r"build-(?P<host>[A-Za-z0-9.]*)-(?P<pid>\d+)-")
_WARNED: set = set()
_UMASK_LOCK = threading.Lock()


class KernelCacheWarning(UserWarning):
    """The configured kernel cache cannot be used; kernels are cached in a private folder instead."""


def configured() -> Path:
    """The kernel cache the user asked for: ``$EVOSYM_CACHE/kernels``, else ``~/.cache/evosym/kernels``."""
    root = os.environ.get("EVOSYM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "evosym")
    return Path(root) / "kernels"


def _unusable(folder: Path) -> str | None:
    """Why ``folder`` cannot hold the cache (created if missing; a file is written and removed), or None."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".probe-")
        os.close(fd)
        os.unlink(probe)
    except FileExistsError:
        return "it is not a folder"
    except NotADirectoryError:
        return "a part of it is not a folder"
    except PermissionError:
        return "it is not writable"
    except (OSError, ValueError) as exc:
        return getattr(exc, "strerror", None) or str(exc)
    return None


def private() -> Path:
    """``<tmp>/evosym-<uid>/kernels``: a folder only this user can use (created 0700; refused when it
    is a link, another user's, or open to others, since anything in it gets loaded into processes)."""
    top = Path(tempfile.gettempdir()) / f"evosym-{os.getuid()}"
    try:
        os.mkdir(top, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise EvosymError(f"no usable kernel cache: cannot create the private folder {top} ({exc.strerror}); "
                          "set EVOSYM_CACHE to a writable folder") from None
    st = os.lstat(top)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise EvosymError(f"no usable kernel cache: the private folder {top} is not a folder of yours closed to "
                          f"others (mode {stat.filemode(st.st_mode)}); remove it or set EVOSYM_CACHE")
    folder = top / "kernels"
    why = _unusable(folder)
    if why:
        raise EvosymError(f"no usable kernel cache: the private folder {folder} cannot be used ({why}); "
                          "set EVOSYM_CACHE to a writable folder")
    return folder


def root() -> Path:
    """The folder that holds the kernel cache: the configured one, or (with one warning per process)
    the private folder when the configured one is unusable."""
    folder = configured()
    why = _unusable(folder)
    if why is None:
        return folder
    fallback = private()
    if str(folder) not in _WARNED:
        _WARNED.add(str(folder))
        warnings.warn(f"evosym: the kernel cache {folder} cannot be used ({why}; check EVOSYM_CACHE): "
                      f"caching kernels in {fallback} instead", KernelCacheWarning, stacklevel=3)
    return fallback


def umask() -> int:
    """This process's umask (from /proc without changing it; elsewhere set and restored under a lock)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


@dataclass(frozen=True)
class Entry:
    """One cache key's files."""

    folder: Path
    key: str

    @classmethod
    def at(cls, root: Path, key: str) -> "Entry":
        return cls(root / key[:2], key)

    @property
    def library(self) -> Path:
        return self.folder / f"{self.key}.so"

    @property
    def record(self) -> Path:
        return self.folder / f"{self.key}.json"

    @property
    def lock(self) -> Path:
        return self.folder / f"{self.key}.lock"


def _open_regular(path: Path):
    """``path`` opened for reading if it is a regular file; OSError otherwise. Opened without blocking, so a named
    pipe put at the path (a shared cache is writable by whoever shares it) is refused, never waited on."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    f = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        f.close()
        raise OSError(errno.EINVAL, "not a regular file")
    return f


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with _open_regular(path) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def problem(entry: Entry) -> str | None:
    """Why ``entry`` must not be loaded ("missing" when there is nothing), or None when its library's
    bytes are the ones its record describes. Reads files only: never loads the library."""
    try:
        st = os.stat(entry.library)
    except FileNotFoundError:
        return "missing" if not entry.record.exists() else "the library is missing"
    except OSError as exc:
        return f"the library cannot be read ({exc.strerror})"
    try:
        with _open_regular(entry.record) as f:
            data = f.read(MAX_RECORD + 1)
        record = json.loads(data) if len(data) <= MAX_RECORD else None
    except FileNotFoundError:
        return "it has no record (size and hash)"
    except (OSError, ValueError):
        record = None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        return "its record is unreadable"
    if record.get("key") != entry.key:
        return "its record belongs to another key"
    if not stat.S_ISREG(st.st_mode) or record.get("size") != st.st_size:
        return f"its size is {st.st_size} bytes, not the {record.get('size')} recorded"
    try:
        digest = sha256(entry.library)
    except OSError as exc:
        return f"the library cannot be read ({exc.strerror})"
    if digest != record.get("sha256"):
        return "its bytes do not match the recorded SHA-256"
    return None


def discard(entry: Entry) -> None:
    """Remove an invalid entry's library and record (so no other reader, of any version, loads them)."""
    for path in (entry.record, entry.library):
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise EvosymError(f"cannot remove the invalid kernel-cache file {path}: {exc.strerror}") from None


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.]", "", socket.gethostname())[:40]


def _dead(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:   # PermissionError: another user's live process
        return False
    return False


def clean_stale(root: Path, max_age: float = STALE_AGE) -> list[Path]:
    """Remove the workspaces of builds that died: this host's whose process is gone, and any older than
    ``max_age`` seconds (another host's, or a reused pid). Returns what was removed."""
    removed, host, now = [], _host(), time.time()
    try:
        items = list(os.scandir(root / "tmp"))
    except OSError:
        return removed
    for item in items:
        m = _WORKSPACE.match(item.name)
        if not m:
            continue
        try:
            age = now - item.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if (m["host"] == host and _dead(int(m["pid"]))) or age > max_age:
            shutil.rmtree(item.path, ignore_errors=True)
            if not os.path.lexists(item.path):
                removed.append(Path(item.path))
    return removed


@contextlib.contextmanager
def workspace(root: Path):
    """A fresh private folder inside the cache for one build, removed afterwards (a killed build's is
    removed by :func:`clean_stale`)."""
    clean_stale(root)
    base = root / "tmp"
    try:
        base.mkdir(exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=f"build-{_host()}-{os.getpid()}-", dir=base))
    except OSError as exc:
        raise EvosymError(f"cannot create a build folder in the kernel cache {base}: {exc.strerror}") from None
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _durable(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(entry: Entry, built: Path, work: Path, **about) -> None:
    """Move the library ``built`` (in the workspace ``work``) into ``entry``, then its record (the
    commit point), each with an atomic rename and the umask's permissions."""
    mask = umask()
    size, digest = built.stat().st_size, sha256(built)
    record = work / "record.json"
    fd = os.open(record, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)   # 0o666 less the umask
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"format": FORMAT, "key": entry.key, "size": size, "sha256": digest,
                   "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **about}, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(built, 0o777 & ~mask)   # what the linker gives a new library
    _durable(built)
    try:
        os.replace(built, entry.library)
        os.replace(record, entry.record)
    except OSError as exc:
        raise EvosymError(f"cannot write to the kernel cache {entry.folder}: {exc.strerror}") from None
