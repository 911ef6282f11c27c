"""Files the user keeps: written atomically, and never over what is not the user's to lose.

:func:`write_atomic` writes through a temporary file in the target's folder and an atomic rename.
Only a regular file is ever replaced, and only with ``--force``; a directory, named pipe, device or
socket at the target is refused, with or without ``--force``. A symbolic link is followed: with
``--force`` the regular file it leads to is rewritten (the link stays a link, like a shell's ``>``); a
link to anything else (``/dev/stdout`` to a pipe, through /proc's magic links too) and a link loop are refused; a
dangling link (it holds nothing) is replaced by the new file with ``--force``. A file that is an input of the command (the operator
file being proved or generated from) is never overwritten, even with ``--force``, whatever the path
that names it (a symbolic link, a hard link, another spelling); nor is a file an operator file imported while it was
derived or ran its references (its helpers: :func:`protect`, called with what the operator file's confined processes
recorded, :mod:`evosym.isolation.imports`), nor anything in evosym's own code, however reached (a link, a bind
mount). A command's files are one set (:func:`write_all`): all are put in place, or none (what a failed set replaced
is put back). Used by the CLI and the docs generator.
"""

from __future__ import annotations

import errno
import functools
import os
import secrets
import shutil
import signal
import stat
import tempfile
import threading
from pathlib import Path

from .errors import EvosymError, OutputExists


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return "not a regular file"


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "too many levels of symbolic links (a link loop?)"
    return exc.strerror or str(exc)


def _lstat(path: Path):
    """os.lstat, or None when nothing is there; any other failure (a name too long, a loop, no
    permission to look) is the user's one-line error."""
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise EvosymError(f"cannot write {path}: {_reason(exc)}") from None


def _folder_of(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def _refuse_non_regular(path: Path, st, shown: Path) -> None:
    if stat.S_ISDIR(st.st_mode):
        what = "is a directory" if shown == path else f"is a symbolic link to a directory ({path})"
        raise EvosymError(f"{shown} {what}; give a file name")
    if not stat.S_ISREG(st.st_mode):
        where = "" if shown == path else f" (through the symbolic link to {path})"
        raise EvosymError(f"{shown} is {_kind(st.st_mode)}{where}, not a regular file; evosym writes only regular "
                          "files (give a file name)")


def destination(path: str | os.PathLike) -> tuple[Path, bool]:
    """(the file a write to ``path`` replaces or creates, whether it exists): ``path`` itself, or the
    regular file a symbolic link leads to. Refuses, as a one-line error, anything else at ``path``."""
    path = Path(path)
    st = _lstat(path)
    if st is None:
        folder = _folder_of(path)
        try:
            fst = os.stat(folder)
        except FileNotFoundError:
            raise EvosymError(f"cannot write {path}: folder {folder} does not exist") from None
        except OSError as exc:
            raise EvosymError(f"cannot write {path}: {_reason(exc)}") from None
        if not stat.S_ISDIR(fst.st_mode):
            raise EvosymError(f"cannot write {path}: {folder} is not a folder")
        return path, False
    if stat.S_ISLNK(st.st_mode):
        try:   # where the links lead, magic ones too (/dev/stdout → /proc/self/fd/1 → a pipe, which has no path)
            followed = os.stat(path)
        except FileNotFoundError:   # a dangling link holds nothing: --force replaces the link itself
            return path, True
        except OSError as exc:
            raise EvosymError(f"cannot write {path}: {_reason(exc)}") from None
        if not stat.S_ISREG(followed.st_mode):   # (a pipe behind /dev/stdout was taken for a dangling link, and the
            _refuse_non_regular(Path(os.readlink(path)), followed, path)   # link replaced: an adversarial pass)
        try:
            real = Path(os.path.realpath(path, strict=True))
            target = os.stat(real)
        except OSError:   # no path leads to it (a deleted file behind /proc/self/fd/N), or it moved since
            raise EvosymError(f"cannot write {path}: the regular file its symbolic link leads to has no path of its "
                              "own to write (give a file name)") from None
        if not os.path.samestat(target, followed):
            raise EvosymError(f"cannot write {path}: the file its symbolic link leads to changed while evosym looked")
        return real, True
    _refuse_non_regular(path, st, path)
    return path, True


_IMPORTED: set[str] = set()   # files the operator files derived in this process imported (absolute paths)


def protect(paths) -> None:
    """Files an operator file read through its imports (a helper module beside it): inputs of every command of this
    process, never overwritten, as the files it names. Reported by the operator file's process, which is not
    trusted: a false entry can only refuse a write, never allow one."""
    _IMPORTED.update(paths)


def _place(path) -> tuple:
    """Where ``path`` leads once its symbolic links are followed, as the file system knows it: the (device, inode) of
    the folder that holds it, and its name. One place has one identity however it is spelled (links, ``..``, a bind
    mount of a folder elsewhere), where path strings differ; it need not exist, its folder must."""
    real = Path(os.path.realpath(path))
    st = os.stat(_folder_of(real))
    return st.st_dev, st.st_ino, real.name


def same_place(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file, existing or not (two outputs of one command that would overwrite each
    other): the same file, else the same name in the same folder."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        pass
    try:
        return _place(a) == _place(b)
    except OSError:   # a folder that is not there: nothing can be written through either
        return os.path.realpath(a) == os.path.realpath(b)


@functools.lru_cache(maxsize=1)
def _own_code() -> frozenset:
    """evosym's own code: its package and the folders its derivations and templates load from (a source checkout's
    ``derivations/`` and ``codegen/templates/``), every folder and file in them, and every file its installed
    distribution lists (an editable install's finder, which ``import evosym`` runs; an adversarial pass), as (device,
    inode): the same through a bind mount (of one of them, a subfolder or a single file) or a link."""
    import importlib.util
    from . import attach_source_packages
    attach_source_packages()
    folders = [Path(__file__).resolve().parent]
    for name in ("evosym.derivations", "evosym.templates"):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        folders += [Path(f) for f in ((spec.submodule_search_locations or []) if spec else [])]
    ids = set()
    listed = []   # the installed distribution's files: an editable install's finder and .pth, its metadata, its script
    try:
        import importlib.metadata
        for dist in importlib.metadata.distributions(name="evosym"):
            listed += [Path(dist.locate_file(f)) for f in dist.files or ()
                       if f.parts[0].endswith(".dist-info") or f.name.startswith("__editable__")
                       or (f.name == "evosym" and f.parent.name == "bin")]   # (not a source tree's egg-info's list)
    except (ImportError, OSError, ValueError):   # (not installed: a checkout on the path)
        pass
    for file in listed:
        try:
            st = os.stat(file)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            ids.add((st.st_dev, st.st_ino))
    for folder in folders:
        for root, dirs, names in os.walk(folder):
            for entry in (root, *(os.path.join(root, n) for n in (*dirs, *names))):
                try:
                    st = os.stat(entry)
                except OSError:
                    continue
                ids.add((st.st_dev, st.st_ino))
    return frozenset(ids)


def _in_own_code(real: Path) -> bool:
    """Whether ``real`` lies in evosym's own code: it, or a folder above it, is one of :func:`_own_code`'s (by
    identity, not by path string: a bind mount of the package, or of a folder inside it, got past a string prefix and
    then a comparison with the package's folder alone; two adversarial passes)."""
    own = _own_code()
    folder = Path(os.path.realpath(_folder_of(real)))
    for place in (folder / real.name, folder, *folder.parents):
        try:
            st = os.stat(place)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in own:
            return True
    return False


def _refuse_inputs(path: Path, real: Path, inputs) -> None:
    """Never overwrite an input of the command, however it is named (the same file: links and spellings), nor
    evosym's own code (a catalogue operator's derivation imports helpers there, which the record of an operator
    file's imports leaves out: ``prove conv1d -o …/derivations/_conv.py --force`` replaced one; an adversarial pass)."""
    try:
        target = os.stat(real)
    except OSError:   # nothing there (or it cannot be looked at): no file of the user's is replaced
        target = None
    for source, what in [*((s, "an input of this command") for s in inputs or ()),
                         *((s, "a module an operator file of this command imported") for s in sorted(_IMPORTED))]:
        try:
            same = target is not None and os.path.samestat(target, os.stat(source))
        except OSError:   # it does not exist (or cannot be looked at): not the same file
            same = False
        if same:
            shown = "" if str(source) == str(path) else f" (the same file as {source})"
            raise EvosymError(f"{path} is {what}{shown}; it is never overwritten, even with --force: choose another "
                              "output")
    if _in_own_code(real):
        raise EvosymError(f"{path} is part of evosym's own code (its package, derivations or templates); it is never "
                          "written, even with --force: choose another output")


def _writable(path: Path, force: bool, inputs) -> Path:
    """The file a write to ``path`` replaces or creates, or the refusal: what is never written (a folder, a
    pipe, a device, a link loop), an existing file without ``force``, an input of the command."""
    real, exists = destination(path)
    if exists and not force:
        raise OutputExists(f"{path} exists; use --force to overwrite it")
    _refuse_inputs(path, real, inputs)
    return real


def check_target(path: str | os.PathLike, *, force: bool = False, inputs=()) -> Path:
    """Refuse a target that cannot be written, before any work is done for it; ``inputs``: files the
    command reads, never to be overwritten."""
    path = Path(path)
    _writable(path, force, inputs)
    return path


def _mode_for(path: Path) -> int:
    """The existing file's permissions, else what a new file would get under the umask."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
    except OSError as exc:
        raise EvosymError(f"cannot write {path}: {_reason(exc)}") from None


def _link_new(tmp: str, path: Path) -> None:
    """Put ``tmp`` at ``path`` only if nothing is there, atomically (a file created since :func:`check_target` looked
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


def _still_regular(real: Path, shown: Path) -> None:
    """Just before the rename: what is at ``real`` is still a regular file (not swapped for a pipe or a folder)."""
    st = _lstat(real)
    if st is not None and not stat.S_ISLNK(st.st_mode):   # a link here is the dangling one being replaced
        _refuse_non_regular(real, st, shown)


def write_atomic(path: str | os.PathLike, text: str, *, force: bool = False, inputs=()) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` newlines) to ``path`` via a temporary file in the same folder and an
    atomic rename; returns ``path`` as given. See the module's docstring for what is refused."""
    return write_all([(path, text)], force=force, inputs=inputs)[0]


def _kept(real: Path) -> str | None:
    """A second name for what is at ``real`` (a hard link beside it, else a copy), so that a set left half in place can
    put it back; None when nothing is there."""
    st = _lstat(real)
    if st is None:
        return None
    folder = _folder_of(real)
    for _ in range(100):
        name = os.path.join(folder, f".{real.name}.{secrets.token_hex(6)}.old")
        try:
            os.link(real, name, follow_symlinks=False)   # (a dangling link is kept as the link)
            return name
        except FileExistsError:
            continue
        except OSError:   # no hard links on this file system: a copy
            break
    fd, name = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".old", dir=folder)
    try:
        if stat.S_ISLNK(st.st_mode):
            os.close(fd)
            os.unlink(name)
            os.symlink(os.readlink(real), name)
        else:
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
            st = _lstat(real)
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
            real = _writable(path, force, inputs)   # a file that appears after this is not overwritten (_link_new)
            mode = _mode_for(real)
            try:
                fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=_folder_of(real))
            except OSError as exc:
                raise EvosymError(f"cannot write {path}: {_reason(exc)}") from None
            staged.append([path, real, tmp, fd])
            try:
                with os.fdopen(fd, "w", encoding="utf-8", newline="\n", closefd=False) as fh:
                    fh.write(text)
                os.chmod(tmp, mode)
            except OSError as exc:
                raise EvosymError(f"cannot write {path}: {_reason(exc)}") from None
        for entry in staged:
            path, real, tmp, fd = entry
            try:
                new = os.fstat(fd)
                if force:
                    _still_regular(real, path)
                    placed.append((path, real, new, _kept(real)))
                    os.replace(tmp, real)
                else:
                    placed.append((path, real, new, None))
                    _link_new(tmp, real)
            except OSError as exc:
                raise EvosymError(f"cannot write {path}: {_reason(exc)}") from None
            entry[2] = None   # in place
        for path, real, new, _ in placed:
            st = _lstat(real)
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


def existing_folder(path: str | os.PathLike, what: str) -> Path:
    """An output folder that exists (one-line errors for a missing one, a file, a name too long, a loop)."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise EvosymError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise EvosymError(f"{what} {path}: {_reason(exc)}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise EvosymError(f"{what} {path} is not a folder")
    return path
