"""2-D convolution with ``padding_mode='reflect'`` (PyTorch): stride, groups, bias; dilation 1.

A position m outside the input reads its mirror image across the edge, the edge itself not
repeated: x[−m] for m < 0, x[2(L − 1) − m] for m ≥ L, written L − 1 − |L − 1 − |m||. PyTorch requires
P < L (one reflection reaches every padded position); the step that rewrites the read as a sum over
input positions needs exactly that, and is proved for all sizes under that declared constraint.

Dilation is 1 and the grid keeps 2P ≤ K − 1 (P = ⌊(K − 1)/2⌋ is the usual choice): then every read
of a padded position lands inside the window of the same output position, so Ω is the window
clipped to the input, which the support check confirms. With more padding the reads leave the
window (the mirror of a far tap lies beyond it) and Ω would have to be larger.
"""

from ._conv import ConvFamily, conv_derive, conv_operator, padded_conv2d_shapes

_F = ConvFamily(2, fixed={"delta": 1}, padding_mode="reflect")

OPERATOR = conv_operator(
    _F, name="conv2d_reflect", bias=True,
    summary="2-D convolution with padding_mode='reflect', stride, groups and bias (dilation 1)",
    description="PyTorch's nn.Conv2d with padding_mode='reflect': the input is padded by P per side with "
                "its mirror image (the edge not repeated), then convolved without padding; groups "
                "are contiguous blocks. As an Evolution form the kernel gathers, at output positions near the border, "
                "the weights of the taps that fall outside onto the input position they read: position-specific there.",
    reference_name="torch.nn.functional.pad (mode='reflect') + torch.nn.functional.conv2d",
    **padded_conv2d_shapes(_F),
)


def derive(d):
    conv_derive(_F, d)
