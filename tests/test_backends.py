"""Backends are units: one registry (evosym/runtime/backends.py) that codegen, the CLI and the runtime read.

- the registry answers lookups and refuses unknown names with a clear error;
- backend names and suffixes live only in the registry: a scan of evosym's sources (ast, nothing imported) finds
  no suffix literal, no collection of backend names and no comparison of a ``target``/``backend`` with one
  anywhere else (device-type checks such as ``t.device.type == "cuda"`` are torch's device names, not backend
  names, and are not flagged);
- every registered backend renders a catalogue operator; the CLI's choices are the registry's;
- a fake backend — a folder in tmp_path plus one registry entry — is picked up by codegen, the template loader,
  the artifact and the CLI without touching any other file: "one folder plus one registration".
"""

from __future__ import annotations

import argparse
import ast
import json
import textwrap
import warnings
from pathlib import Path

import pytest

import evosym
from evosym.cli.main import build_parser
from evosym.codegen import backends as codegen_backends
from evosym.codegen.artifact import refusal
from evosym.codegen.generate import generate
from evosym.errors import EvosymError
from evosym.runtime import artifact as rt_artifact
from evosym.runtime import backends as registry

from cli_helpers import run_cli

ROOT = Path(evosym.__file__).resolve().parent
REGISTRY = "evosym/runtime/backends.py"
ALLOWED: set = set()   # (file, finding) pairs the scan may skip, each with its reason: none today


def _docstrings(tree) -> set:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                out.add(id(first.value))
    return out


def _ident(node) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def backend_literals(root: Path = ROOT) -> list:
    """(file, what) for each place outside the registry that spells out backends:

    - a string (not a docstring) that is, or ends with, a kernel backend's suffix (".cu", ".cpp", "kernels.cu");
    - a tuple, list or set with two or more backend or target names ("cpu", "cuda", "torch", "host", "emulated");
    - a dict with two or more of them as keys;
    - a comparison of one of them with a name or attribute called ``…target…`` or ``…backend…``.

    Allowed: comparisons with device types (``device == "cuda"``, ``t.device.type == "cuda"``: torch's
    device names, what a device check needs), one name in a message or a docstring, ``".py"`` (every file).
    """
    names = set(registry.names()) | {t.name for t in registry.targets()} | {t.runs_as for t in registry.targets()}
    suffixes = {b.suffix for b in registry.kernel_backends()}
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).as_posix()
        if rel == REGISTRY or "__pycache__" in path.parts:
            continue
        with warnings.catch_warnings():   # a source's own invalid escapes are not this test's business
            warnings.simplefilter("ignore")
            tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
                if any(node.value.endswith(s) for s in suffixes):
                    found.append((rel, f"suffix literal {node.value!r}", node.lineno))
            elif isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)):
                items = node.keys if isinstance(node, ast.Dict) else node.elts
                named = [e.value for e in items if isinstance(e, ast.Constant) and e.value in names]
                if len(named) >= 2:
                    found.append((rel, f"backend names {named}", node.lineno))
            elif isinstance(node, ast.Compare):
                sides = [node.left, *node.comparators]
                consts = [s.value for s in sides if isinstance(s, ast.Constant) and s.value in names]
                if consts and any("target" in _ident(s).lower() or "backend" in _ident(s).lower() for s in sides):
                    found.append((rel, f"compares a target/backend with {consts[0]!r}", node.lineno))
    return found


def test_the_registry_answers_and_refuses_unknown_names():
    assert registry.names() == ("torch", "cuda", "cpu")
    assert [b.name for b in registry.kernel_backends()] == ["cuda", "cpu"]   # the required one first
    assert {n: registry.get(n).suffix for n in registry.names()} == {"torch": ".py", "cuda": ".cu", "cpu": ".cpp"}
    assert registry.devices() == ("cpu", "cuda")
    assert registry.target_for("cpu").name == "cpu" and registry.target_for("cpu", "emulated").name == "host"
    assert registry.target_for("cuda").name == "cuda"
    assert registry.owner(registry.target("emulated")).name == "cuda"
    with pytest.raises(EvosymError, match="unknown target 'triton'; targets: torch, cuda, cpu"):
        registry.get("triton")
    with pytest.raises(EvosymError, match="backend 'cuda' does not run on cpu"):
        registry.target_for("cpu", "cuda")
    with pytest.raises(EvosymError, match="no generated kernels for device mps"):
        registry.target_for("mps")
    with pytest.raises(EvosymError, match="unknown target 'triton'"):
        generate("involution", "triton")


def test_the_scan_flags_what_it_should(tmp_path):
    pkg = tmp_path / "evosym"
    pkg.mkdir()
    (pkg / "bad.py").write_text(textwrap.dedent('''
        """A docstring may say kernels.cu."""
        SUFFIX = {"cpu": ".cpp", "cuda": ".cu"}
        def f(target, t, device):
            if t.device.type == "cuda" or device == "cpu":   # device types: allowed
                return ("cpu", "emulated")
            return target == "cuda"
    '''), encoding="utf-8")
    found = {what for _, what, _ in backend_literals(pkg)}
    assert found == {"suffix literal '.cpp'", "suffix literal '.cu'", "backend names ['cpu', 'cuda']",
                     "backend names ['cpu', 'emulated']", "compares a target/backend with 'cuda'"}


def test_backend_names_and_suffixes_live_only_in_the_registry():
    found = [f"{rel}:{line}: {what}" for rel, what, line in backend_literals() if (rel, what) not in ALLOWED]
    assert not found, "backend names or suffixes outside evosym/runtime/backends.py:\n" + "\n".join(found)


@pytest.mark.parametrize("name", registry.names())
def test_every_registered_backend_renders_a_catalogue_operator(name):
    gen = generate("involution", name)
    assert gen.filename == "involution" + registry.get(name).suffix and gen.source.endswith("\n")
    assert "involution" in gen.source.splitlines()[0]   # the banner names the operator


def test_the_cli_choices_are_the_registry():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    codegen = sub.choices["codegen"]
    target = next(a for a in codegen._actions if a.dest == "target")
    assert tuple(target.choices) == registry.names()
    for command in ("check", "bench"):
        device = next(a for a in sub.choices[command]._actions if a.dest == "device")
        assert tuple(device.choices) == registry.devices()


FAKE = '''
"""A fake kernel backend: its renderer and its template, nothing else."""
from evosym.codegen.render import environment

TEMPLATE = "fake/kernels.fake.j2"


def render(cp, plan, source=None):
    env = environment()
    tpl = env.from_string(source) if source is not None else env.get_template(TEMPLATE)
    return tpl.render(name=plan.name, dims=plan.dims).rstrip("\\n") + "\\n"
'''


def fake_backend_folder(backend) -> Path:
    import importlib
    return Path(importlib.import_module(backend.codegen).__file__).resolve().parent / "templates"


@pytest.fixture
def fake_backend(tmp_path, monkeypatch):
    """One folder (tmp_path/fake_backend/: renderer and templates/) plus one registry entry."""
    folder = tmp_path / "fake_backend"
    (folder / "templates").mkdir(parents=True)
    (folder / "__init__.py").write_text(FAKE, encoding="utf-8")
    (folder / "templates" / "kernels.fake.j2").write_text("// fake kernels of {{ name }}, {{ dims }} axes\n",
                                                          encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    backend = registry.Backend("fake", ".fake", "Fake", "fake kernels", "fake_backend", kernels=True)
    monkeypatch.setitem(registry.BACKENDS, "fake", backend)   # the one registration
    return backend


def test_a_new_backend_is_one_folder_plus_one_registration(fake_backend, capsys):
    gen = generate("involution", "fake")   # codegen: found through the registry, its template by the loader
    assert gen.filename == "involution.fake" and gen.source == "// fake kernels of involution, 2 axes\n"
    assert codegen_backends.template_folders()["fake"] == fake_backend_folder(fake_backend)
    module = generate("involution")   # the module's artifact carries the new kernel backend's source …
    files = module.files(kernels=True)
    assert files["involution.fake"] == gen.source and "involution.cu" in files and "involution.cpp" in files
    manifest = json.loads(files["involution.manifest.json"])
    assert manifest["sources"]["fake"]["file"] == "involution.fake" and manifest["fake_refusal"] == ""
    fields = rt_artifact.parse(files["involution.manifest.json"].encode(), "<test>")   # … which the runtime reads
    assert set(fields["sources"]) == {"cuda", "cpu", "fake"}
    rc, out, err = run_cli(capsys, "codegen", "involution", "--target", "fake")   # the CLI's choices
    assert rc == 0 and out == gen.source, err
    rc, out, err = run_cli(capsys, "codegen", "--help")
    assert "{torch,cuda,cpu,fake}" in out and "fake: fake kernels (NAME.fake)" in " ".join(out.split())


def test_a_backend_registered_twice_is_refused():
    with pytest.raises(EvosymError, match="registered already"):
        registry.register(registry.get("cpu"))


@pytest.mark.parametrize("name, cuda, cpu", [
    ("involution", "", ""),
    ("swin_attention", "", "Ω is a fixed tile"),             # the CPU target lowers affine, clamped and wrapping windows
    ("linear", "channels-first", "channels-first"),          # the required backend's refusal: no kernels at all
    ("mhsa", "every input position (global)", "every input position (global)"),
])
def test_what_a_backend_does_not_lower_is_read_from_the_artifact(name, cuda, cpu):
    """What the kernel tests skip, and why: the artifact's own record, not a hand list."""
    for backend, want in (("cuda", cuda), ("cpu", cpu)):
        why = refusal(name, backend)
        assert (want in why and why) if want else why == "", (backend, why)
    with pytest.raises(EvosymError, match="not a kernel backend"):
        refusal(name, "torch")
