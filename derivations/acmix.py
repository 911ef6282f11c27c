"""The ACmix module (Pan et al., CVPR 2022; LeapLabTHU/ACmix ``ResNet/test_bottleneck.py``): one set of 1×1
projections shared by an attention path and a convolution path, mixed by two learned rates.

    y[b, o, i, j] = rate₁·att[b, o, i, j] + rate₂·conv[b, o, i, j]

- att is ``acmix_attention`` (reflection-padded K×K local attention with the positional term, stride s),
  output channel o = h·d + e (**head-major**);
- conv: the "fc" 1×1 convolution (3N → 9, no bias) mixes the (q/k/v × head) axis of the projections,
  f[b, e, r, m, n] = Σ_h fc[r, h]·q[b, h·d + e, m, n] + fc[r, N + h]·k[…] + fc[r, 2N + h]·val[…],
  and channel e·9 + r of ``f_conv`` (the permute/reshape) feeds the 3×3 convolution ``dep_conv`` with
  groups = d, padding 1 and stride s: output channel o belongs to group e = ⌊o/N⌋ (**head-dim-major**:
  o = e·N + n′), conv[b, o, i, j] = Σ_r Σ_{a,c′} W_dep[o, r, a, c′]·f̃[b, ⌊o/N⌋, r, s·i + a − 1, s·j + c′ − 1]
  with f̃ zero outside the input.

The two paths index output channels differently (head-major against head-dim-major) and the official
module adds them without reordering: so does this operator (channel o of the attention path, the
output of head ⌊o/d⌋, is added to channel o of the conv path, from group ⌊o/N⌋). The official module
sets ``dep_conv.bias = init_rate_0(dep_conv.bias)``, which returns None: the conv path has no bias.
It hard-codes padding 1, so the conv kernel is 3×3 (kernel_conv = 3); ``dep_conv.weight`` starts as
pure shifts (W_dep[o, r, ⌊r/3⌋, r mod 3] = 1), a learned parameter here like any other. The official
code takes h_out = h // stride, which differs from what its unfold and dep_conv produce for odd sizes
with stride 2; here every path has ⌊(H − 1)/s⌋ + 1 rows.
"""

import sympy as sp

from evosym import Definition, InRange, Operator, TensorDecl, Window, index

from . import _attention as A
from . import acmix_attention as AT
from ._attention import B, Dh, N, b, c, c2, e, h, i, j, m, n, o, u
from ._conv import _numpy_reference

Cin, H, W_, R, s = AT.Cin, AT.H, AT.W_, AT.R, AT.s
O, Ho, Wo = AT.O, AT.Ho, AT.Wo
KC = 3                                          # kernel_conv: dep_conv's padding is hard-coded to 1
e2, r, a, a2, t, t2 = index("e_2"), index("r"), index("a"), index("a_2"), index("t"), index("t_2")
c3 = index("c_3")

m4, n4 = index("m_4"), index("n_4")

Wqkv = TensorDecl("Wqkv", (3 * O, Cin), "parameter", "q, k, v projections stacked: conv1, conv2, conv3 weights as rows "
                  "[0, N·d), [N·d, 2N·d), [2N·d, 3N·d)", latex=r"W_{qkv}", text="W_qkv", torch_name="qkv_weight")
bqkv = TensorDecl("bqkv", (3 * O,), "parameter", "q, k, v projection biases, stacked likewise", latex=r"b_{qkv}",
                  text="b_qkv", torch_name="qkv_bias")
rate1 = TensorDecl("rate1", (1,), "parameter", "rate₁: weight of the attention path (0.5 at init)", latex=r"\rho_1",
                   text="ρ₁", torch_name="rate1")
rate2 = TensorDecl("rate2", (1,), "parameter", "rate₂: weight of the conv path (0.5 at init)", latex=r"\rho_2",
                   text="ρ₂", torch_name="rate2")
fc = TensorDecl("fc", (KC * KC, 3 * N), "parameter", "fc: 1×1 conv 3N → 9 (no bias) over the (q/k/v × head) axis",
                latex=r"W_{fc}", text="W_fc", torch_name="fc_weight")
Wd = TensorDecl("Wdep", (O, KC * KC, KC, KC), "parameter", "dep_conv weight: 3×3, groups = d (no bias: deleted at init)",
                latex=r"W_{dep}", text="W_dep", torch_name="dep_conv_weight")
y = TensorDecl("y", (B, O, Ho, Wo), "output", "rate₁·attention path + rate₂·conv path")


proj = Definition("proj", (b, t, m, n), bqkv[t] + sp.Sum(Wqkv[t, c3] * AT.x[b, c3, m, n], (c3, 0, Cin - 1)),
                  "the 3N·d projections (conv1, conv2, conv3: q, k, v stacked), computed once for both paths",
                  latex="P", text="P", shape=(B, 3 * O, H, W_))


def _part(name, offset, rows, what, latex, text, at):
    return Definition(name, (b, c) + at, proj[(b, offset + c) + at], f"{what}: rows {rows} of P", latex=latex,
                      text=text, shape=(B, O, H, W_))


query = _part("qry", 0, "[0, N·d)", "queries", "q", "q", (i, j))
key = _part("key", O, "[N·d, 2N·d)", "keys", "k", "k", (m, n))
value = _part("val", 2 * O, "[2N·d, 3N·d)", "values", r"\mathrm{val}", "val", (m, n))
logit_body = sp.Sum(query[b, h * Dh + e, s * i, s * j] * (key[b, h * Dh + e, AT.ki, AT.kj] + AT.pe[e, s * i, s * j]
                                                           - AT.pe[e, AT.ki, AT.kj]), (e, 0, Dh - 1)) / sp.sqrt(Dh)
logit, norm, attn = A.softmax(logit_body, AT.K, Ho, Wo, "attention logits (as in acmix_attention)", "K×K reflected")
feat = Definition("f", (b, e2, r, m, n), sp.Sum(fc[r, t2] * proj[b, t2 * Dh + e2, m, n], (t2, 0, 3 * N - 1)),
                  "the conv path's features: fc mixes the 3N (q/k/v, head) maps of head-dim e (cat order: q heads, k "
                  "heads, v heads); channel e·9 + r of f_conv", latex="f", text="f", shape=(B, Dh, KC * KC, H, W_))
feat_pad = Definition("f_pad", (b, e2, r, m, n), InRange(m, 0, H - 1) * InRange(n, 0, W_ - 1) * feat[b, e2, r, m, n],
                      "f zero-padded (dep_conv's padding 1)", latex=r"\tilde{f}", text="f\u0303")
att_out = Definition("att", (b, o, i, j), A.traditional(attn, value, AT.ki, AT.kj, AT.K),
                     "the attention path (acmix_attention), head-major channels", latex=r"\mathrm{att}", text="att",
                     shape=(B, O, Ho, Wo))
conv_out = Definition("conv", (b, o, i, j),
                      sp.Sum(Wd[o, r, a, a2] * feat_pad[b, sp.floor(o / N), r, s * i + a - 1, s * j + a2 - 1],
                             (a2, 0, KC - 1), (a, 0, KC - 1), (r, 0, KC * KC - 1)),
                      "the conv path: dep_conv (groups = d, padding 1, stride s), head-dim-major channels",
                      latex=r"\mathrm{conv}", text="conv", shape=(B, O, Ho, Wo))


def _split(t):
    """The stacked tensors as acmix_attention's (Wq, bq, Wk, bk, Wv, bv)."""
    w, bias = t["Wqkv"], t["bqkv"]
    o_ = w.shape[0] // 3
    return {"Wq": w[:o_], "Wk": w[o_:2 * o_], "Wv": w[2 * o_:], "bq": bias[:o_], "bk": bias[o_:2 * o_], "bv": bias[2 * o_:]}


def torch_reference(t, sizes):
    """The official module's forward in torch ops (its attention path is acmix_attention's reference):
    fc over torch.cat([q, k, v].view(b, N, d, h·w), 1), permute + reshape to (b, d·9, h, w), dep_conv with
    groups = d, padding 1, no bias; rate1·att + rate2·conv added channel by channel."""
    import torch
    import torch.nn.functional as F
    x_, nh, st = t["x"], sizes["N"], sizes["s"]
    bsz, _, hh, ww = x_.shape
    qkv = _split(t)
    att = AT.torch_reference({**t, **qkv}, sizes)
    q = F.conv2d(x_, qkv["Wq"][:, :, None, None], qkv["bq"])
    k = F.conv2d(x_, qkv["Wk"][:, :, None, None], qkv["bk"])
    val = F.conv2d(x_, qkv["Wv"][:, :, None, None], qkv["bv"])
    dh = q.shape[1] // nh
    f_all = F.conv2d(torch.cat([z.view(bsz, nh, dh, hh * ww) for z in (q, k, val)], 1), t["fc"][:, :, None, None])
    f_conv = f_all.permute(0, 2, 1, 3).reshape(bsz, -1, hh, ww)
    conv = F.conv2d(f_conv, t["Wdep"], None, stride=st, padding=1, groups=dh)
    return t["rate1"] * att + t["rate2"] * conv


reference = _numpy_reference(torch_reference)

TENSORS = (AT.x, Wqkv, bqkv, AT.Wp, AT.bp, fc, Wd, rate1, rate2)

OPERATOR = Operator(
    name="acmix",
    summary="the ACmix module: shared 1×1 projections, a reflection-padded attention path and a shift-initialised "
            "3×3 conv path, mixed by rate₁ and rate₂",
    output=y, lhs_indices=(b, o, i, j),
    traditional=rate1[0] * att_out[b, o, i, j] + rate2[0] * conv_out[b, o, i, j],
    tensors=TENSORS, batch=b, out_channel=o, position=(i, j),
    definitions=(proj, query, key, value, AT.pe, logit, norm, attn, feat, feat_pad, att_out, conv_out),
    sizes=AT.OPERATOR.sizes, constraints=AT.OPERATOR.constraints,
    grid=({B: 1, Cin: 1, N: 2, Dh: 1, H: 3, W_: 2, R: 1, s: 1},
          {B: 1, Cin: 2, N: 1, Dh: 2, H: 2, W_: 2, R: 1, s: 1},
          {B: 1, Cin: 1, N: 1, Dh: 1, H: 4, W_: 3, R: 1, s: 2}),
    reference=reference, reference_name="the official ACmix forward in torch ops (attention path, fc, dep_conv, rates)",
    torch_reference=torch_reference,
    bench=AT.OPERATOR.bench, figure=AT.OPERATOR.figure,
    description="ACmix computes q, k, v once (1×1 convolutions with bias) and feeds two paths: reflection-padded K×K "
                "local attention with a positional term (acmix_attention), and a convolution path where a 1×1 'fc' "
                "mixes the 3N projected maps of each head-dim into 9 maps that a grouped 3×3 convolution (initialised "
                "as shifts) aggregates. As an Evolution form the kernel is the sum of both: K = ρ₁·K_att + ρ₂·K_conv, "
                "with K_att dynamic from pairs (p, q) and K_conv static (fc, W_dep and the projections composed); "
                "the biases leave the kernel (ρ₁·b_v, and ρ₂ times the conv of the projection biases, which depends "
                "on p at the border).",
    citation=AT.OPERATOR.citation,
    notes=("The attention path's channel o is head ⌊o/d⌋'s channel o mod d (head-major); the conv path's channel o "
           "is group ⌊o/N⌋ of dep_conv (head-dim-major). The official module adds them without reordering, and so "
           "does this operator.",
           "dep_conv has no bias: the official reset_parameters assigns it init_rate_0(bias), which returns None.",
           "kernel_conv = 3 (dep_conv's padding is hard-coded to 1); W_dep's shift initialisation is a starting "
           "value, W_dep is learned.",
           "Output rows ⌊(H − 1)/s⌋ + 1 for both paths (the official h // stride disagrees for odd H with s = 2).",
           "The reflection of the attention path reads inside the input for R < H, W: declared (PyTorch's "
           "ReflectionPad2d refuses a padding as large as the input)."),
)


def derive(dv):
    dv.apply("unfold-definition", name="att")
    dv.apply("unfold-definition", name="conv")
    # the attention path, as in acmix_attention: the value bias leaves through Σ A = 1
    dv.apply("move-into-sum", factor=rate1[0], into=u)
    dv.apply("unfold-definition", name="val")
    dv.apply("unfold-definition", name="proj")
    dv.apply("reindex-sum", var=c3, new=c2, expr_of_new=c2)   # (the conv path unfolds P again below)
    AT.attention_steps(dv, bqkv[2 * O + o], rate1[0])
    # the conv path: projections through fc and dep_conv; their bias leaves as a static β
    dv.apply("move-into-sum", factor=rate2[0], into=r)
    dv.apply("unfold-definition", name="f_pad")
    dv.apply("unfold-definition", name="f")
    dv.apply("unfold-definition", name="proj")
    dv.apply("split-sum", over=t2, rename=[(t2, t)])
    dv.apply("split-sum", over=r, rename=[(r, index("r_2")), (a, index("a_3")), (a2, index("a_4"))])
    guard = InRange(s * i + a - 1, 0, H - 1) * InRange(s * j + a2 - 1, 0, W_ - 1) * Wd[o, r, a, a2] * rate2[0]
    dv.apply("move-into-sum", factor=guard, into=t2)
    dv.apply("move-into-sum", factor=guard * fc[r, t2], into=c3)
    dv.apply("introduce-delta", targets=[(s * i + a - 1, m4, 0, H - 1), (s * j + a2 - 1, n4, 0, W_ - 1)], within=c3)
    dv.apply("exchange-sums", outer=[r, a, a2, t2], inner=[c3, m4, n4])
    dv.apply("factor-out", factor=AT.x[b, c3, m4, n4], over=[t2, a2, a, r])
    # one aggregation: the two kernels added
    dv.apply("merge-sums", first=c2, second=c3, common=AT.x[b, c2, m, n])
    dv.apply("name-kernel", name="K", channel=c2, position=(m, n), indices=(b, o, c2, i, j, m, n))
    dv.conclude(omega=Window(AT.AXES), channel=c2, neighbour=(m, n))
