"""The sweep and the table of ``docs/attention-coverage.md``: PyTorch's attention calls against the generated
modules through :mod:`evosym.coverage.attention`'s routes.

:func:`sweep` runs argument combinations of ``F.scaled_dot_product_attention`` (between the projections of
one input) and ``nn.MultiheadAttention`` through both paths of the routed generated module (float64) and
compares them with PyTorch: every call must match or be refused with evosym's error (an ``EvosymError`` that
is a ``ValueError``, :class:`~evosym.coverage.attention.AttentionRefused`) that has a message;
a wrong number, another exception, or a result where PyTorch refuses is a failure. :func:`rows` computes
the per-argument table from the routes themselves (an example call per row), :func:`markdown` the page.
"""

from __future__ import annotations

import math

from ..errors import EvosymError
from .attention import FUNCTIONS, mha_route, module_for, multihead_attention, sdpa_route, self_attention


LENGTH, BATCH, HEAD_DIM = 5, 2, 2
# (heads, key/value heads, enable_gqa): equal heads with and without the flag, grouped, multi-query, and two
# that PyTorch refuses (fewer key/value heads without the flag, heads not a multiple)
HEADS = ((2, 2, False), (2, 2, True), (4, 2, True), (4, 1, True), (4, 2, False), (3, 2, True))
SDPA_MASKS = ("none", "causal bool", "causal float", "causal bool (B, N, L, L)", "all allowed", "band",
              "additive bias", "additive bias (N, L, L)", "additive bias per sample", "additive bias and −inf",
              "fully masked row", "key padding (B, 1, 1, L)", "key padding float (B, 1, 1, L)",
              "causal key padding (B, 1, L, L)", "causal key padding, first key hidden", "band float",
              "pattern per sample and head (B, N, L, L)", "additive bias and −inf per sample and head (B, N, L, L)")
MHA_MASKS = ("none", "causal float", "causal bool", "causal bool 3-D", "band", "band 3-D per sample", "additive bias",
             "additive bias 3-D",
             "additive bias per sample 3-D", "additive bias and −inf", "additive bias and −inf 3-D per sample",
             "fully masked row")
# key_padding_mask kinds (batch × keys): boolean (True = hidden), finite float (added to the logits), finite float
# with −inf where hidden, 0 and −inf (hides keys, adds nothing), boolean hiding every key of sample 0, boolean hiding
# the last keys only (right padding: the first key of every sample seen, what a causal mask beside it needs)
PADDINGS = ("bool", "float", "float −inf", "float 0/−inf", "bool all hidden", "bool trailing")
MHA_EXTRAS = ({"add_bias_kv": True}, {"add_zero_attn": True}, {"kdim": 3, "vdim": 3}, {"kdim": 3, "vdim": 5},
              {"dropout": 0.2, "train": True}, {"dropout": 0.2})
# add_bias_kv and add_zero_attn (with the sweep's non-zero biases; add_zero_attn with bias=False too): the module
# arguments tried with every input kind, and the masks tried with self-attention (each then has the appended keys, visible)
APPENDED = ({"add_zero_attn": True, "bias": False}, {"add_zero_attn": True}, {"add_bias_kv": True},
            {"add_bias_kv": True, "add_zero_attn": True})
ZERO_ATTN_MASKS = ("none", "causal float", "band", "additive bias", "additive bias and −inf 3-D per sample")
# cross-attention: the key/value input's length and channels (SDPA), and the masks tried with it, as (L, S)
KV_LENGTH, KV_CHANNELS = LENGTH + 1, 3
CROSS_MASKS = ("none", "all allowed", "causal bool", "key padding (B, 1, 1, S)", "key padding float (B, 1, 1, S)",
               "additive bias (L, S)", "additive bias and −inf (L, S)")
# nn.MultiheadAttention's cross-attention masks (queries × keys, True = hidden): the upper-left causal pattern, a
# finite float bias, and that bias with −inf where the pattern hides
MHA_CROSS_MASKS = ("cross", "cross float bias", "cross float bias and −inf")


def _allowed(kind: str, length: int):
    """The boolean pattern of allowed keys (queries × keys) of a named mask."""
    import torch
    ones = torch.ones(length, length, dtype=torch.bool)
    if kind.startswith("band"):
        idx = torch.arange(length)
        return (idx[:, None] - idx[None, :]).abs() <= 1
    pattern = ones if kind == "all allowed" else ones.tril()
    if kind == "fully masked row":
        pattern = pattern.clone()
        pattern[1] = False
    return pattern


def _bias(kind: str, length: int, heads: int, batch: int, dtype):
    """A named float bias: ALiBi-like 0.25·(i − m) (L, L), per head (N, L, L), per sample (B, N, L, L), or the
    first with −inf above the diagonal."""
    import torch
    idx = torch.arange(length, dtype=dtype)
    table = 0.25 * (idx[:, None] - idx[None, :])
    if kind == "additive bias (N, L, L)":
        return table * torch.arange(1, heads + 1, dtype=dtype)[:, None, None]
    if kind == "additive bias per sample":
        return table * torch.arange(1, batch + 1, dtype=dtype)[:, None, None, None].expand(batch, heads, 1, 1)
    if kind == "additive bias and −inf":
        return table.masked_fill(~_allowed("causal", length), float("-inf"))
    return table


def sdpa_mask(kind: str, length: int, heads: int, dtype):
    """The named mask in SDPA's convention (True = allowed; float: 0 allowed, −inf masked)."""
    import torch
    if kind == "none":
        return None
    if kind.startswith("additive bias and −inf per sample"):   # a bias per sample, −inf outside a pattern per head
        return _bias("additive bias per sample", length, heads, BATCH, dtype).masked_fill(
            ~sdpa_mask("pattern per sample and head (B, N, L, L)", length, heads, dtype), float("-inf"))
    if kind.startswith("additive bias"):
        return _bias(kind, length, heads, BATCH, dtype)
    if kind == "causal float":
        return torch.zeros(length, length, dtype=dtype).masked_fill(~_allowed("causal", length), float("-inf"))
    if kind.startswith("pattern per sample"):   # a band, shifted by sample and head: any pattern with a key per row
        idx = torch.arange(length)
        shift = torch.arange(BATCH)[:, None, None, None] + torch.arange(heads)[None, :, None, None]
        return (idx[:, None] - idx[None, :] - shift % 3 + 1).abs() <= 1
    if kind == "band float":
        return torch.zeros(length, length, dtype=dtype).masked_fill(~_allowed("band", length), float("-inf"))
    if kind.startswith("causal key padding"):   # the causal mask and keys hidden per sample, as one boolean mask
        hidden = _padding("bool" if "first" in kind else "bool trailing", BATCH, length, None, dtype)
        return ~hidden[:, None, None, :] & _allowed("causal", length)
    if kind.startswith("key padding"):   # the keys each sample sees, the same for every head and query
        hidden = _padding("bool", BATCH, length, None, dtype)[:, None, None, :]
        return torch.zeros(hidden.shape, dtype=dtype).masked_fill(hidden, float("-inf")) if "float" in kind else ~hidden
    pattern = _allowed(kind.split(" (")[0].replace("causal bool", "causal"), length)
    return pattern.expand(BATCH, heads, length, length) if "(B, N" in kind else pattern


def mha_mask(kind: str, length: int, heads: int, batch: int, dtype):
    """The named mask in nn.MultiheadAttention's convention (True = masked; float additive); "cross": the causal
    pattern of cross-attention's (L, L + 1) logits."""
    import torch
    if kind == "none":
        return None
    if kind.startswith("cross"):   # (L, L + 1): the upper-left causal pattern, or a float bias (with −inf there)
        hidden = torch.ones(length, length + 1, dtype=torch.bool).triu(1)
        if kind == "cross":
            return hidden
        idx = torch.arange(length + 1, dtype=dtype)
        bias = 0.25 * (idx[:length, None] - idx[None, :])
        return bias.masked_fill(hidden, float("-inf")) if "−inf" in kind else bias
    if kind in ("additive bias", "additive bias and −inf"):
        return _bias(kind, length, heads, batch, dtype)
    if kind == "additive bias and −inf 3-D per sample":   # ALiBi-like slopes per sample beside the causal mask
        return (_bias("additive bias and −inf", length, heads, batch, dtype)
                * torch.arange(1, batch + 1, dtype=dtype)[:, None, None, None]).expand(batch, heads, length, length) \
            .reshape(batch * heads, length, length)
    if kind == "additive bias 3-D":
        return _bias("additive bias (N, L, L)", length, heads, batch, dtype).expand(batch, heads, length, length) \
            .reshape(batch * heads, length, length)
    if kind == "additive bias per sample 3-D":
        return _bias("additive bias per sample", length, heads, batch, dtype).reshape(batch * heads, length, length)
    if kind == "causal float":
        return torch.nn.Transformer.generate_square_subsequent_mask(length, dtype=dtype)
    if kind == "band 3-D per sample":   # a band shifted by sample and head, (batch·heads, L, L)
        idx = torch.arange(length)
        shift = (torch.arange(batch)[:, None] + torch.arange(heads)[None, :]).reshape(-1, 1, 1)
        return (idx[:, None] - idx[None, :] - shift % 3 + 1).abs() > 1
    masked = ~_allowed("causal" if kind.startswith("causal") else kind, length)
    return masked.expand(batch * heads, length, length).contiguous() if kind.endswith("3-D") else masked


def sdpa_combinations():
    """(heads, kv_heads, enable_gqa, mask, is_causal, scale, dropout_p, biases, cross) of every SDPA call tried
    (``cross``: keys and values from a second input of KV_LENGTH tokens and KV_CHANNELS channels)."""
    n = 0
    for heads, kv, gqa in HEADS:
        for cross, masks in ((False, SDPA_MASKS), (True, CROSS_MASKS)):
            for mask in masks:
                for causal in (False, True):
                    n += 1   # scale and biases alternate (each value meets every mask and both is_causal)
                    yield heads, kv, gqa, mask, causal, 0.37 if (n // 2) % 2 else None, 0.0, n % 2 == 0, cross
        yield heads, kv, gqa, "none", False, None, 0.3, True, False
        yield heads, kv, gqa, "none", False, None, 0.3, True, True


def mha_combinations():
    """(module keyword arguments, input kind, mask, is_causal, key_padding_mask, need_weights) of every call."""
    for batch_first in (True, False):
        for bias in (True, False):
            for inputs in ("self", "cross", "unbatched"):
                for mask in MHA_MASKS:
                    for causal in (False, True):
                        yield {"batch_first": batch_first, "bias": bias}, inputs, mask, causal, False, False
        for extra in MHA_EXTRAS:
            yield {"batch_first": batch_first, **extra}, "self", "none", False, False, False
        for appended in APPENDED:   # taken: a token appended per extra key (its own indicator channel)
            app = {"batch_first": batch_first, **appended}
            for inputs, masks in (("self", ZERO_ATTN_MASKS), ("unbatched", ("none", "causal bool")),
                                  ("cross", ("none",) + MHA_CROSS_MASKS)):
                for mask in masks:
                    yield app, inputs, mask, False, False, False
            yield app, "self", "none", False, "bool", False
            yield app, "self", "additive bias", False, "float −inf", False
            yield {**app, "kdim": 3, "vdim": 5}, "cross", "none", False, "bool", False
            yield app, "self", "causal float", True, False, False   # the causal mask over the appended keys too
            yield app, "self", "causal float", True, "bool", False      # attn_mask padded: appended keys visible
            yield app, "cross", "cross", True, False, False             # upper-left causal L × (S + n)
        for padding in PADDINGS:
            for mask in ("none", "additive bias", "causal float", "band"):
                yield {"batch_first": batch_first}, "self", mask, False, padding, False
            yield {"batch_first": batch_first}, "unbatched", "none", False, padding, False
        yield {"batch_first": batch_first}, "self", "none", True, "bool", False
        yield {"batch_first": batch_first}, "self", "causal float", True, "bool trailing", False
        yield {"batch_first": batch_first}, "self", "causal bool", False, "bool trailing", False
        for padding in PADDINGS:   # an encoder–decoder's memory_key_padding_mask
            yield {"batch_first": batch_first}, "cross", "none", False, padding, False
        yield {"batch_first": batch_first, "kdim": 3, "vdim": 5}, "cross", "none", False, "bool", False
        for mask in MHA_CROSS_MASKS:   # an encoder–decoder's memory_mask, alone and with each padding kind
            for padding in (False, "bool", "float", "float −inf"):
                yield {"batch_first": batch_first}, "cross", mask, False, padding, False
            yield {"batch_first": batch_first}, "unbatched cross", mask, False, False, False
        yield {"batch_first": batch_first}, "cross", "cross", True, False, False
        yield {"batch_first": batch_first}, "cross", "cross float bias", True, False, False
        yield {"batch_first": batch_first}, "cross", "none", True, "bool", False
        yield {"batch_first": batch_first}, "self", "causal float", False, False, True


def _close(ours, ref, terms: int) -> bool:
    """float64 agreement within rounding of ``terms`` accumulated products (inputs of magnitude ~1)."""
    import torch
    if ours.shape != ref.shape or not torch.isfinite(ours).all():
        return False
    return bool(((ours - ref).abs() <= 1e-13 * terms * (1 + ref.abs())).all())


def _tally():
    return {"tried": 0, "matched": 0, "refused": 0, "torch refused": 0, "reasons": {}, "failures": [], "operators": {}}


def _cross_mask(kind: str, dtype):
    """A named mask of cross-attention's (L, S) logits in SDPA's convention (True = allowed; a key padding mask hides
    keys per sample, the same for every head and query)."""
    import torch
    if kind == "none":
        return None
    if kind.startswith("key padding"):
        hidden = _padding("bool", BATCH, KV_LENGTH, None, dtype)[:, None, None, :]
        return torch.zeros(hidden.shape, dtype=dtype).masked_fill(hidden, float("-inf")) if "float" in kind else ~hidden
    pattern = torch.ones(LENGTH, KV_LENGTH, dtype=torch.bool)
    if kind.startswith("additive bias"):   # 0.25·(i − m), −inf above the upper-left diagonal where named
        idx = torch.arange(KV_LENGTH, dtype=dtype)
        bias = 0.25 * (idx[:LENGTH, None] - idx[None, :])
        return bias.masked_fill(~pattern.tril(), float("-inf")) if "−inf" in kind else bias
    return pattern if kind == "all allowed" else pattern.tril()


def _sdpa_torch(x, w, heads, kv, d, mask, causal, scale, dropout_p, gqa, kv_input=None):
    import torch.nn.functional as F
    bsz = x.shape[0]
    src = x if kv_input is None else kv_input

    def split(z, n):
        return z.view(bsz, z.shape[1], n, d).transpose(1, 2)
    q, k, v = split(F.linear(x, w[0], w[1]), heads), split(F.linear(src, w[2], w[3]), kv), split(F.linear(src, w[4], w[5]), kv)
    z = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=causal, scale=scale,
                                       enable_gqa=gqa)
    return F.linear(z.transpose(1, 2).reshape(bsz, x.shape[1], heads * d), w[6], w[7])


def _sdpa_case(out, gen, case):
    import torch
    heads, kv, gqa, mask_name, causal, scale, dropout_p, biases, cross = case
    d, f64 = HEAD_DIM, torch.float64
    e, ekv = heads * d, kv * d
    x = torch.randn(BATCH, LENGTH, e, generator=gen, dtype=f64)
    kv_input = torch.randn(BATCH, KV_LENGTH, KV_CHANNELS, generator=gen, dtype=f64) if cross else None
    ein = KV_CHANNELS if cross else e
    shapes = ((e, e), (e,), (ekv, ein), (ekv,), (ekv, ein), (ekv,), (e, e), (e,))
    w = [torch.randn(s, generator=gen, dtype=f64) / math.sqrt(e) if len(s) == 2 or biases else None for s in shapes]
    mask = _cross_mask(mask_name, f64) if cross else sdpa_mask(mask_name, LENGTH, heads, f64)
    label = (f"SDPA heads={heads} kv_heads={kv} enable_gqa={gqa} attn_mask={mask_name} is_causal={causal} "
             f"scale={scale} dropout_p={dropout_p} biases={biases} cross={cross}")
    try:
        ref, torch_error = _sdpa_torch(x, w, heads, kv, d, mask, causal, scale, dropout_p, gqa, kv_input), None
    except (RuntimeError, ValueError) as exc:
        ref, torch_error = None, exc
    try:
        r = sdpa_route(x, w[0], w[2], w[4], num_heads=heads, attn_mask=mask, dropout_p=dropout_p, is_causal=causal,
                       scale=scale, enable_gqa=gqa, kv_input=kv_input)
        got = [self_attention(x, *w, num_heads=heads, attn_mask=mask, dropout_p=dropout_p, is_causal=causal,
                              scale=scale, enable_gqa=gqa, kv_input=kv_input, path=p) for p in ("auto", "generic")]
    except ValueError as exc:
        return _refused(out, label, exc, torch_error)
    except Exception as exc:   # noqa: BLE001: anything but a clear ValueError is a failure
        out["failures"].append(f"{label}: {type(exc).__name__}: {exc}")
        return
    _compare(out, label, r, got, ref, torch_error, max(LENGTH, KV_LENGTH) * max(e, ein))


def _refused(out, label, exc, torch_error):
    reason = str(exc)
    if not reason.strip():
        out["failures"].append(f"{label}: a ValueError without a message")
    if not isinstance(exc, EvosymError):   # a generated module's or torch's own ValueError: not a checked refusal
        out["failures"].append(f"{label}: refused with a {type(exc).__name__}, not evosym's error: {reason}")
    out["refused"] += 1
    out["torch refused"] += torch_error is not None
    out["reasons"][reason] = out["reasons"].get(reason, 0) + 1


def _compare(out, label, r, got, ref, torch_error, terms):
    if torch_error is not None:
        out["failures"].append(f"{label}: evosym computed what PyTorch refuses ({torch_error})")
        return
    bad = [p for p, y in zip(("auto", "generic"), got) if not _close(y.detach(), ref.detach(), terms)]
    if bad:
        out["failures"].append(f"{label}: wrong result on path {', '.join(bad)}")
        return
    out["matched"] += 1
    out["operators"][r.operator] = out["operators"].get(r.operator, 0) + 1


def _mha_case(out, gen, case):
    import torch
    kw, inputs, mask_name, causal, kpm, need_weights = case
    heads, f64 = 2, torch.float64
    e = heads * HEAD_DIM
    kw = dict(kw)
    train = kw.pop("train", False)
    label = f"nn.MultiheadAttention({kw}, training={train}) input={inputs} attn_mask={mask_name} is_causal={causal} " \
            f"key_padding_mask={kpm} need_weights={need_weights}"
    torch.manual_seed(int(torch.randint(0, 2 ** 31, (1,), generator=gen)))
    m = torch.nn.MultiheadAttention(e, heads, dtype=f64, **kw)
    with torch.no_grad():
        for p in m.parameters():   # non-zero biases (PyTorch initialises them to 0)
            p.copy_(torch.randn(p.shape, generator=gen, dtype=f64) / math.sqrt(e))
    m.train(train)
    q, k, v = _mha_inputs(m, inputs, lambda shape: torch.randn(shape, generator=gen, dtype=f64))
    mask = mha_mask(mask_name, LENGTH, heads, 1 if inputs.startswith("unbatched") else BATCH, f64)
    pad = None
    if kpm:
        pad = _padding(kpm, BATCH if not inputs.startswith("unbatched") else None, k.shape[1 if k.dim() == 3 and m.batch_first else 0],
                       gen, f64)
    args = dict(key_padding_mask=pad, need_weights=need_weights, attn_mask=mask, is_causal=causal)
    try:
        ref, torch_error = m(q, k, v, **args)[0], None
    except (RuntimeError, ValueError, AssertionError) as exc:
        ref, torch_error = None, exc
    try:
        r = mha_route(m, q, k, v, pad, need_weights, mask, causal)
        got = [multihead_attention(m, q, k, v, **args, path=p)[0] for p in ("auto", "generic")]
    except ValueError as exc:
        return _refused(out, label, exc, torch_error)
    except Exception as exc:   # noqa: BLE001
        out["failures"].append(f"{label}: {type(exc).__name__}: {exc}")
        return
    _compare(out, label, r, got, ref, torch_error, LENGTH * e)


def _padding(kind, batch, keys: int, gen, dtype):
    """A named key_padding_mask (batch × keys, or keys unbatched): boolean with the last key of sample 0 hidden (the
    first key too when there are more than two), a finite float bias, that float with −inf where the boolean hides,
    0 with −inf there, a boolean that hides every key of sample 0, or ("bool trailing") one that hides the last two
    keys of sample 0 and the last of the others (right padding)."""
    import torch
    shape = (keys,) if batch is None else (batch, keys)
    hidden = torch.zeros(shape, dtype=torch.bool)
    first = hidden if batch is None else hidden[0]
    first[-1] = True
    if keys > 2:
        first[0] = True
    if kind == "bool all hidden":
        first[:] = True
    if kind == "bool trailing":
        hidden[...] = False
        hidden[..., -1] = True
        first[-2:] = True
    if kind in ("bool", "bool all hidden", "bool trailing", True):
        return hidden
    if kind == "float 0/−inf":
        return torch.zeros(shape, dtype=dtype).masked_fill(hidden, float("-inf"))
    bias = torch.randn(shape, generator=gen, dtype=dtype) * 0.5
    return bias.masked_fill(hidden, float("-inf")) if kind == "float −inf" else bias


def _mha_inputs(m, inputs: str, draw):
    """query, key, value for an nn.MultiheadAttention m in its layout, each drawn by ``draw(shape)``: self-attention
    (key and value are the query), "unbatched" self-attention, "cross" (key and value one other sequence of
    LENGTH + 1 tokens) or "unbatched cross"; a module with kdim/vdim always takes keys and values of their own
    widths."""
    e = m.embed_dim
    cross = inputs.endswith("cross")

    def shape(length, width):
        if inputs.startswith("unbatched"):
            return length, width
        return (BATCH, length, width) if m.batch_first else (length, BATCH, width)
    q = draw(shape(LENGTH, e))
    if m._qkv_same_embed_dim and not cross:
        return q, q, q
    length = LENGTH + 1 if cross else LENGTH
    k = draw(shape(length, m.kdim))
    return q, k, (k if m.vdim == m.kdim else draw(shape(length, m.vdim)))


def sweep(function: str, *, seed: int = 0) -> dict:
    """Run every combination of ``function`` (one of :data:`FUNCTIONS`): {"tried", "matched", "refused", "torch
    refused", "reasons": {reason: count}, "operators": {operator: matched calls}, "failures": [what went wrong]}. A
    failure is a wrong number on either path, an exception other than ValueError, a refusal without a message,
    or a result where PyTorch refuses."""
    import torch
    if function not in FUNCTIONS:
        raise ValueError(f"function must be one of {', '.join(FUNCTIONS)}, not {function!r}")
    out, gen = _tally(), torch.Generator().manual_seed(seed)
    cases, run = (sdpa_combinations(), _sdpa_case) if function == FUNCTIONS[0] else (mha_combinations(), _mha_case)
    for case in cases:
        out["tried"] += 1
        run(out, gen, case)
    return out


# ---------------------------------------------------------------- the table

# (argument, example as written, keyword arguments of an SDPA call on x (B, L, E) with 2 heads of 2 channels)
_SDPA_ROWS = (
    ("query, key, value (projections of one input)", "q, k, v = F.linear(x, W, b) per head", {}),
    ("key/value from another input (cross-attention)", "k, v = F.linear(y, W, b), y (B, S, E_kv) ≠ x", {"cross": True}),
    ("cross-attention with attn_mask", "k, v from y, attn_mask=(L, S) causal", {"cross": True, "mask": "causal bool"}),
    ("cross-attention with an additive attn_mask", "k, v from y, attn_mask=0.25·(i − m) (L, S)",
     {"cross": True, "mask": "additive bias (L, S)"}),
    ("cross-attention with an additive attn_mask and −inf entries", "k, v from y, 0.25·(i − m), −inf above the "
     "diagonal", {"cross": True, "mask": "additive bias and −inf (L, S)"}),
    ("cross-attention with is_causal", "k, v from y, is_causal=True", {"cross": True, "is_causal": True}),
    ("cross-attention, attn_mask hiding keys per sample", "k, v from y, attn_mask of shape (B, 1, 1, S), boolean",
     {"cross": True, "mask": "key padding (B, 1, 1, S)"}),
    ("cross-attention with fewer key/value heads", "k, v from y, enable_gqa=True, 4 / 2 heads",
     {"cross": True, "enable_gqa": True, "heads": 4, "kv": 2}),
    ("attn_mask=None", "attn_mask=None", {}),
    ("attn_mask, boolean causal", "attn_mask=torch.ones(L, L, dtype=bool).tril()", {"mask": "causal bool"}),
    ("attn_mask, float causal (0 / −inf)", "attn_mask=0 on and below the diagonal, −inf above",
     {"mask": "causal float"}),
    ("attn_mask, broadcast over batch and heads", "attn_mask of shape (B, N, L, L), causal",
     {"mask": "causal bool (B, N, L, L)"}),
    ("attn_mask allowing every key", "attn_mask=torch.ones(L, L, dtype=bool)", {"mask": "all allowed"}),
    ("attn_mask, other boolean pattern", "attn_mask=band, abs(i − m) ≤ 1", {"mask": "band"}),
    ("attn_mask, other pattern, float 0 / −inf", "attn_mask=0 on the band, −inf off it", {"mask": "band float"}),
    ("attn_mask, a pattern per sample and head", "attn_mask (B, N, L, L), a band shifted per sample and head",
     {"mask": "pattern per sample and head (B, N, L, L)"}),
    ("attn_mask hiding keys per sample (key padding)", "attn_mask of shape (B, 1, 1, L), boolean",
     {"mask": "key padding (B, 1, 1, L)"}),
    ("attn_mask hiding keys per sample, float 0 / −inf", "attn_mask of shape (B, 1, 1, L), 0 or −inf",
     {"mask": "key padding float (B, 1, 1, L)"}),
    ("attn_mask causal and hiding keys per sample", "attn_mask = tril(L, L) & keys seen (B, 1, 1, L), right-padded",
     {"mask": "causal key padding (B, 1, L, L)"}),
    ("attn_mask causal and hiding the first key of a sample", "as above, sample 0's first key hidden",
     {"mask": "causal key padding, first key hidden"}),
    ("attn_mask, additive float bias (L, L)", "attn_mask=0.25·(i − m)", {"mask": "additive bias"}),
    ("attn_mask, additive float bias per head", "attn_mask of shape (N, L, L)", {"mask": "additive bias (N, L, L)"}),
    ("attn_mask, additive bias differing per sample", "attn_mask of shape (B, N, L, L), per sample",
     {"mask": "additive bias per sample"}),
    ("attn_mask, additive bias with −inf entries", "0.25·(i − m), −inf above the diagonal",
     {"mask": "additive bias and −inf"}),
    ("attn_mask, additive bias with −inf entries per sample and head", "attn_mask (B, N, L, L): a bias per sample, "
     "−inf outside a band per sample and head", {"mask": "additive bias and −inf per sample and head (B, N, L, L)"}),
    ("enable_gqa with an additive bias and −inf entries", "enable_gqa=True, 4 / 2 heads, 0.25·(i − m), −inf above "
     "the diagonal", {"enable_gqa": True, "heads": 4, "kv": 2, "mask": "additive bias and −inf"}),
    ("enable_gqa with an additive bias", "enable_gqa=True, 4 / 2 heads, attn_mask=0.25·(i − m)",
     {"enable_gqa": True, "heads": 4, "kv": 2, "mask": "additive bias"}),
    ("attn_mask with a fully masked row", "causal mask with row 1 all False", {"mask": "fully masked row"}),
    ("is_causal=True", "is_causal=True", {"is_causal": True}),
    ("is_causal=True with attn_mask", "is_causal=True, attn_mask=causal", {"is_causal": True, "mask": "causal bool"}),
    ("scale", "scale=0.37", {"scale": 0.37}),
    ("dropout_p > 0", "dropout_p=0.1", {"dropout_p": 0.1}),
    ("enable_gqa, equal heads", "enable_gqa=True, 2 key/value heads", {"enable_gqa": True}),
    ("enable_gqa, fewer key/value heads", "enable_gqa=True, 4 query heads, 2 key/value heads",
     {"enable_gqa": True, "heads": 4, "kv": 2}),
    ("enable_gqa with is_causal", "enable_gqa=True, is_causal=True, 4 / 2 heads",
     {"enable_gqa": True, "is_causal": True, "heads": 4, "kv": 2}),
    ("fewer key/value heads without enable_gqa", "4 query heads, 2 key/value heads", {"heads": 4, "kv": 2}),
    ("biases None", "q_bias=None, …", {}),
)

# (argument, example, module keyword arguments, forward keyword arguments (input: "self", "cross", "unbatched"))
_MHA_ROWS = (
    ("batch_first=True", "nn.MultiheadAttention(E, N, batch_first=True)", {"batch_first": True}, {}),
    ("batch_first=False", "nn.MultiheadAttention(E, N)", {}, {}),
    ("bias=False", "nn.MultiheadAttention(E, N, bias=False)", {"bias": False}, {}),
    ("add_bias_kv=True", "nn.MultiheadAttention(E, N, add_bias_kv=True)", {"add_bias_kv": True}, {}),
    ("add_zero_attn=True, bias=False", "nn.MultiheadAttention(E, N, add_zero_attn=True, bias=False)",
     {"add_zero_attn": True, "bias": False}, {}),
    ("add_zero_attn=True with biases", "nn.MultiheadAttention(E, N, add_zero_attn=True)", {"add_zero_attn": True}, {}),
    ("add_bias_kv=True and add_zero_attn=True", "nn.MultiheadAttention(E, N, add_bias_kv=True, add_zero_attn=True)",
     {"add_bias_kv": True, "add_zero_attn": True}, {}),
    ("add_bias_kv=True with is_causal", "m(x, x, x, attn_mask=causal, is_causal=True), add_bias_kv=True",
     {"add_bias_kv": True}, {"mask": "causal float", "is_causal": True}),
    ("kdim / vdim ≠ embed_dim", "nn.MultiheadAttention(E, N, kdim=3, vdim=5), m(x, k, v)", {"kdim": 3, "vdim": 5}, {}),
    ("dropout in eval mode", "nn.MultiheadAttention(E, N, dropout=0.2).eval()", {"dropout": 0.2}, {}),
    ("dropout in training mode", "nn.MultiheadAttention(E, N, dropout=0.2).train()", {"dropout": 0.2, "train": True},
     {}),
    ("key and value are the query (self-attention)", "m(x, x, x, need_weights=False)", {}, {}),
    ("key / value other than the query (cross-attention)", "m(x, y, y, need_weights=False), y (B, S, E)", {},
     {"input": "cross"}),
    ("cross-attention with attn_mask", "m(x, y, y, attn_mask=(L, S) causal)", {}, {"input": "cross", "mask": "cross"}),
    ("cross-attention with key_padding_mask, boolean", "m(x, y, y, key_padding_mask=(B, S) boolean)", {},
     {"input": "cross", "key_padding_mask": "bool"}),
    ("cross-attention with key_padding_mask, float", "m(x, y, y, key_padding_mask=(B, S) finite float)", {},
     {"input": "cross", "key_padding_mask": "float"}),
    ("cross-attention with attn_mask and key_padding_mask", "m(x, y, y, attn_mask=(L, S) causal, key_padding_mask "
     "boolean)", {}, {"input": "cross", "mask": "cross", "key_padding_mask": "bool"}),
    ("cross-attention with a float attn_mask with −inf entries", "m(x, y, y, attn_mask=0.25·(i − m), −inf above the "
     "diagonal)", {}, {"input": "cross", "mask": "cross float bias and −inf"}),
    ("cross-attention with is_causal", "m(x, y, y, attn_mask=(L, S) causal, is_causal=True)", {},
     {"input": "cross", "mask": "cross", "is_causal": True}),
    ("unbatched input", "m(x, x, x) with x (L, E)", {}, {"input": "unbatched"}),
    ("key_padding_mask, boolean", "key_padding_mask=(B, L) boolean", {}, {"key_padding_mask": "bool"}),
    ("key_padding_mask, boolean, unbatched", "key_padding_mask=(L,) boolean, x (L, E)", {},
     {"key_padding_mask": "bool", "input": "unbatched"}),
    ("key_padding_mask, float 0 / −inf", "key_padding_mask=(B, L) float, 0 or −inf", {},
     {"key_padding_mask": "float 0/−inf"}),
    ("key_padding_mask hiding every key of a sample", "key_padding_mask=(B, L) boolean, sample 0 all True", {},
     {"key_padding_mask": "bool all hidden"}),
    ("key_padding_mask, boolean, with a causal attn_mask", "key_padding_mask boolean (right-padded), attn_mask=causal",
     {}, {"key_padding_mask": "bool trailing", "mask": "causal float"}),
    ("key_padding_mask hiding a first key, with a causal attn_mask", "key_padding_mask boolean, sample 0's first key "
     "hidden, attn_mask=causal", {}, {"key_padding_mask": "bool", "mask": "causal float"}),
    ("key_padding_mask with a causal attn_mask and is_causal", "key_padding_mask boolean (right-padded), "
     "attn_mask=causal, is_causal=True", {}, {"key_padding_mask": "bool trailing", "mask": "causal float",
                                              "is_causal": True}),
    ("key_padding_mask, float", "key_padding_mask=(B, L) finite float", {}, {"key_padding_mask": "float"}),
    ("key_padding_mask, float with −inf", "key_padding_mask=(B, L) float, −inf where hidden", {},
     {"key_padding_mask": "float −inf"}),
    ("key_padding_mask, float, with an additive attn_mask", "key_padding_mask float, attn_mask=0.25·(i − m)", {},
     {"key_padding_mask": "float", "mask": "additive bias"}),
    ("key_padding_mask, boolean, with an additive attn_mask", "key_padding_mask boolean, attn_mask=0.25·(i − m)", {},
     {"key_padding_mask": "bool", "mask": "additive bias"}),
    ("key_padding_mask, float, with a causal attn_mask", "key_padding_mask finite float, attn_mask=causal", {},
     {"key_padding_mask": "float", "mask": "causal float"}),
    ("key_padding_mask, float, with another pattern", "key_padding_mask finite float, attn_mask=band", {},
     {"key_padding_mask": "float", "mask": "band"}),
    ("need_weights=True (the default)", "m(x, x, x)", {}, {"need_weights": True}),
    ("average_attn_weights", "average_attn_weights=False, need_weights=False", {}, {}),
    ("attn_mask, causal float", "attn_mask=nn.Transformer.generate_square_subsequent_mask(L)", {},
     {"mask": "causal float"}),
    ("attn_mask, causal boolean (True = masked)", "attn_mask=torch.ones(L, L, dtype=bool).triu(1)", {},
     {"mask": "causal bool"}),
    ("attn_mask, 3-D (B·N, L, L)", "attn_mask of shape (B·N, L, L), causal", {}, {"mask": "causal bool 3-D"}),
    ("attn_mask, other pattern", "attn_mask=band, abs(i − m) > 1 masked", {}, {"mask": "band"}),
    ("attn_mask, other pattern per sample and head", "attn_mask (B·N, L, L), a band shifted per sample and head", {},
     {"mask": "band 3-D per sample"}),
    ("attn_mask, other pattern, with key_padding_mask", "attn_mask=band, key_padding_mask boolean", {},
     {"mask": "band", "key_padding_mask": "bool"}),
    ("attn_mask, other pattern, with a key_padding_mask that empties a row", "attn_mask=band, sample 0's last two keys "
     "hidden", {}, {"mask": "band", "key_padding_mask": "bool trailing"}),
    ("attn_mask, additive float (L, L)", "attn_mask=0.25·(i − m)", {}, {"mask": "additive bias"}),
    ("attn_mask, additive float (B·N, L, L)", "attn_mask per head, equal across the batch", {},
     {"mask": "additive bias 3-D"}),
    ("attn_mask, additive float (B·N, L, L) per sample", "attn_mask differing between samples", {},
     {"mask": "additive bias per sample 3-D"}),
    ("attn_mask, additive float with −inf entries", "attn_mask=0.25·(i − m), −inf above the diagonal (ALiBi, "
     "causal)", {}, {"mask": "additive bias and −inf"}),
    ("attn_mask, additive float with −inf entries, (B·N, L, L)", "the same, slopes per sample", {},
     {"mask": "additive bias and −inf 3-D per sample"}),
    ("attn_mask with a fully masked row", "row 1 all True", {}, {"mask": "fully masked row"}),
    ("is_causal=True with the causal attn_mask", "attn_mask=causal, is_causal=True", {},
     {"mask": "causal float", "is_causal": True}),
    ("is_causal=True without attn_mask", "is_causal=True", {}, {"is_causal": True}),
)


def _sdpa_row(kw: dict) -> tuple[str, str]:
    import torch
    heads, kv = kw.get("heads", 2), kw.get("kv", 2)
    d, f64 = HEAD_DIM, torch.float64
    cross = kw.get("cross", False)
    x = torch.zeros(BATCH, LENGTH, heads * d, dtype=f64)
    kv_input = torch.zeros(BATCH, KV_LENGTH, KV_CHANNELS, dtype=f64) if cross else None
    wq = torch.zeros(heads * d, heads * d, dtype=f64)
    wkv = torch.zeros(kv * d, KV_CHANNELS if cross else heads * d, dtype=f64)
    mask = _cross_mask(kw.get("mask", "none"), f64) if cross else sdpa_mask(kw.get("mask", "none"), LENGTH, heads, f64)
    try:
        r = sdpa_route(x, wq, wkv, wkv, num_heads=heads, attn_mask=mask,
                       dropout_p=kw.get("dropout_p", 0.0), is_causal=kw.get("is_causal", False),
                       scale=kw.get("scale"), enable_gqa=kw.get("enable_gqa", False), kv_input=kv_input)
    except ValueError as exc:
        return "refused", str(exc)
    how = f"`{r.operator}`" + (" (H = 1)" if r.operator == "mhsa" else "")
    return "supported", how + (" (the query projection scaled by scale·√d)" if r.query_factor != 1.0 else "")


def _mha_row(module_kw: dict, call: dict) -> tuple[str, str]:
    import torch
    kw = dict(module_kw)
    train = kw.pop("train", False)
    m = torch.nn.MultiheadAttention(4, 2, dtype=torch.float64, **kw).train(train)
    unbatched = call.get("input") == "unbatched"
    q, k, v = _mha_inputs(m, call.get("input", "self"), lambda shape: torch.ones(shape, dtype=torch.float64))
    keys = k.shape[1 if k.dim() == 3 and m.batch_first else 0]
    pad = _padding(call["key_padding_mask"], None if unbatched else BATCH, keys, torch.Generator().manual_seed(0),
                   torch.float64) if call.get("key_padding_mask") else None
    mask = mha_mask(call.get("mask", "none"), LENGTH, 2, 1 if unbatched else BATCH, torch.float64)
    try:
        r = mha_route(m, q, k, v, pad, call.get("need_weights", False), mask, call.get("is_causal", False))
        if not (m.add_zero_attn or m.bias_k is not None):   # (appended keys: the module's checks are mha_route's,
            module_for(m, r)                                  # from_torch refuses the flags)
    except ValueError as exc:
        return "refused", str(exc)
    appended = (m.bias_k is not None) + m.add_zero_attn
    return "supported", f"`{r.operator}`" + (" (H = 1)" if r.operator == "mhsa" else "") + (
        f" over the keys' tokens and {appended} appended token{'s' if appended > 1 else ''} (an indicator channel "
        "each, whose key and value weights make its key and value bias_k and bias_v, or zero)" if appended else "")


def rows() -> list[tuple[str, str, str, str, str]]:
    """(function, argument, example, "supported" or "refused", operator or reason), from the routes themselves."""
    out = [(FUNCTIONS[0], a, ex, *_sdpa_row(kw)) for a, ex, kw in _SDPA_ROWS]
    out += [(FUNCTIONS[1], a, ex, *_mha_row(mkw, ckw)) for a, ex, mkw, ckw in _MHA_ROWS]
    return out


def markdown(tallies: dict) -> str:
    """docs/attention-coverage.md: the argument table (:func:`rows`) and the sweep's counts per function
    (``tallies``: function → :func:`sweep`'s result)."""
    lines = ["# Attention: which PyTorch arguments evosym covers", "",
             "Generated by `tests/test_attention_coverage.py` from `evosym.coverage.attention_sweep` (rerun it with "
             "`EVOSYM_UPDATE_GOLDEN=1` to rewrite this page). Each row is computed by routing an example call: "
             "*supported* names the catalogue operator whose generated module computes it, *refused* gives the "
             "`ValueError`'s message. `F.scaled_dot_product_attention` is taken between the projections of one "
             "input x (B, L, E), `F.linear(x, W, b)` split into heads (keys and values projected from a second "
             "input y (B, S, E_kv) for cross-attention), followed by the output projection "
             "(`evosym.coverage.attention.self_attention`, `kv_input=y`); `nn.MultiheadAttention` through "
             "`evosym.coverage.attention.multihead_attention` and `from_torch`. The generated modules take the "
             "tokens channels first: a (B, L, E) sequence is `x.transpose(1, 2)` for `mhsa_causal`, `gqa_attention` "
             "and `gqa_causal`, and `x.transpose(1, 2).unsqueeze(2)` (an H = 1 image) for `mhsa`; `cross_attention` "
             "takes three: the queries', keys' and values' tokens, `x.transpose(1, 2)`, `k.transpose(1, 2)`, "
             "`v.transpose(1, 2)`, `cross_attention_key_padding` a fourth, the keys each sample sees "
             "(B, S), `cross_attention_masked` a fourth, the keys each query sees (B, N, L, S), and "
             "`cross_attention_masked_bias` a fifth, the bias (B, N, L, S).", "",
             "| function | argument | example | status | operator / reason |", "|---|---|---|---|---|"]
    for fn, argument, example, status, what in rows():
        cells = [c.replace("|", chr(92) + "|") for c in (argument, example, what)]   # a literal | escaped
        lines.append(f"| `{fn}` | {cells[0]} | `{cells[1]}` | {status} | {cells[2]} |")
    lines += ["", "## The sweep", "",
              "Every combination below was run in float64 through both paths of the generated module (`auto` and "
              "`generic`) and compared with PyTorch within a rounding bound; a call is *matched* when both paths "
              "agree with PyTorch, *refused* when evosym raises a `ValueError` (of those, *PyTorch refuses too* "
              "counts the calls PyTorch itself rejects). No call gave a wrong result or another exception. "
              f"Combinations: for SDPA, {len(HEADS)} head layouts (equal heads with and without `enable_gqa`, 4/2 "
              f"and 4/1 grouped, and two PyTorch refuses) × (self-attention × {len(SDPA_MASKS)} masks, and "
              f"cross-attention with keys and values from a second input of {KV_LENGTH} tokens and {KV_CHANNELS} "
              f"channels × {len(CROSS_MASKS)} masks) × "
              "`is_causal`, `scale` and biases alternating, plus `dropout_p > 0` for each; for "
              "`nn.MultiheadAttention`, `batch_first` × `bias` × self / cross (key and value of "
              f"{LENGTH + 1} tokens) / unbatched input × {len(MHA_MASKS)} masks × `is_causal`, plus `add_bias_kv`, "
              "`add_zero_attn` (with `bias=False`), `add_zero_attn` and `add_bias_kv` with non-zero biases, and the "
              f"two together, each on self-attention × {len(ZERO_ATTN_MASKS)} masks, unbatched × 2, "
              f"cross-attention × {len(MHA_CROSS_MASKS) + 1} masks, with a boolean and a float `key_padding_mask`, "
              "with `kdim`/`vdim`, with `is_causal`), "
              "`kdim`/`vdim` (equal and different), dropout in both modes, `key_padding_mask` (boolean, finite "
              "float, finite float with −inf, 0 / −inf, boolean hiding a whole sample; each with no mask, an additive, "
              "a causal and a band attn_mask, and unbatched; boolean with `is_causal`; each on cross-attention too, and "
              "boolean there with `kdim`/`vdim` and `is_causal`), cross-attention masks (the upper-left causal (L, S) "
              "pattern, a float bias, that bias with −inf; each alone, unbatched and with a boolean, a float and a "
              "float-with-−inf `key_padding_mask`; the pattern and the bias with `is_causal`) and "
              "`need_weights=True`.", "",
              "| function | tried | matched | refused | PyTorch refuses too | matched per operator |",
              "|---|---|---|---|---|---|"]
    for fn in FUNCTIONS:
        t = tallies[fn]
        ops = ", ".join(f"`{k}` {v}" for k, v in sorted(t["operators"].items()))
        lines.append(f"| `{fn}` | {t['tried']} | {t['matched']} | {t['refused']} | {t['torch refused']} | {ops} |")
    lines += ["", "## Not represented, and what it would take", "",
              "An Evolution form aggregates one input (the values' tokens) over its positions with a kernel made from "
              "any of the operator's inputs: `cross_attention` has three (queries', keys', values' tokens, with "
              "`kdim` and `vdim` channels), `mhsa_sample_bias` two (the tokens and a finite additive bias per sample "
              "and head: a float `attn_mask` that differs between samples, a float `key_padding_mask` added to it), "
              "`mhsa_key_padding` two (the tokens and the keys each sample sees, V = 1 − key_padding_mask: a "
              "boolean or 0 / −inf `key_padding_mask`, or an SDPA `attn_mask` hiding the same keys from every head and "
              "query of a sample), `mhsa_causal_key_padding` two (the same beside the causal mask: V is then a leading "
              "indicator, its first entry 1 in every sample, so that query 0 sees key 0), "
              "`cross_attention_key_padding` four (cross-attention's three and V (B, S): an "
              "encoder–decoder's `memory_key_padding_mask`), `cross_attention_masked` four (cross-attention's three "
              "and M (B, N, L, S), the keys each query sees: a `memory_mask`, SDPA's `is_causal` over S keys, the "
              "upper-left causal mask, a pattern with a `key_padding_mask`) and `cross_attention_masked_bias` five "
              "(those and a finite bias P (B, N, L, S): a float `memory_mask` with or without −inf, a float "
              "`memory_key_padding_mask`). V is declared an *indicator*, every entry 0 or 1 with a 1 in "
              "every sample: that premise is what the proof's unit-sum step uses (every row's normaliser is positive) "
              "and the generated module checks it on every input, so a `key_padding_mask` that hides every key of a "
              "sample (PyTorch returns zeros or NaN there, by version and path) is refused (with the causal mask: its first "
              "key); "
              "cross-attention with grouped key/value heads (`enable_gqa` with a `kv_input`) is "
              "`gqa_cross_attention` (three inputs), with a mask or `is_causal` `gqa_cross_attention_masked` (M over "
              "the query heads) or `gqa_cross_attention_masked_bias` (M and P); "
              "`add_bias_kv` and `add_zero_attn` append, after the projections, a key and a value that no token "
              "of the input projects to (`bias_k` and `bias_v`; zeros), so over the input alone the weights of its "
              "keys would sum to less than one and the value bias stay in the aggregation: they are taken as "
              "cross-attention over the keys' tokens and one more token per appended key, each with an indicator "
              "channel of its own (1 in it, 0 in the input's channels; the input's tokens 0 in it) whose key and "
              "value weight columns are `bias_k` − b_K and `bias_v` − b_V (the zero key: −b_K and −b_V), so its "
              "key and value are PyTorch's exactly up to one rounding and every gradient is PyTorch's, with every "
              "mask padded by a visible key; with `is_causal` (a hint that `attn_mask` is the causal mask) the mask "
              "PyTorch applies then: SDPA's causal mask over the keys and the appended ones (query i sees keys 0 … i, "
              "so a self-attention's queries never see the appended keys) or, with a `key_padding_mask`, `attn_mask` "
              "padded (the appended keys visible to all); refused with non-finite `bias_k`/`bias_v` "
              "(0·inf in the input's tokens), and by the generated modules' `from_torch` (a module of fixed "
              "channels cannot append tokens: call `multihead_attention`); any other boolean or 0 / −inf pattern "
              "(bands, blocks, per sample and head, with a `key_padding_mask`) is `mhsa_masked`'s input M (B, N, L, L), "
              "the keys each query sees, declared an indicator (a key in every row), and a hard mask together with an "
              "additive bias (a float mask mixing −inf with finite values, a boolean or causal mask beside a float "
              "`key_padding_mask`, a float mask beside a boolean one) is `mhsa_masked_bias`'s two inputs, M and a "
              "finite P (B, N, L, L), the bias on the keys M shows (a finite additive bias alone is "
              "`mhsa_bias`'s parameter P, the same for every sample, or `mhsa_sample_bias`'s input; −inf is not a value "
              "the proof gives a parameter or input: it becomes M = 0); with grouped key/value heads "
              "(`enable_gqa`) the same masks are `gqa_masked`'s M and `gqa_masked_bias`'s M and P over the query "
              "heads; "
              "a fully masked row has no softmax (0/0: PyTorch returns zeros or NaN there, by version and path); "
              "dropout is random. A float32 mask beside float16 or bfloat16 queries (PyTorch adds it in float32) "
              "enters the operators in the queries' dtype: each row shifted by its largest seen entry first (the "
              "softmax ignores that offset, and the differences are rounded as the queries are), an entry more than "
              "2·max + 800 below it hidden (its weight is exactly 0: float32's min as padding beside float16), a "
              "difference beyond the dtype's range refused (so a row whose entries all dwarf the logits, a padded "
              "query row of float32's min, gets the exact softmax of its logits there, where PyTorch's float32 sum "
              "loses them and returns uniform weights); a float16 or bfloat16 mask beside queries of its own dtype "
              "has its rows shifted the same way where the shifted row fits the dtype (else kept as it is where its "
              "largest entry is small, |·| ≤ 64, and refused otherwise: an entry beyond the range below it is not "
              "provably of weight 0), so that "
              "an offset shared by a row (a padded query row of float16's min, where float16's spacing is 32) leaves "
              "the logits their precision on both paths. The causal operators keep the value bias in the value projection, as "
              "`nn.MultiheadAttention` does; the proof moves it out of the sum with the rule `softmax-sums-to-one`, "
              "whose masked form proves that every row's normaliser is positive (a key visible in every row, found "
              "and checked within the summed range: key 0 for the causal mask). Their generated code computes the "
              "masked softmax as torch's softmax of the logits with −∞ where the mask is 0 (the row maximum "
              "subtracted).", "",
              "## Masks and arguments that are checked", "",
              "A mask is taken as PyTorch takes it, and anything PyTorch refuses is refused with an evosym "
              "`ValueError` naming the expected shape or dtype: a boolean mask, or a float mask in float32 or the "
              "query's dtype; for `F.scaled_dot_product_attention` any mask of two or more dimensions that "
              "broadcasts to (batch, heads, L, L); for `nn.MultiheadAttention` exactly (L, L) or (batch·heads, L, L). "
              "A mask on another device, a projection or bias of another dtype, device or shape, an embedding width "
              "that is not heads·d, and a `causal=` that is not a bool are refused, naming the argument and both "
              "sizes (`tests/test_attention_validation.py`).", ""]
    return "\n".join(lines)
