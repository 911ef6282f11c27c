"""2-D average pooling with ``divisor_override`` and ``ceil_mode=True`` (``torch.nn.functional.avg_pool2d``).

    y[b, o, i, j] = 1/D_o · Σ_u Σ_v x̃[b, o, s_h·i + u − P_h, s_w·j + v − P_w]

The output grid of ``avg_pool2d_ceil`` (rounded up; the last window starts inside the input or the left
padding) with every window's sum divided by the given D_o, a partial last window too (count_include_pad
then changes nothing): a static, uniform, channel-diagonal kernel, a depthwise convolution with every
weight 1/D_o whose output runs one window further on the right.
"""

from ._pool import PoolFamily, pool_derive, pool_operator

_F = PoolFamily(2, "ceil_divisor")

OPERATOR = pool_operator(
    _F, name="avg_pool2d_ceil_divisor",
    summary="2-D average pooling with divisor_override and ceil_mode=True",
    description="PyTorch's avg_pool2d with divisor_override=D_o and ceil_mode=True: the output rounds up (the last "
                "window must start inside the input or the left padding) and each window's sum, a partial one too, "
                "is divided by D_o.",
    citation="PyTorch torch.nn.functional.avg_pool2d (divisor_override, ceil_mode=True)",
    grid=[_F.config(C=2, L=(6, 5), K=(3, 2), s=(2, 2), P=(1, 1), D_o=5),
          _F.config(B=2, L=(4, 7), K=(2, 3), s=(3, 2), P=(0, 1), D_o=2),
          _F.config(L=(5, 3), K=(3, 1), s=(3, 1), P=(1, 0), D_o=7)],
    bench=_F.config(B=8, C=64, L=(57, 57), K=3, s=2, P=1, D_o=4),
    figure=_F.config(C=1, L=(5, 5), K=2, s=2, D_o=3),
)


def derive(d):
    pool_derive(_F, d)
