"""Graph support: whether a global kernel over nodes follows an adjacency (1-hop), derived and confirmed.

A graph convolution's kernel K(p, q) is global in form (every node pair has an entry) but vanishes
unless q is a neighbour of p or p itself. Derived symbolically: K, with its definitions inlined, has
a factor that is T[p, q] + α·δ(p, q) (or T[p, q]) for a non-negative parameter T read at exactly
the pair (p, q); that factor, and so K, is 0 wherever T[p, q] = 0 and p ≠ q. Confirmed exactly at
every grid shape with T drawn sparse: K is 0 at every such pair, and non-zero at some neighbour
pair (the claim is not vacuous).
"""

from __future__ import annotations

import itertools

import numpy as np
import sympy as sp

from ..ir.neighbourhood import Global
from ..ir.tensors import inline_unshaped
from ..ir.symbols import size_value
from ..printers.expr import text
from ..proof import poly as P
from ..proof.bounded import env_of
from ..proof.evaluate import Evaluator


def graph_support(op, form, defs, Property):
    """The "support" property of a kernel over the nodes of a graph, or None when K reads no
    non-negative (N × N) parameter at the pair (p, q)."""
    if not isinstance(form.omega, Global) or len(form.position) != 1:
        return None
    p, q = form.position[0], form.neighbour[0]
    body = inline_unshaped(form.kernel_body, defs, shaped=True)
    adjacency = [t for t in op.tensors if t.role == "parameter" and t.domain == "nonnegative" and len(t.shape) == 2
                 and body.has(sp.IndexedBase(t.name)[p, q])]
    if len(adjacency) != 1:
        return None
    T = adjacency[0]
    read = sp.IndexedBase(T.name)[p, q]
    delta = sp.KroneckerDelta(p, q)
    hop = [f for f in sp.Mul.make_args(body) if f.has(read)
           and sp.expand(f.xreplace({read: 0}).xreplace({delta: 0})) == 0]
    confirmed, witnessed, shapes = _confirm(op, form, defs, T, p, q)
    if hop:
        how = (f"symbolic: K has the factor {text(hop[0])}, zero wherever {text(read)} = 0 and p ≠ q; confirmed at {shapes} shapes "
               f"with a sparse {T.name}: K(p, q) = 0 at every such pair" + (
                   ", and K ≠ 0 at some neighbour pair" if witnessed else " — but K vanished at every neighbour pair too"))
        if not confirmed:
            how += " — INCONSISTENT: K ≠ 0 at a pair that is neither a neighbour nor p itself"
        return Property("support", f"1-hop: K(p, q) = 0 unless {T.name}[p, q] ≠ 0 or p = q", how)
    how = (f"symbolic: K reads {text(read)} but has no factor that vanishes with it; confirmed at {shapes} shapes with a sparse "
           f"{T.name}: " + ("K ≠ 0 at a pair with " + f"{T.name}[p, q] = 0, p ≠ q" if not confirmed else
                            "K happened to vanish at every non-neighbour pair — INCONSISTENT"))
    return Property("support", f"not 1-hop: K reaches pairs with {T.name}[p, q] = 0", how)


def _confirm(op, form, defs, T, p, q) -> tuple[bool, bool, int]:
    """(K = 0 at every non-neighbour pair p ≠ q, K ≠ 0 at some neighbour pair, shapes), exactly at the grid
    with integer tensors and T zero at about half its entries."""
    rng = np.random.default_rng(0)
    lhs = {s: hi for s, _, hi in op.lhs_ranges()}
    zero_ok, witnessed = True, False
    for config in op.grid:
        env = env_of(config)
        shapes = op.shapes_at(env)
        arrays = {t.name: rng.integers(-3, 4, size=shapes[t.name]) for t in op.tensors}
        arrays[T.name] = rng.integers(1, 4, size=shapes[T.name]) * (rng.random(shapes[T.name]) < 0.5)
        ev = Evaluator(shapes, defs, leaf=lambda tensor, idx: int(arrays[tensor][idx]))
        kfn = ev.compile(form.kernel_body)
        rng_of = lambda s: range(size_value(lhs[s], env) + 1)  # noqa: E731
        nodes = size_value(T.shape[0], env)
        for b, o, c in itertools.product(rng_of(form.batch), rng_of(form.out_channel), range(size_value(form.channel_hi, env) + 1)):
            for pp, qq in itertools.product(range(nodes), repeat=2):
                if pp == qq:
                    continue
                v = kfn({**env, form.batch: b, form.out_channel: o, form.channel: c, p: pp, q: qq})
                if arrays[T.name][pp, qq] == 0:
                    zero_ok = zero_ok and P.is_zero(v)
                else:
                    witnessed = witnessed or not P.is_zero(v)
    return zero_ok, witnessed, len(op.grid)
