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
from .evaluate import Evaluator, ill_formed_reason
from .step import Counterexample

TRUNCATE = 400


def show(v) -> str:
    text = str(P.to_sympy(v)) if isinstance(v, P.Poly) else str(v)
    return text if len(text) <= TRUNCATE else text[:TRUNCATE] + f" … ({len(text)} characters)"


def equal(a, b) -> bool:
    """Exact equality of two evaluated values (exact quotients cancelled first; SymPy decides what is left
    when opaque atoms are involved)."""
    if a == b:
        return True
    if P.has_opaque(a) or P.has_opaque(b):
        if P.is_zero(P.cancel_quotients(P.sub(a, b))):   # exact: N/D with N = D·Q is Q
            return True
        return sp.simplify(P.to_sympy(a) - P.to_sympy(b)) == 0
    return False


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


def compare(op: Operator, env: dict, points, left: list, right: list) -> Counterexample | None:
    """The first output index where the two value lists differ, as a counterexample."""
    for pt, a, b in zip(points, left, right):
        if not equal(a, b):
            diff = show(P.sub(a, b))
            return Counterexample(format_sizes(env), index_text(op, pt), show(a), show(b), f"left − right = {diff}")
    return None
