"""Bounded checks: exact comparisons at concrete sizes, with counterexamples.

Every tensor entry is a distinct symbol, every sum is unrolled (see :mod:`.evaluate`), and
two sides are compared at every output index. Values are exact polynomials; when a
comparison involves opaque atoms (exp, 1/poly) and the canonical forms differ, SymPy gets a
second opinion before a difference is reported, so "different" is never a mere artefact of
our canonical form.
"""

from __future__ import annotations

import itertools
from typing import Iterable, Mapping

import sympy as sp

from ..errors import IllFormedAccess
from ..ir.operator import Operator, format_sizes
from ..ir.symbols import size_value
from . import poly as P
from .magnitude import clearly_nonzero, nonzero, vanishes
from .evaluate import Evaluator, ill_formed_reason
from .step import Counterexample

TRUNCATE = 400


def show(v) -> str:
    text = str(P.to_sympy(v)) if isinstance(v, P.Poly) else str(v)
    return text if len(text) <= TRUNCATE else text[:TRUNCATE] + f" … ({len(text)} characters)"


def equal(a, b) -> bool:
    """Exact equality of two evaluated values: the same canonical form, or a difference that is exactly 0 once its
    quotients by denominators proved non-zero cancel. Where opaque atoms remain, SymPy's simplification decides —
    only where it may (:func:`_sympy_may_decide`) and the float evaluation with an error bound does not prove the
    difference non-zero."""
    if a == b:
        return True
    if not (P.has_opaque(a) or P.has_opaque(b)):
        return False
    diff = P.sub(a, b)
    if vanishes(diff):
        return True
    if clearly_nonzero(diff) or not _sympy_may_decide(diff):
        return False
    return sp.simplify(P.to_sympy(diff)) == 0


# functions whose value SymPy's simplification keeps symbolic (it decides none of them by the sign of a number)
_SIMPLIFIED = frozenset({"exp", "log", "sin", "cos", "tan", "sinh", "cosh", "tanh", "atan", "erf", "pow"})


def _sympy_may_decide(diff) -> bool:
    """Whether SymPy's "simplifies to 0" may count for ``diff``: every quotient's denominator proved non-zero (SymPy
    cancels x/x to 1 whatever x is: D/D − 1 with D = sin²2 + cos²2 − 1 came out 0), and no function whose value it
    decides by evaluating a number (sign, Heaviside, Abs, floor, Piecewise …: sign(log(1 + 10⁻⁶⁰) − 10⁻⁶¹) + 1, which
    is 2, simplified to 0; adversarial passes, 2026-12-07)."""
    for a in P.all_atoms(diff):
        if a[0] == "F" and not (a[1] in _SIMPLIFIED or a[1].startswith(P.UNDEFINED) or a[1] == "inv" and
                                nonzero(P.argument(a))):
            return False
        if a[0] == "N" and not _simplified(P.atom_to_sympy(a)):
            return False
    return True


def _simplified(expr) -> bool:
    """Whether the number ``expr`` holds no function outside :data:`_SIMPLIFIED` (and no Piecewise)."""
    return all(f.func.__name__ in _SIMPLIFIED for f in expr.atoms(sp.Function)) and not expr.has(sp.Piecewise)


def env_of(config: Mapping) -> dict:
    return {k: int(v) for k, v in config.items()}


def output_points(op: Operator, env: dict) -> list[tuple[int, ...]]:
    """Every index tuple of the output at concrete sizes."""
    dims = []
    for sym, lo, hi in op.lhs_ranges():
        a, b = size_value(lo, env), size_value(hi, env)
        dims.append(range(a, b + 1))
    return list(itertools.product(*dims))


def index_text(op: Operator, point) -> str:
    return f"{op.output.name}[" + ", ".join(f"{s}={v}" for s, v in zip(op.lhs_indices, point)) + "]"


class ExpressionFailure(Exception):
    """An expression that cannot be evaluated at some sizes and index (ill-formed)."""

    def __init__(self, counterexample: Counterexample):
        super().__init__(counterexample.detail)
        self.counterexample = counterexample


def evaluate_everywhere(op: Operator, ev: Evaluator, expr, env: dict, points: Iterable) -> list:
    """Values of ``expr`` at every output index; :class:`ExpressionFailure` if it is ill-formed (also where it
    cannot be compiled, a complex sum limit, or it nests without end, a definition that reads itself)."""
    def failure(pt, why):
        return ExpressionFailure(Counterexample(format_sizes(env), index_text(op, pt) if pt is not None else "",
                                                "(not evaluable)", "", why))
    try:
        fn, key = ev.compile_keyed(expr)   # environments built keyed as fn reads them, not translated per point
    except (IllFormedAccess, RecursionError) as exc:
        raise failure(None, ill_formed_reason(exc)) from None
    base = {key(s): v for s, v in env.items()}
    index_keys = [key(s) for s in op.lhs_indices]
    out = []
    for pt in points:
        local = dict(base)
        local.update(zip(index_keys, pt))
        try:
            out.append(fn(local))
        except (IllFormedAccess, RecursionError) as exc:
            raise failure(pt, ill_formed_reason(exc)) from None
    return out


def compare(op: Operator, env: dict, points, left: list, right: list) -> tuple[Counterexample, bool] | None:
    """The first output index where the two value lists are not proved equal, as a counterexample, and whether they
    are proved to differ there (exactly, or by the float evaluation with an error bound)."""
    for pt, a, b in zip(points, left, right):
        if not equal(a, b):
            diff = P.sub(a, b)
            proved = not (P.has_opaque(a) or P.has_opaque(b)) or bool(clearly_nonzero(diff))
            why = "" if proved else (", not proved 0 (nor proved non-zero: it holds a quotient by a value not proved "
                                     "non-zero, or numbers and functions whose relations the exact check does not see)")
            return Counterexample(format_sizes(env), index_text(op, pt), show(a), show(b),
                                  f"left − right = {show(diff)}{why}"), proved
    return None
