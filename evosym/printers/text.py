"""Plain-text proofs for terminals: numbered steps, rule, statement, preconditions, result, check."""

from __future__ import annotations

import textwrap

from ..proof.proof import CheckedProof
from .expr import TextExprPrinter
from .outline import Outline, outline, verdict

WIDTH = 100


def _wrap(text: str, indent: str) -> str:
    return textwrap.fill(text, WIDTH, initial_indent=indent, subsequent_indent=indent,
                         break_long_words=False, break_on_hyphens=False)


def _block(text: str, indent: str) -> str:
    return "\n".join(indent + line for line in text.splitlines())


def render_text(cp: CheckedProof) -> str:
    """The proof as plain text (deterministic: depends only on the proof)."""
    printer = TextExprPrinter(cp.operator.display_names("text"))
    o = outline(cp, printer._print, lambda om, p: om.text(p, printer))
    return _render(o)


def _render(o: Outline) -> str:
    title = f"evosym proof: {o.name}: {o.summary}"
    out = [title, "=" * min(WIDTH, len(title))]
    if o.description:
        out.append(_wrap(o.description, ""))
    if o.citation:
        out.append(_wrap(f"Conventions: {o.citation}", ""))
    for note in o.notes:
        out.append(_wrap(f"Note: {note}", ""))
    out += ["", "Sizes"]
    width = max((len(s) for s, _ in o.sizes), default=0)
    out += [f"  {s.ljust(width)}  {meaning}" for s, meaning in o.sizes]
    out += ["", "Tensors"]
    for name, role, shape, desc in o.tensors:
        out.append(f"  {name}  {role}, shape {shape}" + (f": {desc}" if desc else ""))
    if o.definitions:
        out += ["", "Definitions"]
        for lhs, body, desc in o.definitions:
            out.append(f"  {lhs} := {body}" + (f"    ({desc})" if desc else ""))
    out += ["", "Traditional form", f"  {o.lhs} = {o.traditional}"]
    for s in o.steps:
        out += ["", f"Step {s.number}. {s.rule}({s.args})  [{s.label}]"]
        out.append(_wrap(f"Rule: {s.statement}", "  "))
        if s.obligations:
            out.append("  Preconditions:")
            for ok, text, how in s.obligations:
                out.append(_wrap(f"{'✓' if ok else '?'} {text}  ({how})", "    "))
        for lhs, body in s.defines:
            out.append(f"  Defines: {lhs} := {body}")
        out.append(f"  Result: {s.lhs} = {s.result}")
        out.append(_wrap(f"Check: {s.check}", "  "))
        if s.counterexample:
            out.append("  Counterexample:")
            out.append(_block(s.counterexample, "    "))
    out += ["", "Evolution form"]
    e = o.evolution
    if e is None:
        out.append("  (not reached: the final expression does not match the Evolution form)")
    else:
        bias = "" if e.bias == "0" else f" + {e.bias}"
        out.append(f"  {e.lhs} = Σ_{{{e.channel}=0}}^{{{e.channel_hi}}} Σ_{{{e.neighbour} ∈ Ω({e.position})}} {e.kernel}·{e.value}{bias}")
        out.append(f"  Ω({e.position}) = {e.omega}")
        out.append(f"      ({e.omega_kind})")
        out.append(f"  {e.kernel} = {e.kernel_body}")
        out.append(f"  v = {e.value}   (layout: {e.layout})")
    out += ["", "Checks of the conclusion"]
    for ok, name, label, message, ce in o.checks:
        out.append(_wrap(f"{'✓' if ok else '✗'} {name} [{label}]: {message}", "  "))
        if ce:
            out.append(_block(ce, "      "))
    out += ["", f"Grid of shapes for bounded checks ({len(o.shapes)})"]
    out += [f"  {k}. {shape}" for k, shape in enumerate(o.shapes, 1)]
    out += ["", _wrap(verdict(o), "")]
    return "\n".join(out) + "\n"
