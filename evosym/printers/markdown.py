"""Markdown proofs with LaTeX math (``$…$`` / ``$$…$$``), for READMEs, docs and notebooks."""

from __future__ import annotations

from ..proof.proof import CheckedProof
from .expr import LatexExprPrinter
from .outline import Outline, outline, verdict
from .tex import fill


def _md(text: str) -> str:
    """Plain text safe inside Markdown (no accidental emphasis or tables)."""
    return text.replace("*", r"\*").replace("|", r"\|")


def render_markdown(cp: CheckedProof, heading: int = 1) -> str:
    printer = LatexExprPrinter(cp.operator.display_names("latex"))
    ex = printer._print
    o = outline(cp, lambda e: ex(e), lambda om, p: om.latex(p, printer),
                lambda t, args: fill(t, args, _md, lambda a: "$" + ex(a) + "$"), lambda a: "$" + ex(a) + "$",
                lambda name: f"`{name}`")
    return _render(o, "#" * heading)


def _render(o: Outline, h: str) -> str:
    out = [f"{h} Proof: `{o.name}`", "", f"*{_md(o.summary)}*", ""]
    if o.description:
        out += [_md(o.description), ""]
    if o.citation:
        out += [f"Conventions: {_md(o.citation)}", ""]
    for note in o.notes:
        out += [f"> **Note.** {_md(note)}", ""]
    out += [f"{h}# Sizes", "", "| size | meaning |", "|---|---|"]
    out += [f"| ${s}$ | {_md(m)} |" for s, m in o.sizes]
    out += ["", f"{h}# Tensors", "", "| tensor | role | shape | meaning |", "|---|---|---|---|"]
    out += [f"| ${n}$ | {r} | ${sh}$ | {_md(d)} |" for n, r, sh, d in o.tensors]
    if o.definitions:
        out += ["", f"{h}# Definitions", ""]
        for lhs, body, desc in o.definitions:
            out += [f"$$ {lhs} := {body} $$", "", _md(desc), ""]
    out += ["", f"{h}# Traditional form", "", f"$$ {o.lhs} = {o.traditional} $$", ""]
    out += [f"{h}# Proof", ""]
    for s in o.steps:
        out += [f"**Step {s.number}. `{s.rule}`** ({s.label})", "", f"Arguments: {s.args}", "",
                f"Rule: {_md(s.statement)}", ""]
        if s.obligations:
            out.append("Preconditions:")
            out.append("")
            out += [f"- {'✓' if ok else '?'} {text} ({how})" for ok, text, how in s.obligations]
            out.append("")
        for lhs, body in s.defines:
            out += [f"Defines $${lhs} := {body}$$", ""]
        out += [f"$$ {s.lhs} = {s.result} $$", "", f"Check: {_md(s.check)}", ""]
        if s.counterexample:
            out += ["```", s.counterexample, "```", ""]
    out += [f"{h}# Evolution form", ""]
    e = o.evolution
    if e is None:
        out += ["Not reached: the final expression does not match the Evolution form.", ""]
    else:
        bias = "" if e.bias == "0" else f" + {e.bias}"
        out += [f"$$ {e.lhs} = \\sum_{{{e.channel}=0}}^{{{e.channel_hi}}} \\sum_{{{e.neighbour} \\in \\Omega({e.position})}} "
                f"{e.kernel}\\, {e.value}{bias} $$", "",
                f"$$ \\Omega({e.position}) = {e.omega} $$", "", f"({_md(e.omega_kind)})", "",
                f"$$ {e.kernel} = {e.kernel_body} $$", "", f"Value $v = {e.value}$ (layout: {e.layout}).", ""]
    out += [f"{h}# Checks of the conclusion", ""]
    for ok, name, label, message, ce in o.checks:
        out.append(f"- {'✓' if ok else '✗'} **{_md(name)}** ({label}): {_md(message)}")
        if ce:
            out += ["", "  ```", *["  " + line for line in ce.splitlines()], "  ```"]
    out += ["", f"{h}# Grid of shapes for bounded checks ({len(o.shapes)})", ""]
    out += [f"{k}. {shape}" for k, shape in enumerate(o.shapes, 1)]
    out += ["", f"**{_md(verdict(o))}**", ""]
    return "\n".join(out)
