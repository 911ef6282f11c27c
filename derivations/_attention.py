"""Shared construction of windowed self-attention whose window never leaves the input (NATTEN's clamped
window, Swin's fixed tiles): the 1×1 projections, the softmax, the traditional form and its proof.

Each operator gives only what differs, the key position of tap (u, v) and the logit's positional
terms (a relative position bias, Swin's mask); ``local_attention`` (SASA) pads its keys and values
with zeros instead and keeps its own file.
"""

from __future__ import annotations

import sympy as sp

from evosym import Definition, TensorDecl, Window, index, size

B, N, Dh = size("B"), size("N"), size("d")
C = N * Dh
b, o, c, i, j, u, v, m, n = (index(t) for t in "b o c i j u v m n".split())
h, e, c2, u2, v2 = index("h"), index("e"), index("c_2"), index("u_2"), index("v_2")


def projections(H, W_):
    """(x, W_q, W_k, W_v, q, k, val): the input, the 1×1 projection weights (no bias) and the
    projected maps, each a definition on the input's grid."""
    x = TensorDecl("x", (B, C, H, W_), "input", "input feature map")
    weights = [TensorDecl(f"W{r}", (C, C), "parameter", f"{what} projection: 1×1 conv weight (no bias)", latex=f"W_{r}",
                          text=f"W_{r}", torch_name=f"{what}_weight") for r, what in (("q", "query"), ("k", "key"), ("v", "value"))]
    maps = [Definition(name, (b, c, i2, j2), sp.Sum(w[c, c2] * x[b, c2, i2, j2], (c2, 0, C - 1)), f"{what}: 1×1 projection of the input",
                       latex=latex, text=txt, shape=(B, C, H, W_))
            for w, (name, what, latex, txt), (i2, j2) in zip(weights, (("qry", "queries", "q", "q"), ("key", "keys", "k", "k"),
                                                                      ("val", "values", r"\mathrm{val}", "val")),
                                                            ((i, j), (m, n), (m, n)))]
    return (x, *weights, *maps)


def softmax(logit_body, K, H, W_, what, window="K×K"):
    """(ℓ, Z, A): the logits ``logit_body`` over a K×K window (named ``window`` in prose), the softmax
    denominator and the weights."""
    logit = Definition("logit", (b, h, i, j, u, v), logit_body, what, latex=r"\ell", text="\u2113", shape=(B, N, H, W_, K, K))
    norm = Definition("Z", (b, h, i, j), sp.Sum(sp.exp(logit[b, h, i, j, u2, v2]), (v2, 0, K - 1), (u2, 0, K - 1)),
                      f"softmax denominator over the {window} window", latex="Z", shape=(B, N, H, W_))
    attn = Definition("attn", (b, h, i, j, u, v), sp.exp(logit[b, h, i, j, u, v]) / norm[b, h, i, j],
                      "attention weights: softmax of the logits over the window", latex="A", text="A")
    return logit, norm, attn


def dot(query, key, ki, kj):
    """1/√d · Σ_e q[b, h·d + e, i, j] · k[b, h·d + e, ki, kj]: the scaled dot product of the query at p and
    the key of tap (u, v) at (ki, kj)."""
    return sp.Sum(query[b, h * Dh + e, i, j] * key[b, h * Dh + e, ki, kj], (e, 0, Dh - 1)) / sp.sqrt(Dh)


def traditional(attn, value, ki, kj, K):
    """y[b, o, i, j] = Σ_u Σ_v A[b, ⌊o/d⌋, i, j, u, v] · val[b, o, ki, kj]."""
    return sp.Sum(attn[b, sp.floor(o / Dh), i, j, u, v] * value[b, o, ki, kj], (v, 0, K - 1), (u, 0, K - 1))


def derive(dv, attn, x, ki, kj, H, W_, axes):
    """The proof: unfold the values, read the window as a sum over input positions, name K."""
    dv.apply("unfold-definition", name="val")
    dv.apply("move-into-sum", factor=attn[b, sp.floor(o / Dh), i, j, u, v], into=c2)
    dv.apply("introduce-delta", targets=[(ki, m, 0, H - 1), (kj, n, 0, W_ - 1)], within=c2)
    dv.apply("exchange-sums", outer=[u, v], inner=[c2])
    dv.apply("exchange-sums", outer=[u, v], inner=[m, n])
    dv.apply("factor-out", factor=x[b, c2, m, n], over=[v, u])
    dv.apply("name-kernel", name="K", channel=c2, position=(m, n), indices=(b, o, c2, i, j, m, n))
    dv.conclude(omega=Window(axes), channel=c2, neighbour=(m, n))

