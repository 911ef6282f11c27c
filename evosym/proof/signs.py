"""Signs and realness of values the checker proves by their structure and a float bound, never by SymPy's own answer
for a number.

SymPy decides the sign of a number by evaluating it, and near a cancellation it is wrong: −(log r + log(1/r)) with
r = 1 + 10⁻⁶⁰, which is 0, is positive to it (the obligations' prover took it for a positive divisor, the range
prover for a non-negative bound). Here a number's sign is proved by :mod:`.magnitude`'s float evaluation with an
error bound, its realness by its structure; SymPy's assumption answers count only for expressions whose numbers are
all rational (in an expression of symbols, SymPy signs a number part by the same evaluation). :func:`real` proves
an evaluated value real at every input, which the functions defined at real arguments only (max, min, the Heaviside
step) need of theirs: Max(i·(sin²M + cos²M), 0) was PROVED equal to 0 (an adversarial pass, 2026-12-07).
"""

from __future__ import annotations

import sympy as sp

from . import poly as P
from .magnitude import COMPLEX_FUNCTIONS, REAL_FUNCTIONS, TINY, U, Undecided, checked, function_value, times


def number_sign(r) -> int | None:
    """The sign of the SymPy number ``r`` where it is proved: exactly for a rational or a float; 1 or −1 where ``r``
    is real by its structure (:func:`_real_number`) and its float value (:func:`_number`) is away from 0 by its
    error bound; None otherwise."""
    r = sp.sympify(r)
    if r.is_Rational or isinstance(r, sp.Float):
        return int(sp.sign(r))
    if not _real_number(r):
        return None
    try:
        v, e = _number(r)
    except (Undecided, OverflowError, ZeroDivisionError, ValueError, TypeError, RecursionError):
        return None
    if not abs(v.real) > 2 * e:
        return None
    return 1 if v.real > 0 else -1


def _number(r) -> tuple[complex, float]:
    """(a float value of the SymPy number ``r``, a bound on its distance from ``r``): rationals, floats, π, e and i;
    sums, products, |·|, max and min; integer powers up to the 64th (a negative one of a value clearly not 0) and
    real powers of a real value clearly positive; the functions :func:`.magnitude.function_value` bounds. Undecided
    for anything else."""
    if r.is_Rational or isinstance(r, sp.Float):
        z = float(r)   # (correctly rounded: a quotient of Python ints; a float's binary digits)
        if r.is_zero:
            return 0j, 0.0
        return (0j, 2 * TINY) if abs(z) < TINY else (complex(z), U * abs(z))
    if r in (sp.pi, sp.E):
        return complex(float(r)), U * float(r)
    if r is sp.I:
        return 1j, 0.0
    if isinstance(r, sp.Pow):
        return _power(r)
    args = [_number(a) for a in r.args] if isinstance(r, (sp.Add, sp.Mul, sp.Max, sp.Min, sp.Abs, sp.Function)) \
        else None
    if isinstance(r, sp.Add):
        return sum(v for v, _ in args), sum(e for _, e in args) + len(args) * U * sum(abs(v) for v, _ in args)
    if isinstance(r, sp.Mul):
        acc = (1 + 0j, 0.0)
        for a in args:
            acc = times(acc, a)
        return acc
    if isinstance(r, (sp.Max, sp.Min)) and all(_real_number(a) for a in r.args):
        pick = max if isinstance(r, sp.Max) else min
        return complex(pick(v.real for v, _ in args)), max(e for _, e in args)
    if isinstance(r, sp.Abs):   # (of a complex value, a hypot: rounded too)
        (v, e), = args
        return complex(abs(v)), e + U * abs(v)
    name = type(r).__name__
    if isinstance(r, sp.Function) and len(args) == 1 and (name in COMPLEX_FUNCTIONS or name in REAL_FUNCTIONS):
        return function_value(name, *args[0])   # (which checks a real function's argument is real)
    raise Undecided


def _power(r: sp.Pow) -> tuple[complex, float]:
    """:func:`_number` of a power: an integer exponent up to 64 by products, a negative one of a value clearly not 0;
    another real exponent x of a base b clearly positive as exp(x·log b)."""
    b, eb = _number(r.base)
    if r.exp.is_Integer and abs(r.exp) <= 64:
        acc = (1 + 0j, 0.0)
        for _ in range(abs(int(r.exp))):
            acc = times(acc, (b, eb))
        v, e = acc
        if r.exp > 0:
            return v, e
        if not abs(v) > 2 * e:
            raise Undecided
        return checked(1 / v), e / (abs(v) * (abs(v) - e)) + U / abs(v)
    if not (_real_number(r.base) and _real_number(r.exp) and b.real > 2 * eb):
        raise Undecided
    return function_value("exp", *times(function_value("log", b, eb), _number(r.exp)))


def _real_number(r) -> bool:
    """Whether the SymPy number ``r`` is real (where it has a value) by its structure: rationals, floats, π and e;
    sums, products, integer powers, max, min and |·| of reals; exp, sin, cos and the real functions of
    :data:`.magnitude.REAL_FUNCTIONS` of reals (log of a value proved positive); a real power of a value proved
    positive."""
    if r.is_Rational or isinstance(r, sp.Float) or r in (sp.pi, sp.E) or isinstance(r, sp.Abs):
        return True
    if isinstance(r, sp.Pow) and not r.exp.is_Integer:
        return _real_number(r.exp) and number_sign(r.base) == 1
    if isinstance(r, sp.log):
        return number_sign(r.args[0]) == 1
    name = type(r).__name__
    if isinstance(r, (sp.Add, sp.Mul, sp.Pow, sp.Max, sp.Min)) or \
            isinstance(r, sp.Function) and (name in COMPLEX_FUNCTIONS or name in REAL_FUNCTIONS):
        return all(_real_number(a) for a in r.args)
    return False


# functions of an evaluated value that are real at real arguments (Abs, re and im at any)
_REAL_AT_REAL = frozenset({"exp", "sin", "cos", "sinh", "cosh", "tanh", "atan", "erf", "erfc", "tan", "sign",
                           "Heaviside", "Max", "Min", "inv"})


def real(v) -> bool:
    """Whether the evaluated value ``v`` (:mod:`.evaluate`) is real at every input where it has a value: rational
    coefficients over the tensors' entries, symbols, numbers real by their structure and the functions of
    :data:`_REAL_AT_REAL` of real values. A root of unity, a power, a log or an undefined function is not proved
    real."""
    if not isinstance(v, P.Poly):
        return not isinstance(v, complex)
    return _real_key(P.key_of(v))


def _real_key(key: tuple) -> bool:
    for mono, _ in key:
        for tag, name, payload in mono:
            if tag == "N":
                if not _real_number(P.atom_to_sympy((tag, name, payload))):
                    return False
            elif tag == "F":
                if name not in ("Abs", "re", "im") and \
                        not (name in _REAL_AT_REAL and all(_real_key(k) for k in payload.keys)):
                    return False
            elif tag not in ("T", "S"):
                return False
    return True


def sympy_may_decide_sign(e) -> bool:
    """Whether SymPy's assumption answers (``is_positive``, ``is_nonzero`` …) may count for ``e``: it holds no number
    but rationals (SymPy's sign of any other number is its own evaluation, see the module docstring)."""
    return not any(n.is_number and not n.is_Rational for n in sp.preorder_traversal(e))


def proved_positive(e) -> bool:
    """``e > 0`` proved: a number by :func:`number_sign`, another expression by SymPy where it may decide."""
    e = sp.sympify(e)
    if e.is_number:
        return number_sign(e) == 1
    return sympy_may_decide_sign(e) and e.is_positive is True


def proved_nonnegative(e) -> bool:
    """``e ≥ 0`` proved (see :func:`proved_positive`)."""
    e = sp.sympify(e)
    if e.is_number:
        return number_sign(e) in (0, 1)
    return sympy_may_decide_sign(e) and e.is_extended_nonnegative is True and e.is_extended_real is True


def proved_nonzero(e) -> bool:
    """``e ≠ 0`` proved (see :func:`proved_positive`)."""
    e = sp.sympify(e)
    if e.is_number:
        return number_sign(e) in (1, -1)
    return sympy_may_decide_sign(e) and e.is_nonzero is True
