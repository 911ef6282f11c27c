"""A 1-D convolution's zero padding past 'same' (2P > δ(K − 1), a 'full' convolution) is never handed to the native
convolution, because oneDNN's 1-D convolutions run 1.4–7× slower given it as an argument (docs/benchmarks.md): the
generated module's _conv1d pads x with F.pad (below _SPLIT_FROM entries of x), or computes the outputs that read no
padding as one unpadded convolution of x and the border outputs from short padded slices, concatenated (no padded copy
of x). While x's gradient is recorded the padding is handed to the convolution (a slice's gradient is a tensor of x's
size: that form holds least in forward + backward). The generated modules must give PyTorch's numbers on both sides of
the threshold and in every form, with stride, dilation, groups and asymmetric output lengths: values, the gradients of
x and of the parameters, and x's tangent in forward mode (the split runs there)."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.autograd.forward_ad as fwAD
import torch.nn.functional as F

from evosym.coverage.modules import generated

F64 = torch.float64


def _agrees(call, ref_call, x, params, g, tol=1e-12):
    """call(x, *params) against ref_call(x, *params): the values and every leaf's gradient with x's gradient recorded
    and not (the native call with the padding, and the padded or split form: the parameters' gradients through it),
    and x's tangent in forward mode (the padded or split form again)."""
    for x_grad in (False, True):
        xx = x.detach().requires_grad_(x_grad)
        leaves = ([xx] if x_grad else []) + list(params)
        ours, ref = call(xx, *params), ref_call(xx, *params)
        assert ours.shape == ref.shape
        torch.testing.assert_close(ours, ref, rtol=tol, atol=tol)
        up = torch.randn(ref.shape, dtype=ref.dtype, generator=g)
        for a, e in zip(torch.autograd.grad(ours, leaves, up), torch.autograd.grad(ref, leaves, up)):
            torch.testing.assert_close(a, e, rtol=tol, atol=tol)
    tangent = torch.randn(x.shape, dtype=x.dtype, generator=g)
    plain = [p.detach() for p in params]
    with fwAD.dual_level():
        got = fwAD.unpack_dual(call(fwAD.make_dual(x.detach(), tangent), *plain)).tangent
        want = fwAD.unpack_dual(ref_call(fwAD.make_dual(x.detach(), tangent), *plain)).tangent
    torch.testing.assert_close(got, want, rtol=tol, atol=tol)


@pytest.fixture(params=["padded", "split"])
def form(request, monkeypatch):
    """Both forms of _conv1d at the tests' small sizes: "split" lowers the size from which it splits to 0."""
    if request.param == "split":
        for name in ("conv1d", "convolve_full", "correlate_reversed", "lti_system"):
            monkeypatch.setattr(generated(name), "_SPLIT_FROM", 0)
    return request.param


@pytest.mark.parametrize("K, P, s, delta, G", [
    (3, 1, 1, 1, 1),     # 'same': the padding stays an argument
    (3, 2, 1, 1, 1),     # 'full'
    (9, 8, 1, 1, 4),     # 'full', depthwise-like groups
    (3, 5, 2, 1, 2),     # past 'full', with stride
    (3, 3, 1, 2, 1),     # dilation: 2P = 6 > δ(K − 1) = 4
    (5, 4, 3, 2, 1),     # 2P = δ(K − 1): not past 'same'
    (1, 2, 1, 1, 1),     # a 1-tap window with padding
    (1, 3, 2, 1, 1),     # a 1-tap window with stride: border outputs that read padding only
    (2, 7, 5, 1, 1),     # stride past the window: an output whose window starts past x
    (3, 6, 1, 4, 1),     # dilation past the input: no output reads x alone (the padded form)
])
def test_conv1d_with_padding_past_same_equals_pytorch(form, K, P, s, delta, G):
    fn = getattr(generated("conv1d"), "conv1d_evolution")
    g = torch.Generator().manual_seed(K * 100 + P)
    C_g, O_g, L = 2, 3, 11
    x = torch.randn(2, G * C_g, L, dtype=F64, generator=g)
    w = torch.randn(G * O_g, C_g, K, dtype=F64, generator=g, requires_grad=True)
    b = torch.randn(G * O_g, dtype=F64, generator=g, requires_grad=True)
    _agrees(lambda x, w, b: fn(x, w, b, G=G, C_g=C_g, O_g=O_g, K=K, s=s, delta=delta, P=P),
            lambda x, w, b: F.conv1d(x, w, b, stride=s, padding=P, dilation=delta, groups=G), x, (w, b), g)


@pytest.mark.parametrize("name, cut", [("convolve_full", None), ("correlate_reversed", None), ("lti_system", "L")])
def test_full_convolutions_equal_pytorch_padded_by_hand(form, name, cut):
    """numpy.convolve's 'full' mode (and the LTI system, its first L outputs): conv1d of the flipped filter over x
    padded by K − 1 on both sides, computed independently here with F.pad."""
    fn = getattr(generated(name), f"{name}_evolution")
    g = torch.Generator().manual_seed(7)
    C, K, L = 3, 5, 12
    x = torch.randn(2, C, L, dtype=F64, generator=g)
    h = torch.randn(C, K, dtype=F64, generator=g, requires_grad=True)

    def ref(x, h):
        y = F.conv1d(F.pad(x, (K - 1, K - 1)), h.flip(-1)[:, None, :], groups=C)
        return y[..., :L] if cut else y
    _agrees(lambda x, h: fn(x, h, C=C, K=K), ref, x, (h,), g)


@pytest.mark.parametrize("name, K, P, want", [("conv1d", 9, 8, (0,)), ("conv1d", 9, 4, (4,)), ("convolve_full", 9, None, (0,))])
def test_the_native_call_gets_no_padding_past_same(monkeypatch, name, K, P, want):
    """The speed path itself: F.conv1d is called with padding 0 where the padding is past 'same', as given otherwise."""
    seen = []
    conv1d = F.conv1d

    def spy(*args, **kw):
        p = kw["padding"] if "padding" in kw else args[4]
        seen.append(tuple(p) if isinstance(p, (tuple, list)) else (p,))
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
    """Decided at generation from the proved window: conv1d_same's padding ⌊δ(K − 1)/2⌋ never passes 'same' (its
    module calls F.conv1d); conv1d's P and convolve_same's K − 1 − ⌊(K − 1)/2⌋ (past 'same' for an even K) may (their
    modules call _conv1d, which tests it at run time)."""
    import inspect
    test = "y = _conv1d(xin, "
    for name, emitted in (("conv1d_same", False), ("conv1d", True), ("convolve_same", True), ("convolve_full", True)):
        assert (test in inspect.getsource(generated(name))) is emitted, name


def test_the_split_equals_pytorch_everywhere():
    """_conv1d split at every size (_SPLIT_FROM 0), over kernel sizes, paddings up to past 'full', strides past the
    window, dilations, input lengths down to 1 and groups: F.conv1d's values and gradients, or its error."""
    mod = generated("conv1d")
    g = torch.Generator().manual_seed(3)
    checked = 0
    for K, P, s, d, L, G in itertools.product([1, 2, 3, 5], [0, 1, 2, 3, 5, 9], [1, 2, 3, 7], [1, 3], [1, 2, 5, 13], [1, 2]):
        x = torch.randn(2, 2 * G, L, dtype=F64, generator=g)
        w = torch.randn(3 * G, 2, K, dtype=F64, generator=g, requires_grad=True)
        b = torch.randn(3 * G, dtype=F64, generator=g, requires_grad=True)
        try:
            F.conv1d(x, w, b, s, P, d, G)
        except RuntimeError:   # the window does not fit: the split must refuse it too
            with pytest.raises(RuntimeError):
                mod._conv1d(x, w, b, (s,), (P,), (d,), G)
            continue
        old, mod._SPLIT_FROM = mod._SPLIT_FROM, 0
        try:
            _agrees(lambda x, w, b: mod._conv1d(x, w, b, (s,), (P,), (d,), G),
                    lambda x, w, b: F.conv1d(x, w, b, s, P, d, G), x, (w, b), g)
        finally:
            mod._SPLIT_FROM = old
        checked += 1
    assert checked > 800


def test_a_large_full_convolution_is_split_and_holds_no_padded_copy(monkeypatch):
    """At x's size from _SPLIT_FROM on, correlate_reversed's native convolution is the three calls without padding (no
    call is handed x padded whole), its values PyTorch's, and its peak memory below the F.pad form's: the padded copy
    of x is not made."""
    from evosym.codegen.peak_memory import peak_cpu_bytes
    mod = generated("correlate_reversed")
    C, K = 2, 9
    L = mod._SPLIT_FROM // C
    g = torch.Generator().manual_seed(5)
    x = torch.randn(1, C, L, generator=g)
    h = torch.randn(C, K, generator=g)
    ref = F.conv1d(F.pad(x, (K - 1, K - 1)), h.flip(-1)[:, None, :], groups=C)
    seen = []
    conv1d = F.conv1d

    def spy(inp, *args, **kw):
        seen.append(tuple(inp.shape))
        return conv1d(inp, *args, **kw)
    monkeypatch.setattr(F, "conv1d", spy)
    ours = mod.correlate_reversed_evolution(x, h, C=C, K=K)
    monkeypatch.undo()
    assert len(seen) == 3 and max(n[2] for n in seen) == L, seen   # the interior reads x unpadded
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    split = peak_cpu_bytes(lambda: mod.correlate_reversed_evolution(x, h, C=C, K=K))
    monkeypatch.setattr(mod, "_SPLIT_FROM", x.numel() + 1)
    padded = peak_cpu_bytes(lambda: mod.correlate_reversed_evolution(x, h, C=C, K=K))
    out = ref.numel() * ref.element_size()
    assert split < padded and padded - split >= x.numel() * x.element_size() * 0.9, (split, padded, out)


def test_while_x_gradient_is_recorded_the_padding_is_handed_to_the_convolution(monkeypatch):
    """At the same size with x's gradient recorded: one native call handed the padding (each slice's gradient would be
    a tensor of x's size), its values and gradients PyTorch's, and its forward + backward peak below the split's."""
    from evosym.codegen.peak_memory import peak_cpu_bytes
    mod = generated("correlate_reversed")
    C, K = 2, 9
    L = mod._SPLIT_FROM // C
    g = torch.Generator().manual_seed(6)
    x = torch.randn(1, C, L, generator=g, requires_grad=True)
    h = torch.randn(C, K, generator=g, requires_grad=True)
    seen = []
    conv1d = F.conv1d

    def spy(inp, *args, **kw):
        seen.append((tuple(inp.shape), kw.get("padding", args[3] if len(args) > 3 else None)))
        return conv1d(inp, *args, **kw)
    monkeypatch.setattr(F, "conv1d", spy)
    ours = mod.correlate_reversed_evolution(x, h, C=C, K=K)
    monkeypatch.undo()
    assert seen == [((1, C, L), (K - 1,))], seen
    ref = F.conv1d(F.pad(x, (K - 1, K - 1)), h.flip(-1)[:, None, :], groups=C)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    for a, e in zip(torch.autograd.grad(ours.sum(), (x, h)), torch.autograd.grad(ref.sum(), (x, h))):
        torch.testing.assert_close(a, e, rtol=1e-4, atol=1e-4)

    def step():
        torch.autograd.grad(mod.correlate_reversed_evolution(x, h, C=C, K=K).sum(), (x, h))
    native = peak_cpu_bytes(step)
    monkeypatch.setattr(torch, "is_grad_enabled", lambda: False)   # what the split would hold
    split = peak_cpu_bytes(step)
    assert native < split, (native, split)
