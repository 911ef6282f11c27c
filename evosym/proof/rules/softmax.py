"""Rules about a softmax: its weights over the axes it normalises sum to one, plain or masked."""

from __future__ import annotations

import itertools

import sympy as sp

from ...errors import RuleError
from ...ir.symbols import InRange
from ...ir.tensors import INDICATORS, indicator_names
from ..signs import proved_nonzero, proved_positive
from ..symbolic import integer_valued, nonnegative, range_of
from ..tree import find_sum, replace_node
from .base import Application, Context, Obligation, Rule, register

MAX_WITNESSES = 256   # assignments of visible keys tried (a product over the summed axes of a few candidates each)


def masked_exponential(e, indicators=frozenset()):
    """(the guards G, exp(ℓ[…])) when the definition E := G·exp(ℓ[…]) with G a non-empty product of Iverson
    brackets [lo ≤ t ≤ hi] and of reads of the tensors named in ``indicators`` (inputs declared 0/1, a key padding
    mask), and ℓ read once; else None (also the shape ``evosym.facts.softmax`` lowers to a masked softmax)."""
    if not isinstance(e.body, sp.Mul):
        return None
    exps = [f for f in e.body.args if isinstance(f, sp.exp)]
    guards = [f for f in e.body.args if isinstance(f, InRange)
              or (isinstance(f, sp.Indexed) and str(f.base.label) in indicators)]
    if len(exps) != 1 or len(exps) + len(guards) != len(e.body.args) or not guards:
        return None
    if not isinstance(exps[0].args[0], sp.Indexed):
        return None
    return guards, exps[0]


def real_valued(expr, ctx: Context, _seen=None) -> bool:
    """True only if ``expr`` is real for every admissible value of its symbols: it is built from real numbers,
    integer symbols, reads of declared tensors (real) and of definitions whose bodies are real, with +, ·,
    integer powers (a negative one, and mod, only of a divisor that reads no tensor or is provably non-zero),
    powers of positive bases, exp, sums, brackets, deltas, ⌊·⌋, ⌈·⌉, max, min and |·|."""
    seen = {} if _seen is None else _seen   # definition → its verdict, None while it is being checked
    e = sp.sympify(expr)
    if e.is_Number:
        return bool(e.is_real)
    if e in (sp.pi, sp.E):
        return True
    if isinstance(e, sp.Symbol):
        return bool(e.is_real)
    if isinstance(e, sp.Indexed):
        label = str(e.base.label)
        if not all(real_valued(i, ctx, seen) for i in e.indices):
            return False
        if label in ctx.definitions:
            if label not in seen:
                seen[label] = None   # a definition that reads itself is not proved real
                seen[label] = real_valued(ctx.definitions[label].body, ctx, seen)
            return bool(seen[label])
        return label in ctx.tensors
    if isinstance(e, sp.Pow):
        if not real_valued(e.base, ctx, seen):
            return False
        if e.exp.is_Integer:   # a negative power divides: by a read of the data only where provably non-zero
            # (1/x at x = 0 makes ℓ undefined for some inputs only: Z = 0 there, where the step claims 1); a base of
            # sizes and indices is one fixed number wherever the operator is defined, the same on both sides
            return bool(e.exp >= 0 or proved_nonzero(e.base) or not e.base.has(sp.Indexed))
        return proved_positive(e.base) and real_valued(e.exp, ctx, seen)
    if isinstance(e, sp.Sum):
        return real_valued(e.function, ctx, seen) and all(real_valued(b, ctx, seen) for l in e.limits for b in l[1:])
    if isinstance(e, sp.Mod) and not (proved_nonzero(e.args[1]) or not e.args[1].has(sp.Indexed)):
        return False   # a remainder modulo a read of the data that may be 0 is undefined for some inputs
    if isinstance(e, (sp.Add, sp.Mul, sp.exp, InRange, sp.KroneckerDelta, sp.floor, sp.ceiling, sp.Max, sp.Min,
                      sp.Abs, sp.Mod)):
        return all(real_valued(a, ctx, seen) for a in e.args)
    return False


def _proved_nonnegative(e, ranges) -> bool:
    """``e ≥ 0`` proved from the known ranges of the indices it reads and the sizes' domains."""
    e = sp.expand(e)
    if e.is_Integer:
        return e >= 0
    r = range_of(e, ranges)
    return r is not None and nonnegative(r[0])


def visible_key(guards, limits, ranges):
    """A key w* (one value per summed variable) inside the summed ranges at which every bracket of G is provably
    1, for every value of the other indices within ``ranges``: (assignment, the facts proved), else None.

    ``guards`` are the brackets of E at the summed read (over the summed variables and the row's indices),
    ``limits`` the sum's (variable, lo, hi). Candidates for w are the sum's bounds and, for each bracket
    [lo ≤ w + k ≤ hi] over w alone, lo − k and hi − k (the first and last key the bracket shows); an assignment
    is taken only when lo ≤ w* ≤ hi for every summed variable and lo ≤ t ≤ hi for every bracket are proved."""
    zvars = [l[0] for l in limits]
    if not all(integer_valued(a) for g in guards for a in g.args) or not all(integer_valued(w) for w in zvars):
        return None   # a bracket's value is defined on integers only: nothing is proved about other arguments
    candidates = []
    for w, lo, hi in limits:
        cands = [lo, hi]
        for g in guards:
            t, glo, ghi = g.args
            k = sp.expand(t - w)
            if not (k.free_symbols & set(zvars)):
                cands += [sp.expand(glo - k), sp.expand(ghi - k)]
        seen, uniq = set(), []
        for x in cands:
            if not (sp.sympify(x).free_symbols & set(zvars)) and x not in seen:
                seen.add(x)
                uniq.append(x)
        candidates.append(uniq)
    for n, choice in enumerate(itertools.product(*candidates)):
        if n >= MAX_WITNESSES:
            return None
        if not all(integer_valued(x) for x in choice):
            continue   # a key is an integer: L/2 is none for odd L
        at = dict(zip(zvars, choice))
        facts = []
        ok = True
        for (w, lo, hi), x in zip(limits, choice):
            if not (_proved_nonnegative(x - lo, ranges) and _proved_nonnegative(hi - x, ranges)):
                ok = False
                break
            facts.append((lo, x, hi))
        passed = _passes(guards, at, ranges) if ok else None
        if passed is not None:
            return at, facts + passed
    return None


def indicators(ctx: Context) -> tuple:
    """The names of the declared inputs whose domain is an indicator (0/1, a 1 along the last axis in every row)."""
    return indicator_names(ctx.tensors.values())


def _passes(brackets, at, ranges):
    """The facts (lo, t, hi) proving every bracket 1 at the assignment ``at`` for every row, else None."""
    facts = []
    for g in brackets:
        g_at = g.xreplace(at)
        if g_at.is_Integer:
            if g_at != 1:
                return None
            continue
        t, glo, ghi = g_at.args
        if not (_proved_nonnegative(t - glo, ranges) and _proved_nonnegative(ghi - t, ranges)):
            return None
        facts.append((glo, t, ghi))
    return facts


def visible_by_premise(guards, limits, ranges, ctx: Context):
    """("axis" or "first", the facts (lo, t, hi)) proving a row of Σ_w E non-empty from an indicator's premise, else
    None. G is one read T[r…, w] of an input declared an indicator, w the one summed variable, bare at T's last axis
    (of length n, n ≥ 1 proved) and nowhere else, every other index r proved inside its axis for every row, and:
    "axis": nothing else in G and the sum over exactly 0 … n − 1 — the premise gives each row a w with T[r…, w] = 1;
    "first": T declared "leading_indicator", 0 proved inside the summed range and every bracket of G proved 1 at
    w = 0 for every row — the premise gives T[r…, 0] = 1. Either way E > 0 at that w and Z > 0. The premise is
    checked by the generated code on every input."""
    reads = [g for g in guards if not isinstance(g, InRange)]
    brackets = [g for g in guards if isinstance(g, InRange)]
    if len(reads) != 1 or not isinstance(reads[0], sp.Indexed) or len(limits) != 1:
        return None
    read, (w, lo, hi) = reads[0], limits[0]
    decl = ctx.tensors.get(str(read.base.label))
    if decl is None or decl.domain not in INDICATORS or decl.role != "input" or len(read.indices) != len(decl.shape) \
            or not read.indices:
        return None
    *rows, last = read.indices
    if last != w or any(sp.sympify(r).has(w) for r in rows) or not isinstance(w, sp.Symbol):
        return None
    if not _proved_nonnegative(decl.shape[-1] - 1, ranges):
        return None   # an axis that may be empty has no 1 in it: the premise holds of no input there
    facts = []
    for r, n in zip(rows, decl.shape[:-1]):
        if not (integer_valued(r) and _proved_nonnegative(r, ranges) and _proved_nonnegative(n - 1 - r, ranges)):
            return None
        facts.append((sp.Integer(0), r, n - 1))
    if not brackets and sp.expand(lo) == 0 and sp.expand(hi - (decl.shape[-1] - 1)) == 0:
        return "axis", [(sp.Integer(0), w, decl.shape[-1] - 1)] + facts
    if decl.domain != "leading_indicator" or not (_proved_nonnegative(-lo, ranges) and _proved_nonnegative(hi, ranges)):
        return None
    passed = _passes(brackets, {w: sp.Integer(0)}, ranges)
    if passed is None:
        return None
    return "first", [(lo, sp.Integer(0), hi), (sp.Integer(0), sp.Integer(0), decl.shape[-1] - 1)] + facts + passed


@register
class SoftmaxSumsToOne(Rule):
    """A softmax sums to one over the axes it normalises: if A[…, q] := E[…, q] / Z[…] and Z[…] := Σ_{q'} E[…, q'] over the same range, where E = exp(ℓ) or a masked E = G·exp(ℓ) with G a product of Iverson brackets and at most one read of an input declared an indicator (0/1), and ℓ real, and Z > 0, then Σ_q A[…, q] = 1 over that range. Z > 0 holds when the range is non-empty (E = exp(ℓ)), when some key q* in the range passes every bracket of G at every row (brackets), when the sum runs over the whole last axis of the indicator (no bracket beside it), whose premise is a 1 along that axis in every row, or when the indicator is a leading one (its first entry 1 in every row) and the key 0 lies in the range and passes every bracket at every row.

    ``over`` names the variables of a nest of sums whose summand is exactly one read of ``name``. For a masked
    E, Z > 0 must be proved at the use (a key q* found inside the summed range at which every bracket is
    provably 1 for all values of the row's indices and all sizes in their domains; or the indicator read at the
    summed variable on its last axis, the sum over exactly that axis, the row's indices inside the tensor; or a
    leading indicator read there with the key 0 in the range passing every bracket), else the step is refused. The
    indicator's premise is checked on every input by the generated code.
    """

    name = "softmax-sums-to-one"
    preconditions = ("A's definition is E/Z with Z the sum of E over the summed axes, E = exp(ℓ) or G·exp(ℓ) with G "
                     "a product of brackets and at most one read of an indicator input",
                     "the summed range equals Z's range",
                     "ℓ is real, so exp(ℓ) > 0 and E ≥ 0",
                     "Z > 0: the range is non-empty (E = exp(ℓ)); masked, a key of the range passes every bracket "
                     "at every row, or the sum covers the indicator's last axis, which has a 1 in every row by its "
                     "premise, or the indicator is leading (first entry 1 in every row) and the key 0 lies in the "
                     "range and passes every bracket (proved, else the step is refused)")

    argument_docs = {   # name: (type, what it is) -- printed by 'evosym rules' and docs/rules.md
        "name": ("str",
            "the softmax definition A whose reads are summed"),
        "over": ("list of Symbols",
            "the variables of the nest of sums whose summand is exactly one read of A (any order)"),
    }

    def apply(self, expr, ctx: Context, *, name, over) -> Application:
        over = list(over)
        node, enclosing = find_sum(expr, over[0])
        limits = {l[0]: (l[1], l[2]) for l in node.limits}
        if len(limits) != len(node.limits):   # Σ_m Σ_m A sums A once per m of the outer sum: L times, not once
            raise RuleError(f"softmax-sums-to-one: the nest over {over[0]} sums over a variable twice "
                            f"({', '.join(str(l[0]) for l in node.limits)})")
        if set(limits) != set(over) or len(over) != len(set(over)):
            raise RuleError(f"softmax-sums-to-one: the nest over {over[0]} sums over "
                            f"{', '.join(map(str, limits))}, not exactly {', '.join(map(str, over))}")
        if any(sp.sympify(b).free_symbols & set(over) for lo_hi in limits.values() for b in lo_hi):
            raise RuleError("softmax-sums-to-one: the bounds of the summed nest depend on its own variables")
        if not all(integer_valued(b) for lo_hi in limits.values() for b in lo_hi):
            raise RuleError("softmax-sums-to-one: the bounds of the summed nest are not provably integers "
                            f"({', '.join(f'{lo}..{hi}' for lo, hi in limits.values())}): its range is not proved")
        read = node.function
        if not (isinstance(read, sp.Indexed) and str(read.base.label) == name and name in ctx.definitions):
            raise RuleError(f"softmax-sums-to-one: the summand must be one read of the definition {name}, not {read}")
        a = ctx.definitions[name]
        num, den = sp.fraction(a.body)
        if not (isinstance(den, sp.Indexed) and str(den.base.label) in ctx.definitions):
            raise RuleError(f"softmax-sums-to-one: {name} := {a.body} is not E[…]/Z[…] with Z a definition")
        z = ctx.definitions[str(den.base.label)]
        zsum = z.body
        if len(read.indices) != len(a.params) or len(den.indices) != len(z.params):
            raise RuleError(f"softmax-sums-to-one: {read} or {den} does not give its definition one index per parameter")
        at = dict(zip(a.params, read.indices))   # A's parameters → the read's indices
        masked = isinstance(num, sp.Indexed)
        if masked:   # A := E[J]/Z[I], E := G·exp(ℓ), Z := Σ_w E[I, w]
            e_name = str(num.base.label)
            parts = masked_exponential(ctx.definitions[e_name], indicators(ctx)) if e_name in ctx.definitions else None
            if parts is None:
                raise RuleError(f"softmax-sums-to-one: the numerator {num} of {name} is not a read of a definition "
                                f"E := G·exp(ℓ[…]) with G a product of brackets and reads of indicator inputs")
            if not (isinstance(zsum, sp.Sum) and isinstance(zsum.function, sp.Indexed) and zsum.function.base == num.base):
                raise RuleError(f"softmax-sums-to-one: {z.name} := {zsum} is not a sum of {e_name} (the numerator's "
                                f"masked exponentials), so A's rows need not sum to one")
            n_e = len(ctx.definitions[e_name].params)
            if len(num.indices) != n_e or len(zsum.function.indices) != n_e:
                raise RuleError(f"softmax-sums-to-one: the reads of {e_name} do not give it one index per parameter")
            term_here = num.xreplace(at)
            exp_arg = parts[1].args[0]
        else:        # A := exp(ℓ[J])/Z[I], Z := Σ_w exp(ℓ[I, w])
            if not (isinstance(num, sp.exp) and isinstance(num.args[0], sp.Indexed)):
                raise RuleError(f"softmax-sums-to-one: {name} := {a.body} is not exp(ℓ[…])/Z[…] or E[…]/Z[…] with "
                                f"E := G·exp(ℓ[…]), Z a definition")
            logit = num.args[0]
            if not (isinstance(zsum, sp.Sum) and isinstance(zsum.function, sp.exp)
                    and isinstance(zsum.function.args[0], sp.Indexed) and zsum.function.args[0].base == logit.base):
                raise RuleError(f"softmax-sums-to-one: {z.name} := {zsum} is not a sum of exp({logit.base})")
            term_here = logit.xreplace(at)
            exp_arg = term_here
        z_here = den.xreplace(at)
        z_body = z.instantiate(z_here.indices)
        if not isinstance(z_body, sp.Sum):
            raise RuleError(f"softmax-sums-to-one: {z.name} at {z_here} is not a sum")
        zvars = [l[0] for l in z_body.limits]
        inner = z_body.function if masked else z_body.function.args[0]
        # Z's summed positions must be exactly where this sum's variables sit in the numerator's read, each summed
        # variable at one position, bare; every other position the same on both sides and free of both sums' variables
        ok_shape = len(inner.indices) == len(term_here.indices) and len(zvars) == len(set(zvars))
        match = {}
        same_rest = ok_shape
        for i_z, i_here in zip(inner.indices, term_here.indices) if ok_shape else ():
            if i_z in zvars:
                if i_z in match:
                    same_rest = False
                match[i_z] = i_here
            elif (sp.sympify(i_z).free_symbols & set(zvars)) or (sp.sympify(i_here).free_symbols & set(over)) \
                    or sp.expand(i_z - i_here) != 0:
                same_rest = False
        vars_ok = ok_shape and same_rest and set(match) == set(zvars) and len(match) == len(over) \
            and all(isinstance(v, sp.Symbol) for v in match.values()) \
            and sorted(map(str, match.values())) == sorted(map(str, over))
        zbounds_free = not any(sp.sympify(bd).free_symbols & set(zvars) for l in z_body.limits for bd in l[1:])
        ranges_ok = vars_ok and zbounds_free and all(
            sp.expand(lz[1] - limits[match[lz[0]]][0]) == 0 and sp.expand(lz[2] - limits[match[lz[0]]][1]) == 0
            for lz in z_body.limits)
        rest_free = not (set().union(*[sp.sympify(i).free_symbols for i in z_here.indices]) & set(over))
        if not (vars_ok and rest_free and ranges_ok):
            raise RuleError(f"softmax-sums-to-one: Σ over {', '.join(map(str, over))} of {read} is not the sum over "
                            f"the axes that {z.name} normalises, with the same range")
        real = real_valued(exp_arg, ctx)
        structure = Obligation("{} := {}/{} and {} := {}", True, "structure checked",
                               (read, num.xreplace(at), z_here, z_here, z_body))
        same_range = Obligation("the sum over {} has the range of {}", True, "bounds compared", (sp.Tuple(*over), z_here))
        if not masked:
            nonempty = all(nonnegative(hi - lo) for lo, hi in limits.values())
            obligations = (
                structure, same_range,
                Obligation("{} is real, so exp({}) > 0", real, "built from real reads and operations" if real
                           else "not proved", (exp_arg, exp_arg)),
                Obligation("the range of {} is non-empty, so {} > 0", nonempty, "proved from the sizes" if nonempty
                           else "not proved", (sp.Tuple(*over), z_here)),
            )
            return Application(replace_node(expr, node, sp.Integer(1)), obligations)
        # masked: Z > 0 is proved here or the step is refused (a row whose every key is hidden is 0/0, not 1)
        if not real:
            raise RuleError(f"softmax-sums-to-one: the logits {exp_arg} of {e_name} are not provably real, so "
                            f"exp(…) > 0 and {z.name} > 0 are not proved")
        e_def = ctx.definitions[e_name]
        at_inner = dict(zip(e_def.params, inner.indices))   # E at Z's summed read
        guards = [g.xreplace(at_inner) for g in parts[0]]
        exp_arg = exp_arg.xreplace(at_inner)
        here = ctx.with_limits(enclosing).ranges
        if any(not isinstance(g, InRange) for g in guards):   # a read of an indicator input: Z > 0 by its premise
            found = visible_by_premise(guards, list(z_body.limits), here, ctx)
            if found is None:
                raise RuleError(f"softmax-sums-to-one: {z_here} > 0 is not proved: the mask {' · '.join(map(str, guards))} "
                                f"of {e_name} is neither one read T[r…, w] of an input declared 'indicator' with the sum "
                                f"over exactly T's last axis ({', '.join(f'{lo} ≤ {w} ≤ {hi}' for w, lo, hi in z_body.limits)}) "
                                f"and every other index inside T at every row, nor such a read of a 'leading_indicator' "
                                f"(its first entry 1 in every row) with w = 0 in the summed range passing every bracket "
                                f"beside it at every row (a plain indicator's premise gives a visible key in each row, "
                                f"not one that also passes a bracket)")
            how, premise = found
            table = next(g for g in guards if not isinstance(g, InRange)).base
            claim = ("{} > 0: {} is an input declared 'indicator', with a 1 along its last axis in every row (a premise "
                     "the generated code checks on every input), and the sum runs over that whole axis" if how == "axis"
                     else "{} > 0: {} is an input declared 'leading_indicator', whose first entry along its last axis is "
                     "1 in every row (a premise the generated code checks on every input), and the key 0 lies in the "
                     "summed range and passes every bracket at every row")
            obligations = (
                structure, same_range,
                Obligation("{} ≥ 0: an indicator (0 or 1) times exp({}) with {} real", True,
                           "built from real reads and operations; its premise: the indicator's entries are 0 or 1",
                           (inner, exp_arg, exp_arg)),
                Obligation(claim, True, "proved from the indices' ranges and the sizes' domains: "
                           + ", ".join("{} ≤ {} ≤ {}" for _ in premise),
                           (z_here, table), tuple(x for f in premise for x in f)),
            )
            return Application(replace_node(expr, node, sp.Integer(1)), obligations)
        found = visible_key(guards, list(z_body.limits), here)
        if found is None:
            raise RuleError(f"softmax-sums-to-one: {z_here} > 0 is not proved: no key of the range "
                            f"{', '.join(f'{lo} ≤ {w} ≤ {hi}' for w, lo, hi in z_body.limits)} is proved to pass every "
                            f"bracket of {e_name} ({' · '.join(map(str, guards))}) at every row, for all sizes")
        key, facts = found
        obligations = (
            structure, same_range,
            Obligation("{} ≥ 0: brackets times exp({}) with {} real", True, "built from real reads and operations",
                       (inner, exp_arg, exp_arg)),
            Obligation("{} > 0: the key {} = {} lies in the summed range and passes every bracket at every row", True,
                       "proved from the indices' ranges and the sizes' domains: " + ", ".join("{} ≤ {} ≤ {}" for _ in facts),
                       (z_here, sp.Tuple(*key.keys()), sp.Tuple(*key.values())),
                       tuple(x for f in facts for x in f)),
        )
        return Application(replace_node(expr, node, sp.Integer(1)), obligations)
