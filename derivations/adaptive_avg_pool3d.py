"""3-D adaptive average pooling (``torch.nn.functional.adaptive_avg_pool3d``): unequal bins.

    y[b, o, i, j, k] = 1/(|I_i|·|J_j|·|T_k|) · Σ_{m ∈ I_i} Σ_{n ∈ J_j} Σ_{l ∈ T_k} x[b, o, m, n, l]
    I_i = [⌊i·D_in/D_out⌋, ⌈(i + 1)·D_in/D_out⌉)   (and J_j, T_k alike along the height and width)

Ω(i, j, k) = I_i × J_j × T_k is an index set of bins that differ in length and overlap when the output
length does not divide the input's; the kernel δ(o, c)/(|I_i|·|J_j|·|T_k|) on it is static,
channel-diagonal and position-specific.
"""

from ._pool import AdaptiveFamily, adaptive_derive, adaptive_operator

_F = AdaptiveFamily(3)

OPERATOR = adaptive_operator(
    _F, name="adaptive_avg_pool3d",
    summary="3-D adaptive average pooling: output size given, bins of unequal length",
    description="PyTorch's adaptive_avg_pool3d: output position (i, j, k) averages the product of the bins "
                "[⌊i·D/D_out⌋, ⌈(i+1)·D/D_out⌉) along each axis; bins differ in length and overlap when the "
                "output length does not divide the input's.",
    citation="PyTorch torch.nn.functional.adaptive_avg_pool3d",
    grid=[_F.config(C=2, L=(3, 5, 4), L_out=(2, 3, 2)), _F.config(B=2, L=(2, 3, 5), L_out=(3, 2, 3)),
          _F.config(L=(4, 2, 3), L_out=(3, 1, 2))],
    bench=_F.config(B=4, C=32, L=(16, 28, 28), L_out=(4, 7, 7)),
    figure=_F.config(C=1, L=(3, 5, 5), L_out=(2, 3, 3)),
)


def derive(d):
    adaptive_derive(_F, d)
