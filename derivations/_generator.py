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


def generator_binding(values: str, sizes: dict, *, arguments=(), reduce_bias: bool = False, extra=(),
                      tensors=None) -> dict:
    """How a generator written as ``nn.Sequential(Conv2d(C, D, 1), BatchNorm2d(D), ReLU(), Conv2d(D, values, 1))``
    (the official ConvModule layout) maps onto W₁, γ, β, (b₁), W₂, b₂, for ``from_torch``.

    BatchNorm must be in eval mode: it is then the fixed affine map the operator folds into (γ, β). A bias on
    the first conv is kept as b₁ where the operator has one (``reduce_bias``), else folded into β
    (γ·(W₁x + b₁) + β = γ·W₁x + (β + γ·b₁)). ``values`` is the expected output channels of the last conv
    (a Python expression over the sizes and ``arguments``); ``sizes`` the operator's sizes as expressions.
    ``arguments`` are from_torch's keyword arguments: a bare name is a size the Sequential does not carry (an
    integer ≥ 1, checked first), ``name=default`` an optional one that ``extra`` checks and ``tensors`` maps."""
    conv = "type(m[{k}]) is torch.nn.Conv2d and m[{k}].kernel_size == (1, 1) and m[{k}].stride == (1, 1) " \
           "and m[{k}].groups == 1 and m[{k}].dilation == (1, 1) and (m[{k}].padding in ((0, 0), 'valid'))"
    sized = [a for a in arguments if "=" not in a]
    requires = [(f"isinstance({a}, int) and not isinstance({a}, bool) and {a} >= 1", f"{a} is an integer ≥ 1")
                for a in sized]
    requires += [
        ("len(m) == 4", "the generator is nn.Sequential(Conv2d(C, D, 1), BatchNorm2d(D), ReLU(), Conv2d(D, "
                        f"{values}, 1)): four modules"),
        (conv.format(k=0), "its first module is a 1×1 Conv2d (stride 1, no groups, no padding; not a subclass, "
                          "whose forward may differ: a weight-standardised conv)"),
        ("type(m[1]) is torch.nn.BatchNorm2d and m[1].running_mean is not None",
         "its second module is a BatchNorm2d (not a subclass: its forward may differ) that tracks running statistics"),
        ("not m[1].training", "the BatchNorm2d is in eval mode (call .eval()): in training mode it normalises with "
                              "batch statistics, not the fixed per-channel affine map the operator folds it into"),
        ("type(m[2]) is torch.nn.ReLU", "its third module is a ReLU"),
        (conv.format(k=3) + " and m[3].bias is not None", "its last module is a 1×1 Conv2d with a bias"),
        ("m[3].in_channels == m[0].out_channels == m[1].num_features", "the hidden widths agree (D)"),
        (f"m[3].out_channels == {values}", f"the last conv gives the operator's {values} kernel values"),
        *(extra or ()),
    ]
    scale = "(m[1].weight if m[1].affine else 1) / torch.sqrt(m[1].running_var + m[1].eps)"
    shift = "(m[1].bias if m[1].affine else 0) - m[1].running_mean * " + scale
    if not reduce_bias:
        shift = f"{shift} + ({scale}) * (0 if m[0].bias is None else m[0].bias)"
    mapped = {"W1": "m[0].weight[:, :, 0, 0]", "gamma": scale, "beta": shift,
              "W2": "m[3].weight[:, :, 0, 0]", "b2": "m[3].bias"}
    if reduce_bias:
        mapped["b1"] = "m[0].bias"
    return {"module": "torch.nn.Sequential", "arguments": list(arguments), "requires": requires,
            "sizes": sizes, "tensors": {**mapped, **(tensors or {})}}
