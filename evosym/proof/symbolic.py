"""Small sound provers for the preconditions of rules: inequalities and index ranges.

They answer "proved" or "not proved", never a wrong "proved": a polynomial in positive
integer sizes is non-negative when, after writing every positive size as 1 + (a non-negative
integer), all its coefficients are non-negative; a term c·⌊a⌋ or c·⌈a⌉ (c a number, a real) is first
replaced by the bound of ⌊a⌋ ≤ a ≤ ⌈a⌉ its sign asks for. Ranges of ``⌊a/k⌋`` follow from the lemma
``0 ≤ a ≤ M·k − 1  ⇒  0 ≤ ⌊a/k⌋ ≤ M − 1`` for ``k ≥ 1``.
"""

from __future__ import annotations

import functools
import itertools
import math

import sympy as sp

from .signs import number_sign, sympy_may_decide_sign

MAX_POWER = 8      # an integer power above this is not multiplied out: not proved
MAX_OPS = 400      # nor (by the range provers) an expression with more operations than this


def large_power(x) -> bool:
    """``x`` holds an integer power above :data:`MAX_POWER`: multiplying it out may take minutes ((L + 1)^200),
    so the provers answer "not proved" instead."""
    return any(p.exp.is_Integer and abs(p.exp) > MAX_POWER for p in sp.sympify(x).atoms(sp.Pow))


def too_large(x) -> bool:
    """An expression the range provers do not multiply out: :func:`large_power`, or more than :data:`MAX_OPS`
    operations."""
    return large_power(x) or sp.count_ops(x) > MAX_OPS


def _unproved_on_sympy_errors(answer):
    """The prover answers ``answer`` ("not proved") where SymPy's own assumptions raise on the expression (a Max
    of a complex power: "The argument … is not comparable"), instead of the exception reaching the rule."""
    def wrap(prover):
        @functools.wraps(prover)
        def prove(*args, **kwargs):
            try:
                return prover(*args, **kwargs)
            except (TypeError, ValueError):
                return answer
        return prove
    return wrap


@_unproved_on_sympy_errors(False)
def nonnegative(expr) -> bool:
    """True only if ``expr ≥ 0`` for all admissible values of its integer symbols (not proved for a
    :func:`large_power`)."""
    if large_power(expr) or sp.sympify(expr).has(sp.Float):   # (SymPy rounds the arithmetic of floats: 1.3·(1/1.3)
        return False                                           # − 1 came out 0 where it is −5·10⁻¹⁷; nothing proved)
    expr = sp.expand(sp.sympify(expr))
    if expr.is_number:   # (by its float bound, never SymPy's sign: −(log r + log(1/r)), 0, is positive to it)
        return number_sign(expr) in (0, 1)
    if _negative_at_least_values(expr):
        return False
    if isinstance(expr, (sp.floor, sp.ceiling)):  # ⌊a⌋ ≥ 0 and ⌈a⌉ ≥ 0 when a ≥ 0
        return nonnegative(expr.args[0])
    if sympy_may_decide_sign(expr) and expr.is_nonnegative:
        return True
    if isinstance(expr, sp.Add) and expr.has(sp.floor, sp.ceiling):
        bound = rounding_bound(expr)
        return bound is not None and nonnegative(bound)
    shifted = {}
    for s in expr.free_symbols:
        if not s.is_integer:
            return False
        if s.is_positive:
            shifted[s] = sp.Dummy(f"{s.name}_m1", integer=True, nonnegative=True) + 1   # (no name a user can take)
        elif not s.is_nonnegative:
            return False
    e = sp.expand(expr.xreplace(shifted))
    try:
        poly = sp.Poly(e, *sorted(e.free_symbols, key=str)) if e.free_symbols else None
    except sp.PolynomialError:   # a quotient a/b: ≥ 0 where a ≥ 0 and b ≥ 1
        num, den = sp.fraction(sp.together(expr))
        return den != 1 and nonnegative(num) and nonnegative(den - 1)
    if poly is None:
        return number_sign(e) in (0, 1)
    return all(number_sign(c) in (0, 1) for c in poly.coeffs())


def rounding_bound(expr: sp.Add):
    """A lower bound of ``expr`` free of ⌊·⌋ and ⌈·⌉ where each appears as a term c·⌊a⌋ or c·⌈a⌉ with c a number and
    a provably real (else None): ⌊a⌋ ≤ a ≤ ⌈a⌉, and for a = n/d with n integer-valued and d a positive integer ⌊a⌋ ≥ (n − d + 1)/d
    and ⌈a⌉ ≤ (n + d − 1)/d (otherwise ⌊a⌋ ≥ a − 1 and ⌈a⌉ ≤ a + 1): each term replaced by the bound its
    coefficient's sign asks for. So the padding K − 1 − ⌊(K − 1)/2⌋ of a centred window is ≥ (K − 1)/2 ≥ 0. A
    coefficient may hold sizes, c·s·⌊a⌋ (s a product of positive integer symbols, its sign c's): a strided read's last
    index s·⌊(H − 1)/s⌋ is ≤ H − 1."""
    out = []
    for term in expr.args:
        c, rest = term.as_coeff_Mul()
        if not rest.has(sp.floor, sp.ceiling):
            out.append(term)
            continue
        scale, rest = rest.as_independent(sp.floor, sp.ceiling, as_Add=False)
        if not (scale == 1 or (scale.is_Mul or scale.is_Symbol) and all(
                f.is_positive and (f.is_Number or f.is_Symbol and f.is_integer) for f in sp.Mul.make_args(scale))):
            return None   # a size coefficient s: a product of positive integer symbols (s ≥ 1), whose sign is c's
        if not isinstance(rest, (sp.floor, sp.ceiling)) or not c.is_Number or c == 0:
            return None
        c = c * scale
        a = rest.args[0]
        if a.is_extended_real is not True:   # ⌊a⌋ ≤ a ≤ ⌈a⌉ compares real numbers only
            return None
        num, den = sp.fraction(sp.together(a))
        exact = den.is_integer is True and den.is_positive is True and num.is_integer is True \
            and not num.has(sp.floor, sp.ceiling)   # (a positive integer d: a number or a size)
        if isinstance(rest, sp.floor):   # ⌊a⌋ ≤ a; ⌊a⌋ ≥ a − 1 (n/d: (n − d + 1)/d)
            out.append(c * (a if c.could_extract_minus_sign() else (num - den + 1) / den if exact else a - 1))
        else:                            # ⌈a⌉ ≥ a; ⌈a⌉ ≤ a + 1 (n/d: (n + d − 1)/d)
            out.append(c * (a if not c.could_extract_minus_sign() else (num + den - 1) / den if exact else a + 1))
    return sp.Add(*out)


def le(a, b) -> bool:
    """Proved ``a ≤ b``."""
    return nonnegative(sp.sympify(b) - sp.sympify(a))


def _negative_at_least_values(expr) -> bool:
    """expr < 0 where each symbol takes its least value (1 if positive, 0 if non-negative; integers alone): a point
    of the domain that refutes expr ≥ 0 at once, before the polynomial is built (the provers try many candidates)."""
    corner = {}
    for s in expr.free_symbols:
        if s.is_integer is not True or s.is_nonnegative is not True:
            return False
        corner[s] = sp.Integer(1 if s.is_positive else 0)
    value = expr.xreplace(corner)
    return value.is_number and value.is_extended_real is True and bool(value < 0)


def range_of(e, ranges) -> tuple | None:
    """An inclusive range [lo, hi] that provably contains ``e``, or None."""
    e = sp.sympify(e)
    if e.is_Integer:
        return (e, e)
    if e.is_Symbol and e in ranges:
        return ranges[e]
    if not (e.free_symbols & set(ranges)) and not e.has(sp.Max, sp.Min, sp.Abs, sp.floor, sp.Mod):
        return (e, e)   # reads no ranged index (sizes only): it is its own range
    if isinstance(e, sp.Mul) and len(e.args) == 2 and e.args[0].is_Integer:
        inner = range_of(e.args[1], ranges)
        if inner is not None:
            k, (lo, hi) = e.args[0], inner
            return (k * lo, k * hi) if k >= 0 else (k * hi, k * lo)
    if isinstance(e, sp.Add):
        parts = [range_of(a, ranges) for a in e.args]
        if all(p is not None for p in parts):
            return (sp.expand(sum(p[0] for p in parts)), sp.expand(sum(p[1] for p in parts)))
    if isinstance(e, (sp.Max, sp.Min)) and len(e.args) == 2:
        lo, hi = _bounds(e, ranges)
        return None if lo is None or hi is None else (lo, hi)
    if isinstance(e, sp.Abs):
        inner = range_of(e.args[0], ranges)
        if inner is None:
            return None
        lo, hi = inner
        if le(0, lo):
            return (lo, hi)
        if le(hi, 0):
            return (-hi, -lo)
        top = hi if le(-lo, hi) else (-lo if le(hi, -lo) else None)
        return None if top is None else (sp.Integer(0), top)
    if isinstance(e, sp.Mod) and e.args[1].is_positive and e.args[1].is_integer and e.args[0].is_integer:
        return (sp.Integer(0), e.args[1] - 1)   # a remainder modulo a positive integer L lies in [0, L − 1]
    if isinstance(e, sp.floor):
        num, den = e.args[0].as_numer_denom()
        if den.is_positive and den.is_integer and num in ranges:
            lo, hi = ranges[num]
            if le(0, lo):
                # 0 ≤ a ≤ hi  ⇒  0 ≤ ⌊a/k⌋ ≤ ⌊hi/k⌋; ⌊hi/k⌋ = M − 1 when hi = M·k − 1
                M = sp.cancel((hi + 1) / den)
                if M.is_polynomial() and sp.expand(M * den - hi - 1) == 0 and sp.fraction(sp.together(M))[1] == 1:
                    return (sp.Integer(0), sp.expand(M - 1))
    return None


def _bounds(e, ranges) -> tuple:
    """(lower bound or None, upper bound or None) of e: max(a, b) is at least either argument's lower
    bound, min(a, b) at most either argument's upper bound, so a clamp min(max(m, 0), L − 1) lies in
    [0, L − 1] whatever the range of m. An expression that reads no ranged index is its own bound."""
    e = sp.sympify(e)
    if not (e.free_symbols & set(ranges)) and not e.has(sp.Max, sp.Min, sp.Abs):
        return (e, e)
    if isinstance(e, (sp.Max, sp.Min)) and len(e.args) == 2:
        (alo, ahi), (blo, bhi) = (_bounds(a, ranges) for a in e.args)
        if isinstance(e, sp.Max):
            return (_pick([alo, blo], larger=True), _pick([ahi, bhi], larger=True, both=True))
        return (_pick([alo, blo], larger=False, both=True), _pick([ahi, bhi], larger=False))
    r = range_of(e, ranges)
    return r if r is not None else (None, None)


def _pick(values, *, larger: bool, both: bool = False):
    """The provably larger (or smaller) of two bounds; with ``both`` each must be known (a bound that
    needs both arguments), else any known one serves (a bound that one argument gives on its own)."""
    known = [v for v in values if v is not None]
    if both and len(known) < 2:
        return None
    if len(known) == 1:
        return known[0]
    if not known:
        return None
    a, b = known
    if le(a, b):
        return b if larger else a
    if le(b, a):
        return a if larger else b
    return None


def in_range(e, lo, hi, ranges) -> tuple[bool, str, tuple]:
    """Whether ``lo ≤ e ≤ hi`` is proved from known ranges, and how (a template and its arguments)."""
    r = range_of(e, ranges)
    if r is None:
        return False, "no range is known for {}", (e,)
    elo, ehi = r
    if le(lo, elo) and le(ehi, hi):
        return True, "{} ∈ [{}, {}] ⊆ [{}, {}]", (e, elo, ehi, lo, hi)
    return False, "{} ∈ [{}, {}] is not provably inside [{}, {}]", (e, elo, ehi, lo, hi)


def unproved_ranges(expr, ranges) -> list[tuple]:
    """The ranges (var, lo, hi) of the sums in ``expr`` not proved well-formed, hi ≥ lo − 1, for every size in its
    domain and every value of the variables in ``ranges`` and of the sums around them (an inner range may read an
    outer sum's variable). Only there is a sum's value defined: Σ over hi = lo − 1 is the empty sum, hi < lo − 1
    is no sum at all (the evaluator refuses it; SymPy's Karr convention gives −Σ over hi+1..lo−1), so a step whose
    result holds such a range is no identity at the sizes that make it, whatever else it proves."""
    out = []

    def walk(e, known):
        if isinstance(e, sp.Sum):
            inner = dict(known)
            for var, lo, hi in reversed(e.limits):   # outermost first: its variable ranges over the inner bounds
                walk(lo, inner)   # (a bound may hold sums of its own)
                walk(hi, inner)
                if not _well_formed(lo, hi, inner):
                    out.append((var, lo, hi))
                inner[var] = (lo, hi)
            walk(e.function, inner)
        elif isinstance(e, sp.Basic):
            for a in e.args:
                walk(a, known)
    walk(sp.sympify(expr), dict(ranges))
    return list(dict.fromkeys(out))


MAX_RESIDUES = 4096   # residue points an integer-valued polynomial is checked at (dⁿ: denominator d, n symbols)


def integer_valued(e) -> bool:
    """True only if ``e`` is an integer for every integer value of its symbols (:func:`integer_reason`)."""
    return integer_reason(e) is not None


BY_RESIDUES = "an integer at every residue of its symbols modulo its coefficients' common denominator"


@_unproved_on_sympy_errors(None)
def integer_reason(e):
    """How ``e`` is shown an integer for every integer value of its symbols, or None: by its tree (integers and
    integer symbols under +, ×, ⌊·⌋, ⌈·⌉, powers), by SymPy's assumptions, else, for a polynomial p with rational
    coefficients in integer symbols (−L(L − 1)/2), by residues: with d the least common denominator, q = d·p has
    integer coefficients and q(x + d·k) ≡ q(x) (mod d), so p is integer-valued iff d divides q at every point of
    [0, d)ⁿ (checked where there are at most MAX_RESIDUES of them; not for a :func:`large_power`)."""
    e = sp.sympify(e)
    if _integer_by_structure(e):
        return "SymPy: integer symbols and operations"
    if large_power(e):   # (before SymPy's own assumptions, which may multiply it out: 20 s at (L + 1)^200)
        return None
    if e.is_integer is True:
        return "SymPy: integer symbols and operations"
    symbols = sorted(e.free_symbols, key=str)
    if not symbols or not all(s.is_integer is True for s in symbols):
        return None
    try:
        poly = sp.Poly(sp.expand(e), *symbols)
    except sp.PolynomialError:
        return None
    coeffs = poly.coeffs()
    if not all(c.is_Rational for c in coeffs):
        return None
    d = math.lcm(*[int(sp.Rational(c).q) for c in coeffs])
    if d ** len(symbols) > MAX_RESIDUES:
        return None
    q = poly * d
    whole = all(int(q.eval(pt)) % d == 0 for pt in itertools.product(range(d), repeat=len(symbols)))
    return BY_RESIDUES if whole else None


def _integer_by_structure(e) -> bool:
    """``e`` built from integers and integer symbols by +, ×, ⌊·⌋, ⌈·⌉ and non-negative integer powers: an integer,
    read off its tree without multiplying anything out (L^100000 − L)."""
    if e.is_Integer or (e.is_Symbol and e.is_integer is True):
        return True
    if isinstance(e, (sp.floor, sp.ceiling)):
        return e.args[0].is_real is True   # (finite: ⌊∞⌋ is no integer)
    if isinstance(e, sp.Pow):
        return e.exp.is_Integer and e.exp >= 0 and _integer_by_structure(e.base)
    return isinstance(e, (sp.Add, sp.Mul)) and all(_integer_by_structure(a) for a in e.args)


def _integer_bounds(lo, hi) -> bool:
    """Both bounds of a sum integers for every value of their symbols (a sum steps by 1 from its lower bound to its
    upper one): :func:`integer_valued`."""
    return integer_valued(lo) and integer_valued(hi)


def _well_formed(lo, hi, ranges) -> bool:
    """Proved: both bounds integers (by their symbols: a bound −L/2 is none at odd L, where the sum has no value)
    and hi − lo + 1 ≥ 0, by the symbols' assumptions, else by the known ranges of the variables it reads."""
    if not _integer_bounds(lo, hi):
        return False
    count = sp.expand(sp.sympify(hi) - sp.sympify(lo) + 1)
    if nonnegative(count):
        return True
    r = range_of(count, ranges)
    return r is not None and nonnegative(r[0])
