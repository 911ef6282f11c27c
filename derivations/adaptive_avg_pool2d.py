"""2-D adaptive average pooling (``torch.nn.functional.adaptive_avg_pool2d``): unequal bins.

    y[b, o, i, j] = 1/(|I_i|·|J_j|) · Σ_{m ∈ I_i} Σ_{n ∈ J_j} x[b, o, m, n]
    I_i = [⌊i·H_in/H_out⌋, ⌈(i + 1)·H_in/H_out⌉)

The bins have unequal lengths and overlap when H_out does not divide H_in, so Ω(i, j) = I_i × J_j is an
index set, not a window of fixed size and stride; the kernel δ(o, c)/(|I_i|·|J_j|) on it is static,
channel-diagonal and position-specific.
"""

from ._pool import AdaptiveFamily, adaptive_derive, adaptive_operator

_F = AdaptiveFamily(2)

OPERATOR = adaptive_operator(
    _F, name="adaptive_avg_pool2d", summary="2-D adaptive average pooling: output size given, bins of unequal length",
    description="PyTorch's adaptive_avg_pool2d: output position (i, j) averages the bin [⌊i·H/H_out⌋, "
                "⌈(i+1)·H/H_out⌉) × [⌊j·W/W_out⌋, ⌈(j+1)·W/W_out⌉); bins differ in length and overlap when the "
                "output length does not divide the input's.",
    citation="PyTorch torch.nn.functional.adaptive_avg_pool2d",
    grid=[_F.config(C=2, L=(5, 4), L_out=(3, 2)), _F.config(B=2, L=(3, 7), L_out=(5, 3)),
          _F.config(L=(6, 2), L_out=(4, 1))],
    bench=_F.config(B=8, C=64, L=(56, 56), L_out=(7, 7)),
    figure=_F.config(C=1, L=(5, 5), L_out=(3, 3)),
)


def derive(d):
    adaptive_derive(_F, d)
