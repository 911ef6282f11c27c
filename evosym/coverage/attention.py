"""Which PyTorch attention calls evosym's generated modules take, and which they refuse, and why.

Two PyTorch entry points are covered, as self-attention of one input x (B, L, E) or cross-attention of x with a
key/value input (B, S, E_kv):

- ``F.scaled_dot_product_attention`` between the projections q = ``F.linear(x, W, b)``, k, v = ``F.linear`` of x
  or of the key/value input, split into heads, followed by the output projection (:func:`self_attention`): what
  an attention block computes;
- ``nn.MultiheadAttention`` (:func:`multihead_attention`, :func:`from_torch`), ``m(query, key, value)`` with any
  ``kdim`` and ``vdim``.

:func:`route` maps the arguments onto the one catalogue operator that computes them (``mhsa`` on the
sequence as an H = 1 image, ``mhsa_causal``, ``gqa_attention``, ``gqa_causal``, ``mhsa_bias``, and
``cross_attention``, whose three inputs are the queries', keys' and values' tokens, ``mhsa_sample_bias``, whose
second input is an additive bias per sample, ``mhsa_key_padding``, whose second input is the keys each sample
sees: a boolean key_padding_mask negated, ``mhsa_causal_key_padding``, the same beside the causal mask (the first key
of every sample seen), ``mhsa_masked``, whose second input is the keys each query sees (any boolean attn_mask
pattern, per sample and head, with a key in every row), ``mhsa_masked_bias``, the same with an additive bias per
sample and head as a third input (a float mask mixing −inf with finite values, or a hard mask beside a float one),
``cross_attention_key_padding``, cross_attention with those keys as a fourth input, ``cross_attention_masked``, with
the keys each query sees (B, N, L, S), ``cross_attention_masked_bias``, with those and a bias (B, N, L, S),
``gqa_masked`` and ``gqa_masked_bias``, grouped key/value heads with those masks over the query heads, and
``gqa_cross_attention`` (with ``_masked`` and ``_masked_bias``), grouped key/value heads on cross-attention), or
raises
:class:`AttentionRefused` (an :class:`~evosym.errors.EvosymError` and a :class:`ValueError`) that names the
argument and says why no operator represents it. Arguments are checked before anything runs, so a malformed
one is such an error too, never a raw torch error: an attn_mask is taken exactly as PyTorch takes it
(:func:`checked_mask`: boolean, or float32 / the query's dtype, on the query's device; SDPA: any shape that
broadcasts to the logits; nn.MultiheadAttention: (L, L) or (batch·heads, L, L)), the projections' shapes,
dtypes and devices must agree with x (and E with num_heads·d: the operators keep the width), and from_torch's
``causal`` must be a bool and its ``bias`` a finite float table (heads, L, L) or (L, L). ``scale=`` is
taken by scaling the query projection by scale·√d (the operators scale the logits by 1/√d: the two
are the same logits). :mod:`evosym.coverage.attention_sweep` compares the generated modules (both
paths) with PyTorch over argument combinations and writes the table of ``docs/attention-coverage.md``
(``tests/test_attention_coverage.py`` checks the page and runs the sweep).

What is refused, and what representing it would take (an Evolution form aggregates one input, the values'
tokens, over its positions, with a kernel made from any of the operator's inputs):

- a key_padding_mask that hides every key of a sample (0/0 rows: PyTorch returns NaN or zeros), or, beside the causal
  mask, its first key (query 0 then sees none: mhsa_causal_key_padding needs right padding) (a boolean or 0/−inf
  key_padding_mask alone is ``mhsa_key_padding``: its visible-key input is declared an indicator, a 1 in every
  sample, the premise the proof's unit-sum step uses and the generated module checks; a finite float
  key_padding_mask, or a float attn_mask that differs per sample, is ``mhsa_sample_bias``'s input: an additive bias
  per sample and head; a mask that hides keys beside one that adds a bias, or a float mask that does both, is
  ``mhsa_masked_bias``: its mask input is an indicator, a key in every row, and its bias input finite);
- cross-attention with grouped key/value heads (no operator combines them; any mask, bias and is_causal on
  cross-attention is cross_attention_key_padding, cross_attention_masked or cross_attention_masked_bias);
- add_bias_kv or add_zero_attn with is_causal=True (PyTorch then hides the appended keys from every query, or shows
  them to all with a key_padding_mask); a non-finite bias_k − b_K or bias_v − b_V (with add_bias_kv, or
  add_zero_attn, evosym computes cross-attention over the keys' tokens and one token per appended key, each with an
  indicator channel of its own whose key and value weights are bias_k − b_K and bias_v − b_V (the zero key: −b_K and
  −b_V), which the tokens' zero in that channel multiplies: an infinite weight would make their keys NaN);
- a fully masked query row: the softmax is 0/0 there (PyTorch 2.13 returns zeros, earlier versions
  NaN), so no softmax kernel equals it;
- dropout_p > 0 (or a module's dropout in training mode): random, not a function of the input;
- need_weights=True: the weights are an intermediate of the kernel, not an output of the module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import EvosymError
from .modules import generated, module_class

FUNCTIONS = ("F.scaled_dot_product_attention", "nn.MultiheadAttention")

KEY_PADDING_FIRST_REASON = (
    "a key padding mask (a key_padding_mask, or an attn_mask hiding keys per sample) that hides the first key of "
    "sample {sample} together with the causal mask is not supported: "
    "query 0 then sees no key, a 0/0 softmax (PyTorch returns zeros or NaN there, by version and path); mhsa_causal_key_padding's proof needs the "
    "first key of every sample visible (padding at the end, as a decoder's right-padded sequences have)")
KEY_PADDING_EMPTY_REASON = (
    "key_padding_mask hides every key of {sample}: the softmax there is 0/0 (PyTorch returns zeros or NaN there, by version and path), and "
    "the proofs of the key padding operators (mhsa_key_padding, mhsa_causal_key_padding, "
    "cross_attention_key_padding) need a visible key in every sample; drop that sample or leave one of its keys "
    "visible")
NEED_WEIGHTS_REASON = (
    "need_weights=True is not supported: the attention weights are an intermediate of the proved kernel, not an "
    "output of the generated module, which returns y only; pass need_weights=False (the call then returns "
    "(y, None), as PyTorch does)")
DROPOUT_REASON = (
    "dropout_p={p!r} is not supported: dropout zeroes attention weights at random, so the output is not a function "
    "of the input and no Evolution kernel equals it; pass dropout_p=0.0 (what an eval-mode module does)")
FULL_ROW_REASON = (
    "attn_mask masks every key of query row {row}{where}: the softmax there is 0/0 (PyTorch returns zeros or NaN there, by version and path), "
    "which no softmax kernel equals; evosym refuses such masks")
CAUSAL_PAIR_REASON = (
    "is_causal=True with an attn_mask is not taken: PyTorch documents the pair as an error (some of its backends "
    "combine them, others refuse); pass one of them, the causal mask folded into attn_mask")
GQA_BIAS_REASON = (
    "mask='bias' with fewer key/value heads is not a route: grouped heads with an attn_mask are gqa_masked or "
    "gqa_masked_bias, whose tables sdpa_route builds (mhsa_bias has N key/value heads)")


# the operators whose second input is the route's tensor (a bias per sample, the keys each sample sees)
SECOND_INPUT = ("mhsa_sample_bias", "mhsa_key_padding", "mhsa_causal_key_padding", "mhsa_masked", "gqa_masked")


class AttentionRefused(EvosymError, ValueError):
    """A PyTorch attention call (or argument) evosym does not take, with the reason: an evosym error (one clear
    line for the user) and a ValueError (what PyTorch-style callers catch)."""


@dataclass(frozen=True)
class Route:
    """The catalogue operator that computes a call, its keyword sizes, and the factor of the query projection."""

    operator: str
    sizes: dict = field(hash=False)
    query_factor: float = 1.0
    bias: object = field(default=None, hash=False, compare=False)   # mhsa_bias's P (N, L, L), from a float mask;
    # mhsa_sample_bias's and mhsa_masked_bias's P (B, N, L, L); mhsa_key_padding's visible keys V (B, L)
    allowed: object = field(default=None, hash=False, compare=False)   # mhsa_masked_bias's M (B, N, L, L)


def _int(name: str, value, low: int = 1) -> int:
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= low):
        raise AttentionRefused(f"{name} must be an int ≥ {low}, not {value!r}")
    return value


def checked_mask(mask, query, logits: tuple, *, module: bool = False):
    """``mask`` if PyTorch takes it as the attn_mask of queries ``query`` (their dtype and device), else an
    :class:`AttentionRefused` saying what was expected. ``logits``: the attention logits' shape, (batch, heads,
    L, L), or (heads, L, L) for an unbatched input. PyTorch's rules: a boolean mask, or a floating-point one in
    float32 or the query's dtype, on the query's device (evosym reads the mask's values, so another device is
    refused even where PyTorch happens to take it); F.scaled_dot_product_attention: 2 or more dimensions that
    broadcast to ``logits`` (the mask is returned broadcast to it); nn.MultiheadAttention (``module``): (L, L),
    or (batch·heads, L, L) ((heads, L, L) unbatched), returned as given."""
    import torch
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor):
        raise AttentionRefused(f"attn_mask must be a tensor or None, not {type(mask).__name__}")
    if mask.layout != torch.strided:
        raise AttentionRefused(f"attn_mask must be a dense tensor, not {mask.layout}: pass attn_mask.to_dense()")
    if mask.device != query.device:
        raise AttentionRefused(f"attn_mask is on {mask.device} but the query on {query.device}: the mask must be on "
                               "the query's device")
    name = {t: str(t).replace("torch.", "") for t in (mask.dtype, query.dtype)}
    if not (mask.dtype == torch.bool or (mask.is_floating_point() and mask.dtype in (torch.float32, query.dtype))):
        raise AttentionRefused(f"attn_mask must be boolean or floating point in float32 or the query's dtype "
                               f"{name[query.dtype]} (what PyTorch takes), not {name[mask.dtype]}")
    shape, queries, length = tuple(mask.shape), logits[-2], logits[-1]
    if module:
        rows = logits[0] * logits[1] if len(logits) == 4 else logits[0]
        if shape not in ((queries, length), (rows, queries, length)):
            what = "batch·heads" if len(logits) == 4 else "heads"
            ls = "L, L" if queries == length else "L, S"
            raise AttentionRefused(f"nn.MultiheadAttention's attn_mask must have shape ({ls}) = ({queries}, {length}) "
                                   f"or ({what}, {ls}) = ({rows}, {queries}, {length}), not {shape} (PyTorch refuses "
                                   "it too)")
        return mask
    if not (2 <= len(shape) <= len(logits) and all(n in (1, m) for n, m in zip(shape[::-1], logits[::-1]))):
        raise AttentionRefused(f"attn_mask of shape {shape} does not broadcast to the attention logits' shape "
                               f"{tuple(logits)} ({'batch, ' if len(logits) == 4 else ''}heads, queries, keys): it "
                               "needs 2 or more dimensions, each 1 or the logits' length (PyTorch refuses it too)")
    return mask.expand(logits)


def _where(t) -> str:
    return f"{str(t.dtype).replace('torch.', '')} on {t.device}"


def _tensor_like(name: str, t, x, shape: tuple, what: str):
    """A parameter ``t`` of shape ``shape`` in x's dtype and on x's device, or an AttentionRefused naming it."""
    import torch
    if not isinstance(t, torch.Tensor):
        raise AttentionRefused(f"{name} must be a tensor, not {type(t).__name__}")
    if tuple(t.shape) != tuple(shape):
        raise AttentionRefused(f"{name} must have shape {tuple(shape)} ({what}), not {tuple(t.shape)}")
    if t.dtype != x.dtype or t.device != x.device:
        raise AttentionRefused(f"{name} is {_where(t)} but x is {_where(x)}: a dtype or device mismatch (PyTorch "
                               "refuses it too)")


def float_mask(mask, name: str):
    """A float mask read as PyTorch adds it to the logits: "none" (every entry 0), "bias" (every entry finite, some
    not 0, or all 0 with requires_grad: an additive bias, differentiated), "mixed" (−inf beside finite non-zero
    entries, or a 0/−inf mask that requires grad: a hard mask and a bias at once, mhsa_masked_bias), else the entries
    it allows, a boolean tensor (the finite ones: −inf hides). An AttentionRefused for NaN or +inf (no softmax)."""
    import torch
    if bool(torch.isnan(mask).any()) or bool((mask == float("inf")).any()):
        raise AttentionRefused(f"a float {name} with NaN or +inf entries has no softmax")
    finite = torch.isfinite(mask)
    if bool(finite.all()):   # (a zero mask that requires grad is a bias: PyTorch differentiates it)
        return "bias" if mask.requires_grad or bool((mask != 0).any()) else "none"
    if mask.requires_grad or bool(((mask != 0) & finite).any()):   # (read as a pattern, it would get no gradient)
        return "mixed"
    return finite


def _refuse_empty_rows(seen, beside: str = ""):
    """An AttentionRefused (:data:`FULL_ROW_REASON`) for the first query row of ``seen`` (…, queries, keys: True or
    non-zero where a key is seen) that sees no key, with its index in the leading axes; ``beside``: what else hid
    keys (" with the key_padding_mask"). Nothing when every row sees a key."""
    empty = (~(seen != 0).any(-1)).nonzero()
    if len(empty):
        *lead, row = (int(v) for v in empty[0])
        where = f" (at index {tuple(lead)} of the mask's leading axes {tuple(seen.shape[:-2])})" if lead else ""
        raise AttentionRefused(FULL_ROW_REASON.format(row=row, where=beside + where))


def mask_kind(mask, length: int, *, true_masks: bool, keys: int | None = None) -> str:
    """How an attn_mask (…, L, S) broadcast over batch and heads acts on the logits: "none" (no mask, or every key
    allowed and nothing added), "causal" (key m allowed for query i exactly when m ≤ i: the upper-left causal mask),
    "bias" (a float mask with finite entries, not all 0: an additive bias), "pattern" (any other boolean or 0/−inf
    mask) or "masked_bias" (a float mask mixing −inf with finite non-zero entries): what :func:`masked_bias_tables`
    turns into an operator's inputs. An AttentionRefused saying why for a mask with no softmax: a query row that sees
    no key, NaN or +inf. ``true_masks``: a boolean True means "masked" (nn.MultiheadAttention) rather than "allowed"
    (SDPA); ``keys``: S, the number of keys (cross-attention), L by default."""
    import torch
    keys = length if keys is None else keys
    if mask is None:
        return "none"
    if not isinstance(mask, torch.Tensor):
        raise AttentionRefused(f"attn_mask must be a tensor or None, not {type(mask).__name__}")
    if mask.dim() < 2 or tuple(mask.shape[-2:]) != (length, keys):
        raise AttentionRefused(f"attn_mask must end in ({length}, {keys}) (queries × keys), not shape "
                               f"{tuple(mask.shape)}")
    if mask.dtype == torch.bool:
        allowed = ~mask if true_masks else mask
    elif mask.is_floating_point():
        allowed = float_mask(mask, "attn_mask")
        if isinstance(allowed, str) and allowed != "mixed":
            return allowed
    else:
        raise AttentionRefused(f"attn_mask must be boolean or floating point, not {mask.dtype}")
    if isinstance(allowed, str):   # a hard mask and a bias: every row must see a key
        _refuse_empty_rows(torch.isfinite(mask))
        return "masked_bias"
    _refuse_empty_rows(allowed)
    rows = allowed.reshape(-1, length, keys)
    if bool(rows.all()):
        return "none"
    causal = torch.ones(length, keys, dtype=torch.bool, device=mask.device).tril()
    return "causal" if bool((rows == causal).all()) else "pattern"


def _logit_rows(t, heads: int, length: int, batch: int | None, *, module: bool, keys: int | None = None):
    """A tensor laid out as an attn_mask, as a view (batch, heads, L, S) ((heads, L, S) unbatched, ``batch`` None; S
    the keys, L by default): nn.MultiheadAttention's (batch·heads, L, S) (``module``) split, any broadcast expanded
    (no copy)."""
    keys = length if keys is None else keys
    if module and t.dim() == 3 and batch is not None:
        t = t.reshape(batch, heads, length, keys)
    return t.expand((heads, length, keys) if batch is None else (batch, heads, length, keys))


def masked_bias_tables(mask, kind: str, heads: int, length: int, *, module: bool, batch: int | None, dtype,
                       keep=None, padding=None, keys: int | None = None, device=None):
    """mhsa_masked_bias's inputs (M, P) in ``dtype``, each (batch, heads, L, L) ((heads, L, L) unbatched, ``batch``
    None): M the keys each query sees, P the bias on their logits, from an attn_mask read as ``kind`` (:func:`mask_kind`:
    "causal", "pattern" hide keys, "bias" adds, "masked_bias" both: −inf hides, the finite entries add; laid out as
    SDPA's, broadcast to the logits, or nn.MultiheadAttention's, ``module``) and a key_padding_mask's visible keys
    ``keep`` and bias ``padding`` ((batch, L); (1, L) unbatched); cross-attention: ``keys`` S ≠ L, the tables
    (batch, heads, L, S), "causal" the upper-left causal mask (query i sees keys 0 … i). An AttentionRefused for a
    query row that sees no key."""
    import torch
    keys = length if keys is None else keys
    device = next((t.device for t in (mask, keep, padding) if t is not None), device)
    seen = torch.ones((), dtype=torch.bool, device=device)
    if kind == "causal":
        seen = torch.ones(length, keys, dtype=torch.bool, device=device).tril()
    elif kind in ("pattern", "masked_bias"):
        seen = _logit_rows((mask != module) if mask.dtype == torch.bool else torch.isfinite(mask), heads, length,
                           batch, module=module, keys=keys)
    if keep is not None:
        seen = seen & (keep[0] if batch is None else keep)[..., None, None, :].bool()
    # the additive masks summed as PyTorch sums them (in their own dtypes, −inf kept: a sum that overflows hides too)
    terms = [_logit_rows(mask, heads, length, batch, module=module, keys=keys)] if kind in ("bias", "masked_bias") else []
    if padding is not None:
        terms.append((padding[0] if batch is None else padding)[..., None, None, :])
    bias = terms[0] if len(terms) == 1 else terms[0] + terms[1] if terms else torch.zeros((), dtype=dtype, device=device)
    if bool((torch.isnan(bias) | (bias == float("inf"))).any()):
        raise AttentionRefused("the additive masks (attn_mask plus key_padding_mask, summed in their dtype as PyTorch "
                               "sums them) reach +inf or NaN at some entry: the softmax there has no value (PyTorch "
                               "returns NaN); keep the masks' sum within the dtype's range")
    finite = torch.isfinite(bias)
    seen = _logit_rows(seen & finite, heads, length, batch, module=False, keys=keys)
    if not bool(finite.all()):   # (kept a view otherwise: a broadcast bias stays one stored table)
        bias = bias.masked_fill(~finite, 0)   # hidden entries: any finite value (0) leaves the output as it is
    if bias.dtype != dtype and torch.finfo(dtype).max < torch.finfo(bias.dtype).max:
        seen, bias = _narrowed(seen, bias, dtype)
    elif bias.dtype == dtype and torch.finfo(dtype).bits == 16:
        bias = _shifted_rows(seen, bias)
    _refuse_empty_rows(seen, " with the key_padding_mask" if keep is not None or padding is not None else "")
    return seen.to(dtype), _logit_rows(_in_dtype(bias, dtype), heads, length, batch, module=False, keys=keys)


def _narrowed(seen, bias, dtype):
    """(seen, bias) for an additive mask wider than the queries' ``dtype`` (a float32 mask beside float16 or bfloat16
    queries, which PyTorch adds to the logits in float32), the bias in ``dtype``: each row shifted by its largest seen
    entry first (the softmax ignores an offset per row, so only the differences within a row reach the output, and
    those are what the narrower dtype must hold, each rounded to it as the queries are: a mask 2048 + k keeps its
    differences only so), a key hidden whose entry lies more than 2·max + 800 below that largest one (its weight is
    exactly 0 whatever the logits, which differ by at most 2·max in that dtype: float32's min as padding beside
    float16); an AttentionRefused where a seen entry's shifted value overflows the dtype. The shift and the tests run
    in float64 (float32 cannot hold 2·max for bfloat16); the row maximum is a constant of the gradient (softmax's
    gradient is the same for the shifted mask)."""
    import torch
    finfo = torch.finfo(dtype)
    wide = bias.double()
    top = torch.where(seen, wide, float("-inf")).amax(-1, keepdim=True).detach()
    seen = seen & ~(wide < top - (2 * finfo.max + 800))
    shifted = torch.where(seen, wide - top, 0)
    narrow = shifted.to(dtype)
    bad = seen & ~torch.isfinite(narrow)
    if bool(bad.any()):
        at = tuple(int(v) for v in bad.nonzero()[0])
        name, wide_name = str(dtype).replace("torch.", ""), str(bias.dtype).replace("torch.", "")
        raise AttentionRefused(
            f"an additive mask entry at {at} is {float(shifted[at]):.9g} after subtracting its row's largest seen "
            f"entry (the softmax ignores an offset per row), beyond the range of the queries' dtype {name}, where "
            f"PyTorch adds the {wide_name} mask in {wide_name}; evosym's attention operators take the bias in the "
            f"queries' dtype: pass the queries in {wide_name}, or hide that key (−inf, or a boolean mask)")
    return seen, narrow


def _shifted_rows(seen, bias):
    """A float16 or bfloat16 additive mask in its own dtype with each row shifted by its largest seen entry, where
    the shifted row fits the dtype. PyTorch adds such a mask to the logits in float32; the operators add it in the
    queries' dtype, where a large offset shared by a row (a padded query row of float16's min) would leave the logits
    nothing of their precision (float16's spacing at 65504 is 32). The softmax ignores an offset per row, and an entry
    within a factor 2 of its row's largest is shifted exactly, so the weights that count keep the logits' precision;
    the offset is a constant of the gradient. A row that does not fit shifted (an entry more than the dtype's range
    below its largest) is kept as it is where its largest entry is small (|top| ≤ 64: little precision lost), else
    refused: such an entry's weight is not provably 0 (the logits may differ by up to twice the range)."""
    import torch
    wide = bias.double()
    top = torch.where(seen, wide, float("-inf")).amax(-1, keepdim=True).detach()
    narrow = torch.where(seen, wide - top, 0).to(bias.dtype)
    fits = (torch.isfinite(narrow) | ~seen).all(-1, keepdim=True)
    bad = seen & ~torch.isfinite(narrow) & (top.abs() > 64)
    if bool(bad.any()):
        at = tuple(int(v) for v in bad.nonzero()[0])
        name = str(bias.dtype).replace("torch.", "")
        raise AttentionRefused(
            f"an additive {name} mask entry at {at} lies {float(top[at[:-1]][0] - wide[at]):.6g} below its row's largest "
            f"seen entry ({float(top[at[:-1]][0]):.6g}), beyond {name}'s range: the operators add the mask in the "
            f"queries' dtype, relative to each row's largest entry (PyTorch adds it in float32), and this entry's weight "
            "is not provably 0 there; hide that key (−inf, or a boolean mask)")
    return torch.where(fits, narrow, bias)


def _in_dtype(t, dtype):
    """The additive mask ``t`` (finite) in the queries' ``dtype``, or an AttentionRefused where an entry overflows it
    (PyTorch adds a float32 mask to float16 logits in float32: evosym's operators take the bias in the queries' dtype)."""
    import torch
    out = t.to(dtype)
    if out.dtype != t.dtype and not bool(torch.isfinite(out).all()) and bool(torch.isfinite(t).all()):
        raise AttentionRefused(f"an additive mask entry of magnitude {float(t.abs().max()):.3g} overflows the queries' "
                               f"dtype {str(dtype).replace('torch.', '')}: evosym's attention operators take the bias in "
                               "the queries' dtype; pass the queries in float32, or a mask within that dtype's range")
    return out


def sample_keys(mask):
    """The keys each sample sees, V (batch, keys) (or (keys,) unbatched) as 0/1, for an SDPA attn_mask (broadcast to
    the logits) that hides the same keys from every head and query of a sample and hides some key: boolean (True =
    allowed) or float with 0 and −inf only; None for any other mask, and for one that hides every key of a sample
    (left to :func:`mask_kind`, which refuses such rows); :func:`float_mask`'s refusals for a float one."""
    import torch
    if mask is None:
        return None
    allowed = mask if mask.dtype == torch.bool else float_mask(mask, "attn_mask")
    if isinstance(allowed, str):
        return None
    if bool(allowed.all()):
        return None
    first = allowed[..., :1, :1, :] if allowed.dim() == 4 else allowed[:1, :1, :]
    if not bool((allowed == first).all()) or not bool(first.any(-1).all()):
        return None   # rows that differ within a sample, or a sample with every key hidden: mask_kind says why
    return first.reshape(-1, allowed.shape[-1]) if allowed.dim() == 4 else first.reshape(allowed.shape[-1])


def causal_sample_keys(mask, length: int):
    """The keys each sample sees, V (batch, keys) (or (keys,) unbatched) as 0/1, for an SDPA attn_mask (broadcast to
    the logits) that is the causal mask and hides the same further keys from every head of a sample: allowed[b, h,
    i, m] = [m ≤ i]·V[b, m] with some key hidden beyond the causal ones; None for any other mask (the last query row
    sees every key the causal mask shows, so V is read there)."""
    import torch
    if mask is None or mask.dim() < 3:   # a 2-D mask is the same for every sample: no keys hidden per sample
        return None
    allowed = mask if mask.dtype == torch.bool else float_mask(mask, "attn_mask")
    if isinstance(allowed, str):
        return None
    last = allowed[..., :1, -1:, :] if allowed.dim() == 4 else allowed[:1, -1:, :]
    causal = torch.ones(length, length, dtype=torch.bool, device=mask.device).tril()
    if bool(last.all()) or not bool((allowed == (last & causal)).all()):
        return None
    return last.reshape(-1, length) if allowed.dim() == 4 else last.reshape(length)


def bias_route_table(table, batch: int | None):
    """mhsa_bias's P (heads, L, L) or mhsa_sample_bias's input (batch, heads, L, L), from the bias table of
    :func:`masked_bias_tables` (``batch`` None: an unbatched call, one table)."""
    return table.contiguous() if batch is None else _shared_or_per_sample(table)


def _shared_or_per_sample(rows):
    """(heads, L, L) when the bias table ``rows`` (batch, heads, L, L) is one table for every sample, else ``rows``.
    A table that requires grad is collapsed only where its batch axis is broadcast (one stored table): equal tables
    of different samples are different entries, each with its own gradient (PyTorch's)."""
    shared = rows.shape[0] == 1 or rows.stride(0) == 0 or (not rows.requires_grad and bool((rows == rows[:1]).all()))
    return rows[0].contiguous() if shared else rows


def route(*, heads: int, kv_heads: int, head_dim: int, length: int, mask: str = "none", is_causal: bool = False,
          dropout_p=0.0, scale=None, enable_gqa: bool = False, bias=None, allowed=None) -> Route:
    """The operator and sizes for self-attention with these arguments (``mask``: from :func:`mask_kind`; ``bias``
    its table, ``allowed`` mhsa_masked_bias's M beside it)."""
    _int("heads", heads), _int("kv_heads", kv_heads), _int("head_dim", head_dim), _int("length", length)
    for name, flag in (("is_causal", is_causal), ("enable_gqa", enable_gqa)):
        if not isinstance(flag, bool):
            raise AttentionRefused(f"{name} must be True or False, not {flag!r}")
    if not isinstance(dropout_p, (int, float)) or isinstance(dropout_p, bool) or not 0 <= dropout_p <= 1:
        raise AttentionRefused(f"dropout_p must be a number in [0, 1], not {dropout_p!r}")
    if dropout_p > 0:
        raise AttentionRefused(DROPOUT_REASON.format(p=dropout_p))
    if mask not in ("none", "causal", "bias", "pattern", "masked_bias"):
        raise AttentionRefused(f"mask must be 'none', 'causal', 'bias', 'pattern' or 'masked_bias' (what mask_kind "
                               f"reads off an attn_mask), not {mask!r}")
    if is_causal and mask != "none":
        raise AttentionRefused(CAUSAL_PAIR_REASON + "; only a mask that allows every key, which changes nothing, is "
                               "taken with it")
    factor = 1.0
    if scale is not None:
        if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not math.isfinite(scale):
            raise AttentionRefused(f"scale must be a finite number or None, not {scale!r}")
        factor = float(scale) * math.sqrt(head_dim)   # scale·(q·k) = (1/√d)·((scale·√d)·q)·k
    causal = is_causal or mask == "causal"
    if mask == "masked_bias":   # a hard mask and an additive bias: both inputs
        if bias is None or allowed is None:
            raise AttentionRefused("mask='masked_bias' needs the bias and the keys each query sees (bias=, allowed=, "
                                   "from masked_bias_tables)")
        if kv_heads != heads:
            raise AttentionRefused(f"mask='masked_bias' with {kv_heads} key/value heads for {heads} query heads is not "
                                   "a route: mhsa_masked_bias has as many key/value heads as query heads (grouped "
                                   "heads with a mask are gqa_masked_bias, whose tables sdpa_route builds)")
        return Route("mhsa_masked_bias", {"N": heads, "d": head_dim}, factor, bias, allowed)
    if mask == "pattern":   # any boolean pattern with a key in every row: the keys each query sees, an input
        if bias is None:
            raise AttentionRefused("mask='pattern' needs the keys each query sees (bias=, from masked_bias_tables)")
        if kv_heads != heads:
            raise AttentionRefused(f"mask='pattern' with {kv_heads} key/value heads for {heads} query heads is not a "
                                   "route: mhsa_masked has as many key/value heads as query heads (grouped heads with a "
                                   "mask are gqa_masked, whose table sdpa_route builds)")
        return Route("mhsa_masked", {"N": heads, "d": head_dim}, factor, bias)
    if mask == "bias":
        if bias is None:
            raise AttentionRefused("mask='bias' needs the bias table (bias=, from masked_bias_tables and bias_route_table)")
        if kv_heads != heads:
            raise AttentionRefused(GQA_BIAS_REASON if enable_gqa else f"{kv_heads} key/value heads for {heads} query heads "
                             "need enable_gqa=True (PyTorch refuses this too)")
        if bias.dim() == 4:   # one table per sample: an input of its own
            return Route("mhsa_sample_bias", {"N": heads, "d": head_dim}, factor, bias)
        return Route("mhsa_bias", {"N": heads, "d": head_dim, "L": length}, factor, bias)
    if kv_heads != heads:
        if not enable_gqa:
            raise AttentionRefused(f"{kv_heads} key/value heads for {heads} query heads need enable_gqa=True (PyTorch "
                             "refuses this too)")
        if heads % kv_heads:
            raise AttentionRefused(f"enable_gqa=True needs the query heads ({heads}) to be a multiple of the key/value "
                             f"heads ({kv_heads}) (PyTorch refuses this too)")
        sizes = {"N_kv": kv_heads, "G": heads // kv_heads, "d": head_dim}
        return Route("gqa_causal" if causal else "gqa_attention", sizes, factor)
    return Route("mhsa_causal" if causal else "mhsa", {"N": heads, "d": head_dim}, factor)


def _run(r: Route, x, weights, path, kv=None, value=None):
    """The routed generated functional form on x (…, L, E) (and cross_attention's key input kv (…, S, E_k), its value
    input ``value`` (…, S, E_v), kv where None): tokens channels first, mhsa on an H = 1 image; the route's tables in
    x's dtype and on its device."""
    if path not in ("auto", "generic", "kernels"):
        raise AttentionRefused(f"path must be 'auto', 'generic' or 'kernels', not {path!r}")
    try:
        return _call(r, x, weights, path, kv, value)
    except AttentionRefused:
        raise
    except (ValueError, EvosymError) as exc:   # the generated module's refusal (no kernels for it, a premise): as ours
        raise AttentionRefused(str(exc)) from exc


def _call(r: Route, x, weights, path, kv, value):
    """:func:`_run` once its path is known."""
    wq, bq = weights[0], weights[1]
    if r.query_factor != 1.0:
        wq, bq = wq * r.query_factor, bq * r.query_factor

    def cast(t):
        return _in_dtype(t.to(device=x.device), x.dtype)
    tensors = [wq, bq] + list(weights[2:]) + ([cast(r.bias)] if r.operator == "mhsa_bias" else [])
    fn = getattr(generated(r.operator), f"{r.operator}_evolution")
    xc = x.transpose(-1, -2)
    if r.operator in ("mhsa_masked_bias", "gqa_masked_bias"):   # the keys each query sees, then the bias
        y = fn(xc, cast(r.allowed), cast(r.bias), *tensors, **r.sizes, path=path)
    elif r.operator in SECOND_INPUT:   # the route's tensor is the second input
        y = fn(xc, cast(r.bias), *tensors, **r.sizes, path=path)
    elif "cross_attention" in r.operator:   # the masks after the three token inputs: M (or V), then P
        masks = (r.allowed, r.bias) if r.operator.endswith("masked_bias") else () \
            if r.operator in ("cross_attention", "gqa_cross_attention") else (r.bias,)
        y = fn(xc, kv.transpose(-1, -2), (kv if value is None else value).transpose(-1, -2),
               *(cast(t) for t in masks), *tensors, **r.sizes, path=path)
    elif r.operator == "mhsa":
        y = fn(xc.unsqueeze(-2), *tensors, **r.sizes, path=path).squeeze(-2)
    else:
        y = fn(xc, *tensors, **r.sizes, path=path)
    return y.transpose(-1, -2)


def _dense(**tensors) -> None:
    """An AttentionRefused for a nested or sparse tensor among ``tensors`` (the routes read their shapes)."""
    import torch
    for name, t in tensors.items():
        if isinstance(t, torch.Tensor) and (t.is_nested or t.layout != torch.strided):
            raise AttentionRefused(f"{name} must be a dense tensor, not a {'nested' if t.is_nested else str(t.layout)} "
                                   "one: pass padded sequences with a key_padding_mask (nested tensors: "
                                   "t.to_padded_tensor(0.0)) or t.to_dense()")


def sdpa_route(x, q_weight, k_weight, v_weight, *, num_heads, attn_mask=None, dropout_p=0.0, is_causal=False,
               scale=None, enable_gqa=False, kv_input=None) -> Route:
    """The route of :func:`self_attention`'s arguments (the shapes give the heads), or a ValueError saying why."""
    import torch
    _dense(x=x, kv_input=kv_input)
    if not isinstance(x, torch.Tensor) or x.dim() not in (2, 3):
        raise AttentionRefused(f"x must be a (B, L, E) or (L, E) tensor, not {getattr(x, 'shape', type(x).__name__)}")
    if isinstance(kv_input, torch.Tensor) and (kv_input.dtype != x.dtype or kv_input.device != x.device):
        raise AttentionRefused(f"the keys' and values' input is {_where(kv_input)} but x is {_where(x)}: a dtype or "
                               "device mismatch (PyTorch refuses it too)")
    cross = kv_input is not None and kv_input is not x
    if cross:
        if not isinstance(kv_input, torch.Tensor) or kv_input.dim() != x.dim() or kv_input.shape[:-2] != x.shape[:-2] \
                or min(kv_input.shape[-2:]) < 1:
            raise AttentionRefused(f"kv_input must be a (B, S, E_kv) tensor with x's batch ({tuple(x.shape[:-2])}), "
                                   f"or (S, E_kv) when x is unbatched, S and E_kv ≥ 1, not "
                                   f"{getattr(kv_input, 'shape', type(kv_input).__name__)}")
    source = kv_input if cross else x
    _int("num_heads", num_heads)
    for name, w in (("q_weight", q_weight), ("k_weight", k_weight), ("v_weight", v_weight)):
        if not isinstance(w, torch.Tensor) or w.dim() != 2 or w.shape[0] < 1:
            raise AttentionRefused(f"{name} must be a 2-D tensor (outputs, E), not "
                                   f"{getattr(w, 'shape', type(w).__name__)}")
        inputs = source if name != "q_weight" else x
        _tensor_like(name, w, x, (w.shape[0], inputs.shape[-1]),
                     f"its inputs are {'x' if inputs is x else 'kv_input'}'s {inputs.shape[-1]} channels")
    e, width = q_weight.shape[0], x.shape[-1]
    if e % num_heads:
        raise AttentionRefused(f"the query projection's {e} outputs are not a multiple of num_heads={num_heads}")
    d = e // num_heads
    if e != width:
        raise AttentionRefused(f"the query projection maps E = {width} channels to num_heads·d = {num_heads}·{d} = "
                               f"{e}: evosym's attention operators keep the width (E = num_heads·d, their "
                               f"projections are square), so E = {width} and num_heads·d = {e} must be equal")
    if k_weight.shape[0] % d or v_weight.shape != k_weight.shape:
        raise AttentionRefused(f"the key/value projections must have the same shape with a multiple of d={d} "
                               f"outputs, not {tuple(k_weight.shape)} and {tuple(v_weight.shape)}")
    length = x.shape[-2]
    if cross:
        keys = kv_input.shape[-2]
        logits = (x.shape[0], num_heads, length, keys) if x.dim() == 3 else (num_heads, length, keys)
        attn_mask = _causal_pair(checked_mask(attn_mask, x, logits), is_causal)
        keep = sample_keys(attn_mask)   # the same keys hidden for every head and query of a sample
        return _cross_route(num_heads, k_weight.shape[0] // d, d, kv_input.shape[-1], kv_input.shape[-1], length=length,
                            keys=keys, attn_mask=None if keep is not None else attn_mask, is_causal=is_causal,
                            dropout_p=dropout_p, scale=scale, enable_gqa=enable_gqa,
                            keep=None if keep is None else keep.to(x.dtype), batch=logits[0] if x.dim() == 3 else None,
                            dtype=x.dtype, device=x.device)
    logits = (x.shape[0], num_heads, length, length) if x.dim() == 3 else (num_heads, length, length)
    attn_mask = _causal_pair(checked_mask(attn_mask, x, logits), is_causal)
    kv, batch = k_weight.shape[0] // d, (x.shape[0] if x.dim() == 3 else None)
    if kv != num_heads and attn_mask is not None:   # grouped key/value heads with a mask
        return _grouped_route(num_heads, kv, d, length, attn_mask, batch=batch, dtype=x.dtype, is_causal=is_causal,
                              dropout_p=dropout_p, scale=scale, enable_gqa=enable_gqa)
    keep, causal_keys = sample_keys(attn_mask), causal_sample_keys(attn_mask, length)
    if causal_keys is not None:   # the causal mask and keys hidden per sample, as one mask
        r = route(heads=num_heads, kv_heads=kv, head_dim=d, length=length, dropout_p=dropout_p, scale=scale,
                  enable_gqa=enable_gqa)
        return Route("mhsa_causal_key_padding", r.sizes, r.query_factor, _leading(causal_keys).to(x.dtype))
    if keep is not None:   # the same keys hidden for every head and query of a sample: a key padding mask
        r = route(heads=num_heads, kv_heads=kv, head_dim=d, length=length, dropout_p=dropout_p, scale=scale,
                  enable_gqa=enable_gqa)   # the checks shared with self-attention
        return Route("mhsa_key_padding", r.sizes, r.query_factor, keep.to(x.dtype))
    kind = mask_kind(attn_mask, length, true_masks=False)   # ("bias": masked_bias where it hides a key, below)
    return _tables_route(dict(heads=num_heads, kv_heads=kv, head_dim=d, length=length, is_causal=is_causal,
                              dropout_p=dropout_p, scale=scale, enable_gqa=enable_gqa),
                         attn_mask, kind, module=False, batch=batch, dtype=x.dtype)


def _causal_pair(mask, is_causal):
    """SDPA's attn_mask beside ``is_causal``: the mask, or None where is_causal is True and the mask changes nothing
    (every key allowed, nothing added); an AttentionRefused (:data:`CAUSAL_PAIR_REASON`) for any other mask with
    is_causal=True."""
    import torch
    if is_causal is not True or mask is None:
        return mask
    inert = bool(mask.all()) if mask.dtype == torch.bool else not mask.requires_grad and bool((mask == 0).all())
    if not inert:
        raise AttentionRefused(CAUSAL_PAIR_REASON + "; only a mask that allows every key, which changes nothing, is "
                               "taken with it")
    return None


def _tables_route(sizes: dict, mask, kind: str, *, module: bool, batch, dtype, keep=None, padding=None) -> Route:
    """The self-attention route of an attn_mask read as ``kind`` (:func:`mask_kind`) and a key_padding_mask's visible
    keys ``keep`` and bias ``padding``, the tables from :func:`masked_bias_tables`: mhsa_masked's M where keys are
    hidden, mhsa_bias's or mhsa_sample_bias's P where a bias is added, mhsa_masked_bias's M and P for both;
    ``sizes``: :func:`route`'s other arguments."""
    if kind in ("none", "causal") and keep is None and padding is None:
        return route(**sizes, mask=kind)
    seen, table = masked_bias_tables(mask, kind, sizes["heads"], sizes["length"], module=module, batch=batch,
                                     dtype=dtype, keep=keep, padding=padding)
    if padding is None and kind not in ("bias", "masked_bias"):   # nothing added
        return route(**sizes, mask="pattern", bias=seen)
    if bool(seen.all()):   # (a float key_padding_mask summed with the attn_mask may overflow to −inf: hidden)
        return route(**sizes, mask="bias", bias=bias_route_table(table, batch))
    return route(**sizes, mask="masked_bias", bias=table, allowed=seen)


def _grouped_route(heads: int, kv_heads: int, head_dim: int, length: int, attn_mask, *, batch, dtype, is_causal,
                   dropout_p, scale, enable_gqa) -> Route:
    """SDPA with grouped key/value heads (``enable_gqa``) and an attn_mask (broadcast to the logits): gqa_attention or
    gqa_causal where the mask changes nothing or is the causal one, else gqa_masked (the keys each query sees, any
    boolean or 0/−inf pattern) or gqa_masked_bias (a float mask with a finite part: M and P); an AttentionRefused
    saying why not."""
    kind = mask_kind(attn_mask, length, true_masks=False)
    base = route(heads=heads, kv_heads=kv_heads, head_dim=head_dim, length=length, dropout_p=dropout_p, scale=scale,
                 enable_gqa=enable_gqa, is_causal=is_causal, mask=kind if kind in ("none", "causal") else "none")
    if kind in ("none", "causal"):
        return base
    seen, table = masked_bias_tables(attn_mask, kind, heads, length, module=False, batch=batch, dtype=dtype)
    if kind == "pattern":
        return Route("gqa_masked", base.sizes, base.query_factor, seen)
    return Route("gqa_masked_bias", base.sizes, base.query_factor, table, seen)


def _cross_route(heads: int, kv_heads: int, head_dim: int, key_channels: int, value_channels: int, *, length: int,
                 keys: int, attn_mask=None, module: bool = False, is_causal=False, dropout_p=0.0, scale=None,
                 enable_gqa: bool = False, keep=None, padding=None, batch=None, dtype=None, device=None) -> Route:
    """The cross-attention operator for keys and values from their own inputs: cross_attention (no mask),
    cross_attention_key_padding (``keep``, the keys each sample sees (B, S), alone), cross_attention_masked (keys
    hidden per query: a boolean or 0/−inf ``attn_mask``, SDPA's ``is_causal`` (upper-left: query i sees keys 0 … i),
    with or without ``keep``) or cross_attention_masked_bias (an additive part too: a float attn_mask, a float
    key_padding_mask's bias ``padding`` (B, S)), or with fewer key/value heads than query heads (``kv_heads``, SDPA's
    enable_gqa) gqa_cross_attention, gqa_cross_attention_masked (any keys hidden, per sample too) or
    gqa_cross_attention_masked_bias; an AttentionRefused saying why not. ``attn_mask`` is already checked
    by :func:`checked_mask` (SDPA's broadcast to the logits, nn.MultiheadAttention's (L, S) or (B·N, L, S), ``module``);
    ``batch`` is None for an unbatched call; ``dtype`` and ``device`` are the queries'."""
    import torch
    if not isinstance(is_causal, bool):
        raise AttentionRefused(f"is_causal must be True or False, not {is_causal!r}")
    r = route(heads=heads, kv_heads=kv_heads, head_dim=head_dim, length=length, dropout_p=dropout_p, scale=scale,
              enable_gqa=enable_gqa)   # the checks shared with self-attention (dropout, scale, heads, L ≥ 1)
    kind = mask_kind(attn_mask, length, true_masks=module, keys=keys)
    if is_causal and module:   # nn.MultiheadAttention: only a hint that attn_mask is the causal mask
        if attn_mask is None:
            raise AttentionRefused("is_causal=True without attn_mask: nn.MultiheadAttention refuses this too (it takes "
                                   "is_causal only as a hint that attn_mask is the causal mask)")
        causal = torch.ones(length, keys, dtype=torch.bool, device=attn_mask.device).tril()
        seen = (attn_mask != module) if attn_mask.dtype == torch.bool else torch.isfinite(attn_mask)
        if kind not in ("causal", "pattern", "none") or not bool((seen == causal).all()):   # (S = 1: the causal mask shows all)
            raise AttentionRefused("is_causal=True is a hint that attn_mask is the causal mask (query i sees keys "
                                   "0 … i), and it is not")
    elif is_causal:            # SDPA: the upper-left causal mask of L queries over S keys (no attn_mask beside it:
        kind = "causal" if keys > 1 else "none"   # sdpa_route refused or dropped it; one key: every query sees it)
    hides = keep is not None or kind in ("causal", "pattern", "masked_bias")
    adds = padding is not None or kind in ("bias", "masked_bias")
    grouped = kv_heads != heads   # (route checked enable_gqa and the multiple): the gqa_ operators, M over query heads
    name = "gqa_cross_attention" if grouped else "cross_attention"
    sizes = {**r.sizes, "C_k": key_channels, "C_v": value_channels}   # route's {N, d} or {N_kv, G, d}
    if not hides and not adds:
        return Route(name, sizes, r.query_factor)
    if not adds and kind == "none" and not grouped:   # keys hidden per sample only
        return Route("cross_attention_key_padding", sizes, r.query_factor, keep)
    if keep is not None and batch is None:   # (an unbatched SDPA mask's keys are (S,): the tables read (1, S))
        keep = keep.reshape(1, keys)
    seen, table = masked_bias_tables(attn_mask, kind, heads, length, module=module, batch=batch, dtype=dtype, keep=keep,
                                     padding=padding, keys=keys, device=device)
    if adds:
        return Route(name + "_masked_bias", sizes, r.query_factor, table, seen)
    return Route(name + "_masked", sizes, r.query_factor, seen)


def self_attention(x, q_weight, q_bias, k_weight, k_bias, v_weight, v_bias, out_weight, out_bias, *, num_heads,
                   attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False, kv_input=None,
                   path="auto"):
    """``F.linear(SDPA(q, k, v, attn_mask, dropout_p, is_causal, scale, enable_gqa), out_weight, out_bias)`` with
    q, k, v = ``F.linear(x, W, b)`` split into heads, x (B, L, E) or (L, E), computed by the routed operator's
    generated functional form. A bias given as None is a zero bias. ``kv_input``: the keys' and values' input
    (B, S, E_kv) when it is not x (cross-attention: k, v = ``F.linear(kv_input, W, b)``, the operator
    ``cross_attention``)."""
    import torch
    r = sdpa_route(x, q_weight, k_weight, v_weight, num_heads=num_heads, attn_mask=attn_mask, dropout_p=dropout_p,
                   is_causal=is_causal, scale=scale, enable_gqa=enable_gqa, kv_input=kv_input)

    e = q_weight.shape[0]
    _tensor_like("out_weight", out_weight, x, (x.shape[-1], e), f"E × num_heads·d = {x.shape[-1]} × {e}")
    for name, t, w in (("q_bias", q_bias, q_weight), ("k_bias", k_bias, k_weight), ("v_bias", v_bias, v_weight),
                       ("out_bias", out_bias, out_weight)):
        if t is not None:
            _tensor_like(name, t, x, (w.shape[0],), f"one per output of {name.replace('bias', 'weight')}")

    def bias(t, w):   # None is a zero bias
        return t if t is not None else torch.zeros(w.shape[0], dtype=x.dtype, device=x.device)
    weights = [q_weight, bias(q_bias, q_weight), k_weight, bias(k_bias, k_weight), v_weight, bias(v_bias, v_weight),
               out_weight, bias(out_bias, out_weight)]
    return _run(r, x, weights, path, kv_input)


def _module_mask_kind(attn_mask, length: int, is_causal: bool, keys: int | None = None) -> str:
    """:func:`mask_kind` of an nn.MultiheadAttention attn_mask (True = hidden; patterns taken; L × ``keys`` on
    cross-attention), with the module's rule for is_causal: only as a hint that attn_mask is the causal mask
    (PyTorch refuses it without one)."""
    if is_causal and attn_mask is None:
        raise AttentionRefused("is_causal=True without attn_mask: nn.MultiheadAttention refuses this too (it takes "
                               "is_causal only as a hint that attn_mask is the causal mask)")
    kind = mask_kind(attn_mask, length, true_masks=True, keys=keys)
    if is_causal and kind != "causal" and not (kind == "none" and (length if keys is None else keys) == 1):
        # (one key: the causal mask shows it to every query)
        grad = getattr(attn_mask, "requires_grad", False)
        raise AttentionRefused("is_causal=True is a hint that attn_mask is the causal mask, and it is not" + (
            " (a float attn_mask that requires grad is an additive bias here, differentiated: pass it without "
            "requires_grad, or without is_causal)" if grad else ""))
    return kind




def from_torch(m, *, causal: bool = False, bias=None, cross: bool = False, sample_bias: bool = False,
               key_padding: bool = False, masked: bool = False):
    """The generated module with an ``nn.MultiheadAttention``'s weights: mhsa (no mask; it takes (B, E, H, W)
    tokens), mhsa_causal (``causal``; (B, E, L) tokens), mhsa_bias with its table P = ``bias`` (N, L, L) (the
    float attn_mask the module is called with; (L, L): the same for every head), cross_attention (``cross``:
    keys and values from their own inputs, any kdim and vdim; it takes (B, E, L), (B, kdim, S), (B, vdim, S)
    tokens), mhsa_sample_bias, mhsa_key_padding, with ``cross`` and ``key_padding`` cross_attention_key_padding
    (a fourth input, the keys each sample sees, (B, S)), or with ``causal`` and ``key_padding``
    mhsa_causal_key_padding, or with ``masked`` mhsa_masked (a second input, the keys each query sees, (B, N, L, L)),
    with ``sample_bias`` and ``masked`` mhsa_masked_bias (those keys and a bias per sample), with ``cross`` and
    ``masked`` cross_attention_masked (the keys each query sees, (B, N, L, S)), and with ``sample_bias`` too
    cross_attention_masked_bias. The operator's own
    from_torch checks the module; ``causal`` and ``cross`` must be bools and ``bias`` a
    finite floating-point tensor (float32 or the module's dtype, on its device, as PyTorch takes a float
    attn_mask)."""
    import torch
    if not isinstance(m, torch.nn.MultiheadAttention):
        raise AttentionRefused(f"expected a torch.nn.MultiheadAttention, not {type(m).__name__}")
    for name, flag in (("causal", causal), ("cross", cross), ("sample_bias", sample_bias), ("key_padding", key_padding),
                       ("masked", masked)):
        if not isinstance(flag, bool):
            raise AttentionRefused(f"{name} must be True or False, not {flag!r}")
    if bias is not None:
        _check_bias(m, bias)
    chosen = [n for n, flag in (("causal", causal), ("bias", bias is not None), ("cross", cross),
                                ("sample_bias", sample_bias), ("key_padding", key_padding), ("masked", masked)) if flag]
    if len(chosen) > 1 and chosen not in (["cross", "key_padding"], ["causal", "key_padding"],
                                          ["sample_bias", "masked"], ["cross", "masked"],
                                          ["cross", "sample_bias", "masked"]):
        raise AttentionRefused("causal, bias, cross, sample_bias, key_padding and masked are different operators "
                               "(mhsa_causal, mhsa_bias, cross_attention, mhsa_sample_bias, mhsa_key_padding, "
                               "mhsa_masked): pass one of them, "
                               "or cross and key_padding together (cross_attention_key_padding), causal and "
                               "key_padding (mhsa_causal_key_padding), sample_bias and masked (mhsa_masked_bias), "
                               "cross and masked (cross_attention_masked), or cross, sample_bias and masked "
                               "(cross_attention_masked_bias)")
    try:   # the operator's from_torch says what in the module it cannot take: as evosym's error
        if cross and masked:
            return module_class(generated("cross_attention_masked_bias" if sample_bias else
                                          "cross_attention_masked")).from_torch(m)
        if sample_bias and masked:
            return module_class(generated("mhsa_masked_bias")).from_torch(m)
        if cross and key_padding:
            return module_class(generated("cross_attention_key_padding")).from_torch(m)
        if cross:
            return module_class(generated("cross_attention")).from_torch(m)
        if sample_bias:
            return module_class(generated("mhsa_sample_bias")).from_torch(m)
        if masked:
            return module_class(generated("mhsa_masked")).from_torch(m)
        if key_padding:
            return module_class(generated("mhsa_causal_key_padding" if causal else "mhsa_key_padding")).from_torch(m)
        if bias is None:
            return module_class(generated("mhsa_causal" if causal else "mhsa")).from_torch(m)
        layer = module_class(generated("mhsa_bias")).from_torch(m, L=bias.shape[-1])
    except ValueError as exc:
        raise AttentionRefused(str(exc)) from exc
    with torch.no_grad():
        layer.attn_bias.copy_(bias)
    return layer


def module_for(m, r: Route):
    """The generated module of route ``r`` (from :func:`mha_route`) with the nn.MultiheadAttention m's weights."""
    cross = r.operator.startswith("cross_attention")
    inputs = r.operator in SECOND_INPUT or cross or r.operator == "mhsa_masked_bias"   # the route's tensor is not P
    return from_torch(m, causal=r.operator in ("mhsa_causal", "mhsa_causal_key_padding"), bias=None if inputs else r.bias,
                      cross=cross, sample_bias=r.operator.endswith("sample_bias") or r.operator.endswith("masked_bias"),
                      key_padding=r.operator.endswith("key_padding"), masked="_masked" in r.operator)


def _check_bias(m, bias):
    """from_torch's ``bias``: mhsa_bias's table P, (heads, L, L) or (L, L), finite, floating point in float32 or
    the module's dtype, on the module's device; an AttentionRefused saying what was expected otherwise."""
    import torch
    if not isinstance(bias, torch.Tensor):
        raise AttentionRefused(f"bias must be a tensor (the attention bias table, (heads, L, L)) or None, not "
                               f"{type(bias).__name__}")
    first = next(iter(m.parameters()), None)
    dtype, device = (torch.float32, torch.device("cpu")) if first is None else (first.dtype, first.device)
    if not (bias.is_floating_point() and bias.dtype in (torch.float32, dtype)):
        raise AttentionRefused(f"bias must be floating point in float32 or the module's dtype "
                               f"{str(dtype).replace('torch.', '')} (as a float attn_mask), not "
                               f"{str(bias.dtype).replace('torch.', '')}")
    if bias.device != device:
        raise AttentionRefused(f"bias is on {bias.device} but the module on {device}: put it on the module's device")
    n, length = m.num_heads, bias.shape[-1] if bias.dim() else 0
    if bias.dim() not in (2, 3) or length < 1 or tuple(bias.shape) not in ((n, length, length), (length, length)):
        raise AttentionRefused(f"bias must have shape (heads, L, L) = ({n}, L, L) or (L, L) (one table for every "
                               f"head), the same L twice, not {tuple(bias.shape)}")
    if not bool(torch.isfinite(bias).all()):
        raise AttentionRefused("bias must be finite: −inf/+inf/NaN are no values of mhsa_bias's table (a −inf "
                               "mask is the causal operator or an attn_mask, not a bias)")


def mha_route(m, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
              is_causal=False) -> Route:
    """The route of an ``nn.MultiheadAttention`` call's forward arguments, or a ValueError saying why (the
    module's own arguments are checked by the operator's from_torch)."""
    return _mha_call(m, query, key, value, key_padding_mask, need_weights, attn_mask, is_causal)[0]


def _mha_call(m, query, key, value, key_padding_mask, need_weights, attn_mask, is_causal):
    """(the route, key, value, weights) of an ``nn.MultiheadAttention`` call: key, value and the projections
    [W_Q, b_Q, W_K, b_K, W_V, b_V, W_O, b_O] as the route computes them (with add_bias_kv or add_zero_attn, the
    appended tokens and their weight columns: :func:`appended_inputs`)."""
    import torch
    if not isinstance(m, torch.nn.MultiheadAttention):
        raise AttentionRefused(f"expected a torch.nn.MultiheadAttention, not {type(m).__name__}")
    _dense(query=query, key=key, value=value)
    if not isinstance(query, torch.Tensor) or query.dim() not in (2, 3):
        raise AttentionRefused(f"query must be a 3-D (batched) or 2-D (unbatched) tensor, not "
                         f"{getattr(query, 'shape', type(query).__name__)}")

    for name, t in (("key", key), ("value", value)):
        if not isinstance(t, torch.Tensor):
            raise AttentionRefused(f"{name} must be a tensor, not {type(t).__name__}")
        if t.dtype != query.dtype or t.device != query.device:
            raise AttentionRefused(f"query is {_where(query)} but {name} is {_where(t)}: a dtype or device mismatch "
                                   "(PyTorch refuses it too); convert them to one dtype and device")
    first = next(iter(m.parameters()), None)
    if first is not None and (first.dtype != query.dtype or first.device != query.device):
        raise AttentionRefused(f"query is {_where(query)} but the module's parameters are {_where(first)}: a dtype "
                               "or device mismatch (PyTorch refuses it too); convert the module or the input")
    if query.shape[-1] != m.embed_dim:
        raise AttentionRefused(f"query has E = {query.shape[-1]} channels (its last axis) but the module's embed_dim "
                               f"is {m.embed_dim} (num_heads·head_dim = {m.num_heads}·{m.head_dim}): they must be "
                               "equal (PyTorch refuses it too)")

    weights = _module_weights(m)
    if m.add_zero_attn or m.bias_k is not None or m.bias_v is not None:   # cross-attention over the keys' tokens and
        key, value, key_padding_mask, attn_mask, weights = appended_inputs(   # the appended ones (new key tensors)
            m, query, key, value, key_padding_mask, attn_mask, is_causal, weights)
        is_causal = False   # (the causal hint is in attn_mask now, as PyTorch reads it with appended keys)
    # self-attention when key and value ARE the query; any other tensor (an equal copy too) is cross-attention's
    # key/value input, so its gradients are its own (routing by value would send them all to the query)
    cross = not (key is query and value is query) or not m._qkv_same_embed_dim
    extra = (m.bias_k is not None) + bool(m.add_zero_attn)   # the appended keys' indicator channels
    if cross:
        _check_cross_inputs(m, query, key, value, (m.kdim + extra, m.vdim + extra))
    padding, keep = _padding(m, query, key, key_padding_mask)
    if need_weights:
        raise AttentionRefused(NEED_WEIGHTS_REASON)
    if not isinstance(is_causal, bool):
        raise AttentionRefused(f"is_causal must be True or False, not {is_causal!r}")
    if cross:
        keys = key.shape[1 if key.dim() == 3 and m.batch_first else 0]
        length = query.shape[1 if query.dim() == 3 and m.batch_first else 0]
        logits = ((query.shape[0 if m.batch_first else 1], m.num_heads, length, keys) if query.dim() == 3
                  else (m.num_heads, length, keys))
        return _cross_route(m.num_heads, m.num_heads, m.head_dim, m.kdim + extra, m.vdim + extra, length=length,
                            keys=keys, is_causal=is_causal, attn_mask=checked_mask(attn_mask, query, logits, module=True),
                            module=True, keep=keep, padding=padding, batch=logits[0] if query.dim() == 3 else None,
                            dtype=query.dtype, device=query.device), key, value, weights
    length = query.shape[0] if query.dim() == 2 or not m.batch_first else query.shape[1]
    if query.dim() == 3:
        logits = (query.shape[0] if m.batch_first else query.shape[1], m.num_heads, length, length)
    else:
        logits = (m.num_heads, length, length)
    attn_mask = checked_mask(attn_mask, query, logits, module=True)
    batch = logits[0] if query.dim() == 3 else None
    kind = _module_mask_kind(attn_mask, length, is_causal)
    sizes = dict(heads=m.num_heads, kv_heads=m.num_heads, head_dim=m.head_dim, length=length)
    if keep is not None and padding is None and kind in ("none", "causal"):   # keys hidden per sample only: the
        r = route(**sizes)                                                    # visible keys, the second input
        if kind == "causal":   # a decoder's self-attention over padded sequences
            return Route("mhsa_causal_key_padding", r.sizes, r.query_factor, _leading(keep)), key, value, weights
        return Route("mhsa_key_padding", r.sizes, r.query_factor, keep), key, value, weights
    return _tables_route(sizes, attn_mask, kind, module=True, batch=batch, dtype=query.dtype, keep=keep,
                         padding=padding), key, value, weights


def appended_inputs(m, query, key, value, key_padding_mask, attn_mask, is_causal, weights):
    """(key, value, key_padding_mask, attn_mask, weights) of ``m(query, key, value, …)`` for a module with
    add_bias_kv=True or add_zero_attn=True, as cross-attention computes it. PyTorch appends after the projections a
    key bias_k and a value bias_v (add_bias_kv), then a zero key and value (add_zero_attn), and pads every mask with
    a visible key for each. Here each appended key is one more token of the key and value inputs, with an indicator
    channel of its own (1 there, 0 in every other channel; the input's tokens 0 in it): its key is W_K·t + b_K = c + b_K
    for the column c of W_K that channel reads, so c = bias_k − b_K gives bias_k and c = −b_K the zero key (the same
    for the values), exact up to one rounding of c + b_K (an error of about ε·max(|bias_k|, |b_K|): with biases of 1e8
    in float64, 1e-8, where PyTorch's appended key is exact), and the gradients are PyTorch's (b_K's reaches the
    appended key through c and the bias, which cancel). The caller's sizes are checked before anything is appended (S =
    0 too: the appended keys alone are attended to, as PyTorch does). is_causal=True (a hint that attn_mask, required,
    is the causal mask L × S) gives the mask PyTorch applies: without a key_padding_mask the causal mask over all S + n
    keys (SDPA's is_causal: query i sees keys 0 … i, so a self-attention's queries never see the appended ones), with
    one the attn_mask given, padded with n visible keys; the returned attn_mask holds it (is_causal is then False). An
    AttentionRefused for a non-finite column c (non-finite bias_k, bias_v or in-projection bias, or their difference
    overflowing) and dropout active in training mode."""
    import torch
    if m.training and m.dropout > 0:
        raise AttentionRefused(f"cannot take this torch.nn.MultiheadAttention: its dropout {m.dropout} is active in "
                               "training mode and the generated operators have none; call .eval() on it first (or "
                               "set dropout=0)")
    flag = "add_bias_kv" if m.bias_k is not None or m.bias_v is not None else "add_zero_attn"
    if not isinstance(is_causal, bool):
        raise AttentionRefused(f"is_causal must be True or False, not {is_causal!r}")
    if (m.bias_k is None) != (m.bias_v is None):
        raise AttentionRefused("bias_k and bias_v must both be set (add_bias_kv=True) or both be None, as PyTorch "
                               "requires")
    _check_cross_inputs(m, query, key, value, empty=True)   # the caller's sizes, before a key is appended (S = 0
    # too: PyTorch then attends to the appended keys alone)
    keys = key.shape[1 if key.dim() == 3 and m.batch_first else 0]
    length = query.shape[1 if query.dim() == 3 and m.batch_first else 0]
    batch = None if query.dim() == 2 else query.shape[0 if m.batch_first else 1]
    shapes = {"key_padding_mask": [(keys,)] if batch is None else [(batch, keys)],
              "attn_mask": [(length, keys), ((1 if batch is None else batch) * m.num_heads, length, keys)]}
    _int("length", length)   # (L = 0: the refusal every route gives, before the masks are read)
    ignored = is_causal and key_padding_mask is None   # PyTorch then drops attn_mask: any shape passes there
    for name, t in (("key_padding_mask", key_padding_mask), ("attn_mask", attn_mask)):
        if isinstance(t, torch.Tensor) and tuple(t.shape) not in shapes[name]:
            raise AttentionRefused(f"{name} must have shape {' or '.join(map(str, shapes[name]))} (L = {length} "
                                   f"queries, S = {keys} keys; the keys of {flag} are appended to it here, as "
                                   f"PyTorch does), not {tuple(t.shape)}" + (
                                       " (PyTorch ignores attn_mask beside is_causal=True without a "
                                       "key_padding_mask; evosym checks it as the causal hint)"
                                       if ignored and name == "attn_mask" else " (PyTorch refuses it too)"))
    e = m.embed_dim
    wq, bq, wk, bk, wv, bv, wo, bo = weights
    zero = torch.zeros(e, dtype=bk.dtype, device=bk.device)
    keys_to = ([m.bias_k.reshape(e)] if m.bias_k is not None else []) + ([zero] if m.add_zero_attn else [])
    values_to = ([m.bias_v.reshape(e)] if m.bias_v is not None else []) + ([zero] if m.add_zero_attn else [])
    n = len(keys_to)   # the appended keys, in PyTorch's order: bias_k, then the zero key
    causal = None      # is_causal without a key_padding_mask: SDPA's causal mask over the S + n keys (True = hidden)
    if is_causal:
        logits = (m.num_heads, length, keys) if batch is None else (batch, m.num_heads, length, keys)
        if keys or attn_mask is None:   # (S = 0: an L × 0 mask is the causal one; the appended keys alone remain)
            _module_mask_kind(checked_mask(attn_mask, query, logits, module=True), length, True, keys=keys)
        if key_padding_mask is None:
            causal = torch.ones(length, keys + n, dtype=torch.bool, device=query.device).triu(1)
    columns = [torch.stack([t - bk for t in keys_to], 1), torch.stack([t - bv for t in values_to], 1)]
    for name, c in zip(("key", "value"), columns):
        if not bool(torch.isfinite(c.detach()).all()):
            raise AttentionRefused(
                f"the appended {name}s' indicator columns (bias_{name[0]} − b_{name[0].upper()}, or −b_"
                f"{name[0].upper()} for the zero {name}) must be finite: every other token multiplies them by 0 "
                f"(0·inf is NaN); bias_{name[0]} and the in-projection bias are non-finite or their difference "
                "overflows")
    weights = [wq, bq, torch.cat([wk, columns[0]], 1), bk, torch.cat([wv, columns[1]], 1), bv, wo, bo]

    def appended(t):   # the tokens, with n indicator channels (0), then the n appended tokens (one-hot)
        axis = 1 if t.dim() == 3 and m.batch_first else 0
        t = torch.cat([t, t.new_zeros(t.shape[:-1] + (n,))], -1)
        eye = torch.eye(n, dtype=t.dtype, device=t.device)
        extra = torch.cat([t.new_zeros(n, t.shape[-1] - n), eye], -1)   # (n, channels)
        if t.dim() == 3:
            extra = extra.unsqueeze(0 if m.batch_first else 1).expand(
                (t.shape[0], n, -1) if m.batch_first else (n, t.shape[1], -1))
        return torch.cat([t, extra], axis)

    def visible(t):   # n visible keys appended to a mask (False, or 0: what PyTorch's pad gives them)
        return torch.cat([t, t.new_zeros(t.shape[:-1] + (n,))], -1) if isinstance(t, torch.Tensor) else t
    mask = visible(attn_mask) if causal is None else causal
    return appended(key), appended(value), visible(key_padding_mask), mask, weights


def _padding(m, query, key, mask):
    """(bias, keep) for a key_padding_mask: a finite float one as the (B, L) bias PyTorch adds to every head's logits
    (``bias``), a boolean one (True = hidden) or a float one of 0 and −inf as the visible keys V (B, L), 1 where a
    key is seen, in the query's dtype (``keep``: mhsa_key_padding's second input), one mixing −inf with finite
    non-zero values (or a 0/−inf one that requires grad) as both; the bias as given (its dtype, PyTorch adds it so,
    with −inf where a key is hidden); (None, None) when absent
    or when it hides and adds nothing. An AttentionRefused for a mask PyTorch refuses or one that hides every key of
    a sample."""
    import torch
    if mask is None:
        return None, None
    if not isinstance(mask, torch.Tensor):
        raise AttentionRefused(f"key_padding_mask must be a tensor or None, not {type(mask).__name__}")
    if mask.layout != torch.strided:
        raise AttentionRefused(f"key_padding_mask must be a dense tensor, not {mask.layout}: pass "
                               "key_padding_mask.to_dense()")
    if mask.device != query.device:
        raise AttentionRefused(f"key_padding_mask is on {mask.device} but the query on {query.device}")
    if not (mask.dtype == torch.bool or (mask.is_floating_point() and mask.dtype in (torch.float32, query.dtype))):
        raise AttentionRefused(f"key_padding_mask must be boolean or floating point in float32 or the query's dtype, "
                               f"not {str(mask.dtype).replace('torch.', '')}")
    length = key.shape[1 if key.dim() == 3 and m.batch_first else 0]   # the keys' (cross-attention: S, not L)
    want = (length,) if query.dim() == 2 else (query.shape[0 if m.batch_first else 1], length)
    if tuple(mask.shape) != want:
        raise AttentionRefused(f"key_padding_mask must have shape {want} ((batch, keys), or (keys,) unbatched), not "
                               f"{tuple(mask.shape)} (PyTorch refuses it too)")
    rows = mask.reshape(-1, length)
    kind = rows if mask.dtype == torch.bool else float_mask(rows, "key_padding_mask")
    if isinstance(kind, str) and kind != "mixed":
        return (rows, None) if kind == "bias" else (None, None)
    hidden = ~torch.isfinite(rows) if isinstance(kind, str) else kind if mask.dtype == torch.bool else ~kind
    if not bool(hidden.any()):
        return None, None
    empty = hidden.all(-1).nonzero()
    if len(empty):
        raise AttentionRefused(KEY_PADDING_EMPTY_REASON.format(
            sample="the (unbatched) input" if query.dim() == 2 else f"sample {int(empty[0, 0])}"))
    bias = rows if isinstance(kind, str) else None   # "mixed": both (the −inf entries are the hidden keys)
    return bias, (~hidden).to(query.dtype)


def _leading(keep):
    """``keep`` (the visible keys, (B, L)) if every sample sees its first key, the causal key padding operator's
    premise; else an AttentionRefused naming the sample (under the causal mask query 0 sees key 0 alone)."""
    first = (keep.reshape(-1, keep.shape[-1])[:, 0] == 0).nonzero()
    if len(first):
        raise AttentionRefused(KEY_PADDING_FIRST_REASON.format(sample=int(first[0, 0])))
    return keep


def _check_cross_inputs(m, query, key, value, widths=None, empty=False):
    """key and value as nn.MultiheadAttention takes them with query: the same rank and batch, kdim and vdim channels
    (``widths``: the channels of key and value with appended tokens' indicator channels), one sequence length S ≥ 1
    (S = 0 too with ``empty``: keys will be appended); an AttentionRefused naming what differs otherwise."""
    batch_axis = None if query.dim() == 2 else 0 if m.batch_first else 1
    lengths = set()
    for name, t, width in zip(("key", "value"), (key, value), widths or (m.kdim, m.vdim)):
        if t.dim() != query.dim():
            raise AttentionRefused(f"{name} has {t.dim()} dimensions but query {query.dim()}: batched and unbatched "
                                   "inputs cannot be mixed (PyTorch refuses it too)")
        if batch_axis is not None and t.shape[batch_axis] != query.shape[batch_axis]:
            raise AttentionRefused(f"{name} has batch {t.shape[batch_axis]} but query {query.shape[batch_axis]} "
                                   f"(axis {batch_axis}): they must be equal (PyTorch refuses it too)")
        if t.shape[-1] != width:
            raise AttentionRefused(f"{name} has {t.shape[-1]} channels (its last axis) but the module's "
                                   f"{'kdim' if name == 'key' else 'vdim'} is {width} (PyTorch refuses it too)")
        lengths.add(t.shape[1 if t.dim() == 3 and m.batch_first else 0])
    if len(lengths) != 1:
        raise AttentionRefused(f"key and value must have one sequence length S, not {sorted(lengths)} (PyTorch "
                               "refuses unequal lengths too)")
    if min(lengths) < 1 and not empty:
        raise AttentionRefused("key and value have no tokens (S = 0): cross_attention's keys are at least one "
                               "(PyTorch gives zero attention there, a softmax over no key); slice such calls away")


def multihead_attention(m, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                        average_attn_weights=True, is_causal=False, *, path="auto"):
    """``m(query, key, value, …)`` for an ``nn.MultiheadAttention`` m, computed by the routed operator's generated
    functional form with m's own parameters (gradients reach them, as through m; the operator's from_torch checks
    the module first): (y, None) in m's layout ((B, L, E) with batch_first, else (L, B, E); (L, E) unbatched).
    ``average_attn_weights`` only shapes the weights, which are not returned."""
    r, key, value, weights = _mha_call(m, query, key, value, key_padding_mask, need_weights, attn_mask, is_causal)
    if not (m.add_zero_attn or m.bias_k is not None):   # (appended keys: the module checks are appended_inputs',
        module_for(m, r)   # from_torch refuses the flags) what the operator's from_torch refuses (training dropout …)
    else:   # and what would make m compute otherwise than nn.MultiheadAttention (a subclass, hooks), as from_torch says
        import torch
        otherwise = generated(r.operator)._computes_otherwise(m, torch.nn.MultiheadAttention)
        if otherwise:
            raise AttentionRefused(f"cannot take this torch.nn.MultiheadAttention: {otherwise}")
    if r.operator.endswith("key_padding") and query.dim() == 2:
        r = Route(r.operator, r.sizes, r.query_factor, r.bias[0])   # the visible keys (S,) of an unbatched query

    def tokens(t):   # (B, L, E) or (L, E)
        return t if t.dim() == 2 or m.batch_first else t.transpose(0, 1)
    y = _run(r, tokens(query), weights, path, tokens(key), tokens(value))
    return (y if query.dim() == 2 or m.batch_first else y.transpose(0, 1)), None


def _module_weights(m) -> list:
    """m's projections as the operators take them, [W_Q, b_Q, W_K, b_K, W_V, b_V, W_O, b_O]: views of m's own
    parameters (so a backward reaches them, as it does through m), a missing bias (bias=False) as zeros."""
    import torch
    e = m.embed_dim
    if m._qkv_same_embed_dim:
        wq, wk, wv = m.in_proj_weight[:e], m.in_proj_weight[e:2 * e], m.in_proj_weight[2 * e:]
    else:
        wq, wk, wv = m.q_proj_weight, m.k_proj_weight, m.v_proj_weight
    w = m.out_proj.weight

    def zeros():
        return torch.zeros(e, dtype=w.dtype, device=w.device)
    b = m.in_proj_bias
    bq, bk, bv = (zeros(), zeros(), zeros()) if b is None else (b[:e], b[e:2 * e], b[2 * e:])
    return [wq, bq, wk, bk, wv, bv, w, zeros() if m.out_proj.bias is None else m.out_proj.bias]
