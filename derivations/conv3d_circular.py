"""3-D convolution with ``padding_mode='circular'`` (PyTorch ``nn.Conv3d``): stride, dilation, groups, bias.

The 3-D case of ``conv2d_circular``: the input is a 3-torus, a position m outside reads x[m mod L]; Ω(p)
is the window taken mod L per axis (never clipped) and the kernel is the weight at every output
position. PyTorch requires P ≤ L (declared: generated modules refuse P > L instead of failing in
F.pad); the grid keeps the window's span δ(K − 1) + 1 ≤ L as well. Four tiny grid shapes, one dilated.
"""

from ._conv import ConvFamily, conv_derive, conv_operator

_F = ConvFamily(3, padding_mode="circular")

OPERATOR = conv_operator(
    _F, name="conv3d_circular", bias=True,
    summary="3-D convolution with padding_mode='circular', stride, dilation, groups and bias",
    description="PyTorch's nn.Conv3d with padding_mode='circular': the input is padded by P per side and axis "
                "with its periodic continuation (position m reads m mod L), then convolved without padding; "
                "groups are contiguous blocks. Ω(p) is the window wrapped around the input and the kernel is "
                "the weight at every output position: shared across space with no border at all.",
    reference_name="torch.nn.functional.pad (mode='circular') + torch.nn.functional.conv3d",
    bench=_F.config(B=4, G=1, C_g=16, O_g=16, L=(16, 28, 28), K=(3, 3, 3), P=(1, 1, 1)),
    figure=_F.config(G=1, C_g=1, O_g=1, L=(3, 5, 5), K=(3, 3, 3), P=(1, 1, 1)),
    grid=[_F.config(G=1, C_g=1, O_g=2, L=(3, 4, 3), K=(3, 2, 3), P=(1, 1, 2)),
          _F.config(G=2, C_g=1, O_g=1, L=(3, 3, 4), K=(1, 3, 2), P=(0, 3, 1), s=(1, 2, 2)),
          _F.config(G=1, C_g=2, O_g=1, L=(4, 3, 3), K=(3, 2, 3), P=(2, 0, 1), s=(2, 1, 1)),
          _F.config(G=1, C_g=1, O_g=1, L=(5, 3, 4), K=(2, 2, 2), P=(1, 1, 2), delta=(3, 2, 2))],
    notes=("P ≤ L (PyTorch's condition for circular padding). With a span δ(K − 1) + 1 > L a window overlaps itself and "
           "several taps read one position: the Evolution kernel sums them, and the generated code "
           "(pad circularly, then convolve) stays exact, but its tap-coordinate kernel is checked only "
           "at shapes with δ(K − 1) + 1 ≤ L.",),
)


def derive(d):
    conv_derive(_F, d)
