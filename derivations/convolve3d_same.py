"""True (flipped) 3-D convolution, mode 'same' (``scipy.signal.convolve(x, h, 'same')`` on each channel's volume).

    y[b, c, i, j, n] = Σ_{k, l, r} h[c, k, l, r] · x̃[b, c, i + ⌊(K_d − 1)/2⌋ − k, j + ⌊(K_h − 1)/2⌋ − l,
                                                   n + ⌊(K_w − 1)/2⌋ − r]

i = 0 … D − 1, j = 0 … H − 1, n = 0 … W − 1: the full output from ⌊(K − 1)/2⌋ on each axis (scipy's centre; for an
even K it lies before the middle on that axis, as numpy.convolve's 'same' does in 1-D).
"""

from ._convolve import convolve3d_derive, convolve3d_operator

OPERATOR = convolve3d_operator(
    "same", name="convolve3d_same",
    summary="true (flipped) 3-D convolution, mode 'same' (scipy.signal.convolve on each channel): D × H × W",
    description="The signal-processing convolution of volumes cut to the volume's size (scipy.signal.convolve, mode "
                "'same', zero fill): output (i, j, n) is the full output (i + ⌊(K_d − 1)/2⌋, j + ⌊(K_h − 1)/2⌋, "
                "n + ⌊(K_w − 1)/2⌋). As an Evolution form K[o,c,(i,j,n),(m,q,t)] = δ(o,c)·h[c, i + ⌊(K_d − 1)/2⌋ − m, "
                "j + ⌊(K_h − 1)/2⌋ − q, n + ⌊(K_w − 1)/2⌋ − t] on the K_d×K_h×K_w window around (i, j, n), clipped to "
                "the volume: static, shared across space, depthwise.",
    citation="scipy.signal.convolve(x, h, mode='same') for 3-D arrays",
    notes=("scipy's 'same' centres the output at ⌊(K − 1)/2⌋ on each axis (compared with scipy.signal.convolve for "
           "even and odd filter lengths on every axis in the tests); it requires K_d ≤ D, K_h ≤ H and K_w ≤ W here.",
           "The same as conv3d(x, h.flip(-3, -2, -1), padding='same', groups=C) only when K_d, K_h and K_w are odd: "
           "for an even length PyTorch puts the extra zero on the other side of that axis (one position apart)."))


def derive(d):
    convolve3d_derive("same", d)
