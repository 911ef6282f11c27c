"""Which kernel property a mismatching candidate appears to break.

Each diagnosis is a small experiment, not a guess from the numbers alone: the candidate is run on
single samples (batch dependence), its outputs are fitted by a constant factor or a per-channel
offset of the proven operator's, mismatches are located against the border of the window, the
input channels each output channel depends on are compared (autograd), and the proven operator
is re-run with each kernel flipped or its spatial axes transposed (every weight with the window's axes
last: a user's operator with a depthwise and a pointwise weight is diagnosed like a convolution).
"""

from __future__ import annotations


import torch


def diagnose(run_candidate, run_reference, x, y_c, y_r, tol, window, layout, weights, *, plan=None, names=None,
             samples=None) -> list[str]:
    """``samples``: a function returning the candidate's outputs on each sample alone, concatenated (an operator with
    several inputs slices every input), or None where that cannot be done; default: ``run_candidate`` on ``x[b]``."""
    out = []
    bad = ~((y_c - y_r).abs() <= tol)
    if x.shape[0] > 1:
        single = (samples() if samples is not None
                  else torch.cat([run_candidate(x[b:b + 1]) for b in range(x.shape[0])]))
        if single is not None and not torch.allclose(single, y_c, rtol=1e-9, atol=1e-9 * (1 + y_c.abs().max().item())):
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
    spatial = len(window) if window else None
    labels = {_flip: "a flipped {k} (a true convolution instead of a cross-correlation?)",
              _transpose: "the {k}'s spatial axes transposed (u↔v swapped: a transposed kernel?)"}
    for transform, text in labels.items():
        for name, alt in transform(weights, spatial):
            try:
                y_alt = run_reference(x, alt)
            except Exception:  # noqa: BLE001 - a variant the reference cannot run explains nothing
                continue
            if y_alt.shape == y_c.shape and bool(((y_alt - y_c).abs() <= tol).all()):
                kernel = "kernel" if _single_kernel(weights) else f"kernel {name}"
                out.append("matches the operator with " + text.format(k=kernel))
                break
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


def _kernels(weights, spatial):
    """(name, tensor, its spatial axes) of every parameter that can hold a spatial kernel: at least one channel
    axis before ``spatial`` trailing axes (the window's axes; PyTorch's layout puts them last), each longer
    than 1. Every such tensor is tried, so that a file with several weights (a depthwise W_d[c, u, v] next to
    a pointwise W_p[o, c]) is diagnosed like a single convolution weight."""
    out = []
    for name in sorted(weights or {}):
        w = weights[name]
        if w is None or w.dim() < 2:
            continue
        n = spatial if spatial else w.dim() - 2
        if n < 1 or w.dim() < n + 1:
            continue
        axes = tuple(range(w.dim() - n, w.dim()))
        if all(w.shape[a] > 1 for a in axes):
            out.append((name, w, axes))
    return out


def _single_kernel(weights) -> bool:
    """One weight tensor (a bias aside): the diagnosis need not name it."""
    return sum(1 for w in (weights or {}).values() if w is not None and w.dim() >= 2) <= 1


def _flip(weights, spatial=None):
    """(name, weights with that kernel flipped along its spatial axes) for each kernel."""
    return [(name, {**weights, name: w.flip(axes)}) for name, w, axes in _kernels(weights, spatial)]


def _transpose(weights, spatial=None):
    """(name, weights with that kernel's last two spatial axes swapped) for each kernel whose window is square."""
    return [(name, {**weights, name: w.transpose(axes[-1], axes[-2])})
            for name, w, axes in _kernels(weights, spatial)
            if len(axes) >= 2 and w.shape[axes[-1]] == w.shape[axes[-2]]]


__all__ = ["diagnose"]
