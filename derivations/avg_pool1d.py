"""1-D average pooling (``torch.nn.functional.avg_pool1d``, ``count_include_pad=True``, ``ceil_mode=False``).

    y[b, o, i] = 1/K · Σ_u x̃[b, o, s·i + u − P]

A static, uniform, channel-diagonal kernel: a depthwise convolution with every weight 1/K.
"""

from ._pool import PoolFamily, pool_derive, pool_operator

_F = PoolFamily(1, "include")

OPERATOR = pool_operator(
    _F, name="avg_pool1d", summary="1-D average pooling with stride and zero padding (count_include_pad=True)",
    description="PyTorch's avg_pool1d with its defaults: every window averages K entries, the zero padding "
                "included; channels are pooled separately.",
    citation="PyTorch torch.nn.functional.avg_pool1d (count_include_pad=True, ceil_mode=False)",
    grid=[_F.config(C=2, L=7, K=3, s=2, P=1), _F.config(B=2, L=6, K=2, s=1, P=1), _F.config(C=3, L=5, K=4, s=3, P=2)],
    bench=_F.config(B=8, C=64, L=3136, K=3, s=2, P=1),
    figure=_F.config(C=2, L=8, K=2, s=2),
)


def derive(d):
    pool_derive(_F, d)
