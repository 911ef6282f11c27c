"""A depthwise-separable 2-D convolution (MobileNet's block without BN and ReLU), as a user's operator file.

A depthwise K_h×K_w convolution (one filter per channel, stride 1, zero padding P_h, P_w, no bias)
followed by a pointwise 1×1 convolution mixing the C channels into O (no bias):

    y[b, o, i, j] = Σ_{c<C} W_pw[o, c] · Σ_{u<K_h} Σ_{v<K_w} W_dw[c, u, v] · x̃[b, c, i + u − P_h, j + v − P_w]

with x̃ the zero-padded input. The two convolutions compose into one Evolution form whose kernel is the
product of their weights, K̂[o, c, u, v] = W_pw[o, c]·W_dw[c, u, v], over the stride-1 window
Ω(i, j) = {i + u − P_h} × {j + v − P_w} clipped to the input.

Prove it with ``evosym prove docs/examples/depthwise_separable_conv2d.py``; ``evosym check`` compares the
generated code with two ``F.conv2d`` calls.
"""

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
W_dw = TensorDecl("W_dw", (C, K_h, K_w), "parameter", "depthwise weight: one K_h×K_w filter per channel",
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
    """Two torch.nn.functional.conv2d calls (independent of the SymPy form): depthwise, then 1×1."""
    import torch.nn.functional as F
    s = _sizes(sizes)
    depthwise = F.conv2d(t["x"], t["W_dw"].reshape(s["C"], 1, s["K_h"], s["K_w"]), None,
                         stride=1, padding=(s["P_h"], s["P_w"]), dilation=1, groups=s["C"])
    return F.conv2d(depthwise, t["W_pw"].reshape(s["O"], s["C"], 1, 1), None)


def reference(arrays, sizes):
    """The torch reference on numpy arrays, in float64."""
    import torch
    return torch_reference({k: torch.from_numpy(a).to(torch.float64) for k, a in arrays.items()}, sizes).numpy()


def _conv_requires(k, want):
    return [(f"isinstance(m[{k}], torch.nn.Conv2d)", f"m[{k}] is a torch.nn.Conv2d"),
            (f"m[{k}].padding_mode == 'zeros'", f"m[{k}] pads with zeros"),
            (f"m[{k}].padding != 'same'", f"m[{k}] gives its padding as numbers, not 'same'"),
            (f"tuple(m[{k}].stride) == (1, 1) and tuple(m[{k}].dilation) == (1, 1)",
             f"m[{k}] has stride 1 and dilation 1"),
            (f"m[{k}].bias is None", f"m[{k}] has no bias (bias=False)")] + want


# from_torch: a torch.nn.Sequential(Conv2d(C, C, K, padding=P, groups=C, bias=False), Conv2d(C, O, 1, bias=False))
torch_binding = {
    "module": "torch.nn.Sequential",
    "requires": [("len(m) == 2", "the Sequential holds two layers, the depthwise and the pointwise convolution")]
    + _conv_requires(0, [("m[0].groups == m[0].in_channels == m[0].out_channels",
                          "m[0] is depthwise with one filter per channel (groups = in_channels = out_channels)")])
    + _conv_requires(1, [("tuple(m[1].kernel_size) == (1, 1) and m[1].groups == 1",
                          "m[1] is a 1×1 convolution, groups=1"),
                         ("m[1].padding == 'valid' or tuple(m[1].padding) == (0, 0)", "m[1] has no padding"),
                         ("m[1].in_channels == m[0].out_channels", "m[1] reads m[0]'s channels")]),
    "sizes": {"C": "m[0].in_channels", "O": "m[1].out_channels",
              "K_h": "m[0].kernel_size[0]", "K_w": "m[0].kernel_size[1]",
              "P_h": "(0 if m[0].padding == 'valid' else m[0].padding[0])",
              "P_w": "(0 if m[0].padding == 'valid' else m[0].padding[1])"},
    "tensors": {"W_dw": "m[0].weight[:, 0]", "W_pw": "m[1].weight[:, :, 0, 0]"},
}


OPERATOR = Operator(
    name="depthwise_separable_conv2d",
    summary="depthwise K_h×K_w convolution (stride 1, zero padding) then a pointwise 1×1 convolution, no bias",
    description="MobileNet's depthwise-separable block without BatchNorm and ReLU: each channel is filtered by "
                "its own K_h×K_w kernel, then a 1×1 convolution mixes the C channels into O. Proved as one "
                "Evolution form whose kernel is the product of the two weights.",
    output=y,
    lhs_indices=(b, o, i, j),
    traditional=sp.Sum(W_pw[o, c] * sp.Sum(W_dw[c, u, v] * x_pad[b, c, i + u - P_h, j + v - P_w],
                                           (v, 0, K_w - 1), (u, 0, K_h - 1)),
                       (c, 0, C - 1)),
    tensors=(x, W_dw, W_pw),
    batch=b, out_channel=o, position=(i, j), value="x",
    definitions=(x_pad,),
    sizes=((B, "batch size"), (C, "channels (of the input and of the depthwise output)"), (O, "output channels"),
           (H, "input height"), (W_, "input width"), (K_h, "depthwise kernel height"), (K_w, "depthwise kernel width"),
           (P_h, "zero padding along h"), (P_w, "zero padding along w")),
    grid=({B: 1, C: 2, O: 3, H: 5, W_: 4, K_h: 3, K_w: 3, P_h: 1, P_w: 1},
          {B: 2, C: 3, O: 2, H: 4, W_: 4, K_h: 2, K_w: 3, P_h: 0, P_w: 2},
          {B: 1, C: 1, O: 2, H: 6, W_: 5, K_h: 3, K_w: 1, P_h: 2, P_w: 0}),
    reference=reference,
    reference_name="torch.nn.functional.conv2d twice (depthwise groups=C, then 1×1)",
    torch_reference=torch_reference,
    torch_binding=torch_binding,
    bench={B: 8, C: 64, O: 128, H: 56, W_: 56, K_h: 3, K_w: 3, P_h: 1, P_w: 1},
    figure={B: 1, C: 3, O: 2, H: 6, W_: 6, K_h: 3, K_w: 3, P_h: 1, P_w: 1},
    citation="Howard et al., MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications, 2017",
)


def derive(d):
    # x̃ is x under the guards [0 ≤ m ≤ H_in − 1]·[0 ≤ n ≤ W_in − 1]
    d.apply("unfold-definition", name="x_pad")
    # the pointwise weight W_pw[o, c] does not depend on u, v: it goes into the depthwise sums (one nest c, u, v)
    d.apply("move-into-sum", factor=W_pw[o, c], into=u)
    # the input positions i + u − P_h and j + v − P_w become sums over m and n, pinned by deltas (the guards
    # are absorbed into their ranges)
    d.apply("introduce-delta", targets=[(i + u - P_h, m, 0, H - 1), (j + v - P_w, n, 0, W_ - 1)], within=u)
    # channel c and positions m, n outermost
    d.apply("exchange-sums", outer=[u, v], inner=[m, n])
    # x[b, c, m, n] does not depend on the offsets: take it out of their sums
    d.apply("factor-out", factor=x[b, c, m, n], over=[v, u])
    # everything left of x[b, c, m, n] is the Evolution kernel: Σ_{u,v} W_pw·W_dw·δ(m, i+u−P_h)·δ(n, j+v−P_w)
    d.apply("name-kernel", name="K", channel=c, position=(m, n), indices=(o, c, i, j, m, n))
    d.conclude(omega=Window((WindowAxis(K_h, 1, 1, P_h, H), WindowAxis(K_w, 1, 1, P_w, W_))),
               channel=c, neighbour=(m, n))
