"""Candidates for windowed and attention operators: exact ones (the operator's own independent torch
reference, parameters under their torch names) and ones with a bug the structural diagnoses name."""

import math

import torch
import torch.nn.functional as F
from torch import nn

from evosym.testing.setup import proven


class Reference(nn.Module):
    """An exact implementation: the operator's torch reference, float32 parameters like a user's module."""

    def __init__(self, name, sizes, seed=0):
        super().__init__()
        p = proven(name)
        self.op, self.sizes, self.names = p.operator, dict(sizes), []
        g = torch.Generator().manual_seed(seed)
        for ir, torch_name, shape, _ in p.plan.params:
            shp = tuple(int(eval(d, {}, dict(sizes))) for d in shape)  # noqa: S307 - the plan's own shapes
            setattr(self, torch_name, nn.Parameter(torch.randn(shp, generator=g, dtype=torch.float64).float()))
            self.names.append((ir, torch_name))

    def tensors(self):
        return {ir: getattr(self, name) for ir, name in self.names}

    def forward(self, x):
        return self.op.torch_reference({**self.tensors(), "x": x}, self.sizes)


class InvolutionModG(Reference):
    """Involution whose channel c uses the kernel of group c mod G (the official code: contiguous blocks)."""

    def forward(self, x):
        t, s = self.tensors(), self.sizes
        g, cg, r = s["G"], s["C_g"], s["R"]
        kk = 2 * r + 1
        hid = F.relu(t["beta"][:, None, None] + t["gamma"][:, None, None] * F.conv2d(x, t["W1"][:, :, None, None]))
        weight = F.conv2d(hid, t["W2"][:, :, None, None], t["b2"])
        bsz, _, h, w = weight.shape
        cols = F.unfold(x, kk, padding=r).view(bsz, cg, g, kk * kk, h, w)          # channel c = j·G + g
        return torch.einsum("bgkhw,bcgkhw->bcghw", weight.view(bsz, g, kk * kk, h, w), cols).reshape(bsz, g * cg, h, w)


class LocalAttentionNoScale(Reference):
    """Local attention without 1/√d inside the softmax (the same as queries scaled by √d)."""

    def forward(self, x):
        t = self.tensors()
        t["Wq"] = t["Wq"] * math.sqrt(self.sizes["d"])
        return self.op.torch_reference({**t, "x": x}, self.sizes)


class LocalAttentionWrongAxis(Reference):
    """Local attention whose softmax runs over the query positions instead of the window."""

    def forward(self, x):
        t, nh, r = self.tensors(), self.sizes["N"], self.sizes["R"]
        kk = 2 * r + 1
        b, ch, hh, ww = x.shape
        dh = ch // nh
        q = F.conv2d(x, t["Wq"][:, :, None, None]).view(b, nh, dh, 1, hh * ww)
        k = F.unfold(F.conv2d(x, t["Wk"][:, :, None, None]), kk, padding=r).view(b, nh, dh, kk * kk, hh * ww)
        v = F.unfold(F.conv2d(x, t["Wv"][:, :, None, None]), kk, padding=r).view(b, nh, dh, kk * kk, hh * ww)
        att = torch.softmax((q * k).sum(2) / dh ** 0.5, dim=-1)      # (b, n, K², p): dim=-1 is the positions
        return (att[:, :, None] * v).sum(3).reshape(b, ch, hh, ww)


class SwinNoMask(Reference):
    """Shifted-window attention that rolls the input but forgets the −100 mask of the wrapped windows."""

    def forward(self, x):
        sh = self.sizes["S"]
        rolled = torch.roll(x, shifts=(-sh, -sh), dims=(2, 3))
        y = self.op.torch_reference({**self.tensors(), "x": rolled}, {**self.sizes, "S": 0})
        return torch.roll(y, shifts=(sh, sh), dims=(2, 3))
