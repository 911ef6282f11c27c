"""Diagnoses derived from the operator's structure: the candidate compared with mutants of the operator.

Each mutant changes one thing in the operator's SymPy form, found by its structure (never per operator):

- a channel read through a block index ⌊o/k⌋ read as o mod G instead (interleaved groups or heads);
- a factor 1/√n in a definition (the attention scale inside the softmax) left out, or applied twice;
- one additive term of a definition left out (a forgotten attention mask or position bias);
- a softmax normalised over another axis of its logits than the window (the wrong ``dim``).

Each mutant is evaluated numerically (evosym.proof's evaluator, float) at a small configuration of the
domain on one input, with the candidate's weights; a diagnosis says the candidate equals a mutant there
and the mutant differs from the operator. The unmutated form is evaluated too and must match the
operator's generated code, or nothing is claimed.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..ir.tensors import Definition
from ..proof.bounded import evaluate_everywhere, output_points
from ..proof.evaluate import Evaluator

MAX_POINTS = 400    # output entries of the small configuration (each mutant is evaluated at every one)


def _short(e, width=48) -> str:
    s = sp.sstr(e)
    return s if len(s) <= width else s[:width - 1] + "…"


def mutants(op):
    """(label, traditional form, definitions by name) for every structural mutant of ``op``."""
    defs = {d.name: d for d in op.definitions}
    out = []
    dims = dict(zip(op.lhs_indices, op.output.shape))
    # 1. ⌊o/k⌋ → o mod (dim/k): interleaved groups
    exprs = [("", op.traditional)] + [(d.name, d.body) for d in op.definitions]
    seen = set()
    for where, e in exprs:
        for node in sp.preorder_traversal(e):
            if isinstance(node, sp.floor):
                arg = node.args[0]
                for o in arg.free_symbols & set(dims):
                    k = sp.simplify(o / arg)
                    if k.free_symbols & set(op.lhs_indices) or node in seen:
                        continue
                    groups = sp.simplify(dims[o] / k)
                    if not groups.is_integer and not groups.free_symbols:
                        continue
                    seen.add(node)
                    alt = sp.Mod(o, groups)
                    label = (f"matches the operator with {o} mod {groups} where it has ⌊{o}/{k}⌋ (interleaved groups or "
                             f"heads: channel {o} in group {o} mod {groups} instead of contiguous blocks)")
                    out.append((label, op.traditional.xreplace({node: alt}),
                                {n: _replace(d, {node: alt}) for n, d in defs.items()}))
    for d in op.definitions:
        body = d.body
        # 2. a factor 1/√n left out or applied twice
        for node in sp.preorder_traversal(body):
            if isinstance(node, sp.Pow) and node.exp == sp.Rational(-1, 2) and node.base.free_symbols:
                for how, new in (("without", sp.Integer(1)), ("with twice", node ** 2)):
                    label = (f"matches the operator {how} the factor 1/√{node.base} in {d.name} (the scale inside the "
                             f"softmax {'missing' if how == 'without' else 'applied twice'}?)")
                    out.append((label, op.traditional, {**defs, d.name: _body(d, body.xreplace({node: new}))}))
                break
        # 3. one additive term left out
        if isinstance(body, sp.Add) and len(body.args) >= 2:
            for term in body.args:
                what = "a mask" if term.has(sp.KroneckerDelta) else "a bias or positional term"
                label = f"matches the operator with the term {_short(term)} left out of {d.name} ({what} forgotten?)"
                out.append((label, op.traditional, {**defs, d.name: _body(d, body - term)}))
    # 4. softmax over another axis
    out += _softmax_axes(op, defs)
    return out


def _softmax_axes(op, defs):
    out = []
    for d in op.definitions:
        num, den = d.body.as_numer_denom()
        if not (isinstance(num, sp.exp) and isinstance(num.args[0], sp.Indexed) and isinstance(den, sp.Indexed)):
            continue
        logit_read, z_read = num.args[0], den
        z = defs.get(str(z_read.base.label))
        lg = defs.get(str(logit_read.base.label))
        if z is None or lg is None or lg.shape is None or not isinstance(z.body, sp.Sum):
            continue
        args = list(logit_read.indices)
        free = [k for k, a in enumerate(args) if a in z_read.indices]     # the axes the softmax keeps
        taps = [k for k in range(len(args)) if k not in free]
        choices = [[k] for k in free[1:]]
        if len(free) > 3:
            choices.append(free[2:])
        for axes in choices:
            fresh = [sp.Symbol(f"_a{k}", integer=True) for k in axes]
            read = logit_read.base[tuple(fresh[axes.index(k)] if k in axes else a for k, a in enumerate(args))]
            limits = [(s, 0, lg.shape[k] - 1) for s, k in zip(fresh, axes)]
            alt = sp.Sum(sp.exp(read), *limits)
            body = num / alt
            names = ", ".join(str(args[k]) for k in axes)
            label = (f"matches the operator with the softmax of {lg.name} normalised over {names} instead of over "
                     f"{', '.join(str(args[k]) for k in taps)} (softmax over the wrong axis?)")
            out.append((label, op.traditional, {**defs, d.name: _body(d, body)}))
    return out


def _body(d: Definition, body) -> Definition:
    return Definition(d.name, d.params, body, d.description, latex=d.latex, text=d.text, shape=d.shape)


def _replace(d: Definition, mapping) -> Definition:
    body = d.body.xreplace(mapping)
    return d if body == d.body else _body(d, body)


def _evaluate(op, env, arrays, traditional, defs, points):
    shapes = op.shapes_at(env)
    ev = Evaluator(shapes, defs, leaf=lambda name, idx: float(arrays[name][idx]), numeric=True,
                   sizes=op.size_symbols())
    vals = evaluate_everywhere(op, ev, traditional, env, points)
    out = np.array([complex(v).real if isinstance(v, complex) else float(v) for v in vals], dtype=np.float64)
    return out.reshape(shapes[op.output.name])


def structural(op, env, arrays, y_operator, y_candidate) -> list[str]:
    """The first mutant the candidate matches at ``env`` (sizes), on ``arrays`` (every declared tensor, float64
    NumPy), given the operator's generated output and the candidate's there (a list of at most one)."""
    points = output_points(op, env)
    if len(points) > MAX_POINTS:
        return []
    y_op, y_c = np.asarray(y_operator, dtype=np.float64), np.asarray(y_candidate, dtype=np.float64)
    scale = 1e-7 * (1 + np.abs(y_op).max())

    def close(a, b):
        return a.shape == b.shape and bool(np.all(np.abs(a - b) <= scale))
    try:
        base = _evaluate(op, env, arrays, op.traditional, {d.name: d for d in op.definitions}, points)
    except Exception:  # noqa: BLE001 - the evaluator cannot read this form: claim nothing
        return []
    if not close(base, y_op) or close(y_c, y_op):
        return []
    for label, traditional, defs in mutants(op):
        try:
            y_m = _evaluate(op, env, arrays, traditional, defs, points)
        except Exception:  # noqa: BLE001 - a mutant that cannot be evaluated explains nothing
            continue
        if close(y_m, y_c) and not close(y_m, base):
            return [label]     # the first explanation (mutants are tried from the most common bug on)
    return []
