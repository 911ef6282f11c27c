"""A user operator written from scratch: shift every channel of a 1-D signal right by one position.

    y[b, o, i] = x̃[b, o, i − 1]      with x̃ the zero-padded input (so y[b, o, 0] = 0)

Its Evolution form has K[o, c, i, m] = δ(c, o)·δ(m, i − 1) and Ω(i) = {i − 1} ∩ [0, L).
"""

import numpy as np

from evosym import Definition, InRange, Operator, TensorDecl, Window, WindowAxis, index, size

B, C, L = size("B"), size("C"), size("L")
b, o, i, c, m = (index(s) for s in "b o i c m".split())

x = TensorDecl("x", (B, C, L), "input", "signal (B × C × L)")
y = TensorDecl("y", (B, C, L), "output", "signal shifted right by one position")
x_pad = Definition("x_pad", (b, c, m), InRange(m, 0, L - 1) * x[b, c, m], "zero-padded input")


def _reference(arrays, sizes):
    src = arrays["x"]
    out = np.zeros_like(src)
    out[..., 1:] = src[..., :-1]
    return out


OPERATOR = Operator(
    name="shift1d", summary="shift a 1-D signal right by one position (zero fill)",
    output=y, lhs_indices=(b, o, i), traditional=x_pad[b, o, i - 1],
    tensors=(x,), batch=b, out_channel=o, position=(i,), value="x", definitions=(x_pad,),
    sizes=((B, "batch size"), (C, "channels"), (L, "signal length")),
    grid=({B: 1, C: 2, L: 4}, {B: 2, C: 1, L: 1}, {B: 1, C: 3, L: 3}),
    reference=_reference, reference_name="numpy slice shift",
    description="A parameter-free operator: each output position copies the previous input position.",
)


def derive(d):
    d.apply("unfold-definition", name="x_pad")
    d.apply("introduce-delta", targets=[(o, c, 0, C - 1), (i - 1, m, 0, L - 1)])
    d.apply("name-kernel", name="K", channel=c, position=(m,), indices=(o, c, i, m))
    d.conclude(omega=Window((WindowAxis(1, 1, 1, 1, L),)), channel=c, neighbour=(m,))
