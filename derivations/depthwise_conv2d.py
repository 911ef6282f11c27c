"""Depthwise 2-D convolution: ``conv2d`` with groups = C and a channel multiplier M (out = C·M)."""

from ._conv import ConvFamily, conv_derive, conv_operator

_F = ConvFamily(2, depthwise=True)

OPERATOR = conv_operator(
    _F, name="depthwise_conv2d", bias=True,
    summary="depthwise 2-D convolution (groups = C, channel multiplier M) with stride, dilation, padding",
    description="conv2d with groups equal to the input channels C: output channel o reads only input "
                "channel ⌊o/M⌋, with its own K_h×K_w filter (weight shape C·M × 1 × K_h × K_w).",
    reference_name="torch.nn.functional.conv2d (groups=C)",
    bench=_F.config(B=8, C=64, M=1, L=(56, 56), K=(7, 7), P=(3, 3)),
    figure=_F.config(C=3, M=1, L=(6, 6), K=(3, 3), P=(1, 1)),
    grid=[
        _F.config(C=2, M=1, L=(5, 4), K=(3, 3), P=(1, 1)),
        _F.config(C=3, M=2, L=(6, 5), K=(3, 2), s=(2, 1), P=(1, 0)),
        _F.config(B=2, C=2, M=2, L=(5, 7), K=(2, 3), delta=(2, 2), s=(1, 3), P=(2, 1)),
    ],
)


def derive(d):
    conv_derive(_F, d)
