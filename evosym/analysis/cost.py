"""Parameters and multiply-adds as symbolic formulas in the sizes.

Parameters: the product of each parameter tensor's shape, summed. Multiply-adds (products of two
tensor values accumulated into a sum): counted on the traditional form: a sum multiplies its
summand's count by its number of terms, a product of two or more tensor-valued factors (reads or
sums) inside a sum is one multiply-add; a bare read, a bias or a product outside every sum (a
per-channel scale, a gate) is none (so pooling counts 0, as framework FLOP counters count it);
times the number of outputs. A definition with a declared shape (a generated kernel, a hidden
layer) is computed once per entry, so its body's count is multiplied by its number of entries
and added once; a definition without a shape is inlined where it is read.
Framework FLOP counters count every window tap (padding included), and so does this. Kernel
entries: the size of K̂ over the axes it depends on (C_g instead of C when grouped).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..facts.factors import channel_block
from ..facts.kernel import kernel_facts
from ..ir.neighbourhood import Window
from ..ir.tensors import definitions_read
from ..proof.proof import CheckedProof


@dataclass(frozen=True)
class Cost:
    parameters: sp.Expr
    macs: sp.Expr
    kernel_entries: sp.Expr | None

    def items(self) -> list[tuple[str, sp.Expr]]:
        """(name, formula) of each cost that applies, in display order."""
        rows = [("parameters", self.parameters), ("multiply-adds", self.macs)]
        return rows + ([("kernel entries", self.kernel_entries)] if self.kernel_entries is not None else [])

    def _repr_latex_(self) -> str:
        from ..printers.notebook import cost_latex
        return cost_latex(self)

    def _repr_markdown_(self) -> str:
        from ..printers.notebook import cost_markdown
        return cost_markdown(self)


def cost(cp: CheckedProof) -> Cost:
    op = cp.operator
    params = sp.Add(*[sp.Mul(*t.shape) for t in op.tensors if t.role == "parameter"])
    outputs = sp.Mul(*op.output.shape)
    macs = outputs * sp.factor(_macs(op.traditional, False))
    for d in definitions_read(op.traditional, {d.name: d for d in op.definitions}):
        if d.shape is None:   # inlined where read: counted there
            continue
        macs += sp.Mul(*d.shape) * sp.factor(_macs(d.body, False))
    return Cost(params, sp.factor(macs) if macs.is_Add else macs, _kernel_entries(cp))


def _macs(e, inside: bool) -> sp.Expr:
    """Multiply-adds per evaluation of ``e``; ``inside``: ``e`` is (part of) a summand."""
    if isinstance(e, sp.Add):
        return sp.Add(*[_macs(a, inside) for a in e.args])
    if isinstance(e, sp.Sum):
        count = _macs(e.function, True)
        for var, lo, hi in e.limits:
            count = count * (hi - lo + 1)
        return count
    if isinstance(e, sp.Mul):
        sums = [a for a in e.args if isinstance(a, sp.Sum)]
        rest = [a for a in e.args if not isinstance(a, sp.Sum)]
        inner = sp.Add(*[_macs(a, inside) for a in e.args])   # sums anywhere in a factor: γ·(Σ W·x + b)
        valued = sum(1 for a in rest if a.atoms(sp.Indexed)) + len(sums)   # tensor-valued factors
        return inner + (1 if valued >= 2 and inside else 0)
    if isinstance(e, (sp.Max, sp.Min, sp.Pow, sp.Function)):   # sums inside ReLU, 1/(1 + e^(−z)) …
        return sp.Add(*[_macs(a, inside) for a in e.args])
    return sp.Integer(0)


def _kernel_entries(cp):
    op, form = cp.operator, cp.evolution
    if not isinstance(form.omega, Window):
        return None
    facts = kernel_facts(cp)
    taps = facts.taps
    ext = {op.batch: op.output.shape[op.lhs_indices.index(op.batch)],
           op.out_channel: op.output.shape[op.lhs_indices.index(op.out_channel)],
           form.channel: form.channel_hi + 1}
    ext.update({p: op.output.shape[op.lhs_indices.index(p)] for p in form.position})
    ext.update({u: a.kernel for u, a in zip(taps.taps, form.omega.axes)})
    grp = facts.channel_group
    if grp is not None:
        ext[form.channel] = grp[0]
        block = channel_block(grp[2], form.channel, form.out_channel) if grp[:2] == (1, 1) else None
        if block is not None:   # one kernel per block of channels (involution)
            ext[form.channel] = (form.channel_hi + 1) / block
            free = taps.expr.free_symbols & set(ext) - {form.out_channel}
            return sp.Mul(*[ext[s] for s in free | {form.channel}])
    free = taps.expr.free_symbols & set(ext)
    if grp is not None:
        free |= {form.channel}
    return sp.Mul(*[ext[s] for s in free])
