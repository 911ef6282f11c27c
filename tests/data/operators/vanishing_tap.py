"""The identity y = x written with a second tap that vanishes through a relation between numbers the exact evaluator
keeps as atoms (self-test of evosym/proof/support.py, an adversarial pass 2026-12-07). EVOSYM_TEST_TAP chooses the tap's
factor: "trig" sin(m)² + cos(m)² − 1, "exp" exp(m)·exp(1) − exp(m + 1) (through two definitions, so SymPy never
multiplies the exponentials), "sqrt" √2·√(m + 1) − √(2m + 2), "roots" ζ₄ − ζ₈² (i − i, roots of unity of two orders), "subnormal"
e^(m−744)·e⁴ − e^(m−740) (floats in the subnormal range), "undef" f(sin²m + cos²m) − f(1) (an uninterpreted f; no
reference: the reference check cannot evaluate f), "huge" 10⁴⁰⁰·√(m + 2) (not 0: a float overflow is no error).
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
z4 = Definition("z4", (t,), sp.exp(2 * sp.pi * sp.I * t / 4), "ζ₄^t")
z8 = Definition("z8", (t,), sp.exp(2 * sp.pi * sp.I * t / 8), "ζ₈^t")
ea = Definition("ea", (t,), sp.exp(t - 744), "e^(t−744)")
eb = Definition("eb", (t,), sp.exp(t - 740), "e^(t−740)")
f = sp.Function("f")
FACTOR = {"trig": sp.sin(m) ** 2 + sp.cos(m) ** 2 - 1,
          "exp": sp.IndexedBase("e1")[m] * sp.E - sp.IndexedBase("e2")[m],
          "sqrt": sp.sqrt(2) * sp.sqrt(m + 1) - sp.IndexedBase("r2")[m],
          "roots": sp.IndexedBase("z4")[1] - sp.IndexedBase("z8")[2],
          "subnormal": sp.IndexedBase("ea")[m] * sp.E ** 4 - sp.IndexedBase("eb")[m],
          "undef": f(sp.sin(m) ** 2 + sp.cos(m) ** 2) - f(1),
          "huge": sp.Integer(10) ** 400 * sp.sqrt(m + 2)}[TAP]
E = sp.KroneckerDelta(c, o) * (sp.KroneckerDelta(m, i) + sp.KroneckerDelta(m, i + 1) * FACTOR)


def _reference(arrays, sizes):
    return arrays["x"].astype(np.float64).copy()


OPERATOR = Operator(
    name="vanishing_tap", summary="the identity, written with a second tap that is 0 everywhere",
    output=y, lhs_indices=(b, o, i),
    traditional=sp.Sum(E * x[b, c, m], (m, 0, L - 1), (c, 0, C - 1)),
    tensors=(x,), batch=b, out_channel=o, position=(i,), value="x", definitions=(e1, e2, r2, z4, z8, ea, eb),
    sizes=((B, "batch size"), (C, "channels"), (L, "signal length")),
    grid=({B: 1, C: 2, L: 4}, {B: 2, C: 1, L: 3}, {B: 1, C: 1, L: 2}),
    reference=None if TAP in ("undef", "huge") else _reference, reference_name="" if TAP in ("undef", "huge") else "numpy copy",
)


def derive(d):
    d.apply("name-kernel", name="K", channel=c, position=(m,), indices=(o, c, i, m))
    taps = 2 if os.environ.get("EVOSYM_TEST_OMEGA", "two") == "two" else 1
    d.conclude(omega=Window((WindowAxis(taps, 1, 1, 0, L),)), channel=c, neighbour=(m,))
