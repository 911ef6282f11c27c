"""A 1-D convolution's zero padding past 'same' (2P > δ(K − 1), a 'full' convolution) is applied with F.pad before
the native convolution, because oneDNN's 1-D convolutions run 1.4–7× slower given it as an argument
(docs/benchmarks.md). The generated modules must give PyTorch's numbers on both sides of that threshold, with
stride, dilation, groups and asymmetric output lengths, forward and backward."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from evosym.coverage.modules import generated

F64 = torch.float64


@pytest.mark.parametrize("K, P, s, delta, G", [
    (3, 1, 1, 1, 1),     # 'same': the padding stays an argument
    (3, 2, 1, 1, 1),     # 'full'
    (9, 8, 1, 1, 4),     # 'full', depthwise-like groups
    (3, 5, 2, 1, 2),     # past 'full', with stride
    (3, 3, 1, 2, 1),     # dilation: 2P = 6 > δ(K − 1) = 4
    (5, 4, 3, 2, 1),     # 2P = δ(K − 1): not past 'same'
    (1, 2, 1, 1, 1),     # a 1-tap window with padding
])
def test_conv1d_with_padding_past_same_equals_pytorch(K, P, s, delta, G):
    fn = getattr(generated("conv1d"), "conv1d_evolution")
    g = torch.Generator().manual_seed(K * 100 + P)
    C_g, O_g, L = 2, 3, 11
    x = torch.randn(2, G * C_g, L, dtype=F64, generator=g, requires_grad=True)
    w = torch.randn(G * O_g, C_g, K, dtype=F64, generator=g, requires_grad=True)
    b = torch.randn(G * O_g, dtype=F64, generator=g, requires_grad=True)
    ours = fn(x, w, b, G=G, C_g=C_g, O_g=O_g, K=K, s=s, delta=delta, P=P)
    ref = F.conv1d(x, w, b, stride=s, padding=P, dilation=delta, groups=G)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    up = torch.randn(ref.shape, dtype=F64, generator=g)
    got = torch.autograd.grad(ours, (x, w, b), up)
    want = torch.autograd.grad(ref, (x, w, b), up)
    for a, e in zip(got, want):
        torch.testing.assert_close(a, e, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, cut", [("convolve_full", None), ("correlate_reversed", None), ("lti_system", "L")])
def test_full_convolutions_equal_pytorch_padded_by_hand(name, cut):
    """numpy.convolve's 'full' mode (and the LTI system, its first L outputs): conv1d of the flipped filter over x
    padded by K − 1 on both sides, computed independently here with F.pad."""
    fn = getattr(generated(name), f"{name}_evolution")
    g = torch.Generator().manual_seed(7)
    C, K, L = 3, 5, 12
    x = torch.randn(2, C, L, dtype=F64, generator=g, requires_grad=True)
    h = torch.randn(C, K, dtype=F64, generator=g, requires_grad=True)
    ours = fn(x, h, C=C, K=K)
    ref = F.conv1d(F.pad(x, (K - 1, K - 1)), h.flip(-1)[:, None, :], groups=C)
    ref = ref[..., :L] if cut else ref
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    up = torch.randn(ref.shape, dtype=F64, generator=g)
    for a, e in zip(torch.autograd.grad(ours, (x, h), up), torch.autograd.grad(ref, (x, h), up)):
        torch.testing.assert_close(a, e, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, K, P, want", [("conv1d", 9, 8, (0,)), ("conv1d", 9, 4, (4,)), ("convolve_full", 9, None, (0,))])
def test_the_native_call_gets_no_padding_past_same(monkeypatch, name, K, P, want):
    """The speed path itself: F.conv1d is called with padding 0 where the padding is past 'same', as given otherwise."""
    seen = []
    conv1d = F.conv1d

    def spy(*args, **kw):
        seen.append(tuple(kw["padding"]))
        return conv1d(*args, **kw)
    monkeypatch.setattr(F, "conv1d", spy)
    fn = getattr(generated(name), f"{name}_evolution")
    x = torch.randn(1, 2, 20, dtype=F64)
    if name == "conv1d":
        fn(x, torch.randn(2, 2, K, dtype=F64), None, G=1, C_g=2, O_g=2, K=K, s=1, delta=1, P=P)
    else:
        fn(x, torch.randn(2, K, dtype=F64), C=2, K=K)
    assert seen == [want]


def test_the_runtime_test_is_emitted_only_where_the_padding_may_pass_same():
    """Decided at generation from the proved window: conv1d_same's padding ⌊δ(K − 1)/2⌋ never passes 'same' (no runtime
    test in its module); conv1d's P and convolve_same's K − 1 − ⌊(K − 1)/2⌋ (past 'same' for an even K) may."""
    import inspect
    test = "if 2 * padding[0] > dilation[0] * (kernel[0] - 1):"
    for name, emitted in (("conv1d_same", False), ("conv1d", True), ("convolve_same", True), ("convolve_full", True)):
        assert (test in inspect.getsource(generated(name))) is emitted, name
