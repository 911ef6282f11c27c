"""Exact values for bounded checks: rationals, or polynomials in symbolic tensor entries.

A bounded check evaluates both sides of an equation at concrete sizes with every tensor entry
a distinct symbol. Linear operators give linear forms, products of parameters and inputs give
polynomials; both compare exactly in the canonical form kept here (a dict from sorted
monomials to exact rational coefficients: an ``int`` when the coefficient is an integer, a ``Fraction``
only when it is not, because integer arithmetic is several times faster and exactly as exact; an
integral ``Fraction`` is turned back into an ``int`` whenever a value is normalised, and the two compare
and hash equal, so the choice never changes a comparison). Non-polynomial pieces (``exp``, ``1/poly``, √2) become
opaque atoms with canonical arguments: equal atoms are equal values, which keeps a "yes" sound;
a "no" on expressions with atoms is re-examined with SymPy by the caller.

Roots of unity (a DFT's e^{2πi·n/L}) are exact algebraic numbers, not opaque atoms: ζ_L^r is kept in
the power basis 1, ζ_L, …, ζ_L^{φ(L)−1} of Q(ζ_L), reduced with the cyclotomic polynomial Φ_L, so
Σ_k ζ_L^k = 0 and ζ_4^2 = −1 are recognised exactly. With one L (or pairwise coprime ones) the form
is canonical; otherwise two equal values may still print differently (a "no", never a false "yes").
"""

from __future__ import annotations

from bisect import bisect_right
from fractions import Fraction

import sympy as sp

Atom = tuple  # ("T", name, index) | ("S", name, ()) | ("F", fname, argkeys) | ("N", text, ()) | ("Z", L, r): ζ_L^r


class Poly:
    """A polynomial with exact (``int`` or ``Fraction``) coefficients over hashable atoms; immutable by convention:
    no function here mutates a Poly's ``terms`` once it is built (values are shared by memos)."""

    __slots__ = ("terms", "_key", "_hash")

    def __init__(self, terms: dict):
        self.terms = terms
        self._key = self._hash = None

    @staticmethod
    def atom(a: Atom) -> "Poly":
        return Poly({(a,): 1})

    def key(self) -> tuple:
        """The sorted (monomial, coefficient) pairs: computed once, since ``terms`` never changes (an opaque
        atom's arguments and a value's hash are read many times: 1/Z of a softmax at every entry it divides)."""
        k = self._key
        if k is None:
            k = self._key = tuple(sorted(self.terms.items()))
        return k

    def __eq__(self, other):
        return isinstance(other, Poly) and self.terms == other.terms

    def __hash__(self):
        h = self._hash
        if h is None:
            h = self._hash = hash(self.key())
        return h

    def __repr__(self):
        return f"Poly({self.key()!r})"


Value = "int | Fraction | Poly"


def _normal(terms: dict):
    """Drop zero coefficients, turn integral Fractions into ints; a plain number when only a constant is left."""
    out = {}
    for m, c in terms.items():
        if c:
            if type(c) is Fraction and c.denominator == 1:
                c = c.numerator
            out[m] = c
    if not out:
        return 0
    if len(out) == 1 and () in out:
        return out[()]
    return Poly(out)


def exact(v):
    """A number as an exact coefficient: an int stays, anything else becomes a Fraction (exactly)."""
    if type(v) is int:
        return v
    f = Fraction(v)
    return int(f) if f.denominator == 1 else f


def _terms(v) -> dict:
    if isinstance(v, Poly):
        return v.terms
    return {(): exact(v)} if v != 0 else {}


def add(a, b):
    if not isinstance(a, Poly) and not isinstance(b, Poly):
        return a + b
    out = dict(_terms(a))
    for m, c in _terms(b).items():
        out[m] = out.get(m, 0) + c
    return _normal(out)


def total(values):
    """The sum of ``values`` (an iterable of values), equal to folding :func:`add` from 0, without copying the
    running sum at every term: the polynomial terms are collected in one dict that no value shares. Plain
    numbers before the first polynomial are summed as numbers, exactly as the fold sums them."""
    const, out = 0, None
    for v in values:
        if type(v) is int:   # the common case first: the branches below, for an int (exact(v) is v)
            if out is None:
                const = const + v
            elif v:
                out[()] = out.get((), 0) + v
        elif isinstance(v, Poly):
            if out is None:
                out = _terms(const).copy()
            for m, c in v.terms.items():
                out[m] = out.get(m, 0) + c
        elif out is None:
            const = const + v
        elif v != 0:
            out[()] = out.get((), 0) + exact(v)
    return const if out is None else _normal(out)


def neg(a):
    if isinstance(a, Poly):
        return Poly({m: -c for m, c in a.terms.items()})
    return -a


def sub(a, b):
    return add(a, neg(b))


def _merge(m1: tuple, m2: tuple) -> tuple:
    if not m1:
        return m2
    if not m2:
        return m1
    return tuple(sorted(m1 + m2))


def mul(a, b):
    if not isinstance(a, Poly) and not isinstance(b, Poly):
        return a * b
    if not isinstance(a, Poly):
        a, b = b, a
    if not isinstance(b, Poly):
        if b == 0:
            return 0
        if type(b) is int:
            if b == 1:
                return a   # values are never mutated: sharing is safe
            out = {m: c * b for m, c in a.terms.items()}
            if any(type(c) is not int for c in out.values()):   # a Fraction times an int may be integral
                return _normal(out)
            return Poly(out)   # nonzero ints times a nonzero int: no zero, the same non-constant monomials
        return _normal({m: c * b for m, c in a.terms.items()})
    at, bt = a.terms, b.terms
    if len(at) == 1 and len(bt) == 1:   # a monomial times a monomial (an entry times an entry): one term
        (m1, c1), = at.items()
        (m2, c2), = bt.items()
        if not (m1 and m2 and m1[-1][0] == "Z" and m2[-1][0] == "Z"):
            if len(m1) == 1 and len(m2) == 1:   # _merge of two atoms, by the < that sorted uses
                x, y = m1[0], m2[0]
                m = (y, x) if y < x else (x, y)
            else:
                m = _merge(m1, m2)
            c = c1 * c2
            if type(c) is int:   # a product of nonzero ints: nonzero
                return Poly({m: c}) if m else c
            return _normal({m: c})   # a Fraction may be integral (and an inexact number may vanish)
    if len(at) == 1:
        at, bt = bt, at
    if len(bt) == 1:   # a polynomial times a monomial (a sum's value times an entry)
        (m2, c2), = bt.items()
        if m2 and not (m2[-1][0] == "Z" and any(m1 and m1[-1][0] == "Z" for m1 in at)):
            # m1 ↦ m1·m2 is one-to-one: no two terms meet, so nothing adds up or cancels
            if len(m2) == 1:
                x = m2[0]
                out = {}
                for m1, c1 in at.items():
                    k = bisect_right(m1, x)   # where sorted(m1 + (x,)) puts x (by <, as sorted compares)
                    out[m1[:k] + m2 + m1[k:]] = c1 * c2
            else:
                out = {_merge(m1, m2): c1 * c2 for m1, c1 in at.items()}
            for c in out.values():
                if type(c) is not int:   # a Fraction may be integral (an inexact number may vanish)
                    return _normal(out)
            return Poly(out)   # nonzero ints, every monomial non-constant (m2 is not)
    out: dict = {}
    roots = False
    for m1, c1 in at.items():
        for m2, c2 in bt.items():
            m = _merge(m1, m2)
            roots = roots or (m1 and m2 and m1[-1][0] == "Z" and m2[-1][0] == "Z")
            out[m] = out.get(m, 0) + c1 * c2
    return _normal(_reduce_roots(out) if roots else out)


def root_of_unity(n: int, L: int):
    """ζ_L^n = e^{2πi·n/L} as an exact value in the power basis of Q(ζ_L)."""
    if L < 1:
        raise ValueError(f"a root of unity needs a positive order, not {L}")
    return _normal(_reduce_roots({(("Z", L, n % L),): 1}))


def _cyclotomic_remainder(L: int, e: int) -> tuple:
    """x^e mod Φ_L(x) as ((j, coefficient) …): ζ_L^e in the power basis (cached per (L, e))."""
    key = (L, e)
    if key not in _REMAINDERS:
        x = sp.Symbol("x")
        rem = sp.Poly(sp.rem(x ** e, sp.cyclotomic_poly(L, x), x), x)
        _REMAINDERS[key] = tuple((int(m[0]), int(c)) for m, c in zip(rem.monoms(), rem.coeffs()))
    return _REMAINDERS[key]


_REMAINDERS: dict = {}


def _reduce_roots(terms: dict) -> dict:
    """Monomials with several ζ factors (or powers past the basis) rewritten in the power basis."""
    out: dict = {}
    for m, c in terms.items():
        exps: dict = {}
        rest = []
        for a in m:
            if a[0] == "Z":
                exps[a[1]] = (exps.get(a[1], 0) + a[2]) % a[1]
            else:
                rest.append(a)
        expansions = [((), 1)]
        for L, e in sorted(exps.items()):
            expansions = [(ms + ((("Z", L, j),) if j else ()), k * cj)
                          for ms, k in expansions for j, cj in _cyclotomic_remainder(L, e)]
        for ms, k in expansions:
            mono = tuple(sorted(tuple(rest) + ms))
            out[mono] = out.get(mono, 0) + c * k
    return out


def conjugate(v):
    """The complex conjugate, for values whose atoms are real tensor entries and roots of unity:
    ζ_L^r ↦ ζ_L^{−r}. Opaque atoms (exp of a logit, 1/Σ …) are refused rather than guessed."""
    if not isinstance(v, Poly):
        return v
    out: dict = {}
    for m, c in v.terms.items():
        if any(a[0] in ("F", "N") for a in m):
            raise ValueError("the conjugate of a value with opaque parts is not evaluated")
        term = Poly({tuple(a for a in m if a[0] != "Z"): c})
        for a in m:
            if a[0] == "Z":
                term = mul(term, root_of_unity(-a[2], a[1]))
        out = _terms(add(_normal(out), term))
    return _normal(dict(out))


def is_zero(v) -> bool:
    return (not isinstance(v, Poly)) and v == 0


def is_number(v) -> bool:
    return not isinstance(v, Poly)


def key_of(v) -> tuple:
    """A canonical, hashable, orderable key of any value (for opaque-atom arguments)."""
    if isinstance(v, Poly):
        return v.key()
    return tuple(sorted(_terms(v).items()))


class _Args:
    """An opaque atom's argument keys with their hash computed once: monomials are dict keys, and a
    tuple re-hashes every nested coefficient on each lookup (an exp of a long logit made Fraction
    hashing most of a proof check's time)."""

    __slots__ = ("keys", "hash")

    def __init__(self, keys: tuple):
        self.keys, self.hash = keys, hash(keys)

    def __hash__(self):
        return self.hash

    def __eq__(self, other):
        return self is other or (isinstance(other, _Args) and self.hash == other.hash and self.keys == other.keys)

    def __lt__(self, other):
        return self.keys < other.keys

    def __iter__(self):
        return iter(self.keys)

    def __getitem__(self, k):
        return self.keys[k]

    def __len__(self):
        return len(self.keys)

    def __repr__(self):
        return repr(self.keys)


UNDEFINED = "undefined "   # an uninterpreted function's atoms are named so: no SymPy function's name, nor inv or pow


def undefined_name(name: str) -> str:
    """The atom name of the uninterpreted function ``name`` (``sympy.Function(name)``): never that of a function
    with a meaning, so an undefined ``exp`` or ``inv`` is neither e^x nor 1/x to the evaluator or to SymPy."""
    return UNDEFINED + name


def opaque(name: str, *args) -> Poly:
    """An uninterpreted function of exact values, e.g. ``exp(poly)``."""
    return Poly.atom(("F", name, _Args(tuple(key_of(a) for a in args))))


_NUMBERS: dict = {}   # srepr text of a number atom -> the SymPy number it was printed from
_NUMBERS_KEPT = 1 << 16


def number(r: sp.Expr) -> Poly:
    """A SymPy number that is not rational (√2, e^(3/2)) as an atom, named by its ``srepr`` text: equal atoms
    are the same number. The number itself is kept by its name, so :func:`atom_to_sympy` gives it back without
    parsing the text again (``sympify(srepr(r)) == r``: the text names exactly this number)."""
    text = sp.srepr(r)
    if len(_NUMBERS) >= _NUMBERS_KEPT:
        _NUMBERS.clear()
    _NUMBERS.setdefault(text, r)
    return Poly.atom(("N", text, ()))


def atom_to_sympy(a: Atom) -> sp.Expr:
    tag, name, payload = a
    if tag == "T":
        return sp.IndexedBase(name)[payload] if payload else sp.Symbol(name)
    if tag == "S":
        return sp.Symbol(name)
    if tag == "N":
        hit = _NUMBERS.get(name)
        return hit if hit is not None else sp.sympify(name)
    if tag == "Z":
        return sp.exp(2 * sp.pi * sp.I * sp.Rational(payload, name))
    args = [_key_to_sympy(k) for k in payload]
    if name.startswith(UNDEFINED):
        return sp.Function(name[len(UNDEFINED):])(*args)
    if name == "inv":
        return 1 / args[0]
    if name == "pow":
        return args[0] ** args[1]
    fn = getattr(sp, name, None)  # SymPy's own function (exp, log, Max, Abs …) so SymPy can reason about it
    if not (isinstance(fn, type) and issubclass(fn, (sp.Function, sp.Max, sp.Min))):
        fn = sp.Function(name)
    return fn(*args)


def _key_to_sympy(key: tuple) -> sp.Expr:
    return sp.Add(*[sp.Rational(c.numerator, c.denominator) * sp.Mul(*[atom_to_sympy(a) for a in m]) for m, c in key])


def to_sympy(v) -> sp.Expr:
    """The value as a SymPy expression (for messages and for SymPy's second opinion)."""
    return _key_to_sympy(key_of(v))


def has_opaque(v) -> bool:
    return isinstance(v, Poly) and any(a[0] in ("F", "N") for m in v.terms for a in m)


def _without(mono: tuple, part: tuple):
    """``mono`` with the multiset ``part`` removed, or None when ``part`` is not inside it."""
    rest = list(mono)
    for a in part:
        if a not in rest:
            return None
        rest.remove(a)
    return tuple(rest)


def all_atoms(v) -> list:
    """Every atom of ``v``, also those inside the arguments of its functions (exp(N/D)), each once, sorted."""
    found, todo = {}, [key_of(v)] if isinstance(v, Poly) else []
    while todo:
        for mono, _ in todo.pop():
            for a in mono:
                if a not in found:
                    found[a] = None
                    if a[0] == "F":
                        todo.extend(a[2].keys)
    return sorted(found)


def argument(a: tuple, k: int = 0):
    """The ``k``-th argument of the function atom ``a`` as a value."""
    return _normal(dict(a[2].keys[k]))


def denominators(v) -> list:
    """The values ``v`` divides by anywhere (:func:`all_atoms`' ``inv`` atoms' arguments)."""
    return [argument(a) for a in all_atoms(v) if a[0] == "F" and a[1] == "inv"]


def cancel_quotients(v, nonzero):
    """``v`` with every N·(1/D) replaced by Q where N = D·Q exactly (a softmax's Σ exp(ℓ)/Σ exp(ℓ) = 1) and
    ``nonzero(D)`` proves D not identically 0.

    Q is a guess (the terms of N divided by one term of D) that counts only after the exact
    product D·Q is compared with N, so the rewrite is an identity wherever D ≠ 0. Where D is 0 in disguise
    (sin²2 + cos²2 − 1 from two definitions with one body) N/D is undefined: D/D − 1 was taken for 0 and a tap
    of K dropped, D/D + 1 for 2 (an adversarial pass, 2026-12-07).
    """
    if not isinstance(v, Poly):
        return v
    invs = {a for m in v.terms for a in m if a[0] == "F" and a[1] == "inv"}
    for a in sorted(invs):
        with_a = {m: c for m, c in v.terms.items() if m.count(a) == 1}
        num = _normal({_without(m, (a,)): c for m, c in with_a.items()})
        den = _normal(dict(a[2][0]))
        lead = next(((m, c) for m, c in sorted(_terms(den).items()) if m), None)
        if lead is None:
            continue
        guess = {}
        for m, c in _terms(num).items():
            rest = _without(m, lead[0])
            if rest is not None:
                guess[rest] = guess.get(rest, 0) + Fraction(c) / lead[1]   # exact, also for int coefficients
        q = _normal(guess)
        if mul(den, q) == num and nonzero(den):
            kept = {m: c for m, c in v.terms.items() if m not in with_a}
            v = add(_normal(kept), q)
            if not isinstance(v, Poly):
                return v
    return v
