"""Rules of the discrete Fourier transform: real entries are self-conjugate, the roots of unity are
orthogonal, and a congruence over one period has a single solution (the convolution theorem)."""

from __future__ import annotations

import sympy as sp

from ...errors import RuleError
from ...ir.symbols import turns
from ..symbolic import integer_reason, integer_valued, nonnegative
from ..tree import find_sum, replace_node, walk
from .base import Application, Context, Obligation, Rule, register

@register
class ConjugateReal(Rule):
    """A real tensor's entries are their own complex conjugates: conj(W[i…]) = W[i…] when W is real.

    SymPy distributes a conjugate over sums and products by itself (conj(Σ a·e^{iθ}) = Σ conj(a)·e^{−iθ}
    for real θ), so what is left is the conjugate of each tensor entry; the declared domain of the
    tensor says whether it is real.
    """

    name = "conjugate-real"
    preconditions = ("the tensor is declared real-valued",)

    argument_docs = {   # name: (type, what it is) -- printed by 'evosym rules' and docs/rules.md
        "name": ("str",
            "the real-valued tensor whose conjugated entries conj(W[…]) become W[…]"),
    }

    def apply(self, expr, ctx: Context, *, name) -> Application:
        hits = [c for c in expr.atoms(sp.conjugate) if isinstance(c.args[0], sp.Indexed) and str(c.args[0].base.label) == name]
        if not hits:
            raise RuleError(f"conjugate-real: no conjugate of an entry of {name} in the expression")
        decl = ctx.tensors.get(name)
        real = decl is not None and getattr(decl, "domain", "real") in ("real", "nonnegative")
        ob = Obligation("{} is real-valued", real, f"declared with domain {decl.domain!r}" if decl is not None
                        else "not a declared tensor", (sp.IndexedBase(name),))
        return Application(expr.xreplace({c: c.args[0] for c in hits}), (ob,))


def _turns(summand, var):
    """(n, L) when summand = Π_j e^{a_j} = e^{2πi·var·n/L} with n and L free of var, else None."""
    fs = sp.Mul.make_args(summand)
    if not all(isinstance(f, sp.exp) for f in fs):
        return None
    t = turns(sp.Add(*[f.args[0] for f in fs]))
    if t is None or sp.expand(t.diff(var, 2)) != 0 or sp.expand(t.subs(var, 0)) != 0:
        return None
    n, L = sp.fraction(sp.together(t / var))
    if (n.free_symbols | L.free_symbols) & {var}:
        return None
    return sp.expand(n), L


@register
class RootsOfUnitySum(Rule):
    """The roots of unity are orthogonal: for an integer n and a positive integer L, Σ_{k=0}^{L−1} e^{2πi·k·n/L} = L·[n ≡ 0 (mod L)], written L·δ(n mod L, 0).

    ``over`` is the summation variable k; its summand must be exactly that exponential, or a product
    of exponentials whose exponents add up to it (factor the rest out first). A geometric series: for n ≢ 0 the ratio e^{2πi·n/L} ≠ 1 and its L-th power is 1.
    """

    name = "roots-of-unity-sum"
    preconditions = ("the summand is e^{2πi·k·n/L} (a product of exponentials whose exponents add up to it), n and L free of k", "n is an integer",
                     "L is a positive integer", "k runs over exactly [0, L − 1]")

    argument_docs = {   # name: (type, what it is) -- printed by 'evosym rules' and docs/rules.md
        "over": ("Symbol",
            "the summation variable k, innermost in its nest, running over [0, L − 1]"),
    }

    def apply(self, expr, ctx: Context, *, over) -> Application:
        node, _ = find_sum(expr, over)
        if node.limits[0][0] != over:
            raise RuleError(f"roots-of-unity-sum: the sum over {over} must be the innermost of its nest")
        k, lo, hi = node.limits[0]
        found = _turns(node.function, k)
        if found is None:
            raise RuleError(f"roots-of-unity-sum: the summand {node.function} is not e^(2πi·{k}·n/L) (or a product of exponentials equal to it) "
                            f"(factor everything else out of the sum over {k} first)")
        n, L = found
        how = integer_reason(n)
        integer = how is not None
        positive = integer_valued(L) and nonnegative(L - 1)
        period = lo == 0 and sp.expand(hi - (L - 1)) == 0
        obligations = (
            Obligation("{} is an integer", integer, how or "SymPy cannot show it", (n,)),
            Obligation("{} is a positive integer", positive, "proved from the sizes" if positive else "not proved", (L,)),
            Obligation("{} runs over [0, {} − 1]", period, "bounds compared" if period else "the bounds differ", (k, L)),
        )
        if not period:
            raise RuleError(f"roots-of-unity-sum: {k} runs over [{lo}, {hi}], not one period [0, {L - 1}]")
        done = L * sp.KroneckerDelta(sp.Mod(n, L), 0)
        return Application(replace_node(expr, node, sp.Sum(done, *node.limits[1:]) if node.limits[1:] else done), obligations)


@register
class CongruenceToRemainder(Rule):
    """A congruence has one solution in a period: for m in [0, L − 1] and an integer a, [a − m ≡ 0 (mod L)] = δ(m, a mod L).

    ``var`` is m; the delta δ((±(a − m)) mod L, 0) is rewritten so that it pins m, which then reads
    like any other window position (circular padding's read).
    """

    name = "congruence-to-remainder"
    preconditions = ("the delta is δ(±(a − m) mod L, 0) with a free of m", "a is an integer",
                     "L is a positive integer", "m ranges over exactly [0, L − 1]")

    argument_docs = {   # name: (type, what it is) -- printed by 'evosym rules' and docs/rules.md
        "var": ("Symbol",
            "the variable m the delta δ(±(a − m) mod L, 0) pins; its sum runs over [0, L − 1]"),
    }

    def apply(self, expr, ctx: Context, *, var) -> Application:
        hits = [(n, lims) for n, lims in walk(expr) if isinstance(n, sp.KroneckerDelta) and 0 in n.args
                and any(isinstance(a, sp.Mod) and a.has(var) for a in n.args)]
        if len({n for n, _ in hits}) != 1:
            raise RuleError(f"congruence-to-remainder: expected one δ(… mod L, 0) reading {var}, found {len(hits)}")
        d, limits = hits[0]
        e, L = next(a for a in d.args if isinstance(a, sp.Mod)).args
        slope = sp.expand(e).coeff(var)
        rest = sp.expand(e - slope * var)
        if slope not in (1, -1) or var in rest.free_symbols:
            raise RuleError(f"congruence-to-remainder: {e} is not ±(a − {var}) with a free of {var}")
        a = sp.expand(-rest * slope)        # e ≡ 0 ⇔ var ≡ a (mod L)
        rng = ctx.with_limits(reversed(limits)).ranges.get(var)
        period = rng is not None and rng[0] == 0 and sp.expand(rng[1] - (L - 1)) == 0
        how = integer_reason(a)
        integer = how is not None
        positive = integer_valued(L) and nonnegative(L - 1)   # a period of integers: L ≥ 1 and integer
        obligations = (
            Obligation("{} is an integer", integer, how or "SymPy cannot show it", (a,)),
            Obligation("{} is a positive integer", positive, "proved from the sizes" if positive else "not proved", (L,)),
            Obligation("{} ranges over [0, {} − 1]", period, "its summation range" if period else
                       "its range is not one period", (var, L)),
        )
        if not period:
            raise RuleError(f"congruence-to-remainder: {var} does not range over one period [0, {L - 1}]")
        return Application(expr.xreplace({d: sp.KroneckerDelta(var, sp.Mod(a, L))}), obligations)
