"""3-D average pooling with ``ceil_mode=True`` (``torch.nn.functional.avg_pool3d``, ``count_include_pad=True``).

    y[b, o, i, j, k] = 1/D(i, j, k) · Σ_u Σ_v Σ_t x̃[b, o, s_d·i + u − P_d, s_h·j + v − P_h, s_w·k + t − P_w]
    D = Π over the axes of min(K, L + 2·P − s·i)   (each window clipped to the padded extent [−P, L + P))

The 3-D member of the ``ceil`` family of derivations/_pool.py (see avg_pool2d_ceil for the output
length rule: the last window must start inside the input or the left padding).
"""

from ._pool import PoolFamily, pool_derive, pool_operator

_F = PoolFamily(3, "ceil")

OPERATOR = pool_operator(
    _F, name="avg_pool3d_ceil",
    summary="3-D average pooling with ceil_mode=True (count_include_pad=True): the last window may"
            " be partial",
    description="PyTorch's avg_pool3d with ceil_mode=True: the output rounds up (the last window "
                "must still start inside the input or the left padding); a window that runs past "
                "the right padding averages over its part inside the padded input, zeros of the "
                "padding included.",
    citation="PyTorch torch.nn.functional.avg_pool3d (ceil_mode=True, count_include_pad=True)",
    grid=_F.grid(),
    bench=_F.config(B=4, C=32, L=(17, 29, 29), K=3, s=2, P=1),
    figure=_F.config(C=1, L=(3, 5, 5), K=2, s=2),
)


def derive(d):
    pool_derive(_F, d)
