"""avg_pool1d(count_include_pad=False)'s kernel and output length, but declared for any padding P ≤ K − 1 (PyTorch's
avg_pool refuses P > K/2): the native call would refuse sizes the module accepts, so it keeps its generic lowering
(tests/test_native_pool_counts.py)."""

import sympy as sp

from evosym import Definition, InRange, Operator, TensorDecl, Window, WindowAxis, index, size

B, C, L = size("B"), size("C"), size("L")
K, s = size("K"), size("s")
P = size("P", zero=True)
b, c, o, i, u, m = (index(t) for t in "b c o i u m".split())
t_ = index("u'")
L_out = sp.floor((L + 2 * P - K) / s) + 1
COUNT = sp.Sum(InRange(s * i + t_ - P, 0, L - 1), (t_, 0, K - 1))

x = TensorDecl("x", (B, C, L), "input", "input sequence")
y = TensorDecl("y", (B, C, L_out), "output", "window averages")
x_pad = Definition("x_pad", (b, c, m), InRange(m, 0, L - 1) * x[b, c, m], "zero-padded input", text="x\u0303")


def _numbers(sizes):
    return tuple(int(sizes[n]) for n in ("L", "K", "s", "P"))


def torch_reference(t, sizes):
    """The definition read literally: one loop over the output positions (small sizes only)."""
    import torch
    xv = t["x"]
    n, k, st, p = _numbers(sizes)
    length = (n + 2 * p - k) // st + 1
    out = []
    for ii in range(length):
        taps = [st * ii + uu - p for uu in range(k)]
        inside = [q for q in taps if 0 <= q < n]
        count = sum(1 for q in taps if 0 <= q <= n - 1)
        total = sum((xv[..., q] for q in inside), torch.zeros_like(xv[..., 0]))
        out.append(total / count)
    return torch.stack(out, dim=-1)


def reference(arrays, sizes):
    import torch
    return torch_reference({k_: torch.from_numpy(a).to(torch.float64) for k_, a in arrays.items()}, sizes).numpy()


OPERATOR = Operator(
    name="pool_exclude_wide_pad1d", summary="averages over the taps inside the input, padding up to K - 1",
    description="look-alike of torch.nn.functional.avg_pool1d for the native-pool recognition (tests/test_native_pool_counts.py)",
    output=y, lhs_indices=(b, o, i),
    traditional=sp.Sum(x_pad[b, o, s * i + u - P], (u, 0, K - 1)) / COUNT,
    tensors=(x,), batch=b, out_channel=o, position=(i,), value="x", definitions=(x_pad,),
    sizes=((B, "batch size"), (C, "channels"), (L, "length"), (K, "window"), (s, "stride"), (P, "zero padding")),
    grid=({B: 1, C: 2, L: 7, K: 3, s: 2, P: 2}, {B: 2, C: 1, L: 6, K: 4, s: 3, P: 3}, {B: 1, C: 2, L: 5, K: 2, s: 1, P: 0}),
    constraints=(sp.Le(P, K - 1), sp.Le(K, L)),
    reference=reference, reference_name="the definition, one loop over the output positions", torch_reference=torch_reference,
    bench={B: 2, C: 4, L: 64, K: 3, s: 2, P: 1},
)


def derive(d):
    d.apply("unfold-definition", name="x_pad")
    d.apply("move-into-sum", factor=1 / COUNT, into=u)
    d.apply("introduce-delta", targets=[(o, c, 0, C - 1), (s * i + u - P, m, 0, L - 1)], within=u)
    d.apply("exchange-sums", outer=[u], inner=[c, m])
    d.apply("factor-out", factor=x[b, c, m], over=[u])
    d.apply("name-kernel", name="K", channel=c, position=(m,), indices=(o, c, i, m))
    d.conclude(omega=Window((WindowAxis(K, s, 1, P, L),)), channel=c, neighbour=(m,))
