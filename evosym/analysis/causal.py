"""The kernel property "causal": Ω(p) ⊆ {q ≤ p}, derived from the symbolic Ω and confirmed at the grid.

Definition. An operator is causal when no output position reads an input position after it: for
every sizes, every output position p and every q ∈ Ω(p) (= the support of K, which the proof's support
check confirms), q ≤ p. Positions are compared index to index along the operator's one position axis,
both counted from 0 (output position t and input position t are the same time step). The property is
defined for operators with one position axis only: positions on two or more axes (images, volumes)
have no time order, so they are reported "n/a". (A raster-scan order, as in PixelCNN's masks, would be
a different property; it is not what "causal" means here.)

How it is derived: the reach E(p) = max Ω(p) − p as a formula in the sizes — the last tap of a window,
s·p + δ·(K − 1) − P − p (clipping at the input's end only lowers it); L − 1 − p for a global Ω; 0 for
an index set of divisors, {q : (q + a) | (p + a)} with a ≥ 1 (a positive divisor of n is at most n).
"yes" when SymPy proves E(p) ≤ 0 for every p ≥ 0 and every sizes; "no" when it proves E(p) > 0;
otherwise "only when E(p) ≤ 0". Windows that wrap, are clamped or tiled, and other index sets, are
not derived symbolically ("not derived"). Every verdict is then confirmed exactly at the grid shapes by
enumerating Ω(p) at every output position: the observed max Ω(p) − p never exceeds E(p), and a "yes"
must hold at every shape.
"""

from __future__ import annotations

import sympy as sp

from ..facts.omega import causal_reach
from ..ir.symbols import size_value
from ..printers.expr import text
from ..proof.bounded import env_of
from ..proof.symbolic import nonnegative

DEFINITION = "Ω(p) ⊆ {q ≤ p} along the one position axis (index to index, both from 0)"


def causality(op, form, prop):
    """The "causal" property of a checked proof's Evolution form (``prop``: the Property class)."""
    if len(form.position) != 1 or len(form.neighbour) != 1:
        return prop("causal", f"n/a ({len(form.position)}-D positions)",
                    f"definition: {DEFINITION}; positions on {len(form.position)} axes have no time order, so "
                    "causality is not defined for this operator")
    p = form.position[0]
    reach, why = causal_reach(form.omega, p)
    t = sp.Symbol("t", integer=True, nonnegative=True)   # any output position
    verdict = value = None
    if reach is not None:
        e = sp.simplify(reach.xreplace({p: t}))
        linear = e.is_polynomial(t) and sp.degree(e, t) <= 1
        if linear and _holds(e.coeff(t, 1), "le"):   # E is affine in p and does not grow: p = 0 is the worst position
            e, worst = e.xreplace({t: 0}), sp.simplify(reach.xreplace({p: 0}))
        else:
            worst = reach
        verdict = True if _holds(e, "le") else False if _holds(e, "gt") else None
        shown = text(worst)
        value = "yes" if verdict else f"no (Ω(p) reaches {shown} past p)" if verdict is False else \
            f"only when {shown} ≤ 0" + (f" for every output position {text(p)}" if worst.has(p) else "")
    observed = _observe(op, form, p, reach)
    n, causal_at, bound_ok = len(op.grid), observed["causal"], observed["bound"]
    confirm = f"confirmed at {n} shapes: max Ω(p) − p never exceeds the reach; causal at {causal_at} of {n}"
    if reach is None:
        value = "yes at the grid shapes (not derived)" if causal_at == n else "no (a read past p at the grid)"
        how = (f"definition: {DEFINITION}; symbolic: not derived ({why}); at {n} shapes, enumerating Ω(p): "
               f"causal at {causal_at} of {n}")
        return prop("causal", value, how)
    # "yes" must hold at every shape; "no" must show a read past p at some shape (clipping may hide it at others)
    consistent = bound_ok and (verdict is not True or causal_at == n) and (verdict is not False or observed["ahead_possible"])
    how = f"definition: {DEFINITION}; symbolic: {why}, reach E(p) = {text(reach)}; " + (
        confirm if consistent else confirm + " — INCONSISTENT with the symbolic reach")
    return prop("causal", value, how)


def _holds(e, how: str) -> bool:
    """Proved ``e ≤ 0`` (how="le") or ``e > 0`` (how="gt", i.e. e ≥ 1 for an integer e) for every value of its
    symbols (sizes positive integers, the output position a non-negative integer): by the checker's own prover
    (:func:`evosym.proof.symbolic.nonnegative`), else by SymPy's assumptions."""
    e = sp.simplify(e)
    if how == "le":
        return nonnegative(-e) or bool(e.is_nonpositive)
    return (bool(e.is_integer) and nonnegative(e - 1)) or bool(e.is_positive)


def _observe(op, form, p, reach) -> dict:
    """At every grid shape and output position: is every q ≤ p, and is max Ω(p) − p ≤ E(p)?"""
    lhs = {s: hi for s, _, hi in op.lhs_ranges()}
    causal, bound, ahead_possible = 0, True, False
    for config in op.grid:
        env = env_of(config)
        ok = True
        for pt in range(size_value(lhs[p], env) + 1):
            pts = form.omega.points((pt,), env)
            if not pts:
                continue
            ahead = max(q[0] for q in pts) - pt
            ok = ok and ahead <= 0
            if reach is not None:
                e = size_value(reach.xreplace({p: sp.Integer(pt)}), env)
                bound = bound and ahead <= e
                ahead_possible = ahead_possible or ahead > 0
        causal += ok
    return {"causal": causal, "bound": bound, "ahead_possible": ahead_possible}
