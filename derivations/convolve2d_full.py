"""True (flipped) 2-D convolution, mode 'full' (``scipy.signal.convolve2d(x, h, 'full')`` on each channel).

    y[b, c, i, j] = Σ_{k=0}^{K_h−1} Σ_{l=0}^{K_w−1} h[c, k, l] · x̃[b, c, i − k, j − l]

i = 0 … H + K_h − 2, j = 0 … W + K_w − 2: every output where filter and image overlap; x̃ is the image zero
outside it. The same as conv2d(x, h.flip(-2, -1), padding=(K_h − 1, K_w − 1), groups=C).
"""

from ._convolve import convolve2d_derive, convolve2d_operator

OPERATOR = convolve2d_operator(
    "full", name="convolve2d_full",
    summary="true (flipped) 2-D convolution, mode 'full' (scipy.signal.convolve2d on each channel)",
    description="The image-processing convolution (scipy.signal.convolve2d / convolve, mode 'full', zero fill): "
                "the filter is flipped on both axes, and there is an output wherever filter and image overlap, "
                "(H + K_h − 1) × (W + K_w − 1) of them. As an Evolution form K[o,c,(i,j),(m,q)] = "
                "δ(o,c)·h[c, i − m, j − q] on the K_h×K_w window ending at (i, j), clipped to the image: static, "
                "shared across space, depthwise.",
    citation="scipy.signal.convolve2d(x, h, mode='full', boundary='fill', fillvalue=0); "
             "scipy.signal.convolve(x, h, mode='full') for 2-D arrays",
    notes=("scipy.signal.convolve2d swaps its arguments when the filter is the larger array; this operator requires "
           "K_h ≤ H and K_w ≤ W.",
           "conv2d(x, h.flip(-2, -1), padding=(K_h − 1, K_w − 1), groups=C) in PyTorch (a cross-correlation with "
           "the reversed filter)."))


def derive(d):
    convolve2d_derive("full", d)
