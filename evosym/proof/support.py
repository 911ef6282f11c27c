"""The declared neighbourhood Ω(p) against the support of the kernel K, at concrete sizes.

The Evolution form sums over q ∈ Ω(p); the derivation ends with a sum over the whole input
and a kernel that vanishes outside the neighbourhood. This check makes the two agree exactly:
the set of q where K(·,·,p,q) is not identically zero (as a polynomial in the symbolic
entries) must equal the declared Ω(p), for every output position p of every grid shape. A
wrong padding, stride origin or window size in either the operator or Ω shows up here.
"""

from __future__ import annotations

import itertools

from ..errors import IllFormedAccess
from ..ir.evolution import EvolutionForm
from ..ir.operator import Operator, format_sizes
from ..ir.symbols import size_value
from . import poly as P
from .magnitude import nonzero, vanishes
from .bounded import env_of
from .evaluate import Evaluator, ill_formed_reason
from .reference import CheckResult
from .step import Counterexample

NAME = "support of K"


def check_support(op: Operator, form: EvolutionForm, definitions: dict, grid) -> CheckResult:
    ranges = {s: hi for s, _, hi in op.lhs_ranges()}
    for config in grid:
        env = env_of(config)
        try:
            kfn, key = Evaluator(op.shapes_at(env), definitions, sizes=op.size_symbols()).compile_keyed(form.kernel)
        except (IllFormedAccess, RecursionError) as exc:   # (a complex sum limit; a definition that reads itself)
            return CheckResult(NAME, False, "bounded", "K is ill-formed",
                               Counterexample(format_sizes(env), "", "", "", ill_formed_reason(exc)))
        base = {key(s): v for s, v in env.items()}   # environments keyed as kfn reads them (compile_keyed)
        kb, ko, kc = key(form.batch), key(form.out_channel), key(form.channel)
        pkeys, nkeys = [key(s) for s in form.position], [key(s) for s in form.neighbour]

        def rng(hi):
            return range(size_value(hi, env) + 1)
        bs = rng(ranges[form.batch]) if form.kernel.has(form.batch) else [0]
        outs, chans = rng(ranges[form.out_channel]), rng(form.channel_hi)
        qs = list(itertools.product(*[rng(h) for h in form.neighbour_hi]))
        for pt in itertools.product(*[rng(ranges[p]) for p in form.position]):
            try:
                omega = set(form.omega.points(pt, env))
            except ValueError as exc:
                return CheckResult(NAME, False, "bounded", str(exc))
            local = dict(base)
            local.update(zip(pkeys, pt))
            support, undecided = set(), set()
            try:
                for q in qs:
                    local.update(zip(nkeys, q))
                    values = [kfn(_at(local, kb, b, ko, o, kc, c)) for b in bs for o in outs for c in chans]
                    if all(P.is_zero(v) for v in values) or (q not in omega and all(map(vanishes, values))):
                        continue   # 0 everywhere: outside the support
                    if q not in omega or any(nonzero(v) for v in values):
                        support.add(q)   # (outside Ω: not proved 0, so not allowed there)
                    else:
                        undecided.add(q)
            except IllFormedAccess as exc:
                return CheckResult(NAME, False, "bounded", "K is ill-formed",
                                   Counterexample(format_sizes(env), f"p={pt}", "", "", str(exc)))
            if undecided and support | undecided == omega:
                return CheckResult(NAME, False, "bounded", "the support of K could not be decided",
                                   Counterexample(format_sizes(env), f"p={pt}", "", "",
                                                  f"K at q in {sorted(undecided)} is not proved non-zero (its value "
                                                  "holds numbers whose relations the exact check does not see, and "
                                                  "a numeric evaluation did not tell it from 0)"))
            if support != omega:
                return CheckResult(NAME, False, "bounded", "the support of K is not the declared Ω(p)",
                                   Counterexample(format_sizes(env), f"p={pt}", f"supp K = {sorted(support)}",
                                                  f"Ω(p) = {sorted(omega)}",
                                                  f"in supp K only: {sorted(support - omega)}; in Ω(p) only: {sorted(omega - support)}"))
    return CheckResult(NAME, True, "bounded", f"supp K(·,·,p,·) = Ω(p) at every output position, at {len(grid)} shapes")


def _at(local: dict, kb, b, ko, o, kc, c) -> dict:
    """A fresh environment: ``local`` with the batch, output channel and channel bound (in that order, as
    ``{**local, batch: b, out_channel: o, channel: c}`` binds them)."""
    env = local.copy()
    env[kb] = b
    env[ko] = o
    env[kc] = c
    return env
