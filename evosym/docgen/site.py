"""``evosym docs``: every generated page of ``docs/``, written atomically or compared (``--check``).

The generated files are the catalogue index, the concepts page, the rules reference, the
executed tutorial, and per operator a page and a connectivity picture. ``--check`` regenerates
them in memory and reports every file that is missing, differs, or is a stale leftover (a
generated page of an operator that no longer exists); CI fails on any of them. Hand-written pages
in the same folder are never touched: a file is a generated one only if it carries the marker.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .. import catalogue
from ..analysis.report import cost_of, properties_of
from ..errors import EvosymError
from .pages import MARK, OperatorDoc, catalogue_page, operator_page
from .svg import SVG_MARK



def _code(cp, name: str) -> tuple:
    """(target, link from docs/operators/, lowering) for each target that lowers the operator."""
    from ..codegen.generate import TARGETS, generate_checked
    from ..runtime.backends import get
    out, committed = [], ()
    for target in TARGETS:
        try:
            gen = generate_checked(cp, target)
        except EvosymError:
            continue       # e.g. the CUDA target refuses a channels-last layout
        if not get(target).kernels:   # the module, and the kernel sources committed next to it where it runs them
            committed = tuple(gen.files())
            out.append((target, f"../../codegen/torch/{gen.filename}", f"lowering {gen.plan.path}"))
        elif gen.filename in committed:
            out.append((target, f"../../codegen/torch/{gen.filename}", "part of the module's kernel artifact"))
        else:
            out.append((target, None, f"not committed: `evosym codegen {name} --target {target}` writes it"))
    return tuple(out)


def _check(name: str, cp, report=None):
    from ..codegen.check import check_operator
    try:
        return (report(name) if report is not None else check_operator(name, checked=cp)), ""
    except EvosymError as exc:
        return None, str(exc)


def operator_doc(name: str, *, numeric: bool = True, progress=None, report=None) -> tuple[OperatorDoc, str | None]:
    """Everything one operator's page shows, and its SVG picture (None when it cannot be drawn).
    ``report``: name → the numeric check's report with ``check_operator``'s defaults, when the caller
    already has it (the test suite shares one per operator); by default it is run here."""
    from .connectivity import connectivity
    from .svg import render_svg
    cp = catalogue.checked(name)
    if progress:
        progress(f"{name}: proved; analysing, generating code and checking it")
    props = properties_of(cp) if cp.ok else None
    if props is None:
        raise EvosymError(f"{name}: the proof does not check, so its page cannot be generated")
    report, why = _check(name, cp, report) if numeric else (None, "not run (--no-check)")
    svg, picture_error = None, ""
    try:
        svg = render_svg(connectivity(cp), [f"{p.name}: {p.value}" for p in props.items])
    except EvosymError as exc:
        picture_error = str(exc)
    doc = OperatorDoc(cp, props, cost_of(cp), report, why, _code(cp, name), f"{name}.svg" if svg else None,
                      picture_error)
    return doc, svg


def generate_docs(*, progress=None, report=None) -> dict[str, str]:
    """Relative path (under docs/) → content of every generated file (``report``: see operator_doc)."""
    from .concepts import concepts_page
    from .rules_page import rules_page
    from .tutorial import tutorial_page
    files, docs = {}, []
    pool = ThreadPoolExecutor(max_workers=1)   # the tutorial's commands are child processes: they run meanwhile
    tutorial = pool.submit(tutorial_page)
    try:
        _operator_pages(files, docs, progress, report)
    finally:
        pool.shutdown(wait=True)
    checked = [d.cp for d in docs]
    files["catalogue.md"] = catalogue_page(docs)
    files["rules.md"] = rules_page(checked)
    files["concepts.md"] = concepts_page(checked, {d.name: d.props for d in docs})
    if progress:
        progress("tutorial: its commands' output")
    files["tutorial.md"] = tutorial.result()
    return dict(sorted(files.items()))


def _operator_pages(files: dict, docs: list, progress, report) -> None:
    """Each catalogue operator's page (and connectivity picture) into ``files``, its doc into ``docs``."""
    for name in catalogue.catalogue_names():
        doc, svg = operator_doc(name, progress=progress, report=report)
        docs.append(doc)
        files[f"operators/{name}.md"] = operator_page(doc)
        if svg:
            files[f"operators/{name}.svg"] = svg


def _generated(path: Path) -> bool:
    try:
        head = path.read_text(encoding="utf-8")[:400]
    except (OSError, UnicodeDecodeError):
        return False
    return MARK in head or SVG_MARK in head


def _unchanged(path: Path, text: str) -> bool:
    """Whether ``path`` is a regular file (or a link to one) that holds ``text`` (not UTF-8, unreadable: it differs)."""
    try:
        return path.is_file() and path.read_text(encoding="utf-8") == text
    except (OSError, UnicodeDecodeError):
        return False


def compare(files: dict[str, str], root: Path) -> list[str]:
    """One line per generated file under ``root`` that is missing, differs, or is a leftover."""
    problems = []
    for rel, text in files.items():
        path = root / rel
        if not path.is_file():
            problems.append(f"missing: {path}")
        elif not _unchanged(path, text):
            problems.append(f"stale:   {path}")
    ops = root / "operators"
    if ops.is_dir():
        for path in sorted(ops.iterdir()):
            if f"operators/{path.name}" not in files and _generated(path):
                problems.append(f"leftover: {path} (generated for an operator that is no longer in the catalogue)")
    return problems


def write_docs(files: dict[str, str], root: Path, *, force: bool) -> list[Path]:
    """Write the files that changed, all or none; refuse (before writing anything) to replace anything without
    ``force`` (a dangling link too: it was replaced without --force; an adversarial pass), and an ``operators``
    folder that is a link (the pages went where it led)."""
    from ..files import write_all
    from ..targets import folder_inside
    ops = root / "operators"
    had = folder_inside(ops, "the operator pages", "documentation folder")
    changed = [rel for rel, text in files.items() if not _unchanged(root / rel, text)]
    existing = [str(root / rel) for rel in changed if os.path.lexists(root / rel)]
    if existing and not force:
        shown = ", ".join(existing[:5]) + (f" and {len(existing) - 5} more" if len(existing) > 5 else "")
        raise EvosymError(f"{len(existing)} generated file(s) would change ({shown}); use --force to overwrite them")
    made = not had and any(rel.startswith("operators/") for rel in changed)
    try:
        if made:
            ops.mkdir()
        return write_all([(root / rel, files[rel]) for rel in changed], force=force)
    except BaseException:
        if made:
            try:
                ops.rmdir()   # (only while empty)
            except OSError:
                pass
        raise


def progress_to_stderr(message: str) -> None:
    print(f"evosym docs: {message}", file=sys.stderr, flush=True)
