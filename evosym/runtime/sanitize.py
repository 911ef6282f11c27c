"""Memory-checked host builds: the kernels built with AddressSanitizer and UndefinedBehaviorSanitizer.

The numeric check compares what a kernel computes; it cannot see a read outside a tensor whose
value happens not to matter (a tap multiplied by zero, a load past the end that is never used), or
an index computation that overflows. On a GPU such a read is an illegal-address fault or a silent
read of another allocation. Built with ``-fsanitize=address,undefined``, the host build of the
CUDA source (and the CPU kernels) stops at the first access outside the tensors torch allocated and
at the first undefined operation, with a report naming the kernel and source line.

The sanitizer runtime must be loaded before anything else in the process, so a sanitized run is a
child process started with ``LD_PRELOAD`` (:func:`environment`); ``EVOSYM_SANITIZE=1`` tells
:mod:`evosym.runtime.build` to build host and CPU libraries with :data:`FLAGS` (cached apart from
the plain builds). ``evosym check --emulated --sanitize`` does this itself.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

from .errors import EvosymError

# -O0: builds 3–4× faster than -O1 under the sanitizers (the checked shapes are small); no recovery: the
# first finding stops the run
FLAGS = ("-O0", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined", "-fno-sanitize-recover=all")
# exit codes of a run the sanitizers stopped (distinct from a failed check's 1)
ASAN_EXIT, UBSAN_EXIT = 86, 87
RUNTIMES = ("libasan.so", "libubsan.so")


def requested() -> bool:
    """Whether this process builds host and CPU kernels sanitized (``EVOSYM_SANITIZE=1``); an error
    when it asks for that without the sanitizer runtime loaded (the build could not be loaded)."""
    if os.environ.get("EVOSYM_SANITIZE", "") not in ("1",):
        return False
    if not runtime_loaded():
        raise EvosymError("EVOSYM_SANITIZE=1 needs the AddressSanitizer runtime loaded first "
                          "(LD_PRELOAD); run through `evosym check --sanitize`, which starts such a process")
    return True


def runtime_loaded() -> bool:
    return hasattr(ctypes.CDLL(None), "__asan_init")


def runtime_paths(compiler: str) -> list[str]:
    """The sanitizer runtimes that ``compiler`` links against, or a clear error when it has none."""
    paths = []
    for lib in RUNTIMES:
        try:
            out = subprocess.run([compiler, f"-print-file-name={lib}"], capture_output=True, text=True,
                                 timeout=60).stdout.strip()
        except (OSError, subprocess.SubprocessError) as exc:
            raise EvosymError(f"{compiler} -print-file-name={lib} failed: {exc}") from None
        if not os.path.isabs(out) or not os.path.exists(out):
            raise EvosymError(f"{compiler} has no {lib} (the sanitizer runtime): sanitized builds are not possible here")
        paths.append(out)
    return paths


def environment(compiler: str, base: dict | None = None) -> dict:
    """``base`` (default: this process's environment) for a child process that builds and runs the
    host kernels sanitized."""
    env = dict(os.environ if base is None else base)
    preload = " ".join(runtime_paths(compiler) + ([env["LD_PRELOAD"]] if env.get("LD_PRELOAD") else []))
    env.update(LD_PRELOAD=preload, EVOSYM_SANITIZE="1",
               # leaks are the interpreter's business, not the kernels'
               ASAN_OPTIONS=f"detect_leaks=0:halt_on_error=1:exitcode={ASAN_EXIT}",
               UBSAN_OPTIONS=f"halt_on_error=1:print_stacktrace=1:exitcode={UBSAN_EXIT}")
    return env


def rerun(argv: list[str], compiler: str) -> int:
    """``python -m evosym ARGV`` in a sanitized child process; its exit code, with a closing line
    when a sanitizer stopped it (the sanitizer's own report precedes it on stderr)."""
    rc = subprocess.run([sys.executable, "-m", "evosym", *argv], env=environment(compiler)).returncode
    what = {ASAN_EXIT: "AddressSanitizer: a kernel read or wrote outside its tensors",
            UBSAN_EXIT: "UndefinedBehaviorSanitizer: a kernel hit undefined behaviour"}.get(rc)
    if what:
        print(f"evosym: the sanitized run stopped ({what}; its report is above)", file=sys.stderr)
    return rc
