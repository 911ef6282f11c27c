"""Where the CLI's output goes: a terminal that may not speak UTF-8 (files: :mod:`evosym.files`).

:func:`configure_terminal` makes standard output and error degrade instead of crash when
their encoding cannot print a character (``LC_ALL=POSIX``, ``PYTHONIOENCODING=latin-1``): common
mathematical symbols are transliterated (Σ → sum, ≤ → <=, θ → theta), anything else becomes ``?``.
Files are always UTF-8, whatever the terminal.
"""

from __future__ import annotations

import codecs
import errno
import os
import sys
import unicodedata

from ..proof.codec import escaped

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


def write_stdout(text: str) -> None:
    """``text`` on standard output, all of it or an OSError, its control and format characters but newlines and tabs
    written as escapes: the process's own standard output is written with
    os.write until every byte is out (Python's buffered writer drops the rest of a write that a file-size limit or a
    full disk cuts short, without an error: a truncated JSON document with exit 0); any other stream (a test's
    capture) as it writes."""
    text = escaped(text, keep="\n\t")   # a user's escape sequence reaches no terminal (newlines: each field's own)
    stream = sys.stdout
    if stream is None:   # started with standard output closed
        raise OSError(errno.EBADF, "standard output is closed")
    try:
        fd = stream.fileno() if stream is not None and stream is sys.__stdout__ else None
    except (AttributeError, ValueError, OSError):
        fd = None
    if fd is None:
        stream.write(text)
        return
    stream.flush()
    view = memoryview(text.encode(stream.encoding or "utf-8", stream.errors or "strict"))
    while view:
        n = os.write(fd, view)
        if n <= 0:
            raise OSError(errno.EIO, "standard output took no more bytes")
        view = view[n:]


def say(line: str) -> None:
    """``line`` on standard error as one line, its control and format characters written as escapes (``\\x1b``,
    ``\\n``): it may hold a path, a name or an error text a user gave, whose escape sequences a terminal would act on
    (erase the line before) and whose newlines would print a line of their own (a forged verdict); nothing if standard
    error is gone (the exit status still tells)."""
    try:
        print(escaped(str(line), keep="\t"), file=sys.stderr)
    except (OSError, ValueError):
        pass


def wrote(path) -> None:
    """"wrote PATH" on standard error."""
    say(f"wrote {path}")


def out(text: str = "", end: str = "\n") -> None:
    """``text`` and ``end`` on standard output through :func:`write_stdout` (for the commands' own lines)."""
    write_stdout(f"{text}{end}")


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
