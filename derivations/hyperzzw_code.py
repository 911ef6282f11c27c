"""HyperZ·Z·W, released-code form (hyperevolnet/Terminator, ``HyperZZW_G`` and ``HyperZZW_L`` with
``MAGNet_L``'s batch mean): the global branch is a per-channel H × H matrix product, not a convolution,
and the local kernel is averaged over the batch.

    y[b, c, i, j] = Σ_{t<H} Z[b, c, i, t]·W_g[c, i, t] · Z[b, c, t, j]                (torch.matmul(Z ⊙ W_g, Z))
                  + Σ_{u<k} Σ_{v<k} (1/B·Σ_{b'} Z̄[b', c, u, v])·W_l[c, u, v] · Z̃[b, c, i + u − R, j + v − R]
                  + β₀

The matrix product needs a square input (H = W = k·P). Its kernel couples output (i, j) with input
(t, j) through the entry (i, t) of Z ⊙ W_g: it depends on the absolute position, not on q − p, and
Ω(p) is p's column plus the local window. The batch mean makes sample b's kernel read every sample of
the batch: outside the Evolution family's K_b = F(x_b; θ) (the output of one sample changes when
another sample changes), which the properties report.
"""

import sympy as sp

from evosym import Definition, Operator, TensorDecl, index, size
from evosym.ir.neighbourhood import IndexSet

from . import _hyperkernel as HK
from . import hyperzzw as P

B, C, D, R = P.B, P.C, P.D, P.R
Pq = size("P")
K = 2 * R + 1
H = K * Pq
b, o, c, c2, i, j, u2, v2 = P.b, P.o, P.c, P.c2, P.i, P.j, P.u2, P.v2
m, n, m2, n2, a, e, t, u, v = P.m, P.n, P.m2, P.n2, P.a, P.e, index("t"), P.u, P.v
b2 = index("b_2")

z = TensorDecl("Z", (B, C, H, H), "input", "hidden activations Z (square: the matrix product needs H = W)")
y = TensorDecl("y", (B, C, H, H), "output", "global branch (matrix product) + local branch + β₀")
w_g = HK.hyper_kernel("Wg", P.GLOBAL, c, u, v, D, H, H, "global hyper-kernel: the slow net on an H × H coordinate grid",
                      r"W_g", "W_g", (C, H, H))
w_l = HK.hyper_kernel("Wl", P.LOCAL, c, u, v, D, K, K, "local hyper-kernel: the slow net on a k × k coordinate grid",
                      r"W_l", "W_l", (C, K, K))
z_bar = HK.pooled("Zbar", z, b, c, u, v, Pq, Pq, a, e, "context: Z pooled to k × k (adaptive_avg_pool2d, equal bins)",
                  (B, C, K, K))
ctx_g = Definition("Whg", (b, c, u, v), z[b, c, u, v] * w_g[c, u, v], "HyperZ·Z·W: Ŵ_g = Z ⊙ W_g, the left factor "
                   "of the matrix product", latex=r"\hat{W}_g", text="Ŵ_g", shape=(B, C, H, H))
ctx_l = Definition("Whl", (c, u, v), sp.Sum(z_bar[b2, c, u, v], (b2, 0, B - 1)) / B * w_l[c, u, v],
                   "the local kernel: the context averaged over the batch (MAGNet_L's x_gap.mean(0)) times W_l",
                   latex=r"\hat{W}_l", text="Ŵ_l", shape=(C, K, K))
z_pad = Definition("Z_pad", (b, c, m, n), P.InRange(m, 0, H - 1) * P.InRange(n, 0, H - 1) * z[b, c, m, n],
                   "zero-padded input", latex=r"\tilde{Z}", text="Z\u0303")


def torch_reference(t_, sizes):
    """The released computation in torch ops: torch.matmul(Z ⊙ W_g, Z) and the batch-averaged local branch."""
    import torch
    zz = t_["Z"]
    h = zz.shape[-1]
    glob = torch.matmul(zz * HK.hyper_kernel_torch(t_, "g", h, h)[None], zz)
    return glob + P.local_branch_torch(t_, sizes["R"], batch_mean=True) + t_["fast_bias"]


OPERATOR = Operator(
    name="hyperzzw_code",
    summary="HyperZ·Z·W as released: a per-channel matrix product (Z ⊙ W_g)·Z plus a depthwise k×k branch whose "
            "context kernel is averaged over the batch",
    output=y, lhs_indices=(b, o, i, j),
    traditional=P.fast_bias[0]
    + sp.Sum(ctx_g[b, o, i, t] * z[b, o, t, j], (t, 0, H - 1))
    + sp.Sum(ctx_l[o, u2, v2] * z_pad[b, o, i + u2 - R, j + v2 - R], (v2, 0, 2 * R), (u2, 0, 2 * R)),
    tensors=(z,) + P.TENSORS[1:], batch=b, out_channel=o, position=(i, j), value="Z",
    definitions=(w_g, w_l, z_pad, z_bar, ctx_g, ctx_l),
    sizes=((B, "batch size"), (C, "channels"), (D, "hidden width of the slow nets"),
           (R, "local kernel radius: k = 2R + 1 (R ≥ 1: the coordinates need two points)"),
           (Pq, "rows (and columns) per context bin: H = W = k·P")),
    grid=({B: 2, C: 1, D: 1, R: 1, Pq: 1},
          {B: 1, C: 2, D: 2, R: 1, Pq: 2}),
    reference=P._numpy_reference(torch_reference),
    reference_name="the released HyperZZW_G (torch.matmul) and HyperZZW_L with the batch-averaged context, in torch ops",
    torch_reference=torch_reference,
    bench={B: 2, C: 8, D: 8, R: 3, Pq: 2},   # generic-global materialises K over (p, q) × (o, c): 14×14 keeps it to MBs
    figure={B: 1, C: 1, D: 2, R: 1, Pq: 2},
    description="The released Terminator code computes the global HyperZ·Z·W branch as torch.matmul(Z ⊙ W_g, Z): "
                "for each channel an H × H matrix product in which Ŵ_g = Z ⊙ W_g mixes the rows of Z. As an "
                "Evolution form the kernel pairs output (i, j) with input (t, j) by Ŵ_g[i, t]: position-specific "
                "and not translation-equivariant, global along the column. The local branch averages its context "
                "over the batch, so sample b's kernel reads every sample.",
    citation=P.OPERATOR.citation,
    notes=("Trap 8 of the spec: the released global branch is a matrix product, not the paper's convolution; it "
           "needs H = W.",
           "The batch mean (MAGNet_L: x_gap.mean(axis=0)) couples the samples: the output of sample b changes with "
           "the other samples' inputs, and the kernel property says so.",
           "The released code multiplies Ŵ_g with projections of Z (mixer_x, x_hci, fast) as well; the right factor "
           "here is Z itself, as in the first HyperZZW_G.",
           "As in hyperzzw, the slow nets have one sinusoidal layer and H is a multiple of k."),
)


def derive(dv):
    dv.apply("unfold-definition", name="Z_pad")
    dv.apply("reindex-sum", var=t, new=m, expr_of_new=m)
    dv.apply("introduce-delta", targets=[(o, c, 0, C - 1), (j, n, 0, H - 1)], within=m)
    dv.apply("introduce-delta", targets=[(o, c2, 0, C - 1), (i + u2 - R, m2, 0, H - 1), (j + v2 - R, n2, 0, H - 1)],
             within=u2)
    dv.apply("exchange-sums", outer=[m], inner=[c])
    dv.apply("exchange-sums", outer=[u2, v2], inner=[c2, m2, n2])
    dv.apply("factor-out", factor=z[b, c2, m2, n2], over=[v2, u2])
    dv.apply("merge-sums", first=c, second=c2, common=z[b, c, m, n])
    dv.apply("name-kernel", name="K", channel=c, position=(m, n), indices=(b, o, c, i, j, m, n))
    column_or_window = sp.Or(sp.Eq(n, j), sp.And(i - R <= m, m <= i + R, j - R <= n, n <= j + R))
    dv.conclude(omega=IndexSet((i, j), (m, n), column_or_window, (H, H), bound=H + 2 * R * K),
                channel=c, neighbour=(m, n))
