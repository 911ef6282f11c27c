"""A float evaluation of an exact value at one point, with a bound on its error: a quick proof that a value is not 0
(:func:`nonzero`, which the support of K and the bounded comparisons rely on).

The exact evaluator keeps numbers it cannot write as rationals (sin 2, √2) and functions of the entries (exp of a
logit) as independent atoms, so a polynomial in them may be 0 although its coefficients are not (sin²2 + cos²2 − 1).
At a point of the entries and the uninterpreted functions (fixed floats, the same for equal atoms: the point is those
floats, so they carry no error) the value is computed in complex floats together with a bound E on its distance from
the exact value at that point (running error analysis: every operation and libm function within 2 units in the last
place, u = 2⁻⁵³; a product's bound |a|E_b + |b|E_a + E_aE_b + 2u|ab|, a sum's the bounds plus n·u·Σ|terms|, a
reciprocal's E_a/(|a|(|a| − E_a)), exp's |e^a|(e^{E_a} − 1), sin and cos E_a·cosh(|Im a| + E_a)). |v| > 2E proves the
value ≠ 0 at that point, hence not identically 0. A product, a number or an exponential below the normal range
(subnormal or flushed to 0, its relative error unbounded: e^(m−744)·e⁴ − e^(m−740) left 1e-322 with a bound of 0, and
a subnormal number lifted by 10³⁰⁰ was called non-zero; two adversarial passes) counts as 0 with an absolute bound of
2·TINY (a softmax's normaliser with a term e^(−1000) is still proved positive). Where the bound does not hold it is
undecided (None): a reciprocal of a value not away from 0 by its bound, a function not listed (exp, sin, cos; tanh,
atan, erf, sinh, cosh, log and tan of real arguments; Max, Min, Abs and a constant real power of a positive value are), an
overflow, another function's value below the normal range, an uninterpreted function of an argument holding such
numbers (its point is keyed by the argument as written: f(sin²2 + cos²2) − f(1) is 0).
"""

from __future__ import annotations

import cmath
import contextlib
import contextvars
import math
import zlib

import sympy as sp

from . import poly as P

U = 2.0 ** -53 * 2   # (2 units of roundoff per operation or function)
COMPLEX_FUNCTIONS = {"exp": cmath.exp, "sin": cmath.sin, "cos": cmath.cos}


class Undecided(Exception):
    """The float evaluation cannot bound its error here."""


_INDICATORS: contextvars.ContextVar = contextvars.ContextVar("indicators", default=frozenset())
_FILL: contextvars.ContextVar = contextvars.ContextVar("fill", default=None)


@contextlib.contextmanager
def entries_of(indicators):
    """Within it, the entries of the tensors named in ``indicators`` (inputs declared indicators) are 0 or 1 with a 1 in
    every row: "not identically 0" means not 0 at some input of that domain, proved at two of them (:func:`_point`).
    M − M² is a non-zero polynomial and 0 at every 0/1 entry: a tap with that factor was counted in K's support, and
    1/e₁ − 1/e₂ with e = M − M² read as defined (an adversarial pass, 2026-12-07)."""
    token = _INDICATORS.set(frozenset(indicators))
    try:
        yield
    finally:
        _INDICATORS.reset(token)


def indicators() -> frozenset:
    """The names of the tensors whose entries are 0 or 1 in the check under way (:func:`entries_of`)."""
    return _INDICATORS.get()


def _point(atom) -> float:
    """A fixed float in [0.5, 1.5) for an entry, a symbol or an uninterpreted function's atom (the same atom, the
    same value); an indicator's entry is 1 or 0 by the fill of the evaluation under way: "ones" every entry 1, "first"
    each row's first entry 1 and the others 0 (two inputs every indicator's premise admits)."""
    fill = _FILL.get()
    if fill is not None and atom[0] == "T" and atom[1] in _INDICATORS.get():
        return 1.0 if fill == "ones" or not atom[2] or atom[2][-1] == 0 else 0.0
    return 0.5 + (zlib.crc32(repr(atom).encode()) % 1000) / 1000


# real functions of a real argument: (the function, a bound on |f'| over [x − e, x + e])
REAL_FUNCTIONS = {"tanh": (math.tanh, lambda x, e: 1.0), "atan": (math.atan, lambda x, e: 1.0),
         "erf": (math.erf, lambda x, e: 1.1284),
         "sinh": (math.sinh, lambda x, e: math.cosh(abs(x) + e)), "cosh": (math.cosh, lambda x, e: math.cosh(abs(x) + e)),
         "log": (math.log, lambda x, e: 1 / (x - e)), "tan": (math.tan, lambda x, e: 1 / (abs(math.cos(x)) - e) ** 2)}


def function_value(name: str, v: complex, e: float) -> tuple[complex, float]:
    if name in REAL_FUNCTIONS:
        fn, slope = REAL_FUNCTIONS[name]
        if v.imag != 0 or e > 0.01 or (name == "log" and not v.real > 2 * e) or \
                (name == "tan" and not abs(math.cos(v.real)) > 2 * e + 4 * U):
            raise Undecided   # (a real argument, known to within a small bound; log's clearly positive, tan's cosine
            #                    clearly non-zero: no pole within the bound)
        z = checked(complex(fn(v.real)))
        return z, slope(v.real, e) * e + U * abs(z)
    fn = COMPLEX_FUNCTIONS.get(name)
    if fn is None or e > 0.01:
        raise Undecided
    if name == "exp":
        z = fn(v)
        if cmath.isfinite(z) and abs(z) < TINY:   # (below the normal range: only its size is known, |e^x| < 2·TINY)
            return 0j, 2 * TINY * math.exp(e)
        z = checked(z)
        return z, abs(z) * (math.expm1(e) + U)
    z = checked(fn(v))
    return z, e * math.cosh(abs(v.imag) + e) + U * abs(z)


TINY = 1e-290   # below it a float may be subnormal (its relative error unbounded) or flushed to 0


def checked(z: complex) -> complex:
    """``z`` where its relative error is bounded: finite, and 0 or above the subnormal range."""
    if not cmath.isfinite(z) or 0 < abs(z) < TINY:
        raise Undecided
    return z


def _related(key: tuple) -> bool:
    """Whether a value (by its key) holds numbers or functions whose relations the exact check does not see: an
    opaque number or function, or a root of unity (ζ₄ and ζ₈² are one number in two atoms; an adversarial pass)."""
    return any(a[0] in ("F", "N", "Z") for mono, _ in key for a in mono)


def related(v) -> bool:
    """:func:`_related` of an evaluated value: where the exact check's "not 0" says nothing of the number."""
    return isinstance(v, P.Poly) and _related(P.key_of(v))


def _plain_number(r) -> bool:
    """Whether the number ``r`` is a product of powers of factors SymPy evaluates to the digits it promises, none 0:
    rationals, π, e, roots and powers of positive rationals, exp, sin, cos, tanh, atan, erf, sinh and cosh of non-zero
    rationals (also evaluated to 30 digits, which must agree). No sum (a cancellation
    SymPy may not see: log(1 + 10⁻⁶⁰) + log(1/(1 + 10⁻⁶⁰)) came out as −1.0e-60; an adversarial pass) and no other
    function (log of a rational just above 1 came out as 0)."""
    if isinstance(r, sp.Mul):
        return all(_plain_number(f) for f in r.args)
    if isinstance(r, sp.Pow):
        return r.exp.is_Rational and (r.base.is_Rational and r.base > 0 or r.base in (sp.pi, sp.E))
    if isinstance(r, (sp.exp, sp.sin, sp.cos, sp.tanh, sp.atan, sp.erf, sp.sinh, sp.cosh)):
        return r.args[0].is_Rational and r.args[0] != 0
    return r.is_Rational or r in (sp.pi, sp.E)


def _atom(a, numbers: dict) -> tuple[complex, float]:
    tag, name, payload = a
    if tag in ("T", "S"):
        return _point(a), 0.0
    if tag == "N":
        if name not in numbers:   # (only a product of numbers SymPy evaluates reliably: see _plain_number)
            r = P.atom_to_sympy(a)
            try:   # (and the same to 30 digits: two precisions that disagree are no digits to trust)
                z20, z30 = (complex(r.evalf(n, strict=True)) if _plain_number(r) else None for n in (20, 30))
                numbers[name] = z20 if z20 is not None and abs(z20 - z30) <= U * abs(z30) else None
            except (ArithmeticError, ValueError, TypeError):   # (PrecisionExhausted is an ArithmeticError)
                numbers[name] = None
        z = numbers[name]
        if z is None or not cmath.isfinite(z):
            raise Undecided
        if abs(z) < TINY:   # (a subnormal e^(m−740) is off by 2e-3, not by U: an adversarial pass; only its size
            return 0j, 2 * TINY   # is known)
        return z, U * abs(z)
    if tag == "Z":
        return cmath.exp(2j * math.pi * payload / name), 8 * U   # (the angle rounded too)
    if name.startswith(P.UNDEFINED):   # its point is keyed by its arguments as written: f(sin²2 + cos²2) is f(1)
        if any(_related(k) for k in payload.keys) or _reads_indicator(a):
            raise Undecided   # (and f(M²) is f(M) for an indicator's entry M: an adversarial pass)
        return _point(a), 0.0
    args = [_key(k, numbers) for k in payload.keys]
    if name in ("Max", "Min") and args:   # (1-Lipschitz in each argument: the largest bound bounds it)
        if any(abs(v.imag) > e for v, e in args):
            raise Undecided
        pick = max if name == "Max" else min
        return complex(pick(v.real for v, _ in args)), max(e for _, e in args)
    if name == "pow" and len(args) == 2:
        (b, eb), exponent = args[0], payload.keys[1]
        if not (len(exponent) == 1 and exponent[0][0] == () and b.imag == 0 and b.real > 2 * eb):
            raise Undecided   # (a constant rational exponent of a base clearly positive)
        x = float(exponent[0][1])
        z = checked(complex(b.real ** x))
        lo, hi = b.real - eb, b.real + eb
        slope = abs(x) * max(lo ** (x - 1), hi ** (x - 1))
        return z, slope * eb + U * abs(z) * (1 + abs(x * math.log(b.real)))   # (x itself rounded too)
    if len(args) != 1:
        raise Undecided
    (v, e), = args
    if name == "Abs":   # (|·| of a complex value is a hypot: rounded too)
        return complex(abs(v)), e + U * abs(v)
    if name == "inv":
        if not abs(v) > 2 * e:
            raise Undecided
        return checked(1 / v), e / (abs(v) * (abs(v) - e)) + U / abs(v)
    return function_value(name, v, e)


def _reads_indicator(a) -> bool:
    """Whether the function atom ``a``'s arguments read an entry of an indicator (:func:`entries_of`)."""
    ones = _INDICATORS.get()
    return bool(ones) and any(b[0] == "T" and b[1] in ones for k in range(len(a[2].keys))
                              for b in P.all_atoms(P.argument(a, k)))


def times(a: tuple, b: tuple) -> tuple[complex, float]:
    """The product of two (value, error bound) pairs with its rounding; below the normal range (subnormal or flushed
    to 0: its relative error unbounded) only its size, under 2·TINY."""
    (v, e), (bv, be) = a, b
    p = v * bv
    err = abs(v) * be + abs(bv) * e + e * be + U * abs(p)
    if not (cmath.isfinite(p) and math.isfinite(err)):
        raise Undecided
    return (0j, err + 2 * TINY) if abs(p) < TINY else (p, err)


def _key(key: tuple, numbers: dict) -> tuple[complex, float]:
    total, err, size = 0j, 0.0, 0.0
    for mono, coeff in key:
        v = checked(complex(coeff))
        e = U * abs(v)
        for a in mono:
            v, e = times((v, e), _atom(a, numbers))
        total, err, size = total + v, err + e, size + abs(v)
    err += len(key) * U * size
    if not (math.isfinite(err) and cmath.isfinite(total)):
        raise Undecided
    return total, err


def nonzero(v, fills=("ones", "first")) -> bool:
    """Whether the evaluated value ``v`` is proved not identically 0. Exact where it holds only rationals and the
    tensors' entries (a polynomial with a non-zero coefficient). Where it holds numbers the exact check keeps as
    independent atoms (sin 2 and cos 2: sin²2 + cos²2 − 1 is 0, which the exact check called non-zero, and a tap of
    K that vanishes was counted in its support; an adversarial pass), or roots of unity, only the float evaluation
    with a bound on its error proves it. SymPy's numbers are no proof: its strict evalf gave
    log(1 + 10⁻⁶⁰) + log(1/(1 + 10⁻⁶⁰)) as −1.0e-60, tanh and erf of a 0 in disguise as 1e-135 (a third pass).
    Quotients cancel only by a denominator proved non-zero (:func:`evosym.proof.poly.cancel_quotients`). A value that
    reads an indicator is proved non-zero at the admissible inputs ``fills`` names (:func:`_point`)."""
    if P.is_zero(v):
        return False
    ones = _INDICATORS.get()
    held = ones and any(a[0] == "T" and a[1] in ones for a in P.all_atoms(v))
    if not related(v) and not held:
        return True
    v = P.cancel_quotients(v, nonzero)
    if P.is_zero(v):
        return False
    if not held:
        return not related(v) or bool(clearly_nonzero(v))
    # an indicator's entries are 0 or 1 with a 1 in every row (its first, for a leading indicator): a polynomial that is
    # not 0 may be 0 at every such input (M − M²; Π_m (1 − M[m]) over a row), so only admissible inputs prove it
    for fill in fills:
        token = _FILL.set(fill)
        try:
            if clearly_nonzero(v):
                return True
        finally:
            _FILL.reset(token)
    return False


def vanishes(v) -> bool:
    """Whether the evaluated value ``v`` is proved 0: exactly, its quotients by denominators proved non-zero
    cancelled. Never by SymPy's simplification, which decides sign and Heaviside by its numbers:
    sign(log(1 + 10⁻⁶⁰) − 10⁻⁶¹) + 1 became 0 where it is 2, and a tap of K outside Ω was dropped from an Evolution
    form that was then false (a third adversarial pass, against a mend of the same day)."""
    return P.is_zero(v) or P.is_zero(P.cancel_quotients(v, nonzero))


def clearly_nonzero(v, numbers: dict | None = None) -> bool | None:
    """True where the float evaluation proves ``v`` ≠ 0 (see the module docstring), None where it cannot tell."""
    try:
        total, err = _key(P.key_of(v), {} if numbers is None else numbers)
    except (Undecided, OverflowError, ZeroDivisionError):
        return None
    return True if abs(total) > 2 * err else None

