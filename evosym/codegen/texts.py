"""The operator's words that generated code carries, taken only where they cannot become code.

Generated modules and kernels carry an operator's summary, its sizes' meanings and its tensors' and definitions'
descriptions (and display texts, in printed formulas) in docstrings, comments (Python ``#``, C++ ``//``) and the messages of the errors they raise
(``"…"`` and ``f"…"`` literals); a tensor's ``torch_name`` becomes an attribute and argument name. An operator
file's text is the file's to choose, so each is taken as one line without a double quote, a backslash or ``??``
(none of them could then end a string, a docstring or a comment, continue a C++ comment, or form a trigraph), a
name (of a symbol, tensor, function) also without braces (names are formatted into f-strings in many places), and a
torch name only as an identifier; the templates double the braces of a text inside an f-string.
"""

from __future__ import annotations

import dataclasses
import keyword
import re

import sympy as sp
from sympy.core.function import AppliedUndef

from ..errors import EvosymError

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REFUSED = ("\n", "\r", '"', "\\", "??")


def check_texts(op, *forms) -> None:
    """An ``EvosymError`` naming the first text of ``op`` that generated code could not carry safely; the names of
    every symbol, tensor and function in ``op`` and ``forms`` (the Evolution form: printed in the lowering's reason and
    the kernel's comments) are held to the same rule."""
    for name in sorted(_names((op, forms))):   # names are also formatted into f-strings' expressions and messages
        bad = next((r for r in (*_REFUSED, "{", "}") if r in name), None)
        if bad is not None:
            raise EvosymError(f"code generation: {op.name}: the name {name!r} holds {bad!r}, which generated code "
                              "could not carry as text in its docstrings, comments and messages: rename it (letters, "
                              "digits, _ and ')")
    texts = [("summary", op.summary)] + [(f"the meaning of size {s}", m) for s, m in op.sizes]
    texts += [(f"the description of tensor {t.name}", t.description) for t in (*op.tensors, op.output)]
    texts += [(f"the description of definition {d.name}", d.description) for d in op.definitions]
    texts += [(f"the display text of {x.name}", x.text) for x in (*op.tensors, op.output, *op.definitions)
              if x.text is not None]   # (printed in the lowering's reason and the kernel's formula, docstrings)
    for what, text in texts:
        if not isinstance(text, str):
            raise EvosymError(f"code generation: {op.name}: {what} must be text, not {type(text).__name__}")
        bad = next((r for r in _REFUSED if r in text), None)
        if bad is not None:
            raise EvosymError(f"code generation: {op.name}: {what} holds {bad!r}, which generated code carries in its "
                              f"docstrings, comments and messages and could not hold there as text: write it as one "
                              f"line without double quotes, backslashes or '??'")
    for t in op.tensors:
        name = t.torch_name
        if name is not None and (not isinstance(name, str) or not _IDENT.fullmatch(name) or keyword.iskeyword(name)):
            raise EvosymError(f"code generation: {op.name}: the torch_name of tensor {t.name} must be an identifier "
                              f"(an attribute of the torch module, e.g. 'weight'), not {name!r}")


def _names(obj, seen=None) -> set[str]:
    """The names of the symbols, indexed tensors, undefined functions and definitions anywhere in ``obj`` (SymPy
    expressions inside dataclasses, tuples, lists and dicts)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return set()
    seen.add(id(obj))
    if isinstance(obj, sp.Basic):
        out = {str(a) for a in obj.atoms(sp.Symbol, sp.Dummy)} | {str(a.label) for a in obj.atoms(sp.IndexedBase)}
        return out | {type(f).__name__ for f in obj.atoms(AppliedUndef)}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {obj.name} if isinstance(getattr(obj, "name", None), str) else set()
        return out.union(*[_names(getattr(obj, f.name), seen) for f in dataclasses.fields(obj)
                           if not callable(getattr(obj, f.name))])
    if isinstance(obj, (tuple, list)):
        return set().union(*[_names(x, seen) for x in obj])
    if isinstance(obj, dict):
        return set().union(*[_names(x, seen) for kv in obj.items() for x in kv])
    return set()


def fstring_text(text: str) -> str:
    """``text`` inside an f-string literal: its braces doubled, so that none is evaluated."""
    return text.replace("{", "{{").replace("}", "}}")
