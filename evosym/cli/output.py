"""Where the CLI's output goes: files written atomically and never over what is not the user's to lose,
and a terminal that may not speak UTF-8.

Files. :func:`write_atomic` writes through a temporary file in the target's folder and an atomic rename.
Only a regular file is ever replaced, and only with ``--force``; a directory, named pipe, device or
socket at the target is refused, with or without ``--force``. A symbolic link is followed: with
``--force`` the regular file it leads to is rewritten (the link stays a link, like a shell's ``>``); a
link to anything else and a link loop are refused; a dangling link (it holds nothing) is replaced by
the new file with ``--force``. A file that is an input of the command (the operator
file being proved or generated from) is never overwritten, even with ``--force``, whatever the path
that names it (a symbolic link, a hard link, another spelling).

Terminal. :func:`configure_terminal` makes standard output and error degrade instead of crash when
their encoding cannot print a character (``LC_ALL=POSIX``, ``PYTHONIOENCODING=latin-1``): common
mathematical symbols are transliterated (Σ → sum, ≤ → <=, θ → theta), anything else becomes ``?``.
Files are always UTF-8, whatever the terminal.
"""

from __future__ import annotations

import codecs
import errno
import os
import stat
import sys
import tempfile
import unicodedata
from pathlib import Path

from ..errors import EvosymError, OutputExists

# -- files -----------------------------------------------------------------------------------------

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
        try:
            real = Path(os.path.realpath(path, strict=True))
        except FileNotFoundError:   # a dangling link holds nothing: --force replaces the link itself
            return path, True
        except OSError as exc:
            raise EvosymError(f"cannot write {path}: {_reason(exc)}") from None
        target = _lstat(real)
        if target is None:   # removed since realpath looked
            raise EvosymError(f"cannot write {path}: the file its symbolic link leads to disappeared")
        _refuse_non_regular(real, target, path)
        return real, True
    _refuse_non_regular(path, st, path)
    return path, True


def _refuse_inputs(path: Path, real: Path, inputs) -> None:
    """Never overwrite an input of the command, however it is named (samefile: links and spellings)."""
    for source in inputs or ():
        try:
            same = os.path.samefile(real, source)
        except OSError:   # one of them does not exist (or cannot be looked at): not the same file
            same = False
        if same:
            shown = "" if str(source) == str(path) else f" (the same file as {source})"
            raise EvosymError(f"{path} is an input of this command{shown}; it is never overwritten, even with "
                              "--force: choose another output")


def check_target(path: str | os.PathLike, *, force: bool = False, inputs=()) -> Path:
    """Refuse a target that cannot be written, before any work is done for it; ``inputs``: files the
    command reads, never to be overwritten."""
    path = Path(path)
    real, exists = destination(path)   # refuses what is never written: a folder, a pipe, a device, a link loop
    if exists and not force:
        raise OutputExists(f"{path} exists; use --force to overwrite it")
    _refuse_inputs(path, real, inputs)
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


def _still_regular(real: Path, shown: Path) -> None:
    """Just before the rename: what is at ``real`` is still a regular file (not swapped for a pipe or a folder)."""
    st = _lstat(real)
    if st is not None and not stat.S_ISLNK(st.st_mode):   # a link here is the dangling one being replaced
        _refuse_non_regular(real, st, shown)


def write_atomic(path: str | os.PathLike, text: str, *, force: bool = False, inputs=()) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` newlines) to ``path`` via a temporary file in the same folder and an
    atomic rename; returns ``path`` as given. See the module's docstring for what is refused."""
    path = check_target(path, force=force)
    real, exists = destination(path)
    _refuse_inputs(path, real, inputs)
    if exists and not force:   # appeared since check_target looked
        raise OutputExists(f"{path} exists; use --force to overwrite it")
    folder = _folder_of(real)
    mode = _mode_for(real)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise EvosymError(f"cannot write {path}: {_reason(exc)}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        if force:
            _still_regular(real, path)
            os.replace(tmp, real)
        else:
            _link_new(tmp, real)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise EvosymError(f"cannot write {path}: {_reason(exc)}") from None
        raise
    return path


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


# -- the terminal ----------------------------------------------------------------------------------

ASCII = {
    "Σ": "sum", "∑": "sum", "Π": "prod", "∏": "prod", "Ω": "Omega", "∈": " in ", "∉": " not in ", "≤": "<=",
    "≥": ">=", "≠": "!=", "≡": "==", "≢": "!==", "≈": "~", "≲": "<~", "×": "x", "·": "*", "⋅": "*", "÷": "/",
    "−": "-", "–": "-", "—": "--", "±": "+-", "…": "...", "→": "->", "←": "<-", "↦": "|->", "⇒": "=>",
    "⇔": "<=>", "⌊": "floor(", "⌋": ")", "⌈": "ceil(", "⌉": ")", "‖": "||", "∞": "inf", "√": "sqrt",
    "∂": "d", "⊙": "(.)", "⊗": "(x)", "⋆": "*", "∩": " cap ", "∪": " cup ", "⊆": " subset of ", "∀": "for all ",
    "∃": "exists ", "∤": " does not divide ", "ℤ": "Z", "ℓ": "l", "′": "'", "’": "'", "‘": "'", "“": '"', "”": '"',
    "⟨": "<", "⟩": ">", "✓": "ok", "✗": "X", "§": "S.", "ᵀ": "^T", "²": "^2", "³": "^3", "¹": "^1", "⁰": "^0",
    "⁻": "^-", "ε": "eps", "\u00a0": " ",
}


def ascii_text(text: str) -> str:
    """``text`` in ASCII: the symbols above, Greek letters by name (θ → theta), subscripts as digits,
    accents dropped, and ``?`` for anything else."""
    return "".join(ch if ord(ch) < 128 else _ascii_char(ch) for ch in text)


def _ascii_char(ch: str) -> str:
    if ch in ASCII:
        return ASCII[ch]
    name = unicodedata.name(ch, "")
    for prefix, case in (("GREEK SMALL LETTER ", str.lower), ("GREEK CAPITAL LETTER ", str.capitalize)):
        if name.startswith(prefix):
            return case(name[len(prefix):].split()[0]).replace("Lamda", "Lambda").replace("lamda", "lambda")
    if unicodedata.combining(ch):
        return ""
    folded = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    return folded if folded and folded.isascii() and folded.isprintable() else "?"


def _fallback(exc: UnicodeError):
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    return ascii_text(exc.object[exc.start:exc.end]), exc.end


ERRORS = "evosym-ascii"
codecs.register_error(ERRORS, _fallback)


def _cannot_encode(stream) -> bool:
    encoding = getattr(stream, "encoding", None)
    if not encoding:
        return False
    try:
        "Σ∈≤θ—✓".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return True
    return False


def configure_terminal(streams=None) -> None:
    """Standard output and error that cannot encode what evosym prints transliterate it instead of
    raising UnicodeEncodeError; streams that can (UTF-8) are left exactly as they are."""
    for stream in (sys.stdout, sys.stderr) if streams is None else streams:
        if stream is not None and _cannot_encode(stream) and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors=ERRORS)
            except (ValueError, OSError, TypeError):   # closed or not reconfigurable: leave it
                pass


# -- progress --------------------------------------------------------------------------------------

class Progress:
    """``[k/n] what`` on one line of standard error, rewritten in place, only when standard error is a
    terminal (nothing at all in a pipe, a file or a test); :meth:`done` clears the line."""

    def __init__(self, total: int, stream=None):
        self.stream = sys.stderr if stream is None else stream
        self.total = total
        self.count = 0
        self.width = 0
        try:
            self.on = total > 1 and self.stream.isatty()
        except (AttributeError, ValueError, OSError):
            self.on = False

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self.on = False

    def show(self, what: str) -> None:
        """What is under way now (e.g. 'deriving conv1d'), without counting it."""
        if self.on:
            line = f"[{self.count}/{self.total}] {what}"[:79]
            self._write("\r" + line.ljust(self.width))
            self.width = len(line)

    def step(self, what: str) -> None:
        """One more of ``total`` is done: ``what`` (e.g. 'proved conv1d')."""
        self.count += 1
        self.show(what)

    def done(self) -> None:
        if self.on and self.width:
            self._write("\r" + " " * self.width + "\r")
            self.width = 0
