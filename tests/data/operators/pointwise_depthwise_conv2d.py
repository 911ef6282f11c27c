"""Pointwise then depthwise (look-alike: the factors in the other order): a 1×1 convolution mixing C channels into
O, then a depthwise K_h×K_w convolution over the O channels (stride 1, zero padding), no bias. Its kernel is
K̂[o, c, u, v] = W_dw[o, u, v]·W_pw[o, c]: the channel map first, then a window per output channel."""

import sympy as sp

from evosym import Definition, InRange, Operator, TensorDecl, Window, WindowAxis, index, size

# sizes (positive integers; the paddings may be 0) and indices, named as in the catalogue's conv2d
B, C, O = size("B"), size("C"), size("O")
H, W_ = size("H_in"), size("W_in")
K_h, K_w = size("K_h"), size("K_w")
P_h, P_w = size("P_h", zero=True), size("P_w", zero=True)
b, o, c, i, j, u, v, m, n = (index(t) for t in "b o c i j u v m n".split())
H_out = H + 2 * P_h - K_h + 1
W_out = W_ + 2 * P_w - K_w + 1

x = TensorDecl("x", (B, C, H, W_), "input", "input feature map")
W_dw = TensorDecl("W_dw", (O, K_h, K_w), "parameter", "depthwise weight: one K_h×K_w filter per output channel",
                  latex=r"W^{\mathrm{dw}}", text="W_dw")
W_pw = TensorDecl("W_pw", (O, C), "parameter", "pointwise (1×1) weight: mixes C channels into O",
                  latex=r"W^{\mathrm{pw}}", text="W_pw")
y = TensorDecl("y", (B, O, H_out, W_out), "output", "output feature map")

# the zero-padded input, written as the catalogue's convolutions write it: x inside, 0 outside
x_pad = Definition("x_pad", (b, c, m, n), InRange(m, 0, H - 1) * InRange(n, 0, W_ - 1) * x[b, c, m, n],
                   "zero-padded input: x inside the input, 0 outside", latex=r"\tilde{x}", text="x\u0303")


def _sizes(sizes):
    return {k: int(sizes[k]) for k in ("C", "O", "K_h", "K_w", "P_h", "P_w")}


def torch_reference(t, sizes):
    """Two torch.nn.functional.conv2d calls (independent of the SymPy form): 1×1, then depthwise."""
    import torch.nn.functional as F
    s = _sizes(sizes)
    pointwise = F.conv2d(t["x"], t["W_pw"].reshape(s["O"], s["C"], 1, 1), None)
    return F.conv2d(pointwise, t["W_dw"].reshape(s["O"], 1, s["K_h"], s["K_w"]), None,
                    stride=1, padding=(s["P_h"], s["P_w"]), dilation=1, groups=s["O"])


def reference(arrays, sizes):
    """The torch reference on numpy arrays, in float64."""
    import torch
    return torch_reference({k: torch.from_numpy(a).to(torch.float64) for k, a in arrays.items()}, sizes).numpy()


OPERATOR = Operator(
    name="pointwise_depthwise_conv2d",
    summary="a pointwise 1×1 convolution (C → O) then a depthwise K_h×K_w convolution over O channels, no bias",
    description="The depthwise-separable factors in the other order: the kernel is W_dw[o, u, v]·W_pw[o, c].",
    output=y,
    lhs_indices=(b, o, i, j),
    traditional=sp.Sum(W_dw[o, u, v] * sp.Sum(W_pw[o, c] * x_pad[b, c, i + u - P_h, j + v - P_w], (c, 0, C - 1)),
                       (v, 0, K_w - 1), (u, 0, K_h - 1)),
    tensors=(x, W_dw, W_pw),
    batch=b, out_channel=o, position=(i, j), value="x",
    definitions=(x_pad,),
    sizes=((B, "batch size"), (C, "input channels"), (O, "output channels (of the pointwise and the depthwise)"),
           (H, "input height"), (W_, "input width"), (K_h, "depthwise kernel height"), (K_w, "depthwise kernel width"),
           (P_h, "zero padding along h"), (P_w, "zero padding along w")),
    grid=({B: 1, C: 2, O: 3, H: 5, W_: 4, K_h: 3, K_w: 3, P_h: 1, P_w: 1},
          {B: 2, C: 3, O: 2, H: 4, W_: 4, K_h: 2, K_w: 3, P_h: 0, P_w: 2},
          {B: 1, C: 1, O: 2, H: 6, W_: 5, K_h: 3, K_w: 1, P_h: 2, P_w: 0}),
    reference=reference,
    reference_name="torch.nn.functional.conv2d twice (1×1, then depthwise groups=O)",
    torch_reference=torch_reference,
    bench={B: 8, C: 128, O: 64, H: 56, W_: 56, K_h: 3, K_w: 3, P_h: 1, P_w: 1},
)


def derive(d):
    d.auto()
