"""Markdown proofs with LaTeX math (``$…$`` / ``$$…$$``), for READMEs, docs and notebooks."""

from __future__ import annotations

from ..proof.proof import CheckedProof
from .expr import LatexExprPrinter, symbol_names
from .outline import MARKS, LimitView, Outline, domain_text, outline, verdict
from .tex import fill, tex_rel


def _md(text: str) -> str:
    """Plain text safe inside Markdown (no accidental emphasis or tables)."""
    return text.replace("*", r"\*").replace("|", r"\|")


def render_markdown(cp: CheckedProof, heading: int = 1) -> str:
    printer = LatexExprPrinter(cp.operator.display_names("latex"), symbol_names(cp.proof.omega, "latex"))
    ex = printer._print
    o = outline(cp, lambda e: ex(e), lambda om, p: om.latex(p, printer),
                lambda t, args: fill(t, args, _md, lambda a: "$" + ex(a) + "$"), lambda a: "$" + ex(a) + "$",
                lambda name: f"`{name}`")
    return _render(o, "#" * heading)


def _step(s, word: str) -> list[str]:
    out = [f"**{word} {s.number}. `{s.rule}`** ({s.label})", "", f"Arguments: {s.args}", "", f"Rule: {_md(s.statement)}", ""]
    if s.obligations:
        out += ["Preconditions:", ""]
        out += [f"- {MARKS[status]} {text} ({how})" for status, text, how in s.obligations]
        out.append("")
    for lhs, body in s.defines:
        out += [f"Defines $${lhs} := {body}$$", ""]
    out += [f"$$ {s.lhs} = {s.result} $$", "", f"Check: {_md(s.check)}", ""]
    if s.counterexample:
        out += ["```", s.counterexample, "```", ""]
    return out


def _checks(checks) -> list[str]:
    out = []
    for ok, name, label, message, ce in checks:
        out.append(f"- {'✓' if ok else '✗'} **{_md(name)}** ({label}): {_md(message)}")
        if ce:
            out += ["", "  ```", *["  " + line for line in ce.splitlines()], "  ```"]
    return out


def _limit(lim: LimitView, h: str) -> list[str]:
    a = lim.sharpness
    out = ["", f"{h}# Limit ${a} \\to \\infty$: {_md(lim.target)}", "", f"Constructive map: {_md(lim.weight_map)}.", ""]
    for s in lim.steps:
        out += _step(s, "Limit step")
    out += ["Checks of the limit:", ""] + _checks(lim.checks)
    out += ["", f"Error at finite ${a}$: $\\sum_q |A - \\delta|$ per softmax row, the maximum over the grid shapes "
            f"(float64), and the bound $2(1 - \\theta^{{-{lim.dims}}})$, $\\theta = (1 + e^{{-{a}}})/(1 - e^{{-{a}}})$, "
            "valid for all sizes:", "", f"| ${a}$ | measured | bound |", "|---|---|---|"]
    out += [f"| {x} | {m} | {b} |" for x, m, b in lim.rows]
    out += ["", f"${a}$ needed for $\\sum_q |A - \\delta| \\le \\varepsilon$:", "",
            "| $\\varepsilon$ | from the bound | at the grid shapes |", "|---|---|---|"]
    out += [f"| {e} | {ab} | {am} |" for e, ab, am in lim.needed]
    return out


def _render(o: Outline, h: str) -> str:
    out = [f"{h} Proof: `{o.name}`", "", f"*{_md(o.summary)}*", ""]
    if o.description:
        out += [_md(o.description), ""]
    if o.citation:
        out += [f"Conventions: {_md(o.citation)}", ""]
    for note in o.notes:
        out += [f"> **Note.** {_md(note)}", ""]
    out += [f"{h}# Sizes", "", f"Domain: {domain_text(o, lambda t: f'${t}$', tex_rel)}.", "", "| size | meaning |", "|---|---|"]
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
        out += _step(s, "Step")
    out += [f"{h}# Evolution form", ""]
    e = o.evolution
    if e is None:
        out += ["Not reached: the final expression does not match the Evolution form.", ""]
    else:
        bias = "" if e.bias == "0" else f" + {e.bias}"
        out += [f"$$ {e.lhs} = \\sum_{{{e.channel}=0}}^{{{e.channel_hi}}} \\sum_{{{e.neighbour} \\in \\Omega({e.position})}} "
                f"{e.kernel}\\, {e.value}{bias} $$", "",
                f"$$ \\Omega({e.position}) = {e.omega} $$", "", f"({_md(e.omega_kind)})", "",
                f"$$ {e.kernel} = {e.kernel_body} $$", ""]
        if e.tap is not None:
            taps = ", ".join(f"$0 \\le {u} \\le {hi}$" for u, hi in e.tap.bounds)
            out += [f"In tap form ({taps}, the taps inside the input; checked against $K$ at the {e.tap.shapes} grid shapes):", "",
                    f"$$ {e.tap.lhs} = {e.tap.body} $$", ""]
        out += [f"Value $v = {e.value}$ (layout: {e.layout}).", ""]
    out += [f"{h}# Checks of the conclusion", ""]
    out += _checks(o.checks)
    if o.limit is not None:
        out += _limit(o.limit, h)
    out += ["", f"{h}# Grid of shapes for bounded checks ({len(o.shapes)})", ""]
    out += [f"{k}. {shape}" for k, shape in enumerate(o.shapes, 1)]
    out += ["", f"**{_md(verdict(o))}**", ""]
    return "\n".join(out)
