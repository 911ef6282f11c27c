"""Markdown proofs with LaTeX math (``$…$`` / ``$$…$$``), for READMEs, docs and notebooks."""

from __future__ import annotations

import re

from ..proof.proof import CheckedProof
from .expr import LatexExprPrinter, symbol_names
from .outline import MARKS, LimitView, Outline, domain_text, outline, verdict
from .tex import fill, tex_rel


# What Markdown would read as markup in a text written as plain words (an operator file's summary or description,
# a size's meaning, a check's message): escapes, code spans, emphasis (an underscore only at a word's edge: x_q stays),
# table cells, math, raw HTML and entities, strikethrough, a link's "](" and, at the start, headings, quotes, lists
# and setext underlines.
_INLINE = re.compile(r"[\\`*|$<&~]|\](?=[(\[:])|(?<![^\W_])_|_(?![^\W_])")
_START = re.compile(r"^(\s*)(?:([#>+=-])|(\d+)([.)]))", re.M)


def md_text(text: str, block: bool = False) -> str:
    """``text`` as plain words in Markdown: every character it would read as markup escaped (CommonMark's backslash
    escapes), so that a description cannot set a heading, a link, HTML, math or emphasis, nor break a table. Inline
    (a table cell, a note, the emphasised summary) its whitespace runs, newlines too, are one space and its ends
    stripped (a newline would end the cell or the quote, a space inside the ``*…*`` undo the emphasis); as a ``block``
    (a description) its paragraphs stay, each line unindented (four spaces would start a code block)."""
    text = "\n".join(line.strip() for line in text.split("\n")) if block else " ".join(text.split())
    text = _INLINE.sub(lambda m: "\\" + m.group(0), text)
    return _START.sub(lambda m: m.group(1) + (("\\" + m.group(2)) if m.group(2) else (m.group(3) + "\\" + m.group(4))),
                      text)


def md_code(text: str) -> str:
    """``text`` as a code span: its fence one backtick longer than any run of backticks in it (a name cannot close
    the span early and set markup after it)."""
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_own(text: str) -> str:
    """A text evosym wrote itself (a rule's statement, a check's message: names in it are checked identifiers) in
    Markdown: only what would break its emphasis or a table escaped, so that its own code spans stay."""
    return text.replace("*", r"\*").replace("|", r"\|")


def render_markdown(cp: CheckedProof, heading: int = 1) -> str:
    printer = LatexExprPrinter(cp.operator.display_names("latex"), symbol_names(cp, "latex"))
    ex = printer._print
    o = outline(cp, lambda e: ex(e), lambda om, p: om.latex(p, printer),
                lambda t, args: fill(t, args, md_own, lambda a: "$" + ex(a) + "$"), lambda a: "$" + ex(a) + "$",
                md_code)
    return _render(o, "#" * heading)


def _step(s, word: str) -> list[str]:
    out = [f"**{word} {s.number}. `{s.rule}`** ({s.label})", "", f"Arguments: {s.args}", "", f"Rule: {md_own(s.statement)}", ""]
    if s.obligations:
        out += ["Preconditions:", ""]
        out += [f"- {MARKS[status]} {text} ({how})" for status, text, how in s.obligations]
        out.append("")
    for lhs, body in s.defines:
        out += [f"Defines $${lhs} := {body}$$", ""]
    out += [f"$$ {s.lhs} = {s.result} $$", "", f"Check: {md_own(s.check)}", ""]
    if s.counterexample:
        out += ["```", s.counterexample, "```", ""]
    return out


def _checks(checks) -> list[str]:
    out = []
    for ok, name, label, message, ce in checks:
        out.append(f"- {'✓' if ok else '✗'} **{md_text(name)}** ({label}): {md_text(message)}")
        if ce:
            out += ["", "  ```", *["  " + line for line in ce.splitlines()], "  ```"]
    return out


def _limit(lim: LimitView, h: str) -> list[str]:
    a = lim.sharpness
    out = ["", f"{h}# Limit ${a} \\to \\infty$: {md_own(lim.target)}", "", f"Constructive map: {md_own(lim.weight_map)}.", ""]
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
    out = [f"{h} Proof: `{o.name}`", "", f"*{md_text(o.summary)}*", ""]
    if o.description:
        out += [md_text(o.description, block=True), ""]
    if o.citation:
        out += [f"Conventions: {md_text(o.citation, block=True)}", ""]
    for note in o.notes:
        out += [f"> **Note.** {md_text(note)}", ""]
    out += [f"{h}# Sizes", "", f"Domain: {domain_text(o, lambda t: f'${t}$', tex_rel)}.", "", "| size | meaning |", "|---|---|"]
    out += [f"| ${s}$ | {md_text(m)} |" for s, m in o.sizes]
    out += ["", f"{h}# Tensors", "", "| tensor | role | shape | meaning |", "|---|---|---|---|"]
    out += [f"| ${n}$ | {r} | ${sh}$ | {md_text(d)} |" for n, r, sh, d in o.tensors]
    if o.definitions:
        out += ["", f"{h}# Definitions", ""]
        for lhs, body, desc in o.definitions:
            out += [f"$$ {lhs} := {body} $$", "", md_text(desc), ""]
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
                f"$$ \\Omega({e.position}) = {e.omega} $$", "", f"({md_own(e.omega_kind)})", "",
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
    out += ["", f"**{md_text(verdict(o))}**", ""]
    return "\n".join(out)
