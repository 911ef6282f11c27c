"""Shared by the hostile files that hide a square: y = Σ_c x[b,c,i]², written with K reading x at c through a
sum over t that selects t = c (how it selects is each file's own)."""

import sympy as sp

from evosym import Definition, Operator, TensorDecl, Window, WindowAxis, index, size

B, C, L = size("B"), size("C"), size("L")
b, o, i, c, q, t = (index(s) for s in "b o i c q t".split())
x = TensorDecl("x", (B, C, L), "input", "input")
y = TensorDecl("y", (B, 1, L), "output", "output")


def square_operator(name, selected):
    """``selected``: x[b, t, q] where t = c, written some way (0 elsewhere)."""
    Kd = Definition("Kd", (b, c, i, q), sp.KroneckerDelta(q, i) * sp.Sum(selected, (t, 0, C - 1)))
    return Operator(
        name=name, summary="a sum of squares in disguise", output=y, lhs_indices=(b, o, i),
        traditional=sp.Sum(Kd[b, c, i, q] * x[b, c, q], (q, 0, L - 1), (c, 0, C - 1)), tensors=(x,), batch=b,
        out_channel=o, position=(i,), value="x", definitions=(Kd,), sizes=((B, "b"), (C, "c"), (L, "l")),
        grid=({B: 1, C: 2, L: 3}, {B: 2, C: 3, L: 2}),
        reference=lambda a, s: (a["x"] ** 2).sum(axis=1, keepdims=True), reference_name="sum of squares")


def derive(d):
    d.conclude(omega=Window((WindowAxis(1, 1, 1, 0, L),)), channel=c, neighbour=(q,))
