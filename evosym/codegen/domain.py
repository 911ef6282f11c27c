"""The domain where a proof's equality holds, as checks a generated module runs on its inputs.

A proof holds for every size in the sizes' declared domains (premise 2 of :mod:`evosym.proof.premises`)
under the operator's declared constraints, and its traditional form is well formed only where every
read lands inside the tensor it reads (premise "reads inside declared shapes", checked at the grid by
the evaluator). Generated code clamps and masks reads, so outside that domain it would silently compute
something else. This module states the domain as conditions on the sizes, read from the operator and
its proof, never written per operator:

- the declared constraints (``Operator.constraints``);
- every read through PyTorch's reflection map ρ_L(m) = L − 1 − |L − 1 − |m|| (:mod:`evosym.ir.padding`)
  lands inside the axis only for −L < m ≤ 2L − 2 (ReflectionPad's "padding < length"): the extremes of
  the affine m over its indices' ranges must satisfy that;
- a division by a size expression needs it to be non-zero (a coordinate 2m/(L − 1) needs L ≥ 2).

A condition of the last two that the declared constraints imply (H − 1 ≠ 0 under H ≥ 2) is not checked twice.

Each check is ``(python condition, message)`` over the sizes' Python names (read from the input or
given as module sizes); the message is an f-string body that prints the sizes it involves.
"""

from __future__ import annotations

import sympy as sp

from ..ir.padding import reflect
from ..ir.tensors import inline_unshaped
from ..printers.expr import text
from ..proof.ranged import at_least, slacks
from ..proof.symbolic import nonnegative


def domain_checks(op, pyx) -> list[tuple[str, str]]:
    """The conditions (python, message) on the sizes under which the operator's proof holds."""
    sizes = set(op.size_symbols())
    names = op.display_names("text")
    out: list[tuple[str, str]] = []

    declared = slacks(op.constraints, sizes)

    def add(cond: sp.Basic, python: str, why: str, derived: bool = False):
        if derived and _implied(cond, declared):   # (H − 1 ≠ 0 where H ≥ 2 is declared: one check says it)
            return
        shown = ", ".join(f"{s} = {{{pyx(s)}}}" for s in sorted(cond.free_symbols & sizes, key=str))
        message = f"{op.name}: the proof holds only where {_esc(text(cond, names))} ({_esc(why)}); got {shown}"
        if all(python != p for p, _ in out):
            out.append((python, message))

    for c in op.constraints:
        c = sp.sympify(c)
        if isinstance(c, sp.core.relational.Relational):
            add(c, f"{pyx(c.lhs)} {c.rel_op} {pyx(c.rhs)}", "a constraint the operator declares")
    defs = {d.name: d for d in op.definitions}
    contexts = [(op.traditional, {i: (lo, hi) for i, lo, hi in op.lhs_ranges()})]
    contexts += [(d.body, {p: (sp.Integer(0), n - 1) for p, n in zip(d.params, d.shape)})
                 for d in op.definitions if d.shape is not None]
    contexts = [(inline_unshaped(sp.sympify(e), defs), r) for e, r in contexts]   # reads through unshaped definitions
    found_reflect, found_div = [], []
    for expr, ranges in contexts:
        _visit(sp.sympify(expr), ranges, sizes, found_reflect, found_div)
    for m, length, lo, hi in found_reflect:
        L = text(length, names)
        rho = f"reads through the reflection ρ_{L}(m) = {L} − 1 − |{L} − 1 − |m|| (ReflectionPad) land inside the " \
              f"axis only for −{L} < m ≤ {text(2 * length - 2, names)}, and here m = {text(m, names)}"
        low = sp.StrictLessThan(-lo, length) if (-lo).could_extract_minus_sign() is False else sp.StrictGreaterThan(lo, -length)
        if low is not sp.true:
            add(low, f"{pyx(lo)} > -({pyx(length)})", rho, derived=True)
        high = sp.LessThan(hi, 2 * length - 2)
        if high is not sp.true:
            add(high, f"{pyx(hi)} <= {pyx(2 * length - 2)}", rho, derived=True)
    for base in found_div:
        add(sp.Ne(base, 0), f"{pyx(base)} != 0", "the operator divides by it", derived=True)
    return out


def _implied(cond, declared: tuple) -> bool:
    """A condition on the sizes that the declared constraints imply (proved by :func:`..proof.ranged.at_least` from
    their slacks): its check would repeat theirs."""
    if isinstance(cond, sp.Ne):
        gap = cond.lhs - cond.rhs
        return at_least(gap, 1, {}, declared) or at_least(-gap, 1, {}, declared)
    if isinstance(cond, (sp.Lt, sp.Le, sp.Gt, sp.Ge)):
        small, big = (cond.rhs, cond.lhs) if isinstance(cond, (sp.Gt, sp.Ge)) else (cond.lhs, cond.rhs)
        return at_least(big - small, 1 if isinstance(cond, (sp.Lt, sp.Gt)) else 0, {}, declared)
    return False


def _esc(s: str) -> str:
    """Text placed in an f-string: braces doubled, quotes escaped."""
    return s.replace("{", "{{").replace("}", "}}").replace("\\", "\\\\").replace('"', '\\"')


def _visit(e, ranges: dict, sizes: set, found_reflect: list, found_div: list) -> None:
    if isinstance(e, sp.Sum):
        inner = dict(ranges)
        for lim in e.limits:
            if len(lim) == 3:
                inner[lim[0]] = (lim[1], lim[2])
        _visit(e.function, inner, sizes, found_reflect, found_div)
        return
    if isinstance(e, sp.Pow) and e.exp.is_negative and e.base.free_symbols and e.base.free_symbols <= sizes:
        if not (e.base.is_nonzero or nonnegative(e.base - 1) or nonnegative(-e.base - 1)):
            if e.base not in found_div:
                found_div.append(e.base)
    if isinstance(e, sp.Add):
        hit = _reflection(e)
        if hit is not None:
            m, length = hit
            extent = _extent(m, ranges)
            if extent is not None and (m, length) + extent not in [tuple(f) for f in found_reflect]:
                found_reflect.append((m, length) + extent)
    args = e.indices if isinstance(e, sp.Indexed) else e.args
    for a in args:
        if isinstance(a, sp.Basic) and not isinstance(a, sp.IndexedBase):
            _visit(a, ranges, sizes, found_reflect, found_div)


def _reflection(e: sp.Add):
    """(m, L) when ``e`` is exactly ``reflect(m, L)`` of :mod:`evosym.ir.padding`, else None."""
    for outer in e.args:
        neg = -outer
        if not isinstance(neg, sp.Abs):
            continue
        inner = neg.args[0]   # ±(L − 1 − |m|): SymPy may have taken the sign out
        for term in sp.Add.make_args(inner):
            for sign in (1, -1):
                if isinstance(sign * term, sp.Abs):
                    m = (sign * term).args[0]
                    length = 1 - sign * (inner - term)
                    if e == reflect(m, length):
                        return m, length
    return None


def _extent(m, ranges: dict):
    """(min, max) of the affine ``m`` over the box of its range variables, or None when it is not affine
    with coefficients of known sign and bounds free of other range variables."""
    lo_e, hi_e = m, m
    for v in sorted(m.free_symbols & set(ranges), key=str):
        coeff = sp.diff(m, v)
        lo, hi = ranges[v]
        if coeff.free_symbols & set(ranges) or (sp.sympify(lo).free_symbols | sp.sympify(hi).free_symbols) & set(ranges):
            return None
        if nonnegative(coeff):
            lo_e, hi_e = lo_e.xreplace({v: lo}), hi_e.xreplace({v: hi})
        elif nonnegative(-coeff):
            lo_e, hi_e = lo_e.xreplace({v: hi}), hi_e.xreplace({v: lo})
        else:
            return None
    return lo_e, hi_e
