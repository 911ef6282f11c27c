"""True (flipped) 2-D convolution, mode 'same' (``scipy.signal.convolve2d(x, h, 'same')`` on each channel).

    y[b, c, i, j] = Σ_{k=0}^{K_h−1} Σ_{l=0}^{K_w−1} h[c, k, l] · x̃[b, c, i + ⌊(K_h − 1)/2⌋ − k, j + ⌊(K_w − 1)/2⌋ − l]

i = 0 … H − 1, j = 0 … W − 1: the full output from ⌊(K − 1)/2⌋ on each axis (scipy's centre; for an even K it lies
left of / above the middle, as numpy.convolve's 'same' does in 1-D).
"""

from ._convolve import convolve2d_derive, convolve2d_operator

OPERATOR = convolve2d_operator(
    "same", name="convolve2d_same",
    summary="true (flipped) 2-D convolution, mode 'same' (scipy.signal.convolve2d on each channel): H × W",
    description="The image-processing convolution cut to the image's size (scipy.signal.convolve2d / convolve, "
                "mode 'same', zero fill): output (i, j) is the full output (i + ⌊(K_h − 1)/2⌋, j + ⌊(K_w − 1)/2⌋). "
                "As an Evolution form K[o,c,(i,j),(m,q)] = δ(o,c)·h[c, i + ⌊(K_h − 1)/2⌋ − m, "
                "j + ⌊(K_w − 1)/2⌋ − q] on the K_h×K_w window around (i, j), clipped to the image: static, shared "
                "across space, depthwise.",
    citation="scipy.signal.convolve2d(x, h, mode='same', boundary='fill', fillvalue=0); "
             "scipy.signal.convolve(x, h, mode='same') for 2-D arrays",
    notes=("scipy's 'same' centres the output at ⌊(K − 1)/2⌋ on each axis (compared with scipy.signal.convolve2d "
           "for even and odd filter sizes in the tests); it requires K_h ≤ H and K_w ≤ W here.",
           "The same as conv2d(x, h.flip(-2, -1), padding='same', groups=C) only when K_h and K_w are odd: for an "
           "even size PyTorch puts the extra zero on the other side (one row or column apart)."))


def derive(d):
    convolve2d_derive("same", d)
