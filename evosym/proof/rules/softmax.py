"""Rules about a softmax: its weights over the axes it normalises sum to one."""

from __future__ import annotations

import sympy as sp

from ...errors import RuleError
from ..symbolic import nonnegative
from ..tree import find_sum, replace_node
from .base import Application, Context, Obligation, Rule, register


@register
class SoftmaxSumsToOne(Rule):
    """A softmax sums to one over the axes it normalises: if A[…, q] := exp(ℓ[…, q]) / Z[…] and Z[…] := Σ_{q'} exp(ℓ[…, q']) over a non-empty range, then Σ_q A[…, q] = 1 over the same range.

    ``over`` names the variables of a nest of sums whose summand is exactly one read of ``name``.
    """

    name = "softmax-sums-to-one"
    preconditions = ("A's definition is exp(ℓ)/Z with Z the sum of exp(ℓ) over the summed axes",
                     "the summed range equals Z's range", "the range is non-empty (Z > 0)")

    argument_docs = {   # name: (type, what it is) -- printed by 'evosym rules' and docs/rules.md
        "name": ("str",
            "the softmax definition A whose reads are summed"),
        "over": ("list of Symbols",
            "the variables of the nest of sums whose summand is exactly one read of A (any order)"),
    }

    def apply(self, expr, ctx: Context, *, name, over) -> Application:
        over = list(over)
        node, _ = find_sum(expr, over[0])
        limits = {l[0]: (l[1], l[2]) for l in node.limits}
        if set(limits) != set(over):
            raise RuleError(f"softmax-sums-to-one: the nest over {over[0]} sums over "
                            f"{', '.join(map(str, limits))}, not exactly {', '.join(map(str, over))}")
        read = node.function
        if not (isinstance(read, sp.Indexed) and str(read.base.label) == name and name in ctx.definitions):
            raise RuleError(f"softmax-sums-to-one: the summand must be one read of the definition {name}, not {read}")
        a = ctx.definitions[name]
        num, den = sp.fraction(a.body)
        if not (isinstance(num, sp.exp) and isinstance(num.args[0], sp.Indexed) and isinstance(den, sp.Indexed)
                and str(den.base.label) in ctx.definitions):
            raise RuleError(f"softmax-sums-to-one: {name} := {a.body} is not exp(ℓ[…])/Z[…] with Z a definition")
        logit, z = num.args[0], ctx.definitions[str(den.base.label)]
        zsum = z.body
        if not (isinstance(zsum, sp.Sum) and isinstance(zsum.function, sp.exp)
                and isinstance(zsum.function.args[0], sp.Indexed) and zsum.function.args[0].base == logit.base):
            raise RuleError(f"softmax-sums-to-one: {z.name} := {zsum} is not a sum of exp({logit.base})")
        # instantiate both definitions at this read: A's parameters → the read's indices
        at = dict(zip(a.params, read.indices))
        logit_here = logit.xreplace(at)
        z_here = den.xreplace(at)
        z_body = z.instantiate(z_here.indices)
        zvars = [l[0] for l in z_body.limits]
        # Z's summed logit positions must be exactly where this sum's variables sit in the logit
        inner = z_body.function.args[0]
        ok_shape = len(inner.indices) == len(logit_here.indices)
        match = {}
        same_rest = ok_shape
        for i_z, i_here in zip(inner.indices, logit_here.indices) if ok_shape else ():
            if i_z in zvars:
                match[i_z] = i_here
            elif sp.expand(i_z - i_here) != 0:
                same_rest = False
        vars_ok = ok_shape and same_rest and sorted(map(str, match.values())) == sorted(map(str, over)) \
            and all(isinstance(v, sp.Symbol) for v in match.values())
        ranges_ok = vars_ok and all(sp.expand(lz[1] - limits[match[lz[0]]][0]) == 0 and
                                    sp.expand(lz[2] - limits[match[lz[0]]][1]) == 0 for lz in z_body.limits)
        rest_free = not (set().union(*[sp.sympify(i).free_symbols for i in z_here.indices]) & set(over))
        nonempty = all(nonnegative(hi - lo) for lo, hi in limits.values())
        obligations = (
            Obligation("{} := exp({})/{} and {} := {}", vars_ok and rest_free, "structure checked" if vars_ok and rest_free
                       else "the summed axes are not the axes Z normalises", (read, logit_here, z_here, z_here, z_body)),
            Obligation("the sum over {} has the range of {}", ranges_ok, "bounds compared" if ranges_ok else
                       "the bounds differ", (sp.Tuple(*over), z_here)),
            Obligation("the range of {} is non-empty, so {} > 0", nonempty, "proved from the sizes" if nonempty
                       else "not proved", (sp.Tuple(*over), z_here)),
        )
        if not (vars_ok and rest_free and ranges_ok):
            raise RuleError(f"softmax-sums-to-one: Σ over {', '.join(map(str, over))} of {read} is not the sum over "
                            f"the axes that {z.name} normalises")
        return Application(replace_node(expr, node, sp.Integer(1)), obligations)
