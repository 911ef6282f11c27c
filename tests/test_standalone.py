"""Generated code stands alone: a module with its artifact runs its compiled kernels without the prover.

- In a fresh process with evosym installed, the committed involution and local_attention modules
  take their kernel path without importing evosym's prover, catalogue, search, IR or code generator
  (the runtime reads the manifest next to the module; nothing is proved again).
- In a fresh virtual environment that holds torch (and what torch itself needs) but not evosym,
  ``evosym codegen involution --standalone`` output runs its compiled CPU kernels through the copied
  runtime, and equals the generic path.
- The runtime refuses an artifact that was not generated with the module (edited module, manifest
  or source; a missing manifest) with one clear error each.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from cli_helpers import run_cli
from evosym.codegen.generate import committed_dir
from evosym.errors import EvosymError

CXX = shutil.which(os.environ.get("CXX") or "c++") is not None
needs_cxx = pytest.mark.skipif(not CXX, reason="no C++ compiler: the CPU kernels are not built here")
PROVER = ("proof", "catalogue", "codegen", "ir", "search", "analysis", "printers", "isolation", "proofcache", "derivations")

COLD = r"""
import importlib.util, json, sys, time, warnings
warnings.filterwarnings("error", message=".*kernels unavailable")   # a fallback to the generic path: fail
path, cls, kwargs, shape = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
spec = importlib.util.spec_from_file_location("generated_under_test", path)
m = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = m
spec.loader.exec_module(m)
import torch
torch.manual_seed(0)
layer = getattr(m, cls)(**kwargs).double()
x = torch.randn(*shape, dtype=torch.float64)
t0 = time.perf_counter(); y = layer(x, path="kernels"); t1 = time.perf_counter()
y2 = layer(x); t2 = time.perf_counter()     # "auto": the kernels too, where the default path runs them
ok = torch.allclose(y, layer(x, path="generic"), rtol=1e-10, atol=1e-12) and torch.equal(y, y2)
key = m._key()
lib = m._rt.library_info(key, "cpu")
loaded = sorted(n for n in sys.modules if n.startswith("evosym.") and n.split(".")[1] in PROVER)
print(json.dumps({"ok": ok, "runtime": m._rt.__name__, "key": key, "library": str(lib.path), "cold_s": t1 - t0,
                  "warm_s": t2 - t1, "prover_modules": loaded,
                  "evosym_installed": importlib.util.find_spec("evosym") is not None}))
""".replace("PROVER", repr(PROVER))


def _run(python, module, cls, kwargs, shape, env=None):
    proc = subprocess.run([python, "-c", COLD, str(module), cls, json.dumps(kwargs), json.dumps(shape)],
                          capture_output=True, text=True, timeout=600, env=env, cwd=Path(module).parent.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@needs_cxx
@pytest.mark.parametrize("name, cls, kwargs, shape", [
    ("involution", "InvolutionEvolution", dict(G=2, C_g=2, D=2, R=1, s=1), (2, 4, 6, 5)),
    ("local_attention", "LocalAttentionEvolution", dict(N=2, d=2, R=1), (2, 4, 5, 6)),
])
def test_a_committed_module_runs_its_kernels_without_the_prover(name, cls, kwargs, shape):
    module = committed_dir() / f"{name}.py"
    got = _run(sys.executable, module, cls, kwargs, shape)
    assert got["ok"] and got["runtime"] == "evosym.runtime.api" and got["key"].startswith(f"{name}@")
    assert got["prover_modules"] == [], f"the kernel path imported {got['prover_modules']}"


def _torch_only_venv(folder: Path) -> Path:
    """A virtual environment whose site-packages holds torch and the distributions torch requires (links to
    this interpreter's installed copies: nothing downloaded), and nothing else — no evosym."""
    venv.EnvBuilder(with_pip=False, symlinks=True).create(folder)
    site = next(folder.glob("lib/python*/site-packages"))
    wanted, seen = ["torch"], set()
    while wanted:
        dist_name = wanted.pop()
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError:
            continue
        if dist.metadata["Name"].lower() in seen:
            continue
        seen.add(dist.metadata["Name"].lower())
        for req in dist.requires or ():
            if "extra ==" not in req:
                wanted.append(req.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0].split("!")[0]
                              .split("~")[0].strip())
        tops = {str(f).split("/")[0] for f in dist.files or () if not str(f).startswith("..")}
        for top in tops:
            src = Path(dist.locate_file(top))
            if top.endswith(".dist-info") or top == "__pycache__" or not src.exists() or (site / top).exists():
                continue
            if src.is_dir() or src.suffix in (".py", ".so", ".pth"):
                (site / top).symlink_to(src)
    assert "evosym" not in seen and not (site / "evosym").exists()
    return folder / "bin" / "python"


@needs_cxx
def test_a_standalone_artifact_runs_its_kernels_in_a_torch_only_environment(tmp_path, capsys):
    out = tmp_path / "deploy"
    out.mkdir()
    rc, _, err = run_cli(capsys, "codegen", "involution", "--output", str(out), "--standalone")
    assert rc == 0, err
    assert {p.name for p in out.iterdir()} >= {"involution.py", "involution.manifest.json", "involution.cpp",
                                                "involution.cu", "evosym_runtime"}
    python = _torch_only_venv(tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["EVOSYM_CACHE"] = str(tmp_path / "cache")   # a cold kernel cache: the library is compiled here
    got = _run(str(python), out / "involution.py", "InvolutionEvolution", dict(G=2, C_g=2, D=2, R=1, s=1),
               (2, 4, 6, 5), env=env)
    assert not got["evosym_installed"], "the environment must not have evosym"
    assert got["ok"] and got["runtime"] == "evosym_runtime.api"
    assert got["library"].startswith(str(tmp_path / "cache")), got["library"]   # compiled kernels ran


def test_the_standalone_runtime_carries_every_kernel_header(tmp_path, capsys):
    """A generated source includes the runtime's kernel headers: the vendored runtime has all of them, byte for
    byte, and its build compiles with its own copy (its INCLUDE is the copy's include folder)."""
    from evosym.codegen.standalone import FOLDER, runtime_files
    from evosym.runtime.build import INCLUDE
    files = runtime_files()
    headers = sorted(p.name for p in INCLUDE.iterdir() if p.suffix == ".h")
    assert {"evosym_index.h", "evosym_axes.h", "evosym_cpu_window.h", "evosym_cuda_window.h",
            "evosym_cuda_attention.h", "evosym_emulate.h"} <= set(headers)
    for name in headers:
        assert files[f"{FOLDER}/include/{name}"] == (INCLUDE / name).read_text(encoding="utf-8")
    out = tmp_path / "deploy"
    out.mkdir()
    rc, _, err = run_cli(capsys, "codegen", "local_attention", "--output", str(out), "--standalone")
    assert rc == 0, err
    included = set()
    for source in [out / "local_attention.cpp", out / "local_attention.cu"] + sorted((out / FOLDER / "include").iterdir()):
        included |= set(re.findall(r'^#include "([^"]+)"', source.read_text(encoding="utf-8"), re.M))
    assert included and all((out / FOLDER / "include" / name).is_file() for name in included), included
    assert 'INCLUDE = Path(__file__).resolve().parent / "include"' in (out / FOLDER / "build.py").read_text()


@pytest.fixture
def artifact(tmp_path, capsys):
    out = tmp_path / "a"
    out.mkdir()
    rc, _, err = run_cli(capsys, "codegen", "involution", "--output", str(out))
    assert rc == 0, err
    return out


def _load_fresh(module_path):
    from evosym.runtime import artifact as rt
    rt._LOADED.pop(str(module_path), None)
    return rt.load(module_path, "involution")


@pytest.mark.parametrize("edit", ["module", "manifest-field", "source", "missing-manifest", "missing-source",
                                  "wrong-operator", "not-json", "bad-expression", "path-in-source", "duplicate-key",
                                  "float-bound", "operation-as-size", "power-tower", "deep-json", "fifo-manifest",
                                  "device-source"])
def test_an_artifact_not_generated_together_is_refused(artifact, edit):
    module, manifest = artifact / "involution.py", artifact / "involution.manifest.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    if edit == "module":
        module.write_text(module.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
        want = "not generated with involution.py"
    elif edit == "manifest-field":
        data["lengths_out"] = ["W", "H"]
        manifest.write_text(json.dumps(data), encoding="utf-8")
        want = None   # a changed manifest still names the module's hash: its sources and fields must be consistent
    elif edit == "source":
        (artifact / "involution.cpp").write_text("// edited\n", encoding="utf-8")
        want = "does not match the manifest's SHA-256"
    elif edit == "missing-manifest":
        manifest.unlink()
        want = "no kernel artifact next to .*involution.py"
    elif edit == "missing-source":
        (artifact / "involution.cu").unlink()
        want = "cannot read the cuda kernel source"
    elif edit == "wrong-operator":
        data["operator"] = "conv2d"
        manifest.write_text(json.dumps(data), encoding="utf-8")
        want = "manifest of 'conv2d', not of 'involution'"
    elif edit == "not-json":
        manifest.write_text("{", encoding="utf-8")
        want = "not a kernel manifest"
    elif edit == "bad-expression":
        data["taps"] = [["exec", "R"], 1]
        manifest.write_text(json.dumps(data), encoding="utf-8")
        want = "unknown operation 'exec'"
    elif edit == "path-in-source":
        data["sources"]["cpu"]["file"] = "../involution.cpp"
        manifest.write_text(json.dumps(data), encoding="utf-8")
        want = "must be a file name in its own folder"
    elif edit == "duplicate-key":   # a reader sees the first "dims", JSON parsers keep the last
        manifest.write_text(manifest.read_text(encoding="utf-8").replace('"dims": 2,', '"dims": 2, "dims": 1,'),
                            encoding="utf-8")
        want = "given twice"
    elif edit == "float-bound":
        data["sizes"][1][1] = 1.0
        manifest.write_text(json.dumps(data), encoding="utf-8")
        want = "pairs"
    elif edit == "operation-as-size":
        data["sizes"][1][0] = "add"
        manifest.write_text(json.dumps(data), encoding="utf-8")
        want = "pairs"
    elif edit == "power-tower":   # evaluating it would take forever: refused when read
        tower = "R"
        for _ in range(8):
            tower = ["pow", ["add", tower, 1], 8]
        data["taps"] = [tower, tower]
        manifest.write_text(json.dumps(data), encoding="utf-8")
        want = "powers of powers too high"
    elif edit == "deep-json":
        manifest.write_text('{"schema": ' + "[" * 100000 + "]" * 100000 + "}", encoding="utf-8")
        want = "not a kernel manifest"
    elif edit == "fifo-manifest":   # never waited on
        manifest.unlink()
        os.mkfifo(manifest)
        want = "is not a regular file"
    else:   # a source that is a device: never read without end
        (artifact / "involution.cu").unlink()
        (artifact / "involution.cu").symlink_to("/dev/zero")
        want = "is not a regular file"
    if want is None:
        _load_fresh(module)   # accepted: the manifest is data the user may regenerate; its fields are validated
        return
    with pytest.raises(EvosymError, match=want.replace("(", r"\(").replace(")", r"\)")):
        _load_fresh(module)


def test_size_expressions_are_exact_and_refuse_what_is_not_a_length():
    from evosym.runtime import sizeexpr
    names = frozenset({"H", "K", "s"})
    out = ["add", ["floor", ["mul", ["add", "H", ["mul", -1, "K"]], ["pow", "s", -1]]], 1]
    sizeexpr.validate(out, names, "t")
    assert sizeexpr.integer(out, {"H": 7, "K": 3, "s": 2}) == 3
    assert sizeexpr.integer(["mod", -3, 4], {}) == 1 and sizeexpr.integer(["ceil", ["mul", 7, ["pow", 2, -1]]], {}) == 4
    with pytest.raises(ValueError, match="is not an integer"):
        sizeexpr.integer(["mul", "H", ["pow", 2, -1]], {"H": 7})
    with pytest.raises(ValueError, match="division by zero"):
        sizeexpr.integer(["pow", "s", -1], {"s": 0})
    for bad in (1.5, True, ["add"], ["pow", "H", 99], ["pow", "H", "K"], "Q", ["lambda", 1], [1, 2], {"a": 1},
                ["add", ["add", ["add", ["add"]]]]):
        with pytest.raises(EvosymError):
            sizeexpr.validate(bad, names, "t")
    deep = "H"
    for _ in range(100):
        deep = ["add", deep]
    with pytest.raises(EvosymError, match="nested too deeply"):
        sizeexpr.validate(deep, names, "t")


@needs_cxx
def test_an_edited_manifest_cannot_size_a_tensor_past_the_kernels(tmp_path, capsys):
    """convolve_same's kernel tensor has no output axis, so only the kernels themselves know the output
    length: a manifest claiming another is refused before any launch (it once overran the heap)."""
    import importlib.util

    import torch

    out = tmp_path / "cs"
    out.mkdir()
    rc, _, err = run_cli(capsys, "codegen", "convolve_same", "--output", str(out), "--kernels")   # (its default path
    # is a native convolution: the artifact only on request)
    assert rc == 0, err
    manifest = out / "convolve_same.manifest.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    for lie in ([1], [["add", "L", 2]]):
        data["lengths_out"] = lie
        manifest.write_text(json.dumps(data), encoding="utf-8")
        spec = importlib.util.spec_from_file_location(f"cs_{len(str(lie))}", out / "convolve_same.py")
        m = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(m)
        layer = m.ConvolveSameEvolution(C=3, K=3).double()
        with pytest.raises(EvosymError, match="not its kernels' own"):
            layer(torch.randn(2, 3, 20, dtype=torch.float64), path="kernels")


def test_a_reloaded_module_reads_a_changed_artifact_and_a_crlf_module_is_the_same(artifact):
    from evosym.runtime import artifact as rt
    module = artifact / "involution.py"
    key = rt.load(module, "involution")
    assert rt.load(module, "involution") == key                      # unchanged: not read again
    manifest = artifact / "involution.manifest.json"
    manifest.write_text(manifest.read_text(encoding="utf-8").replace('"dims": 2', '"dims": 3'), encoding="utf-8")
    with pytest.raises(EvosymError):                                  # changed: read and refused again
        rt.load(module, "involution")
    manifest.write_text(manifest.read_text(encoding="utf-8").replace('"dims": 3', '"dims": 2'), encoding="utf-8")
    module.write_bytes(module.read_bytes().replace(b"\n", b"\r\n"))  # a checkout that writes CRLF
    assert rt.load(module, "involution") == key


def test_a_module_run_from_a_string_uses_its_own_registration_not_the_operator_name():
    """Two artifacts of one operator name in a process: a module run from a string uses the key its runner
    registered (``__evosym_key__``), whatever the name was re-pointed to since."""
    from evosym import catalogue
    from evosym.codegen.artifact import register_checked
    from evosym.codegen.check import load_source
    from evosym.codegen.plan import make_plan
    from evosym.codegen.render import render_torch
    from evosym.runtime import artifact as rt
    cp = catalogue.checked("involution")
    module = load_source(render_torch(make_plan(cp), cp.operator.torch_binding), "involution", cp)
    key = module.__evosym_key__
    assert key and module._key() == key
    other = rt.register(_manifest(), {"cuda": "// x\n"}, alias="involution")
    assert rt.kernels("involution").key == other != key
    assert module._key() == key
    register_checked(cp)   # restore the name for later tests


def _manifest(sources=None, cpu_refusal="none here") -> bytes:
    """A minimal manifest of an involution artifact (by default: a CUDA source "// x", no CPU source, with its reason)."""
    import hashlib
    import json
    if sources is None:
        sources = {"cuda": {"file": "involution.cu", "sha256": hashlib.sha256(b"// x\n").hexdigest()}}
    return json.dumps({"schema": "evosym-kernels/1", "operator": "involution", "ident": "involution",
                       "sizes": [["B", 0]], "batch": "B", "dims": 1, "channel_map": [1, 1, 1, 1], "lengths_in": [1],
                       "lengths_out": [1], "taps": [1], "attention": False, "cpu_refusal": cpu_refusal,
                       "module_sha256": "0" * 64, "sources": sources}).encode()


def test_an_inconsistent_manifest_is_refused():
    """No CUDA source (every artifact has one), a CPU source and a reason it has none (or neither), and a source
    file of another backend's kind (cpu and cuda entries swapped with their hashes) are each refused clearly."""
    import hashlib

    from evosym.errors import EvosymError
    from evosym.runtime import artifact as rt
    sha = hashlib.sha256(b"// x\n").hexdigest()
    cuda, cpu = {"file": "involution.cu", "sha256": sha}, {"file": "involution.cpp", "sha256": sha}
    cases = [(_manifest({}), "names no CUDA source"),
             (_manifest({"cpu": cpu}), "names no CUDA source"),
             (_manifest({"cuda": cuda, "cpu": cpu}), "not both"),
             (_manifest({"cuda": cuda}, cpu_refusal=""), "not neither"),
             (_manifest({"cuda": {"file": "involution.cpp", "sha256": sha}, "cpu": {"file": "involution.cu", "sha256": sha}},
                        cpu_refusal=""), "is not a .cu file"),
             (_manifest({"cuda": {"file": "involution.cpp", "sha256": sha}}), "is not a .cu file")]
    for manifest, match in cases:
        with pytest.raises(EvosymError, match=match):
            rt.register(manifest, {"cuda": "// x\n", "cpu": "// x\n"})


@needs_cxx
def test_the_public_backward_ops_validate_their_operands():
    import torch

    from evosym.codegen.artifact import kernels_for
    key = kernels_for("involution").key
    kt = torch.randn(1, 2, 1, 1, 3, 3, 1, 1)
    for op in (torch.ops.evosym.aggregate_backward_input, ):
        with pytest.raises(ValueError, match="dy must be"):
            op(key, kt, torch.randn(1), [2, 2, 2, 2, 600, 500, 1, 1], "cpu")
    with pytest.raises(ValueError):
        torch.ops.evosym.aggregate_backward_kernel(key, torch.randn(1), torch.randn(1), kt, [2, 2, 2, 2, 600, 500, 1, 1],
                                                   "cpu")


def test_standalone_output_refuses_a_file_where_the_runtime_folder_goes_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "evosym_runtime").write_text("mine", encoding="utf-8")
    rc, _, err = run_cli(capsys, "codegen", "involution", "--output", str(out), "--standalone")
    assert rc == 2 and "is not a folder" in err
    assert sorted(p.name for p in out.iterdir()) == ["evosym_runtime"]
