"""Neighbourhoods Ω(p): the input positions q that an output position p aggregates.

Three shapes cover the operators: a :class:`Window` (kernel, stride, dilation, padding per
axis, clipped to the input), :class:`Global` (every position) and :class:`IndexSet` (any
predicate on p and q). Each can enumerate Ω(p) at concrete sizes (for the bounded checks)
and describe itself in text and LaTeX (for proofs).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import sympy as sp


from ..errors import MatchError
from .looks import fresh
from .symbols import size_value as _int


@dataclass(frozen=True)
class WindowAxis:
    """One axis of a window: q = stride·p + dilation·u − padding, 0 ≤ u < kernel, 0 ≤ q < length.

    ``wrap``: the axis is a circle (circular padding): q = (stride·p + dilation·u − padding) mod length,
    nothing is clipped, and a window near the border continues on the other side.

    ``clamp``: the window is shifted to stay inside the input (NATTEN's neighbourhood): its start
    stride·p − padding is clamped into [0, length − span], span = dilation·(kernel − 1) + 1, so every
    output position sees all ``kernel`` taps (the input must be at least one span long).

    ``tiled``: fixed, non-overlapping windows (Swin): the input is cut into tiles of ``kernel``
    positions starting at ``padding`` (the shift), and p sees the tile that contains it, start
    kernel·⌊(p − padding)/kernel⌋ + padding; with ``wrap`` the tiles continue around the input (Swin's
    cyclic roll), which needs ``length`` to be a multiple of ``kernel``. Stride and dilation are 1."""

    kernel: sp.Expr
    stride: sp.Expr
    dilation: sp.Expr
    padding: sp.Expr
    length: sp.Expr
    wrap: bool = False
    clamp: bool = False
    tiled: bool = False

    def __post_init__(self):
        for name in ("kernel", "stride", "dilation", "padding", "length"):
            object.__setattr__(self, name, sp.sympify(getattr(self, name)))
        if self.wrap and self.clamp:
            raise ValueError("a window axis either wraps around or is clamped inside the input, not both")
        if self.tiled and (self.clamp or self.stride != 1 or self.dilation != 1):
            raise ValueError("a tiled window axis has stride and dilation 1 and is not clamped")

    def start(self, p) -> sp.Expr:
        """The window's first position: stride·p − padding, clamped into [0, length − span] when ``clamp``;
        the start of p's tile when ``tiled``."""
        if self.tiled:
            return self.kernel * sp.floor((p - self.padding) / self.kernel) + self.padding
        first = self.stride * p - self.padding
        if not self.clamp:
            return first
        return sp.Min(sp.Max(first, 0), self.length - self.dilation * (self.kernel - 1) - 1)

    def offset(self, p, u) -> sp.Expr:
        """The tap's position before any wrapping (outside the input where zero padding clips it)."""
        return self.start(p) + self.dilation * u

    def position(self, p, u) -> sp.Expr:
        """The input position tap u of output position p reads: the offset, wrapped on a circular axis."""
        return sp.Mod(self.offset(p, u), self.length) if self.wrap else self.offset(p, u)


class Neighbourhood:
    """Base class: Ω(p) as a set of input positions."""

    kind = "neighbourhood"

    def points(self, p: tuple[int, ...], env: dict) -> frozenset[tuple[int, ...]]:
        raise NotImplementedError

    def lengths(self) -> tuple[sp.Expr, ...]:
        raise NotImplementedError

    def size_bound(self) -> sp.Expr:
        """An upper bound on |Ω(p)| as a formula in the sizes."""
        raise NotImplementedError

    def describe(self, show=sp.sstr) -> str:
        """One line for proofs; ``show`` writes any expression it contains."""
        raise NotImplementedError

    def text(self, p, printer) -> str:
        raise NotImplementedError

    def latex(self, p, printer) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Window(Neighbourhood):
    """A (possibly strided, dilated, padded) window, clipped to the input (zero-padding semantics) or,
    on a wrapping axis, continued on the other side (circular padding)."""

    axes: tuple[WindowAxis, ...]
    kind = "window"

    def lengths(self):
        return tuple(a.length for a in self.axes)

    def points(self, p, env):
        per_axis = []
        for axis, pd in zip(self.axes, p):
            k, s, d, pad, length = (_int(getattr(axis, f), env) for f in ("kernel", "stride", "dilation", "padding", "length"))
            first = s * pd - pad
            if axis.tiled:
                first = k * ((pd - pad) // k) + pad
            if axis.clamp:
                first = min(max(first, 0), length - d * (k - 1) - 1)
            taps = {first + d * u for u in range(k)}
            per_axis.append(sorted({t % length for t in taps} if axis.wrap else taps & set(range(length))))
        return frozenset(itertools.product(*per_axis))

    def size_bound(self):
        return sp.Mul(*[a.kernel for a in self.axes])

    def describe(self, show=sp.sstr):
        if all(a.kernel == 1 for a in self.axes):
            return "pointwise: one input position per output position, when it lies in the input"
        ks = "×".join(f"({show(a.kernel)})" if isinstance(a.kernel, sp.Add) else show(a.kernel) for a in self.axes)
        if any(a.tiled for a in self.axes):
            return f"fixed {ks} windows (non-overlapping tiles, shifted by the padding" + (
                ", wrapping around the input)" if any(a.wrap for a in self.axes) else ")")
        if any(a.clamp for a in self.axes):
            return f"window {ks} (stride, dilation), its start clamped so that it stays inside the input"
        if any(a.wrap for a in self.axes):
            return f"window {ks} (stride, dilation, padding), wrapping around the input (circular)"
        return f"window {ks} (stride, dilation, padding), clipped to the input"

    def text(self, p, printer):
        return self._render(p, printer, "{%s : %s} ∩ %s", "0 ≤ %s ≤ %s", " × ", "[0, %s)", "{%s} ∩ %s")

    def _offsets(self, p=()):
        """The offsets a printed Ω(p) runs over (u, or u_1 … u_d), primed until they look like none of the names
        the line shows beside them (a stride named u printed {i·u + u : 0 ≤ u ≤ K − 1})."""
        taken = {s for a in self.axes for e in (a.kernel, a.stride, a.dilation, a.padding, a.length)
                 for s in sp.sympify(e).free_symbols} | {s for e in p for s in sp.sympify(e).free_symbols}
        names = ["u_%d" % (k + 1) for k in range(len(self.axes))] if len(self.axes) > 1 else ["u"]
        return tuple(sp.Symbol(fresh(n, taken), integer=True) for n in names)

    def latex(self, p, printer):
        return self._render(p, printer, r"\left\{ %s : %s \right\} \cap %s", r"0 \le %s \le %s", r" \times ",
                            r"[0, %s)", r"\left\{ %s \right\} \cap %s")

    def _render(self, p, printer, fmt_set, fmt_cond, times, fmt_box, fmt_point):
        """Ω(p) in a notation given by format strings; axes of kernel size 1 contribute no offset."""
        us = self._offsets(p)
        pts, conds = [], []
        for a, pd, u in zip(self.axes, p, us):
            if a.kernel == 1:
                pts.append(printer._print(a.position(pd, 0)))
            else:
                pts.append(printer._print(a.position(pd, u)))
                conds.append(fmt_cond % (printer._print(u), printer._print(a.kernel - 1)))
        box = times.join(fmt_box % printer._print(a.length) for a in self.axes)
        point = ", ".join(pts) if len(pts) == 1 else "(%s)" % ", ".join(pts)
        if not conds:
            return fmt_point % (point, box)
        return fmt_set % (point, ", ".join(conds), box)


@dataclass(frozen=True)
class Global(Neighbourhood):
    """Every input position: Ω(p) = [0, L₁) × … × [0, L_d)."""

    input_lengths: tuple[sp.Expr, ...]
    kind = "global"

    def lengths(self):
        return tuple(sp.sympify(x) for x in self.input_lengths)

    def points(self, p, env):
        return frozenset(itertools.product(*[range(_int(L, env)) for L in self.input_lengths]))

    def size_bound(self):
        return sp.Mul(*self.lengths())

    def describe(self, show=sp.sstr):
        return "global: every input position"

    def text(self, p, printer):
        return " × ".join("[0, %s)" % printer._print(L) for L in self.lengths())

    def latex(self, p, printer):
        return r" \times ".join(r"[0, %s)" % printer._print(L) for L in self.lengths())


@dataclass(frozen=True)
class IndexSet(Neighbourhood):
    """Ω(p) = {q in the input box : condition(p, q)} for a SymPy boolean condition."""

    p_symbols: tuple[sp.Symbol, ...]
    q_symbols: tuple[sp.Symbol, ...]
    condition: sp.Basic
    input_lengths: tuple[sp.Expr, ...]
    bound: sp.Expr | None = None
    kind = "set"

    def lengths(self):
        return tuple(sp.sympify(x) for x in self.input_lengths)

    def points(self, p, env):
        """The q in the input box where the condition holds at p. Each q is decided by the condition compiled once
        (:func:`_compiled_condition`, exact) where that gives a Python bool, else by SymPy as before: the condition
        with every symbol replaced, made a bool (which raises where it stays symbolic)."""
        condition = sp.sympify(self.condition)
        compiled = _compiled_condition(condition)
        if compiled is not None:
            fn, key = compiled
            keyed = {key(s): v for s, v in env.items()}
            keyed.update(zip(map(key, self.p_symbols), p))
            qkeys = [key(s) for s in self.q_symbols]
        out = []
        for q in itertools.product(*[range(_int(L, env)) for L in self.input_lengths]):
            holds = None
            if compiled is not None:
                local = dict(keyed)
                local.update(zip(qkeys, q))
                holds = _decided(fn, local)
            if holds is None:
                sub = dict(env)
                sub.update(zip(self.p_symbols, map(sp.Integer, p)))
                sub.update(zip(self.q_symbols, map(sp.Integer, q)))
                decided = condition.xreplace(sub)
                if decided not in (sp.true, sp.false):   # (it reads a tensor: a neighbourhood of sizes and indices only)
                    raise MatchError(f"Ω's condition {condition} is not decided by the sizes and indices at {sub}: it "
                                     f"leaves {decided}; a neighbourhood may not depend on a tensor's values")
                holds = decided == sp.true
            if holds:
                out.append(q)
        return frozenset(out)

    def size_bound(self):
        return self.bound if self.bound is not None else sp.Mul(*self.lengths())

    def describe(self, show=sp.sstr):
        return f"index set {{q : {show(sp.sympify(self.condition))}}}"

    def text(self, p, printer):
        sub = dict(zip(self.p_symbols, p))
        q = ", ".join(printer._print(s) for s in self.q_symbols)
        return "{(%s) : %s}" % (q, printer._print(sp.sympify(self.condition).xreplace(sub)))

    def latex(self, p, printer):
        sub = dict(zip(self.p_symbols, p))
        q = ", ".join(printer._print(s) for s in self.q_symbols)
        return r"\left\{ (%s) : %s \right\}" % (q, printer._print(sp.sympify(self.condition).xreplace(sub)))


# An IndexSet's condition compiled by the bounded checks' exact evaluator, once per condition (SymPy's structural
# equality: equal conditions are the same expression). Only conditions built from integers, symbols, +, ×, integer
# powers, Mod, ⌊·⌋, ⌈·⌉, |·|, Max, Min, comparisons, And, Or and Not are compiled (no Float, whose SymPy comparison
# is not a comparison of exact values, and no tensor read or other function): with int bindings their values are
# exact ints and Fractions compared exactly, as SymPy compares its Integers and Rationals.
_CONDITIONS: dict = {}
_CONDITIONS_KEPT = 1 << 10
_ARITHMETIC_HEADS = (sp.Add, sp.Mul, sp.Mod, sp.floor, sp.ceiling, sp.Abs, sp.Max, sp.Min)


def _exact_logic(e) -> bool:
    """``e`` is true, false, or And, Or, Not of such and of comparisons of :func:`_exact_arithmetic` expressions
    (a symbol is never a truth value here)."""
    if e is sp.true or e is sp.false:
        return True
    if isinstance(e, (sp.And, sp.Or, sp.Not)):
        return all(_exact_logic(a) for a in e.args)
    if isinstance(e, sp.core.relational.Relational):
        return _exact_arithmetic(e.lhs) and _exact_arithmetic(e.rhs)
    return False


def _exact_arithmetic(e) -> bool:
    """``e`` is built from integers, rationals and symbols by +, ×, integer powers, Mod, ⌊·⌋, ⌈·⌉, |·|, Max, Min."""
    if e.is_Symbol or e.is_Rational:   # (an Integer is a Rational)
        return True
    if isinstance(e, sp.Pow):
        return e.exp.is_Integer and _exact_arithmetic(e.base)
    return isinstance(e, _ARITHMETIC_HEADS) and all(_exact_arithmetic(a) for a in e.args)


_COMPILERS: list = []


def use_condition_compiler(compile_keyed) -> None:
    """Decide set membership with ``compile_keyed(condition) -> (fn, key)`` (the proof layer's exact evaluator
    registers itself here: ir sits below proof and never imports it). Without one, SymPy decides every point."""
    _COMPILERS[:] = [compile_keyed]
    _CONDITIONS.clear()   # conditions cached as "SymPy decides" before


def _compiled_condition(condition):
    """(fn, key) of :meth:`Evaluator.compile_keyed` for ``condition``, or None when it is not plain exact arithmetic
    and logic (then SymPy decides every point)."""
    hit = _CONDITIONS.get(condition, _MISSING)
    if hit is _MISSING:
        hit = None
        if _exact_logic(condition) and _COMPILERS:
            from ..errors import TimeLimitExceeded
            try:
                hit = _COMPILERS[0](condition)
            except TimeLimitExceeded:
                raise
            except Exception:   # not compilable: SymPy decides
                hit = None
        if len(_CONDITIONS) >= _CONDITIONS_KEPT:
            _CONDITIONS.clear()
        _CONDITIONS[condition] = hit
    return hit


def _decided(fn, env):
    """The compiled condition's value at ``env`` when it is a Python bool (a comparison of exact numbers), else
    None: a symbol left unbound, a value that is not a number, or any error leaves the point to SymPy."""
    from ..errors import TimeLimitExceeded
    try:
        v = fn(env)
    except TimeLimitExceeded:
        raise
    except Exception:
        return None
    return v if type(v) is bool else None


_MISSING = object()
