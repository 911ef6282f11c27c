"""3-D average pooling with ``divisor_override`` (``torch.nn.functional.avg_pool3d``, ``ceil_mode=False``).

    y[b, o, i, j, k] = 1/D_o · Σ_u Σ_v Σ_t x̃[b, o, s_d·i + u − P_d, s_h·j + v − P_h, s_w·k + t − P_w]

A static, uniform, channel-diagonal kernel δ(o, c)/D_o on the window.
"""

from ._pool import PoolFamily, pool_derive, pool_operator

_F = PoolFamily(3, "divisor")

OPERATOR = pool_operator(
    _F, name="avg_pool3d_divisor",
    summary="3-D average pooling with divisor_override: every window's sum divided by a given constant",
    description="PyTorch's avg_pool3d with divisor_override=D_o: each window sums its entries "
                "(zero padding included) and divides by D_o whatever count_include_pad says.",
    citation="PyTorch torch.nn.functional.avg_pool3d (divisor_override, ceil_mode=False)",
    grid=_F.grid(),
    bench=_F.config(B=4, C=32, L=(17, 29, 29), K=3, s=2, P=1, D_o=4),
    figure=_F.config(C=1, L=(3, 5, 5), K=2, s=2, D_o=3),
)


def derive(d):
    pool_derive(_F, d)
