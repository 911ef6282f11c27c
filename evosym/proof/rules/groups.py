"""Grouped channels: a sum over one group's channels as a sum over all channels with a group indicator."""

from __future__ import annotations

import sympy as sp

from ...errors import RuleError
from ..symbolic import in_range, integer_valued, nonnegative
from ..tree import bound_variables, find_sum, replace_node, same
from .base import Application, Context, Obligation, Rule, integer_obligation, register


@register
class SplitChannelsIntoGroups(Rule):
    """Split channels into groups: the channels [0, G·C_g) form G contiguous blocks of C_g; for an integer g with 0 ≤ g ≤ G−1, Σ_{c'=0}^{C_g−1} f(g·C_g + c') = Σ_{c=0}^{G·C_g−1} δ_{⌊c/C_g⌋, g} f(c).

    The substitution c = g·C_g + c' maps [0, C_g) one-to-one onto the block {c : ⌊c/C_g⌋ = g}.
    """

    name = "split-channels-into-groups"
    preconditions = ("g is integer-valued", "0 ≤ g ≤ G − 1", "C_g is a positive integer", "c is a fresh variable")

    argument_docs = {   # name: (type, what it is) -- printed by 'evosym rules' and docs/rules.md
        "var": ("Symbol",
            "the within-group channel variable c', summed over [0, C_g − 1]"),
        "new": ("Symbol",
            "the fresh channel variable c over all G·C_g channels"),
        "group": ("expression",
            "the group index g (e.g. floor(o/O_g))"),
        "groups": ("expression",
            "the number of groups G"),
        "block": ("expression",
            "the channels per group C_g"),
    }

    def apply(self, expr, ctx: Context, *, var, new, group, groups, block) -> Application:
        group, groups, block = sp.sympify(group), sp.sympify(groups), sp.sympify(block)
        node, outer = find_sum(expr, var)
        limits = list(node.limits)
        k = [l[0] for l in limits].index(var)
        _, lo, hi = limits[k]
        if not (same(lo, 0) and same(hi, block - 1)):
            raise RuleError(f"split-channels-into-groups: the sum over {var} runs over [{lo}, {hi}], not [0, {block - 1}]")
        lctx = ctx.with_limits(reversed(tuple(outer)))
        fresh = new not in set(bound_variables(expr)) | set(ctx.ranges) | set(ctx.sizes) and new not in expr.free_symbols
        ok_range, *how = in_range(group, 0, groups - 1, lctx.ranges)
        # ⌊c/C_g⌋ = g picks the C_g channels g·C_g + c' only for a positive integer C_g
        block_ok = integer_valued(block) and nonnegative(block - 1)
        obligations = (
            Obligation("{} is a fresh variable", fresh, "not bound or free here" if fresh else "already used", (new,),
                       refuted=not fresh),
            integer_obligation(group),
            Obligation("0 ≤ {} ≤ {}", ok_range, how[0], (group, groups - 1), how[1]),
            Obligation("{} is a positive integer", block_ok, "proved from the sizes" if block_ok else "not proved", (block,)),
        )
        sub = {var: new - group * block}
        body = sp.KroneckerDelta(sp.floor(new / block), group) * node.function.xreplace(sub)
        limits = [(v, a.xreplace(sub), b.xreplace(sub)) for v, a, b in limits]
        limits[k] = (new, sp.Integer(0), groups * block - 1)
        return Application(replace_node(expr, node, sp.Sum(body, *limits)), obligations)
