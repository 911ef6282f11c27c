"""The kernel generator that involution and dynamic depth-wise convolution share.

Both official codes compute their kernels with 1×1 conv (C → D, no bias) → BatchNorm (eval) →
ReLU → 1×1 conv (D → kernel values, with bias) on a pooled input; only the pooling (s×s per pixel,
or global) and the number of kernel values differ. The parameters and the torch computation are
declared here once; each operator writes its own symbolic definitions (their index sets differ).
"""

from evosym import TensorDecl


def generator_tensors(C, D, values, what: str):
    """W₁, γ, β, W₂, b₂ for a generator from C channels through D hidden ones to ``values`` kernel values."""
    W1 = TensorDecl("W1", (D, C), "parameter", "kernel generator: reduction 1×1 conv weight (no bias)",
                    latex="W_1", text="W\u2081", torch_name="reduce_weight")
    gamma = TensorDecl("gamma", (D,), "parameter", "kernel generator: BatchNorm scale weight/√(var+ε) (eval mode)",
                       latex=r"\gamma", text="\u03b3", torch_name="bn_scale")
    beta = TensorDecl("beta", (D,), "parameter", "kernel generator: BatchNorm shift bias − mean·scale (eval mode)",
                      latex=r"\beta", text="\u03b2", torch_name="bn_shift")
    W2 = TensorDecl("W2", (values, D), "parameter", f"kernel generator: {what} weight",
                    latex="W_2", text="W\u2082", torch_name="span_weight")
    b2 = TensorDecl("b2", (values,), "parameter", f"kernel generator: {what} bias",
                    latex="b_2", text="b\u2082", torch_name="span_bias")
    return W1, gamma, beta, W2, b2


def generator_torch(pooled, t):
    """The official generator on a pooled input (B, C, h, w) → kernel values (B, values, h, w), eval mode
    (the first 1×1 conv has a bias when ``t`` holds one, "b1": I-D-DW's)."""
    import torch
    import torch.nn.functional as F
    hid = F.conv2d(pooled, t["W1"][:, :, None, None], t.get("b1"))
    hid = torch.relu(hid * t["gamma"][None, :, None, None] + t["beta"][None, :, None, None])
    return F.conv2d(hid, t["W2"][:, :, None, None], t["b2"])
