"""2-D average pooling with ``count_include_pad=False`` (``torch.nn.functional.avg_pool2d``, ``ceil_mode=False``).

    y[b, o, i, j] = 1/(N_h(i)·N_w(j)) · Σ_u Σ_v x̃[b, o, s_h·i + u − P_h, s_w·j + v − P_w]
    N_h(i) = min(s_h·i − P_h + K_h, H_in) − max(s_h·i − P_h, 0)   (the window's rows inside the input)

Each window averages only its entries inside the input: a static kernel, but position-specific near
every border where the window overlaps the padding. With 2P ≤ K (PyTorch's limit, a declared
constraint) every window holds at least one input entry, so N_h, N_w ≥ 1.
"""

from ._pool import PoolFamily, pool_derive, pool_operator

_F = PoolFamily(2, "exclude")

OPERATOR = pool_operator(
    _F, name="avg_pool2d_exclude_pad",
    summary="2-D average pooling with count_include_pad=False: each window averages its entries inside the input",
    description="PyTorch's avg_pool2d with count_include_pad=False: the zero padding is read but not counted, so "
                "windows that overlap the padding average fewer entries (position-specific near the border).",
    citation="PyTorch torch.nn.functional.avg_pool2d (count_include_pad=False, ceil_mode=False)",
    grid=[_F.config(C=2, L=(5, 4), K=(3, 2), s=(1, 2), P=(1, 1)),
          _F.config(B=2, L=(7, 6), K=(2, 3), s=(2, 3), P=(1, 0)),
          _F.config(L=(4, 5), K=(4, 1), s=(3, 1), P=(2, 0))],
    bench=_F.config(B=8, C=64, L=(56, 56), K=3, s=2, P=1),
    figure=_F.config(C=1, L=(5, 5), K=3, s=2, P=1),
)


def derive(d):
    pool_derive(_F, d)
