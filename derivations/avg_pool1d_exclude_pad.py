"""1-D average pooling with ``count_include_pad=False`` (``torch.nn.functional.avg_pool1d``, ``ceil_mode=False``).

    y[b, o, i] = 1/N(i) · Σ_u x̃[b, o, s·i + u − P]
    N = Π over the axes of (min(s·i − P + K, L) − max(s·i − P, 0))   (the window's entries inside the input)

The 1-D member of the ``exclude`` family of derivations/_pool.py.
"""

from ._pool import PoolFamily, pool_derive, pool_operator

_F = PoolFamily(1, "exclude")

OPERATOR = pool_operator(
    _F, name="avg_pool1d_exclude_pad",
    summary="1-D average pooling with count_include_pad=False: each window averages its entries "
            "inside the input",
    description="PyTorch's avg_pool1d with count_include_pad=False: the zero padding is read but "
                "not counted, so windows that overlap the padding average fewer entries (position-"
                "specific near the border).",
    citation="PyTorch torch.nn.functional.avg_pool1d (count_include_pad=False, ceil_mode=False)",
    grid=_F.grid(),
    bench=_F.config(B=8, C=64, L=3137, K=3, s=2, P=1),
    figure=_F.config(C=2, L=9, K=3, s=2, P=1),
)


def derive(d):
    pool_derive(_F, d)
