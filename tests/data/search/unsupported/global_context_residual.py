"""A global context block (GCNet, Cao et al. 2019) with a linear transform: softmax attention pooling
over all positions, a 1×1 value projection of the pooled context, broadcast to every position and
added to the input (the residual). GCNet's bottleneck LayerNorm/ReLU is left out.

    ℓ[b, m, n]    = Σ_c w_k[c] · x[b, c, m, n]                     (1×1 conv to one channel)
    A[b, m, n]    = exp(ℓ[b, m, n]) / Σ_m' Σ_n' exp(ℓ[b, m', n'])   (softmax over all H·W positions)
    y[b, o, i, j] = x[b, o, i, j] + Σ_c W_v[o, c] · Σ_m Σ_n A[b, m, n] · x[b, c, m, n]

No derive.
"""

import sympy as sp

from evosym import Definition, Operator, TensorDecl, index, size

B, C, H, W_ = size("B"), size("C"), size("H"), size("W")
b, o, c, i, j, m, n = (index(t) for t in "b o c i j m n".split())
c2, m2, n2, m3, n3 = index("c_2"), index("m_2"), index("n_2"), index("m_3"), index("n_3")

x = TensorDecl("x", (B, C, H, W_), "input", "input feature map")
wk = TensorDecl("wk", (C,), "parameter", "context mask: 1×1 conv to one channel", latex="w_k", text="w_k")
Wv = TensorDecl("Wv", (C, C), "parameter", "value transform: 1×1 conv on the pooled context", latex="W_v", text="W_v")
y = TensorDecl("y", (B, C, H, W_), "output", "output feature map")

logit = Definition("logit", (b, m, n), sp.Sum(wk[c2] * x[b, c2, m, n], (c2, 0, C - 1)),
                   "context logits", latex=r"\ell", text="\u2113", shape=(B, H, W_))
norm = Definition("Z", (b,), sp.Sum(sp.exp(logit[b, m2, n2]), (n2, 0, W_ - 1), (m2, 0, H - 1)),
                  "softmax denominator over all positions", latex="Z", shape=(B,))
attn = Definition("attn", (b, m, n), sp.exp(logit[b, m, n]) / norm[b], "attention-pooling weights",
                  latex="A", text="A")
context = Definition("ctx", (b, c), sp.Sum(attn[b, m3, n3] * x[b, c, m3, n3], (n3, 0, W_ - 1), (m3, 0, H - 1)),
                     "attention-pooled context vector", latex="g", text="g", shape=(B, C))


def reference(arrays, sizes):
    """torch: softmax over flattened positions, bmm pooling, linear transform, broadcast add."""
    import torch
    t = {k: torch.from_numpy(v).to(torch.float64) for k, v in arrays.items()}
    x_ = t["x"]
    bsz, ch, hh, ww = x_.shape
    flat = x_.reshape(bsz, ch, hh * ww)
    a = torch.softmax(torch.einsum("c,bcp->bp", t["wk"], flat), dim=-1)     # (b, HW)
    ctx = torch.bmm(flat, a[:, :, None])[:, :, 0]                           # (b, C)
    return (x_ + (ctx @ t["Wv"].T)[:, :, None, None]).numpy()


OPERATOR = Operator(
    name="global_context_residual", summary="GCNet-style global context: softmax attention pooling, 1×1 transform, residual add",
    output=y, lhs_indices=(b, o, i, j),
    traditional=x[b, o, i, j] + sp.Sum(Wv[o, c] * context[b, c], (c, 0, C - 1)),
    tensors=(x, wk, Wv), batch=b, out_channel=o, position=(i, j), definitions=(logit, norm, attn, context),
    sizes=((B, "batch size"), (C, "channels"), (H, "height"), (W_, "width")),
    grid=({B: 1, C: 2, H: 2, W_: 3}, {B: 2, C: 1, H: 3, W_: 2}, {B: 1, C: 3, H: 2, W_: 2}),
    reference=reference, reference_name="torch softmax + bmm attention pooling",
)
