"""CPU kernels for a windowed Evolution form: forward, gradient w.r.t. the input, gradient w.r.t. the kernel.

The same kernel tensor, the same ``extern "C"`` ABI and the same SymPy-printed index pieces
(:mod:`.kernel_context`) as the CUDA kernels; the template ``cpu/kernels.cpp.j2`` owns the CPU
structure: OpenMP over (batch, channel block, output row), vectorisable loops over contiguous
rows, window bounds clamped per row and per tap instead of a branch per tap. The source includes
no torch headers, so the system C++ compiler builds it in about a second
(:func:`evosym.runtime.build.build` with target ``"cpu"``).
"""

from __future__ import annotations

from .kernel_context import kernel_context
from .plan import Plan
from .render import environment

TEMPLATE = "cpu/kernels.cpp.j2"


def cpu_context(cp, plan: Plan) -> dict:
    """Everything the CPU template needs: the kernel context plus row offsets of the outer axes."""
    ctx = kernel_context(cp, plan, "CPU")
    x_row, y_row = "q0", "p0"
    for k in range(1, plan.dims - 1):   # row-major offsets of the axes before the last, Horner form
        x_row = f"({x_row}) * evo_len_in_{k}(z) + q{k}"
        y_row = f"({y_row}) * evo_len_out_{k}(z) + p{k}"
    return dict(ctx, template=TEMPLATE, x_row=x_row, y_row=y_row)


def render_cpu(cp, plan: Plan, source: str | None = None) -> str:
    """The C++ source for ``plan`` (standalone: no torch headers; ends in one newline)."""
    env = environment()
    tpl = env.from_string(source) if source is not None else env.get_template(TEMPLATE)
    return tpl.render(**cpu_context(cp, plan)).rstrip("\n") + "\n"
