"""A 1-D shift by one (zero outside) whose derive takes one step by hand and leaves the rest to d.auto()."""

import sympy as sp

from evosym import Definition, InRange, Operator, TensorDecl, index, size

B, C, L = size("B"), size("C"), size("L")
b, o, i, m = index("b"), index("o"), index("i"), index("m")
x = TensorDecl("x", (B, C, L), "input", "input")
y = TensorDecl("y", (B, C, L), "output", "output")
x_pad = Definition("x_pad", (b, o, m), InRange(m, 0, L - 1) * x[b, o, m], "zero-padded input")


def _reference(arrays, sizes):
    import numpy as np
    out = np.zeros_like(arrays["x"])
    out[:, :, 1:] = arrays["x"][:, :, :-1]
    return out


OPERATOR = Operator(
    name="shift_auto", summary="shift right by one", output=y, lhs_indices=(b, o, i),
    traditional=x_pad[b, o, i - 1], tensors=(x,), batch=b, out_channel=o, position=(i,), definitions=(x_pad,),
    sizes=((B, "batch"), (C, "channels"), (L, "length")), grid=({B: 1, C: 2, L: 3}, {B: 2, C: 1, L: 4}),
    reference=_reference, reference_name="numpy slice shift",
)


def derive(d):
    d.apply("unfold-definition", name="x_pad")
    d.auto()
