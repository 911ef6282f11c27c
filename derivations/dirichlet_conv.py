"""Dirichlet convolution of arithmetic functions, one function f per channel applied to the input g.

    y[b, c, n] = (f ∗ g)(n) = Σ_{d | n} f(d) · g(n/d),   n = 1 … N

Arithmetic functions of 1 … N are stored from index 0: g(n) is x[b, c, n − 1], f(d) is f[c, d − 1], so
output position p is n = p + 1, and the divisor guard [d | n] is δ((p + 1) mod (d + 1), 0). The proof
reads the quotient g(n/d) through the delta δ(d·m, n) (rule divisor-delta: the quotient is an integer
only where d divides n), then exchanges the sums: the Evolution kernel is
K[o, c, p, m] = δ(o, c)·Σ_d δ((d + 1)(m + 1), p + 1)·f[c, d] = δ(o, c)·f(n/(m + 1)) on
Ω(p) = {m : (m + 1) | (p + 1)}, the divisors of n (an index set, not a window).
"""

import functools

import sympy as sp

from evosym import IndexSet, Operator, TensorDecl
from evosym.ir.symbols import index, size
from evosym.proof.rules.divisors import divides

B, C, N = size("B"), size("C"), size("N")
b, o, c, p, d, m = (index(t) for t in "b o c p d m".split())

x = TensorDecl("x", (B, C, N), "input", "the arithmetic function g: x[b, c, n − 1] = g(n), n = 1 … N")
f = TensorDecl("f", (C, N), "parameter", "each channel's arithmetic function f: f[c, d − 1] = f(d)",
               torch_name="weight")
y = TensorDecl("y", (B, C, N), "output", "(f ∗ g)(n) at y[b, c, n − 1]")


def dirichlet_reference(arrays, sizes):
    """Direct: for each n, sum f(d)·g(n/d) over sympy.divisors(n) (independent of the SymPy form)."""
    import numpy as np
    import sympy
    xs, fs = arrays["x"], arrays["f"]
    out = np.zeros(xs.shape, dtype=np.float64)
    for n in range(1, xs.shape[-1] + 1):
        for dv in sympy.divisors(n):
            out[..., n - 1] += fs[None, :, dv - 1] * xs[..., n // dv - 1]
    return out


@functools.lru_cache(maxsize=8)
def _divisor_pairs(n_max):
    """Every (n, d) with d | n ≤ n_max, as three index rows (n − 1, d − 1, n/d − 1): sympy.divisors of each n
    (kept between calls, as a module keeps its index buffers)."""
    import sympy
    pairs = [(n - 1, dv - 1, n // dv - 1) for n in range(1, n_max + 1) for dv in sympy.divisors(n)]
    return tuple(zip(*pairs))   # (plain integers: a tensor kept here would carry the first call's mode, inference or fake)


def torch_reference(t, sizes):
    """The same direct sum in torch ops, every term f(d)·g(n/d) at once: gathered, then added into its n (for the
    checks of generated code; as a user vectorises it: one product per term, and a backward of the same size)."""
    import torch
    xs, fs = t["x"], t["f"]
    at, dv, quotient = (torch.tensor(r, device=xs.device) for r in _divisor_pairs(xs.shape[-1]))
    terms = fs[:, dv] * xs[..., quotient]
    return terms.new_zeros(xs.shape).index_add(-1, at, terms)


OMEGA = IndexSet((p,), (m,), sp.Eq(sp.Mod(p + 1, m + 1), 0), (N,), bound=N)

OPERATOR = Operator(
    name="dirichlet_conv",
    summary="Dirichlet convolution (f ∗ g)(n) = Σ_{d|n} f(d)·g(n/d), n = 1 … N: Ω(n) is the divisors of n",
    output=y, lhs_indices=(b, o, p),
    traditional=sp.Sum(divides(d + 1, p + 1) * f[o, d] * x[b, o, (p + 1) / (d + 1) - 1], (d, 0, N - 1)),
    tensors=(x, f), batch=b, out_channel=o, position=(p,), value="x",
    sizes=((B, "batch size"), (C, "channels (each with its own f)"), (N, "the functions' length: n = 1 … N")),
    grid=({B: 1, C: 1, N: 12}, {B: 2, C: 2, N: 6}, {B: 1, C: 1, N: 1}),
    reference=dirichlet_reference, reference_name="a direct sum over sympy.divisors(n)",
    torch_reference=torch_reference,
    bench={B: 8, C: 64, N: 4096}, figure={B: 1, C: 1, N: 12},
    description="The product of arithmetic functions in number theory (Dirichlet series multiply this way): output "
                "n sums f(d)·g(n/d) over the divisors d of n. As an Evolution form K[o,c,n,m] = δ(o,c)·f(n/m) on "
                "Ω(n) = the divisors of n: static, position-specific (f(n/m) is not a function of n − m), "
                "depthwise, |Ω(n)| = the number of divisors of n, and causal (a divisor of n is at most n).",
    citation="Apostol, Introduction to Analytic Number Theory, ch. 2 (Dirichlet product); sympy.divisors",
    notes=("Arithmetic functions start at 1; the tensors store them from index 0 (g(n) at x[…, n − 1]).",
           "The generated code gathers over a precomputed list of the (n, d) divisor pairs (Σ_n d(n) ≈ N·ln N of "
           "them); it never builds the N×N kernel."),
)


def derive(dv):
    dv.apply("divisor-delta", n=p + 1, divisor=d + 1, shift=1, var=m, lo=0, hi=N - 1, within=d)
    dv.apply("introduce-delta", targets=[(o, c, 0, C - 1)], within=m)
    dv.apply("exchange-sums", outer=[d], inner=[m, c])
    dv.apply("factor-out", factor=sp.IndexedBase("x")[b, c, m], over=[d])
    dv.apply("name-kernel", name="K", channel=c, position=(m,), indices=(o, c, p, m))
    dv.conclude(omega=OMEGA, channel=c, neighbour=(m,))
