"""How ``torch.nn.MultiheadAttention`` maps onto the operators with its weights (mhsa, mhsa_causal, mhsa_bias): the
``torch_binding`` of their generated ``from_torch``, every refusal naming the argument and the reason.

What ``from_torch`` can see is the module's construction: ``embed_dim``, ``num_heads``, ``bias``,
``add_bias_kv``, ``add_zero_attn``, ``kdim``/``vdim``, ``dropout`` (with ``training``), ``batch_first``.
Taken: any ``num_heads`` dividing ``embed_dim``; ``bias=False`` (its missing biases are copied as zeros,
which is exactly no bias); ``dropout`` in eval mode (inactive; the template refuses it in training
mode); ``batch_first`` True or False, which only says how the torch module lays out its input: the
generated module always takes the tokens channels first, (B, C, L) or (B, C, H, W), so a batch_first
(B, L, C) sequence is passed as ``x.transpose(1, 2)`` and a (L, B, C) one as ``x.permute(1, 2, 0)``.
Refused: ``kdim``/``vdim`` ≠ ``embed_dim`` (cross_attention's binding takes them), ``add_bias_kv=True`` and
``add_zero_attn=True``: their extra key makes the weights of the input's keys sum to less than one, so the value
bias (and bias_v) stays inside the aggregation with an input-dependent weight, which is an Evolution form only over
an affine projection of x, not over an input tensor (the reasons below say it exactly). The forward's arguments (``attn_mask``,
``is_causal``, ``key_padding_mask``, a key or value other than the query, ``need_weights``) are not
the module's, so they are the caller's choice of operator (``evosym.coverage.attention`` routes them).
"""

REQUIRES = [
    ("m._qkv_same_embed_dim",
     "kdim and vdim equal embed_dim, i.e. query, key and value share the embedding size: other key/value "
     "sizes only arise when keys and values come from a second input, and an Evolution form has one input "
     "tensor x, so queries, keys and values are all projections of x"),
    ("m.bias_k is None and m.bias_v is None",
     "add_bias_kv=False (no extra key/value bias): bias_k/bias_v append a learned key and value after the tokens, "
     "so the attention of the input's keys sums to 1 − a*, a* the extra key's input-dependent share; "
     "y = Σ_m A_m·(v_m − bias_v) + bias_v is an Evolution form over the values shifted by −bias_v, an affine "
     "projection of x, while evosym aggregates an input tensor (v = x, the value bias moved out of the kernel by "
     "the softmax's unit sum, which no longer holds). Called through evosym.coverage.attention.multihead_attention, "
     "such a module is cross-attention over the keys' tokens and one more token with an indicator channel of its "
     "own, whose columns of W_K and W_V are bias_k − b_K and bias_v − b_V"),
    ("not m.add_zero_attn",
     "add_zero_attn=False (no zero attention): the zero key it appends adds exp(0) = 1 to every softmax "
     "denominator, so the attention of the input's keys sums to less than one and the value bias b_V stays in the "
     "aggregation, scaled by that input-dependent sum: neither K·x nor a bias β with v = x. Called through "
     "evosym.coverage.attention.multihead_attention, such a module is cross-attention over the keys' tokens and one "
     "more token with an indicator channel of its own, whose columns of W_K and W_V are −b_K and −b_V"),
]


def _bias(rows: str) -> str:
    """The in-projection bias rows, or None for bias=False (the template copies None as zeros)."""
    return f"None if m.in_proj_bias is None else m.in_proj_bias[{rows}]"


def _weight(rows: str, separate: str) -> str:
    """An in-projection weight: rows of the packed in_proj_weight, or the separate weight of a kdim/vdim module."""
    return f"m.in_proj_weight[{rows}] if m._qkv_same_embed_dim else m.{separate}"


def cross_binding(call: str = "cross") -> dict:
    """The ``torch_binding`` of ``cross_attention`` (and, ``call="cross_key_padding"``, of
    ``cross_attention_key_padding``): any ``nn.MultiheadAttention`` without extra key/value positions, kdim and vdim
    taken as the sizes C_k and C_v (its separate q/k/v weights when they differ from embed_dim)."""
    out = binding(call=call)
    out["requires"] = list(REQUIRES[1:])
    out["sizes"].update({"C_k": "m.kdim", "C_v": "m.vdim"})
    out["tensors"].update({"WQ": _weight(":m.embed_dim", "q_proj_weight"),
                           "WK": _weight("m.embed_dim:2 * m.embed_dim", "k_proj_weight"),
                           "WV": _weight("2 * m.embed_dim:", "v_proj_weight")})
    return out


def binding(*, bias_table: bool = False, call: str = "self") -> dict:
    """The ``torch_binding`` of an operator with mhsa's tensors (WQ, bQ, WK, bK, WV, bV, WO, bO) and sizes N, d;
    ``bias_table``: also the additive bias P (N, L, L) of ``mhsa_bias``, which is the forward's float attn_mask,
    not the module's: from_torch then takes the length L and starts P at zero (set ``layer.attn_bias``).
    ``call``: how the module is called to compute the operator (``evosym.testing.adapters``, for a bare
    nn.MultiheadAttention given to assert_equivalent): "self" (m(t, t, t)), "causal" (with the causal mask),
    "sample_bias" (the operator's second input as the float attn_mask), "key_padding" (the second input, the visible
    keys, as the boolean key_padding_mask == 0), "causal_key_padding" (both: the causal mask and the second input as
    the key_padding_mask, −inf where hidden: the float form of the causal mask's), "mask" (the second input, the keys
    each query sees (B, N, L, L), as the boolean (B·N, L, L) attn_mask == 0), "mask_bias" (the second input M and the
    third P as one (B·N, L, L) float attn_mask: P where M is 1, −inf where it is 0), "cross" (m(x, x_k, x_v)), "cross_key_padding" (m(x, x_k, x_v) with
    the fourth input, the visible keys, as the boolean key_padding_mask == 0)."""
    out = {"module": "torch.nn.MultiheadAttention", "requires": list(REQUIRES), "call": call,
            "sizes": {"N": "m.num_heads", "d": "m.head_dim"},
            "tensors": {"WQ": "m.in_proj_weight[:m.embed_dim]",
                        "WK": "m.in_proj_weight[m.embed_dim:2 * m.embed_dim]",
                        "WV": "m.in_proj_weight[2 * m.embed_dim:]",
                        "bQ": _bias(":m.embed_dim"),
                        "bK": _bias("m.embed_dim:2 * m.embed_dim"),
                        "bV": _bias("2 * m.embed_dim:"),
                        "WO": "m.out_proj.weight", "bO": "m.out_proj.bias"}}
    if bias_table:
        out["arguments"] = ["L"]
        out["sizes"]["L"] = "L"
        out["tensors"]["P"] = "None"
    return out
