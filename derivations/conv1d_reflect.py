"""1-D convolution with ``padding_mode='reflect'`` (PyTorch ``nn.Conv1d``): stride, groups, bias; dilation 1.

The 1-D case of ``conv2d_reflect``: a position m outside the input reads its mirror image across the
edge, the edge itself not repeated (L − 1 − |L − 1 − |m||). PyTorch requires P < L; the step that
rewrites the read as a sum over input positions needs exactly that, and is proved for all sizes under
that declared constraint. The operator declares 2P ≤ K − 1 (every mirrored read then
lands inside the window of the same output position, so Ω is the window clipped to the input, which
the support check confirms); generated modules refuse larger P.
"""

from ._conv import ConvFamily, conv_derive, conv_operator, padded_conv_shapes

_F = ConvFamily(1, fixed={"delta": 1}, padding_mode="reflect")

OPERATOR = conv_operator(
    _F, name="conv1d_reflect", bias=True,
    summary="1-D convolution with padding_mode='reflect', stride, groups and bias (dilation 1)",
    description="PyTorch's nn.Conv1d with padding_mode='reflect': the input is padded by P per side with "
                "its mirror image (the edge not repeated), then convolved without padding; groups are "
                "contiguous blocks. The kernel gathers, at output positions near the border, the weights of "
                "the taps that fall outside onto the input position they read: position-specific there.",
    reference_name="torch.nn.functional.pad (mode='reflect') + torch.nn.functional.conv1d",
    **padded_conv_shapes(_F),
)


def derive(d):
    conv_derive(_F, d)
