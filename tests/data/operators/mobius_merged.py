"""y[b, o, i] = Σ_{a=1}^{L} x[b, o, a − 1] + (S − 1)(S − 2)·Σ_{e=1}^{L} μ(2e)·x[b, o, e − 1], the sums merged over a
(declared positive: its range starts at 1). SymPy's own fold made μ(2a) −1 (μ(4) = 0), and the false kernel was
PROVED, every step general (an adversarial pass); evosym keeps μ(2a), and the grid's S = 3 shows the term.
With EVOSYM_TEST_FOLD=sympy the file restores SymPy's fold in its own process before it derives."""

import os

import sympy as sp

from evosym import Global, Operator, TensorDecl, index, size

B, C, L, S = (size(n) for n in ("B", "C", "L", "S"))
b, o, i, c, m, e = (index(n) for n in ("b", "o", "i", "c", "m", "e"))
a = sp.Symbol("a", integer=True, positive=True)
x = TensorDecl("x", (B, C, L), "input", "input")
y = TensorDecl("y", (B, C, L), "output", "output")
REINDEX = os.environ.get("EVOSYM_TEST_MOBIUS") == "reindex"   # (else the two sums merged)


def reference(arrays, sizes):
    """Σ_k (1 + (S − 1)(S − 2)·μ(2k))·x[b, o, k − 1], with SymPy's μ at integers."""
    import numpy as np
    import sympy
    X = arrays["x"].astype(float)
    s = (sizes["S"] - 1) * (sizes["S"] - 2)
    out = sum((1 + s * int(sympy.mobius(2 * k))) * X[:, :, k - 1:k] for k in range(1, sizes["L"] + 1))
    return np.broadcast_to(out, X.shape).copy()


if REINDEX:   # one sum, reindexed e = a
    TRADITIONAL = sp.Sum((1 + (S - 1) * (S - 2) * sp.mobius(2 * e)) * x[b, o, e - 1], (e, 1, L))
else:
    TRADITIONAL = sp.Sum(x[b, o, a - 1], (a, 1, L)) + (S - 1) * (S - 2) * sp.Sum(sp.mobius(2 * e) * x[b, o, e - 1],
                                                                                  (e, 1, L))

OPERATOR = Operator(
    name="mobius_merged", summary="two sums merged, one reading μ(2e)",
    output=y, lhs_indices=(b, o, i), traditional=TRADITIONAL,
    tensors=(x,), batch=b, out_channel=o, position=(i,),
    sizes=((B, "batch"), (C, "channels"), (L, "length"), (S, "a scale")),
    grid=({B: 1, C: 2, L: 3, S: 1}, {B: 2, C: 1, L: 4, S: 3}, {B: 1, C: 1, L: 6, S: 4}),
    reference=reference, reference_name="direct numpy with sympy.mobius at integers",
)


def derive(d):
    if os.environ.get("EVOSYM_TEST_FOLD") == "sympy":
        from evosym.ir import numbers
        sp.mobius.eval = classmethod(numbers._SYMPY_EVAL)
        sp.core.cache.clear_cache()
    if REINDEX:
        d.apply("reindex-sum", var=e, new=a, expr_of_new=a)
    else:
        d.apply("move-into-sum", factor=(S - 1) * (S - 2), into=e)
        d.apply("merge-sums", first=a, second=e, common=x[b, o, a - 1])
    d.apply("introduce-delta", targets=[(o, c, 0, C - 1), (a - 1, m, 0, L - 1)], within=a)
    d.apply("exchange-sums", outer=[a], inner=[m, c])
    d.apply("factor-out", factor=x[b, c, m], over=[a])
    d.apply("name-kernel", name="K", channel=c, position=(m,), indices=(o, c, i, m))
    d.conclude(omega=Global((L,)), channel=c, neighbour=(m,))
