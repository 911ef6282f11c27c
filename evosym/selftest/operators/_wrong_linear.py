"""A linear layer with a WRONG derivation (introduce-delta keeps n in [0, N − 2]: the last token is lost).

Shared by the hostile operator files of the self-test and of the tests, which each add one attack on the
checker to it; on its own it is an ordinary failed proof. The leading underscore keeps it out of the lists
of worked operator files.
"""

import sympy as sp

from evosym import Operator, TensorDecl, Window, WindowAxis, index, size

B, N, C, O = size("B"), size("N"), size("C"), size("O")
b, n, o, c, q = (index(s) for s in "b n o c q".split())
x = TensorDecl("x", (B, N, C), "input", "tokens, channels last")
W = TensorDecl("W", (O, C), "parameter", "weight")
y = TensorDecl("y", (B, N, O), "output", "output tokens")


def wrong_operator(name):
    return Operator(
        name=name, summary="linear layer without bias, with a wrong derivation",
        output=y, lhs_indices=(b, n, o), traditional=sp.Sum(W[o, c] * x[b, n, c], (c, 0, C - 1)),
        tensors=(x, W), batch=b, out_channel=o, position=(n,), value="x",
        sizes=((B, "batch size"), (N, "tokens"), (C, "input features"), (O, "output features")),
        grid=({B: 1, N: 3, C: 2, O: 1},))


def wrong_derive(d):
    d.apply("introduce-delta", targets=[(n, q, 0, N - 2)], within=c)   # wrong: should be N - 1
    d.apply("name-kernel", name="K", channel=c, position=(q,), indices=(o, c, n, q))
    d.conclude(omega=Window((WindowAxis(1, 1, 1, 0, N),)), channel=c, neighbour=(q,))
