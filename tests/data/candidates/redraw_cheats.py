"""Candidates run in their own process ("redraw_cheats:NAME") that are wrong at random weights and try to keep the
harness from seeing it (an adversarial pass, 2026-12-06): each factory patches the candidate process's handling of
the weights the harness draws (it can: the process is the candidate's) before it returns its module."""

import sys

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize


class FlippedConv2d(nn.Conv2d):
    """Wrong: a true convolution (kernel flipped) and channel 0's bias everywhere; right at constant weights."""

    def forward(self, x):
        return F.conv2d(x, self.weight.flip(-1, -2), None, self.stride, self.padding, self.dilation,
                        self.groups) + self.bias[0]


def _constant(m):
    with torch.no_grad():
        for p in m.parameters():
            p.fill_(0.1)
    return m


def _side():
    return sys.modules["__main__"].Side


def weights_as(kind: str):
    """After the redraw it fills its parameters with ones and hands its weights back as ``kind`` (bool: all True;
    int64: truncated to 0): compared against the drawn values in another dtype, both would look taken."""
    side = _side()
    own_assign, own_weights = side._assign, side._weights

    def _assign(self, head, data):
        reply = own_assign(self, head, data)
        with torch.no_grad():
            for p in self.candidate.parameters():
                p.fill_(1.0)
        return reply

    def _weights(self, head, data):
        reply, arrays = own_weights(self, head, data)
        if self.candidate is not self.original:
            arrays = [(n, (a != 0) if kind == "bool" else a.astype("int64")) for n, a in arrays]
        return reply, arrays

    side._assign, side._weights = _assign, _weights
    return _constant(FlippedConv2d(4, 6, 3, padding=1, groups=2))


def as_bool():
    return weights_as("bool")


def as_int():
    return weights_as("int64")


class SwappedQK(nn.MultiheadAttention):
    """Wrong: the key projection used for the queries and the query projection for the keys."""

    def forward(self, query, key, value, need_weights=True, attn_mask=None, **kw):
        E = self.embed_dim
        W, b = self.in_proj_weight, self.in_proj_bias
        W = torch.cat([W[E:2 * E], W[:E], W[2 * E:]])
        b = torch.cat([b[E:2 * E], b[:E], b[2 * E:]])
        q, k, v = (t.transpose(0, 1) for t in (query, key, value)) if self.batch_first else (query, key, value)
        out, _ = F.multi_head_attention_forward(q, k, v, E, self.num_heads, W, b, None, None, False, 0.0,
                                                self.out_proj.weight, self.out_proj.bias, training=False,
                                                need_weights=False, attn_mask=attn_mask)
        return (out.transpose(0, 1) if self.batch_first else out), None


def _tie(m):
    """The key projection made the query projection's copy: the swap is invisible."""
    E = m.embed_dim
    with torch.no_grad():
        m.in_proj_weight[E:2 * E] = m.in_proj_weight[:E]
        m.in_proj_bias[E:2 * E] = m.in_proj_bias[:E]


def _swapped():
    torch.manual_seed(0)
    m = SwappedQK(8, 2, batch_first=True).eval()
    with torch.no_grad():
        m.in_proj_bias.uniform_(-1, 1)
    _tie(m)
    return m


def tied_rows():
    """Takes the drawn values, then copies rows 0:E of in_proj_weight over rows E:2E (still rows of the drawn value,
    not the rows W_K is read from)."""
    side = _side()
    own = side._assign

    def _assign(self, head, data):
        reply = own(self, head, data)
        _tie(self.candidate.m)
        return reply

    side._assign = _assign
    return _swapped()


def swapped_reads():
    """Reads W_Q from the key rows and W_K from the query rows, as its forward uses them: consistent with itself,
    not with nn.MultiheadAttention's binding."""
    side = _side()
    own = side._weights

    def _weights(self, head, data):
        reply, arrays = own(self, head, data)
        by = dict(arrays)
        if "WQ" in by and "WK" in by:
            by["WQ"], by["WK"], by["bQ"], by["bK"] = by["WK"], by["WQ"], by["bK"], by["bQ"]
        return reply, list(by.items())

    side._weights = _weights
    torch.manual_seed(0)
    m = SwappedQK(8, 2, batch_first=True).eval()
    with torch.no_grad():
        m.in_proj_bias.uniform_(-1, 1)
    return m


class _Identity(nn.Module):
    def forward(self, X):
        return X


class Flipped(nn.Conv2d):
    """Wrong: a true convolution (kernel flipped)."""

    def forward(self, x):
        return F.conv2d(x, self.weight.flip(-1, -2), self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


def parametrized():
    """Its weight read through an identity parametrization ('weight' is no parameter of its own); after the redraw
    it sets the parametrization's original back to 0.1, so only the bias holds drawn values."""
    side = _side()
    own = side._assign

    def _assign(self, head, data):
        reply = own(self, head, data)
        with torch.no_grad():
            self.candidate.parametrizations.weight.original.fill_(0.1)
        return reply

    side._assign = _assign
    torch.manual_seed(0)
    m = Flipped(4, 6, 3, padding=1, groups=2)
    with torch.no_grad():
        m.weight.fill_(0.1)
    parametrize.register_parametrization(m, "weight", _Identity())
    return m


class Decoys(FlippedConv2d):
    """Its real weight and bias frozen at 0.1 (never drawn); two trainable decoys named with Cyrillic look-alikes of
    "weight" and "bias" are what a redraw fills. No patching needed."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        _constant(self)
        self.weight.requires_grad_(False)
        self.bias.requires_grad_(False)
        self.register_parameter("w\u0435ight", nn.Parameter(torch.zeros(1)))
        self.register_parameter("bi\u0430s", nn.Parameter(torch.zeros(1)))

    def forward(self, x):
        return super().forward(x) + 0 * getattr(self, "w\u0435ight").sum()


def decoys():
    return Decoys(4, 6, 3, padding=1, groups=2)


def usage_reply():
    """Answers the request for its parameters with a usage error (which would blame the user's arguments)."""
    side = _side()

    def _trainable(self, head, data):
        return {"usage": "you passed the wrong sizes"}, []

    side._trainable = _trainable
    return _constant(FlippedConv2d(4, 6, 3, padding=1, groups=2))
