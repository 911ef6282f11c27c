"""1-D convolution (``torch.nn.functional.conv1d``): stride, dilation, zero padding, groups, bias."""

from ._conv import ConvFamily, conv_derive, conv_operator

_F = ConvFamily(1)

OPERATOR = conv_operator(
    _F, name="conv1d", bias=True,
    summary="1-D convolution with stride, dilation, zero padding, groups and bias",
    description="PyTorch's conv1d: a cross-correlation over the zero-padded input; groups split input and "
                "output channels into contiguous blocks.",
    reference_name="torch.nn.functional.conv1d",
    bench=_F.config(B=8, G=1, C_g=64, O_g=64, L=3136, K=3, P=1),
    figure=_F.config(G=1, C_g=2, O_g=2, L=9, K=3, P=1),
    grid=[
        _F.config(G=1, C_g=2, O_g=3, L=7, K=3, P=1),
        _F.config(G=1, C_g=1, O_g=2, L=9, K=3, s=2, P=1),
        _F.config(G=1, C_g=2, O_g=1, L=8, K=3, delta=3, P=2),
        _F.config(B=2, G=2, C_g=2, O_g=2, L=6, K=2, s=3, delta=2, P=3),
        _F.config(G=3, C_g=1, O_g=1, L=5, K=5, P=0),
        _F.config(G=1, C_g=1, O_g=1, L=1, K=1, P=0),
    ],
)


def derive(d):
    conv_derive(_F, d)
