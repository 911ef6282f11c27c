"""1-D convolution with ``padding_mode='circular'`` (PyTorch ``nn.Conv1d``): stride, dilation, groups, bias.

The 1-D case of ``conv2d_circular``: the input is a ring, a position m outside reads x[m mod L], so
Ω(p) is the window taken mod L (never clipped) and the kernel is the weight at every output position.
PyTorch requires P ≤ L (declared: generated modules refuse P > L instead of failing in F.pad); the
grid keeps the window's span δ(K − 1) + 1 ≤ L as well (a window that does not overlap itself).
"""

from ._conv import ConvFamily, conv_derive, conv_operator

_F = ConvFamily(1, padding_mode="circular")

OPERATOR = conv_operator(
    _F, name="conv1d_circular", bias=True,
    summary="1-D convolution with padding_mode='circular', stride, dilation, groups and bias",
    description="PyTorch's nn.Conv1d with padding_mode='circular': the input is padded by P per side with "
                "its periodic continuation (position m reads m mod L), then convolved without padding; groups "
                "are contiguous blocks. Ω(p) is the window wrapped around the input and the kernel is the "
                "weight at every output position: shared across space with no border at all.",
    reference_name="torch.nn.functional.pad (mode='circular') + torch.nn.functional.conv1d",
    bench=_F.config(B=8, G=1, C_g=64, O_g=64, L=3136, K=3, P=1),
    figure=_F.config(G=1, C_g=1, O_g=1, L=7, K=3, P=1),
    grid=[_F.config(G=1, C_g=2, O_g=2, L=5, K=3, P=1),
          _F.config(G=1, C_g=1, O_g=2, L=6, K=4, P=3, s=2),
          _F.config(B=2, G=2, C_g=1, O_g=1, L=5, K=5, P=4, s=2),
          _F.config(G=1, C_g=1, O_g=2, L=7, K=3, P=2, delta=2),
          _F.config(B=2, G=1, C_g=2, O_g=1, L=8, K=2, P=3, s=2, delta=3)],
    notes=("P ≤ L (PyTorch's condition for circular padding). With a span δ(K − 1) + 1 > L a window overlaps itself and "
           "several taps read one position: the Evolution kernel sums them, and the generated code "
           "(pad circularly, then convolve) stays exact, but its tap-coordinate kernel is checked only "
           "at shapes with δ(K − 1) + 1 ≤ L.",),
)


def derive(d):
    conv_derive(_F, d)
