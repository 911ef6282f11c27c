"""The concepts page (``docs/concepts.md``): hand-written explanations around computed examples.

The prose lives in the template ``docs/concepts.md.j2``; the kernels it shows, the values each
property takes in the catalogue and the count of general and bounded steps come from the proofs,
so the page cannot contradict them.
"""

from __future__ import annotations

from ..printers.expr import latex
from ..codegen.render import environment
from .pages import MARK

MEANINGS = {
    "kernel": "static (no input in K) or dynamic, and which input entries K is computed from",
    "space": "whether one kernel slides over all positions (shared) or each position has its own",
    "channels": "which input channels feed an output channel: all, a contiguous group, one (depthwise)",
    "Ω": "a local window (with its size) or the whole input",
    "border": "what happens where the window leaves the input",
}


def _kernel(cp) -> dict:
    names = cp.operator.display_names("latex")
    form = cp.evolution
    return {"lhs": latex(form.kernel, names), "body": latex(form.kernel_body, names)}


def concepts_page(checked, props: dict) -> str:
    """``checked``: the catalogue's proofs; ``props``: their Properties by operator name."""
    by_name = {cp.operator.name: cp for cp in checked}
    rows = []
    for key, meaning in MEANINGS.items():
        values = sorted({p.get(key) for p in props.values()})
        rows.append({"name": key, "seen": "; ".join(v.replace("|", r"\|") for v in values), "meaning": meaning})
    total = sum(len(cp.steps) for cp in checked)
    general = sum(s.check.general for cp in checked for s in cp.steps)
    return environment().get_template("docs/concepts.md.j2").render(
        mark=MARK, conv=_kernel(by_name["conv2d"]), inv=_kernel(by_name["involution"]), properties=rows,
        steps={"total": total, "general": general, "bounded": total - general}).rstrip("\n") + "\n"
