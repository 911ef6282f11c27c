"""The rules reference (``docs/rules.md``), generated from the rules themselves.

A rule's statement and details are its class docstring, its preconditions are the tuple the
checker instantiates at every use, its arguments are the keyword-only parameters of ``apply``,
and "used by" counts its steps in the catalogue's proofs: the page cannot drift from the code.
"""

from __future__ import annotations

import inspect

from ..proof.rules import RULES
from .pages import MARK


def _details(rule) -> str:
    """The docstring after its first paragraph (the statement), joined into Markdown paragraphs."""
    doc = inspect.getdoc(type(rule)) or ""
    paragraphs = [" ".join(p.split()) for p in doc.split("\n\n")[1:] if p.strip()]
    return "\n\n".join(paragraphs)


def _arguments(rule) -> list[str]:
    sig = inspect.signature(type(rule).apply)
    return [p.name + ("" if p.default is inspect.Parameter.empty else " (optional)")
            for p in sig.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]


def rules_page(checked) -> str:
    """The reference of every registered rule, with its uses in ``checked`` (the catalogue's proofs)."""
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
           "**Sums.** Every statement reads Σ_{u=lo}^{hi} f(u) as the sum over the integers u with lo ≤ u ≤ hi: "
           "hi = lo − 1 is the empty sum, and a range with hi < lo − 1 is ill-formed (refused at concrete sizes, "
           "never read as empty and never by SymPy's Karr convention −Σ_{u=hi+1}^{lo−1}). Every variable a sum "
           "binds is an integer symbol whose other assumptions follow from its range (a premise the checker "
           "verifies before any rule is replayed; see [proofs](proofs.md)).", "",
           "| rule | statement | uses in the catalogue |", "|---|---|---|"]
    for name in sorted(RULES):
        stmt = RULES[name].statement().replace("|", r"\|")
        out.append(f"| [`{name}`](#{name}) | {stmt} | {len(uses[name])} |")
    for name in sorted(RULES):
        rule = RULES[name]
        out += ["", f"## {name}", "", f"**Statement.** {rule.statement()}", ""]
        details = _details(rule)
        if details:
            out += [details, ""]
        out += ["**Preconditions** (instantiated and proved, or left to the bounded check, at every use):", ""]
        out += [f"- {p}" for p in rule.preconditions] or ["- none"]
        out += ["", f"**Arguments** (`d.apply(\"{name}\", …)`): " + ", ".join(f"`{a}`" for a in _arguments(rule)), "",
                f"**Defined in** `{type(rule).__module__.replace('.', '/')}.py` as `{type(rule).__name__}`.", ""]
        out.append("**Used by:** " + (", ".join(uses[name]) if uses[name] else "no catalogue proof") + ".")
    return "\n".join(out) + "\n"
