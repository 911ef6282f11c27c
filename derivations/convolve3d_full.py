"""True (flipped) 3-D convolution, mode 'full' (``scipy.signal.convolve(x, h, 'full')`` on each channel's volume).

    y[b, c, i, j, n] = Σ_{k=0}^{K_d−1} Σ_{l=0}^{K_h−1} Σ_{r=0}^{K_w−1} h[c, k, l, r] · x̃[b, c, i − k, j − l, n − r]

i = 0 … D + K_d − 2, j = 0 … H + K_h − 2, n = 0 … W + K_w − 2: every output where filter and volume overlap; x̃ is
the volume zero outside it. The same as conv3d(x, h.flip(-3, -2, -1), padding=(K_d − 1, K_h − 1, K_w − 1), groups=C):
a cross-correlation with the filter flipped on every axis.
"""

from ._convolve import convolve3d_derive, convolve3d_operator

OPERATOR = convolve3d_operator(
    "full", name="convolve3d_full",
    summary="true (flipped) 3-D convolution, mode 'full' (scipy.signal.convolve on each channel)",
    description="The signal-processing convolution of volumes (scipy.signal.convolve, mode 'full', zero fill): the "
                "filter is flipped on all three axes, and there is an output wherever filter and volume overlap, "
                "(D + K_d − 1) × (H + K_h − 1) × (W + K_w − 1) of them. As an Evolution form K[o,c,(i,j,n),(m,q,t)] = "
                "δ(o,c)·h[c, i − m, j − q, n − t] on the K_d×K_h×K_w window ending at (i, j, n), clipped to the "
                "volume: static, shared across space, depthwise.",
    citation="scipy.signal.convolve(x, h, mode='full') for 3-D arrays (numpy.convolve along each axis)",
    notes=("The full convolution is symmetric in x and h (scipy.signal.convolve swaps its arguments only in 'valid' "
           "mode); this operator is a filter applied to a volume, K_d ≤ D, K_h ≤ H and K_w ≤ W.",
           "conv3d(x, h.flip(-3, -2, -1), padding=(K_d − 1, K_h − 1, K_w − 1), groups=C) in PyTorch (a "
           "cross-correlation with the filter reversed on every axis)."))


def derive(d):
    convolve3d_derive("full", d)
