"""A discrete causal LTI system: the output is the input convolved with the impulse response, from rest.

    y[b, c, t] = Σ_{k=0}^{K−1} h[c, k] · x̃[b, c, t − k],   t = 0 … L − 1   (x̃: x, zero before t = 0)

Zero initial state means the input is zero before t = 0; a finite impulse response h of K taps (FIR)
makes the sum finite. This is ``numpy.convolve(x, h, 'full')[:L]`` (and ``scipy.signal.lfilter(h, [1],
x)``): the full convolution truncated to the input's length. Time invariance and causality are not
assumed: the property analysis derives them from the proved kernel, K[o,c,t,m] = δ(o,c)·h[c, t − m]
(a function of t − m only: shared across positions) with Ω(t) = {t − K + 1 … t} (no input after t).
"""

from ._convolve import convolve_derive, convolve_operator

OPERATOR = convolve_operator(
    "causal", name="lti_system",
    summary="discrete causal LTI system (FIR, zero initial state): y = x ∗ h, the full convolution cut to L",
    description="A linear time-invariant system from rest: each channel's output is its input convolved with the "
                "channel's impulse response h, the full convolution truncated to the input's length. As an "
                "Evolution form K[o,c,t,m] = δ(o,c)·h[c, t − m] on Ω(t) = {t − K + 1, …, t} ∩ [0, L − 1]: "
                "static, shared across positions (time-invariant), depthwise, and causal (Ω(t) ⊆ {q ≤ t}), "
                "each derived from the kernel and confirmed at the grid.",
    citation="Oppenheim & Schafer, Discrete-Time Signal Processing (LTI systems, convolution sum); "
             "numpy.convolve(x, h, 'full')[:L], scipy.signal.lfilter(h, [1], x)",
    notes=("Zero initial state: the input is zero before t = 0 (the system starts at rest).",
           "An IIR system (feedback) is not an Evolution form of its input with a finite kernel written this way; "
           "truncating its impulse response to K taps gives this operator.",
           "The same as conv1d(x, h.flip(-1), padding=K − 1) cut to the first L outputs (the tutorial's causal "
           "depthwise convolution, with the filter reversed)."))


def derive(d):
    convolve_derive("causal", d)
