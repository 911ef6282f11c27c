"""The matcher recognises the Evolution form and nothing that only resembles it."""

from __future__ import annotations

import pytest
import sympy as sp

from evosym import Window, WindowAxis, match_evolution
from evosym.errors import MatchError
from evosym.ir.symbols import index, size

B, C, N, O = size("B"), size("C"), size("N"), size("O")
b, o, n, c, q = (index(s) for s in "b o n c q".split())
x, W, bias, Kt = (sp.IndexedBase(s) for s in ("x", "W", "bias", "K"))
OMEGA = Window((WindowAxis(1, 1, 1, 0, N),))


def match(expr):
    return match_evolution(expr, lhs=sp.IndexedBase("y")[b, n, o], batch=b, out_channel=o, position=(n,), channel=c,
                           neighbour=(q,), value_name="x", value_shape=(B, N, C), input_names={"x"},
                           definitions={}, omega=OMEGA)


def agg(summand, c_hi=C - 1, q_hi=N - 1):
    return sp.Sum(summand, (q, 0, q_hi), (c, 0, c_hi))


def test_accepts_the_form_and_extracts_the_pieces():
    form = match(bias[o] + agg(sp.KroneckerDelta(q, n) * W[o, c] * x[b, q, c]))
    assert form.value == x[b, q, c]
    assert form.kernel == sp.KroneckerDelta(q, n) * W[o, c]
    assert form.bias == bias[o]
    assert form.value_layout == "batch, position, channel"


def test_accepts_a_dynamic_kernel():
    form = match(agg(sp.exp(x[b, n, 0]) * x[b, q, c]))
    assert form.kernel.has(x[b, n, 0])


@pytest.mark.parametrize("expr, why", [
    (x[b, n, 0] + agg(W[o, c] * x[b, q, c]), "reads the input"),                     # β = the operator itself
    (agg(W[o, c] * x[b, q, c] * x[b, q, c]), "one read"),                              # v twice
    (agg(W[o, c] * x[b, n, c]), "indexed by exactly"),                                 # v not at q
    (agg(W[o, c] * x[b, q, c], c_hi=C - 2), "runs over"),                              # channel range too short
    (agg(W[o, c] * x[b, q, c], q_hi=N), "runs over"),                                  # position range too long
    (sp.Sum(W[o, c] * x[b, n, c], (c, 0, C - 1)), "sum over exactly"),                  # no sum over q
    (W[o, 0] * x[b, n, 0], "exactly one sum over the channel"),
    (agg(W[o, c] * x[b, q, c]) + sp.Sum(x[b, n, c], (c, 0, C - 1)), "exactly one sum"),
    (agg(W[o, c] * x[b, c, q] * 0 + W[o, c] * x[b, q, c] * x[b, 0, c]), "one read"),
])
def test_rejects_lookalikes(expr, why):
    with pytest.raises(MatchError, match=why):
        match(expr)


def test_catalogue_finals_match_with_named_kernels(checked_proof):
    for name in ("linear", "conv1d"):
        form = checked_proof(name).evolution
        assert form.kernel_definition is not None and form.kernel_definition.name == "K"
        assert form.kernel_body.has(sp.IndexedBase("W"))
