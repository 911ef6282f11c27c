"""Softmax attention recognised in the proved kernel, lowered to ``F.scaled_dot_product_attention``.

What a user writes for multi-head attention is q/k/v projections, one fused SDPA call and an output
projection; evosym's generic lowering of the same form builds the (B, heads, L, L) logits on a grid and
aggregates them with an einsum (6–8× slower, 3.5× the memory). :func:`recognise` finds, structurally and
from the proved kernel only (never the operator's name), the case where the premixed aggregation

    y[b, c, p] = Σ_u S[b, ⌊c/d⌋, p, q(p, u)] · ṽ[b, c, q(p, u)],   v = M·x,
    S = softmax_m(ℓ) (masked: G·exp(ℓ)/Σ_m G·exp(ℓ)),
    ℓ[b, h, p, m] = α · Σ_{e<d} A[b, h·d + e, p] · B[b, κ(h)·d + e, m]  (+ β[b, h, p, m]),
    A[b, c, p] = a[c] + Σ_{c'} W_A[c, c']·x[b, c', p], B likewise (linear maps of x: ``F.linear`` on the tokens)

is exactly SDPA with queries A, keys B (heads κ(h): h itself, or ⌊h/G⌋ for grouped-query attention with
G·(key heads) = query heads), values v, scale α and ``attn_mask`` β, when there are as many outputs as queries and
as many keys as input positions. It is exact when Ω(p) covers every
key the softmax weighs: a global Ω (q(p, u) = u), or a window of stride 1 and dilation 1 that provably
contains every m with G(p, m) ≠ 0 (``[lo ≤ m ≤ p]`` with lo ≤ 0, SDPA's ``is_causal``: the keys outside Ω
then have weight 0, and the window's reads outside the input are ṽ = 0). Any other mask is not lowered
here: SDPA gives 0 where a mask hides a whole row, the proved form 0/0. A causal mask with a β is folded into
β as −∞ above the diagonal (SDPA refuses ``attn_mask`` with ``is_causal``). A key mask V[b, m] read from an input
declared an indicator (a 1 in every row, checked by the module) is SDPA's boolean ``attn_mask`` V ≠ 0 (b, 1, 1, m);
beside the causal mask V must be a leading indicator (V[b, 0] = 1: key 0 visible to every query) and the two are
one boolean mask (b, 1, p, m). The numeric checks of generated
code compare the result with the independent reference.
"""

from __future__ import annotations

import sympy as sp

from ..ir.symbols import InRange
from ..ir.tensors import INDICATORS, inline_unshaped
from ..printers.expr import text
from .torchexpr import GridCompiler, py_name


def recognise(plan, facts, defs: dict, tensors: dict, local_sizes: dict, pyx) -> dict | None:
    """The SDPA call's parts when the premixed kernel is exactly softmax attention (module docstring), else None."""
    form, op = facts.windowed, facts.operator
    if plan.premix is None or not plan.premix_factor or plan.channel_map[1:3] != (1, 1):
        return None
    share = plan.channel_map[3]
    s = plan.premix_factor[1]
    sm = facts.softmaxes.get(str(s.base.label)) if isinstance(s, sp.Indexed) else None
    dims = len(form.position)
    if sm is None or sm.count != dims or sm.first != 2 + dims:
        return None
    ell = defs[sm.logits]
    params = list(ell.params)   # (b, h, p…, m…)
    if len(params) != 2 + 2 * dims or ell.shape is None:
        return None
    b, h, pos, keys = params[0], params[1], params[2:2 + dims], params[2 + dims:]
    # the kernel reads S[b, ⌊c/share⌋, p…, q(p, u)…] with the window's own position map
    taps = facts.kernel.taps
    want = [form.batch, sp.floor(form.out_channel / share), *form.position,
            *[a.position(p, u) for a, p, u in zip(form.omega.axes, form.position, taps)]]
    if len(s.indices) != len(want) or any(sp.expand(i - w) != 0 for i, w in zip(s.indices, want)):
        return None
    outs = [op.output.shape[op.lhs_indices.index(p)] for p in form.position]
    if any(sp.simplify(n - q) != 0 for n, q in zip(outs, ell.shape[2:2 + dims])) or \
            any(sp.simplify(a.length - k) != 0 for a, k in zip(form.omega.axes, ell.shape[2 + dims:])):
        return None   # SDPA gives one row per query and reads every key: as many as the outputs and the input's positions
    causal, key_mask, key_read = False, None, None
    if sm.mask is not None:   # at most one causal bracket and one key mask read, nothing else
        factors = sm.mask.args if isinstance(sm.mask, sp.Mul) else (sm.mask,)
        brackets = [f for f in factors if isinstance(f, InRange)]
        reads = [f for f in factors if not isinstance(f, InRange)]
        if len(brackets) > 1 or len(reads) > 1:
            return None
        causal = bool(brackets) and _causal(brackets[0], pos, keys, ell)
        key_mask = _key_mask(reads[0], (b, h, *pos), keys, ell, op, leading=causal) if reads else None
        if (brackets and not causal) or (reads and key_mask is None):
            return None
        key_read = reads[0] if reads else None
    if not facts.everywhere and not _covers(form, causal, outs[0] if dims == 1 else None):
        return None
    parts = _logits(inline_unshaped(ell.body, defs), b, h, pos, keys, share, tensors, ell, op.display_names("text"))
    if parts is None:
        return None
    extent = {p: pyx(e) for p, e in zip(ell.params, ell.shape)}
    if key_mask is not None:   # the visible keys on the logits' grid: (b, 1, 1, m), SDPA's boolean attn_mask
        key_mask = {"program": GridCompiler(ell.params, extent, tensors, local_sizes, prefix="km_",
                                            bounds=dict(zip(ell.params, ell.shape))).compile(key_read),
                    "name": key_mask}
    bias = None
    if parts["bias"] != 0:
        prog = GridCompiler(ell.params, extent, tensors, local_sizes, prefix="sb_",
                            bounds=dict(zip(ell.params, ell.shape))).compile(parts["bias"])
        shape = ["1" if not parts["bias"].has(b) else extent[b]] + [extent[p] for p in params[1:]]
        bias = {"program": prog, "shape": shape}
    names = op.display_names("text")
    what = "softmax" + (" (causal mask [m ≤ p])" if causal else "") + \
        (f" (keys hidden where the indicator {key_mask['name']} is 0)" if key_mask else "") + f" of {parts['text']}" + \
        (" + β" if bias else "")
    held = "Ω global: every key" if facts.everywhere else (
        "Ω(p) = [p − P, p − P + K − 1] holds every key the mask shows (P ≥ L_out − 1 and K − 1 ≥ P for all sizes)")
    reason = (f"K̂ = M·S with S = {what}; {held} (queries {parts['a_name']} and keys {parts['b_name']}"
              + (f" of head ⌊h/{text(parts['kv'], names)}⌋" if parts["kv"] is not None else "") +
              " linear maps of {} over {} channels, " + f"{share} channels per head)")
    found = [_projection(defs.get(parts[n]), op, form) for n in ("a_name", "b_name")]
    if None in found or (bias is not None and not _reads(bias["program"]) <= {t.name for t in op.tensors}):
        return None   # queries or keys not linear maps of an input, or β reading a definition: the premix lowering stays
    projections, sources = [(w, bias_) for w, bias_, _ in found], [src for _, _, src in found]
    values = _values(plan.premix_factor[0], form, op, share, parts, ell.shape[1], pyx)
    one_input = sources == [op.value, op.value]
    reason = reason.format(*(("x", "its") if one_input else ("their inputs", "their")))
    if not one_input:
        reason += f"; queries from {sources[0]}, keys from {sources[1]}, values from {op.value}"
    if values is not None:
        reason += (("; the in-projections as one F.linear (weights side by side)" if one_input else
                    "; each in-projection one F.linear on its input's tokens") +
                   (", the key heads shared through SDPA's enable_gqa" if parts["kv"] is not None else ""))
    return {"projections": projections, "sources": None if one_input else sources, "value_projection": values,
            "out_bias": _channel_bias(form, plan, tensors, local_sizes),
            "scale": pyx(parts["scale"]), "scale_text": text(parts["scale"], names),
            "kv": None if parts["kv"] is None else pyx(parts["kv"]),
            "heads": pyx(ell.shape[1]), "key_heads": pyx(parts["key_heads"]), "share": pyx(share), "bias": bias,
            "causal": causal, "key_mask": key_mask, "reason": reason, "tiled": False}


def _projection(d, op, form):
    """(weight, bias or None, input): the torch names and the input's, when the definition ``d`` is a linear map of
    an input over its channels, d[b, c, p…] = bias[c] + Σ_{c'<C} W[c, c']·x[b, c', p…] (W a (C_d, C) parameter, bias a
    vector, x an input tensor laid out (batch, channel, d's positions…)), so the SDPA path computes it as ``F.linear``
    on x's tokens, channels last (the layout SDPA takes); else None."""
    if d is None or d.shape is None or len(d.params) != 2 + len(form.position):
        return None
    b, c, *pos = d.params
    terms = sp.Add.make_args(d.body)
    sums = [t for t in terms if isinstance(t, sp.Sum)]
    rest = [t for t in terms if not isinstance(t, sp.Sum)]
    if len(sums) != 1 or len(sums[0].limits) != 1 or len(rest) > 1:
        return None
    (k, lo, hi), = sums[0].limits
    reads = sp.Mul.make_args(sums[0].function)
    if lo != 0 or len(reads) != 2:
        return None
    by = {str(r.base.label): r for r in reads if isinstance(r, sp.Indexed)}
    inputs = {t.name: t for t in op.tensors if t.role == "input"}
    found = [n for n in by if n in inputs]
    if len(found) != 1 or len(by) != 2:
        return None
    source = inputs[found[0]]
    x = by.pop(source.name)
    channels = source.shape[1] if len(source.shape) == len(d.shape) else None
    if tuple(x.indices) != (b, k, *pos) or channels is None or sp.simplify(hi + 1 - channels) != 0 or \
            any(sp.simplify(n - m) != 0 for n, m in zip((source.shape[0],) + source.shape[2:], (d.shape[0],) + d.shape[2:])):
        return None   # (the tokens of x, flattened, must be exactly d's positions, its channels the summed ones)
    (wname, w), = by.items()
    tensors = {t.name: t for t in op.tensors if t.role == "parameter"}
    t = tensors.get(wname)
    if t is None or tuple(w.indices) != (c, k) or len(t.shape) != 2 or sp.simplify(t.shape[0] - d.shape[1]) != 0 \
            or sp.simplify(t.shape[1] - channels) != 0:
        return None
    bias = None
    if rest:
        r = rest[0]
        tb = tensors.get(str(r.base.label)) if isinstance(r, sp.Indexed) else None
        if tb is None or tuple(r.indices) != (c,) or len(tb.shape) != 1 or sp.simplify(tb.shape[0] - d.shape[1]) != 0:
            return None   # (a bias longer than the projection's rows would not line up with F.linear's output)
        bias = tb.torch_name or py_name(tb.name)
    return t.torch_name or py_name(t.name), bias, source.name


def _values(mix, form, op, share, parts, heads, pyx) -> dict | None:
    """The value projection when the channel map M is one (rows, C) parameter read whole, M(o, c) = W[o, c], or,
    for grouped-query attention, at the key head of o's head, M(o, c) = W[share·⌊⌊o/share⌋/G⌋ + o mod share, c]:
    v = ``F.linear`` with W itself (its heads the key heads, SDPA's ``enable_gqa`` maps query head h to ⌊h/G⌋),
    so the three in-projections are one ``F.linear``; else None (v = M·x with M computed on its grid)."""
    o, c = form.out_channel, form.channel
    if not isinstance(mix, sp.Indexed) or len(mix.indices) != 2 or mix.indices[1] != c:
        return None
    t = {t.name: t for t in op.tensors if t.role == "parameter"}.get(str(mix.base.label))
    if t is None or len(t.shape) != 2 or sp.simplify(t.shape[1] - (form.channel_hi + 1)) != 0:
        return None
    kv = parts["kv"]
    row = o if kv is None else share * sp.floor(sp.floor(o / share) / kv) + o - share * sp.floor(o / share)
    value_heads = heads if kv is None else parts["key_heads"]
    if sp.expand(mix.indices[0] - row) != 0 or sp.simplify(t.shape[0] - value_heads * share) != 0:
        return None
    return {"weight": t.torch_name or py_name(t.name), "heads": pyx(value_heads),
            "rows": [pyx(heads * share), pyx(parts["key_heads"] * share), pyx(value_heads * share)]}


def _reads(prog) -> set:
    """The tensors (parameters, the input, definitions) a compiled program reads, by IR name (not its sizes)."""
    return {u for u in prog.uses if isinstance(u, str)}


def _channel_bias(form, plan, tensors, local_sizes):
    """β's program over the output channel alone, when β depends on nothing else (a per-channel vector, the output
    projection's bias: ``F.linear`` adds it); else None (β added on its grid after the aggregation)."""
    bias = form.bias
    if bias == 0 or plan.bias_program is None or bias.has(form.batch, *form.position):
        return None
    o = form.out_channel
    prog = GridCompiler((o,), {o: plan.channels_out}, tensors, local_sizes, prefix="ob").compile(bias)
    return prog if _reads(prog) <= set(tensors) else None


def recognise_tiled(plan, facts, pyx, defs: dict | None = None) -> dict | None:
    """The SDPA call's parts for a tiled Ω (Swin: Ω(p) = p's tile of K positions, counted from the shift P, wrapping)
    when the plan's fused attention holds (``plan.attention``: K̂ = M·softmax_u(α·a ⋆ b + β) exactly, the
    correlation read at the window's own positions q(p, u) = (K·⌊(p − P)/K⌋ + P + u) mod L): rolled by −P, the
    queries of a tile and the keys of its taps are the same K positions, so the attention is SDPA per tile (the
    windows a batch axis), with β laid out per tile as ``attn_mask``, then rolled back. Needs every axis tiled with
    stride and dilation 1 and as many outputs as inputs; the input length a multiple of K is checked at run time."""
    form, op = facts.windowed, facts.operator
    corr = plan.attention
    if not plan.tiled or corr is None or plan.premix is None or plan.channel_map[1:3] != (1, 1):
        return None
    for p, a in zip(form.position, form.omega.axes):
        lout = op.output.shape[op.lhs_indices.index(p)]
        if not (a.tiled and a.wrap) or a.stride != 1 or a.dilation != 1 or sp.simplify(lout - a.length) != 0:
            return None
    groups, _, _, share = plan.channel_map
    names = op.display_names("text")
    reason = (f"K̂ = M·S with S = softmax over the taps of {corr['text']}" + (" + β" if corr["bias_program"] else "") +
              f" (the fused attention's correlation); Ω(p) = p's tile of K positions from the shift P, wrapping, as "
              f"many outputs as inputs: rolled by −P, a tile's queries and its taps' keys are the same K positions")
    found = {"scale": "1", "scale_text": text(sp.Integer(1), names),
             "scaled_queries": True, "kv": None, "heads": pyx(groups / share), "key_heads": pyx(groups / share),
             "share": pyx(share), "bias": corr["bias_program"] is not None, "causal": False, "tiled": True,
             "reason": reason, "projections": None, "sources": None, "value_projection": None, "out_bias": None}
    by_var = {var: name for name, _, _, var, _ in plan.definitions}
    found_projections = [_projection((defs or {}).get(by_var.get(corr[n])), op, form) for n in ("a", "b")]
    projections = [None if f is None or f[2] != op.value else f[:2] for f in found_projections]   # (x's, tiled)
    values = _values(plan.premix_factor[0], form, op, share, {"kv": None, "key_heads": groups / share},
                     groups / share, pyx) if plan.premix_factor else None
    program = corr["bias_program"]
    if None not in projections and values is not None and (program is None or not _reads(program) & set(defs or {})):
        # queries, keys and values linear maps of x: x itself rolled and cut into tiles, channels last, then one
        # F.linear for the three (SDPA scales by α); β from its program (parameters only), no other definition
        found.update(projections=projections, value_projection=values, scale=corr["scale"], scale_text="α",
                     scaled_queries=False, reason=reason + " (queries, keys and values linear maps of x)")
    return found


def _logits(body, b, h, pos, keys, share, tensors, ell, names) -> dict | None:
    """α·Σ_{e<share} A[b, h·share + e, p…]·B[b, κ(h)·share + e, m…] + β with α a number or size expression and
    β free of e; the parts, else None."""
    terms = sp.Add.make_args(body)
    main = [t for t in terms if any(isinstance(f, sp.Sum) for f in sp.Mul.make_args(t))]
    if len(main) != 1:
        return None
    bias = sp.Add(*[t for t in terms if t is not main[0]])
    factors = sp.Mul.make_args(main[0])
    sums = [f for f in factors if isinstance(f, sp.Sum)]
    scale = sp.Mul(*[f for f in factors if not isinstance(f, sp.Sum)])
    if len(sums) != 1 or len(sums[0].limits) != 1 or scale.atoms(sp.Indexed) or scale.free_symbols & set(ell.params):
        return None
    e, lo, hi = sums[0].limits[0]
    if lo != 0 or sp.simplify(hi + 1 - share) != 0 or bias.has(e) or (bias != 0 and bias.atoms(sp.Sum)):
        return None
    reads = sp.Mul.make_args(sums[0].function)
    if len(reads) != 2 or not all(isinstance(r, sp.Indexed) for r in reads):
        return None
    heads, batch = ell.shape[1], ell.shape[0]
    for qr, kr in (reads, reads[::-1]):
        qn, kn = str(qr.base.label), str(kr.base.label)
        if qn not in tensors or kn not in tensors or len(qr.indices) != 2 + len(pos) or len(kr.indices) != 2 + len(pos):
            continue
        if qr.indices[0] != b or kr.indices[0] != b or list(qr.indices[2:]) != list(pos) or list(kr.indices[2:]) != list(keys):
            continue
        if sp.expand(qr.indices[1] - (h * share + e)) != 0:
            continue
        kv = sp.expand(kr.indices[1] - e) / share
        kv = sp.simplify(kv)
        qshape, kshape = tensors[qn][2], tensors[kn][2]
        if len(qshape) != 2 + len(pos) or len(kshape) != 2 + len(pos):
            continue
        if kv == h:
            key_heads, kv_expr = heads, None   # κ(h) = h
        else:   # grouped-query attention: κ(h) = ⌊h/G⌋ with G·(key heads) = heads, so κ stays in range
            if not (isinstance(kv, sp.floor) and len(kv.args) == 1):
                continue
            num, den = sp.fraction(sp.together(kv.args[0]))
            if num != h or den.free_symbols & {b, h, e, *pos, *keys}:
                continue
            key_heads, kv_expr = sp.simplify(heads / den), den
            if sp.simplify(kshape[1] - key_heads * share) != 0:
                continue
        if sp.simplify(qshape[0] - batch) != 0 or sp.simplify(kshape[0] - batch) != 0 or \
                sp.simplify(qshape[1] - heads * share) != 0 or sp.simplify(kshape[1] - key_heads * share) != 0:
            continue
        if any(sp.simplify(x - y) != 0 for x, y in zip(qshape[2:], ell.shape[2:2 + len(pos)])) or \
                any(sp.simplify(x - y) != 0 for x, y in zip(kshape[2:], ell.shape[2 + len(pos):])):
            continue
        return {"a": tensors[qn][0], "b": tensors[kn][0], "a_name": qn, "b_name": kn, "scale": scale,
                "kv": kv_expr, "key_heads": key_heads,
                "bias": bias, "text": f"{'' if scale == 1 else text(scale, names) + '·'}{qn}·{kn}"}
    return None


def _causal(mask, pos, keys, ell) -> bool:
    """G = [lo ≤ m ≤ p] on one axis with lo provably ≤ 0 and as many keys as queries: over m ≥ 0 that is SDPA's
    ``is_causal`` (key m visible from query p iff m ≤ p; m = p always is, so no row is hidden)."""
    if len(pos) != 1 or not isinstance(mask, InRange):
        return False
    m, lo, hi = mask.args
    if m != keys[0] or hi != pos[0] or not sp.sympify(lo).is_nonpositive:
        return False
    return sp.simplify(ell.shape[2] - ell.shape[3]) == 0


def _key_mask(mask, rows, keys, ell, op, *, leading: bool = False) -> str | None:
    """G = V[b, m] or M[b, h, p, m]: one read of an input declared an indicator (0/1, a 1 along its last axis in every
    row, checked by the generated module) at the batch (or the logits' whole row (b, h, p), ``rows``) and the key,
    over exactly the logits' keys: SDPA's boolean attn_mask V ≠ 0, broadcast over the heads and queries (or M ≠ 0 as
    it is), with no row hidden (the premise); its name, else None. ``leading`` (beside the causal mask): a V that is
    a leading indicator, V[b, 0] = 1, so that key 0 is visible to every query."""
    if len(keys) != 1 or len(rows) != 3 or not isinstance(mask, sp.Indexed):
        return None
    per_query = tuple(mask.indices) == (*rows, keys[0])
    if tuple(mask.indices) != (rows[0], keys[0]) and not (per_query and not leading):
        return None
    name = str(mask.base.label)
    decl = next((t for t in op.tensors if t.name == name), None)
    if decl is None or decl.domain not in (("leading_indicator",) if leading else INDICATORS) or decl.role != "input" \
            or len(decl.shape) != len(mask.indices):
        return None
    if any(sp.simplify(n - e) != 0 for n, e in zip(decl.shape, (ell.shape if per_query else (ell.shape[0], ell.shape[3])))):
        return None
    return name


def _covers(form, causal: bool, lout) -> bool:
    """A window Ω(p) = [p − P, p − P + K − 1] (stride 1, dilation 1, one axis) that holds every key the causal mask
    shows, {0 … p}, for every output position p < L_out: P ≥ L_out − 1 and K − 1 ≥ P, both provable for all sizes."""
    axes = form.omega.axes
    if not causal or len(axes) != 1:
        return False
    a = axes[0]
    if a.wrap or a.clamp or a.tiled or a.stride != 1 or a.dilation != 1:
        return False
    return bool(sp.simplify(a.padding - (lout - 1)).is_nonnegative) and bool(sp.simplify(a.kernel - 1 - a.padding).is_nonnegative)
