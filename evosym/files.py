"""Files the user keeps: written atomically, all or none, and only where :mod:`evosym.targets` allows.

:func:`write_atomic` writes through a temporary file in the target's folder and an atomic rename. A command's files
are one set (:func:`write_all`): all are put in place, or none (what a failed set replaced is put back). Used by the
CLI and the docs generator.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import stat
import tempfile
import threading
from pathlib import Path

from . import targets
from .errors import EvosymError, OutputExists


def _mode_for(path: Path) -> int:
    """The existing file's permissions, else what a new file would get under the umask."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
    except OSError as exc:
        raise EvosymError(f"cannot write {path}: {targets.reason(exc)}") from None


def _link_new(tmp: str, path: Path) -> None:
    """Put ``tmp`` at ``path`` only if nothing is there, atomically (a file created since :func:`evosym.targets.check_target` looked
    is not overwritten); where the file system has no hard links, the name is taken first (created, exclusively) and
    then replaced (a plain rename replaced a file another process made meanwhile; an adversarial pass)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise OutputExists(f"{path} exists; use --force to overwrite it") from None
    except OSError:   # no hard links here (some network and FAT file systems)
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            raise OutputExists(f"{path} exists; use --force to overwrite it") from None
        try:
            os.replace(tmp, path)
        except BaseException:
            os.unlink(path)   # (the empty file that held the name)
            raise
        return
    os.unlink(tmp)


def write_atomic(path: str | os.PathLike, text: str, *, force: bool = False, inputs=()) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` newlines) to ``path`` via a temporary file in the same folder and an
    atomic rename; returns ``path`` as given. See the module's docstring for what is refused."""
    return write_all([(path, text)], force=force, inputs=inputs)[0]


def _beside(real: Path, take):
    """A fresh hidden name beside ``real``, ``.NAME.<hex>.old``, and what ``take(name)`` returned: ``take`` makes the
    file there and fails with FileExistsError where the name is taken (by another process meanwhile: tried again)."""
    folder = targets.folder_of(real)
    for _ in range(100):
        name = os.path.join(folder, f".{real.name}.{secrets.token_hex(6)}.old")
        try:
            return name, take(name)
        except FileExistsError:
            continue
    raise OSError(f"no free name beside {real}")


def _kept(real: Path) -> str | None:
    """A second name for what is at ``real`` (a hard link beside it, else a copy), so that a set left half in place can
    put it back; None when nothing is there."""
    st = targets.lstat(real)
    if st is None:
        return None
    try:
        return _beside(real, lambda name: os.link(real, name, follow_symlinks=False))[0]   # (a dangling link: the link)
    except OSError:   # no hard links on this file system: a copy
        pass
    if stat.S_ISLNK(st.st_mode):
        return _beside(real, lambda name: os.symlink(os.readlink(real), name))[0]
    name, fd = _beside(real, lambda name: os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                                                  | os.O_CLOEXEC, 0o600))
    try:
        with os.fdopen(fd, "wb") as out, open(real, "rb") as src:
            shutil.copyfileobj(src, out)
        shutil.copymode(real, name)
    except BaseException:   # (a full disk: no half copy is left)
        try:
            os.unlink(name)
        except OSError:
            pass
        raise
    return name


def _roll_back(placed) -> None:
    """Undo the renames of a set that failed part way: each file put in place is removed, or the file it replaced put
    back; a file someone else put there since is left alone. Best effort: the failure itself is what is reported."""
    for _, real, new, kept in reversed(placed):
        try:
            st = targets.lstat(real)
        except EvosymError:
            st = None
        try:
            ours = st is not None and os.path.samestat(st, new)
            if ours and kept is not None:
                os.replace(kept, real)
                kept = None
            elif ours:
                os.unlink(real)
            if kept is not None:
                os.unlink(kept)
        except OSError:
            pass


class _Undone(BaseException):
    """The set is undone: a signal's handler raised in the main thread while it was written."""


class _Job:
    """A set of files written by a thread of its own while the main thread waits (:func:`write_all`)."""

    def __init__(self):
        self.signal = None      # what a signal's handler raised in the main thread while the set was written
        self.abandoned = False  # the main thread left write_all (a second signal, raised where nothing catches it)
        self.at_commit = threading.Event()   # the set is in place, not final yet
        self.decided = threading.Event()     # the main thread has run the handlers of the signals that came so far
        self.done = threading.Event()        # the set is whole or undone (not Thread.join: a signal's exception
        # inside it marked the thread ended while it ran, and write_all returned with the undo under way)
        self.result = None
        self.error = None

    def check(self) -> None:
        """At the point the set becomes final: wait until the main thread has run the handlers of the signals that
        came so far, and undo the set if one of them raised."""
        self.at_commit.set()
        while not self.decided.wait(0.05) and not self.abandoned:
            pass
        if self.signal is not None or self.abandoned:
            raise _Undone


def _ran_handlers() -> None:
    """Run the handlers of the signals that are pending, now (what one raises is raised here): ``pthread_sigmask``
    runs them before it returns, where a plain call may leave them for later (then a set was kept that a Ctrl-C came
    before)."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, ())


def write_all(files, *, force: bool = False, inputs=()) -> list[Path]:
    """Write every (path, text) of ``files`` as :func:`write_atomic` does, all or none: each text goes to a temporary
    file first, and only when all are written are they renamed into place, so that a full disk leaves no part of the
    set (a module without its kernel sources; an adversarial pass). A rename that fails undoes the ones before it: new
    files are removed, replaced ones (``force``) put back; so does a later rename of the set that replaced an earlier
    file (two outputs naming one file in a way no path comparison sees: a case-insensitive file system).

    Called from the main thread, the set is written by a thread of its own: Python runs signal handlers in the main
    thread only, so a handler that raises (Ctrl-C's KeyboardInterrupt, evosym's SIGTERM and SIGHUP handling) can
    neither stop the renames nor the undo part way (it left the user's files replaced with the command reported
    interrupted, and hidden backups; two adversarial passes). What it raises is raised here once the set is undone (it
    came before the set was final) or whole (after). The handlers themselves are never touched (replacing them for the
    duration lost signals and handlers under a signal storm; a third pass). A signal whose action ends the process at
    once (SIGTERM with no handler, SIGKILL) leaves the renames done so far, and hidden ``.NAME.*.tmp``/``.old`` files.
    Returns the paths as given."""
    files = list(files)
    if threading.current_thread() is not threading.main_thread():   # (no handler runs in this thread)
        return _write_all(files, force, inputs, lambda: None)
    job = _Job()

    def run():
        try:
            if job.abandoned:   # (a signal inside worker.start() left write_all before this thread began: nothing)
                return
            job.result = _write_all(files, force, inputs, job.check)
        except BaseException as exc:
            job.error = exc
        finally:
            job.done.set()
    worker = threading.Thread(target=run, name="evosym: writing files")
    try:
        worker.start()
        while not job.decided.is_set():   # (waits with a timeout: a signal taken by another thread wakes nothing)
            try:
                if job.at_commit.wait(0.02) or job.done.is_set():
                    _ran_handlers()
                    job.decided.set()
            except BaseException as exc:   # a signal's handler raised before the set was final: it is undone
                job.signal = job.signal or exc
        while not job.done.is_set():
            try:
                job.done.wait(0.02)
            except BaseException as exc:   # (after: the set is whole, or being undone)
                job.signal = job.signal or exc
    finally:   # (left by an exception nothing above caught, a second signal, or one inside worker.start(): the set
        job.abandoned = True   # is undone, not kept, and waited for while the thread runs; one that has not begun
        while worker.is_alive() and not job.done.is_set():   # does nothing: it reads abandoned first)
            try:
                job.done.wait(0.02)
            except BaseException as exc:
                job.signal = job.signal or exc
    if job.signal is not None:
        if job.error is None and job.done.is_set():   # (after the set was final: it is written; said with the signal)
            job.signal.add_note("evosym: written before it stopped: " + ", ".join(str(p) for p in job.result))
        raise job.signal
    if job.error is not None:
        raise job.error
    return job.result


def _write_all(files, force: bool, inputs, check) -> list[Path]:
    staged = []   # [path, real, temporary file (None once in place), its descriptor (kept open: its inode is not
    placed = []   # reused before the undo looks)]; (path, real, the new file's stat, a second name of what it replaced)
    try:
        for path, text in files:
            path = Path(path)
            real = targets.writable(path, force, inputs)   # a file that appears after this is not overwritten (_link_new)
            mode = _mode_for(real)
            try:
                fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=targets.folder_of(real))
            except OSError as exc:
                raise EvosymError(f"cannot write {path}: {targets.reason(exc)}") from None
            staged.append([path, real, tmp, fd])
            try:
                with os.fdopen(fd, "w", encoding="utf-8", newline="\n", closefd=False) as fh:
                    fh.write(text)
                os.chmod(tmp, mode)
            except OSError as exc:
                raise EvosymError(f"cannot write {path}: {targets.reason(exc)}") from None
        for entry in staged:
            path, real, tmp, fd = entry
            try:
                new = os.fstat(fd)
                if force:
                    targets.still_regular(real, path)
                    placed.append((path, real, new, _kept(real)))
                    os.replace(tmp, real)
                else:
                    placed.append((path, real, new, None))
                    _link_new(tmp, real)
            except OSError as exc:
                raise EvosymError(f"cannot write {path}: {targets.reason(exc)}") from None
            entry[2] = None   # in place
        for path, real, new, _ in placed:
            st = targets.lstat(real)
            if st is None or not os.path.samestat(st, new):
                raise EvosymError(f"cannot write {path}: another file of this command, or another process, replaced "
                                  "it before the set was in place (two outputs naming one file?); nothing was written")
        check()   # the set is final from here: a signal before this undoes it
    except BaseException:
        _roll_back(placed)
        raise
    finally:
        for _, _, tmp, fd in staged:
            os.close(fd)
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
    for _, _, _, kept in placed:
        if kept is not None:
            try:
                os.unlink(kept)
            except OSError:
                pass
    return [entry[0] for entry in staged]
