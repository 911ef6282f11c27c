"""The ``cuda`` backend: CUDA kernels for a windowed Evolution form (forward, gradient w.r.t. the input, gradient
w.r.t. the kernel).

The index pieces come from :mod:`evosym.codegen.kernel_context` (printed by SymPy from the proved form,
shared with the CPU kernels); the template ``cuda/kernels.cu.j2`` (``templates/kernels.cu.j2`` here) prints
them with the entry points, and the kernels and launchers themselves (threads, loops over any number of
axes, the fused attention) are written once in the runtime's headers ``evosym_cuda_window.h`` and
``evosym_cuda_attention.h``, which the source includes. Threads never communicate (no shared memory, no
barriers, no warp intrinsics; reuse comes from registers), which is what lets the same source run on the
host under ``evosym_emulate.h`` (the runtime's target ``host``: :mod:`evosym.runtime.backends`).
"""

from __future__ import annotations

from ...kernel_context import kernel_context
from ...plan import Plan
from ...render import render_kernels

TEMPLATE = "cuda/kernels.cu.j2"
THREADS = 256
MAX_CHUNK = 16   # most channels per thread sharing one kernel (measured: benchmarks/cuda_knobs.py)


def context(cp, plan: Plan) -> dict:
    """Everything the CUDA template needs for ``plan`` (a windowed, channels-first Evolution form)."""
    return dict(kernel_context(cp, plan, "CUDA", windows="any"), template=TEMPLATE, threads=THREADS, max_chunk=MAX_CHUNK)


def render(cp, plan: Plan, source: str | None = None, regenerate: str | None = None) -> str:
    """The CUDA source for ``plan`` (standalone: no torch headers; ends in one newline)."""
    return render_kernels(TEMPLATE, context(cp, plan), plan.name, source, regenerate)


cuda_context, render_cuda = context, render   # the names callers used before backends were folders
