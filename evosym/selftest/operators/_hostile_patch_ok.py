"""HOSTILE operator file of the self-test (hole 10): a linear layer with a WRONG derivation (the last token
is lost) that, when imported, makes every checked proof report ok (``CheckedProof.ok`` is always True).

``evosym prove`` runs it in a child process and checks what it hands back, so it fails there; loaded in the
checker's own process it would print PROVED. Never import it into a process whose checks matter: the
self-test loads it only in a fresh Python (``trust_conclusion_mutants``). The leading underscore keeps it
out of the lists of worked operator files.
"""

import sympy as sp

from evosym import Operator, TensorDecl, Window, WindowAxis, index, size
from evosym.proof import proof as _proof

B, N, C, O = size("B"), size("N"), size("C"), size("O")
b, n, o, c, q = (index(s) for s in "b n o c q".split())
x = TensorDecl("x", (B, N, C), "input", "tokens, channels last")
W = TensorDecl("W", (O, C), "parameter", "weight")
y = TensorDecl("y", (B, N, O), "output", "output tokens")

OPERATOR = Operator(
    name="hostile_patch_ok", summary="linear layer without bias, with a wrong derivation",
    output=y, lhs_indices=(b, n, o), traditional=sp.Sum(W[o, c] * x[b, n, c], (c, 0, C - 1)),
    tensors=(x, W), batch=b, out_channel=o, position=(n,), value="x",
    sizes=((B, "batch size"), (N, "tokens"), (C, "input features"), (O, "output features")),
    grid=({B: 1, N: 3, C: 2, O: 1},))


def derive(d):
    d.apply("introduce-delta", targets=[(n, q, 0, N - 2)], within=c)   # wrong: should be N - 1
    d.apply("name-kernel", name="K", channel=c, position=(q,), indices=(o, c, n, q))
    d.conclude(omega=Window((WindowAxis(1, 1, 1, 0, N),)), channel=c, neighbour=(q,))


_proof.CheckedProof.ok = property(lambda self: True)   # the attack: every proof in this process "checks"
