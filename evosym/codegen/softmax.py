"""Recognising a softmax in K̂, so that generated code computes it stably.

A proof states attention weights as written on paper, exp(ℓ[J]) / Z[I] with Z[I] = Σ_w exp(ℓ[I, w]);
evaluated so, float32 overflows once a logit passes ~88 (float16: ~11) and the output turns into
inf/NaN. ``torch.softmax`` computes the same ratio with the maximum subtracted. The rewrite here is
exact and structural: the product exp(ℓ[J])·Z[I]⁻¹ is replaced by a read of a new tensor whose
definition is that very product, and the new tensor is materialised as ``softmax`` over ℓ's axes w
only after checking that Z sums exp(ℓ) over the whole of those axes and that J agrees with I on the
others. The numeric checks of generated code then compare it with the independent reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..ir.tensors import Definition


@dataclass(frozen=True)
class Softmax:
    """``name`` := softmax of the definition ``logits`` over its axes first … first + count − 1."""

    name: str
    logits: str
    first: int
    count: int


def _normaliser(z: Definition, defs: dict):
    """(ℓ's name, reduced axes of ℓ, ℓ-axis → Z-parameter position) when Z[I] = Σ_w exp(ℓ[I, w])
    over whole, consecutive axes w of ℓ; else None."""
    body = z.body
    if not isinstance(body, sp.Sum) or not isinstance(body.function, sp.exp):
        return None
    read = body.function.args[0]
    if not isinstance(read, sp.Indexed) or str(read.base.label) not in defs:
        return None
    ell = defs[str(read.base.label)]
    if ell.shape is None:
        return None
    limits = {var: (lo, hi) for var, lo, hi in body.limits}
    reduced = [k for k, i in enumerate(read.indices) if i in limits]
    if len(reduced) != len(limits) or reduced != list(range(reduced[0], reduced[0] + len(reduced))):
        return None
    for k in reduced:
        lo, hi = limits[read.indices[k]]
        if lo != 0 or sp.simplify(hi + 1 - ell.shape[k]) != 0:
            return None
    others = [k for k in range(len(read.indices)) if k not in reduced]
    if [read.indices[k] for k in others] != list(z.params):
        return None
    return ell.name, reduced, {k: n for n, k in enumerate(others)}


def rewrite_softmax(expr: sp.Expr, defs: dict):
    """(expr with every exp(ℓ[J])·Z[I]⁻¹ replaced by sm[J], {name: Softmax}, {name: Definition})."""
    found, new_defs = {}, {}
    reps = {}
    for node in sp.preorder_traversal(expr):
        if not isinstance(node, sp.Mul):
            continue
        exps = [f for f in node.args if isinstance(f, sp.exp) and isinstance(f.args[0], sp.Indexed)]
        invs = [f for f in node.args if isinstance(f, sp.Pow) and f.exp == -1 and isinstance(f.base, sp.Indexed)
                and str(f.base.base.label) in defs and defs[str(f.base.base.label)].shape is not None]
        for inv in invs:
            z = defs[str(inv.base.base.label)]
            norm = _normaliser(z, defs)
            if norm is None:
                continue
            ell_name, reduced, to_z = norm
            for ex in exps:
                read = ex.args[0]
                if str(read.base.label) != ell_name or any(
                        read.indices[k] != inv.base.indices[n] for k, n in to_z.items()):
                    continue
                ell = defs[ell_name]
                name = f"softmax_{ell_name}"
                if name not in new_defs:
                    z_args = [ell.params[k] for k in sorted(to_z, key=to_z.get)]
                    new_defs[name] = Definition(name, ell.params, sp.exp(ell.base[ell.params]) / z.base[tuple(z_args)],
                                                f"softmax of {ell_name} over its window axes (stable: max subtracted)",
                                                shape=ell.shape)
                    found[name] = Softmax(name, ell_name, reduced[0], len(reduced))
                rest = [f for f in node.args if f is not ex and f is not inv]
                reps[node] = sp.Mul(*rest) * new_defs[name].base[read.indices]
                break
            if node in reps:
                break
    return expr.xreplace(reps), found, new_defs
