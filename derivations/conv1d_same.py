"""1-D convolution with ``padding='same'`` (PyTorch): stride 1, dilation, groups, bias.

PyTorch pads δ(K−1) zeros in all: ⌊δ(K−1)/2⌋ on the left and the rest on the right, so the output
is as long as the input even when the total is odd (then the padding is asymmetric). The grid has
odd and even δ(K−1).
"""

from ._conv import ConvFamily, conv_derive, conv_operator

_F = ConvFamily(1, same=True)

OPERATOR = conv_operator(
    _F, name="conv1d_same", bias=True,
    summary="1-D convolution with padding='same' (asymmetric when δ(K−1) is odd), dilation, groups and bias",
    description="PyTorch's conv1d with padding='same': stride 1, ⌊δ(K−1)/2⌋ zeros before and ⌈δ(K−1)/2⌉ "
                "after, output length equal to the input length; groups are contiguous blocks.",
    reference_name="torch.nn.functional.conv1d (padding='same')",
    bench=_F.config(B=8, G=1, C_g=64, O_g=64, L=3136, K=3),
    figure=_F.config(G=1, C_g=2, O_g=2, L=7, K=3),
    grid=[
        _F.config(G=1, C_g=2, O_g=2, L=5, K=3),
        _F.config(G=1, C_g=1, O_g=2, L=6, K=4),
        _F.config(B=2, G=2, C_g=1, O_g=1, L=7, K=2, delta=3),
        _F.config(G=1, C_g=1, O_g=1, L=8, K=3, delta=2),
    ],
)


def derive(d):
    conv_derive(_F, d)
