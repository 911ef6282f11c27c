"""Where things sit in an expression: the sums around a read, the product around a sum."""

from __future__ import annotations

import sympy as sp

from ..proof.rules.softmax import masked_exponential
from ..proof.tree import factors, walk
from .failure import Stuck

POSITION_NAMES = ("m", "n", "l")


def role_order(r, s):
    """The aggregation variables of read r, outermost last: positions (last axis innermost), then c."""
    return [r.indices[k] for k in reversed(s.position_axes)] + [r.indices[s.channel_axis]]


def occurrences(expr):
    return [n for n, _ in walk(expr) if isinstance(n, sp.Indexed)]


def ranges_around(expr, r) -> dict:
    """Variable → (lo, hi) of every sum enclosing the read ``r``."""
    for node, lims in walk(expr):
        if node == r:
            return {l[0]: (l[1], l[2]) for l in lims}
    return {}


def innermost_sum(expr, r):
    best, depth = None, -1
    for node, lims in walk(expr):
        if isinstance(node, sp.Sum) and r in node.function.atoms(sp.Indexed) and len(lims) > depth:
            best, depth = node, len(lims)
    return best


def sum_binding(expr, var):
    for node, _ in walk(expr):
        if isinstance(node, sp.Sum) and var in [l[0] for l in node.limits]:
            return node
    raise Stuck(f"no sum binds {var}")


def mul_parent(expr, node):
    parents = [p for p, _ in walk(expr) if isinstance(p, sp.Mul) and node in p.args]
    return parents[0] if len(parents) == 1 else None


def value_factor(agg, value):
    return next(f for f in factors(agg.function) if isinstance(f, sp.Indexed) and str(f.base.label) == value)


def frequency_domain(expr) -> bool:
    """Whether ``expr`` conjugates or takes e^{iθ}: a transform the orthogonality tactic can multiply out."""
    return expr.has(sp.conjugate) or any(a.args[0].has(sp.I) for a in expr.atoms(sp.exp))


def is_softmax(dfn, definitions=None, indicators=frozenset()) -> bool:
    """A := exp(ℓ)/Z, or a masked A := E/Z with E := G·exp(ℓ) among ``definitions`` (G brackets and reads of the
    ``indicators``, the inputs declared 0/1): weights the rule softmax-sums-to-one may sum to one (it checks why)."""
    if dfn is None:
        return False
    num, den = sp.fraction(dfn.body)
    if not isinstance(den, sp.Indexed):
        return False
    if isinstance(num, sp.Indexed) and definitions and str(num.base.label) in definitions:
        return masked_exponential(definitions[str(num.base.label)], indicators) is not None
    return isinstance(num, sp.exp)
