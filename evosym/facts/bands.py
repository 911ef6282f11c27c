"""A window inside a global kernel: terms of K̂ that vanish outside a fixed window around p.

Over a global Ω (or an index set) the generic lowering builds K̂ on the whole (p, q) grid. A term of K̂ that
carries a bracket [lo ≤ q_k − p_k + a ≤ hi] on every axis and, with q_k = p_k + t − P (P = a − lo), is free
of the position and the batch, is a shared kernel over a window of hi − lo + 1 taps with zero padding: one
native convolution (HyperZ·Z·W's local branch beside its column-wise matrix product). The split is exact
algebra on K̂'s terms, and it is verified exactly against K at every grid shape anyway
(:func:`verify_band`): Σ over the rest at q plus the band's tap q − p + P equals K(p, q) for every q.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import sympy as sp

from ..errors import EvosymError, IllFormedAccess
from ..ir.operator import format_sizes
from ..ir.symbols import InRange, size_value
from ..proof.bounded import env_of
from ..proof.evaluate import Evaluator
from ..proof.symbolic import nonnegative
from ..proof import poly as P
from .factors import index_symbols
from .taps import drop_true_brackets


@dataclass(frozen=True)
class Band:
    """K̂ = rest + term with ``term`` (over the global taps u = q) equal to ``kernel`` at the window tap
    t = q − p + P (0 ≤ t < K on each axis) and zero off the window; ``kernel`` reads taps ``taps`` only."""

    rest: sp.Expr
    term: sp.Expr
    kernel: sp.Expr
    taps: tuple
    size: tuple          # K per axis
    padding: tuple       # P per axis
    checked_shapes: int


def _terms(expr) -> list:
    """K̂'s additive terms, a common factor distributed over a sum (c·(a + b) → c·a, c·b)."""
    if isinstance(expr, sp.Add):
        return list(expr.args)
    if isinstance(expr, sp.Mul):
        sums = [f for f in expr.args if isinstance(f, sp.Add)]
        if len(sums) == 1:
            rest = sp.Mul(*[f for f in expr.args if f is not sums[0]])
            return [rest * t for t in sums[0].args]
    return [expr]


def _window(term, positions, taps, sizes) -> tuple | None:
    """(P, K) per axis when ``term`` carries [lo ≤ u_k − p_k + a ≤ hi] on every axis (a, lo, hi sizes only)."""
    found = {}
    for f in sp.Mul.make_args(term):
        if not isinstance(f, InRange):
            continue
        e, lo, hi = f.args
        for k, (p, u) in enumerate(zip(positions, taps)):
            a = sp.expand(e - u + p)
            if k in found or (a.free_symbols | sp.sympify(lo).free_symbols | sp.sympify(hi).free_symbols) - sizes:
                continue
            found[k] = (sp.expand(a - lo), sp.expand(hi - lo + 1))
    if len(found) != len(taps):
        return None
    return tuple(found[k][0] for k in range(len(taps))), tuple(found[k][1] for k in range(len(taps)))


def band_part(op, form, taps, definitions) -> Band | None:
    """The :class:`Band` of a global tap kernel ``taps`` (taps u_k = q_k on ``form``, the windowed global form),
    or None: no term is a shared kernel over a window with P ≥ 0, or no other term is left."""
    sizes = set(op.size_symbols())
    positions = tuple(form.position)
    terms = _terms(taps.expr)
    bands = {}
    for term in terms:
        window = _window(term, positions, taps.taps, sizes)
        if window is None or not all(nonnegative(pad) and nonnegative(k - 1) for pad, k in zip(*window)):
            continue
        new = tuple(sp.Symbol(f"t_{k + 1}" if len(positions) > 1 else "t", integer=True) for k in range(len(positions)))
        at = {u: p + t - pad for u, p, t, pad in zip(taps.taps, positions, new, window[0])}
        ranges = {s: (lo, hi) for s, lo, hi in op.lhs_ranges()}
        ranges[form.channel] = (0, form.channel_hi)
        ranges.update({t: (0, k - 1) for t, k in zip(new, window[1])})
        kernel = drop_true_brackets(term.xreplace(at), ranges)
        if index_symbols(kernel) - {form.channel, form.out_channel} - set(new) - sizes:
            continue   # (it reads the position, the batch or another index: not one kernel for every p)
        bands.setdefault(window, []).append((term, kernel, new))
    if not bands:
        return None
    window, chosen = next(iter(bands.items()))
    if len(chosen) == len(terms):
        return None
    rest = sp.Add(*[t for t in terms if t not in [c[0] for c in chosen]])
    term, kernel = sp.Add(*[c[0] for c in chosen]), sp.Add(*[c[1] for c in chosen])
    new = chosen[0][2]
    try:
        shapes = verify_band(op, form, definitions, rest, taps.taps, kernel, new, window)
    except EvosymError:
        return None
    return Band(rest, term, kernel, new, window[1], window[0], shapes)


def verify_band(op, form, definitions, rest, taps, kernel, new, window) -> int:
    """K(p, q) = rest(u = q) + [0 ≤ q − p + P < K]·kernel(t = q − p + P) exactly, for every q of the input at
    every grid shape (the band read with zero padding, as the native convolution does)."""
    pads, size = window
    lhs = {s: hi for s, _, hi in op.lhs_ranges()}
    for config in op.grid:
        env = env_of(config)
        ev = Evaluator(op.shapes_at(env), definitions)
        k_fn, rest_fn, band_fn = ev.compile(form.kernel_body), ev.compile(rest), ev.compile(kernel)
        lengths = [size_value(L, env) for L in form.omega.lengths()]
        pv, kv = [size_value(x, env) for x in pads], [size_value(x, env) for x in size]

        def rng(hi):
            return range(size_value(hi, env) + 1)
        bs = rng(lhs[form.batch]) if form.kernel_body.has(form.batch) or rest.has(form.batch) else [0]
        for b, o, c in itertools.product(bs, rng(lhs[form.out_channel]), rng(form.channel_hi)):
            for pt in itertools.product(*[rng(lhs[p]) for p in form.position]):
                for q in itertools.product(*[range(n) for n in lengths]):
                    local = {**env, form.batch: b, form.out_channel: o, form.channel: c}
                    local.update(zip(form.position, pt))
                    local.update(zip(form.neighbour, q))
                    local.update(zip(taps, q))
                    t = [qq - pp + pad for qq, pp, pad in zip(q, pt, pv)]
                    local.update(zip(new, t))
                    try:
                        got = rest_fn(local)
                        if all(0 <= tt < n for tt, n in zip(t, kv)):
                            got = P.add(got, band_fn(local))
                        want = k_fn(local)
                    except IllFormedAccess as exc:
                        raise EvosymError(f"{op.name}: the windowed part is ill-formed at {format_sizes(env)}: {exc}") from None
                    if not P.is_zero(P.sub(want, got)):
                        raise EvosymError(f"{op.name}: the windowed part of K̂ differs from K at {format_sizes(env)}, o={o}, "
                                          f"c={c}, p={pt}, q={q}: {P.to_sympy(want)} vs {P.to_sympy(got)}")
    return len(op.grid)
