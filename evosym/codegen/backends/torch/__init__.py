"""The ``torch`` backend: the generated PyTorch module (``NAME.py``), rendered from the template
``torch/module.py.j2`` (in ``codegen/templates/``, installed as ``evosym.templates``) by
:func:`evosym.codegen.render.render_torch`; an Ω of divisors has its own lowering (:mod:`evosym.codegen.divisors`).
Not a kernel backend: where the module runs compiled kernels, its artifact carries the kernel backends' sources.
"""

from __future__ import annotations

from ...plan import Plan
from ...render import TEMPLATE, render_torch

__all__ = ["TEMPLATE", "render"]


def render(cp, plan: Plan, source: str | None = None, regenerate: str | None = None) -> str:
    """The module for ``plan``; ``regenerate``: what its banner tells ``evosym codegen`` to regenerate it from."""
    return render_torch(plan, cp.operator.torch_binding, source=source, regenerate=regenerate)
