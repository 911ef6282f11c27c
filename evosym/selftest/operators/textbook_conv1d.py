"""Textbook (flipped-kernel) 1-D convolution, as in signal processing: trap 1 of the spec made explicit.

    y[b, o, i] = Σ_c Σ_{u=0}^{K-1} W[o, c, u] · x̃[b, c, i + P − u]

Deep-learning "convolution" is a cross-correlation (the kernel is not flipped). This operator
reaches the same Evolution form, with a window whose origin is shifted by K − 1 − P, once the
sum over u is reindexed by the reflection u = K − 1 − v.
"""

import numpy as np
import sympy as sp

from evosym import Definition, InRange, Operator, TensorDecl, Window, WindowAxis, index, size

B, C, O, L, K = (size(n) for n in ("B", "C", "O", "L", "K"))
P = size("P", zero=True)
b, o, i, c, u, v, m = (index(n) for n in ("b", "o", "i", "c", "u", "v", "m"))

x = TensorDecl("x", (B, C, L), "input", "input signal")
W = TensorDecl("W", (O, C, K), "parameter", "filters")
y = TensorDecl("y", (B, O, L + 2 * P - K + 1), "output", "filtered signal")
x_pad = Definition("x_pad", (b, c, m), InRange(m, 0, L - 1) * x[b, c, m], "zero-padded input",
                   latex=r"\tilde{x}", text="x\u0303")


def reference(arrays, sizes):
    """numpy.convolve (a true convolution) per channel pair, then the padded output range."""
    xs, ws = arrays["x"], arrays["W"]
    pad, out_len = sizes["P"], sizes["L"] + 2 * sizes["P"] - sizes["K"] + 1
    out = np.zeros((xs.shape[0], ws.shape[0], out_len), dtype=np.result_type(xs, ws))
    for bb in range(xs.shape[0]):
        for oo in range(ws.shape[0]):
            full = sum(np.convolve(xs[bb, cc], ws[oo, cc]) for cc in range(xs.shape[1]))  # index t = i + P
            full = np.concatenate([full, np.zeros(pad + out_len, dtype=out.dtype)])  # zeros past the end
            out[bb, oo] = full[pad:pad + out_len]
    return out


OPERATOR = Operator(
    name="textbook_conv1d",
    summary="1-D convolution with a flipped kernel (signal processing), zero padding P",
    output=y, lhs_indices=(b, o, i),
    traditional=sp.Sum(W[o, c, u] * x_pad[b, c, i + P - u], (u, 0, K - 1), (c, 0, C - 1)),
    tensors=(x, W), batch=b, out_channel=o, position=(i,), definitions=(x_pad,),
    sizes=((B, "batch size"), (C, "input channels"), (O, "output channels"), (L, "input length"),
           (K, "kernel size"), (P, "zero padding")),
    grid=({B: 1, C: 2, O: 1, L: 5, K: 3, P: 1}, {B: 2, C: 1, O: 2, L: 4, K: 2, P: 0},
          {B: 1, C: 1, O: 2, L: 3, K: 3, P: 3}),
    reference=reference, reference_name="numpy.convolve",
)


def derive(d):
    d.apply("unfold-definition", name="x_pad")
    # the reflection u = K − 1 − v turns the flipped kernel into a cross-correlation
    d.apply("reindex-sum", var=u, new=v, expr_of_new=K - 1 - v)
    d.apply("introduce-delta", targets=[(i + P - K + 1 + v, m, 0, L - 1)], within=v)
    d.apply("exchange-sums", outer=[v], inner=[m])
    d.apply("factor-out", factor=x[b, c, m], over=[v])
    d.apply("name-kernel", name="K_conv", channel=c, position=(m,), indices=(o, c, i, m))
    d.conclude(omega=Window((WindowAxis(K, 1, 1, K - 1 - P, L),)), channel=c, neighbour=(m,))
