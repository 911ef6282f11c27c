"""Locally connected 1-D layer: a convolution whose filter differs at every output position.

    y[b, o, i] = Σ_c Σ_u W[o, c, i, u] · x̃[b, c, i + u − P]

Its kernel is static but position-specific (not shared across space).
"""

import sympy as sp

from evosym import Definition, InRange, Operator, TensorDecl, Window, WindowAxis, index, size

B, C, O, L, K = (size(n) for n in ("B", "C", "O", "L", "K"))
P = size("P", zero=True)
b, o, i, c, u, m = (index(n) for n in ("b", "o", "i", "c", "u", "m"))
L_out = L + 2 * P - K + 1

x = TensorDecl("x", (B, C, L), "input", "input signal")
W = TensorDecl("W", (O, C, L_out, K), "parameter", "one filter per output position", torch_name="weight")
y = TensorDecl("y", (B, O, L_out), "output", "output signal")
x_pad = Definition("x_pad", (b, c, m), InRange(m, 0, L - 1) * x[b, c, m], "zero-padded input",
                   latex=r"\tilde{x}", text="x\u0303")


def torch_reference(t, sizes):
    """Direct: pad, cut windows, contract with the per-position filters."""
    import torch
    import torch.nn.functional as F
    windows = F.pad(t["x"], (sizes["P"], sizes["P"])).unfold(2, sizes["K"], 1)   # b, c, i, u
    return torch.einsum("ociu,bciu->boi", t["W"], windows)


def reference(arrays, sizes):
    import torch
    return torch_reference({k: torch.from_numpy(v).double() for k, v in arrays.items()}, sizes).numpy()


OPERATOR = Operator(
    name="locally_connected1d", summary="locally connected 1-D layer (a filter per output position)",
    output=y, lhs_indices=(b, o, i),
    traditional=sp.Sum(W[o, c, i, u] * x_pad[b, c, i + u - P], (u, 0, K - 1), (c, 0, C - 1)),
    tensors=(x, W), batch=b, out_channel=o, position=(i,), definitions=(x_pad,),
    sizes=((B, "batch size"), (C, "input channels"), (O, "output channels"), (L, "input length"),
           (K, "kernel size"), (P, "zero padding")),
    grid=({B: 1, C: 2, O: 2, L: 5, K: 3, P: 1}, {B: 2, C: 1, O: 3, L: 4, K: 2, P: 0}),
    reference=reference, reference_name="pad + unfold + einsum", torch_reference=torch_reference,
)


def derive(d):
    d.apply("unfold-definition", name="x_pad")
    d.apply("introduce-delta", targets=[(i + u - P, m, 0, L - 1)], within=c)
    d.apply("exchange-sums", outer=[u], inner=[m])
    d.apply("factor-out", factor=x[b, c, m], over=[u])
    d.apply("name-kernel", name="K_lc", channel=c, position=(m,), indices=(o, c, i, m))
    d.conclude(omega=Window((WindowAxis(K, 1, 1, P, L),)), channel=c, neighbour=(m,))
