"""Rich display in Jupyter: proofs, properties and costs as LaTeX (MathJax) and Markdown; pictures as SVG.

Jupyter calls ``_repr_latex_`` / ``_repr_markdown_`` / ``_repr_svg_`` on the last value of a cell. The
LaTeX forms are display math only (what MathJax renders; a whole document would not), the Markdown forms
reuse the Markdown printer. A proof's connectivity picture is its own object,
:func:`evosym.docgen.connectivity.connectivity` (a ``Connectivity`` with ``_repr_svg_``): a frontend shows
one representation per object and prefers Markdown to SVG, so the picture cannot ride on the proof.
The analysis objects import from here lazily; a checked proof, in the trusted core, imports no printer:
this module registers its renderers in :data:`evosym.proof.proof.DISPLAY` when it is imported (evosym
imports it in IPython).
"""

from __future__ import annotations

from .expr import LatexExprPrinter, latex, symbol_names
from .markdown import render_markdown
from .tex import tex_escape
from ..proof.proof import DISPLAY


def _text(s: str) -> str:
    """Plain text inside math mode."""
    return r"\text{" + tex_escape(s) + "}"


def proof_latex(cp) -> str:
    """The chain traditional form = step 1 = … = Evolution form, one aligned line per step."""
    op = cp.operator
    p = LatexExprPrinter(op.display_names("latex"), symbol_names(cp, "latex"))._print
    rows = [f"{p(op.lhs)} &= {p(op.traditional)} && {_text('traditional form')}"]
    for k, s in enumerate(cp.steps, 1):
        label = s.check.label if s.check.ok else "FAILED"
        rows.append(f"&= {p(s.after)} && {_text(f'{k}. {s.rule} ({label})')}")
    verdict = "PROVED" if cp.ok else "NOT PROVED"
    general = sum(1 for s in cp.steps if s.check.ok and s.check.general)
    rows.append(f"&&& {_text(f'{verdict}: {len(cp.steps)} steps, {general} general; {len(cp.shapes)} grid shapes')}")
    return "$$\\begin{aligned}" + " \\\\ ".join(rows) + "\\end{aligned}$$"


def proof_markdown(cp) -> str:
    return render_markdown(cp, heading=3)


def properties_markdown(props) -> str:
    rows = [f"**Kernel properties of `{props.operator}`**", "", "| property | value | derived and confirmed |",
            "|---|---|---|"]
    esc = lambda s: s.replace("|", r"\|")  # noqa: E731
    rows += [f"| {p.name} | {esc(p.value)} | {esc(p.how)} |" for p in props.items]
    return "\n".join(rows) + "\n"


def properties_latex(props) -> str:
    rows = [f"{_text(p.name)} &: {_text(p.value)}" for p in props.items]
    return "$$\\begin{aligned}" + " \\\\ ".join(rows) + "\\end{aligned}$$"


def cost_latex(c) -> str:
    return "$$\\begin{aligned}" + " \\\\ ".join(f"{_text(n)} &= {latex(e)}" for n, e in c.items()) + "\\end{aligned}$$"


def cost_markdown(c) -> str:
    rows = ["| cost | formula in the sizes |", "|---|---|"]
    rows += [f"| {n} | ${latex(e)}$ |" for n, e in c.items()]
    return "\n".join(rows) + "\n"


DISPLAY.update(latex=proof_latex, markdown=proof_markdown)   # a checked proof's rich display (see above)
