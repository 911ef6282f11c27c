"""Printing size and index expressions as C integer arithmetic for the CUDA/C++ kernels.

SymPy's C printer supplies the operator precedence and layout; evosym overrides what C gets
wrong for index arithmetic: ⌊a/b⌋ and ⌈a/b⌉ become exact integer helpers (C's ``/`` truncates
towards zero, which is wrong for negative numerators), integer powers become products (``pow``
is floating point), a piecewise expression becomes nested conditional expressions (the clamped
window's inverse), and a size symbol becomes a field of the sizes struct (``z.K_h``). Any
non-integer constant is refused: these expressions must be exact integers.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.c import C99CodePrinter

from ..errors import EvosymError
from .torchexpr import py_name


class IndexCPrinter(C99CodePrinter):
    """C99 for integer index expressions; ``names`` maps symbols to C expressions."""

    def __init__(self, names: dict):
        super().__init__({"strict": False})
        self.names = dict(names)

    def _print_Symbol(self, expr):
        if expr in self.names:
            return self.names[expr]
        raise EvosymError(f"CUDA code generation: symbol {expr} has no value in the kernel")

    def _print_Integer(self, expr):
        return f"{int(expr)}LL"

    def _print_Rational(self, expr):
        raise EvosymError(f"CUDA code generation: {expr} is not an integer (index arithmetic must be exact)")

    def _print_Float(self, expr):
        raise EvosymError(f"CUDA code generation: {expr} is not an integer (index arithmetic must be exact)")

    def _ratio(self, arg):
        num, den = sp.fraction(sp.together(arg))
        if not (num.is_integer and den.is_integer):
            raise EvosymError(f"CUDA code generation: ⌊{arg}⌋ is not a ratio of integers")
        return self._print(num), self._print(den)

    def _print_floor(self, expr):
        return "evo_floordiv(%s, %s)" % self._ratio(expr.args[0])

    def _print_ceiling(self, expr):
        return "evo_ceildiv(%s, %s)" % self._ratio(expr.args[0])

    def _print_Mod(self, expr):
        return "evo_mod(%s, %s)" % tuple(self._print(a) for a in expr.args)

    def _print_Max(self, expr):
        out = self._print(expr.args[0])
        for a in expr.args[1:]:
            out = f"evo_max({out}, {self._print(a)})"
        return out

    def _print_Min(self, expr):
        out = self._print(expr.args[0])
        for a in expr.args[1:]:
            out = f"evo_min({out}, {self._print(a)})"
        return out

    def _print_Piecewise(self, expr):
        if expr.args[-1].cond != sp.true:
            raise EvosymError(f"CUDA code generation: {expr} has no value where no condition holds")
        out = self._print(expr.args[-1].expr)
        for e, c in reversed(expr.args[:-1]):
            out = f"(({self._print(c)}) ? ({self._print(e)}) : ({out}))"
        return out

    def _print_Pow(self, expr):
        if expr.exp.is_Integer and expr.exp >= 1:
            base = self._print(expr.base)
            return "(" + " * ".join([f"({base})"] * int(expr.exp)) + ")"
        raise EvosymError(f"CUDA code generation: {expr} is not an integer power")

    def _print_Mul(self, expr):
        num, den = sp.fraction(expr)
        if den != 1:
            raise EvosymError(f"CUDA code generation: {expr} divides outside ⌊·⌋ (index arithmetic must be exact)")
        return super()._print_Mul(expr)


def c_index(expr, names: dict) -> str:
    """A C expression (64-bit integers) for a SymPy index expression."""
    return IndexCPrinter(names).doprint(sp.sympify(expr))


def size_names(sizes) -> dict:
    """Each operator size as the field of the kernel's sizes struct: ``K_h`` → ``z.K_h``."""
    return {s: f"z.{py_name(s)}" for s in sizes}
