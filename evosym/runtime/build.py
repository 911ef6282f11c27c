"""Compiling a generated kernel source into a cached shared library.

Three targets: ``cuda`` (the CUDA source, nvcc, for the current GPU's architecture), ``host`` (the
same CUDA source built by the system C++ compiler with ``evosym_emulate.h``: CUDA built-ins as
thread-local structs and a grid loop as the launcher; valid because the generated threads never
communicate; it is how CI runs the CUDA source) and ``cpu`` (the CPU kernels' C++ source, built
by the system C++ compiler with ``-O3 -march=native`` and OpenMP). Libraries are cached by a
SHA-256 of the source, the emulation header, the flags, the compiler's version, the architecture,
the CPU's features (for ``-march=native``: what the compiler resolves it to) and the torch/CUDA
versions, so a changed input never loads a stale build. Builds are written to a temporary file
and renamed into place (atomic). In a process started for it, host and CPU builds are sanitized
(AddressSanitizer and UBSan: :mod:`.sanitize`).
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import EvosymError
from .. import attach_source_packages
from . import sanitize

attach_source_packages()   # derivations/ and codegen/templates/ as subpackages in a source checkout

HOST_FLAGS = ("-O3", "-std=c++17", "-shared", "-fPIC", "-fopenmp", "-x", "c++")
# -ffp-contract=fast: fused multiply-adds (ISO C++ modes turn contraction off); the numeric check's
# rounding bound covers either rounding
CPU_FLAGS = ("-O3", "-march=native", "-ffp-contract=fast", "-std=c++17", "-shared", "-fPIC", "-fopenmp", "-x", "c++")
TARGETS = ("host", "cpu", "cuda")
CUDA_FLAGS = ("-O3", "-shared", "-Xcompiler", "-fPIC", "-std=c++17")


@dataclass(frozen=True)
class Library:
    path: Path
    target: str          # "host" (emulated CUDA source), "cpu" or "cuda"
    arch: str            # "sm_90", or "host" / "cpu"
    cached: bool         # loaded from the cache (no compilation)
    seconds: float       # time spent compiling (0 when cached)
    sanitized: bool = False   # built with AddressSanitizer and UBSan (runtime/sanitize.py)


def emulation_header() -> str:
    return resources.files("evosym.templates").joinpath("cuda/evosym_emulate.h").read_text(encoding="utf-8")


def cache_dir() -> Path:
    root = os.environ.get("EVOSYM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "evosym")
    return Path(root) / "kernels"


def compiler(target: str) -> str:
    """The compiler executable for ``target``, or a clear error when there is none."""
    cxx = os.environ.get("CXX") or "c++"
    name = {"host": cxx, "cpu": cxx, "cuda": "nvcc"}[target]
    path = shutil.which(name)
    if path is None:
        raise EvosymError(f"no {name!r} on PATH: the {target} kernels cannot be built here")
    return path


def _version(exe: str) -> str:
    try:
        return subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise EvosymError(f"{exe} --version failed: {exc}") from None


def _versions() -> str:
    try:
        import torch
        return f"torch {torch.__version__} cuda {torch.version.cuda}"
    except ImportError:  # pragma: no cover - torch is a dependency
        return "no torch"


@functools.lru_cache(maxsize=None)
def cpu_features(exe: str) -> str:
    """What ``-march=native`` means on this machine: the compiler's resolved target options (GCC),
    else the CPU's feature flags from /proc/cpuinfo, else the platform's processor name."""
    try:
        proc = subprocess.run([exe, "-march=native", "-Q", "--help=target"], capture_output=True, text=True, timeout=60)
        if proc.returncode == 0 and proc.stdout.strip():
            return proc.stdout
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = sorted({line for line in f if line.split(":")[0].strip() in ("flags", "Features", "model name")})
        if flags:
            return "".join(flags)
    except OSError:
        pass
    return f"{platform.machine()} {platform.processor()}"


def build(source: str, target: str, arch: str | None = None) -> Library:
    """The shared library for ``source`` (built now, or loaded from the cache)."""
    if target not in TARGETS:
        raise EvosymError(f"unknown kernel target {target!r} ({', '.join(TARGETS)})")
    exe = compiler(target)
    arch = arch or target
    header = emulation_header() if target == "host" else ""
    flags = {"host": HOST_FLAGS, "cpu": CPU_FLAGS}.get(target) or CUDA_FLAGS + (f"-arch={arch}",)
    sanitized = target != "cuda" and sanitize.requested()
    if sanitized:   # the sanitizers' flags instead of -O3 (runtime/sanitize.py)
        flags = sanitize.FLAGS + tuple(f for f in flags if not f.startswith("-O"))
    features = cpu_features(exe) if target == "cpu" else ""
    key = hashlib.sha256("\0".join([source, header, " ".join(flags), _version(exe), arch, features,
                                    _versions()]).encode()).hexdigest()
    folder = cache_dir() / key[:2]
    lib = folder / f"{key}.so"
    if lib.exists():
        return Library(lib, target, arch, True, 0.0, sanitized)
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="evosym-build-") as tmp:
        src = Path(tmp) / ("kernels.cu" if target == "cuda" else "kernels.cpp")   # host: a .cu built as C++
        src.write_text(source, encoding="utf-8")
        cmd = [exe, *flags]
        if target == "host":
            (Path(tmp) / "evosym_emulate.h").write_text(header, encoding="utf-8")
            cmd += ["-include", str(Path(tmp) / "evosym_emulate.h")]
        out = Path(tmp) / "lib.so"
        cmd += [str(src), "-o", str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise EvosymError(f"building the {target} kernels failed ({' '.join(cmd[:2])} …):\n{proc.stderr.strip()[-4000:]}")
        fd, partial = tempfile.mkstemp(dir=folder, suffix=".so.partial")
        os.close(fd)
        shutil.copyfile(out, partial)
        os.replace(partial, lib)
    return Library(lib, target, arch, False, time.perf_counter() - start, sanitized)


def cuda_archs(text: str) -> list[str]:
    """A comma-separated list of CUDA architectures (sm_80,sm_90), each checked, or a clear error."""
    archs = [a.strip() for a in text.split(",")]
    for arch in archs:
        if not re.fullmatch(r"sm_\d+a?", arch):
            raise EvosymError(f"not a CUDA architecture: {arch!r} (a comma-separated list such as sm_80,sm_90)")
    return archs


def ptxas_report(source: str, arch: str) -> dict:
    """{kernel: (registers, spill store bytes, spill load bytes)} from ``nvcc -Xptxas -v`` (compile only)."""
    if cuda_archs(arch) != [arch]:
        raise EvosymError(f"ptxas_report takes one CUDA architecture, not {arch!r}")
    exe = compiler("cuda")
    with tempfile.TemporaryDirectory(prefix="evosym-ptxas-") as tmp:
        src = Path(tmp) / "kernels.cu"
        src.write_text(source, encoding="utf-8")
        proc = subprocess.run([exe, "-O3", "-std=c++17", f"-arch={arch}", "-Xptxas", "-v", "-c", str(src),
                               "-o", str(Path(tmp) / "k.o")], capture_output=True, text=True)
    if proc.returncode != 0:
        raise EvosymError(f"nvcc failed for {arch}:\n{proc.stderr.strip()[-4000:]}")
    out, current, spills = {}, None, (0, 0)
    for line in proc.stderr.splitlines():
        m = re.search(r"Function properties for (\S+)", line)
        if m:
            current = m.group(1)
        m = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m:
            spills = (int(m.group(1)), int(m.group(2)))
        m = re.search(r"Used (\d+) registers", line)
        if m and current:
            name = re.search(r"evo_(attention_forward|attention_backward_query|attention_backward_kv|attention_backward_bias|forward_shared|forward|"
                             r"backward_input_shared|backward_input|backward_kernel_full|backward_kernel)_f(32|64)(ILi(\d+)E)?", current)
            label = (name.group(0).split("ILi")[0] + (f"<{name.group(4)}>" if name.group(4) else "")) if name else current
            out[label] = (int(m.group(1)),) + spills
            current, spills = None, (0, 0)
    return dict(sorted(out.items()))
