"""Lowering an Evolution form to a plan for generated code, chosen from proven properties.

Paths:
- ``native-conv``: Ω a window, v and y channels-first, K̂ static (reads no input) and shared
  across space (free of the output position): the weight of ``torch.nn.functional.conv{1,2,3}d``
  is K̂ itself, grouped when K̂ carries the factor δ(⌊c/C_g⌋, ⌊o/O_g⌋).
- ``native-conv-per-sample``: the same, but K̂ reads the input through a per-sample generator and is
  still free of the output position (dynamic depth-wise conv: one kernel per sample, shared across
  space): one ``conv{1,2,3}d`` with the batch folded into the channels, B·G groups.
- ``native-linear``: Ω pointwise with stride 1 and no padding, channels last, K̂ static and shared:
  ``torch.nn.functional.linear``.
- ``premix-window``: K̂ = M(o, c)·S(b, o, p, u) with M static and S free of the input channel
  (attention: the value projection times the attention weights): v = M·x first (a 1×1 map), then
  the generic or kernel aggregation of v with the depthwise kernel δ(c, o)·S (``premix-global`` when Ω
  is every position).
- post-mix (combines with any aggregating path): K̂ = Σ_{c'} P(o, c')·R with P static and R free of
  o (attention's output projection): R is lowered with c' as its output channel, then y = P·z.
- ``generic-window``: any windowed form: K̂ compiled from SymPy over a broadcast grid, the input
  unfolded into windows (stride, dilation, zero padding), aggregated with one einsum.

Each property is decided on the symbolic K̂ (free symbols, factors), so it holds for all sizes;
K̂ itself was verified against K at the grid (see :mod:`.taps`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import sympy as sp

from ..errors import EvosymError
from ..ir.evolution import EvolutionForm
from ..ir.neighbourhood import Global, IndexSet, Window, WindowAxis
from ..ir.tensors import Definition, definitions_read, inline_unshaped
from ..proof.proof import CheckedProof
from ..printers.expr import text
from ..ir.symbols import InRange
from ..proof.symbolic import nonnegative
from .softmax import rewrite_softmax
from .correlation import attends, correlation, fused_attention
from .domain import domain_checks
from ..facts.factors import channel_block, channel_factor, group_structure, padded_kernel, postmix_factor
from ..facts.taps import TapKernel, tap_kernel
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
    divisor: dict | None = None                    # Ω = divisors: the divisor lowering's data (codegen/divisors.py)
    index_set: bool = False                        # … or an index set, lowered over every position (K̂ is 0 off Ω)
    pad_mode: str = ""                             # native path on F.pad(x, mode=pad_mode): K reads x through its map
    wrap: bool = False                             # Ω wraps around the input (circular): windows from a circular F.pad
    clamp: bool = False                            # Ω's start is clamped inside the input (NATTEN): windows selected by start
    tiled: bool = False                            # Ω is p's fixed tile (Swin): windows from the (rolled) input's tiles
    channel_weight: Program | None = None          # native-matmul of a separable K̂ = M(o, c)·S: M on (o, c)
    postmix: Program | None = None                 # K̂ = Σ_c' P(o, c')·R: R aggregated (output channel c'), then y = P·z
    postmix_text: str = ""
    size_lows: dict = field(default_factory=dict)   # module size -> its declared lower bound (1, or 0 for a size ≥ 0)
    domain: list = field(default_factory=list)      # (python condition, message) on the sizes: where the proof holds

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
        """The device types on which ``path="auto"`` runs evosym's generated kernels when they build: CPU
        and CUDA for aggregations over windows at s·p + δ·u − P; CUDA only for wrapping, clamped and tiled
        windows (the CPU kernels do not lower them); none for a global Ω or a native path."""
        if not self.aggregated or self.global_omega:
            return ()
        return ("cpu", "cuda") if self.affine_window else ("cuda",)

    @property
    def has_kernels(self) -> bool:
        """evosym generates kernels for this operator (``path="kernels"``): every windowed Ω, none for a global one."""
        return not self.global_omega


AGGREGATING = ("generic-window", "premix-window", "generic-global", "premix-global")   # lowerings whose default path is an aggregation (generic or kernels)


def _names(plan: "Plan") -> None:
    """Argument lists for the templates (joined there; empty lists must leave no stray commas)."""
    plan.param_names = [name for _, name, _, _ in plan.params]
    plan.all_sizes = [py_name(s) for s in plan.size_order]
    plan.size_names = [name for name, _ in plan.module_sizes]


def _reads(expr, defs: dict) -> set:
    """Names of the tensors ``expr`` reads, looking through definitions."""
    exprs = [expr] + [d.body for d in _definitions_read(expr, defs)]
    return {str(r.base.label) for e in exprs for r in e.atoms(sp.Indexed)}


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
            prog = Program(d.params, [f"sm{n} = _softmax({logits}, {sm.first}, {sm.count})  # exp(ℓ)/Σ exp(ℓ) over "
                                      f"axes {sm.first}…{sm.first + sm.count - 1}, max subtracted"], f"sm{n}")
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

    ``mutate_kernel(K̂) -> K̂'`` replaces the verified tap kernel; it exists only so that tests can
    show that a wrong kernel expression makes the numeric check fail (a canary).
    """
    if not cp.ok or cp.evolution is None:
        raise EvosymError(f"{cp.operator.name}: the proof does not check; no code is generated from it")
    op, form = cp.operator, cp.evolution
    defs = cp.proof.definitions()
    index_set = isinstance(form.omega, IndexSet)
    glob = isinstance(form.omega, (Global, IndexSet))
    # Ω = the whole input is the window q = 0·p + 1·u over u < L: the taps are the positions. An index set
    # is lowered the same way: its K vanishes off Ω (the proof's support check), so summing every q is exact.
    if glob:
        form = dataclasses.replace(form, omega=Window(tuple(WindowAxis(L, 0, 1, 0, L) for L in form.omega.lengths())))
    taps = tap_kernel(op, form, defs)
    if mutate_kernel is not None:
        taps = TapKernel(mutate_kernel(taps.expr), taps.taps, taps.tap_hi, 0)
    value = op.tensor(op.value)
    roles = {form.batch: ("batch", 0), form.channel: ("channel", 0)}
    roles.update({q: ("position", k) for k, q in enumerate(form.neighbour)})
    value_layout = [roles[i] for i in form.value.indices]
    out_roles = {op.batch: ("batch", 0), op.out_channel: ("out", 0)}
    out_roles.update({p: ("position", k) for k, p in enumerate(op.position)})
    output_layout = [out_roles[i] for i in op.lhs_indices]
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
    module = [(py_name(s), meaning) for s, meaning in op.sizes if s not in sizes_py]
    for s, _ in op.sizes:
        sizes_py.setdefault(s, f"self.{py_name(s)}")
    checks = [(f"{op.value}.shape[{axis}] % ({pyx(f)}) == 0",
               f"axis {axis} of {op.value} must be a multiple of {text(f)} = {{{pyx(f)}}}") for axis, f in multiples]
    for axis, dim in enumerate(value.shape):
        if not (dim.is_Symbol and dim not in param_syms) and axis not in {a for a, _ in multiples}:
            checks.append((f"{op.value}.shape[{axis}] == {pyx(dim)}",
                           f"axis {axis} of {op.value} must have length {text(dim)} = {{{pyx(dim)}}}"))
    params = [(t.name, t.torch_name or py_name(t.name), [pyx(d) for d in t.shape], t.description)
              for t in op.tensors if t.role == "parameter"]
    tensors = {t.name: (tn, shape, t.shape) for t, (_, tn, shape, _) in zip([t for t in op.tensors if t.role == "parameter"], params)}
    tensors[op.value] = (op.value, [pyx(d) for d in value.shape], value.shape)
    expr, softmaxes, sm_defs = rewrite_softmax(_inline(taps.expr, defs), defs)
    defs = {**defs, **sm_defs}
    taps = TapKernel(expr, taps.taps, taps.tap_hi, taps.checked_shapes)
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
    plan.size_lows = {py_name(s): 0 if s.is_nonnegative and not s.is_positive else 1 for s, _ in op.sizes
                      if py_name(s) in plan.size_names}
    plan.domain = domain_checks(op, pyx)
    plan.grouped = grouped
    plan.global_omega, plan.index_set = glob, index_set
    inner = None if force_generic else _postmix(plan, op, form, taps, tensors, local_sizes, pyx, defs)
    _choose(plan, op, form, inner or taps, tensors, local_sizes, pyx, force_generic, defs)
    if inner is not None:
        plan.reason = f"{plan.postmix_text} → R aggregated first (its output channel is c′), then P applied " \
                      f"as a channel map, y = P·z; for R: {plan.reason}"
    if plan.aggregated and not glob:
        for name, _, _, var, _ in plan.definitions:
            corr = correlation(defs[name], _inline(defs[name].body, defs), op, form, plan, tensors, pyx)
            if corr is not None:
                plan.correlations[var] = corr
        attends(plan, softmaxes, defs)
        fused_attention(plan, form, taps.taps)
        _logit_bias(plan, defs, tensors, local_sizes, pyx)
    if index_set and not force_generic:   # Ω = the divisors of n: a gather, no N×N kernel (codegen/divisors.py)
        from .divisors import refine
        plan = refine(cp, plan)
    return plan


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
        corr["bias_program"] = GridCompiler(d.params, extent, tensors, local_sizes, prefix="lb_",
                                            bounds=dict(zip(d.params, d.shape))).compile(corr["bias"])
        batch_axis = corr["to_kernel"][0]   # β free of the batch is given once (length 1; the kernels broadcast it)
        corr["bias_shape"] = ["1" if k == batch_axis and corr["batch_free"] else extent[p] for k, p in enumerate(d.params)]


def _choose(plan, op, form, taps: TapKernel, tensors, local_sizes, pyx, force_generic, defs):
    khat = taps.expr
    inputs = {t.name for t in op.tensors if t.role == "input"}
    static = not (_reads(khat, defs) & inputs)
    free_of_p = not (khat.free_symbols & set(form.position))
    shared = free_of_p and not khat.has(form.batch)
    omega = form.omega
    window = isinstance(omega, Window)
    if not window:
        raise EvosymError(f"{op.name}: only windowed neighbourhoods are lowered to torch so far (Ω is {omega.kind})")
    axes = omega.axes
    plan.wrap, plan.clamp, plan.tiled = (any(getattr(a, f) for a in axes) for f in ("wrap", "clamp", "tiled"))
    if any(any(getattr(a, f) for a in axes) and not all(getattr(a, f) for a in axes) for f in ("wrap", "clamp", "tiled")):
        raise EvosymError(f"{op.name}: a window that wraps around, is clamped or tiled on some axes only is not lowered")
    plan.window = {"kernel": [pyx(a.kernel) for a in axes], "stride": [pyx(a.stride) for a in axes],
                   "dilation": [pyx(a.dilation) for a in axes], "padding": [pyx(a.padding) for a in axes],
                   "length": [pyx(a.length) for a in axes]}
    channels_first, channels_last = _layouts(plan)
    plan.static, plan.shared = static, shared
    plan.integer_kernel = all(_integer_valued(e) for e in [khat] + [d.body for d in _definitions_read(khat, defs)])
    bias_native = _native_bias(op, form)
    facts = [("static (K̂ reads no input)" if static else "dynamic (K̂ reads the input)"),
             ("shared across space (K̂ is free of the output position)" if shared else
              "shared across space, one kernel per sample (K̂ reads the batch index)" if free_of_p else "position-specific")]
    padded = padded_kernel(op, form, taps) if not force_generic and static and channels_first else None
    if padded is not None:   # K reads x through a torch padding's index map: pad first, then a static, shared kernel
        plan.pad_mode, native = padded   # (the generic path keeps the true K̂)
        khat, free_of_p, shared = native.expr, True, True
        plan.shared = True
        facts[1] = (f"shared across space once x is padded with mode '{plan.pad_mode}' (K̂ reads x through that "
                    f"padding's index map, the same expression on every axis; inside the input K̂ is free of p)")
    if plan.global_omega:
        facts.append("Ω an index set, summed over every input position (K̂ vanishes off Ω)" if plan.index_set
                     else "global Ω (every input position)")
    premixed = _premix(plan, op, form, taps, tensors, local_sizes, inputs, defs, channels_first) \
        if not force_generic and not (static and shared) else None
    _generic(plan, op, form, premixed or taps, tensors, local_sizes, pyx, channels_first or channels_last, bias_native)
    if premixed is not None:
        plan.path = "premix-global" if plan.global_omega else "premix-window"
        plan.reason = "; ".join(facts + [f"K̂ = ({text(plan.premix_factor[0], op.display_names('text'))})·S with S "
                                         f"free of the input channel"]) + \
            " → the channel map applied first as a 1×1 map (v = M·x), then S aggregated depthwise over v" + \
            (" (one kernel per block of channels)" if plan.channel_map[3] != 1 else "")
        return
    c, o = form.channel, form.out_channel
    if plan.global_omega:
        matmul = None if force_generic or not static or plan.dims != 1 or not (channels_first or channels_last) \
            else _matmul_factors(khat, c, o, form.batch, op.size_symbols())
        if matmul is not None:
            # one matrix S[p, q] for every channel (token mixing), after a channel map M[o, c] when separable (GCN)
            spatial, mix = matmul
            p, u = form.position[0], taps.taps[0]
            plan.path = "native-matmul"
            if mix is None:
                plan.reason = "; ".join(facts + ["depthwise, the rest of K̂ reads no channel: one matrix M[p, q] for "
                                                 "every channel"]) + " → torch.matmul with M along the position axis"
            else:
                plan.reason = "; ".join(facts + [f"separable: K̂ = ({text(mix, op.display_names('text'))})·S with S free "
                                                 "of the channels"]) + \
                    " → the channel map first (torch.matmul over the channels), then torch.matmul with S along the positions"
                plan.channel_weight = GridCompiler((o, c), {o: plan.channels_out, c: plan.channels_in}, tensors,
                                                   local_sizes, prefix="m").compile(mix)
            extent = {p: plan.out_lengths[0], u: pyx(axes[0].kernel)}
            plan.weight = GridCompiler((p, u), extent, tensors, local_sizes, prefix="w").compile(spatial)
            plan.weight_axes, plan.weight_shape = [str(p), str(u)], [extent[p], extent[u]]
            plan.bias = bias_native or None
            return
        # otherwise no native op aggregates a whole axis with a position-specific map: the generic path
        plan.path = "generic-global"
        plan.reason = "; ".join(facts) + " → generic path: K̂ compiled from SymPy over (p, q), one einsum with the input"
        plan.bias = bias_native or None
        return
    if not force_generic and static and shared and bias_native is not None and channels_last and plan.dims == 1 and \
            _pointwise(axes) and group_structure(khat, c, o) is None:
        plan.path = "native-linear"
        plan.reason = "; ".join(facts + ["pointwise window, stride 1, no padding", "channels last",
                                         "full channel mixing"]) + " → torch.nn.functional.linear"
        axes_w = (o, c)
        comp = GridCompiler(axes_w, {o: plan.channels_out, c: plan.channels_in}, tensors, local_sizes, prefix="w")
        plan.weight, plan.weight_axes = comp.compile(khat), [str(a) for a in axes_w]
        plan.weight_shape = [plan.channels_out, plan.channels_in]
        plan.bias = bias_native or None
        return
    padding_ok = all(nonnegative(a.padding) for a in axes)
    if not padding_ok:
        facts.append("the window's padding is not provably ≥ 0 (native convolutions cannot crop)")
    per_sample = free_of_p and not shared   # one kernel per sample, shared across space
    if not force_generic and (static or per_sample) and free_of_p and bias_native is not None and channels_first \
            and 1 <= plan.dims <= 3 and padding_ok:
        grp = group_structure(khat, c, o)
        cg_sym = sp.Symbol("c_in_group", integer=True)
        if grp is not None:
            cg, og, rest = grp
            groups = sp.simplify((form.channel_hi + 1) / cg)
            if sp.simplify(groups - op.output.shape[op.lhs_indices.index(o)] / og) != 0:
                grp = None
        if grp is not None:
            weight_expr = rest.xreplace({c: sp.floor(o / og) * cg + cg_sym})
            cin = pyx(cg)
            plan.groups = pyx(groups)
            delta = sp.KroneckerDelta(sp.floor(c / cg), sp.floor(o / og))
            facts.append(f"grouped: K̂ carries {text(delta)}, {text(groups)} groups")
        else:
            weight_expr, cin, cg_sym = khat.xreplace({c: cg_sym}), plan.channels_in, cg_sym
            plan.groups = "1"
            facts.append("full channel mixing")
        plan.path = "native-conv-per-sample" if per_sample else "native-conv"
        plan.scale = per_sample and grp is not None and grp[:2] == (1, 1) and _pointwise(axes)
        plan.reason = "; ".join(facts + ["window with stride, dilation and " + (
            f"'{plan.pad_mode}' padding (F.pad)" if plan.pad_mode else "zero padding"), "channels first"]) + (
            " → a per-sample, per-channel scale (a 1×1 depthwise window): x · K̂ broadcast" if plan.scale else
            f" → torch.nn.functional.conv{plan.dims}d" + (" with the batch folded into the channels (B·G groups)"
                                                         if per_sample else ""))
        axes_w = ((form.batch,) if per_sample else ()) + (o, cg_sym) + taps.taps
        extent = {form.batch: _batch(plan), o: plan.channels_out, cg_sym: cin}
        extent.update({u: pyx(a.kernel) for u, a in zip(taps.taps, axes)})
        comp = GridCompiler(axes_w, extent, tensors, local_sizes, prefix="w")
        plan.weight, plan.weight_axes = comp.compile(weight_expr), [str(a) for a in axes_w]
        plan.weight_shape = [extent[a] for a in axes_w]
        plan.bias = bias_native or None
        return
    plan.path = "generic-window"
    plan.reason = "; ".join(facts) + " → generic path: K̂ compiled from SymPy, input unfolded into windows, one einsum"
    plan.bias = bias_native or None


def _postmix(plan, op, form, taps: TapKernel, tensors, local_sizes, pyx, defs):
    """K̂ = Σ_{c'} P(o, c')·R with P static and R free of o, channels first, c' ranging over the output
    channels (attention's output projection): y = P·z with z the aggregation of the kernel R (o := c').
    Sets the postmix program and returns the tap kernel R, or None when the form does not factor so."""
    c, o = form.channel, form.out_channel
    found = postmix_factor(taps.expr, c, o, op.size_symbols())
    if found is None or not _layouts(plan)[0]:
        return None
    cp, extent, mix, rest = found
    inputs = {t.name for t in op.tensors if t.role == "input"}
    if _reads(mix, defs) & inputs or sp.simplify(extent - plan_out_channels(op)) != 0:
        return None
    comp = GridCompiler((o, cp), {o: plan.channels_out, cp: plan.channels_out}, tensors, local_sizes, prefix="post")
    plan.postmix = comp.compile(mix)
    names = op.display_names("text")
    plan.postmix_text = f"K̂ = Σ_{text(cp)} P·R with P = {text(mix, names)} static and R free of the output channel"
    return TapKernel(rest.xreplace({cp: o}), taps.taps, taps.tap_hi, taps.checked_shapes)


def _premix(plan, op, form, taps: TapKernel, tensors, local_sizes, inputs, defs, channels_first):
    """K̂ = M(o, c)·S with M static and S free of c (attention: W_v[o, c]·A_h(p, u)), O = C, channels
    first: the aggregation Σ_c Σ_u M·S·x̃ equals Σ_u S·ṽ with v = M·x (linear, so zero padding is kept).
    Sets the premix program and returns the tap kernel δ(c, o)·S of the depthwise aggregation over v,
    or None when the form does not factor so."""
    c, o = form.channel, form.out_channel
    split = channel_factor(taps.expr, c, o, op.size_symbols())
    if split is None or not channels_first or group_structure(taps.expr, c, o) is not None:
        return None
    mix, rest = split
    if _reads(mix, defs) & inputs or sp.simplify(form.channel_hi + 1 - plan_out_channels(op)) != 0:
        return None
    comp = GridCompiler((o, c), {o: plan.channels_out, c: plan.channels_in}, tensors, local_sizes, prefix="m")
    plan.premix = comp.compile(mix)
    plan.premix_factor = (mix, rest)
    return TapKernel(sp.KroneckerDelta(c, o) * rest, taps.taps, taps.tap_hi, taps.checked_shapes)


def _matmul_factors(khat, c, o, batch, sizes):
    """(S, None) when K̂ = δ(c, o)·S with S reading no channel and no batch (one matrix for every channel);
    (S, M) when K̂ = M(o, c)·S with S free of the channels and the batch and M free of the batch
    (separable); else None. The caller requires K̂ static and one position axis."""
    grp = group_structure(khat, c, o)
    if grp is not None:
        rest = grp[2]
        return (rest, None) if grp[:2] == (1, 1) and not (rest.free_symbols & {c, o, batch}) else None
    sep = channel_factor(khat, c, o, sizes)
    if sep is None or sep[1].free_symbols & {c, o, batch} or sep[0].free_symbols & {batch}:
        return None
    return sep[1], sep[0]


def _layouts(plan) -> tuple[bool, bool]:
    """(channels first, channels last): v and y both (B, C, L…), or both (B, L…, C)."""
    v, y, pos = [r[0] for r in plan.value_layout], [r[0] for r in plan.output_layout], ["position"] * plan.dims
    return (v == ["batch", "channel"] + pos and y == ["batch", "out"] + pos,
            v == ["batch"] + pos + ["channel"] and y == ["batch"] + pos + ["out"])


def _pointwise(axes) -> bool:
    """A 1×1 window: kernel 1, stride 1, no padding on every axis."""
    return all(a.kernel == 1 and a.stride == 1 and a.padding == 0 for a in axes)


def _batch(plan) -> str:
    """The batch size in generated code (the first size read from the input)."""
    return plan.runtime_sizes[0][0] if plan.runtime_sizes else "x.shape[0]"


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


def _native_bias(op, form: EvolutionForm):
    """'' for no bias, the torch name for β = bias[o] read whole, None when β needs the generic path."""
    if form.bias == 0:
        return ""
    b = form.bias
    if isinstance(b, sp.Indexed) and tuple(b.indices) == (form.out_channel,):
        t = op.tensor(str(b.base.label))
        if t.role == "parameter" and len(t.shape) == 1:
            return t.torch_name or py_name(t.name)
    return None


def _generic(plan, op, form, taps, tensors, local_sizes, pyx, layout_ok, bias_native):
    """The generic lowering (always built: the default path or the ``path="generic"`` alternative).

    With the group factor δ(⌊c/C_g⌋, ⌊o/O_g⌋) the kernel is built per group (b, g, o', c', p, u) and
    the windows are viewed as (b, g, c', p, u); a depthwise kernel whose rest reads the channel only
    as ⌊c/k⌋ is built once per block of k channels (involution). Otherwise the full (b, o, c, p, u).
    """
    if not layout_ok:
        raise EvosymError(f"{op.name}: the generic path supports channels-first or channels-last layouts only")
    b, o, c = form.batch, form.out_channel, form.channel
    batch = _batch(plan)
    pos_l, taps_l = "ijk"[:plan.dims], "uvw"[:plan.dims]
    pos_ext = dict(zip(form.position, plan.out_lengths))   # = L_out; a read over a whole axis is then a view
    tap_ext = {u: pyx(a.kernel) for u, a in zip(taps.taps, form.omega.axes)}
    L = [f"L_out[{k}]" for k in range(plan.dims)]
    win_l, win_L = ("", []) if plan.global_omega else (pos_l, L)   # a global window is the input itself
    K = [pyx(a.kernel) for a in form.omega.axes]
    grp = group_structure(taps.expr, c, o) if plan.grouped else None
    if grp is not None and sp.simplify((form.channel_hi + 1) / grp[0] - plan_out_channels(op) / grp[1]) != 0:
        grp = None
    block = channel_block(grp[2], o, c) if grp is not None and grp[:2] == (1, 1) else None
    g, o1, c1 = sp.Symbol("g", integer=True), sp.Symbol("o_in_group", integer=True), sp.Symbol("c_in_group", integer=True)
    if block is not None:
        rest = grp[2].xreplace({f: g for f in grp[2].atoms(sp.floor) if f.args[0].free_symbols & {o, c}})
        axes, expr = (b, g) + taps.taps + tuple(form.position), rest
        extent = {b: batch, g: pyx((form.channel_hi + 1) / block)}
        plan.kernel_letters = "bg" + taps_l + pos_l
        plan.windows_shape = [batch, extent[g], pyx(block)] + win_L + K
        plan.einsum = f"bgc{win_l}{taps_l}->bgc{pos_l}"
        plan.kernel_expand = []
        plan.channel_map = (form.channel_hi + 1, sp.Integer(1), sp.Integer(1), block)
        plan.kernel_unsqueeze = [2, 3]
    elif grp is not None:
        cg, og, rest = grp
        groups = pyx((form.channel_hi + 1) / cg)
        expr = rest.xreplace({o: g * og + o1, c: g * cg + c1})
        axes = (b, g, o1, c1) + taps.taps + tuple(form.position)
        extent = {b: batch, g: groups, o1: pyx(og), c1: pyx(cg)}
        plan.kernel_letters = "bgoc" + taps_l + pos_l
        plan.windows_shape = [batch, groups, pyx(cg)] + win_L + K
        plan.einsum = f"bgc{win_l}{taps_l}->bgo{pos_l}"
        plan.kernel_expand = [(2, pyx(og))]
        plan.channel_map = ((form.channel_hi + 1) / cg, og, cg, sp.Integer(1))
        plan.kernel_unsqueeze = []
    else:
        axes, expr = (b, o, c) + taps.taps + tuple(form.position), taps.expr
        extent = {b: batch, o: plan.channels_out, c: plan.channels_in}
        plan.kernel_letters = "boc" + taps_l + pos_l
        plan.windows_shape = [batch, plan.channels_in] + win_L + K
        plan.einsum = f"bc{win_l}{taps_l}->bo{pos_l}"
        plan.kernel_expand = [(1, plan.channels_out)]
        plan.channel_map = (sp.Integer(1), plan_out_channels(op), form.channel_hi + 1, sp.Integer(1))
        plan.kernel_unsqueeze = [1]
    if plan.global_omega:   # the windows have no output-position axes: the kernel carries them, whole
        plan.kernel_expand = plan.kernel_expand + [(len(axes) - plan.dims + k, L[k]) for k in range(plan.dims)]
    extent.update(pos_ext)
    extent.update(tap_ext)
    plan.kernel = GridCompiler(axes, extent, tensors, local_sizes, prefix="k").compile(expr)
    plan.kernel_axes = [str(a) for a in axes]
    plan.out_shape = [batch, plan.channels_out] + L
    if form.bias != 0 and bias_native is None:
        baxes = (b, o) + tuple(form.position)
        bext = {b: batch, o: plan.channels_out, **pos_ext}
        plan.bias_program = GridCompiler(baxes, bext, tensors, local_sizes, prefix="beta").compile(form.bias)


def plan_out_channels(op):
    """The output's channel extent (a SymPy expression)."""
    return op.output.shape[op.lhs_indices.index(op.out_channel)]
