"""Printing expressions: SymPy's printers with evosym's notation for sums, brackets and deltas.

Sums print as nested Σ's (outermost first) rather than SymPy's stacked limits, reads as
``x[b, c, m, n]``, the bracket as ``[lo ≤ e ≤ hi]`` and the delta as ``δ(m, e)``. Output depends
only on the expression, never on hash seeds: SymPy orders terms canonically.
"""

from __future__ import annotations

import sympy as sp

from ..ir.symbols import turns
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

from ..ir.symbols import InRange

GREEK = {"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "theta": "θ", "lambda": "λ", "mu": "μ",
         "sigma": "σ", "tau": "τ", "phi": "φ", "omega": "ω", "Omega": "Ω", "epsilon": "ε", "rho": "ρ"}


def _greek(name: str) -> str:
    head, sep, tail = name.partition("_")
    return GREEK.get(head, head) + sep + tail


class TextExprPrinter(StrPrinter):
    """Plain-text notation for terminals (Unicode Σ, δ, ⌊⌋, ≤)."""

    printmethod = "_evosym_text"  # bypass SymPy's own _sympystr hooks (Indexed has one)

    def __init__(self, names: dict[str, str] | None = None):
        super().__init__({"order": None})
        self.names = names or {}

    def _print_Symbol(self, expr):
        return _greek(expr.name)

    def _print_Indexed(self, expr):
        name = str(expr.base.label)
        if expr.indices == (0,) and f"{name}[0]" in self.names:   # a scalar parameter
            return self.names[f"{name}[0]"]
        return "%s[%s]" % (self.names.get(name, name), ", ".join(self._print(i) for i in expr.indices))

    def _print_IndexedBase(self, expr):
        name = str(expr.label)
        return self.names.get(name, name)

    def _print_Sum(self, expr):
        head = " ".join("Σ_{%s=%s}^{%s}" % (self._print(v), self._print(a), self._print(b)) for v, a, b in reversed(expr.limits))
        body = self._print(expr.function)
        if isinstance(expr.function, sp.Add):
            body = "(%s)" % body
        return "%s %s" % (head, body)

    def _print_KroneckerDelta(self, expr):
        return "δ(%s, %s)" % tuple(self._print(a) for a in expr.args)

    def _print_InRange(self, expr):
        e, lo, hi = (self._print(a) for a in expr.args)
        return "[%s ≤ %s ≤ %s]" % (lo, e, hi)

    def _print_floor(self, expr):
        return "⌊%s⌋" % self._print(expr.args[0])

    def _print_Relational(self, expr):
        op = {"<=": "≤", ">=": "≥", "!=": "≠", "==": "="}.get(expr.rel_op, expr.rel_op)
        return "%s %s %s" % (self._print(expr.lhs), op, self._print(expr.rhs))

    def _print_ceiling(self, expr):
        return "⌈%s⌉" % self._print(expr.args[0])

    def _print_Mod(self, expr):
        return "(%s mod %s)" % tuple(self._print(a) for a in expr.args)

    def _print_exp(self, expr):
        t = turns(expr.args[0])
        if t is not None:   # a root of unity: e^(2πi·t)
            sign, t = ("-", -t) if t.could_extract_minus_sign() else ("", t)
            return "e^(%s2πi·%s)" % (sign, self._print(sp.factor_terms(t)))
        return "exp(%s)" % self._print(expr.args[0])

    def _print_conjugate(self, expr):
        return "conj(%s)" % self._print(expr.args[0])

    def _print_Limit(self, expr):
        e, z, z0 = expr.args[:3]
        return "lim_{%s→%s} %s" % (self._print(z), "∞" if z0 is sp.oo else self._print(z0), self._print(e))

    def _print_Mul(self, expr):
        return _mul_with_sums(self, expr, super()._print_Mul, "·", "(%s)")

    def _print_Pow(self, expr, rational=False):
        return super()._print_Pow(expr, rational).replace("**", "^")


class LatexExprPrinter(LatexPrinter):
    """LaTeX notation for Markdown math and documents."""

    def __init__(self, names: dict[str, str] | None = None):
        super().__init__({"order": None})
        self.names = names or {}

    def _print_Indexed(self, expr):
        name = str(expr.base.label)
        if expr.indices == (0,) and f"{name}[0]" in self.names:   # a scalar parameter
            return self.names[f"{name}[0]"]
        base = self.names.get(name) or self._print(sp.Symbol(name))
        return r"%s\left[%s\right]" % (base, ", ".join(self._print(i) for i in expr.indices))

    def _print_IndexedBase(self, expr):
        name = str(expr.label)
        return self.names.get(name) or self._print(sp.Symbol(name))

    def _print_Sum(self, expr):
        head = " ".join(r"\sum_{%s=%s}^{%s}" % (self._print(v), self._print(a), self._print(b)) for v, a, b in reversed(expr.limits))
        body = self._print(expr.function)
        if isinstance(expr.function, sp.Add):
            body = r"\left(%s\right)" % body
        return "%s %s" % (head, body)

    def _print_Mul(self, expr):
        return _mul_with_sums(self, expr, super()._print_Mul, r" \cdot ", r"\left(%s\right)")

    def _print_KroneckerDelta(self, expr, exp=None):
        return r"\delta_{%s,\, %s}" % tuple(self._print(a) for a in expr.args)

    def _print_InRange(self, expr):
        e, lo, hi = (self._print(a) for a in expr.args)
        return r"\left[%s \le %s \le %s\right]" % (lo, e, hi)


def _mul_with_sums(printer, expr, base, times, paren):
    """A product whose Σ factors come last, all but the last in parentheses.

    SymPy gives Σ the precedence of a product, so ``a·Σ_u f·c`` would not say whether ``c``
    is summed; a Σ extends to the end of the product, as in the usual notation.
    """
    sums = [a for a in expr.args if isinstance(a, sp.Sum)]
    if not sums:
        return base(expr).replace("*", "·") if times == "·" else base(expr)
    rest = sp.Mul(*[a for a in expr.args if not isinstance(a, sp.Sum)])
    sign, parts = "", []
    if rest == -1:
        sign = "-"
    elif rest != 1:
        parts.append(printer.parenthesize(rest, 50) if isinstance(rest, sp.Add) else printer._print(rest))
    printed = [printer._print(s) for s in sums]
    parts += [paren % p for p in printed[:-1]] + printed[-1:]
    return sign + times.join(parts)


def text(expr, names=None) -> str:
    return TextExprPrinter(names)._print(sp.sympify(expr))


def latex(expr, names=None) -> str:
    return LatexExprPrinter(names)._print(sp.sympify(expr))


__all__ = ["InRange", "LatexExprPrinter", "TextExprPrinter", "latex", "text"]
