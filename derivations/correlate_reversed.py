"""Cross-correlation with the reversed filter is true convolution: numpy.correlate(x, h[::-1], 'full').

    y[b, c, n] = Σ_{u=0}^{K−1} h[c, K − 1 − u] · x̃[b, c, n − (K − 1) + u],   n = 0 … L + K − 2

This is what PyTorch computes for conv1d(x, h.flip(-1), padding=K − 1, groups=C): a cross-correlation
(no flip) with the reversed filter. The proof's first step reindexes the tap, u = K − 1 − k, and
lands on convolve_full's traditional form, Σ_k h[c, k]·x̃[b, c, n − k]; from there it is the same
proof, so both end in the same Evolution kernel δ(o, c)·h[c, n − m]. This is the identity "convolution =
cross-correlation with the reversed kernel", every step general.
"""

import dataclasses

import sympy as sp

from ._convolve import K, b, convolve_derive, convolve_operator, h, k, n, o, x_pad

u = sp.Symbol("u", integer=True)


def reference(arrays, sizes):
    """numpy.correlate with the reversed filter, row by row (independent of the SymPy form)."""
    import numpy as np
    xs, hs = arrays["x"], arrays["h"]
    return np.array([[np.correlate(xs[i, j], hs[j][::-1], "full") for j in range(xs.shape[1])]
                     for i in range(xs.shape[0])], dtype=np.float64).reshape(xs.shape[0], xs.shape[1], -1)


def torch_reference(t, sizes):
    """PyTorch's conv1d (a cross-correlation) with the flipped filter, padding K − 1."""
    import torch.nn.functional as F
    kk = t["h"].shape[-1]
    return F.conv1d(t["x"], t["h"].flip(-1)[:, None, :], padding=kk - 1, groups=t["x"].shape[1])


_base = convolve_operator(
    "full", name="correlate_reversed",
    summary="cross-correlation with the reversed filter = true convolution (numpy.correlate(x, h[::-1], 'full'))",
    description="The identity behind every framework's 'convolution': correlating with the reversed filter is "
                "convolving with the filter. PyTorch and TensorFlow layers compute cross-correlations; numpy.convolve "
                "and scipy.signal.convolve compute convolutions. The proof reindexes the tap (u = K − 1 − k) and "
                "continues as convolve_full's: the Evolution kernel is δ(o,c)·h[c, n − m], the same.",
    citation="numpy.correlate, numpy.convolve; torch.nn.functional.conv1d (cross-correlation)",
    notes=("conv1d(x, h.flip(-1), padding=K − 1, groups=C) computes exactly this (the torch reference).",))

OPERATOR = dataclasses.replace(
    _base, traditional=sp.Sum(h[o, K - 1 - u] * x_pad[b, o, n - (K - 1) + u], (u, 0, K - 1)),
    reference=reference, torch_reference=torch_reference, reference_name="numpy.correlate(x, h[::-1], 'full')")


def derive(d):
    d.apply("reindex-sum", var=u, new=k, expr_of_new=K - 1 - k)
    convolve_derive("full", d)
