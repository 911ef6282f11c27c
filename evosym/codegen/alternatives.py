"""What a user would write instead of evosym's generated module: one registry of alternatives per operator.

``evosym bench NAME --against`` (:mod:`evosym.codegen.bench_against`) times evosym's default generated
module against these, so that a ratio answers "is the generated code faster than my own code?" and not
only "faster than the catalogue's reference". Each alternative is a function ``make(t, sizes, op)`` of
the benchmark's tensors ``t`` (name → tensor, as :func:`evosym.codegen.bench.prepare` builds them),
the sizes (name → int) and the operator; it returns a :class:`Built`: a zero-argument call computing the
operator's output (same shape and layout as the generated module's) the way a user writes it
(``F.linear`` + ``F.scaled_dot_product_attention``, ``nn.MultiheadAttention``, Swin's window partition,
``torch.compile``, ``flex_attention``), and the parameters the alternative owns (a fused in-projection
or an ``nn.Module``'s weights, copied from ``t``), so that the backward pass can differentiate them.

Every alternative is compared with the operator's ``torch_reference`` before it is timed (``check``,
with its tolerance, :meth:`Alternative.agrees`), except a declared reference point (``check=False``:
a different operator, timed only for orientation, and labelled so). Nothing here is timed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F


@dataclass
class Built:
    """An alternative ready to run: ``call()`` returns the output; ``params`` are the leaf tensors it owns."""

    call: Callable[[], torch.Tensor]
    params: tuple = ()


@dataclass(frozen=True)
class Alternative:
    """One way a user computes the operator.

    ``rtol``/``atol``: the check passes when |alt − ref| ≤ atol·max|ref| + rtol·|ref| entrywise (``atol`` is
    relative to the output's largest entry: the benchmark's random weights make attention logits large, so
    the output's scale varies with the sizes). ``check=False``: a reference point that computes a different
    operator; ``note`` says why. ``compiled``: uses ``torch.compile`` (its first call, the compilation, is
    timed apart). ``optional``: a failure to build or compile it (an unsupported feature on this machine) is
    a skipped row with the reason, not an error; a numeric disagreement is an error all the same."""

    label: str
    make: Callable
    rtol: float = 1e-4
    atol: float = 1e-5
    check: bool = True
    note: str = ""
    compiled: bool = False
    optional: bool = False

    @property
    def tolerance(self) -> str:
        return f"rtol {self.rtol:g}, atol {self.atol:g}·max|ref|" if self.check else "not checked"

    def agrees(self, out: torch.Tensor, ref: torch.Tensor) -> tuple[bool, float, str]:
        """(agrees, max |out − ref|, why not) against the reference output."""
        if tuple(out.shape) != tuple(ref.shape):
            return False, float("nan"), f"shape {tuple(out.shape)}, the reference's {tuple(ref.shape)}"
        out, ref = out.detach().double(), ref.detach().double()
        diff = (out - ref).abs()
        worst = float(diff.max()) if diff.numel() else 0.0
        if not torch.isfinite(out).all():
            return False, worst, "the output has non-finite entries"
        scale = float(ref.abs().max()) if ref.numel() else 0.0
        bad = diff > self.atol * scale + self.rtol * ref.abs()
        if bad.any():
            return False, worst, (f"{int(bad.sum())} of {bad.numel()} entries differ beyond {self.tolerance} "
                                  f"(max |Δ| = {worst:.3g}, max |ref| = {scale:.3g})")
        return True, worst, ""


def _leaf(z: torch.Tensor) -> torch.Tensor:
    """A parameter of the user's own module, made from the operator's tensors: a leaf of its own."""
    return z.detach().clone().requires_grad_(z.requires_grad)


def _heads(z, n):
    """(B, L, n·d) → (B, n, L, d)."""
    return z.view(z.shape[0], z.shape[1], n, z.shape[2] // n).transpose(1, 2)


def _merge(z):
    """(B, n, L, d) → (B, L, n·d)."""
    return z.transpose(1, 2).reshape(z.shape[0], z.shape[2], z.shape[1] * z.shape[3])


# -- multi-head attention: F.linear + SDPA, a fused in-projection, nn.MultiheadAttention ----------------

def _tokens(x):
    """The (B, L, C) tokens of x: (B, C, H, W) flattened, or (B, C, L) transposed; and how to go back."""
    shape = x.shape
    tok = x.flatten(2).transpose(1, 2)
    return tok, lambda out: out.transpose(1, 2).reshape(shape)


def _sdpa(*, separate: bool, causal: bool = False, grouped: str = "", biased: bool | str = False,
          key_padding: bool = False, masked: bool = False, in_call: bool = False):
    """Projections + ``F.scaled_dot_product_attention`` + output projection. ``separate``: three ``F.linear``
    (else one fused in-projection, as ``nn.MultiheadAttention`` stores it); ``grouped``: "enable_gqa" or
    "repeat_interleave" of the key/value heads; ``key_padding``: the visible keys as a boolean (B, 1, 1, L) mask;
    ``in_call`` (a hard mask and a bias): the float mask made from M and P at every call, as a user holding the two
    writes it, instead of once before the timing."""
    def make(t, sizes, op):
        nq = sizes["N"] if "N" in sizes else sizes["N_kv"] * sizes["G"]
        nkv = sizes.get("N_kv", nq)
        params = ()
        if not separate:
            w_in, b_in = (_leaf(torch.cat([t[a], t[b], t[c]])) for a, b, c in (("WQ", "WK", "WV"), ("bQ", "bK", "bV")))
            split = (t["WQ"].shape[0], t["WK"].shape[0], t["WV"].shape[0])
            params = (w_in, b_in)
        extra = {"is_causal": causal and not key_padding}   # with a key mask the causal mask is in attn_mask
        # a hard mask and a bias: the one float mask a user holds (−inf where hidden), made once, outside the timing
        mixed = _leaf(_mixed(t)) if masked and biased and not in_call else None
        if grouped == "enable_gqa":
            extra["enable_gqa"] = True

        def call():
            tok, back = _tokens(t["x"])
            if separate:
                q, k, v = (F.linear(tok, t[w], t[b]) for w, b in (("WQ", "bQ"), ("WK", "bK"), ("WV", "bV")))
            else:
                q, k, v = F.linear(tok, w_in, b_in).split(split, dim=-1)
            q, k, v = _heads(q, nq), _heads(k, nkv), _heads(v, nkv)
            if grouped == "repeat_interleave":
                k, v = k.repeat_interleave(nq // nkv, dim=1), v.repeat_interleave(nq // nkv, dim=1)
            mask = {"attn_mask": t["attn_mask"] if biased == "input" else t["P"].unsqueeze(0)} if biased else {}
            if key_padding:   # beside the causal mask: one boolean mask (SDPA takes attn_mask or is_causal)
                seen = (t["key_mask"] != 0)[:, None, None, :]
                if causal:
                    seen = seen & torch.ones(seen.shape[-1], seen.shape[-1], dtype=torch.bool, device=seen.device).tril()
                mask = {"attn_mask": seen}
            if masked:        # the keys each query sees, (B, N, L, L): SDPA's boolean attn_mask as it is
                mask = {"attn_mask": (_mixed(t) if in_call else mixed) if biased else t["allowed"] != 0}
            z = F.scaled_dot_product_attention(q, k, v, **mask, **extra)
            return back(F.linear(_merge(z), t["WO"], t["bO"]))
        return Built(call, params + ((mixed,) if mixed is not None else ()))
    return make


def _mixed(t):
    """The one float mask of a hard mask M (``allowed``) and a bias P (``attn_mask``): P, −inf where M is 0."""
    return t["attn_mask"].masked_fill(t["allowed"] == 0, float("-inf"))


def _mha_module(*, causal: bool = False, biased: bool | str = False, key_padding: bool = False, masked: bool = False):
    """``nn.MultiheadAttention(C, N, batch_first=True)`` holding the operator's weights, eval mode,
    ``need_weights=False`` (its fast path when no gradient is needed); a causal mask from
    ``generate_square_subsequent_mask`` with ``is_causal=True``, P as a (B·N, L, L) float ``attn_mask``, or the
    hidden keys as a boolean ``key_padding_mask``."""
    def make(t, sizes, op):
        x = t["x"]
        ch, nh = t["WQ"].shape[0], sizes["N"]
        m = torch.nn.MultiheadAttention(ch, nh, batch_first=True, device=x.device, dtype=x.dtype)
        with torch.no_grad():
            m.in_proj_weight.copy_(torch.cat([t["WQ"], t["WK"], t["WV"]]))
            m.in_proj_bias.copy_(torch.cat([t["bQ"], t["bK"], t["bV"]]))
            m.out_proj.weight.copy_(t["WO"])
            m.out_proj.bias.copy_(t["bO"])
        m.eval()
        m.requires_grad_(x.requires_grad)
        causal_mask = (torch.nn.Transformer.generate_square_subsequent_mask(x.shape[-1], device=x.device, dtype=x.dtype)
                       if causal else None)
        mixed = _leaf(_mixed(t).flatten(0, 1)) if masked and biased else None

        def call():
            tok, back = _tokens(t["x"])
            kw = {}
            if causal:
                kw = {"attn_mask": causal_mask, "is_causal": True}
                if key_padding:       # the same float form as the causal mask: −inf where hidden
                    kw["key_padding_mask"] = torch.zeros_like(t["key_mask"]).masked_fill(t["key_mask"] == 0,
                                                                                         float("-inf"))
            elif masked and biased:   # the one float mask (−inf where hidden) as (B·N, L, L)
                kw = {"attn_mask": mixed}
            elif biased == "input":   # one table per sample: (B, N, L, L) as the (B·N, L, L) float attn_mask
                kw = {"attn_mask": t["attn_mask"].flatten(0, 1)}
            elif masked:              # the keys each query sees (B, N, L, L): the (B·N, L, L) boolean mask, True = hidden
                kw = {"attn_mask": (t["allowed"] == 0).flatten(0, 1)}
            elif key_padding:         # the visible keys V (B, L): True where hidden
                kw = {"key_padding_mask": t["key_mask"] == 0}
            elif biased:
                p = t["P"]
                kw = {"attn_mask": p.unsqueeze(0).expand(tok.shape[0], -1, -1, -1).reshape(-1, *p.shape[1:])}
            out, _ = m(tok, tok, tok, need_weights=False, **kw)
            return back(out)
        return Built(call, tuple(m.parameters()) + ((mixed,) if mixed is not None else ()))
    return make


# -- cross-attention: queries from x, keys from xk, values from xv (three inputs, channels first) -------------

def _cross_masks(t, *, module: bool):
    """The mask a user passes with cross-attention's inputs, made once: the visible keys of a ``key_mask`` input
    (SDPA's boolean (B, 1, 1, S) attn_mask, or the module's boolean key_padding_mask), the keys each query sees of an
    ``allowed`` input (boolean (B, N, L, S); the module's (B·N, L, S) with True = hidden), or with an ``attn_mask``
    bias too, one float mask with −inf where hidden (a leaf of its own); {} without any."""
    if "key_mask" in t:
        return {"key_padding_mask": t["key_mask"] == 0} if module else \
            {"attn_mask": (t["key_mask"] != 0)[:, None, None, :]}
    if "attn_mask" in t:
        mixed = _mixed(t)
        return {"attn_mask": _leaf(mixed.flatten(0, 1) if module else mixed)}
    if "allowed" in t:
        return {"attn_mask": (t["allowed"] == 0).flatten(0, 1)} if module else {"attn_mask": t["allowed"] != 0}
    return {}


def _cross_sdpa(t, sizes, op, in_call=False):
    """Three ``F.linear`` in-projections, one per input's (B, tokens, channels) view, one
    ``F.scaled_dot_product_attention`` (default 1/√d scale; a mask input as :func:`_cross_masks` makes it, or with
    ``in_call`` the float mask of M and P made at every call), the output ``F.linear``."""
    nkv = sizes["N_kv"] if "N_kv" in sizes else sizes["N"]   # grouped (gqa_cross_attention): N_kv key/value heads
    nh = nkv * sizes.get("G", 1)
    mask = {} if in_call else _cross_masks(t, module=False)
    if "G" in sizes:
        mask["enable_gqa"] = True

    def call():
        q, k, v = (_heads(F.linear(t[src].transpose(1, 2), t[w], t[b]), n)
                   for src, w, b, n in (("x", "WQ", "bQ", nh), ("xk", "WK", "bK", nkv), ("xv", "WV", "bV", nkv)))
        z = F.scaled_dot_product_attention(q, k, v, **({"attn_mask": _mixed(t)} if in_call else {}), **mask)
        return F.linear(_merge(z), t["WO"], t["bO"]).transpose(1, 2)
    return Built(call, tuple(v for v in mask.values() if isinstance(v, torch.Tensor) and v.requires_grad and v.is_leaf))


def _cross_mha_module(t, sizes, op):
    """``nn.MultiheadAttention(E, N, kdim=C_k, vdim=C_v, batch_first=True)`` holding the operator's weights
    (separate q/k/v projection weights when kdim or vdim differ from E, the packed in_proj_weight otherwise),
    eval mode, called as ``m(query, key, value, need_weights=False)`` on the three inputs' tokens (with a mask
    input as :func:`_cross_masks` makes it)."""
    x = t["x"]
    ch, nh = t["WQ"].shape[0], sizes["N"]
    m = torch.nn.MultiheadAttention(ch, nh, kdim=t["WK"].shape[1], vdim=t["WV"].shape[1], batch_first=True,
                                    device=x.device, dtype=x.dtype)
    with torch.no_grad():
        if m._qkv_same_embed_dim:
            m.in_proj_weight.copy_(torch.cat([t["WQ"], t["WK"], t["WV"]]))
        else:
            m.q_proj_weight.copy_(t["WQ"])
            m.k_proj_weight.copy_(t["WK"])
            m.v_proj_weight.copy_(t["WV"])
        m.in_proj_bias.copy_(torch.cat([t["bQ"], t["bK"], t["bV"]]))
        m.out_proj.weight.copy_(t["WO"])
        m.out_proj.bias.copy_(t["bO"])
    m.eval()
    m.requires_grad_(x.requires_grad)

    mask = _cross_masks(t, module=True)

    def call():
        out, _ = m(t["x"].transpose(1, 2), t["xk"].transpose(1, 2), t["xv"].transpose(1, 2), need_weights=False,
                   **mask)
        return out.transpose(1, 2)
    return Built(call, tuple(m.parameters()) + tuple(v for v in mask.values() if v.requires_grad and v.is_leaf))


# -- Swin: roll, window partition, SDPA with the relative position bias (+ shift mask) as attn_mask -------

def _swin_shift_mask(hh, ww, mw, sh, device, dtype):
    """Swin's mask for the shifted windows, (nW, M², M²): label the 3×3 regions that the cyclic roll brings
    together, partition the labels into windows, −100 between pixels of different regions."""
    img = torch.zeros(hh, ww, device=device)
    label = 0
    bands = ((0, hh - mw), (hh - mw, hh - sh), (hh - sh, hh)), ((0, ww - mw), (ww - mw, ww - sh), (ww - sh, ww))
    for r0, r1 in bands[0]:
        for c0, c1 in bands[1]:
            img[r0:r1, c0:c1] = label
            label += 1
    lab = img.view(hh // mw, mw, ww // mw, mw).permute(0, 2, 1, 3).reshape(-1, mw * mw)
    return (lab[:, None, :] != lab[:, :, None]).to(dtype) * -100.0


def _swin_sdpa(t, sizes, op):
    """Swin's WindowAttention on channels-last windows with one qkv ``F.linear`` (no bias, as the operator),
    the bias table gathered through relative_position_index (query − key), SDPA over (B, nW, N, M², d)."""
    x = t["x"]
    nh, mw, sh = sizes["N"], sizes["M"], sizes["S"]
    bsz, ch, hh, ww = x.shape
    dh, nw = ch // nh, (hh // mw) * (ww // mw)
    w_qkv = _leaf(torch.cat([t["Wq"], t["Wk"], t["Wv"]]))
    coords = torch.stack(torch.meshgrid(torch.arange(mw), torch.arange(mw), indexing="ij")).flatten(1)
    rel = coords[:, :, None] - coords[:, None, :] + mw - 1
    index = (rel[0] * (2 * mw - 1) + rel[1]).flatten().to(x.device)          # relative_position_index
    shift = _swin_shift_mask(hh, ww, mw, sh, x.device, x.dtype)[:, None] if sh else None   # (nW, 1, M², M²)

    def call():
        z = t["x"].permute(0, 2, 3, 1)
        if sh:
            z = torch.roll(z, shifts=(-sh, -sh), dims=(1, 2))
        win = z.reshape(bsz, hh // mw, mw, ww // mw, mw, ch).permute(0, 1, 3, 2, 4, 5).reshape(bsz, nw, mw * mw, ch)
        q, k, v = F.linear(win, w_qkv).view(bsz, nw, mw * mw, 3, nh, dh).permute(3, 0, 1, 4, 2, 5)
        bias = t["rpb"].flatten(1)[:, index].view(nh, mw * mw, mw * mw)
        mask = bias + shift if sh else bias
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)       # (B, nW, N, M², d)
        out = out.permute(0, 1, 3, 2, 4).reshape(bsz, hh // mw, ww // mw, mw, mw, ch)
        out = out.permute(0, 1, 3, 2, 4, 5).reshape(bsz, hh, ww, ch)
        if sh:
            out = torch.roll(out, shifts=(sh, sh), dims=(1, 2))
        return out.permute(0, 3, 1, 2)
    return Built(call, (w_qkv,))


# -- neighbourhood attention: evosym's own local_attention at the same window (a reference point) ---------

def _local_attention_module(t, sizes, op):
    """evosym's generated ``local_attention`` (SASA zero-padded window) at the same K, on the same x and
    projections: what the NATTEN-style operator costs with the other border policy (no relative bias)."""
    from .bench import prepare
    from .check import bind
    names = ("B", "N", "d", "H", "W", "R")
    st = prepare("local_attention", t["x"].device.type, {k: sizes[k] for k in names})
    mine = {name: t[name] for name in ("x", "Wq", "Wk", "Wv")}
    return Built(bind(st.fn, st.plan, st.op, mine, st.env, "auto"))


# -- compiled alternatives ----------------------------------------------------------------------------------

def _compiled_reference(t, sizes, op):
    """``torch.compile`` of the operator's own torch reference (the official code's computation)."""
    fn = torch.compile(op.torch_reference, dynamic=False)
    return Built(lambda: fn(t, sizes))


def _flex_local(t, sizes, op):
    """``flex_attention`` (compiled) with a block mask of each query's K×K window: keys and values are the
    projections zero-padded by R (SASA's zero keys stay in the softmax, as in the operator), flattened."""
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    x = t["x"]
    nh, r = sizes["N"], sizes["R"]
    bsz, ch, hh, ww = x.shape
    wp = ww + 2 * r

    def window(b, h, q_idx, kv_idx):
        qi, qj = q_idx // ww, q_idx % ww
        ki, kj = kv_idx // wp, kv_idx % wp
        return ((ki - qi - r).abs() <= r) & ((kj - qj - r).abs() <= r)
    block_mask = create_block_mask(window, None, None, hh * ww, (hh + 2 * r) * wp, device=x.device.type)
    attend = torch.compile(flex_attention, dynamic=False)

    def call():
        z = t["x"]
        q = F.conv2d(z, t["Wq"][:, :, None, None]).view(bsz, nh, ch // nh, hh * ww).transpose(2, 3)
        k, v = (F.pad(F.conv2d(z, t[w][:, :, None, None]), (r, r, r, r)).view(bsz, nh, ch // nh, -1).transpose(2, 3)
                for w in ("Wk", "Wv"))
        return attend(q.contiguous(), k.contiguous(), v.contiguous(), block_mask=block_mask).transpose(2, 3).reshape(
            bsz, ch, hh, ww)
    return Built(call)


_IN_CALL = "the float mask P.masked_fill(M == 0, −inf) made at every call, as a user holding M and P writes it"
COMPILED_REFERENCE = "torch.compile of the reference"
_ATT = dict(rtol=1e-3, atol=1e-4)   # attention: logits of size ~100 with the benchmark's random weights

REGISTRY: dict[str, tuple[Alternative, ...]] = {
    "mhsa": (Alternative("F.linear + SDPA", _sdpa(separate=True), **_ATT),
             Alternative("nn.MultiheadAttention", _mha_module(), **_ATT,
                         note="batch_first, eval mode, need_weights=False")),
    "mhsa_bias": (Alternative("fused in-projection + SDPA(attn_mask=P)", _sdpa(separate=False, biased=True), **_ATT),
                  Alternative("nn.MultiheadAttention(attn_mask)", _mha_module(biased=True), **_ATT,
                              note="P expanded to the (B·N, L, L) float attn_mask it takes")),
    "mhsa_sample_bias": (Alternative("fused in-projection + SDPA(attn_mask per sample)",
                                     _sdpa(separate=False, biased="input"), **_ATT),
                         Alternative("nn.MultiheadAttention(attn_mask per sample)", _mha_module(biased="input"),
                                     **_ATT, note="the (B, N, L, L) bias as the (B·N, L, L) float attn_mask it takes")),
    "mhsa_key_padding": (Alternative("fused in-projection + SDPA(boolean attn_mask (B, 1, 1, L))",
                                     _sdpa(separate=False, key_padding=True), **_ATT),
                         Alternative("nn.MultiheadAttention(key_padding_mask)", _mha_module(key_padding=True),
                                     **_ATT, note="the hidden keys, V == 0, as its boolean key_padding_mask")),
    "mhsa_masked": (
        Alternative("fused in-projection + SDPA(boolean attn_mask (B, N, L, L))", _sdpa(separate=False, masked=True),
                    **_ATT),
        Alternative("nn.MultiheadAttention(boolean attn_mask (B·N, L, L))", _mha_module(masked=True), **_ATT,
                    note="the hidden keys, M == 0, flattened to the (B·N, L, L) mask it takes")),
    "mhsa_masked_bias": (
        Alternative("fused in-projection + SDPA(float attn_mask (B, N, L, L) with −inf)",
                    _sdpa(separate=False, masked=True, biased="input"), **_ATT,
                    note="the one float mask P with −inf where M is 0, made before the timing"),
        Alternative("nn.MultiheadAttention(float attn_mask (B·N, L, L) with −inf)",
                    _mha_module(masked=True, biased="input"), **_ATT,
                    note="the same float mask flattened to the (B·N, L, L) mask it takes"),
        Alternative("fused in-projection + SDPA(float attn_mask made in the call)",
                    _sdpa(separate=False, masked=True, biased="input", in_call=True), **_ATT, note=_IN_CALL)),
    "mhsa_causal_key_padding": (
        Alternative("fused in-projection + SDPA(boolean attn_mask: causal and the visible keys)",
                    _sdpa(separate=False, causal=True, key_padding=True), **_ATT,
                    note="tril(L, L) & (V ≠ 0)[:, None, None, :], one mask: SDPA takes attn_mask or is_causal"),
        Alternative("nn.MultiheadAttention(causal mask, key_padding_mask)", _mha_module(causal=True, key_padding=True),
                    **_ATT, note="generate_square_subsequent_mask, is_causal=True, the hidden keys as −inf")),
    "mhsa_causal": (Alternative("fused in-projection + SDPA(is_causal=True)", _sdpa(separate=False, causal=True), **_ATT),
                    Alternative("nn.MultiheadAttention(causal mask)", _mha_module(causal=True), **_ATT,
                                note="generate_square_subsequent_mask, is_causal=True")),
    "gqa_attention": (Alternative("F.linear + repeat_interleave + SDPA", _sdpa(separate=True, grouped="repeat_interleave"),
                                  **_ATT),
                      Alternative("fused in-projection + SDPA(enable_gqa=True)",
                                  _sdpa(separate=False, grouped="enable_gqa"), **_ATT)),
    "gqa_causal": (Alternative("F.linear + repeat_interleave + SDPA(is_causal=True)",
                               _sdpa(separate=True, causal=True, grouped="repeat_interleave"), **_ATT),
                   Alternative("fused in-projection + SDPA(is_causal=True, enable_gqa=True)",
                               _sdpa(separate=False, causal=True, grouped="enable_gqa"), **_ATT)),
    "gqa_masked": (Alternative("fused in-projection + SDPA(boolean attn_mask (B, N, L, L), enable_gqa=True)",
                               _sdpa(separate=False, grouped="enable_gqa", masked=True), **_ATT),),
    "gqa_masked_bias": (Alternative("fused in-projection + SDPA(float attn_mask with −inf, enable_gqa=True)",
                                    _sdpa(separate=False, grouped="enable_gqa", masked=True, biased="input"), **_ATT,
                                    note="the one float mask P with −inf where M is 0, made before the timing"),
                        Alternative("fused in-projection + SDPA(float attn_mask made in the call, enable_gqa=True)",
                                    _sdpa(separate=False, grouped="enable_gqa", masked=True, biased="input",
                                          in_call=True), **_ATT, note=_IN_CALL)),
    "cross_attention": (Alternative("F.linear q/k/v + SDPA", _cross_sdpa, **_ATT,
                                    note="one F.linear per input's tokens (x, xk, xv), one SDPA, output F.linear"),
                        Alternative("nn.MultiheadAttention(kdim, vdim)", _cross_mha_module, **_ATT,
                                    note="kdim=C_k, vdim=C_v, batch_first, eval mode, need_weights=False")),
    "gqa_cross_attention": (Alternative("F.linear q/k/v + SDPA(enable_gqa=True)", _cross_sdpa, **_ATT,
                                        note="one F.linear per input's tokens (x, xk, xv; N_kv key/value heads), one "
                                             "SDPA sharing them, output F.linear"),),
    "gqa_cross_attention_masked": (
        Alternative("F.linear q/k/v + SDPA(boolean attn_mask (B, N, L, S), enable_gqa=True)", _cross_sdpa, **_ATT,
                    note="one F.linear per input's tokens, one SDPA with the keys each query sees, sharing the N_kv "
                         "key/value heads"),),
    "gqa_cross_attention_masked_bias": (
        Alternative("F.linear q/k/v + SDPA(float attn_mask (B, N, L, S) with −inf, enable_gqa=True)", _cross_sdpa,
                    **_ATT, note="the one float mask P with −inf where M is 0, made before the timing"),
        Alternative("F.linear q/k/v + SDPA(float attn_mask made in the call, enable_gqa=True)",
                    lambda t, sizes, op: _cross_sdpa(t, sizes, op, in_call=True), **_ATT, note=_IN_CALL)),
    "cross_attention_key_padding": (
        Alternative("F.linear q/k/v + SDPA(boolean attn_mask (B, 1, 1, S))", _cross_sdpa, **_ATT,
                    note="one F.linear per input's tokens (x, xk, xv), one SDPA with the visible keys, output F.linear"),
        Alternative("nn.MultiheadAttention(kdim, vdim, key_padding_mask)", _cross_mha_module, **_ATT,
                    note="kdim=C_k, vdim=C_v, batch_first, eval mode, the hidden keys as its key_padding_mask")),
    "cross_attention_masked": (
        Alternative("F.linear q/k/v + SDPA(boolean attn_mask (B, N, L, S))", _cross_sdpa, **_ATT,
                    note="one F.linear per input's tokens (x, xk, xv), one SDPA with the keys each query sees"),
        Alternative("nn.MultiheadAttention(kdim, vdim, boolean attn_mask (B·N, L, S))", _cross_mha_module, **_ATT,
                    note="kdim=C_k, vdim=C_v, batch_first, eval mode, the hidden keys as its attn_mask")),
    "cross_attention_masked_bias": (
        Alternative("F.linear q/k/v + SDPA(float attn_mask (B, N, L, S) with −inf)", _cross_sdpa, **_ATT,
                    note="the one float mask P with −inf where M is 0, made before the timing"),
        Alternative("nn.MultiheadAttention(kdim, vdim, float attn_mask (B·N, L, S) with −inf)", _cross_mha_module,
                    **_ATT, note="the same float mask flattened to the (B·N, L, S) mask it takes"),
        Alternative("F.linear q/k/v + SDPA(float attn_mask made in the call)",
                    lambda t, sizes, op: _cross_sdpa(t, sizes, op, in_call=True), **_ATT, note=_IN_CALL)),
    "swin_attention": (Alternative("Swin windows + SDPA(attn_mask=bias + shift mask)", _swin_sdpa, **_ATT,
                                   note="roll, window_partition, one qkv F.linear, window_reverse, roll back"),),
    "neighborhood_attention": (Alternative("evosym local_attention (same K)", _local_attention_module, check=False,
                                           note="reference point, different Ω: zero-padded window, no relative "
                                                "bias; not numerically equal, so not checked"),),
    "involution": (Alternative(COMPILED_REFERENCE, _compiled_reference, rtol=1e-4, atol=1e-5, compiled=True,
                               optional=True, note="the official unfold-based code under torch.compile"),),
    "local_attention": (Alternative("flex_attention + window block mask (compiled)", _flex_local, **_ATT, compiled=True,
                                    optional=True, note="keys and values zero-padded by R, as the operator's border"),),
}


def operators_with_alternatives() -> list[str]:
    """The operators ``bench --against`` can run, sorted."""
    return sorted(REGISTRY)


def alternatives_for(name: str, *, compile: bool = False) -> list[Alternative]:
    """The registered alternatives of ``name``, plus ``torch.compile`` of the reference with ``compile``
    (where it is not registered already)."""
    alts = list(REGISTRY.get(name, ()))
    if compile and not any(a.label == COMPILED_REFERENCE for a in alts):
        alts.append(Alternative(COMPILED_REFERENCE, _compiled_reference, rtol=1e-3, atol=1e-4, compiled=True,
                                optional=True, note="asked for with --compile"))
    return alts


__all__ = ["Alternative", "Built", "COMPILED_REFERENCE", "REGISTRY", "alternatives_for", "operators_with_alternatives"]
