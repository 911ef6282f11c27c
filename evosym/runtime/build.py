"""Compiling a generated kernel source into a cached shared library.

The targets are registered in :mod:`.backends` (with their compilers and flags): ``cuda`` (the CUDA
source, nvcc, for the current GPU's architecture), ``host`` (the same CUDA source built by the
system C++ compiler with ``evosym_emulate.h``: CUDA built-ins as thread-local structs and a grid
loop as the launcher; valid because the generated threads never communicate; it is how CI runs the
CUDA source) and ``cpu`` (the CPU kernels' C++ source, built
by the system C++ compiler with ``-O3 -march=native`` and OpenMP). A generated source holds only what
differs per operator and includes the runtime's kernel headers (``include/``: the kernels themselves,
written once); every build compiles with those headers on its include path. Libraries are cached by a
SHA-256 of the source, the name and text of every header in ``include/`` (any of them can be
included, so a changed header always rebuilds), the flags, the compiler's version, the architecture,
the CPU's features (for ``-march=native``: what the compiler resolves it to) and the torch/CUDA
versions, so a changed input never loads a stale build. The headers are read once per build: the
text that is hashed is the text that is compiled (copied into the build's private workspace). In a
process started for it, host and CPU builds are sanitized (AddressSanitizer and UBSan: :mod:`.sanitize`).

The cache heals and can be shared (:mod:`.cache`, :mod:`.lock`): an entry is returned only when its
bytes match the size and SHA-256 recorded when it was built (checked before anything loads it, since
loading a truncated library kills the interpreter), else it is rebuilt; a build holds a lock per key,
so concurrent first uses compile once; a new library is load-tested in a child process (a library
that crashes or does not link cannot take this process down) and only one that loads is published.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from .errors import EvosymError
from . import backends, cache, lock, sanitize
from .backends import CPU_FLAGS, CUDA_FLAGS, HOST_FLAGS  # noqa: F401 - each target's flags, named where they live

TARGETS = tuple(t.name for t in backends.targets())   # the registry's (runtime/backends.py): "cpu", "cuda", "host"


@dataclass(frozen=True)
class Library:
    path: Path
    target: str          # a registered target (runtime/backends.py): "host" (emulated CUDA source), "cpu" or "cuda"
    arch: str            # "sm_90", or the target's name ("host" / "cpu")
    cached: bool         # loaded from the cache (no compilation)
    seconds: float       # time spent compiling (0 when cached)
    sanitized: bool = False   # built with AddressSanitizer and UBSan (runtime/sanitize.py)
    rebuilt: str = ""         # why a cached library was rebuilt (it was corrupt or stale), if it was


INCLUDE = Path(__file__).resolve().parent / "include"   # the runtime's headers: the kernels, the host build's emulation
EMULATION = "evosym_emulate.h"


def emulation_header() -> str:
    return (INCLUDE / EMULATION).read_text(encoding="utf-8")


def headers() -> dict:
    """name → text of every header in the runtime's include folder, sorted by name: what a generated source
    can include (a missing or unreadable folder is a clear error: the kernels cannot be built without it)."""
    try:
        paths = sorted(p for p in INCLUDE.iterdir() if p.is_file() and p.suffix == ".h")
        texts = {p.name: p.read_text(encoding="utf-8") for p in paths}
    except (OSError, UnicodeDecodeError) as exc:
        raise EvosymError(f"cannot read the kernel headers in {INCLUDE}: {getattr(exc, 'strerror', None) or exc}") from None
    if EMULATION not in texts:
        raise EvosymError(f"the kernel headers in {INCLUDE} are incomplete: {EMULATION} is missing")
    return texts


_INCLUDE_LINE = re.compile(r'^[ \t]*#[ \t]*include[ \t]+"(evosym_[A-Za-z0-9_]+\.h)"[ \t]*$', re.M)


def inline_headers(source: str) -> str:
    """``source`` with each ``#include "evosym_….h"`` of a runtime header replaced by that header's text
    (recursively, each header once): one self-contained text that builds like the source. Tests mutate it
    to show that the numeric checks catch a wrong kernel body, wherever the body lives."""
    texts, seen = headers(), set()

    def paste(m):
        name = m.group(1)
        if name not in texts:
            raise EvosymError(f"the source includes {name}, which is not a runtime header ({INCLUDE})")
        if name in seen:
            return f"// {name}: already included above"
        seen.add(name)
        return f"// ---- {name} ----\n" + _INCLUDE_LINE.sub(paste, texts[name]).rstrip("\n")

    return _INCLUDE_LINE.sub(paste, source)


def headers_digest(texts: dict) -> str:
    """The part of a cache key that stands for the headers: each name and text, in name order."""
    return "\0".join(f"{name}\0{text}" for name, text in sorted(texts.items()))


def cache_dir() -> Path:
    """The kernel cache in use: ``$EVOSYM_CACHE/kernels`` (default ``~/.cache/evosym/kernels``), or a
    private folder, with one warning, when that one is unusable (:func:`.cache.root`)."""
    return cache.root()


def compiler(target: str) -> str:
    """The compiler executable for ``target`` (its registered kind: "cxx" is $CXX, else c++), or a clear error
    when there is none."""
    kind = backends.target(target).compiler
    name = (os.environ.get("CXX") or "c++") if kind == "cxx" else kind
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


COMPILE_TIMEOUT = 1500.0   # a compiler that runs longer is stuck; with the load test, under lock.TIMEOUT
LOAD_TIMEOUT = 120.0
# a child process that loads the library the way ctypes does (dlopen with RTLD_NOW: every symbol resolved),
# after the given dependencies
_LOAD_TEST = ("import ctypes, sys\nfor dep in sys.argv[2:]:\n    ctypes.CDLL(dep, mode=ctypes.RTLD_GLOBAL)\n"
              "ctypes.CDLL(sys.argv[1])\n")


# the environment variables the compilers read that change what a build makes (header and library search paths, the
# programs gcc runs, nvcc's extra flags): part of the key, so that a library built under one is not reused without it
# (a header shadowed through CPLUS_INCLUDE_PATH was reused by a clean environment: an adversarial pass)
COMPILER_ENVIRONMENT = ("CPATH", "C_INCLUDE_PATH", "CPLUS_INCLUDE_PATH", "OBJC_INCLUDE_PATH", "LIBRARY_PATH",
                        "GCC_EXEC_PREFIX", "COMPILER_PATH", "DEPENDENCIES_OUTPUT", "SUNPRO_DEPENDENCIES",
                        "NVCC_PREPEND_FLAGS", "NVCC_APPEND_FLAGS", "NVCC_CCBIN", "CUDA_HOME", "CUDA_PATH")


def _compiler_environment() -> str:
    """The :data:`COMPILER_ENVIRONMENT` variables that are set, as text for the key ("" where none is)."""
    return "\0".join(f"{name}={os.environ[name]}" for name in COMPILER_ENVIRONMENT if name in os.environ)


def build(source: str, target: str, arch: str | None = None) -> Library:
    """The shared library for ``source``: loaded from the cache when the entry is valid, else built
    (once, under the key's lock), load-tested and published."""
    if target not in TARGETS:
        raise EvosymError(f"unknown kernel target {target!r} ({', '.join(TARGETS)})")
    spec = backends.target(target)
    exe = compiler(target)
    arch = arch or target
    include = headers()
    flags = spec.flags + ((f"-arch={arch}",) if spec.arch == "sm" else ())
    sanitized = spec.sanitizable and sanitize.requested()
    if sanitized:   # the sanitizers' flags instead of -O3 (runtime/sanitize.py)
        flags = sanitize.FLAGS + tuple(f for f in flags if not f.startswith("-O"))
    features = cpu_features(exe) if spec.native else ""
    key = hashlib.sha256("\0".join([source, headers_digest(include), target, " ".join(flags), _version(exe), arch,
                                    features, _versions(), _compiler_environment()]).encode()).hexdigest()
    root = cache.root()
    entry = cache.Entry.at(root, key)
    if cache.problem(entry) is None:
        return Library(entry.library, target, arch, True, 0.0, sanitized)
    cache.own_folder(entry.folder)
    with lock.file_lock(entry.lock):
        why = cache.problem(entry)   # another process may have built it while this one waited
        if why is None:
            return Library(entry.library, target, arch, True, 0.0, sanitized)
        if why != "missing":
            cache.discard(entry)
            warnings.warn(f"evosym: the cached kernel library {entry.library} is rebuilt: {why}",
                          cache.KernelCacheWarning, stacklevel=2)
        start = time.perf_counter()
        with cache.workspace(root) as work:
            out = _compile(exe, flags, source, include, target, work)
            _load_test(out, exe, target)
            cache.publish(entry, out, work, target=target, arch=arch, compiler=exe, sanitized=sanitized)
    return Library(entry.library, target, arch, False, time.perf_counter() - start, sanitized,
                   "" if why == "missing" else f"the cached library was rebuilt: {why}")


def _tail(*texts: str, limit: int = 4000) -> str:
    text = "\n".join(t.strip() for t in texts if t and t.strip())
    return text[-limit:] if text else "(no output)"


def _exit(name: str, code: int) -> str:
    """How a process ended: 'exited with status 1' or 'was killed by signal 9 (SIGKILL)'."""
    if code >= 0:
        return f"{name} exited with status {code}"
    try:
        what = f" ({signal.Signals(-code).name})"
    except ValueError:
        what = ""
    return f"{name} was killed by signal {-code}{what}"


def _write_headers(texts: dict, folder: Path) -> Path:
    """The headers ``texts`` written into ``folder`` (created): the include folder a build compiles with."""
    folder.mkdir(exist_ok=True)
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _compile(exe: str, flags: tuple, source: str, include: dict, target: str, work: Path) -> Path:
    """Compile ``source`` in the workspace ``work`` with the headers ``include`` (name → text) on its include
    path; the library, or a clear error with how the compiler ended and the tail of what it printed."""
    spec = backends.target(target)
    src = work / spec.source_file   # host: a .cu built as C++
    try:
        src.write_text(source, encoding="utf-8")
        folder = _write_headers(include, work / "include")
    except OSError as exc:   # (a full disk or quota: the cache's file system, named, not a bare errno)
        raise EvosymError(f"building the {target} kernels failed: cannot write the sources into the kernel cache's "
                          f"workspace {work}: {exc.strerror or exc}") from None
    cmd = [exe, *flags, "-I", str(folder)]
    if spec.prelude:   # the host build: the emulation of CUDA's built-ins first
        cmd += ["-include", str(folder / spec.prelude)]
    out = work / "lib.so"
    cmd += [str(src), "-o", str(out)]
    name = os.path.basename(exe)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=COMPILE_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise EvosymError(f"building the {target} kernels failed: {name} ran longer than "
                          f"{COMPILE_TIMEOUT:g} s") from None
    except OSError as exc:
        raise EvosymError(f"building the {target} kernels failed: cannot run {exe}: {exc.strerror}") from None
    if proc.returncode != 0:
        raise EvosymError(f"building the {target} kernels failed: {_exit(name, proc.returncode)} "
                          f"({' '.join(cmd[:2])} …):\n{_tail(proc.stderr, proc.stdout)}")
    if not out.is_file():
        raise EvosymError(f"building the {target} kernels failed: {name} reported success but wrote no library")
    return out


def _mapped(name: str) -> str | None:
    """The file of a shared object named ``name`` that this process has loaded, if any."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split(maxsplit=5)
                if len(parts) == 6 and os.path.basename(parts[5].strip()) == name:
                    return parts[5].strip()
    except OSError:
        pass
    return None


def _load_test(path: Path, exe: str, target: str) -> None:
    """Load the new library in a child process (a library that crashes when loaded takes the child
    down, not this process); a clear error, and nothing cached, when it does not load.

    A dependency the child cannot find but this process has loaded (torch's bundled ``libgomp.so.1``
    where the compiler's is not on the loader's path) is loaded first, as it would be here."""
    preload: list[str] = []
    while True:
        try:
            proc = subprocess.run([sys.executable, "-I", "-S", "-c", _LOAD_TEST, str(path), *preload],
                                  capture_output=True, text=True, errors="replace", timeout=LOAD_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise EvosymError(f"the {target} library built by {exe} did not load within {LOAD_TIMEOUT:g} s "
                              "(not cached)") from None
        except OSError as exc:
            raise EvosymError(f"cannot load-test the {target} library: {exc.strerror}") from None
        if proc.returncode == 0:
            return
        missing = re.search(r"([^\s:/]+): cannot open shared object file", proc.stderr)
        dep = _mapped(missing.group(1)) if missing else None
        if dep is None or dep in preload or len(preload) >= 8:
            break
        preload.append(dep)
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    if lines and proc.returncode > 0:   # Python's error: "OSError: …: undefined symbol: …"
        why = lines[-1].replace(str(path), path.name)
    else:
        why = _exit("loading it", proc.returncode)
    name = os.path.basename(exe)
    hint = ""
    if "undefined symbol" in why and backends.target(target).compiler == "cxx" and "++" not in name:
        hint = (f" ({name} looks like a C compiler: it does not link the C++ runtime; "
                "set CXX to a C++ compiler such as g++)")
    raise EvosymError(f"the {target} library built by {exe} does not load, so it is not cached: {why}{hint}")


def cuda_archs(text: str) -> list[str]:
    """A comma-separated list of CUDA architectures (sm_80,sm_90), each checked, or a clear error."""
    archs = [a.strip() for a in text.split(",")]
    for arch in archs:
        if not re.fullmatch(r"sm_[0-9]+a?", arch):
            raise EvosymError(f"not a CUDA architecture: {arch!r} (a comma-separated list such as sm_80,sm_90)")
    return archs


def ptxas_report(source: str, arch: str, *, host: bool = False) -> dict:
    """{kernel: (registers, spill store bytes, spill load bytes)} from ``nvcc -Xptxas -v``: the device code alone
    (``-cubin``), or with ``host`` the whole object file, nvcc's host pass included (``-c``, ~30% slower)."""
    if cuda_archs(arch) != [arch]:
        raise EvosymError(f"ptxas_report takes one CUDA architecture, not {arch!r}")
    exe = compiler("cuda")
    with tempfile.TemporaryDirectory(prefix="evosym-ptxas-") as tmp:
        src = Path(tmp) / backends.target("cuda").source_file
        src.write_text(source, encoding="utf-8")
        folder = _write_headers(headers(), Path(tmp) / "include")
        proc = subprocess.run([exe, "-O3", "-std=c++17", f"-arch={arch}", "-I", str(folder), "-Xptxas", "-v",
                               "-c" if host else "-cubin", str(src), "-o", str(Path(tmp) / "k.o")],
                              capture_output=True, text=True)
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
            out[_kernel_label(current)] = (int(m.group(1)),) + spills
            current, spills = None, (0, 0)
    return dict(sorted(out.items()))


def _kernel_label(mangled: str) -> str:
    """``evo_forward_shared_f32<16>`` for the mangled name of the template kernel ``evo_forward_shared<16, float>``
    (Itanium mangling: _Z, the name's length and the name, then I…E around the template arguments); any other
    name as it is."""
    m = re.match(r"_Z(\d+)", mangled)
    if not m:
        return mangled
    start = m.end()
    name = mangled[start:start + int(m.group(1))]
    args = re.match(r"I(?:Li(\d+)E)?([fd])E", mangled[start + len(name):])
    if not name.startswith("evo_") or not args:
        return mangled
    return f"{name}_{'f32' if args.group(2) == 'f' else 'f64'}" + (f"<{args.group(1)}>" if args.group(1) else "")
