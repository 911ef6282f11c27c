"""What an expression reads, looking through every definition it uses: the basis of the policies that
must not be fooled by a renaming (the kernel must not read the value at the aggregated channel; a limit
operator must not read the sharpness).

A read of a defined tensor ``z[a]`` with ``z[i] := e(i)`` is replaced by ``e(a)``, recursively, so a
check sees the declared tensors actually read and at which indices. The substitution avoids capture:
the sums inside a definition's body get fresh bound variables before its parameters are replaced, so
``z[c]`` with ``z[c'] := Σ_c x[c]·w[c, c']`` does not become a read of ``x`` at the caller's ``c``. A sum
whose summand carries ``δ(t, e)`` (``e`` free of ``t``) reads only at ``t = e``, and is analysed so:
``Σ_t δ(t, c)·x[b, t, q]`` reads ``x[b, c, q]``. Likewise, for the free symbols a caller names as
*pinned*, a product ``δ(c, e)·f(c)`` is read as ``δ(c, e)·f(e)`` (the same value).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import sympy as sp

from .symbols import InRange
from .tensors import Definition


@dataclass(frozen=True)
class Read:
    """A read of a declared tensor (or a free symbol) found inside an expression.

    ``read`` is the read with the definitions' parameters substituted; ``path`` the definitions it
    was found through, outermost first; ``bound`` the variables bound by sums around it (fresh
    variables of inlined bodies never coincide with the caller's symbols); ``pins`` the pairs (s, e) of
    pinned symbols s that a factor δ(s, e) around the read sets to e (the read is 0 elsewhere)."""

    read: sp.Basic
    path: tuple[str, ...]
    bound: frozenset
    pins: frozenset = frozenset()
    spans: tuple = ()   # (v, the symbols v's range and selectors read, through those of the sums around it) per sum

    def mentions(self, symbol: sp.Symbol) -> bool:
        """Whether the read's indices depend on ``symbol`` free (not bound by a sum around the read): they mention
        it, or a variable of a sum around the read whose range or selectors do (Σ_{d=c}^{c} x[d] and
        Σ_d δ(Mod(d − c, C), 0)·x[d] read x at c)."""
        if symbol in self.bound:
            return False
        free = self.read.free_symbols
        if symbol in free:
            return True
        spans = dict(self.spans)
        return any(symbol in spans.get(v, ()) for v in free)

    def via(self) -> str:
        """"directly" or "through z, w" (the definitions the read was found in)."""
        return "directly" if not self.path else "through " + " → ".join(self.path)


def fresh_binders(expr: sp.Basic) -> sp.Basic:
    """``expr`` with the variable of every sum renamed to a fresh one (the sums' meaning is unchanged)."""
    if isinstance(expr, sp.Sum):
        rename = {l[0]: sp.Dummy(str(l[0]), integer=True) for l in expr.limits}
        body = fresh_binders(expr.function).xreplace(rename)
        limits = [(rename[v], fresh_binders(lo).xreplace(rename), fresh_binders(hi).xreplace(rename))
                  for v, lo, hi in expr.limits]
        return sp.Sum(body, *limits)
    if not expr.args or isinstance(expr, (sp.Symbol, sp.Number)):
        return expr
    args = tuple(fresh_binders(a) for a in expr.args)
    return expr if args == expr.args else expr.func(*args)


def instantiate(d: Definition, args) -> sp.Expr:
    """``d``'s body at ``args`` without capture: its sums get fresh variables first."""
    return fresh_binders(d.body).xreplace(dict(zip(d.params, args)))


def delta_pin(factor, var):
    """e when ``factor`` is δ(var, e) or δ(e, var) with e free of var (the factor pins var to e), else None."""
    if isinstance(factor, sp.KroneckerDelta):
        a, b = factor.args
        if a == var and not b.has(var):
            return b
        if b == var and not a.has(var):
            return a
    return None


def selection_pin(factor, var):
    """e when ``factor`` vanishes unless var = e, with e free of var, else None: :func:`delta_pin`'s δ(var, e),
    δ(a, b) with a − b = ±(var − e), a bracket [e ≤ var ≤ e], or Piecewise((f, Eq(a, b)), (0, True)). These
    are the ways to select one value of a variable; a scan of reads that saw only δ(var, e) could be fooled."""
    if isinstance(factor, sp.KroneckerDelta):
        return _solve(factor.args[0] - factor.args[1], var)
    if isinstance(factor, InRange) and sp.expand(factor.args[1] - factor.args[2]) == 0:
        return _solve(factor.args[0] - factor.args[1], var)
    if (isinstance(factor, sp.Piecewise) and len(factor.args) == 2 and factor.args[1].cond == sp.true
            and factor.args[1].expr == 0 and isinstance(factor.args[0].cond, sp.Eq)):
        cond = factor.args[0].cond
        return _solve(cond.lhs - cond.rhs, var)
    return None


def _solve(difference, var):
    """e when ``difference`` = k·(var − e) for a nonzero integer k, with e free of var (δ(2d, 2c) selects d = c),
    else None."""
    d = sp.expand(difference)
    k = d.coeff(var)
    rest = sp.expand(d - k * var)
    if not (k.is_Integer and k != 0) or rest.has(var):
        return None
    return sp.expand(-rest / k)


def reads(expr: sp.Basic, definitions: dict[str, Definition], pinned=()) -> Iterator[Read]:
    """Every read of a declared tensor and every free symbol in ``expr``, definitions inlined recursively.

    For a symbol ``s`` in ``pinned``, a product with a factor δ(s, e) (e free of s) is read with s = e in
    its other factors: it vanishes elsewhere. A definition that reads itself (directly or through
    others) raises ``ValueError``."""
    yield from _walk(sp.sympify(expr), definitions, (), frozenset(), tuple(pinned))


def _first_pin(factors, var):
    """(the factor δ(var, e), e) for the first such factor, or None."""
    return next(((f, t) for f, t in ((f, selection_pin(f, var)) for f in factors) if t is not None), None)


def _is_read(factor, defs) -> bool:
    """Whether a factor of a summand is a read of a declared tensor (what the sum aggregates), not a selector of its
    variable (a delta, a bracket, a Mod, a Piecewise, a function, a defined tensor): a selector that mentions c makes
    the variable's reads depend on c (Σ_d δ(2d, 2c)·x[d] and Σ_d [c ≤ d ≤ C − 1]·[0 ≤ d ≤ c]·x[d] read x at c)."""
    return isinstance(factor, sp.Indexed) and str(factor.base.label) not in defs


def _walk(e, defs, path, bound, pinned=(), pins=frozenset(), spans=()) -> Iterator[Read]:
    if pinned and isinstance(e, sp.Mul):
        for s in pinned:
            hit = None if s in bound else _first_pin(e.args, s)
            if hit is not None:       # δ(s, t)·f(s) = δ(s, t)·f(t)
                f, t = hit
                e = sp.Mul(f, *[g.xreplace({s: t}) for g in e.args if g is not f], evaluate=False)
                pins = pins | {(s, t)}
    if isinstance(e, sp.Indexed):
        name = str(e.base.label)
        for i in e.indices:
            yield from _walk(i, defs, path, bound, pinned, pins, spans)
        d = defs.get(name)
        if d is None:
            yield Read(e, path, bound, pins, spans)
            return
        if name in path:
            raise ValueError(f"definition {name} refers to itself (through {' → '.join(path + (name,))})")
        if len(d.params) != len(e.indices):
            raise ValueError(f"{name} is defined with {len(d.params)} indices, read with {len(e.indices)}: {e}")
        yield from _walk(instantiate(d, e.indices), defs, path + (name,), bound, pinned, pins, spans)
        return
    if isinstance(e, sp.Symbol):
        yield Read(e, path, bound, pins, spans)
        return
    if isinstance(e, sp.Sum):
        body, limits = e.function, list(e.limits)
        kept = []
        for var, lo, hi in limits:
            hit = _first_pin(sp.Mul.make_args(body), var)
            yield from _walk(lo, defs, path, bound, pinned, pins, spans)
            yield from _walk(hi, defs, path, bound, pinned, pins, spans)
            if hit is not None:       # Σ_t δ(t, e)·f(t) reads only f(e)
                body = body.xreplace({var: hit[1]})
            else:
                kept.append(var)
        known = dict(spans)
        selectors = [f for f in sp.Mul.make_args(body) if not _is_read(f, defs)]
        for var, lo, hi in reversed(limits):   # outermost first: an inner range may read an outer variable
            if var in kept:   # what its range and the summand's selectors of it read, and what the ranges of those do
                names = sp.sympify(lo).free_symbols | sp.sympify(hi).free_symbols
                names |= set().union(*[f.free_symbols for f in selectors if f.has(var)]) - {var}
                known[var] = frozenset(names).union(*[known.get(v, ()) for v in names])
        yield from _walk(body, defs, path, bound | frozenset(kept), pinned, pins, tuple(known.items()))
        return
    for a in e.args:
        yield from _walk(a, defs, path, bound, pinned, pins, spans)
