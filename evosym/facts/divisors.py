"""The kernel fact "a Dirichlet convolution": K = δ(o, c)·[(m + a) | (p + a)]·W[c, (p + a)/(m + a) − a].

Decided only on an Ω that is the divisors of p + a (:func:`.omega.divisor_offset`) with one
parameter tensor W of two axes and one position axis, and then by comparing the proved kernel with
that form exactly at every grid shape and index (symbolic tensor entries). It licenses the divisor
lowering (:mod:`evosym.codegen.divisors`), which visits only the pairs (n, d) with d | n.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from ..ir.symbols import size_value
from ..proof import poly as P
from ..proof.bounded import env_of
from ..proof.evaluate import Evaluator
from .omega import divisor_offset


@dataclass(frozen=True)
class DivisorKernel:
    """K = δ(o, c)·W[c, (p + a)/(m + a) − a] on Ω(p) = {m : (m + a) | (p + a)}, compared at ``shapes`` grid shapes."""

    weight: str        # the parameter's name in the proof
    torch_name: str    # … and in generated code
    a: int
    shapes: int


def divisor_kernel(op, form, defs) -> DivisorKernel | None:
    """The divisor-convolution fact of a checked Evolution form, or None (any other Ω or kernel)."""
    a = divisor_offset(form.omega)
    params = [t for t in op.tensors if t.role == "parameter"]
    if a is None or len(params) != 1 or len(params[0].shape) != 2 or len(form.position) != 1:
        return None
    (p,), (m,), W = form.position, form.neighbour, params[0]
    if not _kernel_matches(op, form, defs, W.name, int(a), p, m):
        return None
    return DivisorKernel(W.name, W.torch_name or W.name, int(a), len(op.grid))


def _kernel_matches(op, form, defs, wname, a, p, m) -> bool:
    """The proved K equals δ(o, c)·[(m + a) | (p + a)]·W[c, (p + a)/(m + a) − a] at every grid shape and index."""
    lhs = {s: hi for s, _, hi in op.lhs_ranges()}
    for config in op.grid:
        env = env_of(config)
        kfn = Evaluator(op.shapes_at(env), defs).compile(form.kernel_body)
        rng = lambda hi: range(size_value(hi, env) + 1)   # noqa: E731
        for b, o, c, pt, q in itertools.product(rng(lhs[form.batch]), rng(lhs[form.out_channel]),
                                                rng(form.channel_hi), rng(lhs[p]), rng(form.neighbour_hi[0])):
            got = kfn({**env, form.batch: b, form.out_channel: o, form.channel: c, p: pt, m: q})
            n, k = pt + a, q + a
            if o == c and n % k == 0:
                if P.key_of(got) != P.key_of(P.Poly.atom(("T", wname, (c, n // k - a)))):
                    return False
            elif not P.is_zero(got):
                return False
    return True
