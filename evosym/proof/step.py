"""A proof step as frozen data, and the record of how it was checked.

Printers render a step from these fields only, so a new rule never needs a printer change.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..ir.tensors import Definition
from .rules.base import Obligation


@dataclass(frozen=True)
class Counterexample:
    """Where two sides differ: the sizes, the output index, both values."""

    sizes: str
    index: str
    left: str
    right: str
    detail: str = ""

    def text(self) -> str:
        lines = [f"sizes: {self.sizes}", f"output index: {self.index}" if self.index else "",
                 f"left:  {self.left}", f"right: {self.right}"]
        if self.detail:
            lines.append(f"detail: {self.detail}")
        return "\n".join(line for line in lines if line)


@dataclass(frozen=True)
class StepCheck:
    """How a step was checked.

    ``general``: the rule replayed to the same result and every precondition was proved
    symbolically, so the identity holds for all sizes. ``bounded_shapes``: the sizes at which
    both sides were compared exactly, entry by entry (done for every step, general or not).
    """

    ok: bool
    general: bool
    replay: str
    bounded_shapes: tuple[str, ...]
    counterexample: Counterexample | None = None
    message: str = ""

    @property
    def label(self) -> str:
        return "general" if self.general else "bounded"


@dataclass(frozen=True)
class Step:
    """One rewrite: the rule, its statement and arguments, before and after, preconditions used."""

    rule: str
    statement: str
    args: tuple[tuple[str, object], ...]
    before: sp.Expr
    after: sp.Expr
    obligations: tuple[Obligation, ...] = ()
    defines: tuple[Definition, ...] = ()
    check: StepCheck | None = None

    @property
    def kwargs(self) -> dict:
        return dict(self.args)

    def args_text(self, expr=str, literal=str, key=str) -> str:
        """The rule's arguments: expressions printed by ``expr``, strings (names) by ``literal``, the
        argument names by ``key``."""
        def fmt(v):
            if isinstance(v, (list, tuple)):
                return "(" + ", ".join(fmt(x) for x in v) + ("," if len(v) == 1 else "") + ")"
            if isinstance(v, str):
                return literal(v)
            return expr(v)
        return ", ".join(f"{key(k)}={fmt(v)}" for k, v in self.args)
