"""A feature map squared pointwise: y = x², not linear in x, so not an Evolution form with v = x."""

import sympy as sp

from evosym import Operator, TensorDecl, index, size

B, C, L = size("B"), size("C"), size("L")
b, o, i = index("b"), index("o"), index("i")
x = TensorDecl("x", (B, C, L), "input", "input")
y = TensorDecl("y", (B, C, L), "output", "output")

OPERATOR = Operator(
    name="square_map", summary="pointwise square", output=y, lhs_indices=(b, o, i),
    traditional=x[b, o, i] * x[b, o, i], tensors=(x,), batch=b, out_channel=o, position=(i,),
    sizes=((B, "batch"), (C, "channels"), (L, "length")), grid=({B: 1, C: 2, L: 3},),
)
