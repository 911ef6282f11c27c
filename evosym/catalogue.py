"""Finding operators: the built-in catalogue (``evosym.derivations``) and users' operator files.

An operator module defines ``OPERATOR`` (an :class:`evosym.Operator`) and optionally ``derive(d)``,
which names the rules on a :class:`evosym.Derivation`; without it (or where it calls ``d.auto()``)
the proof search (:mod:`evosym.search`) finds the steps. A user's file has the same shape and is
loaded by path, so a new operator can be proved without touching the package. Everything
that can go wrong in a user's file becomes one clear :class:`OperatorFileError`.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import importlib
import importlib.util
import os
import pkgutil
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable

from .errors import EvosymError, OperatorFileError, OperatorNotFound, TimeLimitExceeded
from . import attach_source_packages
from .ir.operator import Operator, declaration_problems
from .proof.proof import Proof
from .timelimit import DEFAULT as DEFAULT_TIME_LIMIT, time_limit

attach_source_packages()   # derivations/ and codegen/templates/ as subpackages in a source checkout

PACKAGE = "evosym.derivations"


@dataclass(frozen=True)
class OperatorModule:
    """A loaded operator: where it came from, the operator, and its derivation."""

    name: str
    source: str
    operator: Operator
    derive: Callable | None       # None: the file leaves the proof to the search
    module: ModuleType
    builtin: bool = True

    @property
    def label(self) -> str:
        """How messages name it: the operator for the catalogue, the file for a user's operator."""
        return self.name if self.builtin else self.source

    def proof(self, *, search: bool = False) -> Proof:
        """Run the derivation (the search instead with ``search``, or when the file has no ``derive``);
        errors name the operator (or the user's file) and the line."""
        from .search import SearchingDerivation
        d = SearchingDerivation(self.operator)
        try:
            if search or self.derive is None:
                d.auto()
            else:
                self.derive(d)
            return d.proof()
        except TimeLimitExceeded:
            raise
        except EvosymError as exc:
            raise type(exc)(f"{self.label}: {exc}") from None
        except Exception as exc:  # a bug in the operator file: say where, without a traceback
            if search or self.derive is None:   # no line of the user's ran: the search itself failed
                raise EvosymError(f"{self.label}: the proof search failed ({type(exc).__name__}: {exc}); this is "
                                  "evosym's fault, not the file's: please report it, and write a derive() with the "
                                  "rewrite steps to prove the operator meanwhile") from None
            raise OperatorFileError(f"{self.label}{_where(exc, self.source)}: derive() failed: {type(exc).__name__}: {exc}") from None


def catalogue_names() -> list[str]:
    """Names of the built-in operators, sorted."""
    pkg = importlib.import_module(PACKAGE)
    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))


def load(name_or_path: str) -> OperatorModule:
    """A catalogue operator by name, or a user's operator file by path."""
    path = Path(name_or_path)
    looks_like_path = name_or_path.endswith(".py") or "/" in name_or_path or "\\" in name_or_path
    if looks_like_path:
        if not path.is_file():
            raise OperatorNotFound(f"no operator file {name_or_path!r}")
        return _load_file(path)
    names = catalogue_names()
    if name_or_path not in names:
        close = difflib.get_close_matches(name_or_path, names, n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise OperatorNotFound(f"unknown operator {name_or_path!r}{hint} (run 'evosym list' for the catalogue, "
                               "or pass the path of an operator file)")
    module = importlib.import_module(f"{PACKAGE}.{name_or_path}")
    return _validate(module, name_or_path, module.__file__)


def load_all() -> list[OperatorModule]:
    return [load(n) for n in catalogue_names()]


def checked(name_or_path: str, *, callables: bool = True):
    """The checked proof of an operator, for code that *reads* proofs (code generation, numeric
    checks, kernels, the table, the docs). A catalogue operator's proof is checked once per process
    and shared (the catalogue cannot change under a running process); an operator file's is checked
    on every call, since the file may be edited, and refused when it carries a catalogue operator's name.
    An operator file is never imported here: it is derived in a confined child, which also hands back its plain data
    (weight binding, benchmark sizes: checked on the way in), and its references run in a confined process of
    their own when called. ``callables=False`` (what reads only the proof, e.g. ``evosym info``): the operator then
    has no references or bindings. ``evosym prove`` does not use this: it proves afresh (any name)."""
    if name_or_path in catalogue_names():
        return _checked_builtin(name_or_path)
    cp, data = _checked_in_parent(name_or_path)
    if not callables:
        return cp
    return _with_data(name_or_path, cp, data)


_CALLABLES = ("reference", "torch_reference", "torch_binding", "bench", "figure")


def _checked_in_parent(path: str):
    """An operator file's proof derived in a child process and checked here (the file is never imported here), and
    the plain data the child handed back with it."""
    (_, _, cp, data), = checked_apart([path], DEFAULT_TIME_LIMIT, with_data=True)
    return cp, data


def _with_data(path: str, cp, data):
    """The checked proof of an operator file with its data (binding, benchmark sizes) and its references, which run
    in a confined process of their own (:mod:`evosym.isolation.references`)."""
    from .ir.pyname import py_name
    from .isolation.handback import decode, digest
    from .isolation.references import references
    op = cp.operator
    if op.name in catalogue_names():   # its generated module would find the catalogue's kernels by that name
        raise OperatorFileError(f"{path}: the operator is named {op.name!r} like the catalogue's; code generated from "
                                "it would be taken for the catalogue's (kernels are found by operator name): give it a "
                                "name of its own")
    d = decode(data, path, {str(s): s for s, _ in op.sizes}, {py_name(s) for s, _ in op.sizes},
               {t.name for t in op.tensors})
    refs = references(path, digest(op))
    op = dataclasses.replace(op, torch_binding=d["torch_binding"], bench=d["bench"], figure=d["figure"],
                             reference=refs.numpy if d["reference"] else None,
                             torch_reference=refs.torch if d["torch_reference"] else None)
    return dataclasses.replace(cp, proof=dataclasses.replace(cp.proof, operator=op))


def checked_apart(sources: list[str], seconds: float | None = None, *, search: bool = False, with_data: bool = False):
    """(source, derivation, checked proof) for each source: derived in one child process that runs the user
    code (:mod:`evosym.isolation`), checked here with what it hands back; ``seconds`` limits each derivation
    and each check; ``search``: the proof search instead of each file's ``derive``. A catalogue name must
    come back as that operator. ``with_data``: the file's plain data as handed back too, fourth."""
    from .isolation.spawn import DerivationFailed, derivations
    from .proof.certificate import CertificateError, check_derivation
    known = set(catalogue_names())
    for source, data, extra in derivations(sources, seconds or None, search=search):
        with time_limit(seconds, f"checking {source}"):
            try:
                cp = check_derivation(data)
            except CertificateError as exc:   # what the file declared is refused: say which file
                raise OperatorFileError(f"{source}: {exc}") from None
        if source in known and cp.operator.name != source:
            raise DerivationFailed(f"{source}: the derivation handed back is of another operator, {cp.operator.name}")
        yield (source, data, cp, extra) if with_data else (source, data, cp)


@functools.lru_cache(maxsize=None)
def _checked_builtin(name: str):
    """Checked once per process, and kept on disk across commands (:mod:`evosym.proofcache`)."""
    from . import proofcache
    mod = load(name)
    cp = proofcache.load(name, mod.operator)
    if cp is None:
        cp = mod.proof().check()
        proofcache.store(name, cp)
        return cp
    op = dataclasses.replace(cp.operator, **{f: getattr(mod.operator, f) for f in _CALLABLES})
    return dataclasses.replace(cp, proof=dataclasses.replace(cp.proof, operator=op))


def _load_file(path: Path) -> OperatorModule:
    path = path.resolve()
    digest = hashlib.sha256(os.fsencode(path)).hexdigest()[:12]
    modname = f"evosym_user_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(modname, path)
    if spec is None or spec.loader is None:
        raise OperatorFileError(f"{path}: cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    sys.path.insert(0, str(path.parent))  # like a script: helpers next to the file can be imported
    try:
        spec.loader.exec_module(module)
    except TimeLimitExceeded:
        sys.modules.pop(modname, None)
        raise
    except SyntaxError as exc:
        sys.modules.pop(modname, None)
        raise OperatorFileError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    except EvosymError as exc:
        sys.modules.pop(modname, None)
        raise OperatorFileError(f"{path}: {exc}") from None
    except Exception as exc:
        sys.modules.pop(modname, None)
        raise OperatorFileError(f"{path}{_where(exc, str(path))}: error while loading: {type(exc).__name__}: {exc}") from None
    finally:
        sys.path.remove(str(path.parent))
    return _validate(module, path.stem, str(path), builtin=False)


def _validate(module, name, source, builtin: bool = True) -> OperatorModule:
    op = getattr(module, "OPERATOR", None)
    if op is None:
        raise OperatorFileError(f"{source}: defines no OPERATOR (an evosym.Operator in its traditional form)")
    if not isinstance(op, Operator):
        raise OperatorFileError(f"{source}: OPERATOR is a {type(op).__name__}, not an evosym.Operator")
    derive = getattr(module, "derive", None)
    if derive is not None and not callable(derive):
        raise OperatorFileError(f"{source}: derive is a {type(derive).__name__}, not a function derive(d) naming the "
                                "proof's rules (leave it out to let the proof search find them)")
    if not isinstance(op.name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", op.name):
        # it names the generated files, functions and classes, and the kernels a generated module asks for
        raise OperatorFileError(f"{source}: the operator's name must be an identifier (letters, digits and _, "
                                f"not starting with a digit), not {op.name!r}")
    try:
        problems = declaration_problems(op)
    except Exception:   # declarations of the wrong kind altogether: the proof's own checks name them
        problems = []
    if problems:
        more = f" (and {len(problems) - 1} more: {'; '.join(problems[1:3])}{' …' if len(problems) > 3 else ''})" \
            if len(problems) > 1 else ""
        raise OperatorFileError(f"{source}: {problems[0]}{more}")
    return OperatorModule(op.name, source, op, derive, module, builtin)


def _where(exc: BaseException, source: str) -> str:
    """' (line N)' of the innermost frame in ``source``, if any."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == source]
    return f":{frames[-1].lineno}" if frames else ""
