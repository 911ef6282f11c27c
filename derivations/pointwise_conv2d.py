"""Pointwise (1×1) 2-D convolution, with stride and groups: a per-position channel mixing."""

from ._conv import ConvFamily, conv_derive, conv_operator

_F = ConvFamily(2, fixed={"K": 1, "P": 0, "delta": 1})

OPERATOR = conv_operator(
    _F, name="pointwise_conv2d", bias=True,
    summary="pointwise (1×1) 2-D convolution with stride, groups and bias",
    description="conv2d with a 1×1 kernel: each output position mixes the channels of one input position "
                "s·p; no padding is needed (kernel_size=1, padding=0, dilation=1).",
    reference_name="torch.nn.functional.conv2d (kernel_size=1)",
    bench=_F.config(B=8, G=1, C_g=64, O_g=64, L=(56, 56)),
    figure=_F.config(G=1, C_g=3, O_g=2, L=(5, 5)),
    grid=[
        _F.config(G=1, C_g=3, O_g=2, L=(3, 4)),
        _F.config(G=2, C_g=2, O_g=1, L=(5, 3), s=(2, 2)),
        _F.config(B=2, G=1, C_g=1, O_g=3, L=(4, 5), s=(3, 2)),
    ],
)


def derive(d):
    conv_derive(_F, d)
