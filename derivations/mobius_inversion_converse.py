"""The converse of Möbius inversion: if f = g ∗ μ then g = f ∗ 1, proved as g ↦ (g ∗ μ) ∗ 1 being the identity.

    f(m)    = (g ∗ μ)(m) = Σ_{e | m} g(e) · μ(m/e)               (a definition)
    y(n)    = (f ∗ 1)(n) = Σ_{d | n} f(n/d),   n = 1 … N

Both sums are written as in mobius_inversion: the outer sum reads the inner function at the quotient n/d
(there, (G ∗ μ)(n) = Σ_{d | n} μ(d)·G(n/d); here the factor 1(d) = 1). The proof takes the same steps as
mobius_inversion's: open f, exchange the sums, swap the two divisor conditions
([d | n]·[e | n/d] = [e | n]·[d | n/e]) and sum μ over the divisors of n/e, here read at the complementary
divisor, Σ_{d | m} μ(m/d) = [m = 1] (rule mobius-sum, whose identity μ ∗ 1 = ε it trusts). The Evolution
kernel is δ(o, c)·δ(e, n): y = g. With mobius_inversion ((f ∗ 1) ∗ μ = f) this proves g = f ∗ 1 ⇔ f = g ∗ μ.
Arithmetic functions are stored from index 0 (g(n) at x[…, n − 1]).
"""

import sympy as sp

from evosym import Definition, Operator, TensorDecl, Window, WindowAxis
from evosym.ir.symbols import index, size
from evosym.proof.rules.divisors import divides

B, C, N = size("B"), size("C"), size("N")
b, o, c, p, d, e, m = (index(t) for t in "b o c p d e m".split())

x = TensorDecl("x", (B, C, N), "input", "the arithmetic function g: x[b, c, n − 1] = g(n), n = 1 … N")
y = TensorDecl("y", (B, C, N), "output", "(g ∗ μ) ∗ 1 at n, stored at y[b, c, n − 1]")
F = Definition("F", (b, c, m), sp.Sum(divides(e + 1, m + 1) * x[b, c, e] * sp.mobius((m + 1) / (e + 1)), (e, 0, N - 1)),
               "f = g ∗ μ: f(m) = Σ_{e | m} g(e)·μ(m/e)", latex="f", text="f", shape=(B, C, N))


def reference(arrays, sizes):
    """Directly, with sympy.divisors and sympy.mobius: f = g ∗ μ, then (f ∗ 1)(n) = Σ_{d | n} f(d), the textbook order
    (independent of the SymPy form, which reads f at n/d)."""
    import numpy as np
    import sympy
    g = arrays["x"]
    n_max = g.shape[-1]
    f = np.zeros_like(g, dtype=np.float64)
    for n in range(1, n_max + 1):
        for dv in sympy.divisors(n):
            f[..., n - 1] += g[..., dv - 1] * int(sympy.mobius(n // dv))
    out = np.zeros_like(f)
    for n in range(1, n_max + 1):
        for dv in sympy.divisors(n):
            out[..., n - 1] += f[..., dv - 1]
    return out


def torch_reference(t, sizes):
    """The composite's matrix M[n, e] = Σ_{d | n} [e | n/d]·μ(n/(d·e)), computed in exact integer arithmetic with
    sympy.divisors and sympy.mobius (never assumed to be the identity), applied to x in torch. Summing the two
    divisor sums in floating point would cancel with rounding errors the numeric checks' bound does not allow for."""
    import sympy
    import torch
    g = t["x"]
    n_max = g.shape[-1]
    mat = [[0] * n_max for _ in range(n_max)]
    for n in range(1, n_max + 1):
        for dv in sympy.divisors(n):
            for ev in sympy.divisors(n // dv):
                mat[n - 1][ev - 1] += int(sympy.mobius(n // (dv * ev)))
    return g @ torch.tensor(mat, dtype=g.dtype, device=g.device).T


OPERATOR = Operator(
    name="mobius_inversion_converse",
    summary="the converse of Möbius inversion: (g ∗ μ) ∗ 1 = g, from μ ∗ 1 = ε, for n = 1 … N",
    output=y, lhs_indices=(b, o, p),
    traditional=sp.Sum(divides(d + 1, p + 1) * F[b, o, (p + 1) / (d + 1) - 1], (d, 0, N - 1)),
    tensors=(x,), batch=b, out_channel=o, position=(p,), value="x", definitions=(F,),
    sizes=((B, "batch size"), (C, "channels"), (N, "the functions' length: n = 1 … N")),
    grid=({B: 1, C: 1, N: 12}, {B: 2, C: 2, N: 6}, {B: 1, C: 1, N: 1}),
    reference=reference, reference_name="two direct sums over sympy.divisors(n), with sympy.mobius",
    torch_reference=torch_reference,
    bench={B: 8, C: 64, N: 1024}, figure={B: 1, C: 1, N: 12},
    description="The other direction of Möbius inversion: if f(n) = Σ_{e|n} g(e)·μ(n/e) (f = g ∗ μ), then "
                "g(n) = Σ_{d|n} f(n/d) = Σ_{d|n} f(d) (g = f ∗ 1). As an Evolution form of g, the composite "
                "(g ∗ μ) ∗ 1 has the kernel K[o,c,n,e] = δ(o,c)·δ(e,n): the identity (static, shared, depthwise, "
                "pointwise, causal). With mobius_inversion it proves g = f ∗ 1 ⇔ f = g ∗ μ. The proof rests on "
                "μ ∗ 1 = ε, the rule mobius-sum, here with μ read at the complementary divisor.",
    citation="Apostol, Introduction to Analytic Number Theory, Theorems 2.1 and 2.9; sympy.mobius, sympy.divisors",
    notes=("General, given the rule mobius-sum's identity Σ_{d|m} μ(d) = [m = 1] (trusted; its proof is in the rule's "
           "statement) and that d ↦ m/d permutes the divisors of m (the rule's complementary-divisor form); every "
           "step is also compared exactly at every n ≤ N of every grid shape.",
           "The outer sum reads f at the quotient, Σ_{d|n} f(n/d), as mobius_inversion's does; Σ_{d|n} f(d) is the "
           "same sum with d ↦ n/d; the reference computes that one (bounded: compared at the grid shapes)."),
)


def derive(dv):
    dv.apply("unfold-definition", name="F")
    dv.apply("move-into-sum", factor=divides(d + 1, p + 1), into=e)
    dv.apply("exchange-sums", outer=[d], inner=[e])
    dv.apply("swap-divisors", n=p + 1, first=d + 1, second=e + 1, within=d)
    dv.apply("factor-out", factor=x[b, o, e] * divides(e + 1, p + 1), over=[d])
    dv.apply("mobius-sum", over=d, n=p + 1, e=e + 1)
    dv.apply("introduce-delta", targets=[(o, c, 0, C - 1)], within=e)
    dv.apply("name-kernel", name="K", channel=c, position=(e,), indices=(o, c, p, e))
    dv.conclude(omega=Window((WindowAxis(1, 1, 1, 0, N),)), channel=c, neighbour=(e,))
