"""1-D average pooling with ``ceil_mode=True`` (``torch.nn.functional.avg_pool1d``, ``count_include_pad=True``).

    y[b, o, i] = 1/D(i) · Σ_u x̃[b, o, s·i + u − P]
    D = Π over the axes of min(K, L + 2·P − s·i)   (each window clipped to the padded extent [−P, L + P))

The 1-D member of the ``ceil`` family of derivations/_pool.py (see avg_pool2d_ceil for the output
length rule: the last window must start inside the input or the left padding).
"""

from ._pool import PoolFamily, pool_derive, pool_operator

_F = PoolFamily(1, "ceil")

OPERATOR = pool_operator(
    _F, name="avg_pool1d_ceil",
    summary="1-D average pooling with ceil_mode=True (count_include_pad=True): the last window may"
            " be partial",
    description="PyTorch's avg_pool1d with ceil_mode=True: the output rounds up (the last window "
                "must still start inside the input or the left padding); a window that runs past "
                "the right padding averages over its part inside the padded input, zeros of the "
                "padding included.",
    citation="PyTorch torch.nn.functional.avg_pool1d (ceil_mode=True, count_include_pad=True)",
    grid=_F.grid(),
    bench=_F.config(B=8, C=64, L=3137, K=3, s=2, P=1),
    figure=_F.config(C=2, L=9, K=3, s=2, P=1),
)


def derive(d):
    pool_derive(_F, d)
