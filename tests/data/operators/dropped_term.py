"""y = Σ_c δ(c, o)·x[b, c, i] + G[i + L] with a derivation that drops G[i + L] (introduce-delta over [0, L − 1]
never meets i + L; the step's range is not proved, so only the bounded comparison judges it): a false claim wherever
G is not 0. Self-test of the bounded comparison (evosym/proof/bounded.py, adversarial passes 2026-12-07): SymPy's
simplification, asked where the exact check keeps atoms, reads log(1 + 10⁻⁶⁰) as 0 and so the sign of
D = log(1 + 10⁻⁶⁰) − t·10⁻⁶¹ (> 0 for t ≤ 9) as negative. EVOSYM_TEST_BODY chooses G[t]: "sign" sign(D) + 1 (2),
"sqrt" √t·√D − √(−t)·√(−D) (2√(tD)), "log" log D − log(−D) + log t − log(−t) (−2πi), "quotient" d1[t]/d2[t] − 1 with
d1 = d2 = sin²t + cos²t − 1 (0/0: undefined); with e1 = e2 = sin²W[t − L] + cos²W[t − L] − 1 (0 for every W), "inv"
1/e1 − 1/e2, "logzero" log e1 − log e2, "rsqrt" e1^(−1/2) − e2^(−1/2) (no value for any input: two equal atoms, an exact 0 to the comparison). Each printed PROVED before the mends."""

import os

import sympy as sp

from evosym import Definition, Operator, TensorDecl, Window, WindowAxis, index, size

B, C, L = size("B"), size("C"), size("L")
b, o, i, c, m, q, t = (index(s) for s in "b o i c m q t".split())
X = sp.IndexedBase("x")
D = sp.log(sp.Rational(10**60 + 1, 10**60)) - t * sp.Rational(1, 10**61)
ZERO = sp.sin(t) ** 2 + sp.cos(t) ** 2 - 1
W = sp.IndexedBase("W")[t - L]
E1, E2 = sp.IndexedBase("e1")[t], sp.IndexedBase("e2")[t]
BODY = {"sign": sp.sign(D) + 1,
        "sqrt": sp.sqrt(t) * sp.sqrt(D) - sp.sqrt(-t) * sp.sqrt(-D),
        "log": sp.log(D) - sp.log(-D) + sp.log(t) - sp.log(-t),
        "quotient": sp.IndexedBase("d1")[t] / sp.IndexedBase("d2")[t] - 1,
        "inv": 1 / E1 - 1 / E2, "logzero": sp.log(E1) - sp.log(E2), "rsqrt": E1 ** sp.Rational(-1, 2) - E2 ** sp.Rational(-1, 2)}[os.environ.get("EVOSYM_TEST_BODY", "sign")]

x = TensorDecl("x", (B, C, L), "input", "signal")
y = TensorDecl("y", (B, C, L), "output", "x plus G[i + L]")
OPERATOR = Operator(
    name="dropped_term", summary="x plus a term a step drops", output=y, lhs_indices=(b, o, i),
    traditional=sp.Sum(sp.KroneckerDelta(c, o) * X[b, c, i], (c, 0, C - 1)) + sp.IndexedBase("G")[i + L],
    tensors=(x, TensorDecl("W", (L,), "parameter", "weights")), batch=b, out_channel=o, position=(i,), value="x",
    definitions=(Definition("G", (t,), BODY, "the dropped term"), Definition("d1", (t,), ZERO, "0"),
                 Definition("d2", (t,), ZERO, "0 again"), Definition("e1", (t,), sp.sin(W) ** 2 + sp.cos(W) ** 2 - 1, "0"),
                 Definition("e2", (t,), sp.sin(W) ** 2 + sp.cos(W) ** 2 - 1, "0 again")),
    sizes=((B, "batch"), (C, "channels"), (L, "length")),
    grid=({B: 1, C: 2, L: 3}, {B: 2, C: 1, L: 2}),
)


def derive(d):
    d.apply("introduce-delta", targets=[(i + L, m, 0, L - 1)])
    d.apply("introduce-delta", targets=[(i, q, 0, L - 1)], within=c)
    d.apply("name-kernel", name="K", channel=c, position=(q,), indices=(o, c, i, q))
    d.conclude(omega=Window((WindowAxis(1, 1, 1, 0, L),)), channel=c, neighbour=(q,))
