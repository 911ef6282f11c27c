"""What a rule is: a named rewrite with a statement, preconditions, and a registry.

A rule computes the next expression with SymPy from the current one and its arguments; the
author never types the intermediate expression. It also returns its *obligations*: the
preconditions of its identity instantiated at this use, each with the verdict of a symbolic
proof attempt. A step is labelled general only when every obligation was proved; otherwise
it is checked (bounded) at concrete sizes, where a wrong step shows a counterexample.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import ClassVar

import sympy as sp

from ...errors import RuleError
from ...ir.tensors import Definition
from ..symbolic import integer_reason, unproved_ranges


@dataclass(frozen=True)
class Obligation:
    """A precondition at one use of a rule, and whether (and how) it was proved symbolically.

    ``text`` and ``how`` are templates whose ``{}`` fields are filled with ``args`` and
    ``how_args`` (SymPy expressions), so each printer shows them in its own notation. ``refuted``: the
    precondition was decided false (printed ✗), as opposed to not proved either way (printed ?).
    """

    text: str
    proved: bool
    how: str
    args: tuple = ()
    how_args: tuple = ()
    refuted: bool = False   # shown false by a decided check (a variable in use, a symbol present), not merely unproved

    def render(self, expr=str) -> tuple[str, str]:
        """(statement, how) with the expressions printed by ``expr``."""
        return self.text.format(*map(expr, self.args)), self.how.format(*map(expr, self.how_args))

    def __str__(self):
        text, how = self.render()
        return f"{text} ({how})"


def range_obligations(exprs, ranges) -> tuple:
    """An unproved obligation for each sum of ``exprs`` (pairs of an expression and the known ranges of its free
    variables, added to ``ranges``) whose range is not proved well-formed for all sizes
    (:func:`..symbolic.unproved_ranges`): a step whose result holds one is an identity only where the range is, so it
    is checked at the grid shapes (bounded), never labelled general. None where every range is proved, so a proof
    prints the obligation only where it matters."""
    found = [r for e, known in exprs for r in unproved_ranges(e, {**ranges, **known})]
    return tuple(Obligation("the sum over {} runs over a well-formed range: integer bounds, {} ≥ {} − 1 for every size",
                            False, "not proved symbolically (a sum with a bound that is no integer, or below lo − 1, is "
                            "undefined: checked at the grid shapes)",
                            (var, hi, lo)) for var, lo, hi in dict.fromkeys(found))


def integer_obligation(e) -> Obligation:
    """"``e`` is integer-valued" (a δ's argument, a shift, a peak: each maps integers to integers only if it is one),
    proved by SymPy's assumptions or, for a polynomial with rational coefficients, by its residues
    (:func:`..symbolic.integer_valued`)."""
    how = integer_reason(e)
    return Obligation("{} is integer-valued", how is not None, how or "SymPy cannot show it", (sp.sympify(e),))


def float_obligations(exprs) -> tuple:
    """An unproved obligation where ``exprs`` hold a float constant: a rule computes with SymPy, which rounds the
    arithmetic of floats (0.1·0.2 is not the product of the two binary numbers), so a step on floats is checked
    at the grid shapes, exactly, never labelled general."""
    floats = sorted({f for e in exprs for f in sp.sympify(e).atoms(sp.Float)}, key=sp.default_sort_key)
    if not floats:
        return ()
    return (Obligation("the result holds no float constant (SymPy rounds the arithmetic of floats)", False,
                       "it holds {}" + (f" and {len(floats) - 1} more" if len(floats) > 1 else ""), (), (floats[0],)),)


@dataclass(frozen=True)
class Application:
    """What a rule produced: the next expression, its obligations, and new definitions."""

    after: sp.Expr
    obligations: tuple[Obligation, ...] = ()
    defines: tuple[Definition, ...] = ()


@dataclass
class Context:
    """What a rule may consult: known index ranges, definitions, sizes, the value tensor."""

    ranges: dict = field(default_factory=dict)           # Symbol -> (lo, hi), inclusive
    definitions: dict = field(default_factory=dict)      # name -> Definition
    sizes: frozenset = frozenset()
    value: str = "x"
    tensors: dict = field(default_factory=dict)          # name -> TensorDecl
    constraints: tuple = ()                              # the operator's relations between sizes: part of their domain

    def with_limits(self, limits) -> "Context":
        ranges = dict(self.ranges)
        for var, lo, hi in limits:
            ranges[var] = (lo, hi)
        return Context(ranges, self.definitions, self.sizes, self.value, self.tensors, self.constraints)


class Rule:
    """Base class: subclasses set ``name``, ``preconditions`` and implement ``apply``.

    The class docstring's first paragraph is the rule's statement; it is printed in proofs
    and in the rules reference, so it must be the mathematics, not the implementation.
    ``argument_docs`` describes each keyword argument of ``apply`` (name: (type, what it is)), in
    ``apply``'s order; ``evosym rules`` and the rules reference print it (a test keeps the two equal).
    """

    name: ClassVar[str] = ""
    preconditions: ClassVar[tuple[str, ...]] = ()
    argument_docs: ClassVar[dict[str, tuple[str, str]]] = {}

    @classmethod
    def statement(cls) -> str:
        doc = inspect.getdoc(cls) or ""
        return " ".join(doc.split("\n\n")[0].split())

    def apply(self, expr: sp.Expr, ctx: Context, **args) -> Application:
        raise NotImplementedError


RULES: dict[str, Rule] = {}


def register(cls):
    """Class decorator: add a rule to the registry under its name (names are unique)."""
    if not cls.name or cls.name in RULES:
        raise ValueError(f"rule name {cls.name!r} is empty or registered twice")
    RULES[cls.name] = cls()
    return cls


def get_rule(name: str) -> Rule:
    if name not in RULES:
        import difflib
        close = difflib.get_close_matches(name, sorted(RULES), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise RuleError(f"unknown rule {name!r}{hint}; rules: {', '.join(sorted(RULES))}")
    return RULES[name]
