"""True (flipped) 3-D convolution, mode 'valid' (``scipy.signal.convolve(x, h, 'valid')`` on each channel's volume).

    y[b, c, i, j, n] = Σ_{k, l, r} h[c, k, l, r] · x[b, c, i + K_d − 1 − k, j + K_h − 1 − l, n + K_w − 1 − r]

i = 0 … D − K_d, j = 0 … H − K_h, n = 0 … W − K_w: only where the filter lies inside the volume, so no padding is
read (the form reads x itself, and the proof has no definition to unfold). This is conv3d(x, h.flip(-3, -2, -1),
groups=C): PyTorch's conv3d is a cross-correlation.
"""

from ._convolve import convolve3d_derive, convolve3d_operator

OPERATOR = convolve3d_operator(
    "valid", name="convolve3d_valid",
    summary="true (flipped) 3-D convolution, mode 'valid' (scipy.signal.convolve on each channel)",
    description="The signal-processing convolution of volumes where the filter lies inside the volume "
                "(scipy.signal.convolve, mode 'valid'): the filter is flipped on all three axes, "
                "(D − K_d + 1) × (H − K_h + 1) × (W − K_w + 1) outputs. As an Evolution form K[o,c,(i,j,n),(m,q,t)] = "
                "δ(o,c)·h[c, i + K_d − 1 − m, j + K_h − 1 − q, n + K_w − 1 − t] on the K_d×K_h×K_w window at "
                "(i, j, n): static, shared across space, depthwise.",
    citation="scipy.signal.convolve(x, h, mode='valid') for 3-D arrays",
    notes=("scipy.signal.convolve in 'valid' mode requires one array to be at least as large as the other on every "
           "axis; here the filter is the smaller (K_d ≤ D, K_h ≤ H, K_w ≤ W).",
           "conv3d(x, h.flip(-3, -2, -1), groups=C) in PyTorch (a cross-correlation with the filter reversed on "
           "every axis)."))


def derive(d):
    convolve3d_derive("valid", d)
