"""3-D average pooling with ``count_include_pad=False`` (``torch.nn.functional.avg_pool3d``, ``ceil_mode=False``).

    y[b, o, i, j, k] = 1/N(i, j, k) · Σ_u Σ_v Σ_t x̃[b, o, s_d·i + u − P_d, s_h·j + v − P_h, s_w·k + t − P_w]
    N = Π over the axes of (min(s·i − P + K, L) − max(s·i − P, 0))   (the window's entries inside the input)

The 3-D member of the ``exclude`` family of derivations/_pool.py.
"""

from ._pool import PoolFamily, pool_derive, pool_operator

_F = PoolFamily(3, "exclude")

OPERATOR = pool_operator(
    _F, name="avg_pool3d_exclude_pad",
    summary="3-D average pooling with count_include_pad=False: each window averages its entries "
            "inside the input",
    description="PyTorch's avg_pool3d with count_include_pad=False: the zero padding is read but "
                "not counted, so windows that overlap the padding average fewer entries (position-"
                "specific near the border).",
    citation="PyTorch torch.nn.functional.avg_pool3d (count_include_pad=False, ceil_mode=False)",
    grid=_F.grid(),
    bench=_F.config(B=4, C=32, L=(17, 29, 29), K=3, s=2, P=1),
    figure=_F.config(C=1, L=(3, 5, 5), K=2, s=2),
)


def derive(d):
    pool_derive(_F, d)
