"""Squeeze-and-excitation gating (Hu et al., CVPR 2018; torchvision ``SqueezeExcitation``).

    y[b, o, i, j] = σ(z[b, o]) · x[b, o, i, j]

with the gate computed per sample and channel from the global average pool by an explicit network
(no opaque function, so that code generation can use it):

    x̄[b, c] = 1/(H·W) · Σ_a Σ_e x[b, c, a, e]                 (AdaptiveAvgPool2d(1))
    h[b, d] = max(0, Σ_c W₁[d, c] · x̄[b, c] + b₁[d])           (fc1: 1×1 conv C → D with bias, ReLU)
    z[b, c] = Σ_d W₂[c, d] · h[b, d] + b₂[c]                    (fc2: 1×1 conv D → C with bias)
    σ(z)    = 1 / (1 + e^(−z))                                  (sigmoid)

As an Evolution form it is the degenerate case of everything in the catalogue: a pointwise window
(|Ω| = 1), a dynamic kernel from the global pool, shared across space, depthwise.
"""

import sympy as sp

from evosym import Definition, Operator, TensorDecl, Window, WindowAxis, index, size

from ._conv import _numpy_reference

B, C, D, H, W_ = size("B"), size("C"), size("D"), size("H"), size("W")
b, o, c, i, j, m, n = (index(t) for t in "b o c i j m n".split())
d, c2, a, e = index("d"), index("c_2"), index("a"), index("e")

x = TensorDecl("x", (B, C, H, W_), "input", "input feature map")
W1 = TensorDecl("W1", (D, C), "parameter", "fc1: squeeze 1×1 conv weight", latex="W_1", text="W\u2081",
                torch_name="fc1_weight")
b1 = TensorDecl("b1", (D,), "parameter", "fc1: squeeze 1×1 conv bias", latex="b_1", text="b\u2081", torch_name="fc1_bias")
W2 = TensorDecl("W2", (C, D), "parameter", "fc2: excitation 1×1 conv weight", latex="W_2", text="W\u2082",
                torch_name="fc2_weight")
b2 = TensorDecl("b2", (C,), "parameter", "fc2: excitation 1×1 conv bias", latex="b_2", text="b\u2082", torch_name="fc2_bias")
y = TensorDecl("y", (B, C, H, W_), "output", "output feature map")

x_gap = Definition("x_gap", (b, c), sp.Sum(x[b, c, a, e], (e, 0, W_ - 1), (a, 0, H - 1)) / (H * W_),
                   "global average pool of the input", latex=r"\bar{x}", text="x\u0304", shape=(B, C))
hidden = Definition("h", (b, d), sp.Max(0, sp.Sum(W1[d, c2] * x_gap[b, c2], (c2, 0, C - 1)) + b1[d]),
                    "squeeze: fc1 and ReLU", shape=(B, D))
gate = Definition("s", (b, c), 1 / (1 + sp.exp(-(sp.Sum(W2[c, d] * hidden[b, d], (d, 0, D - 1)) + b2[c]))),
                  "excitation: fc2 and sigmoid, one gate per sample and channel", latex="s", shape=(B, C))


def torch_reference(t, sizes):
    """torchvision's SqueezeExcitation forward (ReLU, sigmoid) in torch ops."""
    import torch
    import torch.nn.functional as F
    x_ = t["x"]
    scale = F.adaptive_avg_pool2d(x_, 1)
    scale = torch.relu(F.conv2d(scale, t["W1"][:, :, None, None], t["b1"]))
    scale = torch.sigmoid(F.conv2d(scale, t["W2"][:, :, None, None], t["b2"]))
    return scale * x_


reference = _numpy_reference(torch_reference)


OPERATOR = Operator(
    name="squeeze_excitation",
    summary="squeeze-and-excitation: a per-sample, per-channel sigmoid gate from the global average pool",
    output=y, lhs_indices=(b, o, i, j), traditional=gate[b, o] * x[b, o, i, j],
    tensors=(x, W1, b1, W2, b2), batch=b, out_channel=o, position=(i, j),
    definitions=(x_gap, hidden, gate),
    sizes=((B, "batch size"), (C, "channels"), (D, "squeeze channels (torchvision: squeeze_channels; C/16 in the paper)"),
           (H, "height"), (W_, "width")),
    grid=({B: 1, C: 2, D: 1, H: 3, W_: 2}, {B: 2, C: 3, D: 2, H: 2, W_: 3}, {B: 3, C: 1, D: 2, H: 1, W_: 4}),
    reference=reference, reference_name="torchvision SqueezeExcitation (ReLU, sigmoid) in torch ops",
    torch_reference=torch_reference,
    bench={B: 8, C: 64, D: 16, H: 56, W_: 56},
    figure={B: 1, C: 3, D: 2, H: 5, W_: 5},
    description="Squeeze-and-excitation rescales each channel of each sample by a gate in (0, 1) computed from "
                "the global average pool (fc1, ReLU, fc2, sigmoid). In Evolution form the neighbourhood is the "
                "position itself and the kernel is the gate on the channel diagonal: dynamic, shared across "
                "space, depthwise.",
    citation="Hu et al., Squeeze-and-Excitation Networks, CVPR 2018",
    notes=("torchvision's SqueezeExcitation: fc1 and fc2 are 1×1 convolutions with bias, the activations are "
           "ReLU and sigmoid.",),
)


def derive(dv):
    dv.apply("introduce-delta", targets=[(o, c, 0, C - 1), (i, m, 0, H - 1), (j, n, 0, W_ - 1)])
    dv.apply("name-kernel", name="K", channel=c, position=(m, n), indices=(b, o, c, i, j, m, n))
    dv.conclude(omega=Window((WindowAxis(1, 1, 1, 0, H), WindowAxis(1, 1, 1, 0, W_))), channel=c, neighbour=(m, n))
