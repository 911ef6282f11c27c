"""2-D average pooling (``torch.nn.functional.avg_pool2d``, ``count_include_pad=True``): window, stride, zero padding.

    y[b, o, i, j] = 1/(K_h·K_w) · Σ_u Σ_v x̃[b, o, s_h·i + u − P_h, s_w·j + v − P_w]

A static, uniform, channel-diagonal kernel: a depthwise convolution with every weight 1/(K_h·K_w).
"""

import sympy as sp

from evosym import Definition, InRange, Operator, TensorDecl, Window, WindowAxis, index, size

B, C, H, W_ = size("B"), size("C"), size("H_in"), size("W_in")
Kh, Kw, sh, sw = size("K_h"), size("K_w"), size("s_h"), size("s_w")
Ph, Pw = size("P_h", zero=True), size("P_w", zero=True)
b, o, c, i, j, u, v, m, n = (index(s) for s in "b o c i j u v m n".split())
Hout = sp.floor((H + 2 * Ph - Kh) / sh) + 1
Wout = sp.floor((W_ + 2 * Pw - Kw) / sw) + 1

x = TensorDecl("x", (B, C, H, W_), "input", "input feature map")
y = TensorDecl("y", (B, C, Hout, Wout), "output", "pooled feature map")
x_pad = Definition("x_pad", (b, c, m, n), InRange(m, 0, H - 1) * InRange(n, 0, W_ - 1) * x[b, c, m, n],
                   "zero-padded input (padded zeros count in the average)", latex=r"\tilde{x}", text="x\u0303")


def torch_reference(t, sizes):
    import torch.nn.functional as F
    return F.avg_pool2d(t["x"], (sizes["K_h"], sizes["K_w"]), (sizes["s_h"], sizes["s_w"]), (sizes["P_h"], sizes["P_w"]))


def reference(arrays, sizes):
    import torch
    return torch_reference({k: torch.from_numpy(v).double() for k, v in arrays.items()}, sizes).numpy()


def _pair(attr, k):
    return f"torch.nn.modules.utils._pair(m.{attr})[{k}]"


OPERATOR = Operator(
    name="avg_pool2d", summary="2-D average pooling with stride and zero padding (count_include_pad=True)",
    output=y, lhs_indices=(b, o, i, j),
    traditional=sp.Sum(x_pad[b, o, sh * i + u - Ph, sw * j + v - Pw], (v, 0, Kw - 1), (u, 0, Kh - 1)) / (Kh * Kw),
    tensors=(x,), batch=b, out_channel=o, position=(i, j), definitions=(x_pad,),
    constraints=(sp.Le(2 * Ph, Kh), sp.Le(2 * Pw, Kw)),   # PyTorch refuses padding over half the window
    sizes=((B, "batch size"), (C, "channels"), (H, "input height"), (W_, "input width"), (Kh, "window height"),
           (Kw, "window width"), (sh, "stride along h"), (sw, "stride along w"), (Ph, "zero padding along h"),
           (Pw, "zero padding along w")),
    grid=({B: 1, C: 2, H: 5, W_: 4, Kh: 3, Kw: 2, sh: 1, sw: 2, Ph: 1, Pw: 1},
          {B: 2, C: 1, H: 7, W_: 6, Kh: 2, Kw: 3, sh: 2, sw: 3, Ph: 1, Pw: 0},
          {B: 1, C: 3, H: 4, W_: 5, Kh: 4, Kw: 1, sh: 3, sw: 1, Ph: 2, Pw: 0}),
    reference=reference, reference_name="torch.nn.functional.avg_pool2d", torch_reference=torch_reference,
    torch_binding={"module": "torch.nn.AvgPool2d",
                   "requires": [("m.count_include_pad or not any(torch.nn.modules.utils._pair(m.padding))",
                                 "count_include_pad=True is this operator, or no padding (then count_include_pad "
                                 "changes nothing)"),
                                ("not m.ceil_mode", "only ceil_mode=False is this operator"),
                                ("m.divisor_override is None", "a divisor_override is not this operator")],
                   "sizes": {"K_h": _pair("kernel_size", 0), "K_w": _pair("kernel_size", 1), "s_h": _pair("stride", 0),
                             "s_w": _pair("stride", 1), "P_h": _pair("padding", 0), "P_w": _pair("padding", 1)},
                   "tensors": {}},
    bench={B: 8, C: 64, H: 56, W_: 56, Kh: 3, Kw: 3, sh: 2, sw: 2, Ph: 1, Pw: 1},
    figure={B: 1, C: 2, H: 6, W_: 6, Kh: 2, Kw: 2, sh: 2, sw: 2, Ph: 0, Pw: 0},
    description="PyTorch's avg_pool2d with its defaults: every window averages K_h·K_w entries, the zero "
                "padding included; channels are pooled separately.",
    citation="PyTorch torch.nn.functional.avg_pool2d (count_include_pad=True, ceil_mode=False)",
)


def derive(d):
    d.apply("unfold-definition", name="x_pad")
    d.apply("move-into-sum", factor=1 / (Kh * Kw), into=u)
    d.apply("introduce-delta", targets=[(o, c, 0, C - 1), (sh * i + u - Ph, m, 0, H - 1), (sw * j + v - Pw, n, 0, W_ - 1)],
            within=u)
    d.apply("exchange-sums", outer=[u, v], inner=[c, m, n])
    d.apply("factor-out", factor=x[b, c, m, n], over=[v, u])
    d.apply("name-kernel", name="K", channel=c, position=(m, n), indices=(o, c, i, j, m, n))
    d.conclude(omega=Window((WindowAxis(Kh, sh, 1, Ph, H), WindowAxis(Kw, sw, 1, Pw, W_))), channel=c, neighbour=(m, n))
