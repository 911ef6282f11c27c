"""True (flipped) convolution, mode 'valid' (``numpy.convolve(x, h, 'valid')``), one filter per channel.

    y[b, c, n] = Σ_{k=0}^{K−1} h[c, k] · x[b, c, n + K − 1 − k],   n = 0 … L − K
"""

from ._convolve import convolve_derive, convolve_operator

OPERATOR = convolve_operator(
    "valid", name="convolve_valid",
    summary="true (flipped) convolution, numpy.convolve mode 'valid': only where the filter lies inside the signal",
    description="The signal-processing convolution where no zero is read: output n is the full output n + K − 1 "
                "(L − K + 1 outputs). As an Evolution form K[o,c,n,m] = δ(o,c)·h[c, n + K − 1 − m] on the window "
                "n … n + K − 1: static, shared across positions, depthwise; not causal for K ≥ 2 (output n reads "
                "the inputs n … n + K − 1).",
    citation="numpy.convolve (mode='valid')",
    notes=("The same as conv1d(x, h.flip(-1)) with no padding (PyTorch's cross-correlation with the reversed "
           "filter).",))


def derive(d):
    convolve_derive("valid", d)
