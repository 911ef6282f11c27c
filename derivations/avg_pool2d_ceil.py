"""2-D average pooling with ``ceil_mode=True`` (``torch.nn.functional.avg_pool2d``, ``count_include_pad=True``).

    y[b, o, i, j] = 1/(D_h(i)·D_w(j)) · Σ_u Σ_v x̃[b, o, s_h·i + u − P_h, s_w·j + v − P_w]
    D_h(i) = min(K_h, H_in + 2·P_h − s_h·i)    (the window clipped to the padded extent [−P_h, H_in + P_h))

The output length rounds up, ⌈(L + 2P − K)/s⌉ + 1, less one when that last window would start at or
past L + P (PyTorch's rule: it must start inside the input or the left padding), written here as
⌊min(L + 2P − K + s − 1, L + P − 1)/s⌋ + 1, which equals it when 2P ≤ K (PyTorch's own limit, a
declared constraint). A last window that runs past the right padding is divided by the part of it
inside the padded extent, not by K_h·K_w: the kernel is position-specific there.
"""

from ._pool import PoolFamily, pool_derive, pool_operator

_F = PoolFamily(2, "ceil")

OPERATOR = pool_operator(
    _F, name="avg_pool2d_ceil",
    summary="2-D average pooling with ceil_mode=True (count_include_pad=True): the last window may be partial",
    description="PyTorch's avg_pool2d with ceil_mode=True: the output rounds up (the last window must still start "
                "inside the input or the left padding); a window that runs past the right padding averages over "
                "its part inside the padded input, zeros of the padding included.",
    citation="PyTorch torch.nn.functional.avg_pool2d (ceil_mode=True, count_include_pad=True)",
    grid=[_F.config(C=2, L=(6, 5), K=(3, 2), s=(2, 2), P=(1, 1)),
          _F.config(B=2, L=(4, 7), K=(2, 3), s=(3, 2), P=(0, 1)),
          _F.config(L=(5, 3), K=(3, 1), s=(3, 1), P=(1, 0))],
    bench=_F.config(B=8, C=64, L=(56, 56), K=3, s=2, P=0),
    figure=_F.config(C=1, L=(5, 5), K=2, s=2),
)


def derive(d):
    pool_derive(_F, d)
