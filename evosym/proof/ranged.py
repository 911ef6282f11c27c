"""Inequalities over ranged indices and sizes: ``x ≥ 0`` for every value of the indices in their ranges and every
size in its domain, the operator's constraints included.

An index entering x linearly, with a coefficient of proved sign, is replaced by the end of its range that sign asks
for (innermost first: an inner range may read an outer index). ⌊·⌋ and ⌈·⌉ of quotients are first traded for a
condition without them: ⌊n/d⌋ + r ≥ 0 ⟺ n + r·d ≥ 0 and the three like it, exact; two of one divisor with
opposite signs become one (⌊x⌋ − ⌊y⌋ ≥ ⌊x − y⌋); a positive part written in floors, z·⌊(z + b)/b⌋, is ≥ 0; else
the bound ⌊a⌋ ≥ a − 1 of :func:`.symbolic.rounding_bound`. What remains, in sizes alone, is proved by
:func:`.symbolic.nonnegative`, or minus λ times a constraint's slack (λ = 1, 2, ½) or two slacks, or split at a size
that may be 0.
Every rule answers "proved" or "not proved", never a wrong "proved"; large expressions are not proved (a power
(L − K)^100 would be multiplied out).
"""

from __future__ import annotations

import itertools

import sympy as sp

from .symbolic import nonnegative, range_of, rounding_bound, too_large


def at_least(e, k, ranges: dict, slacks=()) -> bool:
    """``e ≥ k`` proved for every value of the indices in ``ranges`` and every size in its domain."""
    return nonnegative_over(sp.sympify(e) - k, ranges, slacks)


def nonnegative_over(x, ranges: dict, slacks=(), depth: int = 0) -> bool:
    """``x ≥ 0`` for every value of the indices in ``ranges``: ⌊·⌋ and ⌈·⌉ of quotients first traded for a
    condition without them (:func:`_without_rounding`); then an index entering x linearly, with a coefficient of
    proved sign, is replaced by the end of its range that sign asks for (innermost first, since an inner range may
    read an outer index); what remains, in sizes alone, is proved by :func:`_sizes_nonnegative`."""
    x = sp.sympify(x)
    if too_large(x):
        return False
    x = _expand(x)
    r = range_of(x, ranges)
    if r is not None and nonnegative(r[0]):
        return True
    if x.has(sp.floor, sp.ceiling):
        return depth < 4 and _over_rounded(x, ranges, slacks, depth + 1)
    for v in reversed(list(ranges)):
        if not x.has(v):
            continue
        if not _linear_in(x, v):
            return False
        alpha = _expand(x.coeff(v, 1))
        beta = sp.Add(*[term for term in sp.Add.make_args(x) if not term.has(v)])   # (x − α·v would keep v in
        # a term u·(2CR + C) that the shallow expansion does not multiply out)
        lo, hi = ranges[v]
        outer = {u: ranges[u] for u in ranges if u != v}
        if nonnegative_over(alpha, outer, slacks, depth):
            x = _expand(alpha * lo + beta)
        elif nonnegative_over(-alpha, outer, slacks, depth):
            x = _expand(alpha * hi + beta)
        else:
            return False
    if x.free_symbols & set(ranges):
        return False
    if x.has(sp.floor, sp.ceiling):   # a bound of a range brought one in
        return depth < 4 and _over_rounded(x, ranges, slacks, depth + 1)
    return _sizes_nonnegative(x, slacks)


def _expand(x):
    """x multiplied out outside its functions: SymPy's deep expansion would also rewrite ⌊a + n⌋ as ⌊a⌋ + n inside,
    splitting a floor whose lower bound the rules below need whole."""
    return sp.expand(sp.sympify(x), deep=False)


def _over_rounded(x, ranges: dict, slacks, depth: int) -> bool:
    """x ≥ 0 for x holding ⌊·⌋ or ⌈·⌉: the exact condition of :func:`_without_rounding`, else the lower bound
    :func:`.symbolic.rounding_bound` (each c·⌊a⌋ replaced by the end of a − 1 ≤ ⌊a⌋ ≤ a its sign asks for)."""
    plain = _without_rounding(x)
    if plain is None:
        plain = rounding_bound(x) if isinstance(x, sp.Add) else None
    if plain is not None and plain.has(sp.floor):   # each floor's terms gathered, so z·⌊(z + b)/b⌋ is one term
        plain = sp.expand(plain)
        plain = sp.collect(plain, sorted(plain.atoms(sp.floor), key=sp.default_sort_key))
        plain = sp.Add(*[t for t in sp.Add.make_args(plain) if not _positive_part(t)])
    return plain is not None and not plain.has(sp.floor, sp.ceiling) and nonnegative_over(plain, ranges, slacks, depth)


def _without_rounding(x):
    """A condition free of ⌊·⌋ and ⌈·⌉ that implies ``x ≥ 0`` (integers n, r, a positive integer d), else None:
    ⌊n/d⌋ + r ≥ 0 ⟺ n + r·d ≥ 0; r − ⌊n/d⌋ ≥ 0 ⟺ r·d + d − 1 − n ≥ 0; ⌈n/d⌉ + r ≥ 0 ⟺ n + r·d + d − 1 ≥ 0;
    r − ⌈n/d⌉ ≥ 0 ⟺ r·d − n ≥ 0; and two of one divisor with opposite signs become one: ⌊x⌋ − ⌊y⌋ ≥ ⌊x − y⌋
    (⌊y⌋ + ⌊x − y⌋ ≤ ⌊x⌋), ⌈x⌉ − ⌈y⌉ ≥ ⌊x − y⌋ (x ≥ y + ⌊x − y⌋), ⌈x⌉ − ⌊y⌋ ≥ ⌈x − y⌉ (≥ x − y, an integer)."""
    rounded, rest = [], []
    for term in sp.Add.make_args(x):
        c, f = term.as_coeff_Mul()
        if isinstance(f, (sp.floor, sp.ceiling)) and c in (1, -1):
            n, d = sp.fraction(sp.together(f.args[0]))
            if not (n.is_integer is True and d.is_integer is True and d.is_positive is True):
                return None
            rounded.append((int(c), type(f), sp.expand(n), d))
        elif term.has(sp.floor, sp.ceiling):
            return None
        else:
            rest.append(term)
    r = sp.Add(*rest)
    if r.is_integer is not True:
        return None
    if len(rounded) == 2 and rounded[0][0] == -rounded[1][0] and sp.expand(rounded[0][3] - rounded[1][3]) == 0:
        (_, k1, a, d), (_, k2, b, _) = sorted(rounded, key=lambda t: -t[0])   # + k1(a/d) − k2(b/d)
        if (k1, k2) != (sp.floor, sp.ceiling):   # ⌊x⌋ − ⌈y⌉ has no such bound
            rounded = [(1, sp.ceiling if (k1, k2) == (sp.ceiling, sp.floor) else sp.floor, sp.expand(a - b), d)]
    if len(rounded) != 1:
        return None
    c, kind, n, d = rounded[0]
    if kind is sp.floor:
        return sp.expand(n + r * d) if c == 1 else sp.expand(r * d + d - 1 - n)
    return sp.expand(n + r * d + d - 1) if c == 1 else sp.expand(r * d - n)


def _positive_part(term) -> bool:
    """``term`` = c·z·⌊(z + b)/b⌋ with c > 0, z an integer and b a positive integer: ≥ 0, so dropping it from a sum
    lowers the sum (z ≥ 0: both factors ≥ 0; z < 0: ⌊(z + b)/b⌋ ≤ ⌊(b − 1)/b⌋ = 0). It is max(0, z) when −b ≤ z < b,
    written in floors (the output length of a pooling in ceil mode)."""
    c, rest = term.as_coeff_Mul()
    if not (c.is_positive and isinstance(rest, sp.Mul) and len(rest.args) == 2):
        return False
    f = next((a for a in rest.args if isinstance(a, sp.floor)), None)
    z = next((a for a in rest.args if a is not f), None)
    if f is None or z is None:
        return False
    z = sp.expand(z)
    n, b = sp.fraction(sp.together(f.args[0]))
    return (z.is_integer is True and b.is_integer is True and b.is_positive is True
            and sp.expand(n - z - b) == 0)


def slacks(constraints, sizes) -> tuple:
    """σ ≥ 0 for each constraint a ≤ b (b − a), a < b (b − a − 1, on integers), a ≥ b, a > b, a = b (both b − a and
    a − b), that reads ``sizes`` alone (the premises hold every grid shape to each constraint, so one that reads
    anything else fails the proof; it is not taken as a hypothesis here either)."""
    out = []
    for c in constraints:
        if not (isinstance(c, (sp.Le, sp.Lt, sp.Ge, sp.Gt, sp.Eq)) and c.free_symbols <= set(sizes)
                and not c.has(sp.Indexed)):
            continue
        small, big = (c.rhs, c.lhs) if isinstance(c, (sp.Ge, sp.Gt)) else (c.lhs, c.rhs)
        gap = sp.expand(big - small)
        if gap.is_extended_real is not True and not gap.free_symbols:
            continue
        if isinstance(c, (sp.Lt, sp.Gt)):
            if gap.is_integer is not True:
                continue
            gap -= 1
        out.append(gap)
        if isinstance(c, sp.Eq):
            out.append(-gap)
    return tuple(out)


def _sizes_nonnegative(x, slacks, split: int = 1) -> bool:
    """``x ≥ 0`` in sizes alone: by :func:`.symbolic.nonnegative`; or x − λ·σ ≥ 0 for a constraint's slack σ ≥ 0
    (λ = 1, 2 or 1/2), or x − σ − σ', x − σ − 2σ' for two of them (N ≥ D and D ≥ 2 give N − 2 ≥ 0); or, for a
    size that may be 0, at 0 and at every positive value apart."""
    if _refuted(x, slacks):
        return False
    if nonnegative(x) or any(nonnegative(sp.expand(x - lam * g)) for g in slacks for lam in (1, 2, sp.Rational(1, 2))):
        return True
    if any(nonnegative(sp.expand(x - a * g - b * h)) for g, h in itertools.combinations(slacks, 2)
           for a, b in ((1, 1), (1, 2), (2, 1))):
        return True
    if split <= 0:
        return False
    for s in sorted(x.free_symbols, key=str):
        if s.is_integer is True and s.is_nonnegative is True and s.is_positive is not True:
            p = sp.Dummy(f"{s.name}_pos", integer=True, positive=True)
            if all(_sizes_nonnegative(sp.expand(x.xreplace({s: v})), tuple(sp.expand(g.xreplace({s: v})) for g in slacks),
                                      split - 1) for v in (sp.Integer(0), p)):
                return True
    return False


def _refuted(x, slacks) -> bool:
    """x < 0 at a few sizes inside the domain (every slack ≥ 0 there): no proof of x ≥ 0 exists, so none is tried (the
    provers above try many candidates, most of them false)."""
    symbols = sorted(x.free_symbols.union(*(g.free_symbols for g in slacks)), key=str)
    if not symbols or any(s.is_integer is not True or s.is_nonnegative is not True for s in symbols):
        return False
    least = {s: 1 if s.is_positive else 0 for s in symbols}
    points = [{s: max(v, least[s]) for s in symbols} for v in (0, 1, 2, 3, 7)]
    points += [{**{t: 7 for t in symbols}, s: least[s]} for s in symbols]
    points += [{**{t: least[t] for t in symbols}, s: 7} for s in symbols]
    for point in points:
        at = {s: sp.Integer(v) for s, v in point.items()}
        if all(_value_at(g, at) >= 0 for g in slacks):
            value = _value_at(x, at)
            if value < 0:
                return True
    return False


def _value_at(x, at):
    """x's value at the sizes ``at`` (0 where it is no real number: no refutation)."""
    v = x.xreplace(at)
    return v if v.is_number and v.is_extended_real is True else 0


def _linear_in(x, v) -> bool:
    """x = α·v + β with α and β free of v, v nowhere inside a function (⌊·⌋, max, a bracket …)."""
    for term in sp.Add.make_args(x):
        if not term.has(v):
            continue
        coeff, rest = term.as_independent(v, as_Add=False)
        if rest != v:
            return False
    return True
