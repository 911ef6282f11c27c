"""1-D convolution with ``padding_mode='replicate'`` (PyTorch ``nn.Conv1d``): stride, groups, bias; dilation 1.

The 1-D case of ``conv2d_replicate``: a position m outside the input reads the nearest edge,
x[min(max(m, 0), L − 1)]; every step is proved for all sizes. The operator declares P ≤ K − 1 (the
window then reaches the edge it copies, so Ω is the window clipped to the input, which the support
check confirms at a grid shape with P = K − 1); generated modules refuse larger P.
"""

from ._conv import ConvFamily, conv_derive, conv_operator, padded_conv_shapes

_F = ConvFamily(1, fixed={"delta": 1}, padding_mode="replicate")

OPERATOR = conv_operator(
    _F, name="conv1d_replicate", bias=True,
    summary="1-D convolution with padding_mode='replicate', stride, groups and bias (dilation 1)",
    description="PyTorch's nn.Conv1d with padding_mode='replicate': the input is padded by P per side with "
                "copies of its edge, then convolved without padding; groups are contiguous blocks. The "
                "kernel gathers, at output positions near the border, the weights of the taps that fall "
                "outside onto the input position they read: position-specific there.",
    reference_name="torch.nn.functional.pad (mode='replicate') + torch.nn.functional.conv1d",
    **padded_conv_shapes(_F),
)


def derive(d):
    conv_derive(_F, d)
