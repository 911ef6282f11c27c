"""Generator-based modules take their weights from the official generator layout, an
``nn.Sequential(Conv2d(C, D, 1), BatchNorm2d(D), ReLU(), Conv2d(D, values, 1))`` in eval mode, and
compute what the official forward computes with that Sequential as its generator (BatchNorm folded);
anything else is refused with the condition that fails."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from test_codegen_runtime import load


def _generator(c, d, values, *, reduce_bias=False, affine=True):
    torch.manual_seed(0)
    seq = torch.nn.Sequential(torch.nn.Conv2d(c, d, 1, bias=reduce_bias), torch.nn.BatchNorm2d(d, affine=affine),
                              torch.nn.ReLU(), torch.nn.Conv2d(d, values, 1)).double()
    with torch.no_grad():   # statistics and affine parameters far from the identity, so a dropped fold shows
        seq[1].running_mean.uniform_(-1, 1)
        seq[1].running_var.uniform_(0.5, 2)
        if affine:
            seq[1].weight.uniform_(0.5, 1.5)
            seq[1].bias.uniform_(-1, 1)
    return seq.eval()


def _involution(x, seq, g, r, s):
    """The official involution forward with ``seq`` as its kernel generator (unfold, multiply, sum)."""
    kk = 2 * r + 1
    weight = seq(F.avg_pool2d(x, s, s) if s > 1 else x)
    b, _, h, w = weight.shape
    cols = F.unfold(x, kk, padding=r, stride=s).view(b, g, x.shape[1] // g, kk * kk, h, w)
    return torch.einsum("bgkhw,bgckhw->bgchw", weight.view(b, g, kk * kk, h, w), cols).reshape(b, -1, h, w)


def _dynamic_dwconv(x, seq, r, bias):
    """DynamicDWConv's forward with ``seq`` as its generator on the global average pool."""
    b, c, h, w = x.shape
    weight = seq(F.adaptive_avg_pool2d(x, 1)).view(b * c, 1, 2 * r + 1, 2 * r + 1)
    out = F.conv2d(x.reshape(1, b * c, h, w), weight, None if bias is None else bias.repeat(b), padding=r, groups=b * c)
    return out.view(b, c, h, w)


@pytest.mark.parametrize("g, r, s, affine, reduce_bias", [(2, 1, 1, True, False), (1, 2, 2, False, False),
                                                          (2, 1, 1, True, True)])
def test_involution_from_the_generator_sequential(g, r, s, affine, reduce_bias):
    c, d = 4, 3
    seq = _generator(c, d, g * (2 * r + 1) ** 2, reduce_bias=reduce_bias, affine=affine)
    layer = load("involution").InvolutionEvolution.from_torch(seq, G=g, R=r, s=s)
    x = torch.randn(2, c, 6 * s, 5 * s, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), _involution(x, seq, g, r, s), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("reduce_bias", [True, False])
def test_idynamic_dwconv_keeps_the_first_convs_bias(reduce_bias):
    g, r, c, d = 2, 1, 4, 3
    seq = _generator(c, d, g * 9, reduce_bias=reduce_bias)
    layer = load("idynamic_dwconv").IdynamicDwconvEvolution.from_torch(seq, G=g, R=r)
    x = torch.randn(2, c, 5, 6, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), _involution(x, seq, g, r, 1), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("with_bias", [True, False])
def test_dynamic_dwconv_from_the_generator_sequential(with_bias):
    r, c, d = 1, 3, 2
    seq = _generator(c, d, c * 9)
    bias = torch.randn(c, dtype=torch.float64) if with_bias else None
    layer = load("dynamic_dwconv").DynamicDwconvEvolution.from_torch(seq, R=r, bias=bias)
    x = torch.randn(2, c, 5, 4, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), _dynamic_dwconv(x, seq, r, bias), rtol=1e-10, atol=1e-10)


def _trained(seq):
    return seq.train()


def _short(seq):
    return torch.nn.Sequential(*list(seq)[:3])


def _leaky(seq):
    seq[2] = torch.nn.LeakyReLU()
    return seq


def _three_by_three(seq):
    seq[0] = torch.nn.Conv2d(4, 3, 3, padding=1, bias=False).double()
    return seq


def _no_last_bias(seq):
    seq[3] = torch.nn.Conv2d(3, 18, 1, bias=False).double()
    return seq


class _StandardisedConv(torch.nn.Conv2d):
    """A weight-standardised conv (BiT's StdConv2d): a Conv2d whose forward differs."""

    def forward(self, x):
        w = self.weight
        return torch.nn.functional.conv2d(x, (w - w.mean((1, 2, 3), keepdim=True)) / (w.std((1, 2, 3), keepdim=True) + 1e-5),
                                          self.bias)


def _standardised(seq):
    conv = _StandardisedConv(4, 3, 1, bias=False).double()
    conv.load_state_dict(seq[0].state_dict())
    seq[0] = conv
    return seq


class _DoubledNorm(torch.nn.BatchNorm2d):
    def forward(self, x):
        return 2 * super().forward(x)


def _doubled_norm(seq):
    norm = _DoubledNorm(3).double()
    norm.load_state_dict(seq[1].state_dict())
    seq[1] = norm.eval()
    return seq


@pytest.mark.parametrize("spoil, kwargs, words", [
    (_standardised, {}, "submodule '0' is of class .*_StandardisedConv, which redefines forward"),
    (_doubled_norm, {}, "submodule '1' is of class .*_DoubledNorm, which redefines forward"),
    (_trained, {}, "eval mode"),
    (_short, {}, "four modules"),
    (_leaky, {}, "ReLU"),
    (_three_by_three, {}, "1×1 Conv2d"),
    (_no_last_bias, {}, "with a bias"),
    (lambda s: s, {"G": 3}, "kernel values"),          # 3·9 values wanted, the Sequential gives 18
    (lambda s: s, {"G": 2.0}, "G is an integer"),
    (lambda s: s, {"R": 0}, "R is an integer ≥ 1"),
])
def test_involution_refuses_what_is_not_its_generator(spoil, kwargs, words):
    seq = spoil(_generator(4, 3, 18))
    args = {"G": 2, "R": 1, "s": 1, **kwargs}
    with pytest.raises(ValueError, match=words):
        load("involution").InvolutionEvolution.from_torch(seq, **args)


def test_involution_refuses_groups_that_do_not_divide_the_channels():
    seq = _generator(3, 2, 2 * 9)
    with pytest.raises(ValueError, match="divide"):
        load("involution").InvolutionEvolution.from_torch(seq, G=2, R=1, s=1)


def test_dynamic_dwconv_refuses_a_bias_of_the_wrong_shape():
    seq = _generator(3, 2, 27)
    for bias in (torch.ones(()), torch.ones(4), "0"):
        with pytest.raises(ValueError, match="bias"):
            load("dynamic_dwconv").DynamicDwconvEvolution.from_torch(seq, R=1, bias=bias)


def test_a_non_sequential_is_refused_with_its_type():
    with pytest.raises(TypeError, match="Sequential"):
        load("involution").InvolutionEvolution.from_torch(torch.nn.Conv2d(4, 18, 1), G=2, R=1, s=1)
