"""2-D average pooling with ``ceil_mode=True`` and ``count_include_pad=False`` (``torch.nn.functional.avg_pool2d``).

    y[b, o, i, j] = 1/(N_h(i)·N_w(j)) · Σ_u Σ_v x̃[b, o, s_h·i + u − P_h, s_w·j + v − P_w]
    N_h(i) = min(s_h·i − P_h + K_h, H_in) − max(s_h·i − P_h, 0)   (the window's rows inside the input)

The output grid of ``avg_pool2d_ceil`` (rounded up; the last window starts inside the input or the left
padding) with the divisor of ``avg_pool2d_exclude_pad`` (only entries inside the input count): the
configuration of ResNet-D style ``AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False)`` shortcuts.
Because the last window starts inside the input, N_h, N_w ≥ 1.
"""

from ._pool import PoolFamily, pool_derive, pool_operator

_F = PoolFamily(2, "ceil_exclude")

OPERATOR = pool_operator(
    _F, name="avg_pool2d_ceil_exclude_pad",
    summary="2-D average pooling with ceil_mode=True and count_include_pad=False",
    description="PyTorch's avg_pool2d with ceil_mode=True and count_include_pad=False: the output rounds up (the "
                "last window must start inside the input or the left padding) and every window averages only its "
                "entries inside the input.",
    citation="PyTorch torch.nn.functional.avg_pool2d (ceil_mode=True, count_include_pad=False)",
    grid=[_F.config(C=2, L=(6, 5), K=(3, 2), s=(2, 2), P=(1, 1)),
          _F.config(B=2, L=(4, 7), K=(2, 3), s=(3, 2), P=(0, 1)),
          _F.config(L=(5, 3), K=(3, 1), s=(3, 1), P=(1, 0))],
    bench=_F.config(B=8, C=64, L=(57, 57), K=2, s=2),
    figure=_F.config(C=1, L=(5, 5), K=2, s=2),
)


def derive(d):
    pool_derive(_F, d)
