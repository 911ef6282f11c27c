"""Which definitions lie on the value path: bodies affine in the value tensor v.

The Evolution form is linear in v, so the search unfolds every definition through which the
expression reads v linearly (padded inputs, value projections, attention heads) and keeps those
that read v non-linearly (softmax weights, generated kernels), which become part of K.
"""

from __future__ import annotations

import sympy as sp

NONLINEAR = None   # the degree of an expression that is not a polynomial of degree ≤ 1 in v


def degree(expr, value: str, definitions: dict, memo: dict | None = None, opaque=frozenset()):
    """1 when ``expr`` is affine in the reads of v (direct, or through definitions affine in v), 0 when
    it reads v only through definitions non-linear in v (those stay inside K, which may depend on the
    input), :data:`NONLINEAR` when it multiplies reads of v or puts them under a non-linear function."""
    memo = {} if memo is None else memo

    def of_definition(name):
        if name in opaque:
            return 0
        if name not in memo:
            memo[name] = 0                    # (a definition that reads itself is not on a path we unfold)
            memo[name] = visit(definitions[name].body)
        # a definition non-linear in v is opaque: it stays inside K, which may depend on x
        return 0 if memo[name] is NONLINEAR else memo[name]

    def visit(e):
        if isinstance(e, sp.Indexed):
            name = str(e.base.label)
            if name == value:
                return 1
            if any(visit(i) != 0 for i in e.indices):
                return NONLINEAR
            return of_definition(name) if name in definitions else 0
        if isinstance(e, sp.Sum):
            if any(visit(b) != 0 for lim in e.limits for b in lim[1:]):
                return NONLINEAR
            return visit(e.function)
        if isinstance(e, sp.Piecewise):   # linear when the conditions do not read v: the branches decide
            if any(visit(c) != 0 for _, c in e.args):
                return NONLINEAR
            ds = [visit(v) for v, _ in e.args]
            return NONLINEAR if NONLINEAR in ds else max(ds)
        if isinstance(e, sp.Add):
            ds = [visit(a) for a in e.args]
            return NONLINEAR if NONLINEAR in ds else max(ds)
        if isinstance(e, sp.Mul):
            ds = [visit(a) for a in e.args]
            return NONLINEAR if NONLINEAR in ds or sum(ds) > 1 else sum(ds)
        if not e.args or isinstance(e, (sp.Symbol, sp.Number)):
            return 0
        ds = [visit(a) for a in e.args if isinstance(a, sp.Basic)]
        return 0 if all(d == 0 for d in ds) else NONLINEAR

    return visit(expr)


def opaque_kernels(expr, value: str, definitions: dict) -> frozenset:
    """Definitions to keep folded where a product multiplies several factors affine in v: the simplest
    factor (fewest operations in its unfolded body) is taken as the value, the others as K (a kernel
    generated from the input, as in a hyper-kernel that pools the very input it is applied to)."""
    opaque: set = set()
    for _ in range(20):
        memo: dict = {}
        products = []
        for node in sp.preorder_traversal(expr):
            if isinstance(node, sp.Mul):
                linear = [a for a in node.args if degree(a, value, definitions, memo, frozenset(opaque)) == 1]
                if len(linear) >= 2:
                    products.append(linear)
        if not products:
            break
        # the value is what the products share (the padded input every term reads), then the plainest
        shared: dict = {}
        for linear in products:
            for a in linear:
                shared[_name(a)] = shared.get(_name(a), 0) + 1
        linear = products[0]
        ranked = sorted(linear, key=lambda a: (-shared[_name(a)], _weight(a, definitions), sp.default_sort_key(a)))
        folded = {_name(a) for a in ranked[1:] if isinstance(a, sp.Indexed) and _name(a) in definitions}
        if not folded - opaque:
            break
        opaque |= folded
    return frozenset(opaque)


def _name(a) -> str:
    return str(a.base.label) if isinstance(a, sp.Indexed) else sp.srepr(a)


def _weight(e, definitions, depth=0) -> int:
    """Operations in ``e`` with the definitions it reads unfolded (a measure of how far from a plain read)."""
    if depth > 8:
        return 0
    total = sp.count_ops(e)
    for r in e.atoms(sp.Indexed):
        name = str(r.base.label)
        if name in definitions:
            total += 1 + _weight(definitions[name].body, definitions, depth + 1)
    return total


def value_path(expr, value: str, definitions: dict, opaque=frozenset()) -> list[str]:
    """Definitions read by ``expr`` whose bodies are affine in v and depend on it (other than the
    ``opaque`` ones), in a deterministic order."""
    memo: dict = {}
    out = []
    for r in sorted(expr.atoms(sp.Indexed), key=sp.default_sort_key):
        name = str(r.base.label)
        if name in definitions and name not in out and name not in opaque \
                and degree(r, value, definitions, memo, opaque) == 1:
            out.append(name)
    return out
