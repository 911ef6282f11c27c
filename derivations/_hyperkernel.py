"""HyperZ·Z·W's slow network: a coordinate-based implicit MLP that turns a grid of coordinates into a
hyper-kernel, and the context pooling both HyperZ·Z·W forms share.

The released slow nets (``MAGNet_G``/``MAGNet_L``) evaluate sinusoidal layers on ``linspace(−1, 1, n)``
coordinates; the one written here is that network with a single sinusoidal layer (``num_layers = 0``):

    ξ_u = −1 + 2u/(n_r − 1),  η_v = −1 + 2v/(n_c − 1)          (torch.linspace(−1, 1, n))
    g[f, u, v] = sin(ω[f, 0]·ξ_u + ω[f, 1]·η_v + φ[f])          (Linear2d 2 → D, then sin)
    W[c, u, v] = Σ_f W_o[c, f]·g[f, u, v] + b_o[c]               (output_linear D → C)

Deeper slow nets multiply more such layers in; whatever the depth, W reads no input (it is static),
which is all the Evolution form needs to know. Kept explicit (not an opaque function) because the
code generators emit it.
"""

import sympy as sp

from evosym import Definition, TensorDecl, index

f_ = index("f")


def slow_net_tensors(tag: str, C, D, what: str):
    """ω, φ, W_o, b_o of one slow net (``tag``: "g" global, "l" local)."""
    omega = TensorDecl(f"omega_{tag}", (D, 2), "parameter", f"{what} slow net: frequencies of the sinusoidal layer "
                       "(Linear2d 2 → D weight)", latex=rf"\omega_{{{tag}}}", text=f"ω_{tag}", torch_name=f"omega_{tag}")
    phi = TensorDecl(f"phi_{tag}", (D,), "parameter", f"{what} slow net: phases of the sinusoidal layer (its bias)",
                     latex=rf"\varphi_{{{tag}}}", text=f"φ_{tag}", torch_name=f"phi_{tag}")
    w_out = TensorDecl(f"Wo_{tag}", (C, D), "parameter", f"{what} slow net: output_linear D → C weight",
                       latex=rf"W^{{o}}_{{{tag}}}", text=f"Wo_{tag}", torch_name=f"out_weight_{tag}")
    b_out = TensorDecl(f"bo_{tag}", (C,), "parameter", f"{what} slow net: output_linear bias",
                       latex=rf"b^{{o}}_{{{tag}}}", text=f"bo_{tag}", torch_name=f"out_bias_{tag}")
    return omega, phi, w_out, b_out


def coordinate(k, n):
    """torch.linspace(−1, 1, n)[k]: the k-th of n coordinates in [−1, 1] (n ≥ 2)."""
    return -1 + 2 * k / (n - 1)


def hyper_kernel(name, tensors, c, u, v, D, rows, cols, description, latex, text, shape):
    """W[c, u, v] := Σ_f W_o[c, f]·sin(ω[f, 0]·ξ_u + ω[f, 1]·η_v + φ[f]) + b_o[c] on a rows × cols grid."""
    omega, phi, w_out, b_out = tensors
    arg = omega[f_, 0] * coordinate(u, rows) + omega[f_, 1] * coordinate(v, cols) + phi[f_]
    body = sp.Sum(w_out[c, f_] * sp.sin(arg), (f_, 0, D - 1)) + b_out[c]
    return Definition(name, (c, u, v), body, description, latex=latex, text=text, shape=shape)


def hyper_kernel_torch(t, tag, rows, cols):
    """The slow net's hyper-kernel (C, rows, cols) in torch ops, on linspace coordinates as released."""
    import torch
    import torch.nn.functional as F
    omega = t[f"omega_{tag}"]
    grid = torch.stack(torch.meshgrid(torch.linspace(-1, 1, rows, dtype=omega.dtype),
                                      torch.linspace(-1, 1, cols, dtype=omega.dtype), indexing="ij"), 0)[None]
    hidden = torch.sin(F.conv2d(grid, omega[:, :, None, None], t[f"phi_{tag}"]))
    return F.conv2d(hidden, t[f"Wo_{tag}"][:, :, None, None], t[f"bo_{tag}"])[0]


def pooled(name, z, b, c, u, v, Ph, Pw, a, e, description, shape):
    """P[b, c, u, v] := the mean of z over bin (u, v) of Ph × Pw positions: adaptive_avg_pool2d to
    (H/Ph, W/Pw) when the bins divide the input exactly."""
    body = sp.Sum(z[b, c, u * Ph + a, v * Pw + e], (e, 0, Pw - 1), (a, 0, Ph - 1)) / (Ph * Pw)
    return Definition(name, (b, c, u, v), body, description, latex=r"\bar{Z}", text="Z\u0304", shape=shape)
