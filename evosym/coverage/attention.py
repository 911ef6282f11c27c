"""Which PyTorch attention calls evosym's generated modules take, and which they refuse, and why.

Two PyTorch entry points are covered, each as self-attention of one input x (B, L, E):

- ``F.scaled_dot_product_attention`` between the projections q, k, v = ``F.linear(x, W, b)`` split into
  heads, followed by the output projection (:func:`self_attention`): what an attention block computes;
- ``nn.MultiheadAttention`` (:func:`multihead_attention`, :func:`from_torch`).

:func:`route` maps the arguments onto the one catalogue operator that computes them (``mhsa`` on the
sequence as an H = 1 image, ``mhsa_causal``, ``gqa_attention``, ``gqa_causal``), or raises a
:class:`ValueError` that names the argument and says why no operator represents it. ``scale=`` is
taken by scaling the query projection by scale·√d (the operators scale the logits by 1/√d: the two
are the same logits). :mod:`evosym.coverage.attention_sweep` compares the generated modules (both
paths) with PyTorch over argument combinations and writes the table of ``docs/attention-coverage.md``
(``tests/test_attention_coverage.py`` checks the page and runs the sweep).

What is refused, and what representing it would take (an Evolution form has one input tensor x
and aggregates over x's positions with a kernel made from x):

- cross-attention (keys/values from another input, kdim/vdim ≠ embed_dim) and key_padding_mask (a
  second, per-sample input): a second input tensor in the IR, with Ω over its positions;
- add_bias_kv / add_zero_attn: key positions that are not positions of any input;
- masks other than the causal one (and all-allowed): a mask tensor as data, Ω its pattern;
  additive float biases other than 0/−∞: a bias tensor in the logits (Swin's relative position bias
  is one, but indexed by query − key, not an arbitrary L×L table);
- a fully masked query row: the softmax is 0/0 there (PyTorch 2.13 returns zeros, earlier versions
  NaN), so no softmax kernel equals it;
- dropout_p > 0 (or a module's dropout in training mode): random, not a function of the input;
- need_weights=True: the weights are an intermediate of the kernel, not an output of the module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .modules import generated, module_class

FUNCTIONS = ("F.scaled_dot_product_attention", "nn.MultiheadAttention")

CROSS_REASON = (
    "cross-attention (keys and values from a second input{what}) is not represented: an Evolution form has one "
    "input tensor x and aggregates over x's positions with a kernel made from x, while cross-attention "
    "aggregates the second input with a kernel made from both; it needs a second input tensor in the IR")
KEY_PADDING_REASON = (
    "key_padding_mask is not supported: it is a second, per-sample input (which keys exist in each sample), and "
    "an Evolution form has one input tensor x; it needs a mask input in the IR (and has fully masked rows when a "
    "sample has no key)")
NEED_WEIGHTS_REASON = (
    "need_weights=True is not supported: the attention weights are an intermediate of the proved kernel, not an "
    "output of the generated module, which returns y only; pass need_weights=False (the call then returns "
    "(y, None), as PyTorch does)")
DROPOUT_REASON = (
    "dropout_p={p!r} is not supported: dropout zeroes attention weights at random, so the output is not a function "
    "of the input and no Evolution kernel equals it; pass dropout_p=0.0 (what an eval-mode module does)")
FULL_ROW_REASON = (
    "attn_mask masks every key of query row {row}: the softmax there is 0/0 (PyTorch 2.13 returns zeros for such a "
    "row, earlier versions NaN), which no softmax kernel equals; evosym refuses such masks")
MASK_REASON = (
    "attn_mask is not supported unless it is the causal mask or allows every key: a general mask makes Ω(p) the "
    "mask's pattern, a static index set given as data, and no catalogue operator takes a mask tensor")
BIAS_REASON = (
    "a float attn_mask mixing −inf with other non-zero values is not supported: its finite part is an additive "
    "bias (mhsa_bias) and its −inf part a hard mask, and no operator has both; −inf is not a value a parameter "
    "takes in the proof")
BATCH_BIAS_REASON = (
    "a float attn_mask that differs between the samples of the batch is not supported: mhsa_bias's bias P[h, i, m] "
    "is a parameter, the same for every sample; a per-sample bias is a second input, which an Evolution form "
    "with one input tensor cannot take")
GQA_BIAS_REASON = (
    "enable_gqa with fewer key/value heads and a float additive attn_mask is not supported: no operator combines "
    "grouped key/value heads with a bias table (gqa_attention has none, mhsa_bias has N key/value heads)")


@dataclass(frozen=True)
class Route:
    """The catalogue operator that computes a call, its keyword sizes, and the factor of the query projection."""

    operator: str
    sizes: dict = field(hash=False)
    query_factor: float = 1.0
    bias: object = field(default=None, hash=False, compare=False)   # mhsa_bias's P (N, L, L), from a float mask


def _int(name: str, value, low: int = 1) -> int:
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= low):
        raise ValueError(f"{name} must be an int ≥ {low}, not {value!r}")
    return value


def mask_kind(mask, length: int, *, true_masks: bool) -> str:
    """"none" (no mask, or every key allowed), "causal" (key m allowed for query i exactly when m ≤ i) or "bias"
    (a float mask with finite entries, not all 0: an additive bias, :func:`bias_table`), for a boolean or float
    mask broadcast over batch and heads; a ValueError saying why for any other mask.
    ``true_masks``: a boolean True means "masked" (nn.MultiheadAttention) rather than "allowed" (SDPA)."""
    import torch
    if mask is None:
        return "none"
    if not isinstance(mask, torch.Tensor):
        raise ValueError(f"attn_mask must be a tensor or None, not {type(mask).__name__}")
    if mask.dim() < 2 or tuple(mask.shape[-2:]) != (length, length):
        raise ValueError(f"attn_mask must end in ({length}, {length}) (queries × keys), not shape {tuple(mask.shape)}")
    if mask.dtype == torch.bool:
        allowed = ~mask if true_masks else mask
    elif mask.is_floating_point():
        finite = torch.isfinite(mask)
        if bool(torch.isnan(mask).any()) or bool((mask == float("inf")).any()):
            raise ValueError("a float attn_mask with NaN or +inf entries has no softmax")
        if bool(finite.all()):
            return "bias" if bool((mask != 0).any()) else "none"
        if bool(((mask != 0) & finite).any()):
            raise ValueError(BIAS_REASON)
        allowed = finite
    else:
        raise ValueError(f"attn_mask must be boolean or floating point, not {mask.dtype}")
    rows = allowed.reshape(-1, length, length)
    empty = (~rows.any(-1)).any(0).nonzero()
    if len(empty):
        raise ValueError(FULL_ROW_REASON.format(row=int(empty[0, 0])))
    if bool(rows.all()):
        return "none"
    causal = torch.ones(length, length, dtype=torch.bool, device=mask.device).tril()
    if bool((rows == causal).all()):
        return "causal"
    raise ValueError(MASK_REASON)


def bias_table(mask, heads: int, length: int, *, per_head_rows: bool):
    """mhsa_bias's P (heads, L, L) from a finite float mask: SDPA's broadcast to (B, heads, L, L)
    (``per_head_rows`` False) or nn.MultiheadAttention's (L, L) / (B·heads, L, L); a ValueError when it
    differs between samples."""
    if per_head_rows and mask.dim() == 3:
        rows = mask.reshape(-1, heads, length, length)
    else:
        rows = mask.reshape((1,) * (4 - mask.dim()) + tuple(mask.shape)) if mask.dim() <= 4 else None
        if rows is None:
            raise ValueError(f"attn_mask must have at most 4 dimensions, not shape {tuple(mask.shape)}")
        rows = rows.expand(rows.shape[0], heads, length, length)
    if not bool((rows == rows[:1]).all()):
        raise ValueError(BATCH_BIAS_REASON)
    return rows[0].contiguous()


def route(*, heads: int, kv_heads: int, head_dim: int, length: int, mask: str = "none", is_causal: bool = False,
          dropout_p=0.0, scale=None, enable_gqa: bool = False, bias=None) -> Route:
    """The operator and sizes for self-attention with these arguments (``mask``: from :func:`mask_kind`)."""
    _int("heads", heads), _int("kv_heads", kv_heads), _int("head_dim", head_dim), _int("length", length)
    for name, flag in (("is_causal", is_causal), ("enable_gqa", enable_gqa)):
        if not isinstance(flag, bool):
            raise ValueError(f"{name} must be True or False, not {flag!r}")
    if not isinstance(dropout_p, (int, float)) or isinstance(dropout_p, bool) or not 0 <= dropout_p <= 1:
        raise ValueError(f"dropout_p must be a number in [0, 1], not {dropout_p!r}")
    if dropout_p > 0:
        raise ValueError(DROPOUT_REASON.format(p=dropout_p))
    if mask not in ("none", "causal", "bias"):
        raise ValueError(f"mask must be 'none', 'causal' or 'bias' (what mask_kind reads off an attn_mask), not {mask!r}")
    if is_causal and mask != "none":
        raise ValueError("is_causal=True with an attn_mask is not taken: PyTorch documents the pair as an error "
                         "(pass one of them)")
    factor = 1.0
    if scale is not None:
        if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not math.isfinite(scale):
            raise ValueError(f"scale must be a finite number or None, not {scale!r}")
        factor = float(scale) * math.sqrt(head_dim)   # scale·(q·k) = (1/√d)·((scale·√d)·q)·k
    causal = is_causal or mask == "causal"
    if mask == "bias":
        if bias is None:
            raise ValueError("mask='bias' needs the bias table (bias=, from bias_table)")
        if kv_heads != heads:
            raise ValueError(GQA_BIAS_REASON if enable_gqa else f"{kv_heads} key/value heads for {heads} query heads "
                             "need enable_gqa=True (PyTorch refuses this too)")
        return Route("mhsa_bias", {"N": heads, "d": head_dim, "L": length}, factor, bias)
    if kv_heads != heads:
        if not enable_gqa:
            raise ValueError(f"{kv_heads} key/value heads for {heads} query heads need enable_gqa=True (PyTorch "
                             "refuses this too)")
        if heads % kv_heads:
            raise ValueError(f"enable_gqa=True needs the query heads ({heads}) to be a multiple of the key/value "
                             f"heads ({kv_heads}) (PyTorch refuses this too)")
        sizes = {"N_kv": kv_heads, "G": heads // kv_heads, "d": head_dim}
        return Route("gqa_causal" if causal else "gqa_attention", sizes, factor)
    return Route("mhsa_causal" if causal else "mhsa", {"N": heads, "d": head_dim}, factor)


def _run(r: Route, x, weights, path):
    """The routed generated functional form on x (…, L, E): tokens channels first, mhsa on an H = 1 image."""
    wq, bq = weights[0], weights[1]
    if r.query_factor != 1.0:
        wq, bq = wq * r.query_factor, bq * r.query_factor
    tensors = [wq, bq] + list(weights[2:]) + ([r.bias.to(device=x.device, dtype=x.dtype)] if r.operator == "mhsa_bias" else [])
    fn = getattr(generated(r.operator), f"{r.operator}_evolution")
    xc = x.transpose(-1, -2)
    if r.operator == "mhsa":
        y = fn(xc.unsqueeze(-2), *tensors, **r.sizes, path=path).squeeze(-2)
    else:
        y = fn(xc, *tensors, **r.sizes, path=path)
    return y.transpose(-1, -2)


def sdpa_route(x, q_weight, k_weight, v_weight, *, num_heads, attn_mask=None, dropout_p=0.0, is_causal=False,
               scale=None, enable_gqa=False, kv_input=None) -> Route:
    """The route of :func:`self_attention`'s arguments (the shapes give the heads), or a ValueError saying why."""
    import torch
    if not isinstance(x, torch.Tensor) or x.dim() not in (2, 3):
        raise ValueError(f"x must be a (B, L, E) or (L, E) tensor, not {getattr(x, 'shape', type(x).__name__)}")
    if kv_input is not None and kv_input is not x:
        raise ValueError(CROSS_REASON.format(what=""))
    _int("num_heads", num_heads)
    e = q_weight.shape[0]
    if e % num_heads:
        raise ValueError(f"the query projection's {e} outputs are not a multiple of num_heads={num_heads}")
    d = e // num_heads
    if k_weight.shape[0] % d or v_weight.shape != k_weight.shape:
        raise ValueError(f"the key/value projections must have the same shape with a multiple of d={d} outputs, not "
                         f"{tuple(k_weight.shape)} and {tuple(v_weight.shape)}")
    length = x.shape[-2]
    kind = mask_kind(attn_mask, length, true_masks=False)
    if kind == "bias" and is_causal:
        raise ValueError("is_causal=True with an attn_mask is not taken: PyTorch documents the pair as an error "
                         "(pass one of them)")
    table = bias_table(attn_mask, num_heads, length, per_head_rows=False) if kind == "bias" else None
    return route(heads=num_heads, kv_heads=k_weight.shape[0] // d, head_dim=d, length=length, mask=kind,
                 is_causal=is_causal, dropout_p=dropout_p, scale=scale, enable_gqa=enable_gqa, bias=table)


def self_attention(x, q_weight, q_bias, k_weight, k_bias, v_weight, v_bias, out_weight, out_bias, *, num_heads,
                   attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False, kv_input=None,
                   path="auto"):
    """``F.linear(SDPA(q, k, v, attn_mask, dropout_p, is_causal, scale, enable_gqa), out_weight, out_bias)`` with
    q, k, v = ``F.linear(x, W, b)`` split into heads, x (B, L, E) or (L, E), computed by the routed operator's
    generated functional form. A bias given as None is a zero bias. ``kv_input``: the keys' and values' input
    when it is not x (cross-attention, refused)."""
    import torch
    r = sdpa_route(x, q_weight, k_weight, v_weight, num_heads=num_heads, attn_mask=attn_mask, dropout_p=dropout_p,
                   is_causal=is_causal, scale=scale, enable_gqa=enable_gqa, kv_input=kv_input)

    def bias(t, w):   # None is a zero bias
        return t if t is not None else torch.zeros(w.shape[0], dtype=x.dtype, device=x.device)
    weights = [q_weight, bias(q_bias, q_weight), k_weight, bias(k_bias, k_weight), v_weight, bias(v_bias, v_weight),
               out_weight, bias(out_bias, out_weight)]
    return _run(r, x, weights, path)


def _module_route(m, length: int, *, attn_mask=None, is_causal=False) -> Route:
    """The operator for an nn.MultiheadAttention called with this mask (module arguments are its from_torch's)."""
    if is_causal and attn_mask is None:
        raise ValueError("is_causal=True without attn_mask: nn.MultiheadAttention refuses this too (it takes "
                         "is_causal only as a hint that attn_mask is the causal mask)")
    kind = mask_kind(attn_mask, length, true_masks=True)
    if is_causal and kind != "causal":
        raise ValueError("is_causal=True is a hint that attn_mask is the causal mask, and it is not")
    table = bias_table(attn_mask, m.num_heads, length, per_head_rows=True) if kind == "bias" else None
    return route(heads=m.num_heads, kv_heads=m.num_heads, head_dim=m.head_dim, length=length, mask=kind, bias=table)


def from_torch(m, *, causal: bool = False, bias=None):
    """The generated module with an ``nn.MultiheadAttention``'s weights: mhsa (no mask; it takes (B, E, H, W)
    tokens), mhsa_causal (``causal``; (B, E, L) tokens) or mhsa_bias with its table P = ``bias`` (N, L, L) (the
    float attn_mask the module is called with). The operator's own from_torch checks the module."""
    import torch
    if not isinstance(m, torch.nn.MultiheadAttention):
        raise ValueError(f"expected a torch.nn.MultiheadAttention, not {type(m).__name__}")
    if causal and bias is not None:
        raise ValueError("causal and bias are different operators (mhsa_causal, mhsa_bias): pass one of them")
    if bias is None:
        return module_class(generated("mhsa_causal" if causal else "mhsa")).from_torch(m)
    layer = module_class(generated("mhsa_bias")).from_torch(m, L=bias.shape[-1])
    with torch.no_grad():
        layer.attn_bias.copy_(bias)
    return layer


def mha_route(m, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
              is_causal=False) -> Route:
    """The route of an ``nn.MultiheadAttention`` call's forward arguments, or a ValueError saying why (the
    module's own arguments are checked by the operator's from_torch)."""
    import torch
    if not isinstance(m, torch.nn.MultiheadAttention):
        raise ValueError(f"expected a torch.nn.MultiheadAttention, not {type(m).__name__}")
    if not isinstance(query, torch.Tensor) or query.dim() not in (2, 3):
        raise ValueError(f"query must be a 3-D (batched) or 2-D (unbatched) tensor, not "
                         f"{getattr(query, 'shape', type(query).__name__)}")

    def same(t):
        return t is query or (isinstance(t, torch.Tensor) and t.shape == query.shape and torch.equal(t, query))
    if not (same(key) and same(value)):
        raise ValueError(CROSS_REASON.format(what=": key or value is not the query"))
    if key_padding_mask is not None:
        raise ValueError(KEY_PADDING_REASON)
    if need_weights:
        raise ValueError(NEED_WEIGHTS_REASON)
    length = query.shape[0] if query.dim() == 2 or not m.batch_first else query.shape[1]
    return _module_route(m, length, attn_mask=attn_mask, is_causal=is_causal)


def multihead_attention(m, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                        average_attn_weights=True, is_causal=False, *, path="auto"):
    """``m(query, key, value, …)`` for an ``nn.MultiheadAttention`` m, computed by the generated module that
    :func:`from_torch` gives: (y, None) in m's layout ((B, L, E) with batch_first, else (L, B, E); (L, E)
    unbatched). ``average_attn_weights`` only shapes the weights, which are not returned."""
    r = mha_route(m, query, key, value, key_padding_mask, need_weights, attn_mask, is_causal)
    layer = from_torch(m, causal=r.operator == "mhsa_causal", bias=r.bias)
    seq = query if query.dim() == 2 or m.batch_first else query.transpose(0, 1)   # (B, L, E) or (L, E)
    tokens = seq.transpose(-1, -2)
    y = layer(tokens.unsqueeze(-2), path=path).squeeze(-2) if r.operator == "mhsa" else layer(tokens, path=path)
    y = y.transpose(-1, -2)
    return (y if query.dim() == 2 or m.batch_first else y.transpose(0, 1)), None
