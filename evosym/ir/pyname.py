"""Python identifiers for SymPy symbol names: what generated code calls a size or index, and the names an operator's
weight binding maps (so that code generation and the checking of an operator file's binding agree)."""

from __future__ import annotations

import functools
import keyword
import re
import unicodedata

MODULE_NAMES = {"F", "torch", "math", "dtype", "device"}   # names the generated modules use themselves


def _ascii(ch: str) -> str:
    """A letter outside ASCII as ASCII: a Greek one by its name (σ → sigma, Σ → Sigma), another by its code point."""
    if ch.isascii():
        return ch
    words = unicodedata.name(ch, "").split()
    if words[:1] == ["GREEK"] and words[1:3] in (["SMALL", "LETTER"], ["CAPITAL", "LETTER"]) and len(words) == 4:
        letter = words[3].lower()
        return letter.capitalize() if words[1] == "CAPITAL" else letter
    return f"_u{ord(ch):04x}"


@functools.lru_cache(maxsize=4096)
def py_name(sym) -> str:
    """A Python identifier for a SymPy symbol name (``c'`` → ``c_prime``, ``σ`` → ``sigma``, ``Ｋ`` → ``K``), in ASCII.
    Two names that print alike (``sigma`` and ``σ``) never reach it (the checker refuses them); two that it writes
    alike otherwise (``c'`` and ``c_prime``) make the generated module fail to compile, which code generation reports
    as a name clash to rename. (Remembered per symbol: the numeric checks bind a module's sizes at every call.)"""
    text = "".join(map(_ascii, unicodedata.normalize("NFKD", str(sym))))
    name = re.sub(r"[^0-9a-zA-Z_]", "_", text.replace("'", "_prime"))
    if not name or name[0].isdigit() or keyword.iskeyword(name) or name in MODULE_NAMES:
        name = "_" + name
    return name
