"""Self-test hole 28: mobius-sum read Σ_{d=1}^{K+2} [d | n]·μ(d) as [n = 1] with an n that reads d. The variant is
chosen by EVOSYM_TEST_MOBIUS_N (tests/test_mobius_sum_constants.py): "mod2" n = (d mod K) + 2 (the outer ranges alone
proved n ≥ 2 and δ(1, n) folded to 0: PROVED, every step general, for a sum that is −1 at K = 2), "mod1" n = (d mod K) +
1, "reflected" the complementary divisor [d | n]·μ(n/d) with n = (d mod K) + 2. The grid has K = 1 only, where every
variant's sum is the claimed one; the reference is the sum computed directly."""

import os

import sympy as sp

from evosym import Global, Operator, TensorDecl, index, size
from evosym.proof.rules.divisors import divides

B, N, C, K = size("B"), size("N"), size("C"), size("K")
b, n, o, c, m = (index(s) for s in "b n o c m".split())
d = sp.Symbol("d", integer=True, positive=True)
VARIANT = os.environ.get("EVOSYM_TEST_MOBIUS_N", "mod2")
NN = sp.Mod(d, K) + (1 if VARIANT == "mod1" else 2)
MU = sp.mobius(NN / d) if VARIANT == "reflected" else sp.mobius(d)
S = sp.Sum(divides(d, NN) * MU, (d, 1, K + 2))

x = TensorDecl("x", (B, N, C), "input", "tokens")
W = TensorDecl("W", (N, N), "parameter", "token mixing")
y = TensorDecl("y", (B, N, C), "output", "mixed tokens")


def _mu(k):
    return int(sp.mobius(k))


def _sum(k):
    """S at K = k, from its definition."""
    shift = 1 if VARIANT == "mod1" else 2
    terms = [dv for dv in range(1, k + 3) if ((dv % k) + shift) % dv == 0]
    return sum(_mu(((dv % k) + shift) // dv) if VARIANT == "reflected" else _mu(dv) for dv in terms)


def reference(arrays, sizes):
    import numpy as np
    return np.einsum("nm,bmo->bno", arrays["W"], arrays["x"]) * (1 + _sum(int(sizes["K"])))


OPERATOR = Operator(
    name="mobius_dependent", summary="token mixing times 1 + a Möbius sum whose n reads the summed d",
    output=y, lhs_indices=(b, n, o), traditional=sp.Sum(W[n, m] * x[b, m, o] * (1 + S), (m, 0, N - 1)),
    tensors=(x, W), batch=b, out_channel=o, position=(n,), value="x",
    sizes=((B, "batch"), (N, "tokens"), (C, "channels"), (K, "period")),
    grid=({B: 1, N: 3, C: 2, K: 1}, {B: 2, N: 2, C: 1, K: 1}),
    reference=reference, reference_name="the sum computed directly",
)


def derive(dd):
    dd.apply("mobius-sum", over=d, n=NN, e=1)
    dd.apply("introduce-delta", targets=[(o, c, 0, C - 1)], within=m)
    dd.apply("exchange-sums", outer=[m], inner=[c])
    dd.apply("name-kernel", name="Kn", channel=c, position=(m,), indices=(o, c, n, m))
    dd.conclude(omega=Global((N,)), channel=c, neighbour=(m,))
