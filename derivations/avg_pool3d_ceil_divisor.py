"""3-D average pooling with ``divisor_override`` and ``ceil_mode=True`` (``torch.nn.functional.avg_pool3d``).

    y[b, o, i, j, k] = 1/D_o · Σ_u Σ_v Σ_t x̃[b, o, s_d·i + u − P_d, s_h·j + v − P_h, s_w·k + t − P_w]

on the rounded-up output grid of the ``ceil`` variant (the last window must start inside the input or
the left padding).
"""

from ._pool import PoolFamily, pool_derive, pool_operator

_F = PoolFamily(3, "ceil_divisor")

OPERATOR = pool_operator(
    _F, name="avg_pool3d_ceil_divisor",
    summary="3-D average pooling with divisor_override and ceil_mode=True",
    description="PyTorch's avg_pool3d with divisor_override=D_o and ceil_mode=True: the output "
                "rounds up (the last window must start inside the input or the left padding) and "
                "each window's sum, a partial one too, is divided by D_o.",
    citation="PyTorch torch.nn.functional.avg_pool3d (divisor_override, ceil_mode=True)",
    grid=_F.grid(),
    bench=_F.config(B=4, C=32, L=(17, 29, 29), K=3, s=2, P=1, D_o=4),
    figure=_F.config(C=1, L=(3, 5, 5), K=2, s=2, D_o=3),
)


def derive(d):
    pool_derive(_F, d)
