"""Traditional forms that cannot be evaluated (read by tests/test_operator_files.py): FORM selects one."""

import os

import sympy as sp

from evosym import InRange, Operator, TensorDecl, Window, WindowAxis, index, size

B, C, L = size("B"), size("C"), size("L")
b, o, i, c, q = (index(s) for s in "b o i c q".split())
x = TensorDecl("x", (B, C, L), "input", "input")
y = TensorDecl("y", (B, C, L), "output", "output")
FORMS = {
    "mod": sp.Mod(x[b, 0, i], 2),                 # a remainder of a tensor entry
    "bracket": InRange(i, 0, x[b, 0, 0]),         # a bracket whose bound is a tensor entry
    "huge": 2 ** (L * 10 ** 3),                   # beyond float64
}
OPERATOR = Operator(
    name="ill_formed", summary="", output=y, lhs_indices=(b, o, i),
    traditional=FORMS[os.environ.get("FORM", "mod")] + sp.Sum(sp.KroneckerDelta(q, i) * sp.KroneckerDelta(c, o) * x[b, c, q],
                                                              (q, 0, L - 1), (c, 0, C - 1)),
    tensors=(x,), batch=b, out_channel=o, position=(i,), value="x", sizes=((B, "b"), (C, "c"), (L, "l")),
    grid=({B: 1, C: 2, L: 3},), reference=lambda a, s: a["x"], reference_name="identity")


def derive(d):
    d.conclude(omega=Window((WindowAxis(1, 1, 1, 0, L),)), channel=c, neighbour=(q,))
