"""The kernel runtime as files to copy next to a generated module (``evosym codegen --standalone``).

:mod:`evosym.runtime` imports only the standard library and torch (a test reads the import graph),
so a copy of its sources, as the package ``evosym_runtime`` beside the module, runs the module's
compiled kernels where evosym is not installed: only torch and a C++ compiler are needed. The copy carries
the runtime's headers (``include/*.h``): the kernels themselves live there, and every generated kernel
source includes them.
"""

from __future__ import annotations

from pathlib import Path

FOLDER = "evosym_runtime"


def runtime_files() -> dict:
    """relative path → text of every runtime source (Python modules and the headers it builds with), sorted."""
    root = Path(__file__).resolve().parent.parent / "runtime"
    files = sorted(p for pattern in ("*.py", "include/*.h") for p in root.glob(pattern))
    return {f"{FOLDER}/{p.relative_to(root).as_posix()}": p.read_text(encoding="utf-8") for p in files}
