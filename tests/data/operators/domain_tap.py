"""The identity y = x written with a second tap whose factor is g₁[m] − g₂[m], two definitions with one body F: 0
wherever F has a value, and no value anywhere for the hostile F below (an adversarial pass, 2026-12-07: each was
PROVED and VERIFIED). EVOSYM_TEST_TAP chooses F: "mobius" μ(M) + μ(1 − M) (defined at positive integers only),
"tanh" tanh(π/2·z·(2M − 1)) with z = i (a pole at ±iπ/2), "tanhtrig" tanh(π/2·z·(sin²M + cos²M)), "max"
Max(z·(sin²M + cos²M), 0) and "min" (no order off the real line), "heaviside" Heaviside(z·(sin²M + cos²M)) and
"heavisidez" with the value z at 0, "sqrtmax" Max(√M, 0) (complex where M < 0); and the honest "maxreal" Max(M, 0),
"sign" sign(z·M) (defined at every complex value), "tanhreal" tanh(M), "heaviside0" Heaviside(M, z) (z at M = 0),
which keep their value. EVOSYM_TEST_DOMAIN is M's domain (default "real"); z[t] is
e^(2πi·t/4), z[1] = i."""

import os

import sympy as sp

from evosym import Definition, Operator, TensorDecl, Window, WindowAxis, index, size

B, C, L = size("B"), size("C"), size("L")
b, o, i, c, m, t = (index(s) for s in "b o i c m t".split())
x = TensorDecl("x", (B, C, L), "input", "signal")
M = TensorDecl("M", (L,), "input", "a second input", domain=os.environ.get("EVOSYM_TEST_DOMAIN", "real"))
y = TensorDecl("y", (B, C, L), "output", "the same signal")
Mt, z = sp.IndexedBase("M")[t], sp.IndexedBase("z")[1]
one = sp.sin(Mt) ** 2 + sp.cos(Mt) ** 2
BODY = {"mobius": sp.mobius(Mt) + sp.mobius(1 - Mt), "tanh": sp.tanh(sp.pi / 2 * z * (2 * Mt - 1)),
        "tanhtrig": sp.tanh(sp.pi / 2 * z * one), "max": sp.Max(z * one, 0), "min": sp.Min(z * one, 0),
        "heaviside": sp.Heaviside(z * one), "heavisidez": sp.Heaviside(z * one, z), "heaviside0": sp.Heaviside(Mt, z),
        "sqrtmax": sp.Max(sp.sqrt(Mt), 0),
        "maxreal": sp.Max(Mt, 0), "sign": sp.sign(z * Mt), "tanhreal": sp.tanh(Mt)}[os.environ.get("EVOSYM_TEST_TAP")]
g1, g2 = sp.IndexedBase("g1")[m], sp.IndexedBase("g2")[m]
E = sp.KroneckerDelta(c, o) * (sp.KroneckerDelta(m, i) + sp.KroneckerDelta(m, i + 1) * (g1 - g2))

OPERATOR = Operator(
    name="domain_tap", summary="the identity with a second tap that is 0 wherever it has a value", output=y,
    lhs_indices=(b, o, i), traditional=sp.Sum(E * x[b, c, m], (m, 0, L - 1), (c, 0, C - 1)),
    tensors=(x, M), batch=b, out_channel=o, position=(i,), value="x",
    definitions=(Definition("z", (t,), sp.exp(2 * sp.pi * sp.I * t / 4), "i to the t"),
                 Definition("g1", (t,), BODY, "F(M)"), Definition("g2", (t,), BODY, "F(M) again")),
    sizes=((B, "batch size"), (C, "channels"), (L, "signal length")),
    grid=({B: 1, C: 2, L: 4}, {B: 2, C: 1, L: 3}, {B: 1, C: 1, L: 2}),
)


def derive(d):
    d.apply("name-kernel", name="K", channel=c, position=(m,), indices=(o, c, i, m))
    d.conclude(omega=Window((WindowAxis(1, 1, 1, 0, L),)), channel=c, neighbour=(m,))
