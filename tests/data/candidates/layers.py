"""Candidate implementations for the equivalence tests: correct ones and ones with typical bugs."""

import torch
import torch.nn.functional as F
from torch import nn

SIZES = dict(G=1, C_g=3, O_g=4, K_h=3, K_w=3, s_h=1, s_w=1, delta_h=1, delta_w=1, P_h=1, P_w=1)


def correct_conv():
    torch.manual_seed(0)
    return nn.Conv2d(6, 4, 3, stride=2, padding=1, groups=2)


class ReflectBorder(nn.Module):
    """Reflection padding where the operator zero-pads."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(4, 3, 3, 3))
        self.bias = nn.Parameter(torch.randn(4))

    def forward(self, x):
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.weight, self.bias)


class GroupsModG(nn.Module):
    """Grouped convolution whose channel c belongs to group c mod G (the official code uses blocks)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(4, 2, 3, 3))
        self.bias = nn.Parameter(torch.randn(4))

    def forward(self, x):
        G = 2
        perm = torch.cat([torch.arange(g, x.shape[1], G) for g in range(G)])
        return F.conv2d(x[:, perm], self.weight, self.bias, padding=1, groups=G)


class TransposedKernel(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(4, 3, 3, 3))
        self.bias = nn.Parameter(torch.randn(4))

    def forward(self, x):
        return F.conv2d(x, self.weight.transpose(-1, -2), self.bias, padding=1)


class MissingScale(nn.Linear):
    """A projection that should be scaled by 1/√d and is not (here: an extra 1/√8)."""

    def forward(self, x):
        return super().forward(x) / 8 ** 0.5


class Wrapped(nn.Module):
    """A correct convolution whose parameters live under other names (needs a weight mapping)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.filters = nn.Parameter(torch.randn(4, 3, 3, 3))
        self.offset = nn.Parameter(torch.randn(4))

    def forward(self, x):
        return F.conv2d(x, self.filters, self.offset, padding=1)


def conv_bn(train: bool):
    torch.manual_seed(2)
    m = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4))
    with torch.no_grad():
        m[1].running_mean.uniform_(-1, 1)
        m[1].running_var.uniform_(0.5, 2)
    return m.train(train)


def fold_bn(m):
    """Weight mapping of conv → BatchNorm (eval) onto one convolution."""
    conv, bn = m[0], m[1]
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return {"W": conv.weight * scale.view(-1, 1, 1, 1), "bias": (conv.bias - bn.running_mean) * scale + bn.bias}


def lazy_conv():
    """A lazy convolution never run: its weights have no shape yet (a usage error, not a comparison)."""
    return nn.Sequential(nn.LazyConv2d(4, 3))


class TinyGcn(nn.Module):
    """Kipf and Welling's layer written out: D̃^(−1/2)(A + I)D̃^(−1/2)·x·W + bias, its adjacency a parameter (≥ 0)."""

    def __init__(self, n=3, c=2, o=2):
        super().__init__()
        torch.manual_seed(0)
        self.adjacency = nn.Parameter(torch.rand(n, n))
        self.weight = nn.Parameter(torch.randn(c, o))
        self.bias = nn.Parameter(torch.randn(o))

    def forward(self, x):
        a = self.adjacency + torch.eye(self.adjacency.shape[0], dtype=x.dtype)
        d = a.sum(1).rsqrt()
        return (d[:, None] * a * d[None, :]) @ x @ self.weight + self.bias
