"""2-D average pooling with ``divisor_override`` (``torch.nn.functional.avg_pool2d``, ``ceil_mode=False``).

    y[b, o, i, j] = 1/D_o · Σ_u Σ_v x̃[b, o, s_h·i + u − P_h, s_w·j + v − P_w]

Every window's sum is divided by the given D_o (count_include_pad then changes nothing): a static,
uniform, channel-diagonal kernel, a depthwise convolution with every weight 1/D_o.
"""

from ._pool import PoolFamily, pool_derive, pool_operator

_F = PoolFamily(2, "divisor")

OPERATOR = pool_operator(
    _F, name="avg_pool2d_divisor",
    summary="2-D average pooling with divisor_override: every window's sum divided by a given constant",
    description="PyTorch's avg_pool2d with divisor_override=D_o: each window sums its entries (zero padding "
                "included) and divides by D_o whatever count_include_pad says.",
    citation="PyTorch torch.nn.functional.avg_pool2d (divisor_override, ceil_mode=False)",
    grid=[_F.config(C=2, L=(5, 4), K=(3, 2), s=(1, 2), P=(1, 1), D_o=5),
          _F.config(B=2, L=(7, 6), K=(2, 3), s=(2, 3), P=(1, 0), D_o=2),
          _F.config(L=(4, 5), K=(4, 1), s=(3, 1), P=(2, 0), D_o=7)],
    bench=_F.config(B=8, C=64, L=(56, 56), K=3, s=2, P=1, D_o=4),
    figure=_F.config(C=1, L=(6, 6), K=2, s=2, D_o=3),
)


def derive(d):
    pool_derive(_F, d)
