"""The traditional form against an independent numeric reference (e.g. PyTorch), exactly.

Proof steps only show that the traditional form equals the Evolution form; this check anchors
the traditional form itself to the semantics users rely on. Inputs are random small
integers, so a float64 reference of an integer-valued result is exact and is compared
exactly (unless the operator says its reference rounds, as an FFT does: then within 1e-12); a rational or transcendental result (an average, 1/√d, a sigmoid …: exact symbolic values,
evaluated to 30 digits) is compared within 1e-12 relative error, and the message says which happened.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir.operator import Operator, format_sizes
from ..ir.tensors import in_domain
from .bounded import ExpressionFailure, env_of, evaluate_everywhere, index_text, output_points
from . import poly as P
from .evaluate import Evaluator
from .step import Counterexample


RTOL = 1e-12


@dataclass(frozen=True)
class CheckResult:
    """A named whole-proof check (Evolution match, support of K, reference), with its label."""

    name: str
    ok: bool
    label: str
    message: str
    counterexample: Counterexample | None = None


def check_reference(op: Operator, grid=None, definitions=None, seed: int = 0) -> CheckResult:
    """Compare ``op.traditional`` with ``op.reference`` at every grid shape and output index."""
    grid = op.grid if grid is None else grid
    defs = {d.name: d for d in op.definitions} if definitions is None else definitions
    name = f"reference ({op.reference_name})"
    if op.reference is None:
        return CheckResult(name, False, "bounded", f"operator {op.name} has no reference implementation")
    rng = np.random.default_rng(seed)
    inexact = 0
    for config in grid:
        env = env_of(config)
        shapes = op.shapes_at(env)
        arrays = {t.name: in_domain(t, rng.integers(-3, 4, size=shapes[t.name]).astype(np.int64)) for t in op.tensors}
        ev = Evaluator(shapes, defs, leaf=lambda tensor, idx: int(arrays[tensor][idx]))
        points = output_points(op, env)
        try:
            ours = evaluate_everywhere(op, ev, op.traditional, env, points)
        except ExpressionFailure as f:
            return CheckResult(name, False, "bounded", "the traditional form is ill-formed", f.counterexample)
        try:
            ref = np.asarray(op.reference({k: v.copy() for k, v in arrays.items()}, {str(k): v for k, v in env.items()}))
        except Exception as exc:  # a broken reference fails this check; it never crashes the proof
            return CheckResult(name, False, "bounded", f"the reference raised {type(exc).__name__} at "
                               f"{format_sizes(env)}: {exc}")
        if ref.shape != shapes[op.output.name]:
            return CheckResult(name, False, "bounded", f"the reference's output shape {ref.shape} differs from the "
                               f"declared {shapes[op.output.name]} at {format_sizes(env)}")
        for pt, v in zip(points, ours):
            exact = isinstance(v, int) and not op.reference_rounds
            inexact += not exact
            if not exact:
                v = _float(v)
            if (ref[pt] != v) if exact else not abs(float(ref[pt]) - v) <= RTOL * max(1.0, abs(v)):
                return CheckResult(name, False, "bounded", "the traditional form differs from the reference",
                                   Counterexample(format_sizes(env), index_text(op, pt), f"traditional form = {v}",
                                                  f"{op.reference_name} = {ref[pt]:g}", f"integer inputs in [-3, 3] ([0, 3] for non-negative tensors), seed {seed}"))
    how = "exactly" if not inexact else f"exactly where integer-valued, within {RTOL:g} relative elsewhere"
    if op.reference_rounds:
        how = f"within {RTOL:g} relative (the reference rounds: floating-point FFTs), the traditional form exact"
    return CheckResult(name, True, "bounded", f"traditional form equals {op.reference_name} {how}, on random integer "
                       f"inputs (seed {seed}) at {len(grid)} shapes")


def _float(v) -> float:
    """An exact value (a number, or a symbolic one such as 1/(1 + e^(−3/2))) as a float."""
    if isinstance(v, P.Poly):
        v = P.to_sympy(v).evalf(30)
    return float(v)
