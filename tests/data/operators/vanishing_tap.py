"""The identity y = x written with a second tap that vanishes through a relation between numbers the exact evaluator
keeps as atoms (self-test of evosym/proof/support.py, an adversarial pass 2026-12-07). EVOSYM_TEST_TAP chooses the tap's
factor: "trig" sin(m)² + cos(m)² − 1, "exp" exp(m)·exp(1) − exp(m + 1) (through two definitions, so SymPy never
multiplies the exponentials), "sqrt" √2·√(m + 1) − √(2m + 2); "plain" 1 − 1 (0 for SymPy at once: the control).
EVOSYM_TEST_OMEGA = "two" declares the window {i, i + 1} (false: the second tap is 0 everywhere), "one" the true {i}."""

import os

import numpy as np
import sympy as sp

from evosym import Definition, Operator, TensorDecl, Window, WindowAxis, index, size

B, C, L = size("B"), size("C"), size("L")
b, o, i, c, m, t = (index(s) for s in "b o i c m t".split())
TAP = os.environ.get("EVOSYM_TEST_TAP", "trig")

x = TensorDecl("x", (B, C, L), "input", "signal")
y = TensorDecl("y", (B, C, L), "output", "the same signal")
e1 = Definition("e1", (t,), sp.exp(t), "e^t")
e2 = Definition("e2", (t,), sp.exp(t + 1), "e^(t+1)")
r2 = Definition("r2", (t,), sp.sqrt(2 * t + 2), "√(2t+2)")
FACTOR = {"trig": sp.sin(m) ** 2 + sp.cos(m) ** 2 - 1,
          "exp": sp.IndexedBase("e1")[m] * sp.E - sp.IndexedBase("e2")[m],
          "sqrt": sp.sqrt(2) * sp.sqrt(m + 1) - sp.IndexedBase("r2")[m]}[TAP]
E = sp.KroneckerDelta(c, o) * (sp.KroneckerDelta(m, i) + sp.KroneckerDelta(m, i + 1) * FACTOR)


def _reference(arrays, sizes):
    return arrays["x"].astype(np.float64).copy()


OPERATOR = Operator(
    name="vanishing_tap", summary="the identity, written with a second tap that is 0 everywhere",
    output=y, lhs_indices=(b, o, i),
    traditional=sp.Sum(E * x[b, c, m], (m, 0, L - 1), (c, 0, C - 1)),
    tensors=(x,), batch=b, out_channel=o, position=(i,), value="x", definitions=(e1, e2, r2),
    sizes=((B, "batch size"), (C, "channels"), (L, "signal length")),
    grid=({B: 1, C: 2, L: 4}, {B: 2, C: 1, L: 3}, {B: 1, C: 1, L: 2}),
    reference=_reference, reference_name="numpy copy",
)


def derive(d):
    d.apply("name-kernel", name="K", channel=c, position=(m,), indices=(o, c, i, m))
    taps = 2 if os.environ.get("EVOSYM_TEST_OMEGA", "two") == "two" else 1
    d.conclude(omega=Window((WindowAxis(taps, 1, 1, 0, L),)), channel=c, neighbour=(m,))
