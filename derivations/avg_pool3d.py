"""3-D average pooling (``torch.nn.functional.avg_pool3d``, ``count_include_pad=True``, ``ceil_mode=False``).

    y[b, o, i, j, k] = 1/(K_d·K_h·K_w) · Σ_u Σ_v Σ_t x̃[b, o, s_d·i + u − P_d, s_h·j + v − P_h, s_w·k + t − P_w]

A static, uniform, channel-diagonal kernel: a depthwise convolution with every weight 1/(K_d·K_h·K_w).
"""

from ._pool import PoolFamily, pool_derive, pool_operator

_F = PoolFamily(3, "include")

OPERATOR = pool_operator(
    _F, name="avg_pool3d", summary="3-D average pooling with stride and zero padding (count_include_pad=True)",
    description="PyTorch's avg_pool3d with its defaults: every window averages K_d·K_h·K_w entries, the zero "
                "padding included; channels are pooled separately.",
    citation="PyTorch torch.nn.functional.avg_pool3d (count_include_pad=True, ceil_mode=False)",
    grid=[_F.config(C=2, L=(3, 4, 3), K=(2, 3, 1), s=(1, 2, 1), P=(1, 1, 0)),
          _F.config(B=2, L=(4, 3, 2), K=(3, 1, 2), s=(2, 1, 2), P=(1, 0, 1)),
          _F.config(L=(2, 3, 4), K=(1, 2, 2), s=(1, 3, 1), P=(0, 1, 0))],
    bench=_F.config(B=4, C=32, L=(16, 28, 28), K=3, s=2, P=1),
    figure=_F.config(C=1, L=(2, 4, 4), K=2, s=2),
)


def derive(d):
    pool_derive(_F, d)
