"""ACmix's attention path (Pan et al., CVPR 2022): local attention over a K×K window with **reflection**
padding and a positional term, stride s (LeapLabTHU/ACmix, ``ResNet/test_bottleneck.py``).

    y[b, o, i, j] = Σ_u Σ_v A[b, ⌊o/d⌋, i, j, u, v] · val[b, o, ρ_H(s·i + u − R), ρ_W(s·j + v − R)]

with K = 2R + 1, ρ_L(m) = L − 1 − |L − 1 − |m|| the reflection (PyTorch's ReflectionPad2d, edge not
repeated, R < L), N heads of d channels (head-major: head h owns channels [h·d, (h+1)·d)) and, as
explicit SymPy expressions:

    q, k, val      = 1×1 convolutions C → N·d with bias
    pe[e, m, n]    = b_p[e] + w_p[e, 0]·r_W(n) + w_p[e, 1]·r_H(m),  r_L(t) = −1 + 2t/(L − 1)
                     (a 1×1 convolution 2 → d with bias of the coordinates linspace(−1, 1) in [w, h] order)
    ℓ[b, h, i, j, u, v] = 1/√d · Σ_e q[b, h·d + e, s·i, s·j] · (k[b, h·d + e, m*, n*] + pe[e, s·i, s·j] − pe[e, m*, n*])
                     with (m*, n*) = (ρ_H(s·i + u − R), ρ_W(s·j + v − R))
    A              = softmax of ℓ over the K×K window

Keys, values and the positional encoding are all read through the reflection (ACmix pads k, v and
pe with ReflectionPad2d), the query's positional term is not (it is pe at the query itself). The
projections' value bias leaves the kernel because each softmax sums to one: β = b_v. There is no
output projection. The module's conv path and the mix of the two paths are the ``acmix`` operator.
"""

import sympy as sp

from evosym import Definition, Operator, TensorDecl, Window, WindowAxis, index, size
from evosym.ir.padding import reflect

from . import _attention as A
from ._attention import B, C as _NC, Dh, N, b, c, c2, e, h, i, j, m, n, o, u, v
from ._conv import _numpy_reference

Cin, H, W_, R, s = size("C"), size("H"), size("W"), size("R"), size("s")
K = 2 * R + 1
O = _NC                                         # N·d output channels
Ho, Wo = sp.floor((H - 1) / s) + 1, sp.floor((W_ - 1) / s) + 1
u3, v3 = index("u_3"), index("v_3")
AXES = (WindowAxis(K, s, 1, R, H), WindowAxis(K, s, 1, R, W_))
ki, kj = reflect(s * i + u - R, H), reflect(s * j + v - R, W_)   # the reflected key position of tap (u, v)

x = TensorDecl("x", (B, Cin, H, W_), "input", "input feature map")


def _projection(r, what):
    w = TensorDecl(f"W{r}", (O, Cin), "parameter", f"{what} projection: 1×1 conv weight", latex=f"W_{r}", text=f"W_{r}",
                   torch_name=f"{r}_weight")
    bias = TensorDecl(f"b{r}", (O,), "parameter", f"{what} projection bias", latex=f"b_{r}", text=f"b_{r}",
                      torch_name=f"{r}_bias")
    return w, bias


(Wq, bq), (Wk, bk), (Wv, bv) = (_projection(r, w) for r, w in (("q", "query"), ("k", "key"), ("v", "value")))
Wp = TensorDecl("Wp", (Dh, 2), "parameter", "positional encoding: 1×1 conv weight, input channels (w, h)", latex="w_p",
                text="w_p", torch_name="pe_weight")
bp = TensorDecl("bp", (Dh,), "parameter", "positional encoding bias", latex="b_p", text="b_p", torch_name="pe_bias")
y = TensorDecl("y", (B, O, Ho, Wo), "output", "output feature map (the attention path)")


def _map(name, weight, bias_, what, latex, text, at):
    return Definition(name, (b, c) + at, bias_[c] + sp.Sum(weight[c, c2] * x[(b, c2) + at], (c2, 0, Cin - 1)),
                      f"{what}: 1×1 projection of the input, with bias", latex=latex, text=text, shape=(B, O, H, W_))


query = _map("qry", Wq, bq, "queries", "q", "q", (i, j))
key = _map("key", Wk, bk, "keys", "k", "k", (m, n))
value = _map("val", Wv, bv, "values", r"\mathrm{val}", "val", (m, n))
pe = Definition("pe", (e, m, n), bp[e] + Wp[e, 0] * (-1 + 2 * n / (W_ - 1)) + Wp[e, 1] * (-1 + 2 * m / (H - 1)),
                "positional encoding: a 1×1 conv (2 → d, bias) of the coordinates linspace(−1, 1) in [w, h] order",
                latex=r"\mathrm{pe}", text="pe", shape=(Dh, H, W_))
logit_body = sp.Sum(query[b, h * Dh + e, s * i, s * j]
                    * (key[b, h * Dh + e, ki, kj] + pe[e, s * i, s * j] - pe[e, ki, kj]), (e, 0, Dh - 1)) / sp.sqrt(Dh)
logit, norm, attn = A.softmax(logit_body, K, Ho, Wo, "attention logits: the scaled query at s·p against the reflected "
                              "key of tap (u, v) plus the positional difference pe(s·p) − pe(key)", "K×K reflected")


def torch_reference(t, sizes):
    """ACmix's attention path in torch ops, as the official module computes it: 1×1 q, k, v with bias, the
    coordinate encoding through conv_p, ReflectionPad2d + unfold of k, v and pe, queries and their pe
    subsampled by the stride, softmax over the window, weighted sum of the unfolded values."""
    import torch
    import torch.nn.functional as F
    x_, nh, r, st = t["x"], sizes["N"], sizes["R"], sizes["s"]
    kk = 2 * r + 1
    bsz, _, hh, ww = x_.shape
    q = F.conv2d(x_, t["Wq"][:, :, None, None], t["bq"])
    k = F.conv2d(x_, t["Wk"][:, :, None, None], t["bk"])
    val = F.conv2d(x_, t["Wv"][:, :, None, None], t["bv"])
    dh = q.shape[1] // nh
    loc_w = torch.linspace(-1.0, 1.0, ww, dtype=x_.dtype).unsqueeze(0).repeat(hh, 1)
    loc_h = torch.linspace(-1.0, 1.0, hh, dtype=x_.dtype).unsqueeze(1).repeat(1, ww)
    pos = torch.cat([loc_w.unsqueeze(0), loc_h.unsqueeze(0)], 0).unsqueeze(0)           # (1, 2, H, W): [w, h]
    pe = F.conv2d(pos, t["Wp"][:, :, None, None], t["bp"])                                # (1, d, H, W)
    ho, wo = (hh - 1) // st + 1, (ww - 1) // st + 1
    q_att = (q.view(bsz * nh, dh, hh, ww) * dh ** -0.5)[:, :, ::st, ::st]
    q_pe = pe[:, :, ::st, ::st]

    def windows(z):   # reflection-pad by R, then every stride-s K×K window: (·, d, K², Ho, Wo)
        return F.unfold(F.pad(z, (r, r, r, r), mode="reflect"), kk, stride=st).view(z.shape[0], dh, kk * kk, ho, wo)
    unfold_k = windows(k.view(bsz * nh, dh, hh, ww))
    unfold_rpe = windows(pe)
    att = (q_att.unsqueeze(2) * (unfold_k + q_pe.unsqueeze(2) - unfold_rpe)).sum(1)        # (B·N, K², Ho, Wo)
    att = torch.softmax(att, dim=1)
    out = (att.unsqueeze(1) * windows(val.view(bsz * nh, dh, hh, ww))).sum(2)
    return out.view(bsz, nh * dh, ho, wo)


reference = _numpy_reference(torch_reference)


OPERATOR = Operator(
    name="acmix_attention",
    summary="ACmix's attention path: K×K local attention with reflection padding, a positional term and stride",
    output=y, lhs_indices=(b, o, i, j),
    traditional=A.traditional(attn, value, ki, kj, K),
    tensors=(x, Wq, bq, Wk, bk, Wv, bv, Wp, bp), batch=b, out_channel=o, position=(i, j),
    definitions=(query, key, value, pe, logit, norm, attn),
    sizes=((B, "batch size"), (Cin, "input channels"), (N, "heads"), (Dh, "channels per head"),
           (H, "height"), (W_, "width"), (R, "window radius: K = 2R + 1"), (s, "stride")),
    # the coordinates linspace(−1, 1) divide by H − 1 and W − 1; reflection reads inside the input only for R < H, W
    # (PyTorch's ReflectionPad2d refuses a padding as large as the input)
    constraints=(sp.Ge(H, 2), sp.Ge(W_, 2), sp.Lt(R, H), sp.Lt(R, W_)),
    grid=({B: 1, Cin: 1, N: 2, Dh: 1, H: 3, W_: 2, R: 1, s: 1},
          {B: 2, Cin: 2, N: 1, Dh: 2, H: 2, W_: 3, R: 1, s: 1},
          {B: 1, Cin: 1, N: 1, Dh: 1, H: 4, W_: 3, R: 1, s: 2},
          {B: 1, Cin: 1, N: 1, Dh: 1, H: 3, W_: 4, R: 2, s: 1}),
    reference=reference, reference_name="ACmix's attention path in torch ops (ReflectionPad2d, unfold, conv_p)",
    torch_reference=torch_reference,
    bench={B: 2, Cin: 16, N: 4, Dh: 4, H: 28, W_: 28, R: 3, s: 1},   # the generic path materialises K̂ (B·O·C·H·W·K²)
    figure={B: 1, Cin: 1, N: 2, Dh: 1, H: 6, W_: 6, R: 1, s: 1},
    description="Each output pixel attends to the K×K window around s·p with keys, values and positional "
                "encodings read through a reflection at the border (ACmix pads with ReflectionPad2d): logits "
                "q·(k + pe(s·p) − pe(key))/√d, softmax per head, a weighted sum of the values. As an Evolution "
                "form K[b,o,c,p,q] = Σ_{taps reading q} A[b,⌊o/d⌋,p,tap]·W_v[o,c]: dynamic from pairs, "
                "position-specific, separable per output channel; at the border a mirrored tap adds its weight "
                "to the input position it reads. The value bias becomes β = b_v (each softmax sums to one).",
    citation="Pan et al., On the Integration of Self-Attention and Convolution (ACmix), CVPR 2022 "
             "(LeapLabTHU/ACmix, ResNet/test_bottleneck.py)",
    notes=("Border policy: reflection of keys, values and the positional encoding (ACmix), unlike SASA's zero "
           "padding (local_attention), NATTEN's clamped window and Swin's tiles.",
           "The step that reads the reflected window as a sum over input positions needs R < H, W (one "
           "reflection reaches every padded position, as ReflectionPad2d requires): proved under those declared "
           "constraints (general).",
           "Heads are head-major: head h owns channels [h·d, (h+1)·d). pe is shared by every head.",
           "The coordinates are linspace(−1, 1) over each axis, so H, W ≥ 2 (a single row would divide by zero)."),
)


def attention_steps(dv, bias, scale=1):
    """From Σ_{u,v} scale·A·(bias + Σ_c W·x[ρ(…)]) to Σ_c Σ_m Σ_n x·(…) + scale·bias: the bias leaves through
    Σ A = 1, the reflected window becomes a sum over input positions. Shared with the ACmix module."""
    dv.apply("split-sum", over=u, rename=[(u, u3), (v, v3)])
    dv.apply("factor-out", factor=scale * bias, over=[v3, u3])
    dv.apply("softmax-sums-to-one", name="attn", over=[v3, u3])
    dv.apply("move-into-sum", factor=scale * attn[b, sp.floor(o / Dh), i, j, u, v], into=c2)
    dv.apply("introduce-delta", targets=[(ki, m, 0, H - 1), (kj, n, 0, W_ - 1)], within=c2)
    dv.apply("exchange-sums", outer=[u, v], inner=[c2])
    dv.apply("exchange-sums", outer=[u, v], inner=[m, n])
    dv.apply("factor-out", factor=x[b, c2, m, n], over=[v, u])


def derive(dv):
    dv.apply("unfold-definition", name="val")
    attention_steps(dv, bv[o])
    dv.apply("name-kernel", name="K", channel=c2, position=(m, n), indices=(b, o, c2, i, j, m, n))
    dv.conclude(omega=Window(AXES), channel=c2, neighbour=(m, n))
