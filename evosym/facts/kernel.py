"""Kernel facts: what a checked proof's Evolution kernel is, derived once per proof.

Every consumer — the property analysis (:mod:`evosym.analysis.properties`), the cost, the lowering
(:mod:`evosym.codegen.lowering`) — reads the same facts instead of deriving its own: the kind of Ω,
the kernel in tap coordinates K̂ (:mod:`.taps`, verified against K at the grid, computed once), the
layout of v and y, a softmax in K̂ (:mod:`.softmax`), a post-mix factor (attention's output
projection), and for the kernel that is aggregated: static or dynamic, shared across space or per
sample or position-specific, integer-valued, a torch padding's index map, the channel groups and the
factors (:mod:`.factors`), each with the one-line reason that the lowering prints; the divisor
structure of Ω and K (:mod:`.divisors`) and, on one position axis, the reach that decides causality.

Each fact is a SymPy decision on the symbolic kernel, so it holds for every size. Facts are computed
lazily, each at most once per :class:`KernelFacts` (a property analysis never pays for the facts only
the lowering needs), and :func:`kernel_facts` keeps one :class:`KernelFacts` per checked proof on the
proof object itself: it lives exactly as long as the proof.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from ..errors import EvosymError
from ..ir.evolution import EvolutionForm
from ..ir.neighbourhood import Global, IndexSet, Window, WindowAxis
from ..ir.symbols import InRange
from ..ir.tensors import definitions_read, indicator_names, inline_unshaped
from .bands import Band, band_part
from .divisors import DivisorKernel, divisor_kernel
from .factors import channel_factor, group_structure, matmul_factors, padded_kernel, postmix_factor
from .omega import causal_reach, omega_kind
from .softmax import rewrite_softmax
from .taps import TapKernel, padded_taps, tap_kernel

_MEMO = "_evosym_kernel_facts"


def kernel_facts(cp) -> "KernelFacts":
    """The facts of a checked proof's kernel, derived once per proof (kept on the proof object, so they
    are dropped with it). Refuses a proof that did not reach an Evolution form."""
    facts = cp.__dict__.get(_MEMO)
    if facts is None:
        if cp.evolution is None:
            raise EvosymError(f"{cp.operator.name}: the proof reached no Evolution form; it has no kernel facts")
        facts = KernelFacts(cp.operator, cp.evolution, cp.proof.definitions())
        object.__setattr__(cp, _MEMO, facts)   # CheckedProof is frozen; the facts are derived data, not a field
    return facts


@dataclass(frozen=True)
class Postmix:
    """K̂ = Σ_{c'=0}^{extent−1} P(o, c')·R with P static and the only part reading o, R free of o (attention's
    output projection): R is aggregated with c' as its output channel (``inner``: R with c' renamed o)."""

    channel: sp.Symbol
    extent: sp.Expr
    mix: sp.Expr
    inner: TapKernel


@dataclass(frozen=True)
class Aggregate:
    """Facts of one tap kernel that a lowering aggregates (the whole K̂, or R under a post-mix)."""

    taps: TapKernel
    static: bool              # K̂ reads no input: the operator is linear in x
    free_of_position: bool    # K̂ is free of the output position
    shared: bool              # … and of the batch: one kernel for every sample and position
    integer: bool             # only integer constants: integer inputs give exact outputs
    padded: tuple | None      # (torch padding mode, K̂ inside the input) when K reads x through F.pad's map
    premix: tuple | None      # (M, S): K̂ = M(o, c)·S, M static, S free of c, no group delta, O = C
    group: tuple | None       # (C_g, O_g, rest): K̂ = δ(⌊c/C_g⌋, ⌊o/O_g⌋)·rest
    static_reason: str
    sharing_reason: str

    @property
    def per_sample(self) -> bool:
        """One kernel per sample, shared across space (K̂ reads the batch index, not the position)."""
        return self.free_of_position and not self.shared

    @property
    def native(self) -> sp.Expr:
        """The kernel a native op takes: inside the input once x is padded, else K̂ itself."""
        return self.padded[1].expr if self.padded is not None else self.taps.expr


@dataclass(frozen=True, eq=False)
class KernelFacts:
    """The facts of one Evolution form. ``mutate(K̂) -> K̂'`` replaces the verified tap kernel: only for
    tests and mutants that show a wrong kernel fails the numeric check (never memoised)."""

    operator: object
    form: EvolutionForm
    definitions: dict
    mutate: object = None      # K̂ -> K̂' (tests only)
    verified: object = None    # the KernelFacts whose verified K̂ ``mutate`` rewrites
    part: bool = False         # ``mutate`` gives a part of the verified K̂ (:meth:`part_of`), not a canary
    beside: object = None      # … and the other part (zero padding), which the part's own checks add

    def with_kernel(self, mutate) -> "KernelFacts":
        """These facts with the verified K̂ replaced by ``mutate(K̂)`` (a test canary; K̂ is not re-verified)."""
        return KernelFacts(self.operator, self.form, self.definitions, mutate, self)

    def part_of(self, expr, beside) -> "KernelFacts":
        """The facts of ``expr``, some terms of the verified K̂ (:attr:`static_part`), ``beside`` the others: K̂ is the
        sum of its parts, so the operator is the sum of each part aggregated (linearity); the part keeps K̂'s
        verification count, and a check of the part against K adds ``beside`` (:func:`.taps.padded_taps`)."""
        return KernelFacts(self.operator, self.form, self.definitions, lambda _: expr, self, part=True, beside=beside)

    @cached_property
    def static_part(self) -> tuple | None:
        """(rest, fixed) when K̂ = rest + fixed with ``fixed`` the terms of K̂ that read no input and no definition
        and are free of the output position and the batch (one convolution for every sample: ACmix's conv path
        beside its attention), ``rest`` the others; else None (K̂ no such sum, Ω not a window at s·p + δ·u − P, not
        channels first, or a canary)."""
        expr, form = self.taps.expr, self.windowed
        if self.mutate is not None or self.everywhere or not self.layout[0] or not isinstance(expr, sp.Add) or \
                any(a.wrap or a.clamp or a.tiled for a in form.omega.axes):   # (the native convolution pads zeros)
            return None
        moving = set(form.position) | {form.batch}

        def fixed(t):
            return not (t.free_symbols & moving) and not self._definitions_read(t) and not self.reads(t) & self.inputs
        terms = [t for t in expr.args if fixed(t)]
        if not terms or len(terms) == len(expr.args):
            return None
        return sp.Add(*[t for t in expr.args if not fixed(t)]), sp.Add(*terms)

    @cached_property
    def band(self) -> Band | None:
        """K̂ = rest + a window part when Ω is every input position (:func:`.bands.band_part`: HyperZ·Z·W's local
        branch beside its matrix product), verified against K at every grid shape; else None (Ω a window, not
        channels first, more than three position axes, or a canary)."""
        if self.mutate is not None or not self.everywhere or not self.layout[0] or not 1 <= len(self.form.position) <= 3:
            return None
        return band_part(self.operator, self.windowed, self.taps, self.definitions)

    # --- Ω and the tap form ------------------------------------------------------------------------
    @cached_property
    def omega_kind(self) -> str:
        """"window", "global", "divisors" or "index set" (:mod:`.omega`)."""
        return omega_kind(self.form.omega)

    @property
    def everywhere(self) -> bool:
        """Ω is not a window: the kernel is read over every input position (K vanishes off an index set)."""
        return isinstance(self.form.omega, (Global, IndexSet))

    @cached_property
    def windowed(self) -> EvolutionForm:
        """The form with Ω a window: a global Ω or an index set is the window q = 0·p + 1·u over u < L,
        whose taps are the positions themselves (exact for an index set: the support check showed K
        vanishes off Ω)."""
        form = self.form
        if self.everywhere:
            whole = Window(tuple(WindowAxis(L, 0, 1, 0, L) for L in form.omega.lengths()))
            form = dataclasses.replace(form, omega=whole)
        return form

    @cached_property
    def taps(self) -> TapKernel:
        """K̂ in tap coordinates of :attr:`windowed`, verified against K at every grid shape (once)."""
        if self.mutate is not None:
            taps = self.verified.taps
            return TapKernel(self.mutate(taps.expr), taps.taps, taps.tap_hi, taps.checked_shapes if self.part else 0)
        return tap_kernel(self.operator, self.windowed, self.definitions)

    @cached_property
    def channel_group(self) -> tuple | None:
        """(C_g, O_g, rest) when the kernel as proved carries δ(⌊c/C_g⌋, ⌊o/O_g⌋)
        (:func:`.factors.group_structure`; of K̂ for a window, of K otherwise), else None: the channel
        structure the properties report."""
        expr = self.taps.expr if self.omega_kind == "window" else self.form.kernel_body
        return group_structure(expr, self.form.channel, self.form.out_channel)

    @cached_property
    def inputs(self) -> frozenset:
        return frozenset(t.name for t in self.operator.tensors if t.role == "input")

    # --- layout ---------------------------------------------------------------------------------
    @cached_property
    def value_layout(self) -> tuple:
        """Per axis of v: ("batch" | "channel" | "position", k)."""
        form = self.form
        roles = {form.batch: ("batch", 0), form.channel: ("channel", 0)}
        roles.update({q: ("position", k) for k, q in enumerate(form.neighbour)})
        return tuple(roles[i] for i in form.value.indices)

    @cached_property
    def output_layout(self) -> tuple:
        """Per axis of y: the same roles, "out" for the output channel."""
        op = self.operator
        roles = {op.batch: ("batch", 0), op.out_channel: ("out", 0)}
        roles.update({p: ("position", k) for k, p in enumerate(op.position)})
        return tuple(roles[i] for i in op.lhs_indices)

    @cached_property
    def layout(self) -> tuple:
        """(channels first, channels last): v and y both (B, C, L…), or both (B, L…, C)."""
        v, y = [r[0] for r in self.value_layout], [r[0] for r in self.output_layout]
        pos = ["position"] * len(self.operator.position)
        return (v == ["batch", "channel"] + pos and y == ["batch", "out"] + pos,
                v == ["batch"] + pos + ["channel"] and y == ["batch"] + pos + ["out"])

    @property
    def out_channels(self) -> sp.Expr:
        op = self.operator
        return op.output.shape[op.lhs_indices.index(op.out_channel)]

    # --- softmax, post-mix -----------------------------------------------------------------------
    @cached_property
    def _softmax(self) -> tuple:
        try:
            inlined = inline_unshaped(self.taps.expr, self.definitions)
        except ValueError as exc:
            raise EvosymError(f"code generation: {exc}") from None
        indicators = indicator_names(self.operator.tensors)
        expr, softmaxes, sm_defs = rewrite_softmax(inlined, self.definitions, indicators)
        for name, d in sorted(self.definitions.items()):   # a shaped definition that is a softmax itself (the
            if d.shape is None:                             # attention maps Cordonnier's K̂ reads): its body rewritten
                continue
            try:
                body, found, new = rewrite_softmax(inline_unshaped(d.body, self.definitions), self.definitions, indicators)
            except ValueError as exc:
                raise EvosymError(f"code generation: {exc}") from None
            if found:
                softmaxes.update(found)
                sm_defs.update({**new, name: dataclasses.replace(d, body=body)})
        return TapKernel(expr, self.taps.taps, self.taps.tap_hi, self.taps.checked_shapes), softmaxes, sm_defs

    @property
    def kernel(self) -> TapKernel:
        """K̂ with definitions without a shape inlined and every softmax exp(ℓ)/Σ exp(ℓ) read as one tensor."""
        return self._softmax[0]

    @property
    def softmaxes(self) -> dict:
        """name → :class:`.softmax.Softmax`: the softmaxes recognised in K̂."""
        return self._softmax[1]

    @cached_property
    def lowering_definitions(self) -> dict:
        """The proof's definitions and the softmax definitions :attr:`kernel` reads."""
        return {**self.definitions, **self._softmax[2]}

    def reads(self, expr) -> set:
        """Names of the tensors ``expr`` reads, looking through definitions."""
        exprs = [expr] + [d.body for d in self._definitions_read(expr)]
        return {str(r.base.label) for e in exprs for r in e.atoms(sp.Indexed)}

    def _definitions_read(self, expr) -> list:
        try:
            return definitions_read(expr, self.lowering_definitions)
        except ValueError as exc:
            raise EvosymError(f"code generation: {exc}") from None

    @cached_property
    def postmix(self) -> Postmix | None:
        """K̂ = Σ_{c'} P(o, c')·R (:func:`.factors.postmix_factor`) with P static, v and y channels first and
        c' ranging over the output channels; else None."""
        form = self.windowed
        found = postmix_factor(self.kernel.expr, form.channel, form.out_channel, self.operator.size_symbols())
        if found is None or not self.layout[0]:
            return None
        cp, extent, mix, rest = found
        if self.reads(mix) & self.inputs or sp.simplify(extent - self.out_channels) != 0:
            return None
        k = self.kernel
        inner = TapKernel(rest.xreplace({cp: form.out_channel}), k.taps, k.tap_hi, k.checked_shapes)
        return Postmix(cp, extent, mix, inner)

    # --- the aggregated kernel ----------------------------------------------------------------------
    @cached_property
    def whole(self) -> Aggregate:
        """Facts of :attr:`kernel`, aggregated as it is."""
        return self._aggregate(self.kernel)

    @cached_property
    def inner(self) -> Aggregate | None:
        """Facts of R under a :attr:`postmix` (aggregated before P is applied), else None."""
        return None if self.postmix is None else self._aggregate(self.postmix.inner)

    def _aggregate(self, taps: TapKernel) -> Aggregate:
        form, op = self.windowed, self.operator
        khat, c, o = taps.expr, form.channel, form.out_channel
        static = not (self.reads(khat) & self.inputs)
        free_of_p = not (khat.free_symbols & set(form.position))
        shared = free_of_p and not khat.has(form.batch)
        integer = all(_integer_valued(e) for e in [khat] + [d.body for d in self._definitions_read(khat)])
        affine = not self.everywhere and not any(a.wrap or a.clamp or a.tiled for a in form.omega.axes)
        padded = padded_kernel(op, form, taps) if static and self.layout[0] else \
            padded_taps(op, form, self.lowering_definitions, taps, self.beside) if self.layout[0] and affine else None
        split = channel_factor(padded[1].expr if padded is not None and not static else khat, c, o, op.size_symbols())
        premix = None
        if split is not None and self.layout[0] and group_structure(khat, c, o) is None and \
                not self.reads(split[0]) & self.inputs:
            premix = split   # (O may differ from C: the windows are laid out for v = M·x's channels)
        sharing = ("shared across space (K̂ is free of the output position)" if shared else
                   "shared across space, one kernel per sample (K̂ reads the batch index)" if free_of_p else
                   "position-specific")
        return Aggregate(taps, static, free_of_p, shared, integer, padded, premix, group_structure(khat, c, o),
                         "static (K̂ reads no input)" if static else "dynamic (K̂ reads the input)", sharing)

    def group(self, khat) -> tuple | None:
        """(C_g, O_g, rest) when ``khat`` = δ(⌊c/C_g⌋, ⌊o/O_g⌋)·rest (:func:`.factors.group_structure`), else
        None."""
        form = self.windowed
        return group_structure(khat, form.channel, form.out_channel)

    def groups_of(self, khat) -> tuple | None:
        """(C_g, O_g, rest, groups) when ``khat`` carries δ(⌊c/C_g⌋, ⌊o/O_g⌋) and the group counts agree,
        C/C_g = O/O_g (what a grouped native op and a per-group kernel need); else None."""
        grp = self.group(khat)
        if grp is None:
            return None
        cg, og, rest = grp
        groups = sp.simplify((self.windowed.channel_hi + 1) / cg)
        if sp.simplify(groups - self.out_channels / og) != 0:
            return None
        return cg, og, rest, groups

    def matmul(self, khat) -> tuple | None:
        """(S, None) for K̂ = δ(c, o)·S with S reading no channel and no batch, (S, M) for K̂ = M(o, c)·S
        separable, else None (:func:`.factors.matmul_factors`)."""
        form = self.windowed
        return matmul_factors(khat, form.channel, form.out_channel, form.batch, self.operator.size_symbols())

    # --- Ω facts ----------------------------------------------------------------------------------
    @cached_property
    def divisor(self) -> DivisorKernel | None:
        """K is a Dirichlet convolution over the divisors of p + a (:mod:`.divisors`), else None."""
        return divisor_kernel(self.operator, self.form, self.definitions)

    @cached_property
    def reach(self) -> tuple | None:
        """(E(p), why) with max Ω(p) − p ≤ E(p) (E None where not derived) for one position axis, else None:
        what causality is decided on (:func:`.omega.causal_reach`, confirmed at the grid by the analysis)."""
        if len(self.form.position) != 1 or len(self.form.neighbour) != 1:
            return None
        return causal_reach(self.form.omega, self.form.position[0])

    @property
    def omega_reason(self) -> str | None:
        if isinstance(self.form.omega, IndexSet):
            return "Ω an index set, summed over every input position (K̂ vanishes off Ω)"
        if isinstance(self.form.omega, Global):
            return "global Ω (every input position)"
        return None


INDEX_ARITHMETIC = (sp.floor, sp.ceiling, sp.Mod, sp.Indexed, sp.KroneckerDelta, InRange)


def _integer_valued(expr) -> bool:
    """K̂'s values are integers for integer inputs: only integer constants and non-negative integer
    powers outside index arithmetic (⌊c/C_g⌋ or a delta's arguments are indices, not values)."""
    if isinstance(expr, INDEX_ARITHMETIC):
        return True
    if expr.is_Number:
        return bool(expr.is_Integer)
    if isinstance(expr, sp.Pow) and not (expr.exp.is_Integer and expr.exp >= 0):
        return False
    if isinstance(expr, (sp.Add, sp.Mul, sp.Pow, sp.Sum)):
        parts = expr.args if not isinstance(expr, sp.Sum) else (expr.function,)
        return all(_integer_valued(a) for a in parts)
    return expr.is_Symbol
