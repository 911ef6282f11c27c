"""An exact, versioned encoding of SymPy expressions as JSON trees, decoded through a closed list.

Certificates carry every expression of a proof as data. Decoding must never run code named by
the data (``sympify`` and ``srepr`` round trips evaluate Python): a node is ``[kind, …]`` and
only the constructors listed in :data:`CONSTRUCTORS` (SymPy's own classes and evosym's
``InRange``) can be built. Every decoded expression is built by SymPy's ordinary constructors,
so it is the canonical object SymPy itself would have made; the encoder checks the round trip,
so a proof whose expressions cannot be carried exactly is refused where it is produced.

    Symbol   ["Symbol", name, {assumption: bool, …}]   (the assumptions it was created with)
    Integer  ["Integer", "123"]        Rational ["Rational", "p", "q"]
    Float    ["Float", sign, "mantissa", exponent, bits, precision]   (mpmath's exact tuple)
    Undef    ["Undef", name, arg, …]   (an undefined function f(…): a name, no code)
    constant ["pi"], ["E"], ["I"], ["oo"], ["-oo"], ["true"], ["false"]
    other    [ClassName, arg, …]       (ClassName in CONSTRUCTORS)
"""

from __future__ import annotations

import re
import unicodedata

import sympy as sp
from sympy.core.assumptions import _assume_defined
from sympy.core.function import AppliedUndef
from sympy.functions.elementary.piecewise import ExprCondPair
from sympy.printing.repr import ReprPrinter

from ..errors import EvosymError, TimeLimitExceeded
from ..ir.symbols import InRange


class CodecError(EvosymError):
    """A value that certificates cannot encode, or data that is not a valid encoding."""


CONSTRUCTORS = {cls.__name__: cls for cls in (
    sp.Add, sp.Mul, sp.Pow, sp.Sum, sp.Tuple, sp.Indexed, sp.IndexedBase, sp.KroneckerDelta, InRange,
    sp.Max, sp.Min, sp.Abs, sp.Mod, sp.floor, sp.ceiling, sp.exp, sp.log, sp.sin, sp.cos, sp.tan, sp.tanh,
    sp.conjugate, sp.re, sp.im, sp.sign, sp.mobius,
    sp.Piecewise, ExprCondPair, sp.Limit, sp.Heaviside, sp.erf,
    sp.Eq, sp.Ne, sp.Lt, sp.Le, sp.Gt, sp.Ge, sp.And, sp.Or, sp.Not,   # (relationals by their class names)
)}
MAX_EXPONENT, MAX_BITS = 1 << 16, 1 << 20   # powers in an expression read back (see _power_bounded)
CONSTANTS = {"pi": sp.pi, "E": sp.E, "I": sp.I, "oo": sp.oo, "-oo": -sp.oo, "true": sp.true, "false": sp.false}
_CONSTANT_NAMES = {v: k for k, v in CONSTANTS.items()}
ASSUMPTION_KEYS = frozenset(_assume_defined)


def encode(e) -> list:
    """The JSON tree of a SymPy object (see the module docstring); :class:`CodecError` if not encodable."""
    if isinstance(e, bool):
        e = sp.true if e else sp.false
    if isinstance(e, int):
        e = sp.Integer(e)
    if not isinstance(e, sp.Basic):
        raise CodecError(f"{type(e).__name__} {e!r} is not a SymPy expression")
    const = _CONSTANT_NAMES.get(e)
    if const is not None:
        return [const]
    if isinstance(e, sp.Dummy) or isinstance(e, sp.Wild):
        raise CodecError(f"the symbol {e} is a {type(e).__name__}: its identity is not its name, so it cannot be carried")
    if isinstance(e, sp.Symbol):
        orig = getattr(e, "_assumptions_orig", None)
        orig = dict(e.assumptions0 if orig is None else orig)
        return ["Symbol", e.name, {k: bool(v) for k, v in sorted(orig.items()) if v is not None}]
    if isinstance(e, sp.Integer):
        return ["Integer", str(int(e))]
    if isinstance(e, sp.Rational):
        return ["Rational", str(int(e.p)), str(int(e.q))]
    if isinstance(e, sp.Float):
        sign, man, exp, bits = e._mpf_
        return ["Float", int(sign), str(int(man)), int(exp), int(bits), int(e._prec)]
    if isinstance(e, AppliedUndef):
        return ["Undef", str(e.func.__name__)] + [encode(a) for a in e.args]
    name = type(e).__name__
    if CONSTRUCTORS.get(name) is not type(e):
        raise CodecError(f"expressions of type {name} cannot be carried by a certificate (allowed: "
                         f"{', '.join(sorted(CONSTRUCTORS))}, symbols, numbers and undefined functions)")
    if isinstance(e, sp.IndexedBase) and (e.shape is not None or e.offset != 0 or e.strides is not None):
        raise CodecError(f"the IndexedBase {e} carries a shape, offset or strides; declare shapes on the TensorDecl")
    return [name] + [encode(a) for a in e.args]


def control_character(text: str, allowed: str = "") -> str | None:
    """The first control or format character of ``text`` (escape, carriage return, a bidirectional override …)
    outside ``allowed``, or None: names and texts from a certificate or an operator file are printed to a terminal,
    which would act on them (erase the verdict line, print a forged one, reorder it)."""
    return next((ch for ch in text if ch not in allowed and is_control(ch)), None)


def is_control(ch: str) -> bool:
    """A control, format, lone surrogate or line/paragraph separator character (Cc, Cf, Cs, Zl, Zp): one a terminal
    acts on or breaks a line at, or no UTF-8 can hold."""
    return unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp")


def escaped(text: str, keep: str = "") -> str:
    """``text`` with its control and format characters, but those in ``keep``, written as escapes (``\\x1b``)."""
    rest = text
    for ch in keep:
        rest = rest.replace(ch, "")
    if rest.isprintable():   # (none of them: str.isprintable is False for each of those categories)
        return text
    return "".join(ascii(ch)[1:-1] if ch not in keep and is_control(ch) else ch for ch in text)


NAME = re.compile(r"[^\W\d]\w*'*")   # a symbol's or tensor's name: a (Unicode) identifier, primes after it

# The LaTeX a display name may hold (``latex=`` of a tensor or definition): letters, digits, sub- and superscripts,
# groups and these commands. A document compiles what it prints, so a name cannot read a file (\input), write one,
# define a macro or change a catcode (nor spell one with ^^5c); in Markdown math it cannot close the math ($), start a
# table cell (|), HTML (<) or a code span.
LATEX_COMMANDS = frozenset(
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi pi varpi rho varrho "
    "sigma varsigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega "
    "mathrm mathbf mathit mathsf mathtt mathcal mathbb mathfrak boldsymbol operatorname hat bar tilde vec dot ddot "
    "check breve acute grave widehat widetilde overline underline ell prime partial nabla infty star ast dagger circ "
    "top text".split())
_TEXT_GROUP = re.compile(r"\\text\s*\{([^{}]*)\}")   # \text{…} sets its group in text mode: words and digits only
_LATEX_TEXT = re.compile(r"(?:[^\W_]|[_^{}',.()+\-*/ ]|\\[A-Za-z]+)*")


def latex_name(text: str) -> bool:
    """Whether ``text`` is a display name in the LaTeX above: commands of :data:`LATEX_COMMANDS` only, groups
    balanced, no ``^^`` (TeX's spelling of any character), ``\\text`` only of a group of words and digits."""
    if not _LATEX_TEXT.fullmatch(text) or "^^" in text:
        return False
    if any(c not in LATEX_COMMANDS for c in re.findall(r"\\([A-Za-z]+)", text)):
        return False
    if len(_TEXT_GROUP.findall(text)) != text.count("\\text") or not all(
            re.fullmatch(r"[A-Za-z0-9 ]+(-[A-Za-z0-9 ]+)*", g) for g in _TEXT_GROUP.findall(text)):
        return False   # (in text mode _, ^ and commands are errors or another font's letters)
    depth = 0
    for ch in text:
        depth += (ch == "{") - (ch == "}")
        if depth < 0:
            return False
    return depth == 0


def decode(tree):
    """The SymPy object of a JSON tree, built only through :data:`CONSTRUCTORS`."""
    if not isinstance(tree, list) or not tree or not isinstance(tree[0], str):
        raise CodecError(f"not an encoded expression: {_short(tree)}")
    kind, args = tree[0], tree[1:]
    if kind in CONSTANTS and not args:
        return CONSTANTS[kind]
    if kind == "Symbol":
        if len(args) != 2 or not isinstance(args[0], str) or not isinstance(args[1], dict):
            raise CodecError(f"malformed symbol: {_short(tree)}")
        name, facts = args
        if control_character(name):
            raise CodecError(f"malformed symbol {name!r}: its name holds the control character "
                             f"{control_character(name)!r}, which a terminal would act on")
        if not name or any(k not in ASSUMPTION_KEYS or not isinstance(v, bool) for k, v in facts.items()):
            raise CodecError(f"malformed symbol {name!r}: unknown or non-boolean assumptions {sorted(facts)}")
        try:
            return sp.Symbol(name, **facts)
        except TimeLimitExceeded:
            raise
        except Exception as exc:   # inconsistent assumptions (integer=True, irrational=True …)
            raise CodecError(f"symbol {name!r}: inconsistent assumptions {facts}: {exc}") from None
    if kind == "Integer":
        return sp.Integer(_int_text(args, 1, tree)[0])
    if kind == "Rational":
        p, q = _int_text(args, 2, tree)
        if q == 0:
            raise CodecError("a rational with denominator 0")
        return sp.Rational(p, q)
    if kind == "Float":
        if len(args) != 5 or not all(isinstance(a, (int, str)) and not isinstance(a, bool) for a in args):
            raise CodecError(f"malformed float: {_short(tree)}")
        sign, man, exp, bits, prec = int(args[0]), int(_int_text([args[1]], 1, tree)[0]), int(args[2]), int(args[3]), int(args[4])
        if sign not in (0, 1) or man < 0 or bits < 0 or not 1 <= prec <= 10000 or abs(exp) > MAX_EXPONENT:
            raise CodecError(f"malformed float: {_short(tree)}")   # (floor(m·2^(2^33)) would be a 1 GB integer)
        if not ((sign, man, exp, bits) == (0, 0, 0, 0) or (man % 2 == 1 and bits == man.bit_length())):
            raise CodecError(f"malformed float: {_short(tree)} is not a normalised binary float (an odd mantissa of "
                             "as many bits as it says, or zero)")   # (mpmath may loop on another)
        return sp.Float._new((sign, man, exp, bits), prec)
    if kind == "Undef":
        if not args or not isinstance(args[0], str) or not args[0].isidentifier():
            raise CodecError(f"malformed undefined function: {_short(tree)}")
        return sp.Function(args[0])(*[decode(a) for a in args[1:]])
    cls = CONSTRUCTORS.get(kind)
    if cls is None:
        raise CodecError(f"unknown expression kind {kind!r}")
    parts = [decode(a) for a in args]
    if cls is sp.Pow and len(parts) == 2:
        _power_bounded(*parts)
    if cls is sp.mobius and any(p.is_Number and abs(p) >= 2 ** 64 for p in parts):
        raise CodecError(f"mobius of a number of {max(len(str(p)) for p in parts)} digits: SymPy would factorise it "
                         "(for ever), so a certificate holds none above 2^64")
    try:
        built = cls(*parts)
    except TimeLimitExceeded:
        raise   # (the time limit's own signal, never a malformed argument)
    except Exception as exc:
        raise CodecError(f"{kind} cannot be built from its arguments: {type(exc).__name__}: {exc}") from None
    for factor in (built,) if built.is_Pow else built.args if built.is_Mul else ():   # powers SymPy combined
        if factor.is_Pow:
            _power_bounded(*factor.args)
    return built


def _power_bounded(base, exp) -> None:
    """A power whose value a checker can compute: an exponent of at most MAX_EXPONENT, and a number raised to a number
    of at most MAX_BITS bits (3**(10**30) would be computed, in C, for ever, whatever the time limit)."""
    if not exp.is_Number:
        return
    if abs(exp) > MAX_EXPONENT:
        raise CodecError(f"a power with the exponent {_short(exp)}: beyond ±{MAX_EXPONENT}")
    if base.is_Rational and base not in (0, 1, -1):
        bits = max(abs(int(base.p)).bit_length(), int(base.q).bit_length()) * abs(exp)
        if bits > MAX_BITS:
            raise CodecError(f"a power {_short(base)}**{_short(exp)}: a number of more than {MAX_BITS} bits")


def encode_checked(e) -> list:
    """:func:`encode`, refusing an expression whose decoding is not the same object (so a certificate never
    carries something the checker would read differently)."""
    tree = encode(e)
    back, e = decode(tree), sp.sympify(e)
    if back != e or _repr(back) != _repr(e):
        raise CodecError(f"the expression {_short(str(e))} does not survive an exact round trip "
                         f"(it decodes as {_short(str(back))}): it was built unevaluated")
    return tree


class _SortedRepr(ReprPrinter):
    """SymPy's ``srepr`` with a symbol's assumptions in sorted order (as encoded): ``srepr`` writes them in the order
    they were passed, so ``Symbol("L", positive=True, integer=True)`` was refused as "built unevaluated"."""

    def _print_Symbol(self, expr):
        if expr.is_Dummy:   # (never encoded: its index matters)
            return super()._print_Symbol(expr)
        facts = sorted(expr._assumptions_orig.items())
        return f"{type(expr).__name__}({self._print(expr.name)}{''.join(f', {k}={v}' for k, v in facts)})"


def _repr(e) -> str:
    return _SortedRepr().doprint(e)


def _int_text(args, n, tree):
    if len(args) != n or not all(isinstance(a, str) and a.lstrip("-").isdigit() and len(a) < 4000 for a in args):
        raise CodecError(f"malformed number: {_short(tree)}")
    return [int(a) for a in args]


def _short(x) -> str:
    text = str(x)
    return text if len(text) <= 120 else text[:117] + "…"
