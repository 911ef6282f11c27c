"""True (flipped) convolution, mode 'full' (``numpy.convolve(x, h, 'full')``), one filter per channel.

    y[b, c, n] = Σ_{k=0}^{K−1} h[c, k] · x̃[b, c, n − k],   n = 0 … L + K − 2
"""

from ._convolve import convolve_derive, convolve_operator

OPERATOR = convolve_operator(
    "full", name="convolve_full",
    summary="true (flipped) convolution, numpy.convolve mode 'full': every output that overlaps the input",
    description="The signal-processing convolution (x ∗ h)[n] = Σ_k h[k]·x[n − k]: the filter is flipped, "
                "unlike the cross-correlation PyTorch's conv1d computes. In mode 'full' there is an output "
                "wherever filter and signal overlap (L + K − 1 of them). As an Evolution form "
                "K[o,c,n,m] = δ(o,c)·h[c, n − m] on the window n − K + 1 … n: static, shared across positions "
                "(a function of n − m: time-invariant), depthwise, and causal (output n reads no input after n).",
    citation="numpy.convolve (mode='full'); the discrete convolution of signal processing",
    notes=("numpy.convolve swaps its arguments when the filter is longer than the signal; this operator "
           "requires K ≤ L.",
           "Cross-correlation with the reversed filter is the same thing: numpy.convolve(x, h, 'full') = "
           "numpy.correlate(x, h[::-1], 'full') = conv1d(x, h.flip(-1), padding=K − 1)."))


def derive(d):
    convolve_derive("full", d)
