"""Every read of a declared tensor lies inside its shape, or the step is not labelled general.

A read T[e₁, …, e_k] outside T's shape has no value (the evaluator refuses it at a grid shape): an identity between
expressions that read T holds for all sizes only where every index is in range. An operator that reads W[o, i] with
i < N while W has L columns is undefined wherever N > L, and a proof of it must not print "valid for all sizes".
So each read of a tensor (and of a definition declared with a shape) carries the obligation 0 ≤ e_j ≤ n_j − 1, for
every value of the indices in their ranges and every size in its domain, where the guards around the read hold.

Guards: the evaluator computes a product's brackets [a ≤ e ≤ b] and deltas δ(a, b) before its other factors and
reads nothing after a zero one (zero padding is written so: [0 ≤ m ≤ L − 1]·x[m]); a Piecewise reads a branch only
where its condition holds. Each is a hypothesis h ≥ 0 for the reads beside it (e − a and b − e; a − b and b − a;
a relation's slack).

The prover shows t ≥ 0 by :func:`..ranged.nonnegative_over` of t, or of t − h, t − 2h or t − h − h′ for hypotheses
h, h′ (t = (t − h) + h). |a|, max(a, b) and min(a, b) are split into their cases, each case's condition one more
hypothesis (the reflection padding's L − 1 − |L − 1 − |m||); an equality among the hypotheses (a delta's) is used to
substitute; failing that, each ⌊·⌋ and remainder of a known range becomes an index of its own over it
(d·⌊o/d⌋ + e). Every rule answers "proved" or "not proved", never a wrong "proved".
"""

from __future__ import annotations

import itertools

import sympy as sp

from ...ir.symbols import InRange
from ..ranged import nonnegative_over, too_large
from ..symbolic import integer_valued, range_of

_MEMO: dict = {}   # (t, the ranges it reads, hypotheses, slacks) → proved

MAX_SPLITS = 6      # |·|, max and min split into cases before the prover gives up (not proved): 2^6 cases at most
MAX_HYPOTHESES = 12  # hypotheses tried, nearest first (a read deep in brackets)
MAX_MEMO = 50_000    # answers kept before the memo starts again
MAX_SUBSTITUTED = 12  # expressions the equalities among the hypotheses rewrite t into, at most
MAX_PAIRED = 6       # sums of two hypotheses are tried where there are at most this many (pairs grow as the square)


def guard_hypotheses(g) -> tuple:
    """h ≥ 0 that a guard factor g of a product gives where it is not 0: e − a and b − e for [a ≤ e ≤ b], a − b and
    b − a for δ(a, b) (integer arguments only); none for any other factor."""
    if isinstance(g, InRange):
        e, lo, hi = g.args
        if all(x.is_integer is True for x in g.args):
            return (sp.expand(e - lo), sp.expand(hi - e))
    if isinstance(g, sp.KroneckerDelta) and len(g.args) == 2:   # (SymPy's δ takes a third argument, a range)
        a, b = g.args
        if a.is_integer is True and b.is_integer is True:
            return (sp.expand(a - b), sp.expand(b - a))
    return ()


def condition_hypotheses(cond) -> tuple:
    """h ≥ 0 for each relation of a Piecewise condition (a conjunction of them) between integer expressions."""
    out = []
    for c in (cond.args if isinstance(cond, sp.And) else (cond,)):
        if not isinstance(c, (sp.Le, sp.Lt, sp.Ge, sp.Gt, sp.Eq)):
            continue
        if not (c.lhs.is_integer is True and c.rhs.is_integer is True):
            continue
        small, big = (c.rhs, c.lhs) if isinstance(c, (sp.Ge, sp.Gt)) else (c.lhs, c.rhs)
        gap = sp.expand(big - small) - (1 if isinstance(c, (sp.Lt, sp.Gt)) else 0)
        out.extend((gap, -gap) if isinstance(c, sp.Eq) else (gap,))
    return tuple(out)


class ShapeProver:
    """Proofs that reads lie inside their shapes, under the operator's constraints (``slacks``); answers kept for
    the whole process (a step reads what the step before it read), keyed by all they depend on."""

    def __init__(self, slacks: tuple):
        self.slacks = slacks

    def inside(self, read: sp.Indexed, shape, ranges: dict, hypotheses=(), quotients=()) -> bool:
        """0 ≤ e_j ≤ n_j − 1 for every index e_j of ``read`` and n_j of ``shape``, each an integer: by its symbols,
        or an integer away from a quotient a/b that a guard δ(0, a mod b) around the read makes one (``quotients``;
        with a ≥ 1 and b ≥ 1 it is an index of its own over [1, a])."""
        if len(read.indices) != len(shape):
            return False
        hyps = tuple(dict.fromkeys(hypotheses))[-MAX_HYPOTHESES:]
        for e, n in zip(read.indices, shape):
            e, known = self._integer(sp.sympify(e), ranges, quotients)
            if e is None:
                return False
            if not (_ranges_over(e, n, known) or (self.holds(e, known, hyps) and self.holds(n - 1 - e, known, hyps))):
                return False
        return True

    def integral(self, read: sp.Indexed, ranges: dict, quotients=()) -> bool:
        """Every index of ``read`` an integer (by its symbols, or an integer away from a guarded quotient)."""
        return all(self._integer(sp.sympify(e), ranges, quotients)[0] is not None for e in read.indices)

    def _integer(self, e, ranges: dict, quotients):
        """(e, ranges) where e is an integer by its symbols; (q + r, ranges with q over [1, a]) where e − a/b = r
        is one and a/b a guarded quotient with a, b ≥ 1; (None, ranges) otherwise."""
        if integer_valued(e):
            return e, ranges
        for f in quotients:
            a, b = sp.fraction(sp.together(f))
            r = sp.cancel(e - f)
            if r.is_integer is True and self.holds(a - 1, ranges, ()) and self.holds(b - 1, ranges, ()):
                q = sp.Dummy("q", integer=True)
                return sp.expand(q + r), {**ranges, q: (sp.Integer(1), a)}
        return None, ranges

    def holds(self, t, ranges: dict, hyps: tuple) -> bool:
        """t ≥ 0 at every value of the indices in ``ranges`` where every hypothesis is ≥ 0 (those that share no
        symbol with t, the ranges it reads or a hypothesis kept are left out: they cannot help)."""
        t = sp.sympify(t)
        near, kept = _reach(t.free_symbols, ranges), ()
        while True:   # a hypothesis that shares a symbol with t, or with one kept (δ(i, q)·δ(i, 0) for q)
            more = tuple(h for h in hyps if h not in kept and h.free_symbols & near)
            if not more:
                break
            kept += more
            near |= _reach(set().union(*(h.free_symbols for h in more)), ranges)
        hyps = tuple(h for h in hyps if h in kept)
        key = (t, frozenset((v, r) for v, r in ranges.items() if v in near), hyps, self.slacks)
        if key not in _MEMO:
            if len(_MEMO) > MAX_MEMO:
                _MEMO.clear()
            _MEMO[key] = False
            _MEMO[key] = self._holds(t, dict(ranges), hyps, 0)
        return _MEMO[key]

    def _holds(self, t, ranges: dict, hyps: tuple, splits: int) -> bool:
        if t.has(sp.Float) or too_large(t) or any(too_large(h) for h in hyps):
            return False
        atom = _split_atom(t)
        if atom is not None:
            cases = _cases(atom)
            return splits < MAX_SPLITS and bool(cases) and all(
                self._holds(sp.expand(t.xreplace({atom: value})), ranges,
                            tuple(sp.expand(h.xreplace({atom: value})) for h in hyps) + (condition,), splits + 1)
                for value, condition in cases)
        tightened = _tightened(ranges, hyps)
        for u in [t] + _substituted(t, hyps):
            for rng in [ranges] + ([tightened] if tightened != ranges else []):
                if self._plain(u, rng, hyps):
                    return True
                u2, ranges2, hyps2 = _atomized(u, rng, hyps)
                if u2 != u and self._plain(u2, ranges2, hyps2):
                    return True
        atom = next((a for a in map(_split_atom, hyps) if a is not None), None)   # a hypothesis's own, at last
        if atom is not None and splits < MAX_SPLITS and _cases(atom):
            return all(self._holds(t, ranges, tuple(sp.expand(h.xreplace({atom: value})) for h in hyps) + (condition,),
                                   splits + 1)
                       for value, condition in _cases(atom))
        return False

    def _plain(self, t, ranges: dict, hyps: tuple) -> bool:
        """t − c ≥ 0 for c = 0, a hypothesis, twice one, or (among a few) the sum of two."""
        candidates = [sp.Integer(0)] + [lam * h for h in hyps for lam in (1, 2)]
        if len(hyps) <= MAX_PAIRED:
            candidates += [h + g for h, g in itertools.combinations(hyps, 2)]
        return any(nonnegative_over(sp.expand(t - c), ranges, self.slacks) for c in candidates)


def _ranges_over(e, n, ranges: dict) -> bool:
    """e is an index ranging over exactly [0, n − 1] (most reads: x[b, c, …] in sums over the tensor's axes)."""
    return e in ranges and ranges[e] == (0, n - 1)


def _reach(symbols, ranges: dict) -> set:
    """The symbols, with those the ranges of the indices among them read, and theirs."""
    seen, todo = set(), list(symbols)
    while todo:
        v = todo.pop()
        if v not in seen:
            seen.add(v)
            if v in ranges:
                todo.extend(set().union(*(sp.sympify(b).free_symbols for b in ranges[v])))
    return seen


def _tightened(ranges: dict, hyps: tuple) -> dict:
    """``ranges`` with an end of an index's range replaced by a hypothesis ±v + b ≥ 0 that bounds it (v ≥ −b, v ≤ b):
    the index still takes every value it can take where the hypotheses hold ([0 ≤ i ≤ 2N − 1]·x[⌊i/2⌋])."""
    out = dict(ranges)
    for h in hyps:
        for v in sorted(h.free_symbols & set(ranges), key=str):
            k = h.coeff(v)
            rest = sp.expand(h - k * v)
            if k in (1, -1) and h.is_polynomial(v) and not rest.has(v):
                lo, hi = out[v]
                out[v] = (-rest, hi) if k == 1 else (lo, rest)
                break
    return out


def _substituted(t, hyps: tuple) -> list:
    """t with equalities among the hypotheses (h and −h both there: a delta's) solved for a symbol or ⌊·⌋ of t that
    they hold with coefficient ±1, one after another (δ(⌊c/C_g⌋, ⌊o/O_g⌋) makes c − C_g·⌊o/O_g⌋ the remainder
    c − C_g·⌊c/C_g⌋; δ(i, q)·δ(i, 0) makes q 0); at most :data:`MAX_SUBSTITUTED` of them."""
    equalities = [h for h in hyps if sp.expand(-h) in hyps]
    found, todo = [t], [t]
    while todo and len(found) <= MAX_SUBSTITUTED:
        u = todo.pop(0)
        for h in equalities:
            for a in sorted(h.atoms(sp.Symbol, sp.floor), key=sp.default_sort_key):
                k = h.coeff(a) if isinstance(a, sp.floor) or h.is_polynomial(a) else 0
                rest = sp.expand(h - k * a)
                if k in (1, -1) and not rest.has(a) and u.has(a):
                    v = sp.expand(u.xreplace({a: -rest / k}))
                    if v not in found:
                        found.append(v)
                        todo.append(v)
    return found[1:MAX_SUBSTITUTED + 1]


def _atomized(t, ranges: dict, hyps: tuple):
    """t and the hypotheses with each ⌊·⌋ and remainder of a known range (:func:`..symbolic.range_of`: a mod L in
    [0, L − 1], ⌊o/d⌋ in [0, N − 1] for o in [0, N·d − 1]) an index of its own over that range, innermost first
    (⌊⌊c/d⌋/G⌋ in two rounds); an index n read as ⌊n/k⌋ is written k·q + r besides, r in [0, k − 1], so that
    n − k·⌊n/k⌋ stays the remainder. Every value the expressions took is still taken (more may be): sound."""
    for _ in range(4):
        atoms = sorted({a for x in (t,) + hyps for a in x.atoms(sp.floor, sp.Mod)
                        if not any(b.has(sp.floor, sp.Mod) for b in a.args)}, key=sp.default_sort_key)
        changed = False
        for a in atoms:
            known = range_of(a, ranges)
            if known is None:
                continue
            q = sp.Dummy("q", integer=True)
            swap = {a: q}
            n, k = sp.fraction(sp.together(a.args[0])) if isinstance(a, sp.floor) else (None, None)
            if n in ranges and k.is_integer is True and k.is_positive is True and not k.free_symbols & set(ranges):
                r = sp.Dummy("r", integer=True)
                swap[n] = k * q + r
                renamed = {}
                for v, rng in ranges.items():   # q and r where n was: the ranges after it may read them
                    if v == n:
                        renamed[q], renamed[r] = known, (sp.Integer(0), k - 1)
                    else:
                        renamed[v] = tuple(sp.sympify(x).xreplace({n: k * q + r}) for x in rng)
                ranges = renamed
            else:
                ranges = {**ranges, q: known}
            t = t.xreplace(swap)
            hyps = tuple(h.xreplace(swap) for h in hyps)
            changed = True
        if not changed:
            break
    return sp.expand(t), ranges, tuple(sp.expand(h) for h in hyps)


def _split_atom(t):
    """The first |·|, max or min in t (innermost first: its arguments hold none), else None. A hypothesis's own are
    not split: one that still holds them after t's are is of no use to the polynomial prover, and is left so."""
    atoms = [a for a in sp.preorder_traversal(t) if isinstance(a, (sp.Abs, sp.Max, sp.Min))
             and not any(b.has(sp.Abs, sp.Max, sp.Min) for b in a.args)]
    return min(atoms, key=sp.default_sort_key) if atoms else None


def _cases(atom) -> list:
    """(value, its condition as h ≥ 0) for each case of |a|, max(a, b, …) or min(a, b, …): the atom equals one of
    the values at every point (of three or more arguments, a case's condition is not kept: 0 ≥ 0); none for an
    argument not proved real."""
    if not all(a.is_extended_real is True for a in atom.args):
        return []
    if isinstance(atom, sp.Abs):
        a = atom.args[0]
        return [(a, a), (-a, -a)]
    args, sign = atom.args, 1 if isinstance(atom, sp.Max) else -1
    if len(args) != 2:
        return [(a, sp.Integer(0)) for a in args]
    a, b = args
    return [(a, sign * (a - b)), (b, sign * (b - a))]
