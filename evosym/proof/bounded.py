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
from sympy.core.function import AppliedUndef

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


# functions SymPy's simplification rewrites by identities of their arguments (with no number in them, see
# :func:`_sympy_may_decide`, it decides none of them by the sign of a number)
_SIMPLIFIED = frozenset({"exp", "log", "sin", "cos", "tan", "sinh", "cosh", "tanh", "atan", "erf", "pow"})


def _sympy_may_decide(diff) -> bool:
    """Whether SymPy's "simplifies to 0" may count for ``diff``: every quotient's denominator proved non-zero (SymPy
    cancels x/x to 1 whatever x is: D/D − 1 with D = sin²2 + cos²2 − 1 came out 0), no function but those of
    :data:`_SIMPLIFIED` and undefined ones, and no number but rationals. SymPy decides the sign of a number by its own
    evaluation, which reads log(1 + 10⁻⁶⁰) as 0: sign(t·log(1 + 10⁻⁶⁰) − t·10⁻⁶¹) + 1, which is 2, simplified to 0,
    and so did √t·√D − √(−t)·√(−D) and log D − log(−D) + log t − log(−t) for D = log(1 + 10⁻⁶⁰) − t·10⁻⁶¹ > 0,
    through the branch rules of a negative D (adversarial passes, 2026-12-07). Over the entries alone, with rational
    coefficients, SymPy has no number to misjudge."""
    for a in P.all_atoms(diff):
        if a[0] in ("N", "Z") or a[0] == "F" and not (
                a[1] in _SIMPLIFIED or a[1].startswith(P.UNDEFINED) or a[1] == "inv" and nonzero(P.argument(a))):
            return False
    expr = P.to_sympy(diff)
    return not any(node.is_number and not node.is_Rational or isinstance(node, sp.Piecewise) or
                   isinstance(node, sp.Function) and node.func.__name__ not in _SIMPLIFIED and
                   not isinstance(node, AppliedUndef) for node in sp.preorder_traversal(expr))


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
