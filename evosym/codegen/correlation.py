"""Definitions the generated kernels compute themselves: windowed correlations (attention logits,
the aggregation's kernel gradient in another role) and a softmax over their taps (one call).

Recognised structurally on the definitions of a plan whose default path aggregates a window;
the numeric checks compare the result with the generic path.
"""

from __future__ import annotations

import sympy as sp

from ..ir.tensors import inline_unshaped


def attends(plan, softmaxes: dict, defs: dict) -> None:
    """A softmax over exactly the tap axes of a windowed correlation whose logits nothing else reads:
    the kernels compute both in one call (``evosym::attend``), and the logits are never a tensor."""
    var_of = {name: var for name, _, _, var, _ in plan.definitions}
    for name, sm in softmaxes.items():
        corr = plan.correlations.get(var_of.get(sm.logits))
        if corr is None or name not in var_of:
            continue
        taps = [k for k, axis in enumerate(corr["permute"]) if 2 <= axis < 2 + plan.dims]   # logits axes that are taps
        readers = [n for n in var_of if n not in (name, sm.logits) and sm.logits in
                   {str(r.base.label) for r in inline_unshaped(defs[n].body, defs).atoms(sp.Indexed)}]
        if taps != list(range(sm.first, sm.first + sm.count)) or readers:
            continue
        plan.attends[var_of[name]] = corr
        corr["attend"] = var_of[name]


def correlation(d, body, op, form, plan, tensors, pyx):
    """How the generated kernels compute definition ``d`` when it is a windowed correlation over the
    aggregation's own window and kernel blocks (attention logits), else None:

        d[b, g, p…, u…] = α · Σ_{e<k} a[b, g·k + e, p…] · b̃[b, g·k + e, q(p, u)…]  (+ β[b, g, p…, u…])

    with k the block of channels that shares one kernel, q(p, u) the window's own read position (any
    border policy), a and b̃ channels-first tensors (b̃ zero outside its shape) and α free of every
    index. Without β that is the aggregation's kernel gradient with dy = a and x = b̃; its gradients
    are the aggregation itself and its input gradient. β, everything else the body adds (a relative
    position bias, a mask), is kept as ``bias`` (SymPy): only the fused attention takes it (the
    plan drops a biased correlation that is not fused).
    """
    groups, og, cg, share = plan.channel_map
    if og != 1 or cg != 1 or d.shape is None:
        return None
    terms = sp.Add.make_args(body)
    main = [t for t in terms if any(isinstance(f, sp.Sum) for f in sp.Mul.make_args(t))]
    if len(main) != 1:
        return None
    bias = sp.Add(*[t for t in terms if t is not main[0]])
    body = main[0]
    sums = [f for f in sp.Mul.make_args(body) if isinstance(f, sp.Sum)]
    scale = sp.Mul(*[f for f in sp.Mul.make_args(body) if not isinstance(f, sp.Sum)])
    if len(sums) != 1 or len(sums[0].limits) != 1 or scale.atoms(sp.Indexed) or scale.free_symbols & set(d.params):
        return None
    e, lo, hi = sums[0].limits[0]
    reads = sp.Mul.make_args(sums[0].function)
    if lo != 0 or sp.simplify(hi + 1 - share) != 0 or len(reads) != 2 or not all(isinstance(r, sp.Indexed) for r in reads):
        return None
    dims = plan.dims
    for a_read, b_read in (reads, reads[::-1]):
        names = str(a_read.base.label), str(b_read.base.label)
        if not all(n in tensors for n in names) or len(a_read.indices) != 2 + dims or len(b_read.indices) != 2 + dims:
            continue
        (bsym, ch, *pos), (bsym2, ch2, *qpos) = a_read.indices, b_read.indices
        if bsym != bsym2 or ch != ch2 or bsym not in d.params or not all(p in d.params for p in pos):
            continue
        gsyms = [g for g in ch.free_symbols if g in d.params]
        if len(gsyms) != 1 or sp.expand(ch - gsyms[0] * share - e) != 0:
            continue
        taps = []
        for a, p, q in zip(form.omega.axes, pos, qpos):
            us = [u for u in sp.sympify(q).free_symbols if u in d.params and u != p]
            if len(us) != 1 or sp.expand(q - a.position(p, us[0])) != 0:
                break
            taps.append(us[0])
        if len(taps) != dims or len({bsym, gsyms[0], *pos, *taps}) != len(d.params):
            continue
        batch, channels = op.output.shape[op.lhs_indices.index(op.batch)], groups * cg
        want_a = (batch, channels) + tuple(op.output.shape[op.lhs_indices.index(p)] for p in form.position)
        want_b = (batch, channels) + tuple(a.length for a in form.omega.axes)
        ext = dict(zip(d.params, d.shape))
        got = ([ext[bsym], ext[gsyms[0]]] + [ext[p] for p in pos] + [ext[u] for u in taps],
               [batch, groups / share] + list(want_a[2:]) + [a.kernel for a in form.omega.axes])
        if any(sp.simplify(sp.sympify(x) - y) != 0 for pair in ((tensors[names[0]][2], want_a), (tensors[names[1]][2], want_b),
                                                               got) for x, y in zip(*pair)):
            continue
        order = [bsym, gsyms[0], *taps, *pos]   # the kernel tensor's axes (its o', c' axes dropped)
        return {"a": tensors[names[0]][0], "b": tensors[names[1]][0], "scale": pyx(scale),
                "permute": [order.index(p) for p in d.params], "text": f"{names[0]} ⋆ {names[1]}",
                "bias": None if bias == 0 else bias, "definition": d.name,
                "to_kernel": [list(d.params).index(p) for p in order], "batch_free": not bias.has(bsym),
                "bias_program": None, "bias_shape": None}
    return None


def fused_attention(plan, form, taps) -> None:
    """Sets ``plan.attention`` when the aggregated kernel is exactly the softmax of one attended
    correlation: K̂ = M(o, c)·S (the premix, v = M·x) with S = softmax[…] read as a whole, its indices
    the kernel's own axes (b, kernel group ⌊o/share⌋, taps u…, positions p…) in the order the
    correlation declares. Then y = Σ_u softmax_u(a ⋆ b)·ṽ[q(p, u)] is one kernel pass (logits, online
    softmax, aggregation) and the attention weights are never a tensor. Anything else keeps the
    attend + aggregate calls; the numeric checks compare either with the reference."""
    if len(plan.attends) != 1 or plan.premix is None or plan.postmix is not None or not plan.premix_factor:
        return
    (var, corr), = plan.attends.items()
    name = next(n for n, _, _, v, _ in plan.definitions if v == var)
    s = plan.premix_factor[1]
    groups, og, cg, share = plan.channel_map
    if not isinstance(s, sp.Indexed) or str(s.base.label) != name or (og, cg) != (1, 1):
        return
    roles = [form.batch, sp.floor(form.out_channel / share), *taps, *form.position]
    if len(s.indices) != len(corr["permute"]) or len(taps) != plan.dims:
        return
    if all(sp.simplify(i - roles[r]) == 0 for i, r in zip(s.indices, corr["permute"])):
        plan.attention = corr
