"""3-D convolution with ``padding_mode='reflect'`` (PyTorch ``nn.Conv3d``): stride, groups, bias; dilation 1.

The 3-D case of ``conv2d_reflect`` (see it for the padding map), with the declared condition of
``conv1d_reflect`` (2P ≤ K − 1 per axis: Ω is then the window clipped to the input). Three tiny grid
shapes (3-D bounded checks unroll every sum).
"""

from ._conv import ConvFamily, conv_derive, conv_operator, padded_conv_shapes

_F = ConvFamily(3, fixed={"delta": 1}, padding_mode="reflect")

OPERATOR = conv_operator(
    _F, name="conv3d_reflect", bias=True,
    summary="3-D convolution with padding_mode='reflect', stride, groups and bias (dilation 1)",
    description="PyTorch's nn.Conv3d with padding_mode='reflect': the input is padded by P per side and axis "
                "(F.pad mode='reflect'), then convolved without padding; groups are contiguous blocks. The "
                "kernel gathers, at output positions near the border, the weights of the taps that fall "
                "outside onto the input position they read: position-specific there.",
    reference_name="torch.nn.functional.pad (mode='reflect') + torch.nn.functional.conv3d",
    **padded_conv_shapes(_F),
)


def derive(d):
    conv_derive(_F, d)
