"""Kronecker-delta introduction: the reindexing that turns a read at s·p + δ·u − P into a sum over q."""

from __future__ import annotations

import sympy as sp

from ...errors import RuleError
from ...ir.symbols import InRange
from ..ranged import slacks
from ..symbolic import in_range
from ..tree import bound_variables, factors, find_sum, replace_node, same
from .base import Application, Context, Obligation, Rule, integer_obligation, register
from .inshape import ShapeProver, condition_hypotheses, guard_hypotheses


def _replace_sites(expr, e, var):
    """Replace ``e`` by ``var`` where it is a tensor index or the argument of a bracket."""
    count = 0

    def visit(node):
        nonlocal count
        if isinstance(node, sp.Indexed):
            idx = []
            for i in node.indices:
                if same(i, e):
                    idx.append(var)
                    count += 1
                else:
                    idx.append(visit(i))
            return node.base[tuple(idx)]
        if isinstance(node, InRange) and same(node.args[0], e):
            count += 1
            return InRange(var, node.args[1], node.args[2])
        if isinstance(node, sp.Sum):
            return sp.Sum(visit(node.function), *node.limits)
        if not node.args:
            return node
        return node.func(*[visit(a) for a in node.args])

    return visit(expr), count


def _piece_hypotheses(g) -> tuple:
    """h ≥ 0 that a factor Piecewise((f, cond), (0, …), …, (0, True)) gives where it is not 0: its first condition's
    relations (every later piece 0, so the factor is not 0 only where cond holds); none for any other factor."""
    if isinstance(g, sp.Piecewise) and len(g.args) >= 2 and all(p.expr == 0 for p in g.args[1:]) \
            and g.args[-1].cond is sp.true:   # (without an "otherwise" piece it is undefined where no condition holds)
        return condition_hypotheses(g.args[0].cond)
    return ()


def _within(summand, e, lo, hi, ctx: Context) -> bool:
    """lo ≤ e ≤ hi at every value of the indices in their ranges where the summand's guards are 1 (elsewhere it is
    0), for every size in its domain: the constraints included (:class:`.inshape.ShapeProver`: reflections |·|, clamps
    max/min)."""
    hyps = tuple(h for g in factors(summand) for h in guard_hypotheses(g) + _piece_hypotheses(g))
    prover = ShapeProver(slacks(ctx.constraints, ctx.sizes))
    return prover.holds(sp.expand(e - lo), ctx.ranges, hyps) and prover.holds(sp.expand(hi - e), ctx.ranges, hyps)


@register
class IntroduceDelta(Rule):
    """Introduce a Kronecker delta: for an integer-valued e, if f vanishes unless lo ≤ e ≤ hi, then f(e) = Σ_{m=lo}^{hi} δ_{m,e} f(m); a guard [lo ≤ e ≤ hi] in f is absorbed into the range of m.

    This reindexes a read at a computed position (s·i + δ·u − P) as a sum over positions m,
    the step that exposes the neighbourhood. Unlike SymPy's delta summation it never
    substitutes e into f, so no entry such as ``W[0, 0, 3/2]`` can appear.
    """

    name = "introduce-delta"
    preconditions = ("e is integer-valued", "the summand vanishes unless lo ≤ e ≤ hi", "m is a fresh variable")

    argument_docs = {   # name: (type, what it is) -- printed by 'evosym rules' and docs/rules.md
        "targets": ("list of (e, m, lo, hi)",
            "for each read position to reindex: the index expression e read in the summand (e.g. s*i + u - "
            "P), the fresh variable m that replaces it, and m's inclusive bounds lo ≤ m ≤ hi (usually 0 and "
            "the length − 1); the new sums are added innermost, last target innermost"),
        "within": ("Symbol, optional",
            "a variable bound by the sum whose summand is rewritten: the new sums join that sum's nest, "
            "innermost. Without it, the summand is the one term of the top-level addition that reads e, and "
            "the new sums wrap that whole term"),
    }

    def apply(self, expr, ctx: Context, *, targets, within=None) -> Application:
        targets = [tuple(t) for t in targets]
        if within is not None:
            node, outer = find_sum(expr, within)
            summand = node.function
            lctx = ctx.with_limits(reversed(tuple(node.limits) + tuple(outer)))
        else:
            terms = [t for t in sp.Add.make_args(expr) if any(t.has(e) for e, *_ in targets)]
            if len(terms) != 1:
                raise RuleError("introduce-delta: name the sum whose summand to rewrite with within=")
            node, summand, outer, lctx = None, terms[0], (), ctx
        taken = set(bound_variables(expr)) | set(ctx.ranges) | set(ctx.sizes)
        obligations, new = [], summand
        for e, var, lo, hi in targets:
            e, lo, hi = sp.sympify(e), sp.sympify(lo), sp.sympify(hi)
            fresh = var not in taken and var not in summand.free_symbols
            obligations.append(Obligation("{} is a fresh variable", fresh, "not bound or free here" if fresh else "already used", (var,),
                                          refuted=not fresh))
            obligations.append(integer_obligation(e))
            integer = obligations[-1].proved
            guards = [g for g in factors(new) if isinstance(g, InRange) and same(g.args[0], e)]
            exact = [g for g in guards if same(g.args[1], lo) and same(g.args[2], hi)]
            if exact:
                vanish = (True, "the summand carries the guard {}", (exact[0],))
            else:
                vanish = in_range(e, lo, hi, lctx.ranges)
                if not vanish[0] and integer and _within(new, e, lo, hi, lctx):
                    vanish = (True, "{} ≤ {} ≤ {} wherever the summand's guards are 1, for every size in its domain",
                              (lo, e, hi))
            obligations.append(Obligation("the summand vanishes unless {} ≤ {} ≤ {}", vanish[0], vanish[1], (lo, e, hi), vanish[2]))
            new, count = _replace_sites(new, e, var)
            if count == 0:
                raise RuleError(f"introduce-delta: {e} is not read as an index in the summand")
            new = sp.Mul(*[f for f in factors(new) if not (isinstance(f, InRange) and f.args == (var, lo, hi))])
            new = sp.KroneckerDelta(var, e) * new
            taken.add(var)
        limits = [(var, sp.sympify(lo), sp.sympify(hi)) for _, var, lo, hi in reversed(targets)]
        if node is None:
            after = expr.xreplace({summand: sp.Sum(new, *limits)})
        else:
            after = replace_node(expr, node, sp.Sum(new, *limits, *node.limits))
        return Application(after, tuple(obligations))
