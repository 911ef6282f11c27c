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

Exact and fast (tests/test_fast_eval.py compares each with the plain path): coefficients are ints unless a
division leaves a Fraction (:mod:`.poly`); a sum's terms are collected in one dict; integer index arithmetic
(s·p + δ·u − P, Max, Min, Mod) runs as one Python expression whose value counts only when it is an int; and a
sum's value is remembered per assignment of its free symbols (and the sizes), so the sums a step leaves alone
are not evaluated again for the next expression.

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
from sympy.logic.boolalg import BooleanFalse, BooleanTrue

from ..errors import IllFormedAccess
from ..ir.symbols import InRange, turns
from ..ir.tensors import Definition
from . import poly as P

_MISSING = object()
_INTEGER = sp.Symbol("_", integer=True).assumptions0


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


def _integer_arithmetic(e) -> bool:
    """``e`` is built from integers and symbols by +, ×, Max, Min, Mod and powers with a constant exponent ≥ 0
    (and is small)."""
    stack, seen = [e], 0
    while stack:
        x = stack.pop()
        seen += 1
        if seen > _ARITHMETIC_ATOMS:
            return False
        if x.is_Integer or x.is_Symbol:
            continue
        if isinstance(x, (sp.Add, sp.Mul, sp.Max, sp.Min, sp.Mod)):
            stack.extend(x.args)
        elif isinstance(x, sp.Pow) and x.exp.is_Integer and x.exp >= 0:
            stack.append(x.base)
        else:
            return False
    return True


def _python_code(e, names: dict) -> str:
    """Python source for ``e`` (see :func:`_integer_arithmetic`): integers as literals, each symbol as
    ``env[_kN]`` with ``names`` mapping the symbol to ``_kN`` (the name is bound to the symbol itself)."""
    if e.is_Integer:
        return f"({int(e)})"
    if e.is_Symbol:
        name = names.setdefault(e, f"_k{len(names)}")
        return f"env[{name}]"
    if isinstance(e, sp.Pow):
        return f"({_python_code(e.base, names)} ** {int(e.exp)})"
    parts = [_python_code(a, names) for a in e.args]
    if isinstance(e, (sp.Max, sp.Min)):
        return f"{'max' if isinstance(e, sp.Max) else 'min'}({', '.join(parts)})"
    if isinstance(e, sp.Mod):   # Python's int % rounds the quotient down, like the general Fraction %; % 0 raises
        return f"({parts[0]} % {parts[1]})"
    return "(" + (" + " if isinstance(e, sp.Add) else " * ").join(parts) + ")"


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
        self._loops: dict = {}   # variables of the sums being unrolled (hidden from bodies when sizes is None)
        self._cache: dict = {}
        self._defs_compiled: dict = {}

    # -- public ---------------------------------------------------------------------------
    def evaluate(self, expr: sp.Basic, env: dict):
        """Exact value of ``expr`` with the symbols in ``env`` (sizes and indices) bound to ints."""
        return self.compile(expr)(dict(env))

    def compile(self, expr: sp.Basic):
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
        if e.is_Float:
            v = Fraction(str(e))
            return lambda env: v
        if e.is_Symbol:
            return self._symbol(e)
        if isinstance(e, (sp.Add, sp.Mul, sp.Pow, sp.Max, sp.Min, sp.Mod)) and _integer_arithmetic(e):
            return self._arithmetic(e)
        if isinstance(e, sp.Indexed):
            return self._indexed(e)
        if isinstance(e, (sp.Add, sp.Mul, sp.Pow, sp.Mod)):
            return self._general(e)
        if isinstance(e, sp.Sum):
            return self._sum(e)
        if isinstance(e, sp.KroneckerDelta):
            a, b = (self.compile(x) for x in e.args)
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
        if isinstance(e, InRange):
            x, lo, hi = (self.compile(a) for a in e.args)
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
        if isinstance(e, sp.floor):
            a = self.compile(e.args[0])
            return lambda env: math.floor(self._index_value(a(env), "floor argument"))
        if isinstance(e, sp.ceiling):
            a = self.compile(e.args[0])
            return lambda env: math.ceil(self._index_value(a(env), "ceiling argument"))
        if isinstance(e, sp.Piecewise):
            pieces = [(self.compile(v), self.compile(c)) for v, c in e.args]

            def piecewise(env):
                for v, c in pieces:
                    if c(env):
                        return v(env)
                raise IllFormedAccess(f"no branch of {e} applies")
            return piecewise
        if isinstance(e, sp.core.relational.Relational):
            return self._relational(e)
        if isinstance(e, (sp.And, sp.Or, sp.Not)):
            parts = [self.compile(a) for a in e.args]
            if isinstance(e, sp.And):
                return lambda env: all(p(env) for p in parts)
            if isinstance(e, sp.Or):
                return lambda env: any(p(env) for p in parts)
            return lambda env: not parts[0](env)
        if isinstance(e, sp.Tuple):
            parts = [self.compile(a) for a in e.args]
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
        code = _python_code(e, names)
        scope = {"__builtins__": {}, "max": max, "min": min, **{n: s for s, n in names.items()}}   # its globals
        fast = eval(f"lambda env: {code}", scope)   # noqa: S307 (source built by _python_code from e alone)

        def arithmetic(env):
            try:
                v = fast(env)
            except Exception:   # an unbound symbol (KeyError), a value Python cannot combine: the general path
                return general(env)
            return v if type(v) is int else general(env)
        return arithmetic

    def _mod(self, e):
        a, b = (self.compile(x) for x in e.args)

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
        return self._function(e)

    def _root_of_unity(self, e, num, den):
        """e^{2πi·n/L} with integer n and L: an exact root of unity (a complex number when numeric)."""
        n, L = self.compile(num), self.compile(den)
        what_n, what_L = f"exponent of {e}", f"order of {e}"   # formatted once, not per evaluation

        def root(env):
            a, b = as_int(n(env), what_n), as_int(L(env), what_L)
            if b < 1:
                raise IllFormedAccess(f"{e}: the order {b} of a root of unity must be positive")
            return cmath.exp(2j * math.pi * a / b) if self.numeric else P.root_of_unity(a, b)
        return root

    def _conjugate(self, e):
        inner = self.compile(e.args[0])

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

        def symbol(env):
            v = env.get(s, _MISSING)
            return atom if v is _MISSING else v
        return symbol

    def _indexed(self, e):
        name = str(e.base.label)
        idx_fns = [self.compile(i) for i in e.indices]
        if name in self.definitions:
            d = self.definitions[name]
            if len(d.params) != len(idx_fns):
                raise IllFormedAccess(f"{name} is defined with {len(d.params)} indices, read with {len(idx_fns)}")
            body = self._definition_body(name)
            params = d.params
            extent = [self.compile(n) for n in d.shape] if d.shape is not None else None
            # a definition with a shape is a tensor computed once per entry: its entries are memoised,
            # keyed by the indices and every other symbol its body reads (the sizes)
            memo = {} if d.shape is not None else None
            plain = all(p.assumptions0 == _INTEGER for p in params)   # no assumption folded into the body
            outer = sorted((s for s in d.body.free_symbols if isinstance(s, sp.Symbol) and s not in params
                            and s not in {r.base.label for r in d.body.atoms(sp.Indexed)}), key=str)

            idx_what = [f"index {k} of {name}" for k in range(len(idx_fns))]
            ext_what = [f"extent {k} of the shape of {name}" for k in range(len(extent or ()))]
            sizes = self.sizes
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
        leaf = self.leaf

        def read(env):
            """A tensor entry; the common case (every index an int inside the shape) first, anything else by
            :func:`checked_read`, which evaluates the indices again one by one and says which is wrong."""
            try:
                idx = tuple([f(env) for f in idx_fns])
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
        if self.sizes is not None:
            return {s: env[s] for s in self.sizes if s in env}
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
            fn = self._defs_compiled[name] = self.compile(self.definitions[name].body)
        return fn

    def _add(self, e):
        fns = [self.compile(a) for a in e.args]
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
        fns = [self.compile(a) for a in factors]

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
        base, ex = self.compile(e.base), e.exp
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
                acc = 1
                for _ in range(abs(n)):
                    acc = P.mul(acc, b)
                return acc if n >= 0 else P.opaque("inv", acc)
            return ipow
        exf = self.compile(ex)

        def gpow(env):
            b, x = base(env), exf(env)
            if P.is_number(b) and P.is_number(x):
                if self.numeric:
                    return float(b) ** float(x)
                r = sp.Pow(sp.Rational(b), sp.Rational(x))
                if r.is_Rational:
                    return _num(Fraction(int(r.p), int(r.q)))
                return P.Poly.atom(("N", sp.srepr(r), ()))
            return P.opaque("pow", b, x)
        return gpow

    def _sum(self, e):
        # SymPy flattens Σ_b Σ_a f into Sum(f, (a, ..), (b, ..)): limits run innermost first,
        # and only the innermost summand is searched for a Kronecker delta.
        fn = self.compile(e.function)
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
        deps = tuple(sorted(deps, key=str))
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
        lo, hi = self.compile(lo_e), self.compile(hi_e)
        target = self._delta_target(body, var) if (self.delta_shortcut and body is not None) else None
        tfn = self.compile(target) if target is not None else None

        lo_what, hi_what = f"lower bound of the sum over {var}", f"upper bound of the sum over {var}"
        add_all = P.total
        track = self.sizes is None   # the sums being unrolled matter to a body's scope only without sizes

        def total(env):
            a = as_int(lo(env), lo_what)
            b = as_int(hi(env), hi_what)
            if b < a - 1:
                raise IllFormedAccess(f"the sum over {var} runs from {a} down to {b}: a sum runs over lo ≤ {var} ≤ hi, "
                                      f"hi = lo − 1 is the empty sum, and hi < lo − 1 is ill-formed ({var} from {lo_e} to {hi_e})")
            saved = env.get(var, _MISSING)
            loops = self._loops
            if track:
                loops[var] = loops.get(var, 0) + 1
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
                    env[var] = t
                    return fbody(env)
                values = []
                for v in range(a, b + 1):
                    env[var] = v
                    values.append(fbody(env))
                return add_all(values)
            finally:
                if track:
                    if loops[var] == 1:
                        del loops[var]
                    else:
                        loops[var] -= 1
                if saved is _MISSING:
                    env.pop(var, None)
                else:
                    env[var] = saved
        return total

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
        lhs, rhs = self.compile(e.lhs), self.compile(e.rhs)
        op = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
              "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}[e.rel_op]

        def rel(env):
            a, b = lhs(env), rhs(env)
            if isinstance(a, P.Poly) or isinstance(b, P.Poly):
                raise IllFormedAccess(f"comparison {e} {_depends(a if isinstance(a, P.Poly) else b)}")
            return op(a, b)
        return rel

    def _function(self, e):
        fns = [self.compile(a) for a in e.args]
        cls = e.func
        name = cls.__name__

        def function(env):
            vals = [f(env) for f in fns]
            if all(P.is_number(v) for v in vals):
                if name in ("Max", "Min"):
                    return (max if name == "Max" else min)(vals)
                if name == "Abs":
                    return abs(vals[0])
                r = cls(*[sp.Rational(v) if not isinstance(v, float) else sp.Float(v) for v in vals])
                if r.is_Rational:
                    return _num(Fraction(int(r.p), int(r.q)))
                if self.numeric:
                    return float(r)
                return P.Poly.atom(("N", sp.srepr(r), ()))
            return P.opaque(name, *vals)
        return function
