"""Every division a step holds is by a value proved non-zero, or the step is not labelled general.

A rule's identity is computed in SymPy's arithmetic of fractions: ``a·Σ_∅ f = Σ_∅ a·f`` and ``x/x = 1`` are
identities there, yet at a size where a divisor is 0 one side is undefined and the other a number. So an identity
between expressions that divide holds for all sizes only where no divisor vanishes: an operator that averages over
a bin [⌊i·L/L_o⌋, ⌈(i+1)·L/L_o⌉) is undefined at L = 0, and a proof that widens L's domain to include 0 must not
print "valid for all sizes". :func:`divisor_obligations` gives an unproved obligation for each divisor (the base of a
negative power, the modulus of a remainder) in a step's expressions, or in the definitions they read at that read,
that the small prover here does not show non-zero at every value of the indices in their ranges and every size in
its domain; such a step is checked at the grid shapes (where the evaluator refuses a division by 0).

The prover shows ``d > 0`` (or ``−d > 0``, or a product or integer power of non-zero factors) from: positive numbers
and sizes; sums of non-negative terms one of which is positive; products and powers of positive values; exp of a
real value; a sum whose range is non-empty with a positive summand; a count Σ_w [a ≤ w + c ≤ b] whose window meets
the summed range (lo ≤ hi, a ≤ b, a ≤ hi + c and lo + c ≤ b); a sum of non-negative terms with a key that passes
every bracket (:func:`.softmax.visible_key`) or an indicator's premise (:func:`.softmax.visible_by_premise`); reads
of definitions through their bodies; integer values whose range starts at 1. Inequalities over ranged indices are
proved by replacing an index that enters linearly by the end of its range its coefficient's sign asks for.
"""

from __future__ import annotations

import sympy as sp

from ...ir.symbols import InRange
from ...ir.tensors import INDICATORS
from ..symbolic import nonnegative, range_of, rounding_bound
from .base import Context, Obligation
from . import softmax
from .softmax import real_valued, visible_by_premise

MAX_DEPTH = 24   # reads of definitions followed inside one another before the prover gives up (not proved)


def divisors(expr, ranges: dict, ctx: Context) -> list[tuple]:
    """(divisor, the ranges known where it is read) for every division in ``expr`` and in the bodies of the
    definitions it reads, instantiated at each read (a definition is evaluated only where it is read)."""
    out: list = []

    def walk(e, known, depth):
        if isinstance(e, sp.Sum):
            inner = dict(known)
            for var, lo, hi in reversed(e.limits):   # outermost first
                walk(lo, inner, depth)
                walk(hi, inner, depth)
                inner[var] = (lo, hi)
            walk(e.function, inner, depth)
            return
        if isinstance(e, sp.Pow) and e.exp.is_number and e.exp.is_negative:
            out.append((e.base, known))
        elif isinstance(e, sp.Mod):
            out.append((e.args[1], known))
        elif isinstance(e, sp.Indexed) and str(e.base.label) in ctx.definitions:
            if depth >= MAX_DEPTH:
                out.append((e, known))   # too deep to look into: its divisors are not proved non-zero
                return
            walk(ctx.definitions[str(e.base.label)].instantiate(e.indices), known, depth + 1)
        if isinstance(e, sp.Basic):
            for a in e.args:
                walk(a, known, depth)
    walk(sp.sympify(expr), dict(ranges), 0)
    return out


def divisor_obligations(exprs, ranges: dict, ctx: Context) -> tuple:
    """An unproved obligation for each divisor of ``exprs`` (pairs of an expression and the known ranges of its free
    variables, added to ``ranges``) not proved non-zero by :func:`nonzero`; none where every one is proved."""
    unproved: dict = {}
    for e, known in exprs:
        for d, where in divisors(e, {**ranges, **known}, ctx):
            if d not in unproved and not nonzero(d, where, ctx):
                unproved[d] = True
    return tuple(Obligation("{} ≠ 0 wherever it divides, for every size in its domain", False,
                            "not proved symbolically (a division by 0 is undefined: checked at the grid shapes)", (d,))
                 for d in unproved)


def nonzero(e, ranges: dict, ctx: Context) -> bool:
    """True only if ``e ≠ 0`` at every value of the indices in ``ranges`` and every size in its domain."""
    e = sp.sympify(e)
    if positive(e, ranges, ctx) or positive(-e, ranges, ctx):
        return True
    if isinstance(e, sp.Mul):
        return all(nonzero(f, ranges, ctx) for f in e.args)
    if isinstance(e, sp.Pow) and e.exp.is_Integer and e.exp > 0:
        return nonzero(e.base, ranges, ctx)
    return False


def positive(e, ranges: dict, ctx: Context, depth: int = 0) -> bool:
    """True only if ``e > 0`` (a real number) at every value of the indices in ``ranges`` and every size."""
    e = sp.sympify(e)
    if depth > MAX_DEPTH:
        return False
    if e.is_number:
        return e.is_extended_real is True and e.is_positive is True
    if isinstance(e, sp.Symbol):
        return e.is_positive is True or (e.is_integer is True and at_least(e, 1, ranges, ctx))
    if isinstance(e, sp.Add):
        if e.is_integer is True and at_least(e, 1, ranges, ctx):
            return True
        return all(nonnegative_value(a, ranges, ctx, depth + 1) for a in e.args) and \
            any(positive(a, ranges, ctx, depth + 1) for a in e.args)
    if isinstance(e, sp.Mul):
        return all(positive(a, ranges, ctx, depth + 1) for a in e.args)
    if isinstance(e, sp.Pow):
        return positive(e.base, ranges, ctx, depth + 1) and real_valued(e.exp, ctx)
    if isinstance(e, sp.exp):
        return real_valued(e.args[0], ctx)
    if isinstance(e, sp.Abs):
        return nonzero(e.args[0], ranges, ctx) and real_valued(e.args[0], ctx)
    if isinstance(e, sp.Max):
        return any(positive(a, ranges, ctx, depth + 1) for a in e.args) and all(real_valued(a, ctx) for a in e.args)
    if isinstance(e, sp.Min):
        return all(positive(a, ranges, ctx, depth + 1) for a in e.args)
    if isinstance(e, sp.Indexed) and str(e.base.label) in ctx.definitions:
        return positive(ctx.definitions[str(e.base.label)].instantiate(e.indices), ranges, ctx, depth + 1)
    if isinstance(e, sp.Sum):
        return _positive_sum(e, ranges, ctx, depth)
    if e.is_integer is True:
        return at_least(e, 1, ranges, ctx)
    return False


def nonnegative_value(e, ranges: dict, ctx: Context, depth: int = 0) -> bool:
    """True only if ``e ≥ 0`` (a real number) at every value of the indices in ``ranges`` and every size."""
    e = sp.sympify(e)
    if depth > MAX_DEPTH:
        return False
    if e.is_number:
        return e.is_extended_real is True and e.is_nonnegative is True
    if positive(e, ranges, ctx, depth + 1):
        return True
    if isinstance(e, (InRange, sp.KroneckerDelta)):
        return True
    if isinstance(e, sp.Indexed):
        label = str(e.base.label)
        if label in ctx.definitions:
            return nonnegative_value(ctx.definitions[label].instantiate(e.indices), ranges, ctx, depth + 1)
        decl = ctx.tensors.get(label)
        return decl is not None and (decl.domain == "nonnegative" or decl.domain in INDICATORS)
    if isinstance(e, (sp.Add, sp.Mul)):
        return all(nonnegative_value(a, ranges, ctx, depth + 1) for a in e.args)
    if isinstance(e, sp.Pow):
        if e.exp.is_Integer and e.exp.is_even and e.exp > 0:
            return real_valued(e.base, ctx)
        return e.exp.is_positive is True and nonnegative_value(e.base, ranges, ctx, depth + 1) and real_valued(e.exp, ctx)
    if isinstance(e, (sp.exp, sp.Abs)):
        return real_valued(e.args[0], ctx)
    if isinstance(e, sp.Sum):
        inner = dict(ranges)
        for var, lo, hi in reversed(e.limits):
            inner[var] = (lo, hi)
        return nonnegative_value(e.function, inner, ctx, depth + 1)
    if e.is_integer is True:
        return at_least(e, 0, ranges, ctx)
    return False


def _positive_sum(e: sp.Sum, ranges: dict, ctx: Context, depth: int) -> bool:
    """Σ > 0: every term ≥ 0 and one proved > 0 (a non-empty range of positive terms, a key passing every bracket,
    an indicator's premise, or a window of a count meeting the range)."""
    inner = dict(ranges)
    for var, lo, hi in reversed(e.limits):
        inner[var] = (lo, hi)
    f = e.function
    for _ in range(MAX_DEPTH):   # a summand that reads a definition (E[…] := G·exp(ℓ)) is its body there
        if not (isinstance(f, sp.Indexed) and str(f.base.label) in ctx.definitions):
            break
        f = ctx.definitions[str(f.base.label)].instantiate(f.indices)
    if not nonnegative_value(f, inner, ctx, depth + 1):
        return False
    nonempty = all(_nonnegative_over(hi - lo, {**ranges, **{v: r for v, r in inner.items() if v != var}}, ctx)
                   for var, lo, hi in e.limits)
    if nonempty and positive(f, inner, ctx, depth + 1):
        return True
    factors = sp.Mul.make_args(f)
    guards = [g for g in factors if isinstance(g, InRange) or _indicator_read(g, ctx)]
    rest = sp.Mul(*[g for g in factors if g not in guards])
    if not guards or not positive(rest, inner, ctx, depth + 1):
        return False
    limits = [(var, lo, hi) for var, lo, hi in reversed(e.limits)]
    if all(isinstance(g, InRange) for g in guards):
        if len(limits) == 1 and len(guards) == 1 and _window_meets(guards[0], limits[0], ranges, ctx):
            return True
        return softmax.visible_key(guards, limits, ranges) is not None   # (the softmax rule's lemma, one copy)
    return visible_by_premise(guards, limits, ranges, ctx) is not None


def _indicator_read(g, ctx: Context) -> bool:
    decl = ctx.tensors.get(str(g.base.label)) if isinstance(g, sp.Indexed) else None
    return decl is not None and decl.domain in INDICATORS and decl.role == "input"


def _window_meets(g: InRange, limit, ranges: dict, ctx: Context) -> bool:
    """Σ_{w=lo}^{hi} [a ≤ w + c ≤ b] ≥ 1: the keys w with max(lo, a − c) ≤ w ≤ min(hi, b − c) exist when lo ≤ hi,
    a ≤ b, a ≤ hi + c and lo + c ≤ b (c free of w), for every value of the indices in ``ranges``."""
    w, lo, hi = limit
    t, a, b = g.args
    c = sp.expand(t - w)
    if c.has(w) or a.has(w) or b.has(w) or not all(x.is_integer for x in (t, a, b, lo, hi)):
        return False
    return all(_nonnegative_over(x, ranges, ctx) for x in (hi - lo, b - a, hi + c - a, b - c - lo))


def at_least(e, k: int, ranges: dict, ctx: Context) -> bool:
    """``e ≥ k`` proved for every value of the indices in ``ranges`` and every size in its domain."""
    return _nonnegative_over(sp.sympify(e) - k, ranges, ctx)


def _nonnegative_over(x, ranges: dict, ctx: Context, depth: int = 0) -> bool:
    """``x ≥ 0`` for every value of the indices in ``ranges``: ⌊·⌋ and ⌈·⌉ of quotients first traded for a
    condition without them (:func:`_without_rounding`); then an index entering x linearly, with a coefficient of
    proved sign, is replaced by the end of its range that sign asks for (innermost first, since an inner range may
    read an outer index); what remains, in sizes alone, is proved by :func:`_sizes_nonnegative`."""
    x = _expand(x)
    r = range_of(x, ranges)
    if r is not None and nonnegative(r[0]):
        return True
    if x.has(sp.floor, sp.ceiling):
        return depth < 4 and _nonnegative_over_rounded(x, ranges, ctx, depth + 1)
    for v in reversed(list(ranges)):
        if not x.has(v):
            continue
        if not _linear_in(x, v):
            return False
        alpha = _expand(x.coeff(v, 1))
        beta = _expand(x - alpha * v)
        lo, hi = ranges[v]
        outer = {u: ranges[u] for u in ranges if u != v}
        if _nonnegative_over(alpha, outer, ctx, depth):
            x = _expand(alpha * lo + beta)
        elif _nonnegative_over(-alpha, outer, ctx, depth):
            x = _expand(alpha * hi + beta)
        else:
            return False
    if x.free_symbols & set(ranges):
        return False
    if x.has(sp.floor, sp.ceiling):   # a bound of a range brought one in
        return depth < 4 and _nonnegative_over_rounded(x, ranges, ctx, depth + 1)
    return _sizes_nonnegative(x, _slacks(ctx))


def _expand(x):
    """x multiplied out outside its functions: SymPy's deep expansion would also rewrite ⌊a + n⌋ as ⌊a⌋ + n inside,
    splitting a floor whose lower bound the rules below need whole."""
    return sp.expand(sp.sympify(x), deep=False)


def _nonnegative_over_rounded(x, ranges: dict, ctx: Context, depth: int) -> bool:
    """x ≥ 0 for x holding ⌊·⌋ or ⌈·⌉: the exact condition of :func:`_without_rounding`, else the lower bound
    :func:`..symbolic.rounding_bound` (each c·⌊a⌋ replaced by the end of a − 1 ≤ ⌊a⌋ ≤ a its sign asks for)."""
    plain = _without_rounding(x)
    if plain is None:
        plain = rounding_bound(x) if isinstance(x, sp.Add) else None
    if plain is not None and plain.has(sp.floor):   # each floor's terms gathered, so z·⌊(z + b)/b⌋ is one term
        plain = sp.expand(plain)
        plain = sp.collect(plain, sorted(plain.atoms(sp.floor), key=sp.default_sort_key))
        plain = sp.Add(*[t for t in sp.Add.make_args(plain) if not _positive_part(t)])
    return plain is not None and not plain.has(sp.floor, sp.ceiling) and _nonnegative_over(plain, ranges, ctx, depth)


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


def _slacks(ctx: Context) -> tuple:
    """σ ≥ 0 for each of the operator's constraints a ≤ b (b − a), a < b (b − a − 1, on integers), a ≥ b, a > b, that
    reads sizes alone (the premises hold every grid shape to each constraint, so one that reads anything else fails
    the proof; it is not taken as a hypothesis here either)."""
    out = []
    for c in ctx.constraints:
        if isinstance(c, (sp.Le, sp.Lt, sp.Ge, sp.Gt)) and c.free_symbols <= ctx.sizes and not c.has(sp.Indexed):
            small, big = (c.lhs, c.rhs) if isinstance(c, (sp.Le, sp.Lt)) else (c.rhs, c.lhs)
            gap = sp.expand(big - small)
            if isinstance(c, (sp.Lt, sp.Gt)):
                if gap.is_integer is not True:
                    continue
                gap -= 1
            out.append(gap)
    return tuple(out)


def _sizes_nonnegative(x, slacks, split: int = 1) -> bool:
    """``x ≥ 0`` in sizes alone: by :func:`..symbolic.nonnegative`; or x − λ·σ ≥ 0 for a constraint's slack σ ≥ 0
    (λ = 1, 2 or 1/2); or, for a size that may be 0, at 0 and at every positive value apart."""
    if nonnegative(x) or any(nonnegative(sp.expand(x - lam * g)) for g in slacks for lam in (1, 2, sp.Rational(1, 2))):
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


def _linear_in(x, v) -> bool:
    """x = α·v + β with α and β free of v, v nowhere inside a function (⌊·⌋, max, a bracket …)."""
    for term in sp.Add.make_args(x):
        if not term.has(v):
            continue
        coeff, rest = term.as_independent(v, as_Add=False)
        if rest != v:
            return False
    return True
