"""Torch modules of an operator's traditional kind that are not called like its generated module, made so.

``nn.MultiheadAttention`` takes (B, L, E) or (L, B, E) sequences, returns ``(output, weights)`` and gets masks as
forward arguments, while the attention operators' generated modules take channels-first tokens and their masks as
inputs. The operator's ``torch_binding`` says how the module computes it (``call``: plain, causal, a per-sample
bias, a key padding mask, cross-attention) and where its weights are (``tensors``); :func:`adapt` wraps such a module so that the
harness calls it like the generated module and reads its weights through the binding, with no wrapper from the user.
"""

from __future__ import annotations

import torch

CALLS = ("self", "causal", "sample_bias", "key_padding", "causal_key_padding", "mask", "mask_bias", "cross",
         "cross_key_padding", "cross_mask", "cross_mask_bias")


class MultiheadAttentionCall(torch.nn.Module):
    """``m`` (an nn.MultiheadAttention) called as the operator's generated module is: channels-first tokens in
    ((B, C, L…) each), the output channels first, ``need_weights=False``; ``call`` one of :data:`CALLS`."""

    def __init__(self, m, call: str):
        super().__init__()
        if call not in CALLS:
            raise ValueError(f"call must be one of {CALLS}, not {call!r}")
        self.m, self.call = m, call

    def _sequence(self, t):
        """(B, C, L…) → the module's layout: (B, L, C) with batch_first, else (L, B, C)."""
        tokens = t.flatten(2).transpose(1, 2)
        return tokens if self.m.batch_first else tokens.transpose(0, 1)

    def forward(self, x, *others):
        q = self._sequence(x)
        kw = {}
        if self.call.startswith("cross"):
            k, v = (self._sequence(t) for t in others[:2])
            if self.call == "cross_key_padding":
                kw = {"key_padding_mask": others[2] == 0}     # the visible keys V (B, S) → True where hidden
            elif self.call == "cross_mask":                   # M (B, N, L, S) → the (B·N, L, S) mask, True = hidden
                kw = {"attn_mask": (others[2] == 0).flatten(0, 1)}
            elif self.call == "cross_mask_bias":              # M, P → one float mask: P where seen, −inf where hidden
                kw = {"attn_mask": others[3].masked_fill(others[2] == 0, float("-inf")).flatten(0, 1)}
        else:
            k = v = q
            if self.call in ("causal", "causal_key_padding"):
                length = x.shape[-1]
                kw = {"attn_mask": torch.nn.Transformer.generate_square_subsequent_mask(length, device=x.device,
                                                                                       dtype=x.dtype),
                      "is_causal": True}
                if self.call == "causal_key_padding":   # the visible keys V (B, L) → True where hidden
                    kw["key_padding_mask"] = torch.zeros_like(others[0]).masked_fill(others[0] == 0, float("-inf"))
            elif self.call == "sample_bias":
                kw = {"attn_mask": others[0].flatten(0, 1)}   # (B, N, L, L) → the (B·N, L, L) float attn_mask
            elif self.call == "mask":   # the keys each query sees M (B, N, L, L) → the (B·N, L, L) mask, True = hidden
                kw = {"attn_mask": (others[0] == 0).flatten(0, 1)}
            elif self.call == "mask_bias":   # M and P (B, N, L, L) → one (B·N, L, L) float mask: P where seen, −inf where hidden
                kw = {"attn_mask": others[1].masked_fill(others[0] == 0, float("-inf")).flatten(0, 1)}
            elif self.call == "key_padding":
                kw = {"key_padding_mask": others[0] == 0}     # the visible keys V (B, L) → True where hidden
        out, _ = self.m(q, k, v, need_weights=False, **kw)
        out = out if self.m.batch_first else out.transpose(0, 1)
        return out.transpose(1, 2).reshape(x.shape[:1] + (out.shape[-1],) + x.shape[2:])


def adapt(candidate, binding: dict | None):
    """(candidate, weights function or None): an nn.MultiheadAttention given for an operator bound to that module,
    wrapped to be called like the generated module, with its weights read through the binding; else as given."""
    binding = binding or {}
    if not (isinstance(candidate, torch.nn.MultiheadAttention) and binding.get("module") == "torch.nn.MultiheadAttention"
            and binding.get("call") in CALLS):
        return candidate, None
    tensors = binding["tensors"]

    def weights(wrapped):
        out = {}
        for ir, expr in tensors.items():
            value = eval(expr, {"torch": torch}, {"m": wrapped.m})  # noqa: S307 - the catalogue's own binding
            out[ir] = value
        return out
    adapted = MultiheadAttentionCall(candidate, binding["call"])
    try:   # a module whose weights the binding cannot read (kdim/vdim ≠ embed_dim: no packed in_proj_weight)
        weights(adapted)
    except (AttributeError, TypeError, IndexError) as exc:
        unmet = [reason for cond, reason in binding.get("requires", ())
                 if not eval(cond, {"torch": torch}, {"m": candidate})]  # noqa: S307 - the catalogue's own binding
        raise ValueError("this torch.nn.MultiheadAttention cannot be read as the operator's weights"
                         + (f": the operator needs {'; and '.join(unmet)}" if unmet else f" ({exc})")) from None
    return adapted, weights


class Unknown:
    """What the checking process does not know of a candidate run in its own process: an attribute it holds, rows of
    it, arithmetic on it; never None, never a tensor."""

    def __getattr__(self, name):
        return self

    def __getitem__(self, key):
        return self

    def __bool__(self):
        return False

    def _same(self, *other):
        return self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __floordiv__ = __truediv__ = __call__ = _same


UNKNOWN = Unknown()


class Drawn:
    """An adapted ``nn.MultiheadAttention`` as the checking process knows it after handing it weights it drew: its
    drawn parameters by attribute path (``m.in_proj_weight``, ``m.out_proj.weight``), the embedding size and whether
    q, k and v share it read off their shapes, anything else :data:`UNKNOWN`. A binding's expression evaluated on it
    gives the drawn rows the operator's weight must hold (``m.in_proj_weight[E:2E]`` for W_K: those rows, not others)."""

    def __init__(self, drawn: dict, prefix: str = "m.", used: set | None = None):
        self._drawn, self._prefix = drawn, prefix
        self.used = set() if used is None else used   # the drawn parameters read (the expression's sources)

    def __getattr__(self, name):
        path = self._prefix + name
        if path in self._drawn:
            self.used.add(path)
            return self._drawn[path]
        if any(k.startswith(path + ".") for k in self._drawn):
            return Drawn(self._drawn, path + ".", self.used)
        packed = self._drawn.get(self._prefix + "in_proj_weight")
        if name == "_qkv_same_embed_dim" and self._prefix == "m.":
            return packed is not None or UNKNOWN
        if name == "embed_dim" and packed is not None and packed.dim() == 2 and packed.shape[0] % 3 == 0:
            return packed.shape[0] // 3
        return UNKNOWN


__all__ = ["CALLS", "Drawn", "MultiheadAttentionCall", "UNKNOWN", "adapt"]
