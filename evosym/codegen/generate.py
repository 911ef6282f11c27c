"""From an operator to generated source files: the entry point of ``evosym codegen``."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from .. import catalogue
from ..runtime import backends as registry
from . import backends
from .plan import Plan, make_plan


def __getattr__(name: str):
    """``TARGETS`` (every registered backend's name) and ``SUFFIX`` (name → suffix), read from the registry on
    each use (a backend registered later is in them)."""
    if name == "TARGETS":
        return registry.names()
    if name == "SUFFIX":
        return {b: registry.get(b).suffix for b in registry.names()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def filename(operator_name: str, target: str) -> str:
    """The generated file's name: the operator's name (an identifier) with the target's registered suffix."""
    return operator_name + registry.get(target).suffix


@dataclass(frozen=True)
class Generated:
    """One generated file: where it goes, its text, and the plan it came from; for a torch module that runs
    compiled kernels, its ``artifact`` (:mod:`.artifact`: kernel sources and manifest, written next to it)."""

    filename: str
    source: str
    plan: Plan
    artifact: object = None

    def files(self, filename: str | None = None, *, kernels: bool = False) -> dict:
        """file name → text: the module saved as ``filename`` and, where its default path runs generated
        kernels (or with ``kernels``, wherever it has some), the artifact files next to it."""
        filename = filename or self.filename
        out = {filename: self.source}
        if self.artifact is not None and (kernels or self.plan.kernel_devices):
            out.update(self.artifact.files(self.source, filename.rsplit(".", 1)[0]))
        return out


def generate(name_or_path: str, target: str = "torch") -> Generated:
    """Prove and check the operator, plan its lowering, render the target's source (``target``: a registered
    backend, :mod:`evosym.runtime.backends`)."""
    registry.get(target)   # an unknown target: a clear error before anything is proved
    path = None if name_or_path in catalogue.catalogue_names() else shell_word(name_or_path)   # an operator file
    return generate_checked(catalogue.checked(name_or_path), target, path=path)


def shell_word(text: str) -> str:
    """``text`` as one word a POSIX shell reads back as ``text`` (a path in a banner's "Regenerate:" line); one with a
    control or format character is written in bash's ``$'…'``, that character as an escape (a newline inside ``'…'``
    would end the comment line, and escaping it afterwards named another path). A relative path that starts with ``-``
    is written ``./-…``, which the command reads as a file, not an option."""
    if text.startswith("-"):   # (read as an option by evosym's command: the same file as ./-x.py)
        text = "./" + text
    if text.isprintable():
        return shlex.quote(text)
    return "$'" + "".join(_shell_escape(ch) for ch in text) + "'"


def _shell_escape(ch: str) -> str:
    """One character inside bash's ``$'…'``: a control character of ASCII as its escape (``\\n``, ``\\x1b``), any
    other one as its bytes in the file system's encoding, ``\\xHH`` each (an undecodable byte of a path, which
    Python holds as a lone surrogate, is that byte; ``\\uHHHH`` is read as a character only in a UTF-8 locale)."""
    if ch in "\\'":
        return "\\" + ch
    if ch.isprintable():
        return ch
    if ord(ch) < 0x80:
        return ascii(ch)[1:-1]
    try:
        data = os.fsencode(ch)
    except UnicodeEncodeError:
        data = ch.encode("utf-8", "surrogatepass")
    return "".join(f"\\x{b:02x}" for b in data)


def generate_checked(cp, target: str = "torch", path: str | None = None) -> Generated:
    """The target's source for an already checked proof; ``path``: the operator file it came from, as the
    user gave it (the torch banner's "Regenerate:" line names it: the operator's name would be unknown)."""
    spec = registry.get(target)
    plan = make_plan(cp)
    if spec.kernels:   # a kernel source, on its own
        return Generated(filename(plan.name, target), backends.render(target, cp, plan, regenerate=path), plan)
    from .artifact import artifact   # a module, with its artifact: the kernel backends' sources and manifest
    return Generated(filename(plan.name, target), backends.render(target, cp, plan, regenerate=path), plan,
                     artifact(cp, plan, regenerate=path))


def committed_dir(target: str = "torch") -> Path:
    """``codegen/<target>`` of a source checkout: where the catalogue's generated code is committed."""
    return Path(__file__).resolve().parent.parent.parent / "codegen" / target
