"""2-D convolution with ``padding='same'`` (PyTorch): stride 1, dilation, groups, bias.

PyTorch pads δ(K−1) zeros in all: ⌊δ(K−1)/2⌋ on the left and the rest on the right, so the output
is as long as the input even when the total is odd (then the padding is asymmetric).
"""

from ._conv import ConvFamily, conv_derive, conv_operator

_F = ConvFamily(2, same=True)

OPERATOR = conv_operator(
    _F, name="conv2d_same", bias=True,
    summary="2-D convolution with padding='same' (asymmetric when δ(K−1) is odd), dilation, groups and bias",
    description="PyTorch's conv2d with padding='same': stride 1, ⌊δ(K−1)/2⌋ zeros before and ⌈δ(K−1)/2⌉ "
                "after, output size equal to the input size; groups are contiguous blocks.",
    reference_name="torch.nn.functional.conv2d (padding='same')",
    bench=_F.config(B=8, G=1, C_g=64, O_g=64, L=(56, 56), K=(3, 3)),
    figure=_F.config(G=1, C_g=2, O_g=2, L=(6, 6), K=(3, 3)),
    grid=[
        _F.config(G=1, C_g=2, O_g=2, L=(5, 4), K=(3, 2)),
        _F.config(G=1, C_g=1, O_g=2, L=(4, 6), K=(4, 3), delta=(1, 2)),
        _F.config(B=2, G=2, C_g=1, O_g=1, L=(3, 5), K=(2, 2), delta=(3, 1)),
    ],
)


def derive(d):
    conv_derive(_F, d)
