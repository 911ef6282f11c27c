"""1-D average pooling with ``ceil_mode=True`` and ``count_include_pad=False`` (``torch.nn.functional.avg_pool1d``).

    y[b, o, i] = 1/N(i) · Σ_u x̃[b, o, s·i + u − P]
    N = Π over the axes of (min(s·i − P + K, L) − max(s·i − P, 0))   (the window's entries inside the input)

on the rounded-up output grid of the ``ceil`` variant; the last window starts inside the input, so N ≥ 1.
"""

from ._pool import PoolFamily, pool_derive, pool_operator

_F = PoolFamily(1, "ceil_exclude")

OPERATOR = pool_operator(
    _F, name="avg_pool1d_ceil_exclude_pad",
    summary="1-D average pooling with ceil_mode=True and count_include_pad=False",
    description="PyTorch's avg_pool1d with ceil_mode=True and count_include_pad=False: the output "
                "rounds up (the last window must start inside the input or the left padding) and "
                "every window averages only its entries inside the input.",
    citation="PyTorch torch.nn.functional.avg_pool1d (ceil_mode=True, count_include_pad=False)",
    grid=_F.grid(),
    bench=_F.config(B=8, C=64, L=3137, K=3, s=2, P=1),
    figure=_F.config(C=2, L=9, K=3, s=2, P=1),
)


def derive(d):
    pool_derive(_F, d)
