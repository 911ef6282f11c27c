"""1-D adaptive average pooling (``torch.nn.functional.adaptive_avg_pool1d``): unequal bins.

    y[b, o, i] = 1/|I_i| · Σ_{m ∈ I_i} x[b, o, m],    I_i = [⌊i·L_in/L_o⌋, ⌈(i + 1)·L_in/L_o⌉)

Bins of unequal length that overlap when L_o does not divide L_in: Ω(i) = I_i is an index set; the
kernel δ(o, c)/|I_i| on it is static, channel-diagonal and position-specific.
"""

from ._pool import AdaptiveFamily, adaptive_derive, adaptive_operator

_F = AdaptiveFamily(1)

OPERATOR = adaptive_operator(
    _F, name="adaptive_avg_pool1d", summary="1-D adaptive average pooling: output length given, bins of unequal length",
    description="PyTorch's adaptive_avg_pool1d: output position i averages the bin [⌊i·L/L_o⌋, ⌈(i+1)·L/L_o⌉); "
                "bins differ in length and overlap when the output length does not divide the input's.",
    citation="PyTorch torch.nn.functional.adaptive_avg_pool1d",
    grid=[_F.config(C=2, L=7, L_out=3), _F.config(B=2, L=3, L_out=5), _F.config(L=6, L_out=4)],
    bench=_F.config(B=8, C=64, L=3136, L_out=49),
    figure=_F.config(C=1, L=7, L_out=3),
)


def derive(d):
    adaptive_derive(_F, d)
