"""LaTeX proofs: a section per proof, standalone documents for one proof or a catalogue, and fragments.

Documents use only ``amsmath``, ``amssymb``, ``graphicx`` and ``geometry`` (in every TeX distribution) and
are pure ASCII, so pdflatex compiles them without extra packages. A *fragment* (``--fragment``) is the
same sections without ``\documentclass`` or preamble, for ``\input`` into a paper's appendix: it needs
``amsmath``, ``amssymb`` and ``graphicx`` in the paper and defines its one macro with ``\providecommand``.
Rule statements are typeset with their formulas as math (:func:`.tex.statement_tex`).
"""

from __future__ import annotations

import textwrap

from ..proof.proof import CheckedProof
from .expr import LatexExprPrinter, symbol_names
from .outline import PROVED, REFUTED, LimitView, Outline, domain_text, outline, verdict
from .tex import fill, statement_tex, tex_escape, tex_rel, to_ascii

CHECK, CROSS = r"$\checkmark$", r"$\times$"
MARKS = {PROVED: CHECK, REFUTED: CROSS}    # anything else: "?" (not proved either way)

PREAMBLE = r"""\documentclass[10pt]{article}
\usepackage[a4paper,landscape,margin=1.5cm]{geometry}
\usepackage{amsmath,amssymb,graphicx}
%MACROS%\setlength{\parindent}{0pt}
\setlength{\parskip}{4pt}
\sloppy
"""


MACROS = r"""\makeatletter
\@ifundefined{evobox}{\newsavebox{\evobox}}{}
\makeatother
% a display equation, scaled down to the line width only when it is wider
\providecommand{\evoeq}[1]{\par\smallskip\noindent\hfil\sbox{\evobox}{$\displaystyle #1$}%
  \ifdim\wd\evobox>\linewidth\resizebox{\linewidth}{!}{\usebox{\evobox}}\else\usebox{\evobox}\fi\hfil\par\smallskip}
% inline math no wider than #1: scaled down only when it is wider (a tensor's shape in the tensors table)
\providecommand{\evofit}[2]{\sbox{\evobox}{$#2$}%
  \ifdim\wd\evobox>#1\resizebox{#1}{!}{\usebox{\evobox}}\else\usebox{\evobox}\fi}
"""
PREAMBLE = PREAMBLE.replace("%MACROS%", MACROS)
FRAGMENT_HEAD = ("% evosym proof (a LaTeX fragment, no preamble): \\input it into a document that loads\n"
                 "% \\usepackage{amsmath,amssymb,graphicx}. Generated; do not edit.\n")


def render_latex_section(cp: CheckedProof) -> str:
    """The proof as a LaTeX section (no preamble; it uses the ``\\evoeq`` macro of :data:`MACROS`)."""
    printer = LatexExprPrinter(cp.operator.display_names("latex"), symbol_names(cp, "latex"))
    ex = printer._print
    o = outline(cp, ex, lambda om, p: om.latex(p, printer),
                lambda t, args: fill(t, args, tex_escape, lambda a: "$" + ex(a) + "$"), lambda a: "$" + ex(a) + "$",
                lambda name: "\\texttt{" + tex_escape(name) + "}", tex_escape)
    return _render(o)


def render_latex(cp: CheckedProof, fragment: bool = False) -> str:
    """A standalone LaTeX document with one proof, or (``fragment``) the proof alone for ``\\input``."""
    if fragment:
        return latex_fragment([cp])
    return latex_document([cp], title=f"evosym proof: {cp.operator.name}")


def latex_fragment(proofs) -> str:
    """Proofs as LaTeX with no ``\\documentclass`` and no preamble: a comment naming the packages it needs,
    its macro (defined only where the document has none), then one section per proof."""
    return FRAGMENT_HEAD + MACROS + "\n" + "\n\\clearpage\n".join(render_latex_section(cp) for cp in proofs) + "\n"


def latex_document(proofs, title: str = "evosym: the operator catalogue in Evolution form") -> str:
    """A standalone LaTeX document with several proofs (``evosym prove --all --format latex``)."""
    body = "\n\\clearpage\n".join(render_latex_section(cp) for cp in proofs)
    return (PREAMBLE + "\\title{" + tex_escape(title) + "}\n\\author{}\n\\date{}\n\\begin{document}\n\\maketitle\n"
            + body + "\n\\end{document}\n")


def _verbatim(text: str, width: int = 140) -> list[str]:
    """A verbatim block in ASCII with long lines wrapped, so nothing runs off the page."""
    lines = []
    for line in to_ascii(text).splitlines():
        lines += textwrap.wrap(line, width, subsequent_indent="    ", break_long_words=True) or [""]
    return ["\\begin{verbatim}", *lines, "\\end{verbatim}"]


def _eq(text: str) -> str:
    return "\\evoeq{" + text.replace("&", "") + "}"


def _step(s, word: str) -> list[str]:
    t = tex_escape
    out = [f"\\paragraph{{{word} {s.number}: \\texttt{{{t(s.rule)}}} ({t(s.label)}).}} Arguments: {s.args}.", "",
           f"Rule: {statement_tex(s.statement)}", ""]
    if s.obligations:
        out.append("\\begin{itemize}")
        out += [f"\\item {MARKS.get(status, '?')} {text} ({how})" for status, text, how in s.obligations]
        out.append("\\end{itemize}")
    for lhs, body in s.defines:
        out += ["Defines:", _eq(f"{lhs} &:= {body}")]
    out += [_eq(f"{s.lhs} &= {s.result}"), f"\\emph{{Check:}} {t(s.check)}", ""]
    if s.counterexample:
        out += _verbatim(s.counterexample)
    return out


def _checks(checks) -> list[str]:
    t = tex_escape
    out = ["\\begin{itemize}"]
    for ok, name, label, message, ce in checks:
        out.append(f"\\item {CHECK if ok else CROSS} \\textbf{{{t(name)}}} ({t(label)}): {t(message)}")
        if ce:
            out += _verbatim(ce)
    return out + ["\\end{itemize}"]


def _limit(lim: LimitView) -> list[str]:
    t, a = tex_escape, lim.sharpness
    out = [f"\\subsection*{{Limit ${a} \\to \\infty$: {t(lim.target)}}}", f"Constructive map: {t(lim.weight_map)}.", ""]
    for s in lim.steps:
        out += _step(s, "Limit step")
    out += ["Checks of the limit:"] + _checks(lim.checks)
    out += [f"Error at finite ${a}$: $\\sum_q |A - \\delta|$ per softmax row, the maximum over the grid shapes (float64), "
            f"and the bound $2(1 - \\theta^{{-{lim.dims}}})$, $\\theta = (1 + e^{{-{a}}})/(1 - e^{{-{a}}})$, valid for all sizes; "
            f"then the ${a}$ needed for $\\sum_q |A - \\delta| \\le \\varepsilon$.", "",
            "\\begin{tabular}{rrr}", f"${a}$ & measured & bound \\\\ \\hline"]
    out += [f"{x} & {m} & {b} \\\\" for x, m, b in lim.rows]
    out += ["\\end{tabular}\\qquad\\begin{tabular}{rrr}", "$\\varepsilon$ & from the bound & at the grid shapes \\\\ \\hline"]
    out += [f"{e} & {ab} & {am} \\\\" for e, ab, am in lim.needed]
    return out + ["\\end{tabular}", ""]


def _render(o: Outline) -> str:
    t = tex_escape
    out = [f"\\section*{{Proof: {t(o.name)}}}", f"\\emph{{{t(o.summary)}}}", ""]
    for para in (o.description, f"Conventions: {o.citation}" if o.citation else ""):
        if para:
            out += [t(para), ""]
    for note in o.notes:
        out += [f"\\textbf{{Note.}} {t(note)}", ""]
    out += ["\\subsection*{Sizes and tensors}", f"Sizes: {domain_text(o, lambda x: f'${x}$', tex_rel)}.", "",
            "\\begin{tabular}{@{}lp{0.8\\linewidth}@{}}"]   # (descriptions wrap: a long one stays on the page)
    out += [f"${s}$ & {t(m)} \\\\" for s, m in o.sizes]
    out += ["\\end{tabular}", "", "\\begin{tabular}{@{}lllp{0.4\\linewidth}@{}}"]   # (fits a portrait article's line)
    out += [f"${n}$ & {t(r)} & \\evofit{{0.25\\linewidth}}{{{sh}}} & {t(d)} \\\\" for n, r, sh, d in o.tensors]
    out += ["\\end{tabular}", ""]
    for lhs, body, desc in o.definitions:
        out += [_eq(f"{lhs} &:= {body}"), t(desc), ""]
    out += ["\\subsection*{Traditional form}", _eq(f"{o.lhs} &= {o.traditional}"), "", "\\subsection*{Proof}"]
    for s in o.steps:
        out += _step(s, "Step")
    out.append("\\subsection*{Evolution form}")
    e = o.evolution
    if e is None:
        out.append("Not reached: the final expression does not match the Evolution form.")
    else:
        bias = "" if e.bias == "0" else f" + {e.bias}"
        out += [_eq(f"{e.lhs} &= \\sum_{{{e.channel}=0}}^{{{e.channel_hi}}} \\sum_{{{e.neighbour} \\in \\Omega({e.position})}} "
                    f"{e.kernel}\\, {e.value}{bias}"),
                _eq(f"\\Omega({e.position}) &= {e.omega}"), f"({t(e.omega_kind)})",
                _eq(f"{e.kernel} &= {e.kernel_body}")]
        if e.tap is not None:
            taps = ", ".join(f"$0 \\le {u} \\le {hi}$" for u, hi in e.tap.bounds)
            out += [f"In tap form ({taps}, the taps inside the input; checked against $K$ at the {e.tap.shapes} grid shapes):",
                    _eq(f"{e.tap.lhs} &= {e.tap.body}")]
        out += [f"Value $v = {e.value}$ (layout: {t(e.layout)}).", ""]
    out += ["\\subsection*{Checks of the conclusion}"] + _checks(o.checks)
    if o.limit is not None:
        out += _limit(o.limit)
    out += [f"\\subsection*{{Grid of shapes for bounded checks ({len(o.shapes)})}}", "\\begin{enumerate}"]
    out += [f"\\item {t(shape)}" for shape in o.shapes]
    out += ["\\end{enumerate}", "", f"\\textbf{{{t(verdict(o))}}}", ""]
    return "\n".join(out)
