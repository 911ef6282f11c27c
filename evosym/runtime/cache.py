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
import ctypes
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import stat
import struct
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from .errors import EvosymError

FORMAT = 1                       # the record's format; another one is rebuilt
MAX_RECORD = 64 * 1024           # a record is a few hundred bytes; anything larger is not one
MAX_LIBRARY = 1 << 31            # bytes of a library loaded (a CPU one is ~110 KB; a record saying more is none)
STALE_AGE = 24 * 3600.0          # a workspace this old is abandoned whatever its pid says (pid reuse)
_WORKSPACE = re.compile(r"build-(?P<host>[A-Za-z0-9.]*)-(?P<pid>\d+)-")
_WARNED: set = set()
_UMASK_LOCK = threading.Lock()


class KernelCacheWarning(UserWarning):
    """The configured kernel cache cannot be used (kernels are cached in a private folder instead), an invalid
    entry was rebuilt, or a build waits for another process's."""


class Unloadable(EvosymError):
    """A cached library that is not loaded: its bytes changed after they were checked, its ELF segments lie past its
    end, or the dynamic loader refuses it."""


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


def _open_to_all(folder: Path) -> str | None:
    """Why a folder every user may write to cannot hold the cache (what is in it is loaded into this process), or
    None. (A cache shared by a group is fine: its folder is the group's.)"""
    try:
        mode = os.stat(folder).st_mode
    except OSError as exc:
        return exc.strerror
    return f"every user may write to it (mode {stat.filemode(mode)})" if mode & 0o002 else None


def own_folder(path: Path) -> None:
    """A folder of the cache at ``path``, made if missing; a symbolic link or file there is removed first, never
    followed (a library published through a linked folder lands outside the cache: an adversarial pass)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise EvosymError(f"cannot use {path} in the kernel cache: {exc.strerror}") from None
    try:
        if st is not None and not stat.S_ISDIR(st.st_mode):
            os.unlink(path)
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise EvosymError(f"cannot create {path} in the kernel cache: {exc.strerror}") from None


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
    why = _unusable(folder) or _open_to_all(folder)
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


def _open_regular(path: Path, follow: bool = True):
    """``path`` opened for reading if it is a regular file; OSError otherwise. Opened without blocking, so a named
    pipe put at the path (a shared cache is writable by whoever shares it) is refused, never waited on; with
    ``follow=False`` a symbolic link is refused too."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | (0 if follow else getattr(os, "O_NOFOLLOW", 0)))
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
        record = _record(entry)
    except FileNotFoundError:
        return "it has no record (size and hash)"
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


def _record(entry: Entry):
    """The entry's record as read (None: unreadable); FileNotFoundError where it has none."""
    try:
        with _open_regular(entry.record) as f:
            data = f.read(MAX_RECORD + 1)
        return json.loads(data) if len(data) <= MAX_RECORD else None
    except FileNotFoundError:
        raise
    except (OSError, ValueError):
        return None


_HELD: dict = {}   # SHA-256 → (memfd, CDLL): a library loaded from memory keeps its descriptor, so its name stays its own
_HELD_LOCK = threading.Lock()


def load(path: Path):
    """``ctypes.CDLL`` of the cached library at ``path``, loaded from the bytes that were hashed: read once (a link is
    not followed, a pipe not waited on), loaded only when they are the ones the entry's record describes and every
    ELF segment lies inside them, from an anonymous in-memory copy where the system has one (``memfd_create``; else
    from the path, just checked). The entry was checked by :func:`problem` and then loaded by name, so a library
    swapped in between was loaded, and a truncated one under a rewritten record killed the interpreter with SIGBUS
    (an adversarial pass). :class:`Unloadable` otherwise."""
    entry = Entry(path.parent, path.stem)
    try:
        record = _record(entry)
    except FileNotFoundError:
        record = None
    size = record.get("size") if isinstance(record, dict) else None
    if type(size) is not int or not 0 <= size <= MAX_LIBRARY or not isinstance(record.get("sha256"), str):
        raise Unloadable(f"the cached library {path} lost its record after it was checked (or the record changed to "
                         "one that is none)")
    try:
        with _open_regular(path, follow=False) as f:
            data = f.read(size + 1)
    except OSError as exc:
        what = "is a symbolic link (never followed)" if exc.errno == errno.ELOOP else \
            f"cannot be read: {exc.strerror or exc}"
        raise Unloadable(f"the cached library {path} {what}") from None
    digest = hashlib.sha256(data).hexdigest()
    if (len(data), digest) != (record.get("size"), record.get("sha256")):
        raise Unloadable(f"the cached library {path} changed after it was checked (its bytes are not its record's)")
    why = elf_problem(data)
    if why:
        raise Unloadable(f"the cached library {path} is not loaded: {why}")
    with _HELD_LOCK:
        if digest in _HELD:
            return _HELD[digest][1]
        fd = -1
        try:
            if hasattr(os, "memfd_create"):
                fd = os.memfd_create(f"evosym-{digest[:16]}", getattr(os, "MFD_CLOEXEC", 0))
                with open(fd, "wb", closefd=False) as out:
                    out.write(data)
                try:
                    loaded = ctypes.CDLL(f"/proc/self/fd/{fd}")
                except OSError as exc:
                    os.close(fd)
                    fd = -1
                    if "Operation not permitted" not in str(exc):   # (else memory may not execute: the path, as checked)
                        raise
                    loaded = ctypes.CDLL(str(path))
            else:
                loaded = ctypes.CDLL(str(path))
        except OSError as exc:
            if fd >= 0:
                os.close(fd)
            raise Unloadable(f"the cached library {path} does not load: {exc}") from None
        _HELD[digest] = (fd, loaded)
        return loaded


def elf_problem(data: bytes) -> str | None:
    """Why the ELF file ``data`` cannot be mapped safely (a header, a program header or a loaded segment past its end:
    its pages would fault, SIGBUS), or None."""
    size = len(data)
    if size < 52 or data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        return "it is no ELF shared library"
    wide, order = data[4] == 2, "<" if data[5] == 1 else ">"
    if wide and size < 64:
        return "its ELF header is cut short"
    if wide:   # (e_phoff, e_phentsize, e_phnum; a program header's p_type, p_offset, p_filesz)
        phoff, (phentsize, phnum) = struct.unpack_from(order + "Q", data, 0x20)[0], struct.unpack_from(order + "HH", data, 0x36)
        fields, least = (("I", 0), ("Q", 8), ("Q", 32)), 56
    else:
        phoff, (phentsize, phnum) = struct.unpack_from(order + "I", data, 0x1C)[0], struct.unpack_from(order + "HH", data, 0x2A)
        fields, least = (("I", 0), ("I", 4), ("I", 16)), 32
    if phentsize < least or phoff + phnum * phentsize > size:
        return "its program headers lie past its end"
    for k in range(phnum):
        kind, offset, filesz = (struct.unpack_from(order + fmt, data, phoff + k * phentsize + at)[0] for fmt, at in fields)
        if kind == 1 and offset + filesz > size:   # PT_LOAD
            return f"a loaded segment ends at byte {offset + filesz}, past its end ({size} bytes)"
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
        if not stat.S_ISDIR(os.lstat(root / "tmp").st_mode):   # (a link: never scanned through, an adversarial pass)
            return removed
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
    base = root / "tmp"
    own_folder(base)   # (first: a linked tmp folder would have clean_stale remove build-… folders where it points)
    clean_stale(root)
    try:
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
