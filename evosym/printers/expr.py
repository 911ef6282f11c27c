"""Printing expressions: SymPy's printers with evosym's notation for sums, brackets and deltas.

Sums print as nested Σ's (outermost first) rather than SymPy's stacked limits, reads as
``x[b, c, m, n]``, the bracket as ``[lo ≤ e ≤ hi]`` and the delta as ``δ(m, e)``. Output depends
only on the expression, never on hash seeds: SymPy orders terms canonically.
"""

from __future__ import annotations

import re

import sympy as sp

from ..ir.symbols import turns
from sympy.printing.latex import LatexPrinter, greek_letters_set, tex_greek_dictionary
from sympy.printing.str import StrPrinter

from ..ir.looks import look
from ..ir.symbols import InRange
from ..proof.codec import NAME

GREEK = {"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "theta": "θ", "lambda": "λ", "mu": "μ",
         "sigma": "σ", "tau": "τ", "phi": "φ", "omega": "ω", "Omega": "Ω", "epsilon": "ε", "rho": "ρ"}


# Functions of one argument that the notation writes with a letter, as SymPy's LaTeX printer does (\mu for mobius,
# \phi for totient): the text printer writes the same letter, so a proof reads μ(d + 1) in every format. (Not
# primeomega: Ω is the neighbourhood here.)
FUNCTION_LETTERS = {"mobius": "μ", "totient": "φ"}


def _greek(name: str) -> str:
    head, sep, tail = name.partition("_")
    return GREEK.get(head, head) + sep + tail


def _latex_name(name: str, base) -> str:
    """A symbol's name in LaTeX: multi-letter parts upright (``bias`` → ``\\mathrm{bias}``, ``x_pad`` →
    ``x_{\\mathrm{pad}}``, ``fast_bias`` → ``\\mathrm{fast\\_bias}``), so that a word never reads as a
    product of italic letters, nor as what SymPy would make of its ending (``xabs`` as |x|, ``xbar`` as x̄, ``hbar``
    as ℏ, ``σabs`` as |σ|): a name prints as its letters. Greek names and parts of single letters, digits and primes
    keep SymPy's form (``base``: SymPy's printing of a name)."""
    parts = name.split("_")
    if not any(map(_is_word, parts)):
        return base(name)
    if _is_word(parts[0]):   # a snake_case word (fast_bias): upright as a whole
        return r"\mathrm{%s}" % name.replace("_", r"\_")
    shown = [r"\mathrm{%s}" % part if _is_word(part) else base(part) for part in parts]
    head, subs = shown[0], shown[1:]
    return head + ("_{%s}" % ", ".join(subs) if subs else "")


_PLAIN = re.compile(r"([^\W\d_]+)\d*'*")


def _is_word(part: str) -> bool:
    """A name part SymPy would not print as its letters: anything but one letter or a Greek letter's name (digits
    and primes after it), which SymPy writes as subscripts and primes; SymPy reads other endings as accents and
    operations (``K1abs`` as |K1|, ``i2prime`` as i2′, ``W1bm`` in bold)."""
    m = _PLAIN.fullmatch(part)
    if part == "" or part.isdigit():
        return False
    if not m:
        return True
    letters = m.group(1)
    return len(letters) > 1 and letters not in tex_greek_dictionary and letters.lower() not in greek_letters_set


class TextExprPrinter(StrPrinter):
    """Plain-text notation for terminals (Unicode Σ, δ, ⌊⌋, ≤).

    ``names`` maps tensor names to display names; ``symbols`` maps symbol names to display names (the
    printers use it to write dilations as d, keeping δ for the Kronecker delta: :func:`symbol_names`)."""

    printmethod = "_evosym_text"  # bypass SymPy's own _sympystr hooks (Indexed has one)

    def __init__(self, names: dict[str, str] | None = None, symbols: dict[str, str] | None = None):
        super().__init__({"order": None})
        self.names = names or {}
        self.symbols = symbols or {}

    def _print_Symbol(self, expr):
        return self.symbols.get(expr.name) or _greek(expr.name)

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

    def _print_KroneckerDelta(self, expr):   # (SymPy's takes a third argument, a range: printed as given)
        return "δ(%s)" % ", ".join(self._print(a) for a in expr.args)

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

    def _print_Function(self, expr):
        letter = FUNCTION_LETTERS.get(type(expr).__name__)
        if letter is not None and len(expr.args) == 1:
            return "%s(%s)" % (letter, self._print(expr.args[0]))
        return super()._print_Function(expr)

    def _print_Limit(self, expr):
        e, z, z0 = expr.args[:3]
        return "lim_{%s→%s} %s" % (self._print(z), "∞" if z0 is sp.oo else self._print(z0), self._print(e))

    def _print_Mul(self, expr):
        return _mul_with_sums(self, expr, super()._print_Mul, "·", "(%s)")

    def _print_Pow(self, expr, rational=False):
        return super()._print_Pow(expr, rational).replace("**", "^")


class LatexExprPrinter(LatexPrinter):
    """LaTeX notation for Markdown math and documents (multi-letter names upright: :func:`_latex_name`)."""

    def __init__(self, names: dict[str, str] | None = None, symbols: dict[str, str] | None = None):
        super().__init__({"order": None})
        self.names = names or {}
        self.symbols = symbols or {}

    def _print_Symbol(self, expr, style="plain"):
        if expr.name in self.symbols:
            return self.symbols[expr.name]
        if not NAME.fullmatch(expr.name) and expr.name not in ("+", "-"):   # (a limit's direction is a symbol "-")
            # a name no operator declares (one made in a derivation's step): its letters and digits only, upright,
            # never LaTeX or Markdown of its own ($, |, <, a command)
            return r"\mathrm{%s}" % "".join(ch if ch.isalnum() else "?" for ch in expr.name)
        return _latex_name(expr.name, lambda n: super(LatexExprPrinter, self)._print_Symbol(sp.Symbol(n), style))

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

    def _print_KroneckerDelta(self, expr, exp=None):   # (a third argument, SymPy's range: printed as given)
        return r"\delta_{%s}" % r",\, ".join(self._print(a) for a in expr.args)

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


def symbol_names(cp, kind: str) -> dict[str, str]:
    """Display names that keep δ for the Kronecker delta alone: a window's dilation symbol named ``delta…``
    (``delta_h``) prints as ``d`` with the same subscript (``d_h``; LaTeX ``d_{h}``). Found from the
    neighbourhood's own axes (the checked proof ``cp``'s declared Ω), never from a list of operators; when the
    new name looks like another symbol of the proof (bound or free, in the operator or its steps: ``d1`` beside
    ``delta_1``) or a scalar parameter's display name, the dilation keeps its name."""
    axes = getattr(cp.proof.omega, "axes", ())
    op = cp.operator
    held = [op.traditional, *op.size_symbols(), *op.lhs_indices, *(e for s in cp.steps for e in (s.before, s.after))]
    held += [e for a in axes for e in (a.kernel, a.stride, a.dilation, a.padding, a.length)]
    taken = {look(s.name) for e in held for s in sp.sympify(e).atoms(sp.Symbol)}
    taken |= {look(t.text or t.name) for t in op.tensors if t.shape == (1,)}
    out = {}
    for a in axes:
        d = a.dilation
        if isinstance(d, sp.Symbol) and (d.name == "delta" or d.name.startswith("delta_")):
            new = "d" + d.name[len("delta"):]
            if look(new) in taken:   # (d_1 beside d1, or a scalar parameter displayed d: the dilation stays δ)
                continue
            sub = new[2:]
            out[d.name] = new if kind == "text" else ("d_{%s}" % sub if sub else "d")
    return out


def text(expr, names=None, symbols=None) -> str:
    return TextExprPrinter(names, symbols)._print(sp.sympify(expr))


def latex(expr, names=None, symbols=None) -> str:
    return LatexExprPrinter(names, symbols)._print(sp.sympify(expr))


__all__ = ["FUNCTION_LETTERS", "InRange", "LatexExprPrinter", "TextExprPrinter", "latex", "symbol_names", "text"]
