"""Python identifiers for SymPy symbol names: what generated code calls a size or index, and the names an operator's
weight binding maps (so that code generation and the checking of an operator file's binding agree)."""

from __future__ import annotations

import keyword
import re

MODULE_NAMES = {"F", "torch", "math", "dtype", "device"}   # names the generated modules use themselves


def py_name(sym) -> str:
    """A Python identifier for a SymPy symbol name (``c'`` → ``c_prime``)."""
    name = re.sub(r"[^0-9a-zA-Z_]", "_", str(sym).replace("'", "_prime"))
    if not name or name[0].isdigit() or keyword.iskeyword(name) or name in MODULE_NAMES:
        name = "_" + name
    return name
