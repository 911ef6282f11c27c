"""Rules about names: unfold a defined tensor, and name the Evolution kernel."""

from __future__ import annotations

import sympy as sp

from ...errors import RuleError
from ...ir.tensors import Definition
from ..tree import bound_variables, factors, walk
from .base import Application, Context, Obligation, Rule, register


@register
class UnfoldDefinition(Rule):
    """Unfold a definition: if t[i₁,…,iₙ] := e(i₁,…,iₙ), then t[a₁,…,aₙ] = e(a₁,…,aₙ), substituting all indices simultaneously.

    Holds by definition; no precondition.
    """

    name = "unfold-definition"

    argument_docs = {   # name: (type, what it is) -- printed by 'evosym rules' and docs/rules.md
        "name": ("str",
            "the defined tensor (an operator definition, or one a previous step introduced) whose every read "
            "is replaced by its body"),
    }

    def apply(self, expr, ctx: Context, *, name: str) -> Application:
        if name not in ctx.definitions:
            raise RuleError(f"unfold-definition: {name!r} is not a defined tensor (defined: {', '.join(sorted(ctx.definitions)) or 'none'})")
        d = ctx.definitions[name]
        reads = [r for r in expr.atoms(sp.Indexed) if str(r.base.label) == name]
        if not reads:
            raise RuleError(f"unfold-definition: the expression does not read {name}")
        clash = set(bound_variables(d.body)) & set(bound_variables(expr))
        if clash:
            raise RuleError(f"unfold-definition: the body of {name} binds {', '.join(map(str, clash))}, already bound here")
        after = expr.xreplace({r: d.instantiate(r.indices) for r in reads})
        return Application(after, (Obligation("{} := {}", True, "definition", (d.lhs, d.body)),))


@register
class NameKernel(Rule):
    """Name the kernel: in Σ_c Σ_q E · v[b,c,q], where E does not read v at the aggregated channel, define K[o,c,p,q] := E and write Σ_c Σ_q K[o,c,p,q] · v[b,c,q].

    Holds by definition, provided the definition is closed: E mentions no variable other than
    the kernel's indices, sizes and parameters.
    """

    name = "name-kernel"
    preconditions = ("the kernel expression mentions no bound or free index other than the kernel's own indices",)

    argument_docs = {   # name: (type, what it is) -- printed by 'evosym rules' and docs/rules.md
        "name": ("str",
            'the kernel\'s name, e.g. "K"; not yet a tensor or definition'),
        "channel": ("Symbol",
            "the aggregated channel variable c: the one sum over it binds exactly c and the position "
            "variables"),
        "position": ("tuple of Symbols",
            "the neighbour position variables q, e.g. (m, n), bound by the same sum as channel"),
        "indices": ("tuple of Symbols",
            "the kernel's indices, in order, e.g. (o, c, i, j, m, n) or (b, o, c, i, j, m, n) for a per-"
            "sample kernel"),
        "latex": ("str, optional",
            "how the LaTeX printer writes the kernel's name (default: the name)"),
    }

    def apply(self, expr, ctx: Context, *, name: str, channel, position, indices, latex: str | None = None) -> Application:
        if name in ctx.definitions or name in ctx.tensors:
            raise RuleError(f"name-kernel: the name {name!r} is already used")
        position = tuple(position)
        aggs = [n for n, _ in walk(expr) if isinstance(n, sp.Sum) and channel in [l[0] for l in n.limits]]
        if len(aggs) != 1:
            raise RuleError(f"name-kernel: expected one sum over the channel {channel}, found {len(aggs)}")
        agg = aggs[0]
        bound = [l[0] for l in agg.limits]
        if set(bound) != {channel, *position}:
            raise RuleError(f"name-kernel: the sum over {channel} must bind exactly {channel}, {', '.join(map(str, position))} (it binds {', '.join(map(str, bound))})")
        fs = factors(agg.function)
        reads = [f for f in fs if isinstance(f, sp.Indexed) and str(f.base.label) == ctx.value and channel in f.indices]
        if len(reads) != 1:
            raise RuleError(f"name-kernel: the summand must be a product with one read of {ctx.value} at the channel {channel}")
        v = reads[0]
        kernel = sp.Mul(*[f for f in fs if f is not v])
        indices = tuple(indices)
        stray = sorted(kernel.free_symbols - set(indices) - set(ctx.sizes), key=str)
        stray_idx = [s for s in stray if s in ctx.ranges or s in bound_variables(expr)]
        closed = Obligation(
            "the kernel mentions no index other than its own indices {}", not stray_idx,
            "free symbols checked" if not stray_idx else "it mentions {}", (sp.Tuple(*indices),),
            () if not stray_idx else (sp.Tuple(*stray_idx),))
        d = Definition(name, indices, kernel, description="Evolution kernel", latex=latex)
        after = expr.xreplace({agg: sp.Sum(d[indices] * v, *agg.limits)})
        return Application(after, (closed,), (d,))
