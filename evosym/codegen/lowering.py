"""The lowering of an Evolution form: one of a closed set of variants, chosen from the kernel facts.

:func:`choose` reads the facts of the proved kernel (:mod:`evosym.facts.kernel`) and returns exactly
one variant; its ``reason`` is what ``evosym codegen`` prints (the facts it relied on, then → what
it runs). :mod:`.plan` builds the templates' plan from the variant. With ``force_generic`` the
variant is always :class:`Generic`; otherwise, from the outermost (a variant that wraps another
holds it as ``inner``) to the last resort:

- :class:`DivisorSlices` (path ``divisor-slices``): Ω(p) is the divisors of p + a and K is a Dirichlet
  convolution δ(o, c)·W[c, (p + a)/(m + a) − a] (compared at the grid): the divisor pairs as about 2√N
  strided slices of the output, split at the hyperbola d·k = n, no N×N kernel (:mod:`.divisors`). Its
  ``inner`` is the variant chosen without it (the generic lowering over every position), built as the plan's
  generic alternative.
- :class:`Sdpa` (``sdpa``, wraps a premix, or a post-mix of one): K̂ = M·softmax(α·A⋆B + β) with A, B the
  queries and keys of each head (:mod:`.sdpa` recognises it in the plan of the premix, from the proved kernel):
  v = M·x, one ``F.scaled_dot_product_attention`` per call, then P; :func:`sdpa` builds it.
- :class:`Postmix` (wraps any of the variants below): K̂ = Σ_{c'} P(o, c')·R with P static, channels
  first (attention's output projection): R is lowered by ``inner`` with c' as its output channel,
  then y = P·z.
- :class:`Premix` (``premix-window``, ``premix-global``): K̂ = M(o, c)·S, M static, S free of the input
  channel, O = C, and K̂ not both static and shared: v = M·x first (a 1×1 map), then S aggregated
  depthwise over v. The kernel targets fuse logits, softmax and aggregation where S is the softmax
  of a windowed correlation (``Plan.attention``: local, neighbourhood and Swin attention).
- :class:`AdaptivePool` (``native-adaptive-pool``): Ω every position, K̂ static and exactly PyTorch's adaptive
  average pooling, recognised factor by factor (δ(c, o), per axis the bin bracket and its inverse count):
  ``F.adaptive_avg_pool{1,2,3}d``.
- :class:`AvgPool` (``native-avg-pool``): a window of dilation 1 with zero padding, K̂ static and exactly PyTorch's
  average pool with a per-position divisor, recognised factor by factor (δ(c, o), per axis the inverse count of the
  taps inside the input, count_include_pad=False, or inside the padded extent [−P, L + P), count_include_pad=True),
  and each output length PyTorch's (floor, or ceil_mode's: the last window starts before L + P), under the declared
  2P ≤ K (and K ≤ L for 3-D): ``F.avg_pool{1,2,3}d(…, ceil_mode, count_include_pad)``.
- :class:`NativeMatmul` (``native-matmul``): Ω every position of one axis, K̂ static, one matrix for
  every channel (token mixing) or separable M(o, c)·S (GCN): ``torch.matmul``.
- :class:`TermSum` (``term-sum``): Ω every position, K̂ static, channels first, no group δ (full channel mixing, which
  the cost compares against), K̂ = Σ_t M(o, c, t)·S(t, p, q) a sum of
  T separable terms (attention heads with static maps: Cordonnier's layer): z = S·x per term (one einsum), then
  y = M·z (one einsum), where that costs fewer multiply-adds than the generic K̂ (decided at run time).
- :class:`Generic` with a global Ω (``generic-global``): K̂ compiled over (p, q), one einsum.
- :class:`NativeLinear` (``native-linear``): a 1×1 window with stride 1 and no padding, channels
  last, K̂ static and shared with full channel mixing, β = bias[o] or none: ``F.linear``.
- :class:`NativeConv` (``native-conv``, ``native-conv-per-sample``): a window with padding provably
  ≥ 0, channels first, 1 to 3 position axes, β = bias[o] or none, and K̂ static and shared (after
  ``F.pad`` when K reads x through a torch padding's index map) or per sample and free of the
  position: ``F.conv{1,2,3}d``, grouped when K̂ carries δ(⌊c/C_g⌋, ⌊o/O_g⌋); per sample with the
  batch folded into the channels (B·G groups), or a broadcast scale for a 1×1 depthwise window; K̂ = δ(c, o)·κ,
  one number at every tap, as ``F.avg_pool{1,2,3}d`` (``pool``); K̂ = P·D factored into a depthwise and a 1×1
  convolution, either order, where that costs fewer multiply-adds (``factored``).
- :class:`Generic` with a window (``generic-window``): anything else; the input unfolded into
  windows and one einsum with K̂ compiled from SymPy (also the ``path="generic"`` alternative of every
  other variant, and everything under ``force_generic``).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..facts.factors import index_symbols, channel_block, term_sum
from ..facts.kernel import Aggregate, KernelFacts
from ..ir.symbols import InRange
from ..printers.expr import text
from .divisors import PATH as divisor_path
from .torchexpr import py_name


@dataclass(frozen=True)
class Lowering:
    """A chosen lowering: ``reason`` lists the facts it relied on, then → what it runs."""

    reason: str
    pad_mode: str = ""   # F.pad(mode=…) first: K reads x through that padding's index map (K̂ shared inside the input)
    aggregate: Aggregate | None = None   # the facts of the tap kernel it aggregates (None: see ``inner``)

    @property
    def path(self) -> str:   # pragma: no cover - every variant defines it
        raise NotImplementedError


@dataclass(frozen=True)
class Generic(Lowering):
    """K̂ compiled from SymPy, aggregated with one einsum over the window (or every position)."""

    global_omega: bool = False

    @property
    def path(self) -> str:
        return "generic-global" if self.global_omega else "generic-window"


@dataclass(frozen=True)
class Premix(Lowering):
    """v = M·x first, then S aggregated depthwise over v (the kernel δ(c, o)·S)."""

    mix: sp.Expr = sp.Integer(1)
    spatial: sp.Expr = sp.Integer(1)
    global_omega: bool = False

    @property
    def path(self) -> str:
        return "premix-global" if self.global_omega else "premix-window"


@dataclass(frozen=True)
class NativeMatmul(Lowering):
    """torch.matmul with the spatial matrix S[p, q], after the channel map M[o, c] when separable."""

    spatial: sp.Expr = sp.Integer(1)
    mix: sp.Expr | None = None
    low_rank: tuple | None = None   # S = Σ_{k<R} A(p, k)·w(k)·B(q, k): (A, B, w, k, R), two rank-R products where cheaper

    @property
    def path(self) -> str:
        return "native-matmul"


@dataclass(frozen=True)
class NativeLinear(Lowering):
    """torch.nn.functional.linear with the weight K̂(o, c)."""

    weight: sp.Expr = sp.Integer(1)

    @property
    def path(self) -> str:
        return "native-linear"


@dataclass(frozen=True)
class NativeConv(Lowering):
    """torch.nn.functional.conv{1,2,3}d with the weight K̂ (per sample: the batch folded into the channels)."""

    weight: sp.Expr = sp.Integer(1)
    groups: tuple | None = None     # (C_g, O_g, rest, number of groups)
    per_sample: bool = False
    scale: bool = False             # per sample, depthwise, 1×1: y = x · K̂ broadcast
    factored: "Factors | None" = None   # K̂ = P(o, c)·D(c, u): two native calls where they cost fewer multiply-adds
    pool: sp.Expr | None = None     # K̂ = δ(c, o)·κ, κ a number: F.avg_pool{1,2,3}d (the mean) times κ·|window|

    @property
    def path(self) -> str:
        return "native-conv-per-sample" if self.per_sample else "native-conv"


@dataclass(frozen=True)
class Factors:
    """K̂ = P(o, c)·D(c, u…): a depthwise window D over x, then the channel map P as a 1×1 map; or, with
    ``pointwise_first``, K̂ = P(o, c)·D(o, u…): P as a 1×1 map first, then a window per output channel. With the
    multiply-adds per sample of the dense convolution and of the two factored calls (symbolic in the sizes)."""

    pointwise: sp.Expr
    depthwise: sp.Expr
    dense_cost: sp.Expr
    factored_cost: sp.Expr
    pointwise_first: bool = False

    @property
    def order(self) -> str:
        return "pointwise then depthwise" if self.pointwise_first else "depthwise then pointwise"


@dataclass(frozen=True)
class Postmix(Lowering):
    """R lowered by ``inner`` (output channel c'), then y = P·z."""

    inner: Lowering = None
    text: str = ""

    @property
    def path(self) -> str:
        return self.inner.path


@dataclass(frozen=True)
class Sdpa(Lowering):
    """Softmax attention as one ``F.scaled_dot_product_attention`` call (:mod:`.sdpa`); ``inner``: the premix
    lowering it replaces (still the ``path="generic"`` alternative's structure)."""

    inner: Lowering = None

    @property
    def path(self) -> str:
        return "sdpa"


@dataclass(frozen=True)
class DivisorSlices(Lowering):
    """The divisor pairs (n, d) as strided slices of the output, split at the hyperbola; ``inner``: the generic
    lowering."""

    inner: Lowering = None

    @property
    def path(self) -> str:
        return divisor_path


@dataclass(frozen=True)
class TermSum(Lowering):
    """K̂ = Σ_t M(o, c, t)·S(t, p, q): the positions aggregated per term t, then the channels mixed by M."""

    terms: tuple = ()               # the limits (t, lo, hi) of the shared sum variables
    mix: sp.Expr = sp.Integer(1)    # M(o, c, t)
    spatial: sp.Expr = sp.Integer(1)   # S(t, p, q)

    @property
    def path(self) -> str:
        return "term-sum"


@dataclass(frozen=True)
class AdaptivePool(Lowering):
    """K̂ exactly PyTorch's adaptive average pooling: torch.nn.functional.adaptive_avg_pool{1,2,3}d."""

    @property
    def path(self) -> str:
        return "native-adaptive-pool"


@dataclass(frozen=True)
class AvgPool(Lowering):
    """K̂ exactly PyTorch's average pool with a per-position divisor (the count of the window's taps inside the input,
    or inside the padded extent), on PyTorch's output grid: torch.nn.functional.avg_pool{1,2,3}d(…, ceil_mode,
    count_include_pad)."""

    ceil_mode: bool = False
    count_include_pad: bool = False

    @property
    def path(self) -> str:
        return "native-avg-pool"


VARIANTS = (DivisorSlices, Sdpa, Postmix, Premix, NativeMatmul, Generic, NativeLinear, NativeConv,
            AdaptivePool, AvgPool, TermSum)   # the closed set


def native_bias(facts: KernelFacts):
    """'' for no bias, the torch name for β = bias[o] read whole, None when β needs the generic path."""
    op, form = facts.operator, facts.form
    if form.bias == 0:
        return ""
    b = form.bias
    if isinstance(b, sp.Indexed) and tuple(b.indices) == (form.out_channel,):
        t = op.tensor(str(b.base.label))
        if t.role == "parameter" and len(t.shape) == 1:
            return t.torch_name or py_name(t.name)
    return None


def pointwise(axes) -> bool:
    """A 1×1 window: kernel 1, stride 1, no padding on every axis."""
    return all(a.kernel == 1 and a.stride == 1 and a.padding == 0 for a in axes)


def choose(facts: KernelFacts, *, padding_ok: bool, force_generic: bool = False, grouped: bool = True) -> Lowering:
    """The lowering of the form whose facts are ``facts``: one variant of :data:`VARIANTS`.

    ``padding_ok``: every window padding is provably ≥ 0 (a native convolution cannot crop; decided by
    the caller, :func:`evosym.codegen.plan.make_plan`). ``force_generic``: the generic lowering only.
    ``grouped``: the generic lowering may build the kernel per group of channels."""
    if force_generic:
        return _aggregate(facts, facts.whole, force_generic=True, padding_ok=padding_ok, grouped=grouped)
    post = facts.postmix
    if post is None:
        chosen = _aggregate(facts, facts.whole, force_generic=False, padding_ok=padding_ok, grouped=grouped)
    else:
        inner = _aggregate(facts, facts.inner, force_generic=False, padding_ok=padding_ok, grouped=grouped)
        names = facts.operator.display_names("text")
        said = f"K̂ = Σ_{text(post.channel)} P·R with P = {text(post.mix, names)} static and R free of the output channel"
        chosen = Postmix(f"{said} → R aggregated first (its output channel is c′), then P applied as a channel map, "
                         f"y = P·z; for R: {inner.reason}", inner=inner, text=said)
    div = facts.divisor if facts.omega_kind == "divisors" else None
    if div is None:
        return chosen
    a = div.a
    return DivisorSlices(
        f"static, depthwise, Ω(p) = the divisors of p + {a}, and K = δ(o, c)·{div.weight}[c, (p + {a})/(m + {a}) − {a}] "
        f"(compared exactly with the proved kernel at {div.shapes} grid shapes) → the divisor pairs (n = d·k) as "
        "in-place adds into strided slices of the output, split at the hyperbola: d ≤ ⌊√N⌋ by d, the rest by k "
        "(about 2√N slices); no N×N kernel", inner=chosen)


def sdpa(inner: Lowering, found: dict) -> Sdpa:
    """The SDPA variant over ``inner`` (a premix, or a post-mix of one) from what :func:`.sdpa.recognise` found."""
    key = found.get("key_mask")
    mask = (", attn_mask=β with −∞ above the diagonal (causal)" if found["causal"] and found["bias"] else
            f", attn_mask=(the keys {key['name']} shows) & (m ≤ p), one boolean mask" if found["causal"] and key else
            ", is_causal=True" if found["causal"] else ", attn_mask=β" if found["bias"] else
            f", attn_mask=0 where {key['name']} is 1 and −∞ where it is 0 (1 − 1/|{key['name']}|, a float mask)" if key
            else "")
    if key and found["bias"]:
        mask += f" + (0 where {key['name']} is 1, −∞ where it is 0: 1 − 1/|{key['name']}|)"
    then = ", then P applied as a channel map, y = P·z" if isinstance(inner, Postmix) else ""
    head = f"{inner.text}; for R: " if isinstance(inner, Postmix) else ""
    if found["tiled"] and found["projections"]:
        return Sdpa(f"{head}{found['reason']} → x rolled by −P and cut into tiles (a batch axis), channels last; queries, "
                    f"keys and v by one F.linear, F.scaled_dot_product_attention(queries, keys, v, scale=α{mask}) per tile "
                    f"and head, the tiles put back and rolled by P (no per-position gathers){then}", inner=inner)
    if found["tiled"]:
        return Sdpa(f"{head}{found['reason']} → the channel map first, v = M·x; queries, keys and v rolled by −P and cut "
                    f"into tiles (a batch axis), F.scaled_dot_product_attention(queries·α, keys, v{mask}) per tile and "
                    f"head, the tiles put back and rolled by P (no per-position gathers){then}", inner=inner)
    return Sdpa(f"{head}{found['reason']} → queries, keys and v = M·x by F.linear on the tokens (channels last), "
                f"F.scaled_dot_product_attention(queries, keys, v, scale={found['scale_text']}{mask}) per head (no logits "
                f"tensor){then.replace('channel map', 'channel map on the tokens')}", inner=inner)


def _aggregate(facts: KernelFacts, agg: Aggregate, *, force_generic: bool, padding_ok: bool, grouped: bool) -> Lowering:
    """The variant that aggregates the tap kernel described by ``agg``."""
    form, op = facts.windowed, facts.operator
    channels_first, channels_last = facts.layout
    dims = len(op.position)
    axes = form.omega.axes
    padded = agg.padded if not force_generic else None
    pad_mode = padded[0] if padded is not None and agg.static else ""   # (a dynamic K̂ read through a map: premix only)
    static, shared = agg.static, agg.shared or bool(pad_mode)
    said = [agg.static_reason, agg.sharing_reason]
    if pad_mode:
        said[1] = (f"shared across space once x is padded with mode '{padded[0]}' (K̂ reads x through that "
                   f"padding's index map, the same expression on every axis; inside the input K̂ is free of p)")
    if facts.omega_reason is not None:
        said.append(facts.omega_reason)
    khat = agg.native if not force_generic else agg.taps.expr
    bias = native_bias(facts)
    if not force_generic and not (static and shared) and agg.premix is not None:
        mix, spatial = agg.premix
        block = _block(facts, spatial) if grouped else None
        mapped = [] if padded is None else [
            f"K̂ reads x through the '{padded[0]}' padding's index map on every axis: K̂ with the map the identity over "
            f"x padded with that mode (compared exactly with K at {padded[1].checked_shapes} grid shapes)"]
        return Premix("; ".join(said + mapped + [f"K̂ = ({text(mix, op.display_names('text'))})·S with S free of the input channel"])
                      + " → the channel map applied first as a 1×1 map (v = M·x), then S aggregated depthwise over "
                      + (f"v padded with mode '{padded[0]}'" if padded else "v")
                      + (" (one kernel per block of channels)" if block is not None and block != 1 else ""),
                      mix=mix, spatial=spatial, global_omega=facts.everywhere,
                      pad_mode=padded[0] if padded is not None else "", aggregate=agg)
    if facts.everywhere and not force_generic and static and channels_first and 1 <= dims <= 3 and \
            form.bias == 0 and _adaptive_pool(khat, facts):
        return AdaptivePool("; ".join(said + ["K̂ = δ(c, o)·Π_k [a_k ≤ q_k < b_k]/(b_k − a_k) with a_k = ⌊L_k·p_k/L'_k⌋, "
                                              "b_k = ⌈L_k·(p_k + 1)/L'_k⌉ (L the input's length, L' the output's, each "
                                              "axis): PyTorch's adaptive average pooling bins"])
                            + f" → torch.nn.functional.adaptive_avg_pool{dims}d", pad_mode=pad_mode, aggregate=agg)
    if facts.everywhere:
        matmul = None if force_generic or not static or dims != 1 or not (channels_first or channels_last) \
            else facts.matmul(khat)
        if matmul is not None:
            spatial, mix = matmul
            if mix is None:
                reason = "; ".join(said + ["depthwise, the rest of K̂ reads no channel: one matrix M[p, q] for every "
                                           "channel"]) + " → torch.matmul with M along the position axis"
            else:
                reason = "; ".join(said + [f"separable: K̂ = ({text(mix, op.display_names('text'))})·S with S free of "
                                           "the channels"]) + \
                    " → the channel map first (torch.matmul over the channels), then torch.matmul with S along the positions"
            low_rank = _low_rank(spatial, form.position[0], agg.taps.taps[0], {s_ for s_, _ in op.sizes})
            if low_rank is not None:
                a_, b_, w_, k_, rank = low_rank
                reason += (f" (or, S = Σ_{text(k_)} ({text(a_, op.display_names('text'))})·"
                           f"({text(w_ * b_, op.display_names('text'))}) of rank {text(rank)}, two matrix products through "
                           "the rank where they cost fewer multiply-adds than building and applying S)")
            return NativeMatmul(reason, pad_mode=pad_mode, aggregate=agg, spatial=spatial, mix=mix, low_rank=low_rank)
        terms = None if force_generic or not static or pad_mode or not channels_first or agg.group is not None else \
            term_sum(khat, form.channel, form.out_channel, {s_ for s_, _ in op.sizes}, form.position + agg.taps.taps)
        if terms is not None:
            limits, mix, spatial = terms
            names = op.display_names("text")
            count = sp.Mul(*[hi - lo + 1 for _, lo, hi in limits])
            return TermSum("; ".join(said + [
                f"a sum of {text(count, names)} separable terms: K̂ = Σ_{','.join(text(t, names) for t, _, _ in limits)} "
                f"({text(mix, names)})·S with S free of the channels"])
                + " → per term, S aggregates the positions of x (one einsum), then the terms' channel maps (one "
                  "einsum), where T·(Q + O) < O·Q multiply-adds per channel and output position (else the generic "
                  "kernel; decided at run time)",
                aggregate=agg, terms=limits, mix=mix, spatial=spatial)
        return Generic("; ".join(said) + " → generic path: K̂ compiled from SymPy over (p, q), one einsum with the input",
                       pad_mode=pad_mode, aggregate=agg, global_omega=True)
    counted = None if force_generic or not static or pad_mode or not channels_first or not 1 <= dims <= 3 or \
        form.bias != 0 or not padding_ok or facts.postmix is not None else _counted_pool(khat, facts)
    if counted is not None:
        ceil, include = counted
        return AvgPool("; ".join(said + [
            "K̂ = δ(c, o)·Π_k 1/N_k(p_k) on a window of dilation 1 with zero padding, N_k = Σ_{u'<K_k} "
            f"[{'−P_k' if include else '0'} ≤ s_k·p_k + u' − P_k ≤ L_k {'+ P_k ' if include else ''}− 1] (the window's "
            f"taps inside the {'padded extent' if include else 'input'}) and each output length "
            f"{'⌊min(L + 2P − K + s − 1, L + P − 1)/s⌋ + 1 (ceil_mode: the last window starts before L + P)' if ceil else '⌊(L + 2P − K)/s⌋ + 1'}"
            ", under the declared 2P ≤ K" + (" and K ≤ L" if dims == 3 else "") + ": PyTorch's average pool"])
            + f" → torch.nn.functional.avg_pool{dims}d(ceil_mode={ceil}, count_include_pad={include})",
            aggregate=agg, ceil_mode=ceil, count_include_pad=include)
    groups = facts.groups_of(khat)
    if not force_generic and static and shared and bias is not None and channels_last and dims == 1 and \
            pointwise(axes) and facts.group(khat) is None:
        return NativeLinear("; ".join(said + ["pointwise window, stride 1, no padding", "channels last",
                                              "full channel mixing"]) + " → torch.nn.functional.linear",
                            pad_mode=pad_mode, aggregate=agg, weight=khat)
    if not padding_ok:
        said.append("the window's padding is not provably ≥ 0 (native convolutions cannot crop)")
    free_of_p = agg.free_of_position or padded is not None
    per_sample = free_of_p and not shared
    if not force_generic and (static or per_sample) and free_of_p and bias is not None and channels_first \
            and 1 <= dims <= 3 and padding_ok:
        if groups is not None:
            delta = sp.KroneckerDelta(sp.floor(form.channel / groups[0]), sp.floor(form.out_channel / groups[1]))
            said.append(f"grouped: K̂ carries {text(delta)}, {text(groups[3])} groups")
        else:
            said.append("full channel mixing")
        scale = per_sample and groups is not None and groups[:2] == (1, 1) and pointwise(axes)
        factored = None if force_generic or per_sample or groups is not None or pointwise(axes) else \
            _factors(khat, facts, padded=bool(pad_mode))
        pool = None if force_generic or per_sample or scale or pad_mode or groups is None or groups[:2] != (1, 1) \
            else _pool(khat, facts)
        if pool is not None:
            said.append(f"K̂ = δ(c, o)·{text(pool / sp.Mul(*[a.kernel for a in axes]), op.display_names('text'))} "
                        f"is the same number at every tap of a window of dilation 1: an average pool times "
                        f"{text(pool, op.display_names('text'))}")
        if factored is not None:
            order = factored.order
            said.append(f"K̂ = ({text(factored.pointwise, op.display_names('text'))})·"
                        f"({text(factored.depthwise, op.display_names('text'))}) factors into a channel map and a "
                        f"per-channel window: multiply-adds per sample {text(factored.dense_cost)} dense, "
                        f"{text(factored.factored_cost)} as {order} (the fewer chosen at run time from the sizes)")
        reason = "; ".join(said + ["window with stride, dilation and " + (
            f"'{pad_mode}' padding (F.pad)" if pad_mode else "zero padding"), "channels first"]) + (
            " → a per-sample, per-channel scale (a 1×1 depthwise window): x · K̂ broadcast" if scale else
            f" → torch.nn.functional.conv{dims}d" + (" with the batch folded into the channels (B·G groups)"
                                                    if per_sample else ""))
        if factored is not None:
            reason += f" (or two: depthwise and pointwise, as {order}, where fewer multiply-adds)"
        if pool is not None:
            reason += f" (as torch.nn.functional.avg_pool{dims}d, count_include_pad=True, the zero padding explicit " \
                      "where avg_pool cannot take it)"
        return NativeConv(reason, pad_mode=pad_mode, aggregate=agg, weight=khat, groups=groups, per_sample=per_sample,
                          scale=scale, factored=factored, pool=pool)
    return Generic("; ".join(said) + " → generic path: K̂ compiled from SymPy, input unfolded into windows, one einsum",
                   pad_mode=pad_mode, aggregate=agg)


def _factors(khat, facts: KernelFacts, padded: bool = False) -> Factors | None:
    """K̂ = P·D with D the factors of K̂ that read the taps and P the rest (reading only o and c), each non-trivial,
    o and c both read: D(c, u…) is a depthwise window over x, then P(o, c) a 1×1 map; or, where D reads o and not c,
    P first, then D(o, u…) a window per output channel (pointwise first). None otherwise (a factor reading a tap and
    both channels, and a K̂ that reads the batch or the output position: a static, shared kernel does not).
    ``padded``: x is padded (F.pad) before either call, so a 1×1 map first runs over the padded positions."""
    form, op = facts.windowed, facts.operator
    o, c, taps = form.out_channel, form.channel, set(facts.kernel.taps)
    allowed = {o, c} | taps
    sizes = {s for s, _ in op.sizes}

    def reads(f):   # the indices a factor reads (not sizes, not tensor names)
        return index_symbols(f) - sizes

    parts = sp.Mul.make_args(sp.expand(khat, deep=False, mul=True, multinomial=False, power_exp=False,
                                       power_base=False, log=False)) if isinstance(khat, sp.Mul) else (khat,)
    if any(reads(f) - allowed for f in parts):
        return None
    with_u = [f for f in parts if reads(f) & taps]
    C = form.channel_hi + 1
    O = op.output.shape[op.lhs_indices.index(o)]
    K = sp.Mul(*[a.kernel for a in form.omega.axes])
    n_out = sp.Mul(*[op.output.shape[op.lhs_indices.index(p)] for p in form.position])
    n_in = sp.Mul(*[a.length + (2 * a.padding if padded else 0) for a in form.omega.axes])
    if not with_u or len(with_u) == len(parts):
        return None
    D, P = sp.Mul(*with_u), sp.Mul(*[f for f in parts if f not in with_u])
    if not {o, c} <= reads(D) | reads(P):
        return None   # o or c read by no factor: no channel structure to factor
    if o not in reads(D):   # D(c, u): a depthwise window over x, then P(o, c) as a 1×1 map
        return Factors(P, D, O * C * K * n_out, C * K * n_out + O * C * n_out)
    if c not in reads(D):   # D(o, u): P(o, c) as a 1×1 map over the input first, then a window per output channel
        return Factors(P, D, O * C * K * n_out, O * C * n_in + O * K * n_out, pointwise_first=True)
    return None


def _pool(khat, facts: KernelFacts) -> sp.Expr | None:
    """κ·Π K when K̂ = δ(c, o)·κ with κ free of every index (a number or a size expression) and every window axis of
    dilation 1: y = κ·Σ_u x̃ = (κ·Π K)·mean_u x̃, the zero-padded average pool (count_include_pad) times κ·Π K;
    else None."""
    form, op = facts.windowed, facts.operator
    axes = form.omega.axes
    if any(a.dilation != 1 or a.wrap or a.clamp or a.tiled for a in axes):
        return None
    kappa = sp.simplify(khat / sp.KroneckerDelta(form.channel, form.out_channel))
    if kappa.has(sp.KroneckerDelta) or kappa.atoms(sp.Indexed) or index_symbols(kappa) - {s for s, _ in op.sizes}:
        return None
    return sp.simplify(kappa * sp.Mul(*[a.kernel for a in axes]))


def _ceil_length(L, K, s, P):
    """PyTorch's ceil_mode output length, ⌈(L + 2P − K)/s⌉ + 1 less one when that last window starts at or past L + P,
    written ⌊min(L + 2P − K + s − 1, L + P − 1)/s⌋ + 1 (equal for 0 ≤ P ≤ K: the rounded-up count exceeds the windows
    starting before L + P by at most one). The two forms an operator may declare: with Min, and with the min in floors,
    L + P − 1 − max(0, z), z = K − P − s, max(0, z) = z·⌊(z + b)/b⌋ for b = K + s + 1 > |z| (derivations/_pool.py)."""
    z, b = K - P - s, K + s + 1
    return (sp.floor(sp.Min(L + 2 * P - K + s - 1, L + P - 1) / s) + 1,
            sp.floor((L + P - 1 - z * sp.floor((z + b) / b)) / s) + 1)


def _declares(op, small, large) -> bool:
    """The operator declares the constraint small ≤ large (or small < large), compared structurally."""
    for c in op.constraints:
        if isinstance(c, (sp.LessThan, sp.StrictLessThan, sp.GreaterThan, sp.StrictGreaterThan)) and \
                sp.expand((c.gts - c.lts) - (large - small)) == 0:
            return True
    return False


def _counted_pool(khat, facts: KernelFacts) -> tuple | None:
    """(ceil_mode, count_include_pad) when K̂ is exactly what torch.nn.functional.avg_pool{1,2,3}d computes with a
    per-position divisor; else None. Compared structurally, factor by factor: K̂ = δ(c, o)·Π_k 1/N_k with, per window
    axis k (dilation 1, zero padding, read at q_k = s_k·p_k + u_k − P_k), N_k = Σ_{u'=0}^{K_k−1} [lo_k ≤ s_k·p_k + u' −
    P_k ≤ hi_k] and (lo, hi) = (0, L − 1) on every axis (count_include_pad=False: the taps inside the input) or
    (−P, L + P − 1) on every axis (count_include_pad=True: the window clipped to the padded extent, PyTorch's divisor
    with ceil_mode); every output length either ⌊(L + 2P − K)/s⌋ + 1 on every axis (ceil_mode=False) or PyTorch's ceil
    length on every axis (:func:`_ceil_length`); as many output channels as input channels; and the operator declares
    2P ≤ K on every axis (avg_pool's own limit) and, in 3-D, K ≤ L (avg_pool3d refuses a window larger than the input),
    so that the native call accepts every size the module accepts. Any other divisor, count, length or window keeps
    its lowering."""
    form, op = facts.windowed, facts.operator
    axes = form.omega.axes
    if len(facts.kernel.taps) != len(axes) or len(axes) != len(form.position) or \
            any(a.dilation != 1 or a.wrap or a.clamp or a.tiled for a in axes):
        return None
    o, c = form.out_channel, form.channel
    n_out = op.output.shape[op.lhs_indices.index(o)]
    if sp.expand(n_out - (form.channel_hi + 1)) != 0:
        return None
    if not all(_declares(op, 2 * a.padding, a.kernel) for a in axes) or \
            (len(axes) == 3 and not all(_declares(op, a.kernel, a.length) for a in axes)):
        return None
    factors = list(sp.Mul.make_args(khat))
    delta = sp.KroneckerDelta(c, o)
    if factors.count(delta) != 1:
        return None
    factors.remove(delta)
    modes, lengths, seen = set(), set(), set()
    for f in factors:
        if not (isinstance(f, sp.Pow) and f.exp == -1 and isinstance(f.base, sp.Sum) and len(f.base.limits) == 1):
            return None
        (m, m_lo, m_hi), body = f.base.limits[0], f.base.function
        if not isinstance(body, InRange) or m_lo != 0:
            return None
        e, lo, hi = body.args
        match = None
        for k, (a, p) in enumerate(zip(axes, form.position)):
            if k in seen or sp.expand(m_hi - (a.kernel - 1)) != 0 or \
                    sp.expand(e - (a.stride * p + m - a.padding)) != 0:
                continue
            if sp.expand(lo) == 0 and sp.expand(hi - (a.length - 1)) == 0:
                match = (k, False)
            elif sp.expand(lo + a.padding) == 0 and sp.expand(hi - (a.length + a.padding - 1)) == 0:
                match = (k, True)
            if match is not None:
                break
        if match is None:
            return None
        seen.add(match[0])
        modes.add(match[1])
    if seen != set(range(len(axes))) or len(modes) != 1:
        return None
    for a, p in zip(axes, form.position):
        declared = op.output.shape[op.lhs_indices.index(p)]
        L, K, s, P = a.length, a.kernel, a.stride, a.padding
        if sp.expand(declared - (sp.floor((L + 2 * P - K) / s) + 1)) == 0:
            lengths.add(False)
        elif any(sp.expand(declared - want) == 0 for want in _ceil_length(L, K, s, P)):
            lengths.add(True)
        else:
            return None
    if len(lengths) != 1:
        return None
    return lengths.pop(), modes.pop()


def _adaptive_pool(khat, facts: KernelFacts) -> bool:
    """K̂ is, factor by factor, δ(c, o) times per axis k the bracket [0 ≤ q_k − a_k ≤ b_k − a_k − 1] and the inverse
    count Σ_{m < L_k} [a_k ≤ m ≤ b_k − 1], with a_k = ⌊L_k·p_k/L'_k⌋ and b_k = ⌊(L_k·(p_k + 1) + L'_k − 1)/L'_k⌋
    (= ⌈L_k·(p_k + 1)/L'_k⌉): PyTorch's bins, each averaged over its b_k − a_k positions. Compared structurally
    (expanded differences zero), so any other bin rule, weight or count is refused."""
    form, op = facts.windowed, facts.operator
    taps = facts.kernel.taps
    axes = form.omega.axes
    if len(taps) != len(axes) or any(a.stride != 0 or a.dilation != 1 or a.padding != 0 or a.kernel != a.length
                                     for a in axes):
        return False   # (a global Ω reads every input position: tap u_k is the position q_k itself)
    want = {}
    for a, p, u in zip(axes, form.position, taps):
        L_in, L_out = a.length, op.output.shape[op.lhs_indices.index(p)]
        lo, hi = sp.floor(L_in * p / L_out), sp.floor((L_in * (p + 1) + L_out - 1) / L_out)
        want[u] = (lo, hi, L_in)
    factors = list(sp.Mul.make_args(khat))
    delta = sp.KroneckerDelta(form.channel, form.out_channel)
    if delta not in factors:
        return False
    factors.remove(delta)
    brackets, counts = {}, {}
    for f in factors:
        if isinstance(f, InRange):
            e, lo, hi = f.args
            us = [u for u in want if e.has(u)]
            if len(us) != 1 or us[0] in brackets:
                return False
            a_k, b_k, _ = want[us[0]]
            if lo != 0 or sp.expand(e - (us[0] - a_k)) != 0 or sp.expand(hi - (b_k - a_k - 1)) != 0:
                return False
            brackets[us[0]] = True
        elif isinstance(f, sp.Pow) and f.exp == -1 and isinstance(f.base, sp.Sum) and len(f.base.limits) == 1:
            (m, m_lo, m_hi), body = f.base.limits[0], f.base.function
            if not isinstance(body, InRange) or body.args[0] != m or m_lo != 0:
                return False
            match = [u for u, (a_k, b_k, L_in) in want.items() if u not in counts and sp.expand(m_hi - (L_in - 1)) == 0
                     and sp.expand(body.args[1] - a_k) == 0 and sp.expand(body.args[2] - (b_k - 1)) == 0]
            if not match:
                return False
            counts[match[0]] = True
        else:
            return False
    return set(brackets) == set(want) == set(counts)


def _low_rank(spatial, p, q, sizes) -> tuple | None:
    """(A(p, k), B(q, k), w(k), k, R) when S = Σ_{k=0}^{R−1} A·w·B with every factor of the summand reading p or q,
    not both (w: the factors reading neither): S = A·diag(w)·Bᵀ, of rank at most R; else None."""
    if not isinstance(spatial, sp.Sum) or len(spatial.limits) != 1:
        return None
    k, lo, hi = spatial.limits[0]
    if lo != 0 or (index_symbols(hi) - sizes):
        return None
    parts = sp.Mul.make_args(spatial.function)
    a = [f for f in parts if p in index_symbols(f)]
    b = [f for f in parts if q in index_symbols(f)]
    w = [f for f in parts if f not in a and f not in b]   # k alone (or constants): a scale on the rank axis
    if not a or not b or set(map(id, a)) & set(map(id, b)):
        return None
    if any(index_symbols(f) - sizes - {p, q, k} for f in parts):
        return None
    return sp.Mul(*a), sp.Mul(*b), sp.Mul(*w), k, hi + 1


def _block(facts: KernelFacts, spatial):
    """k when the depthwise kernel δ(c, o)·S that a premix aggregates is shared by each block of k channels
    (its rest reads them only as ⌊·/k⌋, :func:`evosym.facts.factors.channel_block`), else None."""
    form = facts.windowed
    grp = facts.groups_of(sp.KroneckerDelta(form.channel, form.out_channel) * spatial)
    return channel_block(grp[2], form.out_channel, form.channel) if grp is not None and grp[:2] == (1, 1) else None
