"""Recognising a softmax in K̂, so that generated code computes it stably.

A proof states attention weights as written on paper, exp(ℓ[J]) / Z[I] with Z[I] = Σ_w exp(ℓ[I, w]);
evaluated so, float32 overflows once a logit passes ~88 (float16: ~11) and the output turns into
inf/NaN. ``torch.softmax`` computes the same ratio with the maximum subtracted. The rewrite here is
exact and structural: the product exp(ℓ[J])·Z[I]⁻¹ is replaced by a read of a new tensor whose
definition is that very product, and the new tensor is materialised as ``softmax`` over ℓ's axes w
only after checking that Z sums exp(ℓ) over the whole of those axes and that J agrees with I on the
others. The numeric checks of generated code then compare it with the independent reference.

A masked softmax (a causal mask: PyTorch adds −∞ to the logits it hides) is written E = G·exp(ℓ) with
G a product of brackets over ℓ's indices (and of reads of inputs declared indicators, 0/1: a key padding mask),
A = E[J]/Z[I] with Z = Σ_w E[I, w]; it becomes the softmax of
ℓ with the entries where G = 0 set to −∞, which is the same ratio (0 where G = 0, 0/0 where G hides a
whole row, as E/Z), computed with the maximum subtracted.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..ir.tensors import Definition, inline_unshaped
from ..proof.rules.softmax import masked_exponential


@dataclass(frozen=True)
class Softmax:
    """``name`` := softmax of the definition ``logits`` over its axes first … first + count − 1."""

    name: str
    logits: str
    first: int
    count: int
    mask: sp.Expr | None = None   # G over the logits' indices (a masked softmax), else None


def _normaliser(z: Definition, defs: dict, indicators=frozenset()):
    """(ℓ's name, reduced axes of ℓ, ℓ-axis → Z-parameter position, E's name or None) when Z[I] =
    Σ_w exp(ℓ[I, w]), or Σ_w E[I, w] with E = G·exp(ℓ) (:func:`_masked`), over whole, consecutive axes w
    of ℓ; else None."""
    body = z.body
    if not isinstance(body, sp.Sum):
        return None
    term, summed = body.function, None
    if isinstance(term, sp.Indexed) and str(term.base.label) in defs:   # Σ_w E[I, w], E = G·exp(ℓ)
        summed = str(term.base.label)
        masked = _masked(defs[summed], defs, indicators)
        if masked is None:
            return None
        term = masked[1].xreplace(dict(zip(defs[str(term.base.label)].params, term.indices)))
    if not isinstance(term, sp.exp):
        return None
    read = term.args[0]
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
    return ell.name, reduced, {k: n for n, k in enumerate(others)}, summed


def _masked(e: Definition, defs: dict, indicators=frozenset()):
    """(G, exp(ℓ[params])) when the definition E[params] = G·exp(ℓ[params]) with G a product of brackets (the shape
    the checker's ``softmax-sums-to-one`` proves rows of, :func:`evosym.proof.rules.softmax.masked_exponential`) and
    ℓ a shaped definition read at E's own indices; else None."""
    parts = masked_exponential(e, indicators) if e.shape is not None else None
    if parts is None:
        return None
    guards, exp = parts
    read = exp.args[0]
    if not (str(read.base.label) in defs and tuple(read.indices) == tuple(e.params)):
        return None
    return sp.Mul(*guards), exp


def rewrite_softmax(expr: sp.Expr, defs: dict, indicators=frozenset()):
    """(expr with every exp(ℓ[J])·Z[I]⁻¹ replaced by sm[J], {name: Softmax}, {name: Definition}); ``indicators``: the
    inputs declared 0/1 (a key padding mask), which may guard a masked softmax besides brackets."""
    found, new_defs = {}, {}
    reps = {}
    for node in sp.preorder_traversal(expr):
        if not isinstance(node, sp.Mul):
            continue
        exps = [f for f in node.args if isinstance(f, sp.exp) and isinstance(f.args[0], sp.Indexed)]
        for f in node.args:   # E[J] of a masked softmax: its exp(ℓ[J]), the mask G kept with it
            if isinstance(f, sp.Indexed) and str(f.base.label) in defs and _masked(defs[str(f.base.label)], defs, indicators):
                exps.append(f)
        invs = [f for f in node.args if isinstance(f, sp.Pow) and f.exp == -1 and isinstance(f.base, sp.Indexed)
                and str(f.base.base.label) in defs and defs[str(f.base.base.label)].shape is not None]
        for inv in invs:
            z = defs[str(inv.base.base.label)]
            norm = _normaliser(z, defs, indicators)
            if norm is None:
                continue
            ell_name, reduced, to_z, summed = norm
            for ex in exps:
                mask = None
                if (str(ex.base.label) if isinstance(ex, sp.Indexed) else None) != summed:
                    continue   # the numerator is not what Z sums (E over a plain exp, or another mask)
                if isinstance(ex, sp.Indexed):   # E[J] = G[J]·exp(ℓ[J])
                    e_def = defs[summed]
                    guard, inner = _masked(e_def, defs, indicators)
                    mask = guard
                    read = inner.args[0].xreplace(dict(zip(e_def.params, ex.indices)))
                else:
                    read = ex.args[0]
                if str(read.base.label) != ell_name or any(
                        read.indices[k] != inv.base.indices[n] for k, n in to_z.items()):
                    continue
                ell = defs[ell_name]
                if mask is not None:   # G over ℓ's own indices (E's parameters are ℓ's read indices)
                    mask = mask.xreplace(dict(zip(e_def.params, ell.params)))
                name = f"softmax_{ell_name}" if mask is None else f"masked_softmax_{ell_name}"
                if name in found and found[name].mask != mask:
                    continue   # another mask on the same logits: left as written
                if name not in new_defs:
                    z_args = [ell.params[k] for k in sorted(to_z, key=to_z.get)]
                    top = sp.exp(ell.base[ell.params]) if mask is None else mask * sp.exp(ell.base[ell.params])
                    new_defs[name] = Definition(name, ell.params, top / z.base[tuple(z_args)],
                                                f"softmax of {ell_name} over its window axes (stable: max subtracted)"
                                                + ("" if mask is None else ", masked: −∞ where the guard is 0"),
                                                shape=ell.shape)
                    found[name] = Softmax(name, ell_name, reduced[0], len(reduced), mask)
                rest = [f for f in node.args if f is not ex and f is not inv]
                reps[node] = sp.Mul(*rest) * new_defs[name].base[read.indices]
                break
            if node in reps:
                break
    return expr.xreplace(reps), found, new_defs


def _reads(expr: sp.Expr, name: str) -> bool:
    """Whether ``expr`` reads the tensor ``name`` (an indexed read ``name[…]``)."""
    return any(str(r.base.label) == name for r in expr.atoms(sp.Indexed))


def reads_linearly(expr: sp.Expr, name: str) -> bool:
    """Whether every read of the tensor ``name`` in ``expr`` enters it linearly: through sums and as one factor of a
    product, never inside a power, a function, a bracket, a condition or an index. Then setting a weight below the
    smallest normal float to 0 changes ``expr`` by less than that number times the weight's cofactor (the generated
    softmax does so where every read is linear; a log or a square root of the weight would change by far more).
    Reads are indexed reads (``A[i, j]``), as a definition's are."""
    def reads(e):
        return _reads(e, name)

    def linear(e):
        if isinstance(e, sp.Indexed):
            return not any(reads(i) for i in e.indices)   # (the read itself, or another tensor's)
        if isinstance(e, sp.Add):
            return all(linear(a) for a in e.args)
        if isinstance(e, sp.Mul):
            return sum(reads(a) for a in e.args) <= 1 and all(linear(a) for a in e.args)
        if isinstance(e, sp.Sum):
            return linear(e.function) and not any(reads(b) for lim in e.limits for b in lim[1:])
        return not reads(e)
    return linear(expr)


def weights_read_linearly(name: str, expr: sp.Expr, defs: dict, seen: frozenset = frozenset()) -> bool:
    """Whether every read of the tensor ``name`` is linear (:func:`reads_linearly`) in its own expression, K̂
    (``expr``) and each shaped definition that reads it, and each such definition is read so in turn: then its
    subnormal weights may be 0. (A product of two definitions that both read the weights passes: it is w² there,
    whose change is smaller still.)"""
    users = {None: expr, **{d.name: d.body for d in defs.values() if d.shape is not None and d.name != name}}
    for user, body in users.items():
        body = inline_unshaped(body, defs)
        if not _reads(body, name):
            continue
        if not reads_linearly(body, name):
            return False
        if user is not None and (user in seen or not weights_read_linearly(user, expr, defs, seen | {name})):
            return False
    return True
