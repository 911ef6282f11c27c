"""Möbius inversion: if g = f ∗ 1 then f = g ∗ μ, proved as the operator f ↦ (f ∗ 1) ∗ μ being the identity.

    G(m)    = (f ∗ 1)(m) = Σ_{e | m} f(e)                       (the summatory function, a definition)
    y(n)    = (G ∗ μ)(n) = Σ_{d | n} μ(d) · G(n/d),   n = 1 … N

The proof opens G, exchanges the sums, swaps the two divisor conditions ([d | n]·[e | n/d] =
[e | n]·[d | n/e]: both say d·e | n) and sums the Möbius function over the divisors of n/e
(μ ∗ 1 = ε: Σ_{d | m} μ(d) = [m = 1]). The Evolution kernel is δ(o, c)·δ(e, n): y = f, the identity.
Arithmetic functions are stored from index 0 (f(n) at x[…, n − 1]), as in dirichlet_conv.
"""

import sympy as sp

from evosym import Definition, Operator, TensorDecl, Window, WindowAxis
from evosym.ir.symbols import index, size
from evosym.proof.rules.divisors import divides

B, C, N = size("B"), size("C"), size("N")
b, o, c, p, d, e, m = (index(t) for t in "b o c p d e m".split())

x = TensorDecl("x", (B, C, N), "input", "the arithmetic function f: x[b, c, n − 1] = f(n), n = 1 … N")
y = TensorDecl("y", (B, C, N), "output", "(f ∗ 1) ∗ μ at n, stored at y[b, c, n − 1]")
G = Definition("G", (b, c, m), sp.Sum(divides(e + 1, m + 1) * x[b, c, e], (e, 0, N - 1)),
               "g = f ∗ 1, the summatory function: g(m) = Σ_{e | m} f(e)", latex="g", text="g", shape=(B, C, N))


def reference(arrays, sizes):
    """Directly, with sympy.divisors and sympy.mobius: g = f ∗ 1, then g ∗ μ (independent of the SymPy form)."""
    import numpy as np
    import sympy
    f = arrays["x"]
    n_max = f.shape[-1]
    g = np.zeros_like(f, dtype=np.float64)
    for n in range(1, n_max + 1):
        for dv in sympy.divisors(n):
            g[..., n - 1] += f[..., dv - 1]
    out = np.zeros_like(g)
    for n in range(1, n_max + 1):
        for dv in sympy.divisors(n):
            out[..., n - 1] += int(sympy.mobius(dv)) * g[..., n // dv - 1]
    return out


def torch_reference(t, sizes):
    """The composite's matrix M[n, e] = Σ_{d | n} μ(d)·[e | n/d], computed in exact integer arithmetic with
    sympy.divisors and sympy.mobius (never assumed to be the identity), applied to x in torch. Summing the
    two divisor sums in floating point instead would cancel with rounding errors the numeric checks'
    bound (which assumes terms of one sign) does not allow for."""
    import sympy
    import torch
    f = t["x"]
    n_max = f.shape[-1]
    mat = [[0] * n_max for _ in range(n_max)]
    for n in range(1, n_max + 1):
        for dv in sympy.divisors(n):
            for ev in sympy.divisors(n // dv):
                mat[n - 1][ev - 1] += int(sympy.mobius(dv))
    return f @ torch.tensor(mat, dtype=f.dtype, device=f.device).T


OPERATOR = Operator(
    name="mobius_inversion",
    summary="Möbius inversion: (f ∗ 1) ∗ μ = f, from μ ∗ 1 = ε (Σ_{d|m} μ(d) = [m = 1]), for n = 1 … N",
    output=y, lhs_indices=(b, o, p),
    traditional=sp.Sum(divides(d + 1, p + 1) * sp.mobius(d + 1) * G[b, o, (p + 1) / (d + 1) - 1], (d, 0, N - 1)),
    tensors=(x,), batch=b, out_channel=o, position=(p,), value="x", definitions=(G,),
    sizes=((B, "batch size"), (C, "channels"), (N, "the functions' length: n = 1 … N")),
    grid=({B: 1, C: 1, N: 12}, {B: 2, C: 2, N: 6}, {B: 1, C: 1, N: 1}),
    reference=reference, reference_name="two direct sums over sympy.divisors(n), with sympy.mobius",
    torch_reference=torch_reference,
    bench={B: 8, C: 64, N: 1024}, figure={B: 1, C: 1, N: 12},
    description="Möbius inversion of arithmetic functions: the summatory function g(n) = Σ_{e|n} f(e) determines f, "
                "f(n) = Σ_{d|n} μ(d)·g(n/d). As an Evolution form of f, the composite (f ∗ 1) ∗ μ has the kernel "
                "K[o,c,n,e] = δ(o,c)·δ(e,n): the identity (static, shared, depthwise, pointwise, causal). The proof "
                "rests on μ ∗ 1 = ε, the rule mobius-sum.",
    citation="Apostol, Introduction to Analytic Number Theory, Theorems 2.1 and 2.9; sympy.mobius, sympy.divisors",
    notes=("General, given the rule mobius-sum's identity Σ_{d|m} μ(d) = [m = 1] (trusted, like roots-of-unity-sum's "
           "orthogonality; its proof is in the rule's statement); every step is also compared exactly at every "
           "n ≤ N of every grid shape, and the tests compare the identity itself for every m ≤ 2000.",
           "The converse, (g ∗ μ) ∗ 1 = g, is proved by mobius_inversion_converse: together g = f ∗ 1 ⇔ f = g ∗ μ."),
)


def derive(dv):
    dv.apply("unfold-definition", name="G")
    dv.apply("move-into-sum", factor=divides(d + 1, p + 1) * sp.mobius(d + 1), into=e)
    dv.apply("exchange-sums", outer=[d], inner=[e])
    dv.apply("swap-divisors", n=p + 1, first=d + 1, second=e + 1, within=d)
    dv.apply("factor-out", factor=x[b, o, e] * divides(e + 1, p + 1), over=[d])
    dv.apply("mobius-sum", over=d, n=p + 1, e=e + 1)
    dv.apply("introduce-delta", targets=[(o, c, 0, C - 1)], within=e)
    dv.apply("name-kernel", name="K", channel=c, position=(e,), indices=(o, c, p, e))
    dv.conclude(omega=Window((WindowAxis(1, 1, 1, 0, N),)), channel=c, neighbour=(e,))
