"""3-D average pooling with ``ceil_mode=True`` and ``count_include_pad=False`` (``torch.nn.functional.avg_pool3d``).

    y[b, o, i, j, k] = 1/N(i, j, k) · Σ_u Σ_v Σ_t x̃[b, o, s_d·i + u − P_d, s_h·j + v − P_h, s_w·k + t − P_w]
    N = Π over the axes of (min(s·i − P + K, L) − max(s·i − P, 0))   (the window's entries inside the input)

on the rounded-up output grid of the ``ceil`` variant; the last window starts inside the input, so N ≥ 1.
"""

from ._pool import PoolFamily, pool_derive, pool_operator

_F = PoolFamily(3, "ceil_exclude")

OPERATOR = pool_operator(
    _F, name="avg_pool3d_ceil_exclude_pad",
    summary="3-D average pooling with ceil_mode=True and count_include_pad=False",
    description="PyTorch's avg_pool3d with ceil_mode=True and count_include_pad=False: the output "
                "rounds up (the last window must start inside the input or the left padding) and "
                "every window averages only its entries inside the input.",
    citation="PyTorch torch.nn.functional.avg_pool3d (ceil_mode=True, count_include_pad=False)",
    grid=_F.grid(),
    bench=_F.config(B=4, C=32, L=(17, 29, 29), K=3, s=2, P=1),
    figure=_F.config(C=1, L=(3, 5, 5), K=2, s=2),
)


def derive(d):
    pool_derive(_F, d)
