"""3-D convolution with ``padding='same'`` (PyTorch): stride 1, dilation, groups, bias.

PyTorch pads δ(K−1) zeros per axis: ⌊δ(K−1)/2⌋ before and the rest after, so the output is as large as
the input even when the total is odd (then the padding is asymmetric). Three tiny grid shapes cover odd
and even δ(K−1) and dilation on every axis (3-D bounded checks unroll every sum, so they stay small).
"""

from ._conv import ConvFamily, conv_derive, conv_operator

_F = ConvFamily(3, same=True)

OPERATOR = conv_operator(
    _F, name="conv3d_same", bias=True,
    summary="3-D convolution with padding='same' (asymmetric when δ(K−1) is odd), dilation, groups and bias",
    description="PyTorch's conv3d with padding='same': stride 1, ⌊δ(K−1)/2⌋ zeros before and ⌈δ(K−1)/2⌉ "
                "after on each axis, output size equal to the input size; groups are contiguous blocks.",
    reference_name="torch.nn.functional.conv3d (padding='same')",
    bench=_F.config(B=4, G=1, C_g=32, O_g=32, L=(16, 28, 28), K=(3, 3, 3)),
    figure=_F.config(G=1, C_g=1, O_g=1, L=(3, 5, 5), K=(3, 3, 3)),
    grid=[
        _F.config(G=1, C_g=1, O_g=2, L=(3, 4, 3), K=(3, 2, 1)),
        _F.config(G=2, C_g=1, O_g=1, L=(3, 3, 4), K=(2, 3, 2), delta=(3, 1, 2)),
        _F.config(G=1, C_g=2, O_g=1, L=(4, 3, 3), K=(2, 2, 3), delta=(2, 3, 1)),
    ],
)


def derive(d):
    conv_derive(_F, d)
