"""Which kernel property a mismatching candidate appears to break.

Each diagnosis is a small experiment, not a guess from the numbers alone: the candidate is run on
single samples (batch dependence), its outputs are fitted by a constant factor or a per-channel
offset of the proven operator's, mismatches are located against the border of the window, the
input channels each output channel depends on are compared (autograd), and the proven operator
is re-run with the kernel flipped or its spatial axes transposed.
"""

from __future__ import annotations


import torch


def diagnose(run_candidate, run_reference, x, y_c, y_r, tol, window, layout, weights, *, plan=None, names=None) -> list[str]:
    out = []
    bad = ~((y_c - y_r).abs() <= tol)
    if x.shape[0] > 1:
        single = torch.cat([run_candidate(x[b:b + 1]) for b in range(x.shape[0])])
        if not torch.allclose(single, y_c, rtol=1e-9, atol=1e-9 * (1 + y_c.abs().max().item())):
            out.append("differs per sample only when batched: the candidate's output for one sample depends on the "
                       "other samples in the batch (batch statistics in train mode? call .eval())")
    denom = (y_r * y_r).sum()
    if denom > 0:
        ratio = float((y_c * y_r).sum() / denom)
        if abs(ratio - 1) > 1e-6 and torch.all((y_c - ratio * y_r).abs() <= 10 * tol + 1e-9 * abs(ratio)):
            out.append(f"equals the operator scaled by a constant factor {ratio:.6g} (a missing or extra "
                       f"normalisation such as 1/√d or 1/K?)")
    channel_axis = layout.index("out")
    diff = y_c - y_r
    moved = diff.movedim(channel_axis, -1).reshape(-1, diff.shape[channel_axis])
    if moved.shape[0] > 1 and torch.all((moved - moved[:1]).abs() <= 10 * tol.movedim(channel_axis, -1).reshape(moved.shape)):
        out.append("differs by a constant per output channel: bias missing or different?")
    border = _border_mask(y_r, window, layout, x)
    if border is not None and bool(bad.any()) and not bool((bad & ~border).any()) and bool((~border).any()):
        out.append("differs only at borders (every output whose window lies inside the input matches): border "
                   "policy? (reflection, replication or circular padding instead of zeros?)")
    coupling = _coupling_difference(run_candidate, run_reference, x, layout)
    if coupling:
        out.append(coupling)
    for label, transform in (("a flipped kernel (a true convolution instead of a cross-correlation?)", _flip),
                             ("the kernel's spatial axes transposed (a transposed kernel?)", _transpose)):
        alt = transform(weights)
        if alt is None:
            continue
        try:
            y_alt = run_reference(x, alt)
        except Exception:
            continue
        if y_alt.shape == y_c.shape and bool(((y_alt - y_c).abs() <= tol).all()):
            out.append(f"matches the operator with {label}")
    return out


def _border_mask(y, window, layout, x):
    """True at output positions whose window reaches outside the input (uses Ω's stride/dilation/padding)."""
    if not window:
        return None
    pos_axes = [k for k, role in enumerate(layout) if role == "position"]
    in_layout_positions = [k for k in range(x.dim()) if k not in (0, 1)] if layout[1] == "out" else list(range(1, x.dim() - 1))
    mask = torch.zeros(y.shape, dtype=torch.bool)
    for a, (ax_y, ax_x) in enumerate(zip(pos_axes, in_layout_positions)):
        K, s, d, P = window[a]
        L = x.shape[ax_x]
        p = torch.arange(y.shape[ax_y])
        outside = (s * p - P < 0) | (s * p + d * (K - 1) - P > L - 1)
        shape = [1] * y.dim()
        shape[ax_y] = -1
        mask = mask | outside.view(shape).expand(y.shape)
    return mask


def _influence(run, x, channel_axis_x, out_axis):
    """For each output channel, the set of input channels its outputs depend on (autograd)."""
    x = x.detach().clone().requires_grad_(True)
    y = run(x)
    sets = []
    for o in range(y.shape[out_axis]):
        g, = torch.autograd.grad(y.select(out_axis, o).sum(), x, retain_graph=True, allow_unused=True)
        if g is None:
            sets.append(frozenset())
            continue
        per_c = g.abs().movedim(channel_axis_x, 0).reshape(g.shape[channel_axis_x], -1).sum(1)
        sets.append(frozenset(int(c) for c in torch.nonzero(per_c > 0).flatten()))
    return sets


def _coupling_difference(run_candidate, run_reference, x, layout):
    out_axis = layout.index("out")
    channel_axis_x = 1 if out_axis == 1 else x.dim() - 1
    try:
        cand = _influence(run_candidate, x, channel_axis_x, out_axis)
        ref = _influence(lambda t: run_reference(t, None), x, channel_axis_x, out_axis)
    except Exception:
        return ""
    diffs = [(o, sorted(c), sorted(r)) for o, (c, r) in enumerate(zip(cand, ref)) if c != r]
    if not diffs:
        return ""
    o, c, r = diffs[0]
    return (f"channel coupling differs: output channel {o} depends on input channels {c}, the operator's kernel "
            f"couples it with {r} (group mapping, e.g. c mod G instead of contiguous blocks?)")


def _spatial(weights):
    """The parameter that holds the spatial kernel: the one with most dimensions (≥ 3)."""
    if not weights:
        return None
    name = max(weights, key=lambda k: weights[k].dim() if weights[k] is not None else 0)
    return name if weights[name] is not None and weights[name].dim() >= 3 else None


def _flip(weights):
    name = _spatial(weights)
    if name is None:
        return None
    w = weights[name]
    return {**weights, name: w.flip(tuple(range(2, w.dim())))}


def _transpose(weights):
    name = _spatial(weights)
    if name is None or weights[name].dim() < 4 or weights[name].shape[-1] != weights[name].shape[-2]:
        return None
    return {**weights, name: weights[name].transpose(-1, -2)}


__all__ = ["diagnose"]
