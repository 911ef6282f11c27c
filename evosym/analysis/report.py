"""The property table of the catalogue (``evosym table``) and one operator's card (``evosym info``)."""

from __future__ import annotations

import functools

from .. import catalogue, proofcache
from ..printers.expr import text
from ..proof.codec import decode, encode_checked
from .cost import Cost, cost
from .properties import Properties, Property, analyse

COLUMNS = ("kernel", "space", "channels", "Ω", "border", "causal")


def properties_of(cp):
    """``analyse(cp)``; for a catalogue operator's shared proof (``catalogue.checked``) computed once per
    process, so the table, ``evosym info`` and the docs pages derive and confirm each operator once."""
    name = cp.operator.name
    if name in catalogue.catalogue_names() and cp is catalogue.checked(name):
        return _builtin_properties(name)
    return analyse(cp)


@functools.lru_cache(maxsize=None)
def _builtin_properties(name: str):
    """Per process, and on disk across commands like the proofs (:mod:`evosym.proofcache`)."""
    return proofcache.remembered(name, "properties", lambda: analyse(catalogue.checked(name)),
                                 lambda p: [p.operator, [[i.name, i.value, i.how] for i in p.items]],
                                 lambda v: Properties(v[0], tuple(Property(*i) for i in v[1])))


def cost_of(cp) -> Cost:
    """``cost(cp)``, remembered like the properties for a catalogue operator's shared proof."""
    name = cp.operator.name
    if name in catalogue.catalogue_names() and cp is catalogue.checked(name):
        return _builtin_cost(name)
    return cost(cp)


@functools.lru_cache(maxsize=None)
def _builtin_cost(name: str) -> Cost:
    def encode(c):
        return [None if x is None else encode_checked(x) for x in (c.parameters, c.macs, c.kernel_entries)]

    def decode_(v):
        return Cost(*[None if x is None else decode(x) for x in v])
    return proofcache.remembered(name, "cost", lambda: cost(catalogue.checked(name)), encode, decode_)


def table(checked) -> str:
    """A Markdown table: one row per operator, the derived properties and costs."""
    head = "| operator | K | sharing | channels | Ω | border | causal | parameters | multiply-adds |"
    lines = [head, "|" + "---|" * 9]
    for cp in checked:
        props, c = properties_of(cp), cost_of(cp)
        cells = [props.get(k) for k in COLUMNS] + [text(c.parameters), text(c.macs)]
        lines.append(f"| {cp.operator.name} | " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def info(cp) -> str:
    """Properties (with how each was derived and confirmed), costs and proof status of one operator."""
    props, c = properties_of(cp), cost_of(cp)
    op = cp.operator
    general = sum(s.check.general for s in cp.steps)
    out = [f"{op.name}: {op.summary}", "",
           f"proof: {'PROVED' if cp.ok else 'NOT PROVED'}, {len(cp.steps)} steps ({general} general, "
           f"{len(cp.steps) - general} bounded), {len(cp.shapes)} grid shapes; checks: "
           + ", ".join(f"{c_.name} {'✓' if c_.ok else '✗'}" for c_ in cp.checks), "", "properties:"]
    for p in props.items:
        out += [f"  {p.name:<9}{p.value}", f"  {'':<9}({p.how})"]
    out += ["", "cost (symbolic in the sizes):", f"  parameters      {text(c.parameters)}",
            f"  multiply-adds   {text(c.macs)}"]
    if c.kernel_entries is not None:
        out.append(f"  kernel entries  {text(c.kernel_entries)}   (K̂ over the axes it depends on)")
    if cp.limit is not None:
        lim, spec = cp.limit, op.limit
        general = sum(s.check.general for s in lim.steps)
        out += ["", f"limit {text(spec.sharpness, op.display_names('text'))} → ∞: {spec.target} "
                    f"({'PROVED' if lim.ok else 'NOT PROVED'}: {len(lim.steps)} steps, {general} general; "
                    f"constructive map {spec.weight_map})",
                "  error Σ_q |A − δ| ≤ ε needs " + ", ".join(f"α ≥ {a:.4g} for ε = {e:g}" for e, a, _ in lim.needed)
                + " (from the bound, all sizes)"]
    return "\n".join(out) + "\n"
