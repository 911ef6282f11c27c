"""Rules about finite sums: exchange their order, and factor out what a sum does not bind."""

from __future__ import annotations

import sympy as sp

from ...errors import RuleError
from ..tree import bound_variables, factors, find_sum, replace_node, same, walk
from .base import Application, Context, Obligation, Rule, integer_obligation, register


@register
class ExchangeSums(Rule):
    """Exchange finite sums: Σ_{a∈A} Σ_{b∈B} f = Σ_{b∈B} Σ_{a∈A} f when the range of each sum mentions only variables bound outside it, in both orders.

    Applies to blocks: the sums over ``outer`` (a block of consecutive sums) and those over
    ``inner`` (the block directly inside it) trade places.
    """

    name = "exchange-sums"
    preconditions = ("the bounds of each sum mention only variables bound outside it, after the exchange",)

    argument_docs = {   # name: (type, what it is) -- printed by 'evosym rules' and docs/rules.md
        "outer": ("list of Symbols",
            "the variables of a block of consecutive sums (any order)"),
        "inner": ("list of Symbols",
            "the variables of the block of consecutive sums directly inside it; the two blocks trade places"),
    }

    def apply(self, expr, ctx: Context, *, outer, inner) -> Application:
        outer, inner = list(outer), list(inner)
        node, _ = find_sum(expr, outer[0])
        limits = list(node.limits)                    # innermost first
        names = [l[0] for l in limits]
        missing = [v for v in outer + inner if v not in names]
        if missing:
            raise RuleError(f"exchange-sums: {', '.join(map(str, missing))} not bound in the same nest of sums as {outer[0]}")
        pos_in = sorted(names.index(v) for v in inner)
        pos_out = sorted(names.index(v) for v in outer)
        if pos_in != list(range(pos_in[0], pos_in[0] + len(inner))) or pos_out != list(range(pos_in[-1] + 1, pos_in[-1] + 1 + len(outer))):
            raise RuleError("exchange-sums: the inner block must be consecutive sums directly inside the consecutive outer block")
        lo, hi = pos_in[0], pos_out[-1] + 1
        new = limits[:lo] + limits[pos_out[0]:hi] + limits[lo:pos_out[0]] + limits[hi:]
        bad = []
        for k, (var, a, b) in enumerate(new):
            inside = {l[0] for l in new[:k + 1]}
            dep = (sp.sympify(a).free_symbols | sp.sympify(b).free_symbols) & inside
            if dep:
                bad.append((var, sp.Tuple(*sorted(dep, key=str))))
        how = "free symbols of the bounds checked" if not bad else "; ".join("the range of {} mentions {}" for _ in bad)
        ob = Obligation("every range mentions only variables bound outside it", not bad, how,
                        how_args=tuple(x for pair in bad for x in pair), refuted=bool(bad))
        return Application(replace_node(expr, node, sp.Sum(node.function, *new)), (ob,))


@register
class FactorOut(Rule):
    """Factor out of a sum (linearity): Σ_a g·f(a) = g·Σ_a f(a) when g does not depend on a.

    ``over`` lists the innermost sums of a nest that the factor leaves.
    """

    name = "factor-out"
    preconditions = ("the factor does not mention the summation variables it leaves",)

    argument_docs = {   # name: (type, what it is) -- printed by 'evosym rules' and docs/rules.md
        "factor": ("expression",
            "the factor, or product of factors, of the summand to move out (e.g. x[b, c, m, n])"),
        "over": ("list of Symbols",
            "the innermost sums of the nest that the factor leaves (any order), e.g. [v, u]"),
    }

    def apply(self, expr, ctx: Context, *, factor, over) -> Application:
        over = list(over)
        node, _ = find_sum(expr, over[0])
        limits = list(node.limits)
        k = len(over)
        if {l[0] for l in limits[:k]} != set(over):
            raise RuleError(f"factor-out: {', '.join(map(str, over))} must be the innermost sums of their nest")
        fs = factors(node.function)
        want = factors(sp.sympify(factor))
        rest = list(fs)
        for w in want:
            if w not in rest:
                raise RuleError(f"factor-out: {w} is not a factor of the summand {node.function}")
            rest.remove(w)
        g = sp.Mul(*want)
        dep = g.free_symbols & set(over)
        ob = Obligation("{} does not mention {}", not dep, "free symbols checked" if not dep else "it mentions {}",
                        (g, sp.Tuple(*over)), () if not dep else (sp.Tuple(*sorted(dep, key=str)),), refuted=bool(dep))
        inner = g * sp.Sum(sp.Mul(*rest), *limits[:k])
        new = sp.Sum(inner, *limits[k:]) if limits[k:] else inner
        return Application(replace_node(expr, node, new), (ob,))


@register
class MoveIntoSum(Rule):
    """Move a factor into a sum (linearity, the converse of factor-out): g·Σ_a f(a) = Σ_a g·f(a) when g does not depend on a.

    ``factor`` is a factor of the product that multiplies the sum over ``into`` (and its nest).
    """

    name = "move-into-sum"
    preconditions = ("the factor does not mention the summation variables of the sum it enters",)

    argument_docs = {   # name: (type, what it is) -- printed by 'evosym rules' and docs/rules.md
        "factor": ("expression",
            "the factor, or product of factors, next to the sum, to move into it"),
        "into": ("Symbol",
            "a variable bound by the sum that the factor enters"),
    }

    def apply(self, expr, ctx: Context, *, factor, into) -> Application:
        node, _ = find_sum(expr, into)
        want = factors(sp.sympify(factor))
        parents = [p for p in sp.preorder_traversal(expr) if isinstance(p, sp.Mul) and node in p.args]
        if len(parents) != 1:
            raise RuleError(f"move-into-sum: the sum over {into} is not a factor of exactly one product")
        parent = parents[0]
        rest = [a for a in parent.args if a is not node]
        for w in want:
            if w not in rest:
                raise RuleError(f"move-into-sum: {w} is not a factor next to the sum over {into}")
            rest.remove(w)
        g = sp.Mul(*want)
        bound = {l[0] for l in node.limits}
        dep = g.free_symbols & bound
        ob = Obligation("{} does not mention {}", not dep, "free symbols checked" if not dep else "it mentions {}",
                        (g, sp.Tuple(*sorted(bound, key=str))), () if not dep else (sp.Tuple(*sorted(dep, key=str)),))
        new_parent = sp.Mul(*rest) * sp.Sum(g * node.function, *node.limits)
        return Application(replace_node(expr, parent, new_parent), (ob,))


@register
class ReindexSum(Rule):
    """Reindex a sum by an affine bijection: if a = σ·a' + k with σ = ±1 and k an integer free of a', then Σ_{a=lo}^{hi} f(a) = Σ_{a'} f(σ·a' + k), a' running over [lo − k, hi − k] when σ = 1 and over [k − hi, k − lo] when σ = −1.

    Shifts (σ = 1) move a window's origin; reflections (σ = −1) flip a kernel, which is how a
    textbook convolution becomes the cross-correlation that frameworks call convolution.
    """

    name = "reindex-sum"
    preconditions = ("a = σ·a' + k with σ ∈ {1, −1}", "k does not mention a' or a", "k is integer-valued",
                     "a' is a fresh variable")

    argument_docs = {   # name: (type, what it is) -- printed by 'evosym rules' and docs/rules.md
        "var": ("Symbol",
            "the summation variable a to replace"),
        "new": ("Symbol",
            "the fresh variable a'"),
        "expr_of_new": ("expression",
            "a written in a': σ·a' + k with σ = ±1, e.g. K - 1 - v for a reflection"),
    }

    def apply(self, expr, ctx: Context, *, var, new, expr_of_new) -> Application:
        node, _ = find_sum(expr, var)
        image = sp.expand(sp.sympify(expr_of_new))
        sigma = sp.expand(image.diff(new))
        k = sp.expand(image - sigma * new)
        limits = list(node.limits)
        pos = [l[0] for l in limits].index(var)
        _, lo, hi = limits[pos]
        taken = set(bound_variables(expr)) | set(ctx.ranges) | set(ctx.sizes) | expr.free_symbols
        obligations = (
            Obligation("{} = {}·{} + {} with {} ∈ {{1, −1}}", sigma in (1, -1), "coefficient computed by SymPy",
                       (var, sigma, new, k, sigma)),
            Obligation("{} does not mention {} or {}", not ({new, var} & k.free_symbols), "free symbols checked", (k, new, var)),
            # a' ↦ σ·a' + k maps the integers onto the integers only for an integer k (k = K/2 shifts off them)
            integer_obligation(k),
            Obligation("{} is a fresh variable", new not in taken, "not bound or free here" if new not in taken else "already used", (new,)),
        )
        if sigma == -1:
            new_lo, new_hi = k - hi, k - lo
        else:
            new_lo, new_hi = (lo - k) / sigma, (hi - k) / sigma
        sub = {var: image}
        body = node.function.xreplace(sub)
        limits = [(v, a.xreplace(sub), b.xreplace(sub)) for v, a, b in limits]
        limits[pos] = (new, sp.expand(new_lo), sp.expand(new_hi))
        return Application(replace_node(expr, node, sp.Sum(body, *limits)), obligations)


@register
class SplitSum(Rule):
    """Split a sum over an addition (linearity): Σ_a g·(f₁ + … + f_n) = Σ_a g·f₁ + … + Σ_a g·f_n for a finite range of a; the copies of the nest that do not read the value tensor bind fresh names (a renaming of bound variables).

    ``over`` names a variable of the nest whose summand is a product with exactly one sum of
    terms as a factor (a projection with a bias, for instance); ``rename`` maps the nest's
    variables to fresh names for the terms that do not read the value tensor, so that every
    bound variable of the result stays unique.
    """

    name = "split-sum"
    preconditions = ("the summand is a product with exactly one addition among its factors",
                     "the new names are fresh and distinct")

    argument_docs = {   # name: (type, what it is) -- printed by 'evosym rules' and docs/rules.md
        "over": ("Symbol",
            "a variable of the nest whose summand has exactly one addition among its factors"),
        "rename": ("list of (old, new), optional",
            "fresh names for the nest's variables in the term that does not read the value tensor"),
    }

    def apply(self, expr, ctx: Context, *, over, rename=()) -> Application:
        node, _ = find_sum(expr, over)
        fs = factors(node.function)
        adds = [f for f in fs if isinstance(f, sp.Add)]
        if len(adds) != 1:
            raise RuleError(f"split-sum: the summand of the sum over {over} has {len(adds)} additions among its "
                            "factors; exactly one is needed")
        rest = list(fs)
        rest.remove(adds[0])
        g = sp.Mul(*rest)
        rename = dict(rename)
        nest = [l[0] for l in node.limits]
        if set(rename) - set(nest):
            raise RuleError(f"split-sum: rename must map variables of the nest ({', '.join(map(str, nest))})")
        taken = set(bound_variables(expr)) | set(ctx.ranges) | set(ctx.sizes) | expr.free_symbols
        fresh = len(set(rename.values())) == len(rename) and not (set(rename.values()) & taken)
        reads_value = [any(str(r.base.label) == ctx.value for r in t.atoms(sp.Indexed)) for t in adds[0].args]
        terms = []
        for t, keeps_names in zip(adds[0].args, reads_value):
            sub = {} if keeps_names else rename
            limits = [(sub.get(v, v), lo.xreplace(sub), hi.xreplace(sub)) for v, lo, hi in node.limits]
            terms.append(sp.Sum((g * t).xreplace(sub), *limits))
        if reads_value.count(False) > 1 and rename:
            raise RuleError("split-sum: more than one term needs fresh names; split them one at a time")
        obligations = (Obligation("{} is one addition of {} terms", True, "structure checked",
                                  (adds[0], sp.Integer(len(adds[0].args)))),
                       Obligation("the names {} are fresh and distinct", fresh, "not bound or free here" if fresh
                                  else "already used or repeated", (sp.Tuple(*rename.values()),)))
        return Application(replace_node(expr, node, sp.Add(*terms)), obligations)


@register
class MergeSums(Rule):
    """Merge two sums over the same ranges (linearity): Σ_{a∈A} f(a) + Σ_{a'∈A} g(a') = Σ_{a∈A} (f(a) + g(a)), renaming the second nest's variables to the first's; with a common factor v, Σ_a F(a)·v(a) + Σ_a G(a)·v(a) = Σ_a (F(a) + G(a))·v(a).

    ``first`` and ``second`` name a variable of each nest (two terms of one addition); their limits
    are paired in order. ``common``, when given, is a factor of both summands (written with the
    first nest's variables) that the merged summand keeps outside the addition: two aggregations of
    the same input become one, with the kernels added.
    """

    name = "merge-sums"
    preconditions = ("the two nests are terms of one addition", "their ranges are equal, pair by pair",
                     "the second summand does not mention the first nest's variables freely")

    argument_docs = {   # name: (type, what it is) -- printed by 'evosym rules' and docs/rules.md
        "first": ("Symbol",
            "a variable of the first nest (its names are kept)"),
        "second": ("Symbol",
            "a variable of the second nest, a term of the same addition (renamed to the first's)"),
        "common": ("expression, optional",
            "a factor of both summands, written with the first nest's variables, kept outside the added "
            "kernels"),
    }

    def apply(self, expr, ctx: Context, *, first, second, common=None) -> Application:
        n1, _ = find_sum(expr, first)
        n2, _ = find_sum(expr, second)
        if n1 == n2:
            raise RuleError("merge-sums: first and second name the same nest")
        parents = [node for node, _ in walk(expr) if isinstance(node, sp.Add) and n1 in node.args and n2 in node.args]
        if not parents:
            raise RuleError("merge-sums: the two nests are not terms of one addition")
        if len(n1.limits) != len(n2.limits):
            raise RuleError(f"merge-sums: the nests have {len(n1.limits)} and {len(n2.limits)} variables")
        rename = {l2[0]: l1[0] for l1, l2 in zip(n1.limits, n2.limits)}
        ranges_equal = all(same(l1[1], l2[1].xreplace(rename)) and same(l1[2], l2[2].xreplace(rename))
                           for l1, l2 in zip(n1.limits, n2.limits))
        captured = (n2.function.free_symbols - set(rename)) & set(rename.values())
        g = n2.function.xreplace(rename)
        f = n1.function
        if common is not None:
            common = sp.sympify(common)
            fs, gs = factors(f), factors(g)
            if common not in fs or common not in gs:
                raise RuleError(f"merge-sums: {common} is not a factor of both summands")
            fs.remove(common)
            gs.remove(common)
            body = (sp.Mul(*fs) + sp.Mul(*gs)) * common
        else:
            body = f + g
        obligations = (
            Obligation("the ranges of {} and {} are equal, pair by pair", ranges_equal,
                       "bounds compared" if ranges_equal else "they differ",
                       (sp.Tuple(*[l[0] for l in n1.limits]), sp.Tuple(*[l[0] for l in n2.limits]))),
            Obligation("the second summand does not mention {} freely", not captured,
                       "free symbols checked" if not captured else "it does", (sp.Tuple(*rename.values()),)),
        )
        if not ranges_equal or captured:
            raise RuleError("merge-sums: the nests' ranges differ or the second summand would capture a variable")
        parent = parents[0]
        rest = [a for a in parent.args if a is not n1 and a is not n2 and a != n1 and a != n2]
        merged = sp.Add(*rest, sp.Sum(body, *n1.limits))
        return Application(replace_node(expr, parent, merged), obligations)
