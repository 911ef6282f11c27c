"""2-D convolution with ``padding_mode='circular'`` (PyTorch): stride, dilation, groups, bias.

The input is a torus: a position m outside reads x[m mod L], so a window near one edge continues on
the opposite edge. Ω(p) is the window with its positions taken mod L (never clipped), and the kernel
is shared by every output position: circular convolution is translation-equivariant everywhere,
border included. PyTorch requires P ≤ L; the grid keeps the window's span δ(K − 1) + 1 ≤ L as well (a window that does not
overlap itself), which the tap-coordinate kernel of code generation needs.
"""

from ._conv import ConvFamily, conv_derive, conv_operator

_F = ConvFamily(2, padding_mode="circular")

OPERATOR = conv_operator(
    _F, name="conv2d_circular", bias=True,
    summary="2-D convolution with padding_mode='circular', stride, dilation, groups and bias",
    description="PyTorch's nn.Conv2d with padding_mode='circular': the input is padded by P per side with "
                "its periodic continuation (position m reads m mod L), then convolved without padding; groups "
                "are contiguous blocks. As an Evolution form Ω(p) is the window wrapped around the input and "
                "the kernel is the weight at every output position: shared across space with no border at all.",
    reference_name="torch.nn.functional.pad (mode='circular') + torch.nn.functional.conv2d",
    bench=_F.config(B=8, G=1, C_g=16, O_g=16, L=(32, 32), K=(3, 3), P=(1, 1)),
    figure=_F.config(G=1, C_g=1, O_g=1, L=(6, 6), K=(3, 3), P=(1, 1)),
    grid=[_F.config(G=1, C_g=2, O_g=2, L=(5, 4), K=(3, 3), P=(1, 1)),
          _F.config(G=1, C_g=1, O_g=2, L=(4, 6), K=(3, 4), P=(2, 3), s=(2, 1)),
          _F.config(B=2, G=2, C_g=1, O_g=1, L=(3, 5), K=(2, 5), P=(0, 4), s=(1, 2)),
          _F.config(G=1, C_g=1, O_g=2, L=(6, 5), K=(3, 2), P=(2, 1), s=(1, 2), delta=(2, 3))],
    notes=("P ≤ L (PyTorch's condition for circular padding). With a span δ(K − 1) + 1 > L a window overlaps itself and "
           "several taps read one position: the Evolution kernel sums them, and the generated code "
           "(pad circularly, then convolve) stays exact, but its tap-coordinate kernel is checked only "
           "at shapes with δ(K − 1) + 1 ≤ L.",),
)


def derive(d):
    conv_derive(_F, d)
