"""The identity y = x written with a second tap whose factor reads an input M declared an indicator (every entry 0 or
1). Self-test of "not identically 0" over the declared domain (evosym/proof/magnitude.py, an adversarial pass
2026-12-07): M − M² is a non-zero polynomial but 0 at every 0/1 entry, and it was counted in K's support; 1/e₁ − 1/e₂
and log e₁ − log e₂ with e = M − M² (two definitions) were read as defined. EVOSYM_TEST_TAP chooses the factor: "poly"
M − M², "inv" 1/e₁ − 1/e₂, "log" log e₁ − log e₂, "sinpi" sin(π·M), "row" (1 − N[0])·(1 − N[1]) for an
indicator N of one row of two (a 1 in every row), "lead" M[0] − 1 (with EVOSYM_TEST_DOMAIN = "leading_indicator": its
first entry is 1), "undef" f(M²) − f(M) for an undefined f, "joint" 1/(e₃(1 − e₃)) − 1/(e₄(1 − e₄)) with
e₃ = e₄ = M (1/M and 1/(1 − M) each have a value somewhere, never both) (each 0 or undefined for every admissible input), "open" 1 − M (1 where M is 0: in the support). EVOSYM_TEST_DOMAIN = "indicator" (default) or "real" (then M − M² is 0 at
some inputs only); EVOSYM_TEST_OMEGA = "two" declares the window {i, i + 1}, "one" {i}."""

import os

import sympy as sp

from evosym import Definition, Operator, TensorDecl, Window, WindowAxis, index, size

B, C, L = size("B"), size("C"), size("L")
b, o, i, c, m, t = (index(s) for s in "b o i c m t".split())
x = TensorDecl("x", (B, C, L), "input", "signal")
M = TensorDecl("M", (L,), "input", "a 0/1 mask", domain=os.environ.get("EVOSYM_TEST_DOMAIN", "indicator"))
y = TensorDecl("y", (B, C, L), "output", "the same signal")
Mm, Mt = sp.IndexedBase("M")[m], sp.IndexedBase("M")[t]
e1, e2, e3, e4 = (sp.IndexedBase(f"e{k}")[m] for k in (1, 2, 3, 4))
Nb = sp.IndexedBase("N")
FACTOR = {"poly": Mm - Mm ** 2, "inv": 1 / e1 - 1 / e2, "log": sp.log(e1) - sp.log(e2), "sinpi": sp.sin(sp.pi * Mm),
          "row": (1 - Nb[0]) * (1 - Nb[1]), "lead": sp.IndexedBase("M")[0] - 1,
          "undef": sp.Function("f")(Mm ** 2) - sp.Function("f")(Mm),
          "joint": 1 / (e3 * (1 - e3)) - 1 / (e4 * (1 - e4)),
          "open": 1 - Mm}[os.environ.get("EVOSYM_TEST_TAP", "poly")]
E = sp.KroneckerDelta(c, o) * (sp.KroneckerDelta(m, i) + sp.KroneckerDelta(m, i + 1) * FACTOR)

OPERATOR = Operator(
    name="indicator_tap", summary="the identity with a second tap that reads an indicator", output=y,
    lhs_indices=(b, o, i), traditional=sp.Sum(E * x[b, c, m], (m, 0, L - 1), (c, 0, C - 1)),
    tensors=(x, M, TensorDecl("N", (2,), "input", "a 0/1 mask of one row", domain="indicator")), batch=b, out_channel=o, position=(i,), value="x",
    definitions=(Definition("e1", (t,), Mt - Mt ** 2, "0 on 0/1"), Definition("e2", (t,), Mt - Mt ** 2, "0 on 0/1"),
                 Definition("e3", (t,), Mt, "M"), Definition("e4", (t,), Mt, "M again")),
    sizes=((B, "batch size"), (C, "channels"), (L, "signal length")),
    grid=({B: 1, C: 2, L: 4}, {B: 2, C: 1, L: 3}, {B: 1, C: 1, L: 2}),
)


def derive(d):
    d.apply("name-kernel", name="K", channel=c, position=(m,), indices=(o, c, i, m))
    taps = 2 if os.environ.get("EVOSYM_TEST_OMEGA", "two") == "two" else 1
    d.conclude(omega=Window((WindowAxis(taps, 1, 1, 0, L),)), channel=c, neighbour=(m,))
