"""The ``cpu`` backend: CPU kernels for a windowed Evolution form (forward, gradient w.r.t. the input, gradient
w.r.t. the kernel).

The same kernel tensor, the same ``extern "C"`` ABI and the same SymPy-printed index pieces
(:mod:`evosym.codegen.kernel_context`) as the CUDA kernels. The template ``cpu/kernels.cpp.j2``
(``templates/kernels.cpp.j2`` here) prints only what differs per operator (the sizes, one ``evo_axis<A>``
per spatial axis, the entry points); the CPU structure — OpenMP over (batch, channel block, output row),
vectorisable loops over contiguous rows, window bounds clamped per row and per tap instead of a branch per
tap, the register-tiled paths — is written once in the runtime's header ``evosym_cpu_window.h``, which the
source includes. No torch headers, so the system C++ compiler builds it in about a second (the runtime's
target ``cpu``: :mod:`evosym.runtime.backends`, :func:`evosym.runtime.build.build`).
"""

from __future__ import annotations

from ....runtime import backends
from ...kernel_context import kernel_context
from ...plan import Plan
from ...render import render_kernels

TEMPLATE = "cpu/kernels.cpp.j2"


def context(cp, plan: Plan) -> dict:
    """Everything the CPU template needs: the kernel context and the template's name (for the banner)."""
    return dict(kernel_context(cp, plan, "CPU", windows=backends.get("cpu").windows), template=TEMPLATE)


def render(cp, plan: Plan, source: str | None = None, regenerate: str | None = None) -> str:
    """The C++ source for ``plan`` (standalone: no torch headers; ends in one newline)."""
    return render_kernels(TEMPLATE, context(cp, plan), plan.name, source, regenerate)


cpu_context, render_cpu = context, render   # the names callers used before backends were folders
