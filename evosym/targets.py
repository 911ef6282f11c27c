"""Where a command may write, decided before anything is written (:mod:`evosym.files` writes).

Only a regular file is ever replaced, and only with ``--force``; a directory, named pipe, device or socket at the
target is refused, with or without ``--force``. A symbolic link is followed: with ``--force`` the regular file it
leads to is rewritten (the link stays a link, like a shell's ``>``); a link to anything else (``/dev/stdout`` to a
pipe, through /proc's magic links too) and a link loop are refused; a dangling link (it holds nothing) is replaced by
the new file with ``--force``. A file that is an input of the command (the operator file being proved or generated
from) is never overwritten, even with ``--force``, whatever the path that names it (a symbolic link, a hard link,
another spelling); nor is a file an operator file imported while it was derived or ran its references (its helpers:
:func:`protect`, called with what the operator file's confined processes recorded,
:mod:`evosym.isolation.imports`), nor anything in evosym's own code, however reached (a link, a bind mount).
"""

from __future__ import annotations

import errno
import functools
import os
import stat
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


def reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "too many levels of symbolic links (a link loop?)"
    return exc.strerror or str(exc)


def lstat(path: Path):
    """os.lstat, or None when nothing is there; any other failure (a name too long, a loop, no
    permission to look) is the user's one-line error."""
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise EvosymError(f"cannot write {path}: {reason(exc)}") from None


def folder_of(path: Path) -> Path:
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
    st = lstat(path)
    if st is None:
        existing_folder(folder_of(path), f"cannot write {path}: folder")
        return path, False
    if stat.S_ISLNK(st.st_mode):
        try:   # where the links lead, magic ones too (/dev/stdout → /proc/self/fd/1 → a pipe, which has no path)
            followed = os.stat(path)
        except FileNotFoundError:   # a dangling link holds nothing: --force replaces the link itself
            return path, True
        except OSError as exc:
            raise EvosymError(f"cannot write {path}: {reason(exc)}") from None
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
    st = os.stat(folder_of(real))
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
    folder = Path(os.path.realpath(folder_of(real)))
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


def writable(path: Path, force: bool, inputs) -> Path:
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
    writable(path, force, inputs)
    return path


def still_regular(real: Path, shown: Path) -> None:
    """Just before the rename: what is at ``real`` is still a regular file (not swapped for a pipe or a folder)."""
    st = lstat(real)
    if st is not None and not stat.S_ISLNK(st.st_mode):   # a link here is the dangling one being replaced
        _refuse_non_regular(real, st, shown)


def existing_folder(path: str | os.PathLike, what: str) -> Path:
    """An output folder that exists (one-line errors for a missing one, a file, a name too long, a loop)."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise EvosymError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise EvosymError(f"{what} {path}: {reason(exc)}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise EvosymError(f"{what} {path} is not a folder")
    return path


def folder_inside(path: str | os.PathLike, what: str, where: str) -> bool:
    """Whether a folder a command writes ``what`` into (one inside its output folder) exists; refuses a symbolic link
    there (the files went where it led) and anything else that is not a folder. ``where``: the output folder, in
    words."""
    path = Path(path)
    if path.is_symlink():
        raise EvosymError(f"{path} is a symbolic link: {what} go in a folder of their own; remove the link or choose "
                          f"another {where}")
    if os.path.lexists(path) and not path.is_dir():
        raise EvosymError(f"{path} is not a folder: {what} go inside it")
    return path.is_dir()
