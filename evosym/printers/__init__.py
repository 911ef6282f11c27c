"""Proof printers: plain text (terminals), Markdown with LaTeX math, and LaTeX documents."""

from __future__ import annotations

from ..errors import EvosymError
from .latex import latex_document, latex_fragment, render_latex, render_latex_section
from .markdown import render_markdown
from .text import render_text

FORMATS = ("text", "markdown", "latex")


def _fragment_format(fmt: str, fragment: bool) -> None:
    if fragment and fmt != "latex":
        raise EvosymError(f"--fragment applies to --format latex only, not {fmt}")


def render(checked, fmt: str, fragment: bool = False) -> str:
    """One checked proof in ``fmt`` (text, markdown or latex; ``fragment``: LaTeX without a preamble)."""
    _fragment_format(fmt, fragment)
    if fmt == "text":
        return render_text(checked)
    if fmt == "markdown":
        return render_markdown(checked)
    if fmt == "latex":
        return render_latex(checked, fragment=fragment)
    raise EvosymError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def render_many(checked, fmt: str, fragment: bool = False) -> str:
    """Several proofs in one output: sections of one LaTeX document (or fragment), or concatenated text/Markdown."""
    _fragment_format(fmt, fragment)
    if fmt == "latex":
        return latex_fragment(checked) if fragment else latex_document(checked)
    sep = "\n" + ("-" * 100 + "\n\n" if fmt == "text" else "---\n\n")
    return sep.join(render(cp, fmt) for cp in checked)


__all__ = ["FORMATS", "latex_document", "latex_fragment", "render", "render_latex", "render_latex_section", "render_many",
           "render_markdown", "render_text"]
