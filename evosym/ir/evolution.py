"""The Evolution form as a first-class object, and the matcher that recognises it.

    y[b,o,p] = Σ_c Σ_{q∈Ω(p)} K_b[o,c,p,q] · v[b,c,q]  (+ β[o,p])

The optional β collects terms outside the aggregation (the bias of a convolution). It may
read parameters but never an input tensor: otherwise any operator would "match" with K = 0
and β = the operator itself. Likewise K must not read v at the aggregated channel (else K = v
would make any square of the input "match"); both policies look through every definition
(:mod:`.reads`), so renaming the input through one does not get past them. The matcher works
on the final expression of a derivation, where the aggregation is a sum over the channel and
over the whole input grid, and the neighbourhood Ω is declared by the derivation and checked
against the support of K.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..errors import MatchError
from .neighbourhood import Neighbourhood
from .reads import reads as reads_through
from .tensors import Definition


@dataclass(frozen=True)
class EvolutionForm:
    """(Ω, K, v) with the roles of every index, extracted from a matching expression."""

    lhs: sp.Indexed
    batch: sp.Symbol
    out_channel: sp.Symbol
    position: tuple[sp.Symbol, ...]
    channel: sp.Symbol
    channel_hi: sp.Expr
    neighbour: tuple[sp.Symbol, ...]
    neighbour_hi: tuple[sp.Expr, ...]
    kernel: sp.Expr          # K as an expression of (b, o, c, p, q): a named kernel access or its body
    kernel_definition: Definition | None
    value: sp.Indexed        # v[b, c, q] in the value tensor's own layout
    bias: sp.Expr
    omega: Neighbourhood

    @property
    def kernel_body(self) -> sp.Expr:
        """K with a named kernel unfolded to its defining expression."""
        if self.kernel_definition is None:
            return self.kernel
        return self.kernel_definition.instantiate(self.kernel.indices)

    @property
    def value_layout(self) -> str:
        """The value tensor's axis order by role, e.g. "batch, channel, position" (NCHW)."""
        roles = {self.batch: "batch", self.channel: "channel"}
        roles.update({q: "position" for q in self.neighbour})
        out = []
        for i in self.value.indices:
            if not out or out[-1] != roles[i]:
                out.append(roles[i])
        return ", ".join(out)

    def full_expression(self) -> sp.Expr:
        """The form with the aggregation written as a sum over the whole input grid."""
        limits = [(q, 0, hi) for q, hi in zip(reversed(self.neighbour), reversed(self.neighbour_hi))]
        return self.bias + sp.Sum(self.kernel * self.value, *limits, (self.channel, 0, self.channel_hi))


def _sum_chain(expr):
    """(body, limits innermost-first) of a (flattened) SymPy Sum."""
    return expr.function, list(expr.limits)


def match_evolution(expr: sp.Expr, *, lhs: sp.Indexed, batch, out_channel, position, channel, neighbour,
                    value_name: str, value_shape: tuple, input_names: set[str],
                    definitions: dict[str, Definition], omega: Neighbourhood) -> EvolutionForm:
    """Recognise ``expr`` as an Evolution form and extract (Ω, K, v); :class:`MatchError` if not."""
    neighbour = tuple(neighbour)
    terms = expr.args if isinstance(expr, sp.Add) else (expr,)
    aggregations = [t for t in terms if isinstance(t, sp.Sum) and channel in {l[0] for l in t.limits}]
    if len(aggregations) != 1:
        raise MatchError(f"expected exactly one sum over the channel {channel}, found {len(aggregations)} in {expr}")
    agg = aggregations[0]
    bias = sp.Add(*[t for t in terms if t is not agg])
    body, limits = _sum_chain(agg)
    bound = [l[0] for l in limits]
    if sorted(map(str, bound)) != sorted(map(str, (channel,) + neighbour)):
        raise MatchError(f"the aggregation must sum over exactly {channel} and {', '.join(map(str, neighbour))}; it sums over {', '.join(map(str, bound))}")
    ranges = {l[0]: (l[1], l[2]) for l in limits}
    # v: exactly one read of the value tensor, indexed by b, c and q each once
    factors = body.args if isinstance(body, sp.Mul) else (body,)
    reads = [f for f in factors if isinstance(f, sp.Indexed) and str(f.base.label) == value_name]
    if len(reads) != 1:
        raise MatchError(f"the summand must be K · {value_name}[…] with one read of {value_name}; found {len(reads)} in {body}")
    value = reads[0]
    want = {batch, channel, *neighbour}
    if set(value.indices) != want or len(value.indices) != len(want):
        raise MatchError(f"{value} must be indexed by exactly {', '.join(map(str, [batch, channel, *neighbour]))} (each once)")
    # ranges of c and q must cover the value tensor's axes exactly
    for axis, idx in enumerate(value.indices):
        if idx == batch:
            continue
        lo, hi = ranges[idx]
        if sp.simplify(lo) != 0 or sp.simplify(hi - (value_shape[axis] - 1)) != 0:
            raise MatchError(f"the sum over {idx} runs over [{lo}, {hi}] but {value_name}'s axis {axis} has length {value_shape[axis]}")
    kernel = sp.Mul(*[f for f in factors if f is not value])
    _refuse_value_at_channel(kernel, value, channel, value_name, input_names, definitions, out_channel)
    kdef = None
    if isinstance(kernel, sp.Indexed) and str(kernel.base.label) in definitions:
        kdef = definitions[str(kernel.base.label)]
    # β: free of the aggregation variables, and reads no input (else K = 0, β = operator would match)
    for t in sp.Add.make_args(bias):
        if t.free_symbols & ({channel} | set(neighbour)):
            raise MatchError(f"term {t} outside the aggregation depends on {channel} or q")
        reads_input = _reads(t, definitions) & input_names
        if reads_input:
            raise MatchError(f"term {t} outside the aggregation reads the input {', '.join(sorted(reads_input))}")
    if len(position) != len(neighbour):
        raise MatchError(f"{len(position)} output position indices but {len(neighbour)} input position indices")
    q_hi = tuple(ranges[q][1] for q in neighbour)
    return EvolutionForm(lhs=lhs, batch=batch, out_channel=out_channel, position=tuple(position), channel=channel,
                         channel_hi=ranges[channel][1], neighbour=neighbour, neighbour_hi=q_hi, kernel=kernel,
                         kernel_definition=kdef, value=value, bias=bias, omega=omega)


def _refuse_value_at_channel(kernel, value, channel, value_name, input_names, definitions, out_channel) -> None:
    """:class:`MatchError` when K reads v at the aggregated channel c, looking through every definition K
    reads (a named kernel's body included): otherwise K = v would make any product of the input with
    itself an "Evolution form". When v is itself a definition, the inputs it reads at c stand for v
    (v[b,c,q] := 2·x[b,c,q] and K reading x[b,c,·] is K reading v). Reads at other, bound channels
    (attention's logits sum over every channel) are the dynamic kernel's business and stay allowed, and
    so are reads at the output channel: under a guard δ(c, o) a read at c is a read at o (HyperZ·Z·W's
    depthwise kernel Z ⊙ W reads Z at the output channel). That is the one exception: under δ(c, e) with e
    not the output channel, a read of v at channel e is a read at c (δ(c, 0)·x[b, 0, q]² · x[b, c, q] is x³)."""
    try:
        as_value = {value_name}
        if value_name in definitions:
            as_value |= {str(r.read.base.label) for r in reads_through(value, definitions, (channel,))
                         if isinstance(r.read, sp.Indexed) and str(r.read.base.label) in input_names
                         and r.mentions(channel)}
        axis = list(value.indices).index(channel)
        for r in reads_through(kernel, definitions, (channel,)):
            if isinstance(r.read, sp.Indexed) and str(r.read.base.label) == value_name and not r.mentions(channel):
                at = r.read.indices[axis]
                if any(s == channel and e != out_channel and sp.expand(e - at) == 0 for s, e in r.pins):
                    raise MatchError(f"the kernel reads the value {value_name} at channel {at}, which a factor "
                                     f"δ({channel}, {at}) makes the aggregated channel: {r.read} ({r.via()}), so K "
                                     "could be v itself: not an Evolution form")
            if isinstance(r.read, sp.Indexed) and str(r.read.base.label) in as_value and r.mentions(channel):
                name = str(r.read.base.label)
                what = (f"the value {value_name}" if name == value_name else
                        f"{name} (which the value {value_name} reads at {channel}: a read of {value_name})")
                raise MatchError(f"the kernel reads {what} at the aggregated channel {channel}: {r.read} ({r.via()}), "
                                 f"so K could be v itself: not an Evolution form")
    except ValueError as exc:   # a definition that reads itself
        raise MatchError(f"the kernel cannot be inlined: {exc}") from None


def _reads(expr, definitions, seen=None) -> set[str]:
    """Names of declared tensors read by ``expr``, looking through defined tensors."""
    seen = set() if seen is None else seen
    out = set()
    for r in expr.atoms(sp.Indexed):
        name = str(r.base.label)
        if name in definitions:
            if name not in seen:
                seen.add(name)
                out |= _reads(definitions[name].body, definitions, seen)
        else:
            out.add(name)
    return out
