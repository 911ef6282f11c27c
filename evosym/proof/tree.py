"""Finding and replacing the places a rule rewrites, in SymPy expression trees.

SymPy flattens directly nested sums, Σ_b Σ_a f = ``Sum(f, (a, ·), (b, ·))`` (innermost limit
first), so a "nest of sums" is one ``Sum`` node; rules address it by a bound variable.
"""

from __future__ import annotations

import sympy as sp

from ..errors import RuleError


def walk(expr, limits=()):
    """Yield ``(node, enclosing_limits)`` for every node, limits outermost-last like SymPy's."""
    yield expr, limits
    if isinstance(expr, sp.Sum):
        inner = tuple(expr.limits) + tuple(limits)
        for lim in expr.limits:
            for bound in lim[1:]:
                yield from walk(bound, limits)
        yield from walk(expr.function, inner)
        return
    for a in expr.args:
        if isinstance(a, sp.Basic):
            yield from walk(a, limits)


def find_sum(expr, var) -> tuple[sp.Sum, tuple]:
    """The Sum node that binds ``var`` and the limits enclosing it."""
    hits = [(n, lims) for n, lims in walk(expr) if isinstance(n, sp.Sum) and var in [l[0] for l in n.limits]]
    if not hits:
        raise RuleError(f"no sum binds {var}")
    if len(hits) > 1:
        raise RuleError(f"{len(hits)} sums bind {var}; bound variables must be unique")
    return hits[0]


def bound_variables(expr) -> list:
    """Every variable bound by a sum, with repetitions (a proof keeps them unique)."""
    return [l[0] for n, _ in walk(expr) if isinstance(n, sp.Sum) for l in n.limits]


def replace_node(expr, node, new):
    """``expr`` with the subtree ``node`` replaced by ``new`` (every identical occurrence)."""
    out = expr.xreplace({node: new})
    if out == expr and node != new:
        raise RuleError("internal: the rewritten subexpression was not found")
    return out


def factors(e) -> list:
    return list(e.args) if isinstance(e, sp.Mul) else [e]


def same(a, b) -> bool:
    """Structural equality up to expansion (for index expressions)."""
    return a == b or sp.expand(a - b) == 0
