"""HyperZ·Z·W, paper form (Zhang, arXiv 2401.17948, "Terminator"): a global branch that convolves Z
with the full-size context-dependent kernel Ŵ_g = Z ⊙ W_g, and a local depthwise k×k branch whose
kernel Ŵ_l = Z̄ ⊙ W_l is the local hyper-kernel times the context Z̄ pooled to k×k.

    y[b, c, i, j] = Σ_{u<H} Σ_{v<W} Z[b, c, u, v]·W_g[c, u, v] · Z̃[b, c, i + u − ⌊(H−1)/2⌋, j + v − ⌊(W−1)/2⌋]
                  + Σ_{u<k} Σ_{v<k} Z̄[b, c, u, v]·W_l[c, u, v] · Z̃[b, c, i + u − R, j + v − R]
                  + β₀

with Z̃ zero outside the input, k = 2R + 1, and ``padding='same'`` for the full-size kernel (PyTorch's:
⌊(H−1)/2⌋ zeros before, the rest after). The hyper-kernels W_g (C × H × W) and W_l (C × k × k) come
from slow nets over linspace coordinates (``_hyperkernel``): static. Z̄ is ``adaptive_avg_pool2d(Z, k)``;
its bins are equal when H and W are multiples of k, which this operator requires: H = k·P_h, W = k·P_w.
β₀ is the local branch's ``fast_bias``.

The kernel is dynamic in an unusual way: the global branch's tap at offset δ = q − p reads the input
at the absolute position δ + ⌊(H−1)/2⌋, the same for every output position, so the kernel is shared
across space although it depends on the input.
"""

import sympy as sp

from evosym import Definition, InRange, Operator, TensorDecl, Window, WindowAxis, index, size

from . import _hyperkernel as HK
from ._conv import _numpy_reference

B, C, D, R = size("B"), size("C"), size("D"), size("R")
Ph, Pw = size("P_h"), size("P_w")
K = 2 * R + 1
H, W_ = K * Ph, K * Pw
CH, CW = sp.floor((H - 1) / 2), sp.floor((W_ - 1) / 2)
b, o, c, c2, i, j, u, v = (index(t) for t in "b o c c_2 i j u v".split())
u2, v2, m, n, m2, n2, a, e = (index(t) for t in "u_2 v_2 m n m_2 n_2 a e".split())

z = TensorDecl("Z", (B, C, H, W_), "input", "hidden activations Z (the fast network's feature map)")
GLOBAL = HK.slow_net_tensors("g", C, D, "global")
LOCAL = HK.slow_net_tensors("l", C, D, "local")
fast_bias = TensorDecl("fast_bias", (1,), "parameter", "the local branch's scalar bias (HyperZZW_L.fast_bias)",
                       latex=r"\beta_0", text="β₀", torch_name="fast_bias")
y = TensorDecl("y", (B, C, H, W_), "output", "global branch + local branch + β₀")

w_g = HK.hyper_kernel("Wg", GLOBAL, c, u, v, D, H, W_, "global hyper-kernel: the slow net on an H × W coordinate grid",
                      r"W_g", "W_g", (C, H, W_))
w_l = HK.hyper_kernel("Wl", LOCAL, c, u, v, D, K, K, "local hyper-kernel: the slow net on a k × k coordinate grid",
                      r"W_l", "W_l", (C, K, K))
z_pad = Definition("Z_pad", (b, c, m, n), InRange(m, 0, H - 1) * InRange(n, 0, W_ - 1) * z[b, c, m, n],
                   "zero-padded input", latex=r"\tilde{Z}", text="Z\u0303")
z_bar = HK.pooled("Zbar", z, b, c, u, v, Ph, Pw, a, e, "context: Z pooled to k × k (adaptive_avg_pool2d, equal bins)",
                  (B, C, K, K))
ctx_g = Definition("Whg", (b, c, u, v), z[b, c, u, v] * w_g[c, u, v], "HyperZ·Z·W: the context-dependent global "
                   "kernel Ŵ_g = Z ⊙ W_g", latex=r"\hat{W}_g", text="Ŵ_g", shape=(B, C, H, W_))
ctx_l = Definition("Whl", (b, c, u, v), z_bar[b, c, u, v] * w_l[c, u, v], "the context-dependent local kernel "
                   "Ŵ_l = Z̄ ⊙ W_l", latex=r"\hat{W}_l", text="Ŵ_l", shape=(B, C, K, K))

DEFINITIONS = (w_g, w_l, z_pad, z_bar, ctx_g, ctx_l)
TENSORS = (z,) + GLOBAL + LOCAL + (fast_bias,)
SIZES = ((B, "batch size"), (C, "channels"), (D, "hidden width of the slow nets"),
         (R, "local kernel radius: k = 2R + 1 (R ≥ 1: the coordinates need two points)"),
         (Ph, "rows per context bin: H = k·P_h"), (Pw, "columns per context bin: W = k·P_w"))


def local_branch_torch(t, r, batch_mean=False):
    """HyperZZW_L: the depthwise k×k conv of Z with Ŵ_l = pool_k(Z) ⊙ W_l (batch-averaged when asked)."""
    import torch.nn.functional as Fn
    zz = t["Z"]
    kk = 2 * r + 1
    bsz, ch, h, w = zz.shape
    kern = Fn.adaptive_avg_pool2d(zz, kk) * HK.hyper_kernel_torch(t, "l", kk, kk)[None]
    if batch_mean:
        return Fn.conv2d(zz, kern.mean(0)[:, None], padding=r, groups=ch)
    out = Fn.conv2d(zz.reshape(1, bsz * ch, h, w), kern.reshape(bsz * ch, 1, kk, kk), padding=r, groups=bsz * ch)
    return out.view(bsz, ch, h, w)


def torch_reference(t, sizes):
    """The paper form in torch ops: conv2d(Z, Z ⊙ W_g, padding='same') per sample and channel, plus the local
    branch and β₀."""
    import warnings
    import torch.nn.functional as Fn
    zz = t["Z"]
    bsz, ch, h, w = zz.shape
    kern = zz * HK.hyper_kernel_torch(t, "g", h, w)[None]
    with warnings.catch_warnings():   # "padding='same' with even kernel lengths … may require a padded copy"
        warnings.simplefilter("ignore", UserWarning)
        glob = Fn.conv2d(zz.reshape(1, bsz * ch, h, w), kern.reshape(bsz * ch, 1, h, w), padding="same",
                         groups=bsz * ch)
    return glob.view(bsz, ch, h, w) + local_branch_torch(t, sizes["R"]) + t["fast_bias"]


OPERATOR = Operator(
    name="hyperzzw",
    summary="HyperZ·Z·W, paper form: Z convolved with the full-size kernel Z ⊙ W_g, plus a depthwise k×k branch "
            "with the context kernel Z̄ ⊙ W_l",
    output=y, lhs_indices=(b, o, i, j),
    traditional=fast_bias[0]
    + sp.Sum(ctx_g[b, o, u, v] * z_pad[b, o, i + u - CH, j + v - CW], (v, 0, W_ - 1), (u, 0, H - 1))
    + sp.Sum(ctx_l[b, o, u2, v2] * z_pad[b, o, i + u2 - R, j + v2 - R], (v2, 0, 2 * R), (u2, 0, 2 * R)),
    tensors=TENSORS, batch=b, out_channel=o, position=(i, j), value="Z",
    definitions=DEFINITIONS, sizes=SIZES,
    grid=({B: 1, C: 2, D: 1, R: 1, Ph: 1, Pw: 1},
          {B: 2, C: 1, D: 2, R: 1, Ph: 2, Pw: 1}),
    reference=_numpy_reference(torch_reference),
    reference_name="the paper form in torch ops (conv2d with padding='same' per sample, adaptive_avg_pool2d, "
                   "the slow nets on linspace grids)",
    torch_reference=torch_reference,
    bench={B: 2, C: 16, D: 16, R: 3, Ph: 4, Pw: 4},
    figure={B: 1, C: 1, D: 2, R: 1, Ph: 2, Pw: 2},
    description="HyperZ·Z·W connects a slow network (a coordinate-based implicit MLP producing hyper-kernels) "
                "with the fast network's activations Z by an elementwise product: Ŵ = Z ⊙ W is a context-dependent "
                "kernel, and Z is convolved with it. The global branch's kernel is as large as the input, the "
                "local branch's is k×k with the context pooled to k×k. As an Evolution form K is the sum of both "
                "kernels, depthwise; tap δ of the global kernel reads Z at δ + ⌊(H−1)/2⌋, not at p or q, so K is "
                "dynamic yet the same at every output position.",
    citation="Zhang, HyperZ·Z·W Operator Connects Slow-Fast Networks for Full Context Interaction, arXiv 2401.17948",
    notes=("The full-size kernel uses padding='same' (⌊(H−1)/2⌋ zeros before, the rest after): an output "
           "position sees the whole input only at the centre, so Ω is an H × W window, not every position.",
           "The slow nets have one sinusoidal layer (MAGNet with num_layers = 0); deeper ones keep W static.",
           "The local context is Z pooled to k×k multiplied into W_l: the HyperZ·Z·W product at the local "
           "kernel's size. The released MAGNet_L instead feeds the pooled context through a 1×1 reduction, a "
           "batch mean, a 1×1 conv and a GELU into the slow net's hidden layers; hyperzzw_code keeps the batch mean.",
           "H and W must be multiples of k so that adaptive_avg_pool2d's bins are equal (P_h × P_w each)."),
)


def derive(dv):
    dv.apply("unfold-definition", name="Z_pad")
    dv.apply("introduce-delta", targets=[(o, c, 0, C - 1), (i + u - CH, m, 0, H - 1), (j + v - CW, n, 0, W_ - 1)],
             within=u)
    dv.apply("introduce-delta", targets=[(o, c2, 0, C - 1), (i + u2 - R, m2, 0, H - 1), (j + v2 - R, n2, 0, W_ - 1)],
             within=u2)
    dv.apply("exchange-sums", outer=[u, v], inner=[c, m, n])
    dv.apply("exchange-sums", outer=[u2, v2], inner=[c2, m2, n2])
    dv.apply("factor-out", factor=z[b, c, m, n], over=[v, u])
    dv.apply("factor-out", factor=z[b, c2, m2, n2], over=[v2, u2])
    dv.apply("merge-sums", first=c, second=c2, common=z[b, c, m, n])
    dv.apply("name-kernel", name="K", channel=c, position=(m, n), indices=(b, o, c, i, j, m, n))
    dv.conclude(omega=Window((WindowAxis(H, 1, 1, CH, H), WindowAxis(W_, 1, 1, CW, W_))), channel=c, neighbour=(m, n))
