"""The package's own import graph (read with ast, nothing imported): the layering holds.

- The runtime is the lowest layer: it imports the standard library, torch and itself only (and
  evosym's error type where evosym is installed), never the prover, the catalogue or the code
  generator — a generated module runs its kernels without them (``evosym codegen --standalone``).
- No import cycle between evosym's packages (``evosym.proof``, ``evosym.printers``, …; a top-level
  module such as ``evosym.catalogue`` is a package of its own): data flows one way.

Every import counts, also one inside a function: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

import evosym

ROOT = Path(evosym.__file__).resolve().parent
EXPORTS = evosym._EXPORTS   # `from evosym import Operator`: the name's own module


def _module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    package = parts[-1] == "__init__"
    return ".".join(parts[:-1] if package else parts), package


def _targets(node, module: str, package: bool) -> list[str]:
    """The evosym modules an import statement reads (``from X import y``: X.y where y is a submodule)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level:
        base = module.split(".")[: len(module.split(".")) - node.level + (1 if package else 0)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    out = [source]
    for alias in node.names:
        if source == "evosym" and alias.name in EXPORTS:
            out.append(f"evosym.{EXPORTS[alias.name]}")
        elif (ROOT.parent / Path(*f"{source}.{alias.name}".split("."))).exists() or \
                (ROOT.parent / Path(*f"{source}.{alias.name}".split("."))).with_suffix(".py").exists():
            out.append(f"{source}.{alias.name}")
    return out


def imports() -> dict:
    """module → set of (imported module, line) for every import statement in evosym's sources."""
    graph = defaultdict(set)
    for path in sorted(ROOT.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        module, package = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _targets(node, module, package):
                    graph[module].add((target, node.lineno))
    return graph


def _package(module: str) -> str | None:
    """evosym.X.… → X; the root package itself (a lazy facade) and other libraries → None."""
    parts = module.split(".")
    return parts[1] if parts[0] == "evosym" and len(parts) > 1 else None


def test_the_runtime_imports_only_the_standard_library_torch_and_itself():
    allowed_third_party = {"torch"}
    bad = []
    for module, targets in imports().items():
        if _package(module) != "runtime":
            continue
        for target, line in targets:
            top = target.split(".")[0]
            if top == "evosym":
                if _package(target) not in ("runtime", "errors", None) or target == "evosym" and module != "evosym.runtime.errors":
                    bad.append(f"{module}:{line} imports {target}")
            elif top and top not in sys.stdlib_module_names and top not in allowed_third_party and top != "__future__":
                bad.append(f"{module}:{line} imports {target}")
    for path in sorted((ROOT / "runtime").glob("*.py")):   # an import by name would hide from the check above
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and (getattr(node.func, "attr", None) in ("import_module", "find_spec")
                                               or getattr(node.func, "id", None) == "__import__"):
                bad.append(f"evosym/runtime/{path.name}:{node.lineno} imports by name")
    assert not bad, "the runtime must stand alone:\n" + "\n".join(sorted(bad))


def test_the_standalone_runtime_reads_evosyms_error_type_only_in_a_guarded_import():
    source = (ROOT / "runtime" / "errors.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    guarded = [n for n in ast.walk(tree) if isinstance(n, ast.Try)
               and any(isinstance(s, ast.ImportFrom) and s.level == 2 for s in n.body)
               and any(h.type is not None and getattr(h.type, "id", "") == "ImportError" for h in n.handlers)]
    assert guarded, "runtime/errors.py must fall back to its own EvosymError where evosym is not installed"


def _tangles(edges: dict) -> list[list[str]]:
    """The strongly connected components with more than one package (Tarjan): each holds a cycle."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(set(edges) | {w for ws in edges.values() for w in ws}):
        if v not in index:
            visit(v)
    return sorted(out)


def package_edges() -> tuple[dict, dict]:
    edges, why = defaultdict(set), {}
    for module, targets in imports().items():
        a = _package(module)
        for target, line in targets:
            b = _package(target)
            if a and b and a != b and (ROOT / b).exists() | (ROOT / f"{b}.py").exists():
                edges[a].add(b)
                why.setdefault((a, b), f"{module}:{line} imports {target}")
    return edges, why


def test_no_import_cycle_between_packages():
    edges, why = package_edges()
    tangles = _tangles(edges)
    text = "\n".join(", ".join(t) + ":\n    " + "\n    ".join(why[(a, b)] for a in t for b in t if (a, b) in why)
                     for t in tangles)
    assert not tangles, f"import cycles between evosym's packages (each group imports itself round):\n{text}"


def test_the_checker_finds_a_planted_cycle_and_a_runtime_import():
    """The checks above can fail: a two-package cycle and a longer one are found."""
    assert _tangles({"a": {"b"}, "b": {"a"}}) == [["a", "b"]]
    assert _tangles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _tangles({"a": {"b"}, "b": {"c"}, "d": {"e"}, "e": {"d"}}) == [["d", "e"]]
    assert _tangles({"a": {"b"}, "b": {"c"}}) == []
    tree = ast.parse("from ..codegen.plan import make_plan\nfrom .. import catalogue\n")
    got = [t for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for t in _targets(n, "evosym.runtime.x", False)]
    assert "evosym.codegen.plan" in got and "evosym.catalogue" in got
