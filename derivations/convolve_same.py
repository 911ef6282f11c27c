"""True (flipped) convolution, mode 'same' (``numpy.convolve(x, h, 'same')``), one filter per channel.

    y[b, c, n] = Σ_{k=0}^{K−1} h[c, k] · x̃[b, c, n + ⌊(K − 1)/2⌋ − k],   n = 0 … L − 1
"""

from ._convolve import convolve_derive, convolve_operator

OPERATOR = convolve_operator(
    "same", name="convolve_same",
    summary="true (flipped) convolution, numpy.convolve mode 'same': the centre of the full output, length L",
    description="The signal-processing convolution cut to the signal's length: output n is the full output "
                "n + ⌊(K − 1)/2⌋ (numpy's centre; for even K it lies left of the middle). As an Evolution form "
                "K[o,c,n,m] = δ(o,c)·h[c, n + ⌊(K − 1)/2⌋ − m]: static, shared across positions, depthwise; not "
                "causal for K ≥ 3 (output n reads up to ⌊(K − 1)/2⌋ inputs ahead).",
    citation="numpy.convolve (mode='same')",
    notes=("numpy.convolve(x, h, 'same') is the full output from index ⌊(K − 1)/2⌋ on; scipy.signal.convolve's "
           "'same' centres it the same way for 1-D inputs with K ≤ L.",
           "The same as conv1d(x, h.flip(-1), padding='same') only for odd K: PyTorch puts the extra zero of an "
           "even filter on the right of the flipped filter, numpy on the other side."))


def derive(d):
    convolve_derive("same", d)
