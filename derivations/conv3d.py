"""3-D convolution (``torch.nn.functional.conv3d``): stride, dilation, zero padding, groups, bias."""

from ._conv import ConvFamily, conv_derive, conv_operator

_F = ConvFamily(3)

OPERATOR = conv_operator(
    _F, name="conv3d", bias=True,
    summary="3-D convolution with stride, dilation, zero padding, groups and bias",
    description="PyTorch's conv3d: a cross-correlation over the zero-padded input; groups split input and "
                "output channels into contiguous blocks.",
    reference_name="torch.nn.functional.conv3d",
    bench=_F.config(B=4, G=1, C_g=32, O_g=32, L=(16, 28, 28), K=(3, 3, 3), P=(1, 1, 1)),
    figure=_F.config(G=1, C_g=1, O_g=1, L=(3, 5, 5), K=(3, 3, 3), P=(1, 1, 1)),
    grid=[
        _F.config(G=1, C_g=1, O_g=2, L=(3, 4, 2), K=(2, 3, 1), P=(0, 1, 0)),
        _F.config(G=2, C_g=1, O_g=1, L=(4, 3, 5), K=(2, 2, 3), s=(2, 1, 2), P=(1, 0, 1)),
        _F.config(G=1, C_g=2, O_g=1, L=(3, 5, 3), K=(1, 2, 2), delta=(1, 2, 1), s=(1, 2, 1), P=(1, 1, 0)),
        _F.config(G=1, C_g=1, O_g=1, L=(5, 3, 4), K=(2, 1, 2), delta=(3, 1, 2), s=(2, 1, 3), P=(1, 0, 2)),
    ],
)


def derive(d):
    conv_derive(_F, d)
