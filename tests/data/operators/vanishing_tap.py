"""The identity y = x written with a second tap that vanishes through a relation between numbers the exact evaluator
keeps as atoms (self-test of evosym/proof/support.py, an adversarial pass 2026-12-07). EVOSYM_TEST_TAP chooses the tap's
factor: "trig" sin(m)² + cos(m)² − 1, "exp" exp(m)·exp(1) − exp(m + 1) (through two definitions, so SymPy never
multiplies the exponentials), "sqrt" √2·√(m + 1) − √(2m + 2), "roots" ζ₄ − ζ₈² (i − i, roots of unity of two orders), "subnormal"
e^(m−744)·e⁴ − e^(m−740) (floats in the subnormal range), "undef" f(sin²m + cos²m) − f(1) (an uninterpreted f; no
reference: the reference check cannot evaluate f), "huge" 10⁴⁰⁰·√(m + 2) (not 0, but beyond floats: undecided),
"tanh", "erf", "sign" of sin²m + cos²m − 1, "log" log(1 + 10⁻⁶⁰) + log(1/(1 + 10⁻⁶⁰)) (0, which SymPy's strict
evaluation gives as 1e-135 or −1.0e-60), "signlog" sign(log(1 + 10⁻⁶⁰) − m·10⁻⁶¹) + 1 and "heavlog"
2·Heaviside(log(1 + 10⁻⁶⁰) − m·10⁻⁶¹) (2, not 0: SymPy's simplification made them 0; declared outside a one-tap Ω
they must be refused), "lift" 10³⁰⁰·(e^(m−740) − (e^((m−740)/2))²) (0; subnormal numbers the coefficient lifts
above the subnormal range: a float evaluation off by 2e-3 called it non-zero), "quotient" d1[m]/d2[m] − 1 and
"quotient1" d1[m]/d2[m] + 1, d1 = d2 = sin²t + cos²t − 1 (0/0: undefined, taken for 0 and for 2 where the quotient
cancelled by a 0 in disguise; both adversarial passes of 2026-12-07). Where the reference is numpy's copy of x,
float64 rounds these the same way.
EVOSYM_TEST_OMEGA = "two" declares the window {i, i + 1}, "one" {i}."""

import os

import numpy as np
import sympy as sp

from evosym import Definition, Operator, TensorDecl, Window, WindowAxis, index, size

B, C, L = size("B"), size("C"), size("L")
b, o, i, c, m, t = (index(s) for s in "b o i c m t".split())
TAP = os.environ.get("EVOSYM_TEST_TAP", "trig")
NO_REFERENCE = ("undef", "huge", "sign", "signlog", "heavlog", "lift", "quotient", "quotient1")   # (numpy evaluates these as float64 does)

x = TensorDecl("x", (B, C, L), "input", "signal")
y = TensorDecl("y", (B, C, L), "output", "the same signal")
e1 = Definition("e1", (t,), sp.exp(t), "e^t")
e2 = Definition("e2", (t,), sp.exp(t + 1), "e^(t+1)")
r2 = Definition("r2", (t,), sp.sqrt(2 * t + 2), "√(2t+2)")
z4 = Definition("z4", (t,), sp.exp(2 * sp.pi * sp.I * t / 4), "ζ₄^t")
z8 = Definition("z8", (t,), sp.exp(2 * sp.pi * sp.I * t / 8), "ζ₈^t")
ea = Definition("ea", (t,), sp.exp(t - 744), "e^(t−744)")
eb = Definition("eb", (t,), sp.exp(t - 740), "e^(t−740)")
sa = Definition("sa", (t,), sp.exp(t - 740), "e^(t−740)")
sh = Definition("sh", (t,), sp.exp((t - 740) / 2), "e^((t−740)/2)")
d1 = Definition("d1", (t,), sp.sin(t) ** 2 + sp.cos(t) ** 2 - 1, "sin²t + cos²t − 1")
d2 = Definition("d2", (t,), sp.sin(t) ** 2 + sp.cos(t) ** 2 - 1, "sin²t + cos²t − 1, again")
f = sp.Function("f")
FACTOR = {"trig": sp.sin(m) ** 2 + sp.cos(m) ** 2 - 1,
          "exp": sp.IndexedBase("e1")[m] * sp.E - sp.IndexedBase("e2")[m],
          "sqrt": sp.sqrt(2) * sp.sqrt(m + 1) - sp.IndexedBase("r2")[m],
          "roots": sp.IndexedBase("z4")[1] - sp.IndexedBase("z8")[2],
          "subnormal": sp.IndexedBase("ea")[m] * sp.E ** 4 - sp.IndexedBase("eb")[m],
          "undef": f(sp.sin(m) ** 2 + sp.cos(m) ** 2) - f(1),
          "huge": sp.Integer(10) ** 400 * sp.sqrt(m + 2),
          "tanh": sp.tanh(sp.sin(m) ** 2 + sp.cos(m) ** 2 - 1),
          "erf": sp.erf(sp.sin(m) ** 2 + sp.cos(m) ** 2 - 1),
          "sign": sp.sign(sp.sin(m) ** 2 + sp.cos(m) ** 2 - 1),
          "log": sp.log(sp.Rational(10**60 + 1, 10**60)) + sp.log(sp.Rational(10**60, 10**60 + 1)),
          "signlog": sp.sign(sp.log(sp.Rational(10**60 + 1, 10**60)) - m * sp.Rational(1, 10**61)) + 1,
          "heavlog": 2 * sp.Heaviside(sp.log(sp.Rational(10**60 + 1, 10**60)) - m * sp.Rational(1, 10**61)),
          "lift": sp.Integer(10) ** 300 * (sp.IndexedBase("sa")[m] - sp.IndexedBase("sh")[m] ** 2),
          "quotient": sp.IndexedBase("d1")[m] / sp.IndexedBase("d2")[m] - 1,
          "quotient1": sp.IndexedBase("d1")[m] / sp.IndexedBase("d2")[m] + 1}[TAP]
E = sp.KroneckerDelta(c, o) * (sp.KroneckerDelta(m, i) + sp.KroneckerDelta(m, i + 1) * FACTOR)


def _reference(arrays, sizes):
    return arrays["x"].astype(np.float64).copy()


OPERATOR = Operator(
    name="vanishing_tap", summary="the identity, written with a second tap that is 0 everywhere",
    output=y, lhs_indices=(b, o, i),
    traditional=sp.Sum(E * x[b, c, m], (m, 0, L - 1), (c, 0, C - 1)),
    tensors=(x,), batch=b, out_channel=o, position=(i,), value="x", definitions=(e1, e2, r2, z4, z8, ea, eb, sa, sh, d1, d2),
    sizes=((B, "batch size"), (C, "channels"), (L, "signal length")),
    grid=({B: 1, C: 2, L: 4}, {B: 2, C: 1, L: 3}, {B: 1, C: 1, L: 2}),
    reference=None if TAP in NO_REFERENCE else _reference, reference_name="" if TAP in NO_REFERENCE else "numpy copy",
)


def derive(d):
    d.apply("name-kernel", name="K", channel=c, position=(m,), indices=(o, c, i, m))
    taps = 2 if os.environ.get("EVOSYM_TEST_OMEGA", "two") == "two" else 1
    d.conclude(omega=Window((WindowAxis(taps, 1, 1, 0, L),)), channel=c, neighbour=(m,))
