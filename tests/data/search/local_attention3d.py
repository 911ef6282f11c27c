"""3-D local self-attention (one head) over a K×K×K window, zero-padded keys and values inside the
softmax (SASA's border policy extended to volumes / video), K = 2R + 1.

    q[b, c, i, j, k]  = Σ_c' W_q[c, c'] · x[b, c', i, j, k]
    k̃[b, c, m, n, l]  = [inside] · Σ_c' W_k[c, c'] · x[b, c', m, n, l]
    ṽ[b, c, m, n, l]  = [inside] · Σ_c' W_v[c, c'] · x[b, c', m, n, l]
    ℓ[b, i, j, k, u, v, t] = 1/√C · Σ_e q[b, e, i, j, k] · k̃[b, e, i + u − R, j + v − R, k + t − R]
    A = softmax of ℓ over the K³ window
    y[b, o, i, j, k]  = Σ_u Σ_v Σ_t A[b, i, j, k, u, v, t] · ṽ[b, o, i + u − R, j + v − R, k + t − R]

No derive: the proof search finds the steps.
"""

import sympy as sp

from evosym import Definition, InRange, Operator, TensorDecl, index, size

B, C, D, H, W_, R = size("B"), size("C"), size("D"), size("H"), size("W"), size("R")
K = 2 * R + 1
b, o, c, i, j, k = (index(t) for t in "b o c i j k".split())
u, v, t, m, n, l = (index(s) for s in "u v t m n l".split())
e, c2, u2, v2, t2 = index("e"), index("c_2"), index("u_2"), index("v_2"), index("t_2")

x = TensorDecl("x", (B, C, D, H, W_), "input", "input volume")
Wq = TensorDecl("Wq", (C, C), "parameter", "query projection (1×1×1, no bias)", latex="W_q", text="W_q")
Wk = TensorDecl("Wk", (C, C), "parameter", "key projection (1×1×1, no bias)", latex="W_k", text="W_k")
Wv = TensorDecl("Wv", (C, C), "parameter", "value projection (1×1×1, no bias)", latex="W_v", text="W_v")
y = TensorDecl("y", (B, C, D, H, W_), "output", "output volume")


def _inside(a, bb, cc):
    return InRange(a, 0, D - 1) * InRange(bb, 0, H - 1) * InRange(cc, 0, W_ - 1)


query = Definition("qry", (b, c, i, j, k), sp.Sum(Wq[c, c2] * x[b, c2, i, j, k], (c2, 0, C - 1)),
                   "queries", latex="q", text="q", shape=(B, C, D, H, W_))
key_pad = Definition("key_pad", (b, c, m, n, l), _inside(m, n, l) * sp.Sum(Wk[c, c2] * x[b, c2, m, n, l], (c2, 0, C - 1)),
                     "keys, zero outside the volume", latex=r"\tilde{k}", text="k\u0303", shape=(B, C, D, H, W_))
value_pad = Definition("val_pad", (b, c, m, n, l),
                       _inside(m, n, l) * sp.Sum(Wv[c, c2] * x[b, c2, m, n, l], (c2, 0, C - 1)),
                       "values, zero outside the volume", latex=r"\tilde{v}", text="v\u0303", shape=(B, C, D, H, W_))
logit = Definition("logit", (b, i, j, k, u, v, t),
                   sp.Sum(query[b, e, i, j, k] * key_pad[b, e, i + u - R, j + v - R, k + t - R], (e, 0, C - 1))
                   / sp.sqrt(C), "scaled dot-product logits", latex=r"\ell", text="\u2113",
                   shape=(B, D, H, W_, K, K, K))
norm = Definition("Z", (b, i, j, k),
                  sp.Sum(sp.exp(logit[b, i, j, k, u2, v2, t2]), (t2, 0, 2 * R), (v2, 0, 2 * R), (u2, 0, 2 * R)),
                  "softmax denominator over the K³ window", latex="Z", shape=(B, D, H, W_))
attn = Definition("attn", (b, i, j, k, u, v, t), sp.exp(logit[b, i, j, k, u, v, t]) / norm[b, i, j, k],
                  "attention weights", latex="A", text="A")


def torch_reference(tt, sizes):
    """Independent torch computation: project, zero-pad, gather the K³ neighbours by slicing, softmax."""
    import torch
    import torch.nn.functional as F
    x_, r = tt["x"], sizes["R"]
    kk = 2 * r + 1
    bsz, ch, dd, hh, ww = x_.shape
    q = torch.einsum("oc,bcdhw->bodhw", tt["Wq"], x_)
    kp = F.pad(torch.einsum("oc,bcdhw->bodhw", tt["Wk"], x_), (r, r, r, r, r, r))
    vp = F.pad(torch.einsum("oc,bcdhw->bodhw", tt["Wv"], x_), (r, r, r, r, r, r))
    keys = torch.stack([kp[:, :, a:a + dd, bb:bb + hh, cc:cc + ww]
                        for a in range(kk) for bb in range(kk) for cc in range(kk)], dim=-1)
    vals = torch.stack([vp[:, :, a:a + dd, bb:bb + hh, cc:cc + ww]
                        for a in range(kk) for bb in range(kk) for cc in range(kk)], dim=-1)
    att = torch.softmax((q[..., None] * keys).sum(1) / ch ** 0.5, dim=-1)    # (b, d, h, w, K³)
    return (att[:, None] * vals).sum(-1)


def reference(arrays, sizes):
    import torch
    return torch_reference({k_: torch.from_numpy(a).to(torch.float64) for k_, a in arrays.items()}, sizes).numpy()


OPERATOR = Operator(
    name="local_attention3d", summary="3-D local self-attention over a K×K×K window, zero-padded keys (one head)",
    output=y, lhs_indices=(b, o, i, j, k),
    traditional=sp.Sum(attn[b, i, j, k, u, v, t] * value_pad[b, o, i + u - R, j + v - R, k + t - R],
                       (t, 0, 2 * R), (v, 0, 2 * R), (u, 0, 2 * R)),
    tensors=(x, Wq, Wk, Wv), batch=b, out_channel=o, position=(i, j, k),
    definitions=(query, key_pad, value_pad, logit, norm, attn),
    sizes=((B, "batch size"), (C, "channels"), (D, "depth"), (H, "height"), (W_, "width"),
           (R, "window radius: K = 2R + 1")),
    grid=({B: 1, C: 1, D: 2, H: 2, W_: 3, R: 1},
          {B: 2, C: 2, D: 2, H: 1, W_: 2, R: 1},
          {B: 1, C: 1, D: 1, H: 2, W_: 2, R: 2}),
    reference=reference, reference_name="torch: zero-pad, slice K³ neighbours, softmax",
)
