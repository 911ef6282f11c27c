"""Symbols for sizes and indices, and the Iverson range guard ``[lo ≤ e ≤ hi]``.

Sizes are positive integers, indices non-negative integers; stating that on the SymPy
symbols lets SymPy decide integrality of index expressions (a precondition of several
rules) without our own bookkeeping.
"""

from __future__ import annotations

import sympy as sp

from . import numbers  # noqa: F401  (SymPy's fold of μ, made sound before any expression is built)

# the assumptions of a symbol declared integer and nothing more (a definition's parameter folds no other
# assumption into its body; a premise's own integrality)
INTEGER_ONLY = sp.Symbol("_", integer=True).assumptions0


def size(name: str, *, zero: bool = False) -> sp.Symbol:
    """A size symbol: a positive integer, or a non-negative one with ``zero=True`` (padding)."""
    if zero:
        return sp.Symbol(name, integer=True, nonnegative=True)
    return sp.Symbol(name, integer=True, positive=True)


def check_size(sym: sp.Symbol, value: int, *, zero: bool = False, below_2_31: bool = False) -> None:
    """A ``ValueError`` unless ``value`` is in the declared range of the size ``sym`` (≥ 1 for a positive
    size, ≥ 0 for one declared with ``zero=True`` or when ``zero`` allows it), and below 2³¹ if asked."""
    low = 1 if sym.is_positive and not zero else 0
    if value < low or (below_2_31 and value >= 2 ** 31):
        raise ValueError(f"size {sym} must be {'≥ 1' if low else '≥ 0'}{' and < 2^31' if below_2_31 else ''}, "
                         f"not {value}")


def sizes(names: str, *, zero: bool = False) -> tuple[sp.Symbol, ...]:
    """Several size symbols from a space-separated string."""
    return tuple(size(n, zero=zero) for n in names.split())


def index(name: str) -> sp.Symbol:
    """An index symbol: an integer (its range is stated where it is bound)."""
    return sp.Symbol(name, integer=True)


def indices(names: str) -> tuple[sp.Symbol, ...]:
    """Several index symbols from a space-separated string."""
    return tuple(index(n) for n in names.split())


class InRange(sp.Function):
    """Iverson bracket ``[lo ≤ e ≤ hi]``: 1 when the integer ``e`` lies in ``[lo, hi]``, else 0.

    It guards reads of a zero-padded tensor: the product ``[0 ≤ m ≤ H−1]·x[m]`` is zero
    outside the input, and the bounded checker never reads ``x`` there.
    """

    nargs = 3

    @classmethod
    def eval(cls, e, lo, hi):
        if e.is_Number and lo.is_Number and hi.is_Number:
            return sp.Integer(1) if lo <= e <= hi else sp.Integer(0)
        return None

    def _latex(self, printer):
        e, lo, hi = (printer._print(a) for a in self.args)
        return r"\left[%s \le %s \le %s\right]" % (lo, e, hi)

    def _sympystr(self, printer):
        e, lo, hi = (printer._print(a) for a in self.args)
        return "[%s <= %s <= %s]" % (lo, e, hi)


def turns(arg):
    """t when arg = 2πi·t with t free of π, i and exp (e^arg then turns t times around the circle: a root
    of unity when t is rational), else None. Shared by the evaluator, the Fourier rules and the printer."""
    t = sp.expand(arg / (2 * sp.pi * sp.I))
    return None if t.has(sp.pi, sp.I, sp.exp) else t


def size_value(expr, env) -> int:
    """The integer value of a size expression at concrete sizes (``env``: Symbol → int)."""
    value = sp.sympify(expr).xreplace({k: sp.Integer(v) for k, v in env.items()})
    if not value.is_Integer:
        raise ValueError(f"{expr} is not an integer at {', '.join(f'{k}={v}' for k, v in sorted((str(a), b) for a, b in env.items()))}: {value}")
    return int(value)


def variables(expr) -> set:
    """Every symbol ``expr`` holds (bound or free) other than where it names a tensor (an ``IndexedBase``'s label)."""
    out, todo = set(), [sp.sympify(expr)]
    while todo:
        e = todo.pop()
        if isinstance(e, sp.Indexed):
            todo.extend(e.indices)
        elif isinstance(e, sp.Symbol):
            out.add(e)
        elif isinstance(e, sp.Basic) and not isinstance(e, sp.IndexedBase):
            todo.extend(e.args)
    return out


def free_variables(expr) -> set:
    """The free symbols of ``expr`` that are variables: not the names of the tensors it reads, unless it also
    reads such a symbol as a variable (a label built from a free symbol does not hide that symbol)."""
    expr = sp.sympify(expr)
    held = variables(expr)
    return {s for s in expr.free_symbols if isinstance(s, sp.Symbol) and s in held}

