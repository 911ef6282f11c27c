"""Exact evaluation of index expressions at concrete sizes: the engine of every bounded check.

An expression is compiled once into nested closures and then evaluated for many index
assignments. Sums are unrolled explicitly over their integer ranges. Reads of declared
tensors are checked: a non-integer index (SymPy's delta summation can produce ``W[0,0,3/2]``)
or an out-of-range index raises :class:`IllFormedAccess` instead of silently reading nothing.
Products evaluate their guards (Kronecker deltas, Iverson brackets) first, so a zero guard
protects the reads next to it, which is exactly how zero padding is written.

With ``delta_shortcut`` a sum whose summand carries ``δ(v, e)`` (``e`` free of ``v``) visits
only ``v = e``, and only when ``e`` is an integer inside the range: the same value as the
full unrolling, computed in one visit instead of L. ``delta_shortcut=False`` unrolls every
term; the tests check that both agree.

Exact and fast (tests/test_fast_eval.py and tests/test_evaluate_fast.py compare each with the plain path):
coefficients are ints unless a division leaves a Fraction (:mod:`.poly`); a sum's terms are collected in one
dict; integer-valued index arithmetic (s·p + δ·u − P, Max, Min, |·|, Mod, Kronecker deltas, brackets, and ⌊x⌋,
⌈x⌉ of quotients such as ⌊o/G⌋ and ⌊s·(K − 1)/2⌋, computed as n // d on ints) runs as one Python expression
whose value counts only when it is an int, any error or other value handing the expression to the general
closures; a sum's value is remembered per assignment of its free symbols (and the sizes), so the sums a step
leaves alone are not evaluated again for the next expression; with ``sizes``, a definition's entry is computed
once per (indices, sizes), whichever expression reads it; and SymPy's value of a function at numeric arguments
is asked once per argument. Inside, environments are keyed by one int per symbol (:meth:`Evaluator.compile`
translates; :meth:`Evaluator.compile_keyed` lets a caller build them so), since a SymPy symbol's hash runs Python
code at every lookup. A sum whose summand's leading factors (in the product's order) are free of its variable
looks at them once, at its first term: a zero among them is a zero at every term (tests/test_prover_speed_paths.py
compares these with the slow paths).

Sums follow one convention: Σ_{u=lo}^{hi} runs over the integers lo ≤ u ≤ hi; hi = lo − 1 is the
empty sum, and a range with hi < lo − 1 is ill-formed (not silently empty, and not SymPy's Karr
convention −Σ_{hi+1}^{lo−1}). A definition is a closed function of its parameters: its body is
evaluated in a lexical scope holding only the sizes and its parameters, never the loop variables of
the expression that reads it. A definition that declares a ``shape`` is read outside it only where its
body vanishes (a zero-padded projection read in the padding, which generated code masks to 0); any
other such read is ill-formed, so a shape declared smaller than where a definition is used fails
every bounded check instead of hiding the rows it leaves out.
"""

from __future__ import annotations

import cmath
import math
from fractions import Fraction
from typing import Callable

import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.logic.boolalg import BooleanFalse, BooleanTrue

from ..errors import IllFormedAccess, TimeLimitExceeded
from ..ir.neighbourhood import use_condition_compiler
from ..ir.symbols import INTEGER_ONLY, InRange, turns
from ..ir.tensors import Definition
from . import poly as P
from .magnitude import indicators, nonzero
from .signs import real

_MISSING = object()


def as_int(v, what: str) -> int:
    """An exact integer from an evaluated index, or :class:`IllFormedAccess`."""
    if isinstance(v, int):
        return v
    if isinstance(v, Fraction) and v.denominator == 1:
        return int(v)
    if isinstance(v, P.Poly):
        raise IllFormedAccess(f"{what} {_depends(v)}")
    raise IllFormedAccess(f"{what} is not an integer: {v}")


def _depends(v) -> str:
    """Why a value that should be an integer is symbolic: unbound symbols or tensor entries."""
    free = sorted({a[1] for m in v.terms for a in m if a[0] == "S"})
    if free:
        return f"mentions {', '.join(free)}, which no sum binds here (unbound variable)"
    return f"depends on tensor entries: {P.to_sympy(v)}"


def _turns(arg):
    """(n, L) when arg = 2πi·n/L (a root of unity's exponent), else None."""
    t = turns(arg)
    return None if t is None else sp.fraction(sp.together(t))


_ARITHMETIC_ATOMS = 64   # larger index expressions (none in practice) keep the general closures

# integer-valued heads: their value is an int whenever their arguments are (δ and [lo ≤ e ≤ hi] are 0 or 1)
_INTEGER_HEADS = (sp.Add, sp.Mul, sp.Max, sp.Min, sp.Abs, sp.Mod, sp.floor, sp.ceiling, sp.KroneckerDelta, InRange)
_ARITHMETIC_HEADS = _INTEGER_HEADS + (sp.Pow,)


def _integer_arithmetic(e) -> bool:
    """``e`` is integer-valued index arithmetic (and small): built from integers and symbols by +, ×, Max, Min,
    |·| (reflect padding), Mod, powers with a constant exponent ≥ 0, Kronecker deltas and brackets
    [lo ≤ x ≤ hi] of such expressions, and ⌊x⌋, ⌈x⌉ of *rational* arithmetic x (also rational constants and powers with a negative constant
    exponent: the s·(K − 1)/2 and o/G inside ⌊s·(K − 1)/2⌋ and ⌊o/G⌋). A bare quotient such as i/2 is not
    integer-valued and is not accepted."""
    stack, seen = [(e, False)], 0   # (expression, inside a floor or ceiling: rational values allowed)
    while stack:
        x, rational = stack.pop()
        seen += 1
        if seen > _ARITHMETIC_ATOMS:
            return False
        if x.is_Integer or x.is_Symbol:
            continue
        if x.is_Rational:
            if not rational:
                return False
        elif isinstance(x, (sp.Add, sp.Mul)):
            stack.extend((a, rational) for a in x.args)
        elif isinstance(x, (sp.floor, sp.ceiling)):
            stack.append((x.args[0], True))
        elif (isinstance(x, (sp.Max, sp.Min, sp.Abs, sp.Mod, InRange))
              or (isinstance(x, sp.KroneckerDelta) and len(x.args) == 2)):
            stack.extend((a, False) for a in x.args)   # compared or divided as integers
        elif isinstance(x, sp.Pow) and x.exp.is_Integer and (x.exp >= 0 or rational):
            stack.append((x.base, rational))
        else:
            return False
    return True


def _python_code(e, names: dict) -> str:
    """Python source for the integer-valued ``e`` (see :func:`_integer_arithmetic`): integers as literals, each
    symbol as ``env[_kN]`` with ``names`` mapping the symbol to ``_kN`` (the name is bound to the symbol's key).
    With int values bound, every operation is on ints: a floor or ceiling of a rational x = n/d is computed as
    ``n // d`` (Python's floor division, exact for ints of any sign and size), see :func:`_rational_code`."""
    if e.is_Integer:
        return f"({int(e)})"
    if e.is_Symbol:
        name = names.setdefault(e, f"_k{len(names)}")
        return f"env[{name}]"
    if isinstance(e, sp.Pow):
        return f"({_python_code(e.base, names)} ** {int(e.exp)})"
    if isinstance(e, (sp.floor, sp.ceiling)):
        n, d = _rational_code(e.args[0], names)
        if d is None:
            return f"({n})"
        if isinstance(e, sp.floor):
            return f"(({n}) // ({d}))"      # d = 0 raises ZeroDivisionError: the general closures decide
        return f"(-((-({n})) // ({d})))"   # ⌈n/d⌉ = −⌊−n/d⌋
    parts = [_python_code(a, names) for a in e.args]
    if isinstance(e, (sp.Max, sp.Min)):
        return f"{'max' if isinstance(e, sp.Max) else 'min'}({', '.join(parts)})"
    if isinstance(e, sp.Abs):
        return f"abs({parts[0]})"
    if isinstance(e, sp.Mod):   # Python's int % rounds the quotient down, like the general Fraction %; % 0 raises
        return f"({parts[0]} % {parts[1]})"
    if isinstance(e, sp.KroneckerDelta):
        return f"(1 if {parts[0]} == {parts[1]} else 0)"
    if isinstance(e, InRange):   # lo, then x, then hi only when lo ≤ x: the general bracket's order
        x, lo, hi = parts
        return f"(1 if {lo} <= {x} <= {hi} else 0)"
    return "(" + (" + " if isinstance(e, sp.Add) else " * ").join(parts) + ")"


def _rational_code(e, names: dict) -> tuple:
    """(numerator, denominator) Python sources of a rational ``e`` (the argument of a floor or ceiling): with int
    values bound both evaluate to ints and e = numerator/denominator exactly; the denominator is None when it
    is 1. A denominator is 0 exactly when a division by 0 happened inside ``e`` (a product of nonzero ints is
    nonzero; a power takes its base's denominator only through ``_nonzero``, which raises on 0, so neither a
    negative exponent, which moves it to the numerator, nor an exponent 0 hides it), so a floor of it raises
    ZeroDivisionError, as the general closures raise on a division by zero (the compiled expression then gives
    way to them)."""
    if e.is_Integer or e.is_Symbol or not isinstance(e, (sp.Rational, sp.Add, sp.Mul, sp.Pow)):
        return _python_code(e, names), None
    if e.is_Rational:
        return f"({int(e.p)})", f"({int(e.q)})"
    if isinstance(e, sp.Pow):
        n, d = _rational_code(e.base, names)
        k = int(e.exp)
        if k >= 0:
            return f"({n} ** {k})", (None if d is None else f"(_nonzero({d}) ** {k})")
        return ("(1)" if d is None else f"(_nonzero({d}) ** {-k})"), f"({n} ** {-k})"
    parts = [_rational_code(a, names) for a in e.args]
    dens = [d for _, d in parts if d is not None]
    den = None if not dens else "(" + " * ".join(dens) + ")"
    if isinstance(e, sp.Mul):
        return "(" + " * ".join(n for n, _ in parts) + ")", den
    # a sum: Σ n_k/d_k = (Σ n_k · Π_{j≠k} d_j) / Π d_j
    terms = []
    for k, (n, d) in enumerate(parts):
        others = [d2 for j, (_, d2) in enumerate(parts) if j != k and d2 is not None]
        terms.append(n if not others else f"({n} * {' * '.join(others)})")
    return "(" + " + ".join(terms) + ")", den


def _arithmetic_source(code: str, names: list) -> str:
    """The source of ``arithmetic(env)``: ``code`` (from :func:`_python_code`) where every symbol it reads is bound
    to an ``int`` and its value is an ``int``, else the general closures (``_general``). The type tests are written
    out in the function, one per symbol in ``names`` (a generator under ``all()`` cost more than the arithmetic):
    a float, a Fraction or a polynomial that a floor division, a delta or a bracket would turn into an int, an
    unbound symbol (KeyError) or a division by zero all hand the expression to the general path (the alarm of a
    time limit is raised on, not taken for an arithmetic error)."""
    test = " and ".join(f"type(env[{n}]) is int" for n in names) or "True"
    return (f"def arithmetic(env):\n"
            f"    try:\n"
            f"        if {test}:\n"
            f"            v = {code}\n"
            f"            if type(v) is int:\n"
            f"                return v\n"
            f"    except _TimeLimitExceeded:\n"
            f"        raise\n"
            f"    except Exception:\n"
            f"        pass\n"
            f"    return _general(env)\n")


def _nonzero(d):
    """``d``, or ZeroDivisionError when it is 0 (a denominator that a negative power moves to a numerator)."""
    if d == 0:
        raise ZeroDivisionError("division by zero")
    return d


def _num(v):
    if isinstance(v, Fraction) and v.denominator == 1:
        return int(v)
    return v


class Evaluator:
    """Compiles SymPy index expressions and evaluates them exactly at concrete sizes.

    ``shapes`` gives the concrete shape of each declared tensor; ``definitions`` the defined
    tensors; ``leaf(name, index)`` the value of a declared tensor entry (by default a distinct
    symbolic atom, so results are polynomials in the entries). ``sizes`` (the size symbols) is the
    scope of a definition body besides its parameters; without it, the body sees everything the
    reader's environment holds except the variables of the sums being unrolled.
    """

    def __init__(self, shapes: dict[str, tuple[int, ...]], definitions: dict[str, Definition] | None = None,
                 leaf: Callable | None = None, delta_shortcut: bool = True, numeric: bool = False, sizes=None):
        self.shapes = shapes
        self.definitions = dict(definitions or {})
        self.leaf = leaf or (lambda name, idx: P.Poly.atom(("T", name, idx)))
        self.delta_shortcut = delta_shortcut
        self.numeric = numeric
        self.sizes = None if sizes is None else tuple(sizes)
        # Inside, an environment is keyed by a small int per symbol (:meth:`_key`), not by the SymPy symbol, whose
        # hash is computed by Python code at each of the millions of lookups; :meth:`compile` translates.
        self._keys: dict = {}
        self._size_keys = None if sizes is None else tuple(self._key(s) for s in self.sizes)
        self._loops: dict = {}   # variables of the sums being unrolled (hidden from bodies when sizes is None)
        self._cache: dict = {}
        self._public: dict = {}
        self._entries: dict = {}   # with sizes: per definition, its entries by (indices, sizes)
        self._atoms: dict | None = {} if leaf is None else None   # the default leaves, built once per entry
        self._defs_compiled: dict = {}

    # -- public ---------------------------------------------------------------------------
    def evaluate(self, expr: sp.Basic, env: dict):
        """Exact value of ``expr`` with the symbols in ``env`` (sizes and indices) bound to ints."""
        return self.compile(expr)(env)

    def compile(self, expr: sp.Basic):
        """``expr`` as a function of an environment keyed by SymPy symbols (compiled once per expression)."""
        fn = self._public.get(expr)
        if fn is None:
            inner, keys = self._fn(expr), self._keys

            def fn(env):
                # every symbol the compiled closures read was given its key while they were compiled; any other
                # entry keeps its symbol as key, which no closure looks up
                return inner({keys.get(k, k): v for k, v in env.items()})
            self._public[expr] = fn
        return fn

    def compile_keyed(self, expr: sp.Basic):
        """(``inner``, ``key``): ``expr`` compiled as a function of an environment keyed by ``key(symbol)`` (one int
        per symbol) instead of by symbols, so a caller that evaluates it at many assignments builds each environment
        directly rather than having :meth:`compile` translate every entry at every call. The same closures as
        :meth:`compile` (a symbol no closure reads merely gets a key of its own), so the same values."""
        return self._fn(expr), self._key

    def _key(self, s) -> int:
        """The key of symbol ``s`` in the environments of the compiled closures (one int per distinct symbol)."""
        k = self._keys.get(s)
        if k is None:
            k = self._keys[s] = len(self._keys)
        return k

    def _fn(self, expr: sp.Basic):
        """The compiled closure of ``expr``, over an environment keyed by :meth:`_key`."""
        fn = self._cache.get(expr)
        if fn is None:
            fn = self._compile(expr)
            self._cache[expr] = fn
        return fn

    # -- compilation ----------------------------------------------------------------------
    def _compile(self, e):
        if isinstance(e, (bool, BooleanTrue)) or e is sp.true:
            return lambda env: True
        if isinstance(e, BooleanFalse) or e is sp.false:
            return lambda env: False
        if e.is_Integer:
            v = int(e)
            return lambda env: v
        if e.is_Rational:
            v = Fraction(int(e.p), int(e.q))
            return lambda env: v
        if e.is_Float:   # the number the float is (its binary value), not the decimal it prints as
            v = _float_value(e)
            return lambda env: v
        if e.is_Symbol:
            return self._symbol(e)
        if isinstance(e, _ARITHMETIC_HEADS) and _integer_arithmetic(e):
            return self._arithmetic(e)
        if isinstance(e, sp.Indexed):
            return self._indexed(e)
        if isinstance(e, (sp.Add, sp.Mul, sp.Pow, sp.Mod, sp.KroneckerDelta, InRange, sp.floor, sp.ceiling)):
            return self._general(e)
        if isinstance(e, sp.Sum):
            return self._sum(e)
        if isinstance(e, sp.Piecewise):
            pieces = [(self._fn(v), self._fn(c)) for v, c in e.args]

            def piecewise(env):
                for v, c in pieces:
                    if c(env):
                        return v(env)
                raise IllFormedAccess(f"no branch of {e} applies")
            return piecewise
        if isinstance(e, sp.core.relational.Relational):
            return self._relational(e)
        if isinstance(e, (sp.And, sp.Or, sp.Not)):
            parts = [self._fn(a) for a in e.args]
            if isinstance(e, sp.And):
                return lambda env: all(p(env) for p in parts)
            if isinstance(e, sp.Or):
                return lambda env: any(p(env) for p in parts)
            return lambda env: not parts[0](env)
        if isinstance(e, sp.Tuple):
            parts = [self._fn(a) for a in e.args]
            return lambda env: tuple(p(env) for p in parts)
        if isinstance(e, sp.exp) and _turns(e.args[0]) is not None:
            return self._root_of_unity(e, *_turns(e.args[0]))
        if isinstance(e, sp.conjugate):
            return self._conjugate(e)
        if isinstance(e, (sp.Function, sp.Max, sp.Min)) or e.is_NumberSymbol:
            return self._function(e)
        raise IllFormedAccess(f"cannot evaluate expressions of type {type(e).__name__}: {e}")

    def _arithmetic(self, e):
        """Integer arithmetic on bound symbols (index expressions such as s·p + δ·u − P) as one Python expression
        (:func:`_python_code`); its value is used only when it is an ``int``, which is then exactly what the
        general closures compute (they also use Python's + and * on plain numbers). An unbound symbol, or any
        value that is not an int, falls back to the general closures, so the result never differs from theirs."""
        general = self._general(e)
        names: dict = {}
        try:
            code = _python_code(e, names)
            scope = {"__builtins__": {}, "max": max, "min": min, "abs": abs, "_nonzero": _nonzero, "int": int,
                     "type": type, "Exception": Exception, "_TimeLimitExceeded": TimeLimitExceeded,
                     "_general": general,
                     **{n: self._key(s) for s, n in names.items()}}   # its globals: each name bound to its symbol's key
            exec(_arithmetic_source(code, list(names.values())), scope)   # noqa: S102 (source built from e alone)
        except TimeLimitExceeded:
            raise
        except Exception:   # (a constant too long for Python source, say): the general closures alone
            return general
        return scope["arithmetic"]

    def _mod(self, e):
        a, b = (self._fn(x) for x in e.args)

        def mod(env):
            n, m = self._index_value(a(env), "argument of Mod"), self._index_value(b(env), "modulus of Mod")
            if m == 0:
                raise IllFormedAccess(f"{e}: remainder modulo 0")
            if type(n) is int and type(m) is int:
                return n % m   # Python's int % rounds the quotient down, as Fraction's % does
            return _num(Fraction(n) % Fraction(m))
        return mod

    def _general(self, e):
        """The closure :meth:`_compile` builds for ``e`` without the fast path."""
        if isinstance(e, sp.Add):
            return self._add(e)
        if isinstance(e, sp.Mul):
            return self._mul(e)
        if isinstance(e, sp.Pow):
            return self._pow(e)
        if isinstance(e, sp.Mod):
            return self._mod(e)
        if isinstance(e, sp.KroneckerDelta):
            return self._delta(e)
        if isinstance(e, InRange):
            return self._bracket(e)
        if isinstance(e, sp.floor):
            a = self._fn(e.args[0])
            return lambda env: math.floor(self._index_value(a(env), "floor argument"))
        if isinstance(e, sp.ceiling):
            a = self._fn(e.args[0])
            return lambda env: math.ceil(self._index_value(a(env), "ceiling argument"))
        return self._function(e)

    def _delta(self, e):
        if len(e.args) != 2:   # SymPy's δ(a, b, (lo, hi)) reads a range the checker does not take
            raise IllFormedAccess(f"{e} has {len(e.args)} arguments: the checker's δ(a, b) takes two")
        a, b = (self._fn(x) for x in e.args)
        index_value = self._index_value

        def delta(env):
            x = a(env)
            if isinstance(x, P.Poly):
                index_value(x, "delta argument")
            y = b(env)
            if isinstance(y, P.Poly):
                index_value(y, "delta argument")
            return 1 if x == y else 0
        return delta

    def _bracket(self, e):
        x, lo, hi = (self._fn(a) for a in e.args)
        index_value = self._index_value

        def bracket(env):   # lo ≤ x ≤ hi, evaluated in that order, hi only when lo ≤ x
            a = lo(env)
            if isinstance(a, P.Poly):
                index_value(a, "bracket bound")
            v = x(env)
            if isinstance(v, P.Poly):
                index_value(v, "bracket argument")
            if not a <= v:
                return 0
            b = hi(env)
            if isinstance(b, P.Poly):
                index_value(b, "bracket bound")
            return 1 if v <= b else 0
        return bracket

    def _root_of_unity(self, e, num, den):
        """e^{2πi·n/L} with integer n and L: an exact root of unity (a complex number when numeric)."""
        n, L = self._fn(num), self._fn(den)
        what_n, what_L = f"exponent of {e}", f"order of {e}"   # formatted once, not per evaluation

        def root(env):
            a, b = as_int(n(env), what_n), as_int(L(env), what_L)
            if b < 1:
                raise IllFormedAccess(f"{e}: the order {b} of a root of unity must be positive")
            return cmath.exp(2j * math.pi * a / b) if self.numeric else P.root_of_unity(a, b)
        return root

    def _conjugate(self, e):
        inner = self._fn(e.args[0])

        def conj(env):
            v = inner(env)
            if isinstance(v, complex):
                return v.conjugate()
            try:
                return P.conjugate(v)
            except ValueError as exc:
                raise IllFormedAccess(f"{e}: {exc}") from None
        return conj

    def _index_value(self, v, what):
        if isinstance(v, P.Poly):
            raise IllFormedAccess(f"{what} {_depends(v)}")
        return v

    def _symbol(self, s):
        atom = P.Poly.atom(("S", s.name, ()))
        k = self._key(s)

        def symbol(env):
            v = env.get(k, _MISSING)
            return atom if v is _MISSING else v
        return symbol

    def _indexed(self, e):
        name = str(e.base.label)
        idx_fns = [self._fn(i) for i in e.indices]
        if name in self.definitions:
            d = self.definitions[name]
            if len(d.params) != len(idx_fns):
                raise IllFormedAccess(f"{name} is defined with {len(d.params)} indices, read with {len(idx_fns)}")
            body = self._definition_body(name)
            params = tuple(self._key(p) for p in d.params)
            extent = [self._fn(n) for n in d.shape] if d.shape is not None else None
            # a definition with a shape is a tensor computed once per entry: its entries are memoised,
            # keyed by the indices and every other symbol its body reads (the sizes). With ``sizes`` the body's
            # scope is the sizes and its parameters only, so an entry is a function of (indices, sizes) alone,
            # whichever expression reads it: every definition's entries are then kept once for all its reads
            if self._size_keys is not None:
                memo = self._entries.setdefault(name, {})
            else:
                memo = {} if d.shape is not None else None
            plain = all(p.assumptions0 == INTEGER_ONLY for p in d.params)   # no assumption folded into the body
            labels = {r.base.label for r in d.body.atoms(sp.Indexed)}
            outer = [self._key(s) for s in sorted((s for s in d.body.free_symbols if isinstance(s, sp.Symbol)
                                                   and s not in d.params and s not in labels), key=str)]

            idx_what = [f"index {k} of {name}" for k in range(len(idx_fns))]
            ext_what = [f"extent {k} of the shape of {name}" for k in range(len(extent or ()))]
            sizes = self._size_keys
            contexts: dict = {}   # per assignment of the sizes: the body's scope and the concrete shape

            def context(env):
                """(scope, shape) of the body: with ``sizes``, a function of the sizes' values alone (kept)."""
                skey = None if sizes is None else tuple([env.get(s, _MISSING) for s in sizes])
                hit = contexts.get(skey) if skey is not None else None
                if hit is None:
                    scope = self._scope(env)
                    shape = (None if extent is None else
                             [as_int(n(dict(scope)), what) for n, what in zip(extent, ext_what)])
                    hit = (skey, scope, shape)
                    if skey is not None:
                        contexts[skey] = hit
                return hit

            def defined(env):
                # the common case first (every index an int, which as_int returns as it is); anything else, an
                # error included, again one index at a time through as_int, so the same index fails first
                try:
                    vals = [f(env) for f in idx_fns]
                    plain_ints = all(type(v) is int for v in vals)
                except TimeLimitExceeded:   # the alarm of a time limit is not an index's error
                    raise
                except Exception:
                    plain_ints = False
                if not plain_ints:
                    vals = [as_int(f(env), what) for f, what in zip(idx_fns, idx_what)]
                skey, scope, shape = context(env)
                if shape is not None:
                    if not all(0 <= v < n for v, n in zip(vals, shape)):
                        return self._outside(name, vals, shape, plain, lambda: evaluate_at(dict(scope), vals))
                if memo is not None:
                    key = (*vals, skey) if skey is not None else (*vals, *(scope.get(s, _MISSING) for s in outer))
                    hit = memo.get(key, _MISSING)
                    if hit is _MISSING:
                        hit = memo[key] = evaluate_at(dict(scope), vals)
                    return hit
                return evaluate_at(dict(scope), vals)

            def evaluate_at(scope, vals):
                scope.update(zip(params, vals))
                return body(scope)
            return defined
        if name not in self.shapes:
            raise IllFormedAccess(f"tensor {name!r} is neither declared nor defined")
        shape = self.shapes[name]
        if len(shape) != len(idx_fns):
            raise IllFormedAccess(f"{name} has {len(shape)} indices, read with {len(idx_fns)}: {e}")
        if self._atoms is None:
            leaf = self.leaf
        else:   # the default leaf: a distinct atom per entry, the same value at every read
            atoms = self._atoms

            def leaf(name, idx):
                hit = atoms.get((name, idx))
                if hit is None:
                    hit = atoms[(name, idx)] = self.leaf(name, idx)
                return hit

        def read(env):
            """A tensor entry; the common case (every index an int inside the shape) first, anything else by
            :func:`checked_read`, which evaluates the indices again one by one and says which is wrong."""
            try:
                idx = tuple([f(env) for f in idx_fns])
            except TimeLimitExceeded:   # the alarm of a time limit is not an index's error
                raise
            except Exception:   # raised again by checked_read, in its order (an earlier bad index first)
                return checked_read(env)
            for v, n in zip(idx, shape):
                if type(v) is not int or not 0 <= v < n:
                    return checked_read(env)
            return leaf(name, idx)

        def checked_read(env):
            idx = []
            for k, f in enumerate(idx_fns):
                v = f(env)
                if isinstance(v, P.Poly):
                    raise IllFormedAccess(f"index {k} of {name} {_depends(v)}")
                if not (isinstance(v, int) or (isinstance(v, Fraction) and v.denominator == 1)):
                    raise IllFormedAccess(f"read of {name}[{', '.join(map(str, idx + [v]))}...]: index {k} = {v} is not an integer")
                v = int(v)
                if not 0 <= v < shape[k]:
                    raise IllFormedAccess(f"read of {name}[{', '.join(map(str, idx + [v]))}...]: index {k} = {v} is outside [0, {shape[k]}) (shape {shape})")
                idx.append(v)
            return leaf(name, tuple(idx))
        return read

    def _scope(self, env) -> dict:
        """A definition body's environment: the sizes (lexical scope), never the reader's loop variables."""
        if self._size_keys is not None:
            return {k: env[k] for k in self._size_keys if k in env}
        return {k: v for k, v in env.items() if k not in self._loops}

    @staticmethod
    def _outside(name, vals, shape, plain, body):
        """A read outside a definition's declared shape: 0 where its body vanishes (zero padding, the convention of
        generated code, which masks such reads), else ill-formed."""
        k, v = next((k, v) for k, (v, n) in enumerate(zip(vals, shape)) if not 0 <= v < n)
        where = (f"read of {name}[{', '.join(map(str, vals))}]: index {k} = {v} is outside [0, {shape[k]}) "
                 f"(the declared shape of the definition {name} is {tuple(shape)})")
        if not plain:
            raise IllFormedAccess(f"{where}, and its parameters carry assumptions that hold only inside it")
        try:
            value = body()
        except IllFormedAccess as exc:
            raise IllFormedAccess(f"{where}, where its body is ill-formed: {exc}") from None
        if not P.is_zero(value):
            raise IllFormedAccess(f"{where}, where its body is not 0: a definition is read outside its shape only "
                                  "where it vanishes")
        return 0

    def _definition_body(self, name):
        fn = self._defs_compiled.get(name)
        if fn is None:
            # a placeholder first: a definition that reads itself then compiles (and fails when evaluated)
            self._defs_compiled[name] = lambda env: self._defs_compiled[name](env)
            fn = self._defs_compiled[name] = self._fn(self.definitions[name].body)
        return fn

    def _add(self, e):
        fns = [self._fn(a) for a in e.args]
        total = P.total

        def add(env):
            return total([f(env) for f in fns])
        return add

    @staticmethod
    def _cost(a) -> int:
        if isinstance(a, (sp.KroneckerDelta, InRange)):
            return 0
        if a.has(sp.Sum):
            return 3
        if a.has(sp.Indexed):
            return 2
        return 1

    def _mul(self, e):
        factors = sorted(e.args, key=self._cost)  # guards first, sums last (stable: deterministic)
        fns = [self._fn(a) for a in factors]

        Poly, pmul = P.Poly, P.mul

        def mul(env):   # P.is_zero and P.mul, written out for plain numbers (the common case: index arithmetic)
            acc = 1
            for f in fns:
                v = f(env)
                if isinstance(v, Poly):
                    acc = pmul(acc, v)
                elif v == 0:
                    return 0
                elif isinstance(acc, Poly):
                    acc = pmul(acc, v)
                else:
                    acc = acc * v
            return acc
        return mul

    def _pow(self, e):
        base, ex = self._fn(e.base), e.exp
        if ex.is_Integer:
            n = int(ex)

            def ipow(env):
                b = base(env)
                if P.is_number(b):
                    if b == 0 and n < 0:
                        raise IllFormedAccess(f"division by zero in {e}")
                    if type(b) is int and n >= 0:
                        return b ** n
                    return _num(Fraction(b) ** n)   # a negative power stays an exact Fraction
                if math.comb(len(b.terms) + abs(n) - 1, abs(n)) > MAX_POWER_TERMS:
                    raise IllFormedAccess(f"{e} would multiply out to more than {MAX_POWER_TERMS} terms "
                                          f"({len(b.terms)} terms to the power {abs(n)}): too large for an exact check")
                acc = 1
                for _ in range(abs(n)):
                    acc = P.mul(acc, b)
                return acc if n >= 0 else P.opaque("inv", _divisor(acc, f"{e} divides by"))
            return ipow
        exf = self._fn(ex)

        def gpow(env):
            b, x = base(env), exf(env)
            if P.is_number(b) and P.is_number(x):
                if self.numeric:
                    return float(b) ** float(x)
                r = sp.Pow(sp.Rational(b), sp.Rational(x))
                if r.has(sp.zoo, sp.oo, -sp.oo, sp.nan):   # 0 to a negative power: no value
                    raise IllFormedAccess(f"{e} is undefined at base {b}, exponent {x} (SymPy gives {r})")
                if r.is_Rational:
                    return _num(Fraction(int(r.p), int(r.q)))
                return P.number(r)
            if not (P.is_number(x) and x >= 0):   # (0 to a negative or unknown power has no value)
                _divisor(b, f"{e} has no value where its base is 0 (a negative or unknown power):")
            return P.opaque("pow", b, x)
        return gpow

    def _sum(self, e):
        # SymPy flattens Σ_b Σ_a f into Sum(f, (a, ..), (b, ..)): limits run innermost first,
        # and only the innermost summand is searched for a Kronecker delta.
        fn = self._fn(e.function)
        body = e.function
        for limit in e.limits:
            fn = self._sum_limit(body, fn, limit)
            body = None
        return self._memoised(e, fn)

    def _memoised(self, e, fn):
        """``fn`` remembering its value for each assignment of what the value can depend on: the free symbols
        of ``e``, and the sizes (the whole scope of a definition body) when ``e`` reads a definition; tensor
        reads depend only on their indices and on the shapes and leaves fixed at construction. A step rewrites
        part of an expression, so the next expression repeats most of its sums, and a sum free of an enclosing
        loop's variable (a softmax's normaliser) repeats at every iteration: compiled once per Evaluator
        (:meth:`compile` keys by the expression, SymPy's structural equality), such a sum is evaluated once per
        assignment. Without ``sizes`` a body's scope depends on which sums enclose the read: nothing is kept."""
        if self.sizes is None:
            return fn
        deps = {s for s in e.free_symbols if isinstance(s, sp.Symbol)}
        if any(str(r.base.label) in self.definitions for r in e.atoms(sp.Indexed)):
            deps |= set(self.sizes)   # a definition's body reads the sizes (its scope), whether e names them or not
        deps = tuple(self._key(s) for s in sorted(deps, key=str))
        memo: dict = {}

        def memoised(env):
            key = tuple([env.get(s, _MISSING) for s in deps])
            hit = memo.get(key, _MISSING)
            if hit is _MISSING:
                hit = memo[key] = fn(env)
            return hit
        return memoised

    def _sum_limit(self, body, fbody, limit):
        var, lo_e, hi_e = limit
        lo, hi = self._fn(lo_e), self._fn(hi_e)
        key = self._key(var)
        target = self._delta_target(body, var) if (self.delta_shortcut and body is not None) else None
        tfn = self._fn(target) if target is not None else None
        guards = self._leading_constants(body, var)

        lo_what, hi_what = f"lower bound of the sum over {var}", f"upper bound of the sum over {var}"
        add_all = P.total
        track = self.sizes is None   # the sums being unrolled matter to a body's scope only without sizes

        def total(env):
            a = lo(env)
            if type(a) is not int:   # as_int returns an int as it is: called only for anything else
                a = as_int(a, lo_what)
            b = hi(env)
            if type(b) is not int:
                b = as_int(b, hi_what)
            if b < a - 1:
                raise IllFormedAccess(f"the sum over {var} runs from {a} down to {b}: a sum runs over lo ≤ {var} ≤ hi, "
                                      f"hi = lo − 1 is the empty sum, and hi < lo − 1 is ill-formed ({var} from {lo_e} to {hi_e})")
            saved = env.get(key, _MISSING)
            loops = self._loops
            if track:
                loops[key] = loops.get(key, 0) + 1
            try:
                if tfn is not None:
                    t = tfn(env)
                    if isinstance(t, P.Poly):
                        raise IllFormedAccess(f"the delta target {target} {_depends(t)}")
                    if isinstance(t, Fraction) and t.denominator != 1:
                        return 0  # δ(v, t) = 0 for every integer v
                    t = int(t)
                    if not a <= t <= b:
                        return 0
                    env[key] = t
                    return fbody(env)
                if guards and a <= b:
                    # the first term's leading factors, free of the variable: a zero among them (in their order)
                    # makes every term 0, as the product's closure finds at each term, evaluated as it would be
                    env[key] = a
                    for g in guards:
                        x = g(env)
                        if x == 0 and not isinstance(x, P.Poly):
                            return 0
                # the terms' sum as P.total sums them: ints added as they come (P.total adds the numbers before the
                # first polynomial one by one from 0, so an int prefix may be added first), the rest by P.total
                acc = 0
                terms = iter(range(a, b + 1))
                for v in terms:
                    env[key] = v
                    x = fbody(env)
                    if type(x) is int:
                        acc += x
                        continue
                    values = [acc, x]
                    append = values.append
                    for v in terms:
                        env[key] = v
                        append(fbody(env))
                    return add_all(values)
                return acc
            finally:
                if track:
                    if loops[key] == 1:
                        del loops[key]
                    else:
                        loops[key] -= 1
                if saved is _MISSING:
                    env.pop(key, None)
                else:
                    env[key] = saved
        return total

    def _leading_constants(self, body, var) -> tuple:
        """The closures of the leading factors of the product ``body`` that are free of ``var``, in the order that
        :meth:`_mul` evaluates them (guards first): the longest such prefix, since a factor after one that reads
        ``var`` is reached only where that one is nonzero. () when ``body`` is not a product (or is None: an outer
        limit of a multiple sum, whose inner ranges may be empty). The value of the product is the same with
        ``var`` at any value: where one of these factors is 0 at the first term, the product's closure (:meth:`_mul`,
        or the integer arithmetic that equals it) is 0 at every term, and an error they raise is raised there first."""
        if not isinstance(body, sp.Mul):
            return ()
        out = []
        for f in sorted(body.args, key=self._cost):   # the order of _mul
            if var in f.free_symbols:
                break
            out.append(self._fn(f))
        return tuple(out)

    @staticmethod
    def _delta_target(body, var):
        factors = body.args if isinstance(body, sp.Mul) else (body,)
        for f in factors:
            if isinstance(f, sp.KroneckerDelta):
                a, b = f.args
                if a == var and var not in b.free_symbols:
                    return b
                if b == var and var not in a.free_symbols:
                    return a
        return None

    def _relational(self, e):
        lhs, rhs = self._fn(e.lhs), self._fn(e.rhs)
        op = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
              "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}[e.rel_op]

        def rel(env):
            a, b = lhs(env), rhs(env)
            if isinstance(a, P.Poly) or isinstance(b, P.Poly):
                raise IllFormedAccess(f"comparison {e} {_depends(a if isinstance(a, P.Poly) else b)}")
            return op(a, b)
        return rel

    def _function(self, e):
        fns = [self._fn(a) for a in e.args]
        cls = e.func
        if isinstance(e, AppliedUndef):   # uninterpreted: its own atom whatever its name ("exp", "inv"), no value
            undefined = P.undefined_name(cls.__name__)
            return lambda env: P.opaque(undefined, *[f(env) for f in fns])
        name = cls.__name__

        numbers: dict = {}   # SymPy's value at numeric arguments, by the arguments' types and values

        def function(env):
            vals = [f(env) for f in fns]
            if all(P.is_number(v) for v in vals):
                if name in ("Max", "Min"):
                    return (max if name == "Max" else min)(vals)
                if name == "Abs":
                    return abs(vals[0])
                # a pure function of the arguments (exactly: the key keeps 1/2 and 0.5 apart, which SymPy does
                # not take alike), asked of SymPy once per argument (e^ℓ of a softmax at every entry it weighs)
                key = tuple([(type(v), v) for v in vals])
                hit = numbers.get(key, _MISSING)
                if hit is _MISSING:
                    hit = numbers[key] = number(vals)
                return hit
            _refuse_pole(cls, name, vals)
            _refuse_outside_domain(e, name, vals)
            if name in _POLES and isinstance(vals[0], P.Poly):
                pole = _POLES[name]
                _divisor(P.opaque(pole, vals[0]) if pole else vals[0],
                         f"{e} has a pole where {f'{pole} of its argument' if pole else 'its argument'} is 0:")
            return P.opaque(name, *vals)

        def number(vals):
            r = _defined_value(cls, name, [sp.Rational(v) if not isinstance(v, float) else sp.Float(v)
                                           for v in vals], tuple(vals))
            if r.is_Rational:
                return _num(Fraction(int(r.p), int(r.q)))
            if self.numeric:
                return float(r)
            return P.number(r)
        return function


def ill_formed_reason(exc: BaseException) -> str:
    """Why an expression could not be evaluated: an :class:`IllFormedAccess`'s own words, or, for a
    RecursionError, that it nests without end (a definition that reads itself)."""
    if isinstance(exc, RecursionError):
        return "it nests without end (a definition that reads itself?)"
    return str(exc)


MAX_POWER_TERMS = 1_000_000   # monomials a power of a polynomial may have before the exact check refuses it


# partial functions of one argument: where they have no value (log at 0, tan where cos is 0 …), by the function of
# the argument that is 0 there (None: the argument itself)
_POLES = {"log": None, "tan": "cos", "sec": "cos", "cot": "sin", "csc": "sin", "coth": "sinh", "csch": "sinh",
          "sech": "cosh", "tanh": "cosh"}
# functions with a value at every complex argument, and those with one at every real argument (a pole or no order
# off the real line: atan at ±i, max of i and 0)
_ENTIRE = frozenset({"exp", "sin", "cos", "sinh", "cosh", "erf", "erfc", "Abs", "sign", "re", "im"})
_AT_REALS = frozenset({"Max", "Min", "Heaviside", "atan"})


def _refuse_outside_domain(e, name: str, vals):
    """IllFormedAccess where the function ``name`` of values the evaluator keeps symbolic (an entry, a number kept as an
    atom) may have no value: one of :data:`_AT_REALS` of a value not proved real (:func:`.signs.real`), or one with
    neither a value everywhere nor poles :data:`_POLES` checks (the Möbius function of an entry: defined at positive
    integers only). μ(M) + μ(1 − M), tanh(iπ/2·(2M − 1)) and Max(i·(sin²M + cos²M), 0), none with a value at any
    input, were PROVED equal to 0 (an adversarial pass, 2026-12-07)."""
    if name in _ENTIRE or name in _POLES:
        return
    if name not in _AT_REALS:
        raise IllFormedAccess(f"{e} is not proved defined: {name} of a value that reads the tensors' entries (or of a "
                              "number kept as an atom) may have no value, and the checker does not decide where")
    for v in vals[:1] if name == "Heaviside" else vals:   # (the step's second argument is its value at 0)
        if not real(v):
            raise IllFormedAccess(f"{e} is defined at real arguments only, and {P.to_sympy(v)} is not proved real")


_PROVED_NONZERO: dict = {}   # a divisor's key -> whether it is proved not 0 (a softmax's normaliser recurs)


def _divisor(v, what: str):
    """``v``, a value an expression divides by (or a partial function's argument, or the function of it that is 0 at
    a pole; ``what`` says which), where it is proved not 0 for every input (:func:`evosym.proof.magnitude.nonzero`:
    exactly, or by a float evaluation with an error bound); IllFormedAccess otherwise. A value that is 0 in disguise,
    sin²w + cos²w − 1 from two definitions with one body, made 1/d₁ − 1/d₂ an exact 0 (two equal atoms) and
    log d₁ − log d₂ likewise: an operator with no value for any input PROVED equal to y = x (an adversarial pass,
    2026-12-07). A value that is 0 at some inputs only (1/(x₀ − x₁)) is not refused: K is then a rational function
    of the entries. A value reading an indicator (entries 0 or 1) must be non-zero at one admissible input, every
    entry 1, the same for every divisor: 1/M and 1/(1 − M) are each non-zero at some input, never both, and
    1/(M(1 − M)) has no value (a sixth pass)."""
    key = (indicators(), P.key_of(v))
    proved = _PROVED_NONZERO.get(key)
    if proved is None:
        if len(_PROVED_NONZERO) >= 1 << 16:
            _PROVED_NONZERO.clear()
        proved = _PROVED_NONZERO[key] = nonzero(v, fills=("ones",))
    if not proved:
        raise IllFormedAccess(f"{what} {P.to_sympy(v)}, which is not proved non-zero: it may be 0 for every input "
                              "(where it holds numbers or functions whose relations the exact check does not see, a "
                              "float evaluation with an error bound must tell it from 0; where it reads an indicator, "
                              "it must be non-zero where every entry is 1)")
    return v


def _refuse_pole(cls, name: str, vals):
    """IllFormedAccess where a function of numbers kept as atoms (tan(π/2), log(π − π)) has no value: the atom
    would compare equal to itself on both sides of a step. Arguments that read tensor entries stay opaque."""
    if not all(P.is_number(v) or not any(a[0] in "TS" for m in v.terms for a in m) for v in vals):
        return
    args = [P.to_sympy(v) for v in vals]
    if any(a.free_symbols or a.has(sp.Indexed) for a in args):
        return
    _defined_value(cls, name, args, tuple(args))


def _defined_value(cls, name: str, args: list, shown: tuple):
    """SymPy's value of ``cls(*args)``; IllFormedAccess outside the function's domain (mobius(0), a number-theory
    function of a non-integer) and at a pole (log 0, tan π/2), which has no value, as a division by 0."""
    try:
        r = cls(*args)
    except (ValueError, TypeError, ZeroDivisionError, ArithmeticError) as exc:
        raise IllFormedAccess(f"{name}{shown} is undefined ({exc})") from None
    if r.has(sp.zoo, sp.oo, -sp.oo, sp.nan):
        raise IllFormedAccess(f"{name}{shown} is undefined (SymPy gives {r})")
    return r


def _float_value(e) -> Fraction:
    """A SymPy float's exact value, ±m·2^k from its binary digits (its decimal text, "0.1", is another number:
    1/10 is no binary float; SymPy's products of floats round, so reading them as decimals hides the rounding)."""
    sign, man, exp, bits = e._mpf_
    if man == 0 and (exp, bits) != (0, 0):   # mpmath's infinities and NaN
        raise IllFormedAccess(f"the float {e} is not a finite number")
    value = Fraction(man * (1 << exp)) if exp >= 0 else Fraction(man, 1 << -exp)
    return -value if sign else value


def _membership(condition):
    """An index set's condition compiled by the exact evaluator, for :meth:`IndexSet.points`."""
    return Evaluator({}).compile_keyed(condition)


use_condition_compiler(_membership)
