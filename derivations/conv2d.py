"""2-D convolution (``torch.nn.functional.conv2d``): stride, dilation, zero padding, groups, bias."""

from ._conv import ConvFamily, conv_derive, conv_operator

_F = ConvFamily(2)

OPERATOR = conv_operator(
    _F, name="conv2d", bias=True,
    summary="2-D convolution with stride, dilation, zero padding, groups and bias",
    description="PyTorch's conv2d: a cross-correlation (the kernel is not flipped) over the zero-padded "
                "input; groups split input and output channels into contiguous blocks.",
    reference_name="torch.nn.functional.conv2d",
    bench=_F.config(B=8, G=1, C_g=64, O_g=64, L=(56, 56), K=(3, 3), P=(1, 1)),
    figure=_F.config(G=1, C_g=2, O_g=2, L=(6, 6), K=(3, 3), P=(1, 1)),
    grid=[
        _F.config(G=1, C_g=2, O_g=3, L=(5, 4), K=(3, 2), P=(1, 0)),
        _F.config(G=1, C_g=1, O_g=2, L=(7, 6), K=(3, 3), s=(2, 3), P=(1, 1)),
        _F.config(G=1, C_g=1, O_g=1, L=(7, 5), K=(2, 3), delta=(2, 2), P=(0, 2)),
        _F.config(G=2, C_g=2, O_g=1, L=(4, 5), K=(3, 3), P=(1, 1)),
        _F.config(B=2, G=3, C_g=1, O_g=2, L=(5, 3), K=(2, 2), s=(2, 1), delta=(2, 1), P=(2, 1)),
        _F.config(G=1, C_g=1, O_g=2, L=(3, 2), K=(1, 1), s=(1, 2), P=(1, 0)),
    ],
)


def derive(d):
    conv_derive(_F, d)
