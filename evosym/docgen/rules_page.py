"""The rules reference (``docs/rules.md``) and ``evosym rules``, generated from the rules themselves.

A rule's statement and details are its class docstring, its preconditions are the tuple the
checker instantiates at every use, its arguments are the keyword-only parameters of ``apply``
described by the rule's ``argument_docs``, and "used by" counts its steps in the catalogue's
proofs: the page cannot drift from the code. The conclusion of a derivation (``d.conclude``, with
Ω as a :class:`~evosym.ir.neighbourhood.Window` of :class:`~evosym.ir.neighbourhood.WindowAxis`)
is described here too, its fields read from the dataclasses.
"""

from __future__ import annotations

import dataclasses
import inspect

from ..proof.rules import RULES

SUMS = ("Every statement reads Σ_{u=lo}^{hi} f(u) as the sum over the integers u with lo ≤ u ≤ hi (both bounds "
        "inclusive): hi = lo − 1 is the empty sum, and a range with hi < lo − 1 is ill-formed (refused at concrete "
        "sizes, never read as empty and never by SymPy's Karr convention −Σ_{u=hi+1}^{lo−1}). The same holds for "
        "the bounds a rule takes as arguments (introduce-delta's lo and hi). Every variable a sum binds is an "
        "integer symbol whose other assumptions follow from its range (a premise the checker verifies before any "
        "rule is replayed).")

CALL = ("A derivation applies a rule as `d.apply(\"RULE\", ARG=VALUE, …)` in an operator file's `derive(d)`; "
        "variables are the SymPy symbols the file defines, expressions SymPy expressions of them, and the bounds a "
        "rule takes are inclusive like a sum's.")

CONCLUDE = ("`d.conclude(omega=Ω, channel=c, neighbour=(m, n))` ends a derivation: the final expression must be "
            "`Σ_c Σ_{q∈Ω(p)} K[…]·v[b, c, q] (+ β)`. `channel` is the aggregated channel variable, `neighbour` the "
            "position variables q (one per input axis, in order), `omega` the declared neighbourhood Ω(p), whose "
            "points the checker compares with K's support at every grid shape.")

WINDOW = ("`Window((WindowAxis(kernel, stride, dilation, padding, length), …))`: one `WindowAxis` per input axis, in "
          "the order of `neighbour`; on each axis q = stride·p + dilation·u − padding for the taps "
          "0 ≤ u ≤ kernel − 1, clipped to 0 ≤ q ≤ length − 1 (zero padding). Its fields, positional then keyword:")

WINDOW_AXIS = {   # field: (type, what it is); a test keeps these equal to WindowAxis's fields
    "kernel": ("expression", "the number of taps u on this axis (the window's size), e.g. K"),
    "stride": ("expression", "how far the window's origin moves per output position p, e.g. s (1: every position)"),
    "dilation": ("expression", "the spacing between taps, e.g. d (1: adjacent)"),
    "padding": ("expression", "how far before stride·p the first tap lies, e.g. P (the zero padding before the input)"),
    "length": ("expression", "the input's length on this axis; q runs over 0 … length − 1, e.g. H"),
    "wrap": ("bool, keyword, default False", "circular padding: q is taken mod length and nothing is clipped"),
    "clamp": ("bool, keyword, default False", "NATTEN's neighbourhood: the window is shifted to stay inside the input "
              "(every position sees all kernel taps)"),
    "tiled": ("bool, keyword, default False", "Swin's fixed windows: tiles of kernel positions starting at padding "
              "(the shift), stride and dilation 1; with wrap, the tiles continue around the input"),
}

OTHER_OMEGA = ("The other neighbourhoods: `Global((L₁, …))`, every input position (attention, graphs, token mixing), "
               "and `IndexSet(p_symbols, q_symbols, condition, input_lengths)`, the positions q where a SymPy "
               "condition on p and q holds.")


def arguments(rule) -> list[tuple[str, str, str]]:
    """(name, type, what it is) of each keyword argument of the rule's ``apply``, in order; the type says
    'optional' for an argument with a default."""
    docs = getattr(rule, "argument_docs", {}) or {}
    out = []
    for p in inspect.signature(type(rule).apply).parameters.values():
        if p.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        kind, what = docs.get(p.name, ("", ""))
        if p.default is not inspect.Parameter.empty and "optional" not in kind:
            kind = f"{kind}, optional" if kind else "optional"
        out.append((p.name, kind, what))
    return out


def compact_arguments(rule) -> str:
    """One line: ``name (type), …``."""
    return ", ".join(f"{name} ({kind})" if kind else name for name, kind, _ in arguments(rule))


def window_axis_fields() -> list[tuple[str, str, str]]:
    """(field, type, what it is) of WindowAxis, in its constructor's order."""
    from ..ir.neighbourhood import WindowAxis
    return [(f.name, *WINDOW_AXIS.get(f.name, ("", ""))) for f in dataclasses.fields(WindowAxis)]


def details(rule) -> str:
    """The docstring after its first paragraph (the statement), joined into Markdown paragraphs."""
    doc = inspect.getdoc(type(rule)) or ""
    paragraphs = [" ".join(p.split()) for p in doc.split("\n\n")[1:] if p.strip()]
    return "\n\n".join(paragraphs)


def _arguments(rule) -> list[str]:
    return [name + (" (optional)" if "optional" in kind else "") for name, kind, _ in arguments(rule)]


def rules_page(checked) -> str:
    """The reference of every registered rule, with its uses in ``checked`` (the catalogue's proofs)."""
    from .pages import MARK
    uses: dict[str, list[str]] = {name: [] for name in RULES}
    for cp in checked:
        for number, s in enumerate(cp.steps, 1):
            uses.setdefault(s.rule, []).append(f"[`{cp.operator.name}`](operators/{cp.operator.name}.md) step {number}")
    out = [MARK, "", "# Rules reference", "",
           "[Catalogue](catalogue.md) · [Concepts](concepts.md) · [Tutorial](tutorial.md)", "",
           "A proof is a list of named rule applications. The checker replays each rule on the recorded "
           "expression, instantiates the rule's preconditions at that use and tries to prove each symbolically: "
           "a step is **general** when all of them are proved (the identity holds for all sizes) and **bounded** "
           "otherwise; every step is in addition compared exactly at the grid shapes. The statements below are "
           "the rules' docstrings, the preconditions the tuples the checker instantiates.", "",
           "**Sums.** " + SUMS + " See [proofs](proofs.md).", "",
           "**Arguments.** " + CALL + " Each rule below lists its arguments with their types; a derivation ends "
           "with [`d.conclude`](#concluding-a-derivation).", "",
           "| rule | statement | uses in the catalogue |", "|---|---|---|"]
    for name in sorted(RULES):
        stmt = RULES[name].statement().replace("|", r"\|")
        out.append(f"| [`{name}`](#{name}) | {stmt} | {len(uses[name])} |")
    for name in sorted(RULES):
        rule = RULES[name]
        out += ["", f"## {name}", "", f"**Statement.** {rule.statement()}", ""]
        text = details(rule)
        if text:
            out += [text, ""]
        out += ["**Preconditions** (instantiated and proved, or left to the bounded check, at every use):", ""]
        out += [f"- {p}" for p in rule.preconditions] or ["- none"]
        out += ["", f"**Arguments** (`d.apply(\"{name}\", …)`):", ""]
        out += [f"- `{arg}` ({kind}): {what}" if what else f"- `{arg}` ({kind})" for arg, kind, what in arguments(rule)]
        out += ["", f"**Defined in** `{type(rule).__module__.replace('.', '/')}.py` as `{type(rule).__name__}`.", ""]
        out.append("**Used by:** " + (", ".join(uses[name]) if uses[name] else "no catalogue proof") + ".")
    out += ["", "## Concluding a derivation", "", CONCLUDE, "", WINDOW, ""]
    out += [f"- `{field}` ({kind}): {what}" for field, kind, what in window_axis_fields()]
    out += ["", OTHER_OMEGA]
    return "\n".join(out) + "\n"
