"""Shared construction of multi-head self-attention over a 1-D token sequence: causal or not, with
grouped key/value heads or not (``F.scaled_dot_product_attention``'s ``is_causal`` and ``enable_gqa``).

    y[b, o, i]  = b_O[o] + Σ_c' W_O[o, c'] · z[b, c', i]
    z[b, c', i] = Σ_m A[b, ⌊c'/d⌋, i, m] · v[b, κ(c'), m]
    ℓ[b, h, i, m] = 1/√d · Σ_e q[b, h·d + e, i] · k[b, ⌊h/G⌋·d + e, m]
    A = exp(ℓ) / Σ_m' exp(ℓ)                          (not causal: over every key)
    A = E / Σ_m' E,  E[b, h, i, m] = [m ≤ i]·exp(ℓ)    (causal: the keys 0 … i)

Causal: PyTorch adds −∞ to the logits of the keys after the query, exp(ℓ − ∞) = 0, which is the guard
[m ≤ i] of E; key i is always visible to query i, so no row is fully masked and Σ E > 0. Every sum runs
over the whole sequence (the generated code cannot loop over ranges that depend on the output
position). N = N_kv·G query heads of d channels read N_kv key/value heads: query head h reads key/value
head ⌊h/G⌋, which is ``repeat_interleave(G)`` of the key/value heads, the mapping of SDPA's
``enable_gqa=True``; its value channel is κ(c') = d·⌊⌊c'/d⌋/G⌋ + c' − d·⌊c'/d⌋. Without grouping G = 1
and κ(c') = c' (``nn.MultiheadAttention``'s heads). The projections are biased 1×1 maps of the tokens
x (B, C, L), C = N·d, channels first; PyTorch's (B, L, C) sequence is ``x.transpose(1, 2)``.

The value bias b_V stays in the value projection, causal or not, and the proof moves it out of the
kernel with the rule that a softmax sums to one (softmax-sums-to-one): Σ_m A = 1. Causal, the weights
are the masked E/Σ E and the rule proves Σ E > 0 at the use: key m = 0 lies in 0 … L − 1 and passes
[m ≤ i] for every query i ≥ 0. K = Σ W_O·W_V·A then vanishes after the query because E does:
Ω(i) = {m ≤ i}, written as a window of L taps ending at i (left padding L − 1, clipped at 0), from
which the causal property is derived symbolically. With a key mask V (an input, 0/1, declared an indicator: a
1 in every sample, which the generated code checks on every input) E = V[b, m]·exp(ℓ), and the rule proves
Σ E > 0 from that premise: the sum runs over V's whole last axis. Ω stays every token (which keys a sample
hides is data, not a neighbourhood); K is 0 at the hidden keys. Causal with a key mask, E = [m ≤ i]·V[b, m]·exp(ℓ)
and V is a *leading* indicator (V[b, 0] = 1 in every sample: right padding), from which the rule proves key 0
visible to every query (it passes [0 ≤ i] and V[b, 0] = 1); Ω is the causal window. With a mask M per sample, head
and query (an indicator: a key in every row) and a bias input P, E = M[b, h, i, m]·exp(ℓ + P[b, h, i, m]): a float
attn_mask mixing −inf (M = 0) with finite values (P), the same premise. Cross-attention takes M (and P) over its S
keys: (B, N, L, S).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from evosym import Definition, Global, TensorDecl, Window, WindowAxis, index, size
from evosym.ir.symbols import InRange

B, Dh, L = size("B"), size("d"), size("L")
b, o, c, i, m = (index(t) for t in "b o c i m".split())
h, e, c2, c3, c4, m2, m3 = (index(t) for t in ("h", "e", "c_2", "c_3", "c_4", "m_2", "m_3"))


def kv_head(hq, G, Nkv):
    """The key/value head (of N_kv) that query head hq reads: ⌊hq/G⌋, consecutive query heads sharing one (SDPA's
    ``enable_gqa`` repeats each key/value head G times in place, ``repeat_interleave``). N_kv is unused by this
    mapping; it is a parameter, and this a module-level function, so that a test can put the wrong mapping of
    ``repeat`` (hq mod N_kv) in and see the proof's reference check refute it."""
    return sp.floor(hq / G)


def _kv(ch, G, Nkv, grouped: bool):
    """κ(ch) = d·kv_head(⌊ch/d⌋) + ch − d·⌊ch/d⌋: the value channel that output channel ch of the heads reads
    (the same channel within the key/value head its query head reads); ch without grouping."""
    return Dh * kv_head(sp.floor(ch / Dh), G, Nkv) + ch - Dh * sp.floor(ch / Dh) if grouped else ch


@dataclass(frozen=True)
class Attention:
    """The symbols, tensors and definitions of one variant (built by :func:`build`)."""

    causal: bool
    grouped: bool
    sizes: tuple            # (symbol, description) in the operator's order
    heads_size: sp.Expr     # N, the query heads (N_kv·G when grouped)
    group: sp.Expr          # G, query heads per key/value head (1 when not grouped)
    kv_heads: sp.Expr       # N_kv (N when not grouped)
    x: TensorDecl
    tensors: tuple
    definitions: tuple
    traditional: sp.Expr
    y: TensorDecl
    value: TensorDecl       # v's source: x, or cross-attention's value input
    keys: sp.Expr           # the number of keys: L, or cross-attention's S


def _decl(name, shape, what, torch_name):
    sub = name[1]
    return TensorDecl(name, shape, "parameter", what, latex=f"{name[0]}_{sub}", text=f"{name[0]}_{sub}",
                      torch_name=torch_name)


def build(*, causal: bool, grouped: bool, biased: bool | str = False, cross: bool = False,
          key_mask: bool = False, masked: bool = False) -> Attention:
    """The definitions and traditional form of the variant (``biased``: a static additive bias P[h, i, m] on
    the logits, SDPA's float ``attn_mask``; ``biased="input"``: the bias an input P[b, h, i, m], one table per
    sample; ``cross``: keys and values projected from two more inputs of S tokens,
    C_k and C_v channels, ``nn.MultiheadAttention``'s key and value with kdim and vdim; ``key_mask``: an input
    V[b, m] ∈ {0, 1} that hides key m of sample b where it is 0, ``nn.MultiheadAttention``'s boolean
    key_padding_mask negated, declared an indicator: a 1 in every sample, checked by the generated code; with
    ``cross`` it runs over the S keys, the mask an encoder–decoder's memory_key_padding_mask gives; with ``causal``
    a leading indicator, V[b, 0] = 1 in every sample, so that query 0 sees key 0: a right-padded decoder's
    tgt_key_padding_mask; ``masked``: an input M[b, h, i, m] ∈ {0, 1}, the keys query i of head h sees in sample b,
    SDPA's boolean attn_mask (True = seen) broadcast to the logits, declared an indicator: a 1 in every row; with
    ``biased="input"`` both: E = M·exp(ℓ + P), a float attn_mask mixing −inf (M = 0) with finite entries (P))."""
    if key_mask and (grouped or biased or (causal and cross)):
        raise ValueError("key_mask is built alone, with cross or with causal (no grouping or bias with it)")
    if masked and (causal or biased not in (False, "input") or key_mask):
        raise ValueError("masked is built alone, with a bias input, with cross or with grouped heads (its mask holds "
                         "any causal or key padding pattern)")
    if grouped:
        Nkv, G = size("N_kv"), size("G")
        N = Nkv * G
        sizes = ((B, "batch size"), (Nkv, "key/value heads"), (G, "query heads per key/value head (N = N_kv·G)"),
                 (Dh, "channels per head"), (L, "tokens"))
    else:
        N, G = size("N"), sp.Integer(1)
        Nkv = N
        sizes = ((B, "batch size"), (N, "heads"), (Dh, "channels per head"), (L, "tokens"))
    C, Ckv = N * Dh, Nkv * Dh
    x = TensorDecl("x", (B, C, L), "input", "input tokens, channels first (B × C × L); PyTorch's (B, L, C) transposed"
                   if not cross else "query tokens, channels first (B × C × L); PyTorch's (B, L, C) query transposed")
    S, Ck, Cv = (size("S"), size("C_k"), size("C_v")) if cross else (L, C, C)
    if cross:
        sizes += ((S, "keys: the key/value sequence's length"), (Ck, "key input channels (kdim)"),
                  (Cv, "value input channels (vdim)"))
        xk = TensorDecl("xk", (B, Ck, S), "input", "key tokens, channels first (B × C_k × S): PyTorch's key transposed")
        xv = TensorDecl("xv", (B, Cv, S), "input", "value tokens, channels first (B × C_v × S): PyTorch's value "
                        "transposed")
    else:
        xk = xv = x
    Wq = _decl("WQ", (C, C), "query projection weight", "q_weight")
    Wk = _decl("WK", (Ckv, Ck), "key projection weight" + (" (N_kv·d outputs)" if grouped else ""), "k_weight")
    Wv = _decl("WV", (Ckv, Cv), "value projection weight" + (" (N_kv·d outputs)" if grouped else ""), "v_weight")
    Wo = _decl("WO", (C, C), "output projection weight", "out_weight")
    bq = _decl("bQ", (C,), "query projection bias", "q_bias")
    bk = _decl("bK", (Ckv,), "key projection bias", "k_bias")
    bv = _decl("bV", (Ckv,), "value projection bias", "v_bias")
    bo = _decl("bO", (C,), "output projection bias", "out_bias")
    y = TensorDecl("y", (B, C, L), "output", "output tokens (the attended sequence)")
    P = TensorDecl("P", (N, L, L), "parameter", "additive attention bias per head (query × key): a float attn_mask",
                   latex="P", text="P", torch_name="attn_bias") if biased else None
    if biased == "input":
        P = TensorDecl("attn_mask", (B, N, L, S), "input", "additive attention bias per sample and head (query × "
                       "key): " + ("the finite part of a float attn_mask, any value where M hides"
                                   if masked else "a float attn_mask of shape (B, N, L, L), every entry finite"),
                       latex="P", text="P", domain="finite")
    bias_read = P[b, h, i, m] if biased == "input" else P[h, i, m] if biased else 0
    seen = TensorDecl("allowed", (B, N, L, S), "input", "the keys each query sees per sample and head: 1 seen, 0 "
                      "hidden (SDPA's boolean attn_mask, broadcast), a 1 in every row",
                      latex="M", text="M", domain="indicator") if masked else None
    keep = TensorDecl("key_mask", (B, S), "input", "visible keys: 1 seen, 0 hidden (a boolean key_padding_mask "
                      "negated), " + ("the first key seen in every sample" if causal else "a 1 in every sample"),
                      latex="V", text="V", domain="leading_indicator" if causal else "indicator") if key_mask else None

    def projection(name, weight, bias_, what, latex, rows, source, length):
        body = sp.Sum(weight[c, c3] * source[b, c3, m], (c3, 0, source.shape[1] - 1))
        return Definition(name, (b, c, m), bias_[c] + body, f"{what}: in-projection of every token, with bias",
                          latex=latex, text=latex, shape=(B, rows, length))

    query = projection("qry", Wq, bq, "queries", "q", C, x, L)
    key = projection("key", Wk, bk, "keys", "k", Ckv, xk, S)
    value = projection("val", Wv, bv, "values", "v", Ckv, xv, S)
    kvh = kv_head(h, G, Nkv) if grouped else h
    logit = Definition("logit", (b, h, i, m),
                       sp.Sum(query[b, h * Dh + e, i] * key[b, kvh * Dh + e, m], (e, 0, Dh - 1)) / sp.sqrt(Dh)
                       + bias_read,
                       "attention logits: scaled dot product of the query at token i and the key at token m"
                       + (" (query head h reads key head ⌊h/G⌋)" if grouped else "")
                       + (f", plus the {'bias input' if biased == 'input' else 'static bias'} {bias_read}" if biased
                          else ""),
                       latex=r"\ell", text="\u2113", shape=(B, N, L, S))
    defs = [query, key, value, logit]
    if causal or key_mask or masked:   # PyTorch's −∞ on a hidden key: exp(ℓ − ∞) = 0, a guard on exp(ℓ)
        guard, what = ((seen[b, h, i, m], "exp(ℓ) for the keys query i of head h sees in sample b, 0 for the others "
                        "(PyTorch adds −∞ to their logits)") if masked else
                       (InRange(m, 0, i) * keep[b, m], "exp(ℓ) for the keys at or before the query that sample b "
                        "sees, 0 for the others (PyTorch adds −∞ to their logits)") if causal and key_mask else
                       (InRange(m, 0, i), "exp(ℓ) for the keys at or before the query, 0 after it (PyTorch adds −∞ "
                        "to the later keys' logits)") if causal else
                       (keep[b, m], "exp(ℓ) for the keys sample b sees, 0 for the hidden ones (PyTorch adds −∞ to "
                        "their logits)"))
        weight = Definition("E", (b, h, i, m), guard * sp.exp(logit[b, h, i, m]), f"masked exponentials: {what}",
                            latex="E", shape=(B, N, L, S))
        defs.append(weight)
        numerator, summand = weight[b, h, i, m], weight[b, h, i, m2]
    else:
        numerator, summand = sp.exp(logit[b, h, i, m]), sp.exp(logit[b, h, i, m2])
    norm = Definition("Z", (b, h, i), sp.Sum(summand, (m2, 0, S - 1)),
                      "masked softmax denominator: Σ over the keys the mask shows" if masked
                      else "causal masked softmax denominator: Σ over the keys 0 … i sample b sees" if causal and key_mask
                      else "causal softmax denominator: Σ over the keys 0 … i (every later term is 0)" if causal
                      else "masked softmax denominator: Σ over the keys sample b sees" if key_mask
                      else "softmax denominator over every key", latex="Z", shape=(B, N, L))
    attn = Definition("attn", (b, h, i, m), numerator / norm[b, h, i],
                      "attention weights: softmax of the logits over the keys " + ("the mask shows, 0 for the others"
                                                                                    if masked else
                                                                                    "0 … i sample b sees, 0 for the others"
                                                                                    if causal and key_mask else
                                                                                    "0 … i, 0 after i" if causal else
                                                                                    "sample b sees, 0 for the hidden ones"
                                                                                    if key_mask else
                                                                                    "0 … S − 1" if cross else "0 … L − 1"),
                      latex="A", text="A")
    heads = Definition("heads", (b, c, i), sp.Sum(attn[b, sp.floor(c / Dh), i, m] * value[b, _kv(c, G, Nkv, grouped), m],
                                                  (m, 0, S - 1)),
                       "the heads' outputs: attention-weighted values"
                       + (", query head ⌊c/d⌋ reading value head ⌊⌊c/d⌋/G⌋" if grouped else "")
                       + ", before the output projection", latex="z", text="z", shape=(B, C, L))
    defs += [norm, attn, heads]
    traditional = bo[o] + sp.Sum(Wo[o, c2] * heads[b, c2, i], (c2, 0, C - 1))
    inputs = ((x, xk, xv) + ((keep,) if key_mask else ()) + ((seen,) if masked else ()) + ((P,) if biased == "input"
                                                                                            else ())
              if cross else (x, seen, P) if masked and biased
              else (x, P) if biased == "input"
              else (x, keep) if key_mask else (x, seen) if masked else (x,))
    tensors = inputs + (Wq, bq, Wk, bk, Wv, bv, Wo, bo) + ((P,) if biased is True else ())
    return Attention(causal, grouped, sizes, N, G, Nkv, x, tensors, tuple(defs), traditional, y, xv, S)


def cross_shapes(a: Attention) -> dict:
    """The grid, benchmark and figure sizes shared by the cross-attention operators with a mask input
    (cross_attention_key_padding, cross_attention_masked, cross_attention_masked_bias): keyword arguments of
    ``Operator``."""
    n, (skv, ck, cv) = a.heads_size, (dict((str(s), s) for s, _ in a.sizes)[k] for k in ("S", "C_k", "C_v"))
    return dict(grid=({B: 2, n: 2, Dh: 1, L: 2, skv: 3, ck: 1, cv: 2},
                      {B: 2, n: 1, Dh: 2, L: 3, skv: 2, ck: 2, cv: 1},
                      {B: 1, n: 1, Dh: 1, L: 1, skv: 4, ck: 3, cv: 1}),
                bench={B: 8, n: 8, Dh: 32, L: 196, skv: 77, ck: 256, cv: 256},
                figure={B: 1, n: 2, Dh: 1, L: 3, skv: 4, ck: 1, cv: 1})


def grouped_shapes(a: Attention) -> dict:
    """The grid, benchmark and figure sizes shared by the grouped-query operators without the causal bracket
    (gqa_attention, gqa_masked, gqa_masked_bias): keyword arguments of ``Operator``."""
    nkv, g = a.kv_heads, a.group
    return dict(grid=({B: 1, nkv: 1, g: 2, Dh: 1, L: 3},
                      {B: 2, nkv: 2, g: 2, Dh: 1, L: 2},
                      {B: 1, nkv: 2, g: 1, Dh: 2, L: 2}),
                bench={B: 8, nkv: 2, g: 4, Dh: 32, L: 196},
                figure={B: 1, nkv: 1, g: 2, Dh: 1, L: 3})


def omega(a: Attention):
    """Ω(i): the causal window {m ≤ i} (L taps ending at i, clipped at 0), else every token."""
    return Window((WindowAxis(L, 1, 1, L - 1, L),)) if a.causal else Global((a.keys,))


def _projected(t, sizes):
    """q, k, v = ``F.linear`` projections of the tokens, split into heads: (B, heads, L, d) each."""
    import torch.nn.functional as F
    x_ = t["x"].transpose(1, 2)                                            # (B, L, C)
    bsz, length, _ = x_.shape
    dh = sizes["d"]

    def split(z):
        return z.view(bsz, length, z.shape[-1] // dh, dh).transpose(1, 2)
    return tuple(split(F.linear(x_, t[w], t[bias])) for w, bias in (("WQ", "bQ"), ("WK", "bK"), ("WV", "bV")))


def torch_reference(t, sizes, *, causal: bool, grouped: bool, biased: bool | str = False, masked: bool = False):
    """``F.scaled_dot_product_attention(q, k, v, is_causal=…, enable_gqa=…, attn_mask=P)`` between ``F.linear``
    projections, in the (B, heads, L, d) layout SDPA takes; ``masked``: the keys each query sees, M ≠ 0, as its
    boolean attn_mask, or beside a bias input one float mask, P with −inf where M is 0."""
    import torch.nn.functional as F
    q, k, v = _projected(t, sizes)
    bsz, length, ch = t["x"].shape[0], t["x"].shape[2], t["x"].shape[1]
    extra = {"enable_gqa": True} if grouped else {}
    if biased:   # (1, N, L, L): the same bias for every sample; a bias input is (B, N, L, L), one per sample
        extra["attn_mask"] = t["attn_mask"] if biased == "input" else t["P"].unsqueeze(0)
    if masked:
        extra["attn_mask"] = t["attn_mask"].masked_fill(t["allowed"] == 0, float("-inf")) if biased else \
            t["allowed"] != 0
    z = F.scaled_dot_product_attention(q, k, v, is_causal=causal, **extra).transpose(1, 2).reshape(bsz, length, ch)
    return F.linear(z, t["WO"], t["bO"]).transpose(1, 2)


def mha_forward(t, sizes, **mask):
    """``F.multi_head_attention_forward`` (what ``nn.MultiheadAttention`` runs) on the tokens x (B, C, L…), in its
    (tokens, batch, channels) layout, with the packed in-projection; ``mask``: its attn_mask or key_padding_mask."""
    import torch
    import torch.nn.functional as F
    x_ = t["x"]
    tokens = x_.flatten(2).permute(2, 0, 1)                                # (L…, B, C)
    out, _ = F.multi_head_attention_forward(
        tokens, tokens, tokens, x_.shape[1], sizes["N"], torch.cat([t["WQ"], t["WK"], t["WV"]]),
        torch.cat([t["bQ"], t["bK"], t["bV"]]), None, None, False, 0.0, t["WO"], t["bO"], training=False,
        need_weights=False, **mask)
    return out.permute(1, 2, 0).reshape(x_.shape)


def cross_mha_forward(t, sizes, **mask):
    """``F.multi_head_attention_forward`` with separate projection weights (``nn.MultiheadAttention`` with kdim and
    vdim) on the (tokens, batch, channels) sequences of x, x_k, x_v; ``mask``: its key_padding_mask."""
    import torch
    import torch.nn.functional as F
    q, k, v = (t[n].permute(2, 0, 1) for n in ("x", "xk", "xv"))
    out, _ = F.multi_head_attention_forward(
        q, k, v, q.shape[-1], sizes["N"], None, torch.cat([t["bQ"], t["bK"], t["bV"]]), None, None, False, 0.0,
        t["WO"], t["bO"], training=False, need_weights=False, use_separate_proj_weight=True,
        q_proj_weight=t["WQ"], k_proj_weight=t["WK"], v_proj_weight=t["WV"], **mask)
    return out.permute(1, 2, 0)


def cross_sdpa_forward(t, sizes, *, grouped: bool = False):
    """``F.scaled_dot_product_attention(q, k, v, enable_gqa=grouped)`` between ``F.linear`` projections of the three
    inputs' tokens x, x_k, x_v (B, tokens, channels), split into heads of d channels (the key and value projections
    may have fewer heads: N_kv); a mask input M (``allowed``) as SDPA's boolean attn_mask M ≠ 0, or beside a bias
    input P (``attn_mask``) one float mask, P with −inf where M is 0."""
    import torch.nn.functional as F
    dh = sizes["d"]

    def heads(src, w, bias):
        z = F.linear(t[src].transpose(1, 2), t[w], t[bias])
        return z.unflatten(-1, (z.shape[-1] // dh, dh)).transpose(1, 2)
    q, k, v = heads("x", "WQ", "bQ"), heads("xk", "WK", "bK"), heads("xv", "WV", "bV")
    mask = {}
    if "allowed" in t:
        mask["attn_mask"] = t["attn_mask"].masked_fill(t["allowed"] == 0, float("-inf")) if "attn_mask" in t else \
            t["allowed"] != 0
    z = F.scaled_dot_product_attention(q, k, v, enable_gqa=grouped, **mask).transpose(1, 2).flatten(2)
    return F.linear(z, t["WO"], t["bO"]).transpose(1, 2)


def explicit_reference(t, sizes, *, causal: bool, logit_term=None):
    """The same attention written out (q·kᵀ/√d, + ``logit_term(t, logits)`` where given, −∞ above the diagonal when
    causal, softmax, ·v): a reference independent of SDPA, for look-alikes whose logits SDPA cannot take as given."""
    import torch
    import torch.nn.functional as F
    q, k, v = _projected(t, sizes)
    bsz, length, ch = t["x"].shape[0], t["x"].shape[2], t["x"].shape[1]
    logit = q @ k.transpose(-1, -2) / sizes["d"] ** 0.5
    if logit_term is not None:
        logit = logit + logit_term(t, logit)
    if causal:
        logit = logit.masked_fill(~torch.ones(length, length, dtype=torch.bool).tril(), float("-inf"))
    z = (torch.softmax(logit, -1) @ v).transpose(1, 2).reshape(bsz, length, ch)
    return F.linear(z, t["WO"], t["bO"]).transpose(1, 2)


def derive(dv, a: Attention):
    """The proof, causal or not: the value bias leaves the kernel through the softmax's unit sum (causal: the
    masked weights' rule proves Σ E > 0 from key i, visible to query i), then: move the weights into the
    channel sum, exchange, name K. Causal, K vanishes after the query because E does."""
    by = {t.name: t for t in a.tensors}
    x, bv, Wo = a.value, by["bV"], by["WO"]
    attn = a.definitions[-2]
    dv.apply("unfold-definition", name="heads")
    dv.apply("move-into-sum", factor=Wo[o, c2], into=m)
    dv.apply("unfold-definition", name="val")
    dv.apply("split-sum", over=c2, rename=[(c2, c4), (m, m3)])
    dv.apply("factor-out", factor=Wo[o, c4] * bv[_kv(c4, a.group, a.kv_heads, a.grouped)], over=[m3])
    dv.apply("softmax-sums-to-one", name="attn", over=[m3])
    dv.apply("move-into-sum", factor=Wo[o, c2] * attn[b, sp.floor(c2 / Dh), i, m], into=c3)
    dv.apply("exchange-sums", outer=[m, c2], inner=[c3])
    dv.apply("exchange-sums", outer=[c2], inner=[m])
    dv.apply("factor-out", factor=x[b, c3, m], over=[c2])
    dv.apply("name-kernel", name="K", channel=c3, position=(m,), indices=(b, o, c3, i, m))
    dv.conclude(omega=omega(a), channel=c3, neighbour=(m,))
