"""HOSTILE: under δ(c, 0) the kernel reads x at channel 0, which is c there (y = x[b,0,i]³ as "K·v")."""

import sympy as sp

from evosym import Operator, TensorDecl, Window, WindowAxis, index, size

B, C, L = size("B"), size("C"), size("L")
b, o, i, c, q = (index(s) for s in "b o i c q".split())
x = TensorDecl("x", (B, C, L), "input", "input")
y = TensorDecl("y", (B, 1, L), "output", "output")
OPERATOR = Operator(
    name="cube_via_pin", summary="a cube in disguise", output=y, lhs_indices=(b, o, i),
    traditional=sp.Sum(sp.KroneckerDelta(c, 0) * sp.KroneckerDelta(q, i) * x[b, 0, i] ** 2 * x[b, c, q],
                       (q, 0, L - 1), (c, 0, C - 1)),
    tensors=(x,), batch=b, out_channel=o, position=(i,), value="x", sizes=((B, "b"), (C, "c"), (L, "l")),
    grid=({B: 1, C: 2, L: 3}, {B: 2, C: 3, L: 2}),
    reference=lambda a, s: a["x"][:, :1, :] ** 3, reference_name="numpy cube")


def derive(d):
    d.conclude(omega=Window((WindowAxis(1, 1, 1, 0, L),)), channel=c, neighbour=(q,))
