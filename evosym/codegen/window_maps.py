"""The index maps of a window axis that generated kernels need, for every kind of window.

A window axis reads tap u of output position p at the offset start(p) + δ·u (:class:`WindowAxis`),
wrapped mod L on a circular axis. ``start`` is s·p − P (zero padding, circular), that clamped into
[0, L − span] (NATTEN's clamped window) or the start of p's tile (Swin). A forward kernel walks the
taps of p; an input-gradient kernel needs the inverse: every (p, u) whose tap reads input
position q. Where start is affine and nothing wraps, the inverse is p = (q − δ·u + P)/s over a
range of taps (the kernel context prints it). For the other kinds this module gives the
inverse as ranges of output positions:

    for every unwrapped copy t = q + m·L of q (m = 0 only, unless the axis wraps)
        for p in [first(t), last(t)] ∩ [0, L_out − 1]:   u = (t − start(p))/δ when that is a tap

``first``/``last`` bound {p : t − δ·(K − 1) ≤ start(p) ≤ t} (start is non-decreasing in p); the
caller keeps only the p whose u is an integer in [0, K − 1], so each (p, u) is found exactly
once. ``tests/test_window_maps.py`` enumerates that at concrete sizes and compares it with the
forward map at many sizes (checked at sizes, not proved).
"""

from __future__ import annotations

import sympy as sp

from ..ir.neighbourhood import WindowAxis


def is_affine(a: WindowAxis) -> bool:
    """start(p) = s·p − P and nothing wraps: the kernels' inverse runs over taps (p = (q − δ·u + P)/s)."""
    return not (a.wrap or a.clamp or a.tiled)


def tap_range(a: WindowAxis, p) -> tuple:
    """(first, last) tap u of output position p that lies in the input, before clipping to [0, K − 1]
    (every tap on a wrapping axis)."""
    if a.wrap:
        return sp.Integer(0), a.kernel - 1
    start = a.start(p)
    return sp.ceiling(-start / a.dilation), sp.floor((a.length - 1 - start) / a.dilation)


def position_range(a: WindowAxis, t, length_out) -> tuple:
    """(first, last) output position p, before clipping to [0, L_out − 1], that contains every p with
    t − δ·(K − 1) ≤ start(p) ≤ t: exactly those for the clamped and tiled kinds, a superset (the
    caller tests u's divisibility) for an affine start."""
    reach = a.dilation * (a.kernel - 1)
    if a.tiled:   # start(p) is p's tile start: the positions of t's tile (K·⌊(t − P)/K⌋ + P, K of them)
        first = a.kernel * sp.floor((t - a.padding) / a.kernel) + a.padding
        return first, first + a.kernel - 1
    low = sp.ceiling((t - reach + a.padding) / a.stride)
    high = sp.floor((t + a.padding) / a.stride)
    if not a.clamp:
        return low, high
    # start = min(max(s·p − P, 0), L − span) with L − span = L − 1 − reach ≥ 0 (the launcher requires it):
    # start ≤ t for every p once t ≥ L − span; start ≥ t − reach for every p once t − reach ≤ 0
    top = a.length - 1 - reach
    return (sp.Piecewise((sp.Integer(0), t - reach <= 0), (low, True)),
            sp.Piecewise((length_out - 1, t >= top), (high, True)))


def copy_range(a: WindowAxis, q, length_out) -> tuple:
    """(first, last) m such that q + m·L is an unwrapped offset start(p) + δ·u of some p < L_out, u < K
    (only m = 0 when the axis does not wrap)."""
    if not a.wrap:
        return sp.Integer(0), sp.Integer(0)
    lowest = a.start(sp.Integer(0))
    highest = a.start(length_out - 1) + a.dilation * (a.kernel - 1)
    return sp.ceiling((lowest - q) / a.length), sp.floor((highest - q) / a.length)


def interior(a: WindowAxis) -> tuple:
    """(first, last) output position p, before clipping to [0, L_out − 1], whose every tap u reads the input
    at s·p − P + δ·u, inside [0, L − 1] (no clamping and no wrapping there): 0 ≤ s·p − P ≤ L − span. On a
    clamped or wrapping axis the CPU kernels run these positions as one affine range and the others (the
    border) one by one at start(p) + δ·u (mod L). Not for tiled windows."""
    if a.tiled:
        raise ValueError("a tiled window has no affine interior")
    span = a.dilation * (a.kernel - 1) + 1
    return sp.ceiling(a.padding / a.stride), sp.floor((a.length - span + a.padding) / a.stride)


def fits(a: WindowAxis):
    """The condition on the sizes under which the kernels compute this axis as the proof reads it (None:
    always): a clamped window no longer than the input; wrapped tiles that divide the input."""
    if a.clamp:
        return sp.Ge(a.length, a.dilation * (a.kernel - 1) + 1)
    if a.tiled and a.wrap:
        return sp.Eq(sp.Mod(a.length, a.kernel), 0)
    return None
