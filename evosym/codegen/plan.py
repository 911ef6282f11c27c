"""The plan for generated code: the chosen lowering's fields, as plain data for the templates.

The lowering is one variant of a closed set (:mod:`.lowering`: native convolution, linear or matmul,
premix, post-mix, generic, divisor slices), chosen by :func:`.lowering.choose` from the kernel facts
(:mod:`evosym.facts.kernel`: the tap kernel K̂, static / shared / per sample, groups, factors,
softmax), which are derived once per checked proof. :func:`make_plan` builds the fields the torch
module and kernel templates read from that variant: sizes and checks, parameters, the materialised
definitions, the native weight or the generic kernel program (always built: the ``path="generic"``
alternative), and the correlations the generated kernels compute themselves.

Each property is decided on the symbolic K̂ (free symbols, factors), so it holds for all sizes;
K̂ itself was verified against K at the grid (see :mod:`evosym.facts.taps`).
"""

from __future__ import annotations

import dataclasses

from dataclasses import dataclass, field

import sympy as sp

from ..errors import EvosymError
from ..facts.factors import channel_block, group_structure
from ..facts.kernel import kernel_facts
from ..facts.softmax import weights_read_linearly
from ..facts.taps import TapKernel
from ..ir.neighbourhood import IndexSet
from ..ir.tensors import Definition, definitions_read, indicator_names, inline_unshaped
from ..printers.expr import text
from ..proof.proof import CheckedProof
from ..proof.symbolic import nonnegative
from .correlation import attends, correlation, fused_attention
from .domain import domain_checks
from .lowering import (AvgPool, DivisorSlices, Generic, NativeConv, NativeLinear, NativeMatmul, Postmix, Premix, TermSum,
                       choose, native_bias, sdpa)
from .sdpa import recognise as recognise_sdpa, recognise_tiled
from .texts import check_texts
from .torchexpr import GridCompiler, Program, py_name


@dataclass
class Plan:
    """Everything the torch templates need; plain data."""

    name: str
    class_name: str
    func_name: str
    summary: str
    path: str
    reason: str
    dims: int
    value: str
    value_rank: int
    value_layout: list            # per axis of v: ("batch"|"channel"|"position", k)
    output_layout: list           # per axis of y, same roles ("out" for the output channel)
    runtime_sizes: list           # (python name, axis of v)
    module_sizes: list            # (python name, meaning)
    checks: list                  # (python condition, message) on the input
    params: list                  # (ir name, torch name, [shape python exprs], description)
    out_lengths: list             # python exprs of the output position lengths
    channels_in: str
    channels_out: str
    window: dict = field(default_factory=dict)     # stride/padding/dilation/kernel tuples (python)
    weight: Program | None = None
    weight_axes: list = field(default_factory=list)
    weight_shape: list = field(default_factory=list)   # python exprs: the native weight's full shape
    groups: str = "1"
    bias: str | None = None                        # torch name of a bias vector passed natively
    bias_program: Program | None = None            # generic β
    kernel: Program | None = None                  # generic K̂
    kernel_axes: list = field(default_factory=list)
    kernel_letters: str = ""
    kernel_text: str = ""
    einsum: str = ""
    tap_shapes: int = 0
    param_names: list = field(default_factory=list)
    size_names: list = field(default_factory=list)
    definitions: list = field(default_factory=list)  # (name, description, Program, variable, shape), in order
    windows_shape: list = field(default_factory=list)  # python exprs: the unfolded input as the einsum reads it
    kernel_expand: list = field(default_factory=list)  # (axis, python extent): kernel axes the output needs full
    out_shape: list = field(default_factory=list)   # python exprs: the einsum result reshaped to (B, O, L_out…)
    channel_map: tuple = ()                         # SymPy (groups, O_g, C_g, share): o = g·O_g + o', c = g·C_g + c',
                                                    # the kernel of group g is kernel group ⌊g/share⌋
    kernel_unsqueeze: list = field(default_factory=list)  # axes that make the kernel (b, g, o', c', u…, p…)
    size_order: tuple = ()                          # every size symbol, in the operator's order
    grouped: bool = True                            # False: the generic path builds the full (b, o, c) kernel
    all_sizes: list = field(default_factory=list)
    static: bool = False                           # K̂ reads no input: the operator is linear in x
    integer_kernel: bool = False                   # K̂ has only integer constants: integer inputs give exact outputs
    shared: bool = False                           # K̂ is free of the output position
    scale: bool = False                            # per-sample, depthwise, 1×1 window: y = x · K̂ (broadcast)
    premix: Program | None = None                  # K̂ = M(o, c)·S: M on the grid (o, c); v = M·x is aggregated
    premix_factor: tuple = ()                      # SymPy (M, S)
    correlations: dict = field(default_factory=dict)  # definition variable -> a windowed correlation the kernels compute
    attends: dict = field(default_factory=dict)    # softmax variable -> the correlation of its logits (one kernel call)
    attention: dict | None = None                  # K̂ = M·softmax(a ⋆ b) exactly: the kernels fuse logits, softmax
                                                   # and aggregation (``evosym::attention``); that correlation
    softmax: bool = False                          # a definition is a softmax (the module carries ``_softmax``)
    global_omega: bool = False                     # Ω is every input position: taps u are the positions q themselves
    factored: dict | None = None                   # native-conv of K̂ = P·D: the depthwise and pointwise weights, the costs
    pool: str | None = None                        # native-conv of K̂ = δ(c, o)·κ: the average pool's factor κ·|window|
    low_rank: dict | None = None                   # native-matmul with S = A·Bᵀ: the factors' programs and the rank
    pool_divisor: str | None = None                # … and 1/κ where it is a positive integer (avg_pool's divisor_override)
    avg_pool: dict | None = None                   # native-avg-pool: F.avg_pool{1,2,3}d's ceil_mode and count_include_pad
    native_no_cpu_half: bool = False               # the native call (F.avg_pool3d) has no CPU float16/bfloat16 kernel:
                                                   # "auto" runs the generic path there
    sdpa: dict | None = None                       # softmax attention: the F.scaled_dot_product_attention call's parts
    term_sum: dict | None = None                   # K̂ = Σ_t M·S: the two programs, their shapes and the two einsums
    static_conv: dict | None = None                # K̂ = R + F, F static and shared: F's weight program and shape
    band_conv: dict | None = None                  # global K̂ = R + a shared window part: its weight program, groups, window
    diagonal: bool = False                         # a global K̂'s δ(p_k, u_k) read as x at p_k (einsum labels), not a grid
    diagonal_axes: list = field(default_factory=list)   # … the axes where it was
    divisor: dict | None = None                    # Ω = divisors: the divisor lowering's data (codegen/divisors.py)
    index_set: bool = False                        # … or an index set, lowered over every position (K̂ is 0 off Ω)
    pad_mode: str = ""                             # native path on F.pad(x, mode=pad_mode): K reads x through its map
    windows_mode: str = ""                         # the aggregation's windows from F.pad(v, mode=…): S inside the input
    wrap: bool = False                             # Ω wraps around the input (circular): windows from a circular F.pad
    clamp: bool = False                            # Ω's start is clamped inside the input (NATTEN): windows selected by start
    tiled: bool = False                            # Ω is p's fixed tile (Swin): windows from the (rolled) input's tiles
    channel_weight: Program | None = None          # native-matmul of a separable K̂ = M(o, c)·S: M on (o, c)
    postmix: Program | None = None                 # K̂ = Σ_c' P(o, c')·R: R aggregated (output channel c'), then y = P·z
    postmix_text: str = ""
    size_lows: dict = field(default_factory=dict)   # module size -> its declared lower bound (1, or 0 for a size ≥ 0)
    domain: list = field(default_factory=list)      # (python condition, message) on the sizes: where the proof holds
    lowering: object = None                         # the chosen variant (codegen/lowering.py) the fields are built from
    inputs: list = field(default_factory=list)      # every input tensor's name, in the operator's order (v among them)
    extra_inputs: list = field(default_factory=list)  # (name, rank) of the inputs other than v (cross-attention's queries)
    input_checks: list = field(default_factory=list)  # (python condition, message) on those inputs' axes, sizes known
    finite_inputs: list = field(default_factory=list)  # inputs declared "finite": every entry checked at run time
    nonnegative_params: list = field(default_factory=list)  # module attributes of parameters declared "nonnegative"
    indicator_inputs: list = field(default_factory=list)  # inputs declared "indicator": 0/1, a 1 in every row, checked
    leading_inputs: list = field(default_factory=list)    # of those, "leading_indicator": the first entry 1 in every row
    extras_batched: bool = True                     # every other input has v's batch axis first (unbatched calls work)
    helpers: list = field(default_factory=list)     # helper functions the programs call (``pad_axes``), sorted

    @property
    def aggregated(self) -> bool:
        """The default path aggregates a kernel tensor (generic or generated kernels), not a native op."""
        return self.path in AGGREGATING

    @property
    def affine_window(self) -> bool:
        """Every window tap reads x at s·p + δ·u − P, clipped to the input: what the kernel targets and their
        correlations compute (not a global, wrapping, clamped or tiled Ω)."""
        return not (self.global_omega or self.wrap or self.clamp or self.tiled)

    @property
    def kernel_devices(self) -> tuple:
        """The device types on which ``path="auto"`` runs evosym's generated kernels when they build, sorted: those
        of the registered kernel backends that lower every kind of window Ω has (:mod:`evosym.runtime.backends`,
        ``Backend.windows``) — CPU and CUDA for windows at s·p + δ·u − P, clamped or wrapping windows; CUDA only
        for tiled windows; none for a global Ω or a native path."""
        from ..runtime import backends
        if not self.aggregated or not self.has_kernels:
            return ()
        kinds = {k for k in ("clamp", "wrap", "tiled") if getattr(self, k)} or {"affine"}
        return tuple(sorted({d for b in backends.kernel_backends() if kinds <= b.windows for d in b.devices}))

    @property
    def has_kernels(self) -> bool:
        """evosym generates kernels for this operator (``path="kernels"``): every windowed Ω, none for a global one
        nor for a window read through a padding's index map by a kernel that is not static (the generated kernels
        read a window with zero padding; :attr:`no_kernels`)."""
        return not self.no_kernels

    @property
    def no_kernels(self) -> str:
        """Why evosym generates no kernels for this operator ("" where it does)."""
        if self.global_omega:
            return "its Ω is every input position (global), and the generated kernels lower windowed neighbourhoods only"
        if self.windows_mode:
            return (f"its window reads the input through the '{self.windows_mode}' padding's index map, which the "
                    "generated kernels do not (they read zeros outside the input)")
        return ""


AGGREGATING = ("generic-window", "premix-window", "generic-global", "premix-global")   # lowerings whose default path is an aggregation (generic or kernels)


def _names(plan: "Plan") -> None:
    """Argument lists for the templates (joined there; empty lists must leave no stray commas)."""
    plan.param_names = [name for _, name, _, _ in plan.params]
    plan.all_sizes = [py_name(s) for s in plan.size_order]
    plan.size_names = [name for name, _ in plan.module_sizes]


def _definitions_read(expr, defs: dict) -> list:
    try:
        return definitions_read(expr, defs)
    except ValueError as exc:
        raise EvosymError(f"code generation: {exc}") from None


def _inline(expr, defs: dict):
    """Reads of definitions without a shape replaced by their bodies (repeatedly)."""
    try:
        return inline_unshaped(expr, defs)
    except ValueError as exc:
        raise EvosymError(f"code generation: {exc}") from None


def _materialise(op, expr, defs: dict, tensors: dict, local_sizes: dict, pyx, softmaxes: dict) -> list:
    """Definitions with a shape that ``expr`` reads, each computed once on its own grid (dependencies
    first) and made available to later programs as a tensor; a recognised softmax (:mod:`.softmax`)
    reads only its logits and is computed by ``torch.softmax``."""
    ordering = {**defs, **{n: Definition(n, defs[n].params, defs[sm.logits].base[defs[n].params], shape=defs[n].shape)
                           for n, sm in softmaxes.items()}}
    order = [d.name for d in _definitions_read(expr, ordering) if d.shape is not None]
    out = []
    for n, name in enumerate(order, 1):
        d = defs[name]
        extent = {p: pyx(e) for p, e in zip(d.params, d.shape)}
        if name in softmaxes:
            sm = softmaxes[name]
            logits = tensors[sm.logits][0]
            lines = []
            if sm.mask is not None:   # −∞ where the guard hides a logit (its weight is exactly 0)
                guard = GridCompiler(d.params, extent, tensors, local_sizes, prefix=f"g{n}_",
                                     bounds=dict(zip(d.params, d.shape))).compile(sm.mask)
                lines += guard.statements
                logits = f"{logits}.masked_fill({guard.result} == 0, float('-inf'))"
            flush = weights_read_linearly(name, expr, defs)
            prog = Program(d.params, lines + [f"sm{n} = _softmax({logits}, {sm.first}, {sm.count}"
                                              f"{', flush=True' if flush else ''})  # exp(ℓ)/Σ exp(ℓ) "
                                              f"over axes {sm.first}…{sm.first + sm.count - 1}, max subtracted"
                                              + (", masked" if sm.mask is not None else "")
                                              + ("; subnormal weights 0 (every read linear)" if flush else "")],
                           f"sm{n}")
        else:
            prog = GridCompiler(d.params, extent, tensors, local_sizes, prefix=f"d{n}_",
                                bounds=dict(zip(d.params, d.shape))).compile(_inline(d.body, defs))
        var = f"def_{py_name(name)}"
        out.append((name, d.description, prog, var, [extent[p] for p in d.params]))
        tensors[name] = (var, [extent[p] for p in d.params], d.shape)
    return out


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_")) + "Evolution"


def make_plan(cp: CheckedProof, *, force_generic: bool = False, mutate_kernel=None, grouped: bool = True) -> Plan:
    """The plan for a checked proof; refuses proofs that did not check.

    The lowering is the variant :func:`.lowering.choose` picks from the kernel facts (computed once per
    proof, :func:`evosym.facts.kernel.kernel_facts`); this builds the templates' fields from it.
    ``mutate_kernel(K̂) -> K̂'`` replaces the verified tap kernel; it exists only so that tests can
    show that a wrong kernel expression makes the numeric check fail (a canary).
    """
    if not cp.ok or cp.evolution is None:
        raise EvosymError(f"{cp.operator.name}: the proof does not check; no code is generated from it")
    check_texts(cp.operator, cp.evolution)   # the words generated code carries: never code of an operator file's choosing
    facts = kernel_facts(cp)
    if mutate_kernel is not None:
        facts = facts.with_kernel(mutate_kernel)
    op, form = cp.operator, facts.windowed   # a global Ω or an index set as the window over every position
    index_set = isinstance(cp.evolution.omega, IndexSet)
    glob = facts.everywhere
    value = op.tensor(op.value)
    value_layout, output_layout = list(facts.value_layout), list(facts.output_layout)
    # sizes: those that are an axis of the input are read from it; the rest are module arguments
    local_sizes = {s: py_name(s) for s, _ in op.sizes}
    pyx = GridCompiler((), {}, {}, local_sizes).scalar
    runtime, sizes_py = [], {}
    param_syms = set().union(*[sp.sympify(d).free_symbols for t in op.tensors if t.role == "parameter" for d in t.shape])
    multiples = []
    for axis, dim in enumerate(value.shape):
        if dim.is_Symbol and dim not in sizes_py and dim not in param_syms:
            runtime.append((py_name(dim), f"{op.value}.shape[{axis}]"))
            sizes_py[dim] = py_name(dim)
    hyper = set()   # window hyperparameters (stride, kernel, …) are module sizes, never read from the input
    if not glob:
        for a in form.omega.axes:
            for e in (a.kernel, a.stride, a.dilation, a.padding):
                hyper |= e.free_symbols
    for axis, dim in enumerate(value.shape):   # s·H: H = length ÷ s, when only H is unknown
        unknown = [f for f in dim.free_symbols if f not in sizes_py and f not in param_syms | hyper] if dim.is_Mul else []
        if len(unknown) == 1 and not (dim / unknown[0]).free_symbols & (set(sizes_py) | {unknown[0]}) \
                and (dim / unknown[0]).free_symbols:
            factor = dim / unknown[0]
            runtime.append((py_name(unknown[0]), f"{op.value}.shape[{axis}] // ({pyx(factor)})"))
            sizes_py[unknown[0]] = py_name(unknown[0])
            multiples.append((axis, factor))
    extras = [t for t in op.tensors if t.role == "input" and t.name != op.value]
    for t in extras:   # another input's own sizes (the queries' length) are read from it too
        for axis, dim in enumerate(t.shape):
            if dim.is_Symbol and dim not in sizes_py and dim not in param_syms and dim not in hyper:
                runtime.append((py_name(dim), f"{t.name}.shape[{axis}]"))
                sizes_py[dim] = py_name(dim)
    module = [(py_name(s), meaning) for s, meaning in op.sizes if s not in sizes_py]
    for s, _ in op.sizes:
        sizes_py.setdefault(s, f"self.{py_name(s)}")
    checks = [(f"{op.value}.shape[{axis}] % ({pyx(f)}) == 0",
               f"axis {axis} of {op.value} must be a multiple of {text(f)} = {{{pyx(f)}}}") for axis, f in multiples]
    for axis, dim in enumerate(value.shape):
        if not (dim.is_Symbol and dim not in param_syms) and axis not in {a for a, _ in multiples}:
            checks.append((f"{op.value}.shape[{axis}] == {pyx(dim)}",
                           f"axis {axis} of {op.value} must have length {_length_text(dim, pyx)}"))
    params = [(t.name, t.torch_name or py_name(t.name), [pyx(d) for d in t.shape], t.description)
              for t in op.tensors if t.role == "parameter"]
    tensors = {t.name: (tn, shape, t.shape) for t, (_, tn, shape, _) in zip([t for t in op.tensors if t.role == "parameter"], params)}
    tensors[op.value] = (op.value, [pyx(d) for d in value.shape], value.shape)
    for t in extras:
        tensors[t.name] = (t.name, [pyx(d) for d in t.shape], t.shape)
    taps, softmaxes, defs = facts.kernel, facts.softmaxes, facts.lowering_definitions
    materialised = _materialise(op, taps.expr, defs, tensors, local_sizes, pyx, softmaxes)
    out_lengths = [pyx(op.output.shape[op.lhs_indices.index(p)]) for p in op.position]
    plan = Plan(name=op.name, class_name=_camel(op.name), func_name=f"{op.name}_evolution", summary=op.summary,
                path="", reason="", dims=len(op.position), value=op.value, value_rank=len(value.shape),
                value_layout=value_layout, output_layout=output_layout, runtime_sizes=runtime, module_sizes=module,
                checks=checks, params=params, out_lengths=out_lengths,
                channels_in=pyx(form.channel_hi + 1),
                channels_out=pyx(op.output.shape[op.lhs_indices.index(op.out_channel)]),
                tap_shapes=taps.checked_shapes, kernel_text=text(taps.expr, op.display_names("text")),
                definitions=materialised, size_order=tuple(s for s, _ in op.sizes), softmax=bool(softmaxes))
    _names(plan)
    _inputs(plan, op, extras, pyx)
    plan.size_lows = {py_name(s): 0 if s.is_nonnegative and not s.is_positive else 1 for s, _ in op.sizes
                      if py_name(s) in plan.size_names}
    plan.domain = domain_checks(op, pyx)
    plan.grouped = grouped
    plan.global_omega, plan.index_set = glob, index_set
    _window(plan, op, form, pyx)
    padding_ok = all(nonnegative(a.padding) for a in form.omega.axes)
    plan.lowering = choose(facts, padding_ok=padding_ok, force_generic=force_generic, grouped=grouped)
    built = facts
    fixed = facts.static_part if isinstance(plan.lowering, Generic) and not force_generic and padding_ok and \
        1 <= plan.dims <= 3 else None
    if fixed is not None:   # K̂ = rest + a static, shared part: the rest premixed, the part one native convolution
        part = facts.part_of(*fixed)
        rest = choose(part, padding_ok=padding_ok, grouped=grouped)
        if isinstance(rest, Premix):
            built, plan.lowering = part, dataclasses.replace(rest, reason=_static_reason(op, fixed[1], plan.dims) + rest.reason)
            plan.static_conv = _part_weight(plan, op, form, fixed[1], facts.taps.taps, [a.kernel for a in form.omega.axes],
                                            tensors, local_sizes, pyx, "f")
    band = facts.band if isinstance(plan.lowering, Generic) and glob and not force_generic else None
    if band is not None:   # K̂ = rest + a shared kernel over a window around p: that part one native convolution
        part = facts.part_of(band.rest, band.term)
        rest = choose(part, padding_ok=padding_ok, grouped=grouped)
        if isinstance(rest, Generic):
            plan.band_conv = {**_part_weight(plan, op, form, _inline(band.kernel, defs), band.taps, band.size, tensors,
                                             local_sizes, pyx, "band"),
                              "kernel": [pyx(k) for k in band.size], "padding": [pyx(x) for x in band.padding]}
            built, plan.lowering = part, dataclasses.replace(rest, reason=_band_reason(op, band) + rest.reason)
    plan.diagonal = not force_generic   # δ(p_k, u_k) in a global K̂: the einsum reads x at p_k itself
    _build(plan, plan.lowering, built, tensors, local_sizes, pyx)
    if plan.aggregated and not glob:
        for name, _, _, var, _ in plan.definitions:
            corr = correlation(defs[name], _inline(defs[name].body, defs), op, form, plan, tensors, pyx)
            if corr is not None:
                plan.correlations[var] = corr
        attends(plan, softmaxes, defs)
        fused_attention(plan, form, taps.taps)
        _logit_bias(plan, defs, tensors, local_sizes, pyx)
    found = None if force_generic or plan.band_conv else (recognise_sdpa(plan, facts, defs, tensors, local_sizes, pyx)
                                        or recognise_tiled(plan, facts, pyx, defs))
    if found is not None:   # softmax attention: one F.scaled_dot_product_attention call (codegen/sdpa.py)
        plan.sdpa, plan.lowering = found, sdpa(plan.lowering, found)
        plan.path, plan.reason = plan.lowering.path, plan.lowering.reason
    if isinstance(plan.lowering, DivisorSlices):   # Ω = the divisors of n: strided slices, no N×N kernel (codegen/divisors.py)
        div = facts.divisor
        plan.path, plan.reason, plan.divisor = plan.lowering.path, plan.lowering.reason, {"weight": div.torch_name, "a": div.a}
    plan.helpers = sorted(_helpers(vars(plan)))
    return plan


def _helpers(value) -> set:
    """The helper functions every program inside ``value`` (the plan's fields, nested) calls."""
    if isinstance(value, Program):
        return set(value.helpers)
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple, set)):
        return set().union(*(_helpers(v) for v in value))
    return set()


def _inputs(plan, op, extras, pyx) -> None:
    """The module's inputs in the operator's order, and what is checked of those other than v: every axis has its
    declared length (the sizes read from v and from them known by then)."""
    plan.inputs = [t.name for t in op.tensors if t.role == "input"]
    plan.extra_inputs = [(t.name, len(t.shape)) for t in extras]
    batch = op.tensor(op.value).shape[0]
    plan.extras_batched = all(t.shape and t.shape[0] == batch for t in extras)
    plan.finite_inputs = [t.name for t in op.tensors if t.role == "input" and t.domain == "finite"]
    plan.nonnegative_params = [name for ir, name, _, _ in plan.params if op.tensor(ir).domain == "nonnegative"]
    plan.indicator_inputs = list(indicator_names(op.tensors))
    plan.leading_inputs = list(indicator_names(op.tensors, ("leading_indicator",)))
    read = {expr for _, expr in plan.runtime_sizes}
    for t in extras:   # a size read from this input lies in its domain (≥ 1, or ≥ 0 where declared so)
        for axis, dim in enumerate(t.shape):
            if f"{t.name}.shape[{axis}]" in read and dim.is_Symbol and not (dim.is_nonnegative and not dim.is_positive):
                plan.input_checks.append((f"{t.name}.shape[{axis}] >= 1",
                                          f"{t.name} has length 0 on axis {axis}: its size {text(dim)} is at least 1 in "
                                          f"the proof (slice such an input away before the call)"))
    for t in extras:
        for axis, dim in enumerate(t.shape):
            if f"{t.name}.shape[{axis}]" not in read:
                plan.input_checks.append((f"{t.name}.shape[{axis}] == {pyx(dim)}",
                                          f"axis {axis} of {t.name} must have length {_length_text(dim, pyx)}"))


def _length_text(dim, pyx) -> str:
    """A required length in an error message: the number itself, or the formula and its value at the call."""
    return str(dim) if sp.sympify(dim).is_Number else f"{text(dim)} = {{{pyx(dim)}}}"


def _logit_bias(plan, defs, tensors, local_sizes, pyx) -> None:
    """A correlation whose logits add a term β (a relative position bias, a mask) is computed by the
    kernels only inside the fused attention, which adds β to every logit: β gets its program on the
    logits' grid, laid out as the kernel tensor (b or 1, kernel group, u…, p…). Any other biased
    correlation is left to the generic definitions (the correlation kernels compute no β)."""
    for var, corr in list(plan.correlations.items()):
        if corr["bias"] is None:
            continue
        if corr is not plan.attention:
            del plan.correlations[var]
            for sm in [s for s, c in plan.attends.items() if c is corr]:
                del plan.attends[sm]
            continue
        d = defs[corr["definition"]]
        extent = {p: pyx(e) for p, e in zip(d.params, d.shape)}
        order = [d.params[k] for k in corr["to_kernel"]]   # on the kernel tensor's axes: a gather writes β in place
        corr["bias_program"] = GridCompiler(order, extent, tensors, local_sizes, prefix="lb_",   # (run every call:
                                            bounds=dict(zip(d.params, d.shape)),                 # its sizes-only
                                            cache_gathers=True).compile(corr["bias"])            # indices cached)
        # β free of the batch is given once (length 1; the kernels broadcast it)
        corr["bias_shape"] = ["1" if k == 0 and corr["batch_free"] else extent[p] for k, p in enumerate(order)]


def _window(plan, op, form, pyx) -> None:
    """The window's kind and hyperparameters (Python) for the templates; refuses a window that wraps, is
    clamped or tiled on some axes only."""
    axes = form.omega.axes
    plan.wrap, plan.clamp, plan.tiled = (any(getattr(a, f) for a in axes) for f in ("wrap", "clamp", "tiled"))
    if any(any(getattr(a, f) for a in axes) and not all(getattr(a, f) for a in axes) for f in ("wrap", "clamp", "tiled")):
        raise EvosymError(f"{op.name}: a window that wraps around, is clamped or tiled on some axes only is not lowered")
    plan.window = {"kernel": [pyx(a.kernel) for a in axes], "stride": [pyx(a.stride) for a in axes],
                   "dilation": [pyx(a.dilation) for a in axes], "padding": [pyx(a.padding) for a in axes],
                   "length": [pyx(a.length) for a in axes],
                   "stride_zero": any(not nonnegative(a.stride - 1) for a in axes),   # every p may read one window
                   # a zero padding that may pass 'same' (2P > δ(K − 1)): tested at run time (1-D: F.pad, macro past_same)
                   "past_same": any(not nonnegative(a.dilation * (a.kernel - 1) - 2 * a.padding) for a in axes)}


def _build(plan, variant, facts, tensors, local_sizes, pyx) -> None:
    """The plan's fields for the chosen variant (:mod:`.lowering`); the generic lowering is always built too
    (the ``path="generic"`` alternative)."""
    op, form = facts.operator, facts.windowed
    if isinstance(variant, DivisorSlices):   # built as its generic inner lowering; make_plan switches the path
        variant = variant.inner
    if isinstance(variant, Postmix):
        post = facts.postmix
        c_out = post.channel
        comp = GridCompiler((form.out_channel, c_out), {form.out_channel: plan.channels_out, c_out: plan.channels_out},
                            tensors, local_sizes, prefix="post")
        plan.postmix, plan.postmix_text = comp.compile(post.mix), variant.text
        _build(plan, variant.inner, facts, tensors, local_sizes, pyx)
        plan.reason = variant.reason
        return
    agg = variant.aggregate
    taps, c, o = agg.taps, form.channel, form.out_channel
    plan.static, plan.integer_kernel = agg.static, agg.integer
    plan.shared = agg.shared or (bool(variant.pad_mode) and agg.static)   # (a static K̂ is shared inside the input)
    plan.windows_mode = variant.pad_mode if isinstance(variant, Premix) else ""   # the premixed S over padded windows
    plan.pad_mode = variant.pad_mode
    bias_native = native_bias(facts)
    plan.path, plan.reason = variant.path, variant.reason
    kernel = taps
    if isinstance(variant, Premix):   # v = M·x first; the aggregation is depthwise, δ(c, o)·S
        comp = GridCompiler((o, c), {o: plan.channels_out, c: plan.channels_in}, tensors, local_sizes, prefix="m")
        plan.premix, plan.premix_factor = comp.compile(variant.mix), (variant.mix, variant.spatial)
        kernel = TapKernel(sp.KroneckerDelta(c, o) * variant.spatial, taps.taps, taps.tap_hi, taps.checked_shapes)
    _generic(plan, op, form, kernel, tensors, local_sizes, pyx, any(facts.layout), bias_native,
             plan_out_channels(op) if isinstance(variant, Premix) else None)
    plan.bias = bias_native or None   # (the premix too: a per-channel β added natively after the aggregation)
    if isinstance(variant, (Generic, Premix)) and plan.diagonal_axes:
        names = op.display_names("text")
        said = ", ".join(f"δ({text(form.position[k], names)}, {text(taps.taps[k], names)})" for k in plan.diagonal_axes)
        plan.reason += (f"; K̂ carries {said} and the output is as long as the input there: the aggregated tensor is read "
                        "at the output position on that axis (an einsum label, no grid over it)")
    if isinstance(variant, Premix):
        return
    if isinstance(variant, TermSum):   # K̂ = Σ_t M(o, c, t)·S(t, p, q): S per term over the positions, then M
        _term_sum(plan, variant, form, taps, tensors, local_sizes, pyx)
    if isinstance(variant, AvgPool):   # K̂ is PyTorch's average pool with its per-position divisor
        plan.avg_pool = {"ceil_mode": str(variant.ceil_mode), "count_include_pad": str(variant.count_include_pad)}
    if plan.dims == 3 and (isinstance(variant, AvgPool) or (isinstance(variant, NativeConv) and variant.pool is not None)):
        # F.avg_pool3d has no CPU kernel for float16 or bfloat16 (avg_pool1d/2d, the adaptive pools and conv3d have):
        # the default path computes those by the generic lowering; CUDA and float32/float64 stay native
        plan.native_no_cpu_half = True
        plan.reason += "; on the CPU in float16 or bfloat16, which F.avg_pool3d has no kernel for, the generic lowering"
    if isinstance(variant, NativeMatmul):   # one matrix S[p, q] for every channel, after M[o, c] when separable
        p, u = form.position[0], taps.taps[0]
        if variant.mix is not None:
            plan.channel_weight = GridCompiler((o, c), {o: plan.channels_out, c: plan.channels_in}, tensors,
                                               local_sizes, prefix="m").compile(variant.mix)
        extent = {p: plan.out_lengths[0], u: pyx(form.omega.axes[0].kernel)}
        plan.weight = GridCompiler((p, u), extent, tensors, local_sizes, prefix="w").compile(variant.spatial)
        plan.weight_axes, plan.weight_shape = [str(p), str(u)], [extent[p], extent[u]]
        if variant.low_rank is not None:   # S = A·Bᵀ through rank R: two products where cheaper (decided at run time)
            a, b, w, k, rank = variant.low_rank
            r = pyx(rank)
            plan.low_rank = {"a": GridCompiler((p, k), {p: extent[p], k: r}, tensors, local_sizes, prefix="la").compile(a),
                             "b": GridCompiler((u, k), {u: extent[u], k: r}, tensors, local_sizes, prefix="lb").compile(b),
                             "w": None if w == 1 else GridCompiler((k,), {k: r}, tensors, local_sizes, prefix="lw").compile(w),
                             "rank": r}
    elif isinstance(variant, NativeLinear):
        comp = GridCompiler((o, c), {o: plan.channels_out, c: plan.channels_in}, tensors, local_sizes, prefix="w")
        plan.weight, plan.weight_axes = comp.compile(variant.weight), [str(o), str(c)]
        plan.weight_shape = [plan.channels_out, plan.channels_in]
    elif isinstance(variant, NativeConv):
        cg_sym = sp.Symbol("c_in_group", integer=True)
        if variant.groups is not None:
            cg, og, rest, groups = variant.groups
            weight_expr = rest.xreplace({c: sp.floor(o / og) * cg + cg_sym})
            cin, plan.groups = pyx(cg), pyx(groups)
        else:
            weight_expr, cin, plan.groups = variant.weight.xreplace({c: cg_sym}), plan.channels_in, "1"
        plan.scale = variant.scale
        plan.pool = None if variant.pool is None else pyx(variant.pool)
        if variant.pool is not None and plan.dims >= 2 and variant.pool != 1:   # κ = 1/D, D an integer: divisor_override
            divisor = sp.simplify(sp.Mul(*[a.kernel for a in form.omega.axes]) / variant.pool)
            plan.pool_divisor = pyx(divisor) if divisor.is_integer and divisor.is_positive else None
        axes_w = ((form.batch,) if variant.per_sample else ()) + (o, cg_sym) + taps.taps
        extent = {form.batch: _batch(plan), o: plan.channels_out, cg_sym: cin}
        extent.update({u: pyx(a.kernel) for u, a in zip(taps.taps, form.omega.axes)})
        comp = GridCompiler(axes_w, extent, tensors, local_sizes, prefix="w")
        plan.weight, plan.weight_axes = comp.compile(weight_expr), [str(a) for a in axes_w]
        plan.weight_shape = [extent[a] for a in axes_w]
        if variant.factored is not None:   # K̂ = P·D: the two native calls, where they cost fewer multiply-adds
            f = variant.factored
            ch, n_ch = (o, plan.channels_out) if f.pointwise_first else (c, plan.channels_in)   # the window's channels
            dw = GridCompiler((ch,) + taps.taps, {**extent, ch: n_ch}, tensors, local_sizes,
                              prefix="dw").compile(f.depthwise)
            pw = GridCompiler((o, c), {o: plan.channels_out, c: plan.channels_in}, tensors, local_sizes,
                              prefix="pw").compile(f.pointwise)
            plan.factored = {"depthwise": dw, "pointwise": pw, "depthwise_shape": [n_ch, "1"] + [extent[u] for u in taps.taps],
                             "pointwise_first": f.pointwise_first, "order": f.order,
                             "dense_cost": pyx(f.dense_cost), "factored_cost": pyx(f.factored_cost)}


def _part_weight(plan, op, form, expr, taps, sizes, tensors, local_sizes, pyx, prefix) -> dict:
    """A part of K̂ that is one kernel for every sample and position (``expr`` over the taps ``taps`` of ``sizes``) as
    the weight of one native convolution: on (c, t…) with groups = C where it carries δ(c, o) and O = C (depthwise),
    else dense on (o, c, t…). The program, its grid shape, the convolution's weight shape and the groups."""
    o, c = form.out_channel, form.channel
    extent = {o: plan.channels_out, c: plan.channels_in}
    extent.update({t: pyx(k) for t, k in zip(taps, sizes)})
    grp = group_structure(expr, c, o)
    depthwise = grp is not None and grp[:2] == (1, 1) and not grp[2].has(o) and \
        sp.simplify(form.channel_hi + 1 - plan_out_channels(op)) == 0
    axes, expr = ((c,) + tuple(taps), grp[2]) if depthwise else ((o, c) + tuple(taps), expr)
    shape = [extent[a] for a in axes]
    return {"weight": GridCompiler(axes, extent, tensors, local_sizes, prefix=prefix).compile(expr), "shape": shape,
            "conv_shape": shape[:1] + ["1"] + shape[1:] if depthwise else shape,
            "groups": plan.channels_in if depthwise else "1"}


def _static_reason(op, fixed, dims) -> str:
    return (f"K̂ = R + F with F = {text(fixed, op.display_names('text'))} static and shared (it reads no input and no "
            f"output position) → F as one torch.nn.functional.conv{dims}d of x, added; for R: ")


def _band_reason(op, band) -> str:
    names = op.display_names("text")
    taps = ", ".join(text(t, names) for t in band.taps)
    return (f"K̂ = K̂′ + B with B = {text(band.term, names)}: on the window t = q − p + ({', '.join(text(x, names) for x in band.padding)}) "
            f"of {' × '.join(text(x, names) if x.is_Atom else '(' + text(x, names) + ')' for x in band.size)} taps it is {text(band.kernel, names)} (no position, no batch: "
            f"one kernel for every sample; compared exactly with K at {band.checked_shapes} grid shapes) → B as one "
            f"native convolution of the input over {taps}, zero padding, added; for K̂′: ")


def _term_sum(plan, variant, form, taps, tensors, local_sizes, pyx) -> None:
    """The term-sum lowering's programs: S on the grid (t…, p…, q…), M on (o, c, t…), and the two einsums."""
    o, c = form.out_channel, form.channel
    terms = [t for t, _, _ in variant.terms]
    t_ext = {t: pyx(hi - lo + 1) for t, lo, hi in variant.terms}
    shift = {t: t + lo for t, lo, _ in variant.terms}   # the grids count from 0; the sums from lo
    p_ext = dict(zip(form.position, plan.out_lengths))
    q_ext = {u: pyx(a.kernel) for u, a in zip(taps.taps, form.omega.axes)}
    s_axes = tuple(terms) + tuple(form.position) + tuple(taps.taps)
    spatial = GridCompiler(s_axes, {**t_ext, **p_ext, **q_ext}, tensors, local_sizes, prefix="ts").compile(
        variant.spatial.xreplace(shift))
    m_axes = (o, c) + tuple(terms)
    mix = GridCompiler(m_axes, {o: plan.channels_out, c: plan.channels_in, **t_ext}, tensors, local_sizes,
                       prefix="tm").compile(variant.mix.xreplace(shift))
    T, P, Q = "efg"[:len(terms)], "ijk"[:plan.dims], "mnl"[:plan.dims]
    plan.term_sum = {"spatial": spatial, "mix": mix, "count": pyx(sp.Mul(*[hi - lo + 1 for _, lo, hi in variant.terms])),
                     "spatial_shape": [t_ext[t] for t in terms] + list(plan.out_lengths) + [q_ext[u] for u in taps.taps],
                     "mix_shape": [plan.channels_out, plan.channels_in] + [t_ext[t] for t in terms],
                     "positions": [q_ext[u] for u in taps.taps],
                     "aggregate": f"bc{Q},{T}{P}{Q}->b{T}c{P}", "combine": f"b{T}c{P},oc{T}->bo{P}"}


def _batch(plan) -> str:
    """The batch size in generated code (the first size read from the input)."""
    return plan.runtime_sizes[0][0] if plan.runtime_sizes else "x.shape[0]"


def _generic(plan, op, form, taps, tensors, local_sizes, pyx, layout_ok, bias_native, channels=None):
    """The generic lowering (always built: the default path or the ``path="generic"`` alternative).

    With the group factor δ(⌊c/C_g⌋, ⌊o/O_g⌋) the kernel is built per group (b, g, o', c', p, u) and
    the windows are viewed as (b, g, c', p, u); a depthwise kernel whose rest reads the channel only
    as ⌊c/k⌋ is built once per block of k channels (involution). Otherwise the full (b, o, c, p, u).
    ``channels``: how many channels the aggregation reads when not x's (a premix's v = M·x has the output's).
    """
    if not layout_ok:
        raise EvosymError(f"{op.name}: the generic path supports channels-first or channels-last layouts only")
    b, o, c = form.batch, form.out_channel, form.channel
    batch = _batch(plan)
    cin = form.channel_hi + 1 if channels is None else channels
    cin_py = pyx(cin)
    pos_l, taps_l = "ijk"[:plan.dims], "uvw"[:plan.dims]
    pos_ext = dict(zip(form.position, plan.out_lengths))   # = L_out; a read over a whole axis is then a view
    tap_ext = {u: pyx(a.kernel) for u, a in zip(taps.taps, form.omega.axes)}
    L = [f"L_out[{k}]" for k in range(plan.dims)]
    win_l, win_L = ("", []) if plan.global_omega else (pos_l, L)   # a global window is the input itself
    K = [pyx(a.kernel) for a in form.omega.axes]
    grp = group_structure(taps.expr, c, o) if plan.grouped else None
    if grp is not None and sp.simplify((cin) / grp[0] - plan_out_channels(op) / grp[1]) != 0:
        grp = None
    block = channel_block(grp[2], o, c) if grp is not None and grp[:2] == (1, 1) else None
    g, o1, c1 = sp.Symbol("g", integer=True), sp.Symbol("o_in_group", integer=True), sp.Symbol("c_in_group", integer=True)
    if block is not None:
        rest = grp[2].xreplace({f: g for f in grp[2].atoms(sp.floor) if f.args[0].free_symbols & {o, c}})
        axes, expr = (b, g) + taps.taps + tuple(form.position), rest
        extent = {b: batch, g: pyx((cin) / block)}
        plan.kernel_letters = "bg" + taps_l + pos_l
        plan.windows_shape = [batch, extent[g], pyx(block)] + win_L + K
        plan.einsum = f"bgc{win_l}{taps_l}->bgc{pos_l}"
        plan.kernel_expand = []
        plan.channel_map = (cin, sp.Integer(1), sp.Integer(1), block)
        plan.kernel_unsqueeze = [2, 3]
    elif grp is not None:
        cg, og, rest = grp
        groups = pyx((cin) / cg)
        expr = rest.xreplace({o: g * og + o1, c: g * cg + c1})
        axes = (b, g, o1, c1) + taps.taps + tuple(form.position)
        extent = {b: batch, g: groups, o1: pyx(og), c1: pyx(cg)}
        plan.kernel_letters = "bgoc" + taps_l + pos_l
        plan.windows_shape = [batch, groups, pyx(cg)] + win_L + K
        plan.einsum = f"bgc{win_l}{taps_l}->bgo{pos_l}"
        plan.kernel_expand = [(2, pyx(og))]
        plan.channel_map = ((cin) / cg, og, cg, sp.Integer(1))
        plan.kernel_unsqueeze = []
    else:
        axes, expr = (b, o, c) + taps.taps + tuple(form.position), taps.expr
        extent = {b: batch, o: plan.channels_out, c: cin_py}
        plan.kernel_letters = "boc" + taps_l + pos_l
        plan.windows_shape = [batch, cin_py] + win_L + K
        plan.einsum = f"bc{win_l}{taps_l}->bo{pos_l}"
        plan.kernel_expand = [(1, plan.channels_out)]
        plan.channel_map = (sp.Integer(1), plan_out_channels(op), cin, sp.Integer(1))
        plan.kernel_unsqueeze = [1]
    if plan.global_omega:   # the windows have no output-position axes: the kernel carries them, whole
        plan.kernel_expand = plan.kernel_expand + [(len(axes) - plan.dims + k, L[k]) for k in range(plan.dims)]
    extent.update(pos_ext)
    extent.update(tap_ext)
    if plan.global_omega and plan.diagonal:
        expr = _diagonal(plan, op, form, taps, expr, pos_l, taps_l)
    plan.kernel = GridCompiler(axes, extent, tensors, local_sizes, prefix="k").compile(expr)
    plan.kernel_axes = [str(a) for a in axes]
    plan.out_shape = [batch, plan.channels_out] + L
    if form.bias != 0 and bias_native is None:
        baxes = (b, o) + tuple(form.position)
        bext = {b: batch, o: plan.channels_out, **pos_ext}
        plan.bias_program = GridCompiler(baxes, bext, tensors, local_sizes, prefix="beta").compile(form.bias)


def _diagonal(plan, op, form, taps, expr, pos_l, taps_l):
    """Each factor δ(p_k, u_k) of a global K̂ whose output length is the input's, L'_k = L_k: Σ_{u_k} δ(p_k, u_k)·f(u_k)·
    x[u_k] = f(p_k)·x[p_k] (p_k < L'_k = L_k is a position of x), so the kernel drops u_k and the einsum labels x's
    axis k as p_k: no (p_k, u_k) grid (HyperZ·Z·W's column-wise matrix product becomes one)."""
    factors = list(sp.Mul.make_args(expr))
    for k, (p, u, axis) in enumerate(zip(form.position, taps.taps, form.omega.axes)):
        delta = next((f for f in factors if isinstance(f, sp.KroneckerDelta) and set(f.args) == {p, u}), None)
        if delta is None or sp.simplify(op.output.shape[op.lhs_indices.index(p)] - axis.kernel) != 0:
            continue
        factors = [f.xreplace({u: p}) for f in factors if f is not delta]
        lhs, out = plan.einsum.split("->")
        plan.einsum = f"{lhs.replace(taps_l[k], pos_l[k])}->{out}"
        plan.diagonal_axes.append(k)
        at = plan.kernel_letters.index(pos_l[k])   # x carries p_k now: the kernel keeps it only where it reads it
        plan.kernel_expand = [(axis, n) for axis, n in plan.kernel_expand if axis != at]
    return sp.Mul(*factors)


def plan_out_channels(op):
    """The output's channel extent (a SymPy expression)."""
    return op.output.shape[op.lhs_indices.index(op.out_channel)]
