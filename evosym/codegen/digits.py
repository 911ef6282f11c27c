"""Reads through ⌊·/D⌋ rewritten as affine reads over mixed-radix digits, so that they can be views.

A grouped or grouped-query index such as ``bV[c + d·⌊⌊c/d⌋/G⌋ − d·⌊c/d⌋]`` (value head ``⌊h/G⌋`` of query head
``h = ⌊c/d⌋``) is a gather with a mask when compiled as written. Over the digits of c (c = r₀ + d·r₁ + d·G·r₂,
0 ≤ r₀ < d, 0 ≤ r₁ < G, 0 ≤ r₂ < N) it is r₀ + d·r₂: affine, a view of bV broadcast over r₁. Both rewrites here are
exact identities on the stated ranges, each premise proved for every admissible size (not checked at sizes):

* ``⌊(D·A + R)/D⌋ = A`` where A is integer-valued and 0 ≤ R ≤ D − 1 on the variables' ranges;
* ``⌊v/Dⱼ⌋ = Σ_{i ≥ j} (Dᵢ/Dⱼ)·rᵢ`` and ``v = Σ Dᵢ·rᵢ`` for v over [0, E) when D₁ | D₂ | … | D_k | E (each
  quotient a polynomial in the sizes with integer coefficients, at least 1) and the digits rᵢ run over
  [0, D_{i+1}/Dᵢ): the mixed-radix representation of v, unique on that range.
"""

from __future__ import annotations

import sympy as sp

from ..proof.symbolic import nonnegative


def quotient(a, b):
    """b/a as a polynomial in the sizes with integer coefficients, at least 1 for every admissible size (a divides
    b), else None. Sizes are positive integers, so such a polynomial is an integer."""
    q = sp.cancel(sp.sympify(b) / sp.sympify(a))
    num, den = sp.fraction(q)
    if den != 1:
        return None
    symbols = sorted(q.free_symbols, key=str)
    if symbols and not (all(s.is_integer and s.is_positive for s in symbols) and q.is_polynomial(*symbols)):
        return None   # (⌊·⌋, Max …: no polynomial; sp.Poly would raise)
    poly = sp.Poly(q, *symbols) if symbols else None
    if (poly is not None and not all(c.is_Integer for c in poly.coeffs())) or (poly is None and not q.is_Integer):
        return None
    return q if nonnegative(q - 1) else None


def _ratio(arg):
    """(X, D) with arg = X/D, X integer-valued and D a size expression (positive symbols only) at least 1, else
    None."""
    num, den = sp.fraction(sp.together(arg))
    if not (num.is_integer and den.is_integer and all(s.is_positive for s in den.free_symbols)
            and nonnegative(den - 1)):
        return None
    return num, den


def _top_down(expr, rewrite):
    """``expr`` with each outermost floor for which ``rewrite`` gives a value replaced by it."""
    if isinstance(expr, sp.floor):
        value = rewrite(expr)
        if value is not None:
            return value
    if not expr.args or expr.is_Atom:
        return expr
    args = [_top_down(a, rewrite) for a in expr.args]
    return expr.func(*args) if args != list(expr.args) else expr


def split_floors(i, interval):
    """``i`` with every ⌊(D·A + R)/D⌋ replaced by A, where A collects the terms of the numerator that D divides (an
    integer expression) and ``interval(R)`` proves 0 ≤ R ≤ D − 1 (``interval``: (low, high) of an expression over
    the variables' ranges, or None). Innermost floors first."""
    def rewrite(node):
        if not isinstance(node, sp.floor):
            return node
        ratio = _ratio(node.args[0])
        if ratio is None:
            return node
        num, den = ratio
        whole, rest = sp.Integer(0), sp.Integer(0)
        for term in sp.Add.make_args(sp.expand(num)):
            q = sp.cancel(term / den)
            if sp.fraction(q)[1] == 1 and q.is_integer:
                whole += q
            else:
                rest += term
        span = interval(rest)
        if span is None or not (nonnegative(span[0]) and nonnegative(den - 1 - span[1])):
            return node
        return whole
    return sp.sympify(i).replace(lambda n: isinstance(n, sp.floor), rewrite)


def _chain(node, variables):
    """(v, D) where ``node`` = ⌊v/D⌋ or ⌊⌊v/D₁⌋/D₂⌋ (= ⌊v/(D₁·D₂)⌋ for integer v and positive D₁, D₂), v one of
    ``variables``; else None."""
    ratio = _ratio(node.args[0])
    if ratio is None:
        return None
    num, den = ratio
    if num in variables:
        return num, den
    if isinstance(num, sp.floor):
        inner = _chain(num, variables)
        if inner is not None:
            return inner[0], sp.expand(inner[1] * den)
    return None


def decompose(indices, extents, name):
    """Digits for the variables read through ⌊v/D⌋ in ``indices``: (the indices rewritten over them, {v: [(digit,
    its SymPy extent), …] most significant first}), or None where no floor is of that form, a floor of an index
    variable remains after the rewrite, or the divisors of one variable do not form a chain dividing its extent.
    ``extents[v]``: the SymPy length of v's range [0, E) (the variables that may be decomposed); ``name(v, k)``:
    the name of v's k-th digit."""
    found = {}
    for i in indices:
        for node in sp.preorder_traversal(sp.sympify(i)):
            chain = _chain(node, set(extents)) if isinstance(node, sp.floor) else None
            if chain is not None:
                found.setdefault(chain[0], set()).add(chain[1])
    if not found:
        return None
    digits, subs = {}, {}
    for v in sorted(found, key=str):
        divisors = sorted(found[v], key=sp.default_sort_key)
        chain = []
        while divisors:   # next, the divisor that divides every other one
            first = next((a for a in divisors if all(a == b or quotient(a, b) is not None for b in divisors)), None)
            if first is None:
                return None
            chain.append(first)
            divisors.remove(first)
        steps = [sp.Integer(1)] + chain   # Dᵢ: the weight of digit i
        lengths = [quotient(a, b) for a, b in zip(steps, chain + [extents[v]])]
        if any(q is None for q in lengths):
            return None
        symbols = [sp.Symbol(name(v, k), integer=True, nonnegative=True) for k in range(len(steps))]
        digits[v] = list(zip(reversed(symbols), reversed(lengths)))
        for j, divisor in enumerate(chain, 1):   # ⌊v/Dⱼ⌋ = Σ_{i ≥ j} (Dᵢ/Dⱼ)·rᵢ
            subs[v, divisor] = sp.expand(sum((sp.cancel(steps[i] / divisor) * symbols[i]
                                              for i in range(j, len(steps))), sp.Integer(0)))
        subs[v, None] = sp.expand(sum((w * r for w, r in zip(steps, symbols)), sp.Integer(0)))

    def rewrite(node):
        chain = _chain(node, set(digits))
        return subs.get(chain) if chain is not None else None
    out = []
    for i in indices:
        i = _top_down(sp.sympify(i), rewrite)
        i = sp.expand(i.xreplace({v: subs[v, None] for v in digits}))
        if any(not all(s.is_positive for s in n.free_symbols) for n in sp.preorder_traversal(i)
               if isinstance(n, sp.floor)):
            return None   # a floor of an index variable or a digit is left: not affine
        out.append(i)
    return out, digits


def weights(digits):
    """The weight Dᵢ of each digit of :func:`decompose`'s list (most significant first), least significant first."""
    out, w = [], sp.Integer(1)
    for _, n in reversed(digits):
        out.append(w)
        w = sp.expand(w * n)
    return out
