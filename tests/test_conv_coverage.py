"""PyTorch's convolution arguments against evosym's generated convolution modules (issue 27, convolution).

A sweep over padding ('valid', 'same', ints), padding_mode, stride, dilation, groups, bias and odd and
even kernels, for ``F.conv{1,2,3}d`` and ``nn.Conv{1,2,3}d`` (through ``from_torch``), runs both paths of
the committed generated modules in float64 against PyTorch: no wrong result, every refusal a ValueError
with a message. The counts and the argument table of docs/convolution-coverage.md are checked against
the code (:mod:`evosym.coverage.conv`), and canaries show the sweep catches what it claims to catch.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from evosym.coverage import conv as C

DOC = Path(__file__).resolve().parent.parent / "docs" / "convolution-coverage.md"
CASES = [(d, m) for d in (1, 2, 3) for m in (False, True)]


def _documented_counts() -> dict:
    """{(function, module): (tried, matched, refused, torch refused)} from the page's counts table."""
    out = {}
    for fn, *nums in re.findall(r"^\| `(F\.conv\dd|nn\.Conv\dd)` \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|$",
                                DOC.read_text(encoding="utf-8"), re.M):
        out[(int(fn[-2]), fn.startswith("nn."))] = tuple(map(int, nums))
    return out


@pytest.mark.parametrize("dims,module", CASES, ids=[f"{'nn.Conv' if m else 'F.conv'}{d}d" for d, m in CASES])
def test_sweep_matches_torch_or_refuses_clearly(dims, module):
    r = C.sweep(dims, module)
    assert not r["failures"], f"{len(r['failures'])} failures:\n" + "\n".join(r["failures"][:20])
    assert r["matched"] + r["refused"] == r["tried"]
    assert r["matched"] >= r["tried"] // 3, r   # most of what PyTorch computes is covered, not refused
    assert _documented_counts()[(dims, module)] == (r["tried"], r["matched"], r["refused"], r["torch refused"]), \
        "docs/convolution-coverage.md's counts are stale: update them from evosym.coverage.conv.sweep"


def test_documented_table_is_the_code():
    assert C.markdown() in DOC.read_text(encoding="utf-8"), \
        "docs/convolution-coverage.md's table is stale: paste evosym.coverage.conv.markdown()"


@pytest.mark.parametrize("kw,match", [
    (dict(padding="same", stride=2), r"padding='same' needs stride 1"),
    (dict(padding="full"), r"padding must be 'valid', 'same'"),
    (dict(padding=1, padding_mode="mirror"), r"padding_mode must be one of"),
    (dict(padding=1, dilation=2, padding_mode="replicate"), r"padding_mode='replicate' with dilation > 1"),
    (dict(padding="same", kernel_size=4, padding_mode="replicate"),
     r"padding='same' with padding_mode='replicate' and an odd δ\(K − 1\)"),
    (dict(padding="same", dilation=2, padding_mode="reflect"),
     r"padding='same' with padding_mode='reflect' and dilation > 1"),
    (dict(padding="same", kernel_size=2, dilation=3, padding_mode="circular"),
     r"padding='same' with padding_mode='circular' and an odd δ\(K − 1\)"),
    (dict(groups=3), r"multiples of groups"),
    (dict(kernel_size=(3, 3)), r"kernel_size must be an int ≥ 1 or a tuple of 1"),
    (dict(stride=0), r"stride must be an int ≥ 1"),
    (dict(padding=-1), r"padding must be an int ≥ 0"),
])
def test_route_refuses_with_the_condition(kw, match):
    with pytest.raises(ValueError, match=match):
        C.route(1, **{"in_channels": 4, "out_channels": 4, "kernel_size": 3, **kw})


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("padding,mode,want", [
    ("valid", "zeros", "conv{}d"), (0, "zeros", "conv{}d"), ("same", "zeros", "conv{}d_same"),
    (1, "reflect", "conv{}d_reflect"), ("valid", "reflect", "conv{}d"), (0, "circular", "conv{}d"),
    (1, "replicate", "conv{}d_replicate"), (1, "circular", "conv{}d_circular"),
    ("same", "reflect", "conv{}d_reflect"), ("same", "replicate", "conv{}d_replicate"),
    ("same", "circular", "conv{}d_circular"),
])
def test_from_torch_picks_the_operator(dims, padding, mode, want):
    m = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}[dims](
        4, 2, 3, padding=padding, padding_mode=mode, groups=2, dtype=torch.float64)
    layer = C.from_torch(m)
    assert type(layer).__module__ == "evosym_coverage_" + want.format(dims)
    x = torch.randn((1, 4) + (5,) * dims, dtype=torch.float64)
    torch.testing.assert_close(layer(x), m(x), rtol=1e-12, atol=1e-12)
    others = [n for n in C.candidates(dims) if n != want.format(dims)]
    assert [n for n in others if C._takes(n, m)] == []


def test_mode_operators_take_same_padding_only_with_odd_kernels():
    """padding='same' in a mode pads (K − 1)/2 on both sides where K is odd (the mode operator, P read from K):
    equal to the module's own F.pad + conv, 2-D with two odd kernel sizes; an even kernel size on any axis pads
    asymmetrically, and every mode operator's from_torch refuses it with the axis."""
    torch.manual_seed(2)
    for mode in ("reflect", "replicate", "circular"):
        m = torch.nn.Conv2d(2, 3, (3, 5), padding="same", padding_mode=mode, dtype=torch.float64)
        layer = C.from_torch(m)
        x = torch.randn(2, 2, 6, 7, dtype=torch.float64)
        assert (layer.P_h, layer.P_w) == (1, 2)
        torch.testing.assert_close(layer(x), m(x), rtol=1e-12, atol=1e-12)
        even = torch.nn.Conv2d(2, 3, (3, 4), padding="same", padding_mode=mode)
        with pytest.raises(ValueError, match=r"an odd δ\(K − 1\)"):
            C.from_torch(even)
        with pytest.raises(ValueError, match=r"dilation\[1\]·\(kernel_size\[1\] − 1\) is even where padding='same'"):
            C.module_class(C.generated(f"conv2d_{mode}")).from_torch(even)


def test_a_padding_of_zero_in_any_mode_is_the_plain_convolution():
    """padding 0 (or 'valid') pads nothing whatever the mode: nn.Conv*d(padding_mode='reflect', padding=0, dilation=2)
    was refused as a mode with dilation; it is conv{1,2,3}d's, equal to the module, and no mode operator takes it."""
    torch.manual_seed(3)
    for dims in (1, 2, 3):
        for mode in ("reflect", "replicate", "circular"):
            m = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}[dims](2, 3, 2, padding=0, dilation=2,
                                                                                  padding_mode=mode, dtype=torch.float64)
            layer = C.from_torch(m)
            assert type(layer).__module__ == f"evosym_coverage_conv{dims}d"
            x = torch.randn((2, 2) + (6,) * dims, dtype=torch.float64)
            torch.testing.assert_close(layer(x), m(x), rtol=1e-12, atol=1e-12)
            with pytest.raises(ValueError, match="a padding of 0 is conv"):
                C.module_class(C.generated(f"conv{dims}d_{mode}")).from_torch(m)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_circular_padding_takes_dilation(dims):
    """Circular padding is a translation mod L, so the dilated window wraps as it is: conv{1,2,3}d_circular are proved
    with a dilation δ; nn.Conv*d(padding_mode='circular', dilation=…) with an integer padding and with 'same' (δ(K − 1)
    even) equal the module, both paths, gradients too."""
    torch.manual_seed(5)
    cls = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}[dims]
    for kw in (dict(kernel_size=3, padding=2, dilation=2, stride=2), dict(kernel_size=3, padding="same", dilation=3)):
        m = cls(2, 4, groups=2, padding_mode="circular", dtype=torch.float64, **kw)
        layer = C.from_torch(m)
        assert type(layer).__module__ == f"evosym_coverage_conv{dims}d_circular"
        x = torch.randn((2, 2) + (7, 6, 8)[:dims], dtype=torch.float64, requires_grad=True)
        for path in ("auto", "generic"):
            got = layer(x, path=path)
            torch.testing.assert_close(got, m(x), rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(torch.autograd.grad(got.sum(), x)[0], torch.autograd.grad(m(x).sum(), x)[0],
                                       rtol=1e-12, atol=1e-12)


def test_mode_operators_refuse_dilation_in_from_torch():
    """The reflect and replicate operators are proved for dilation 1: their from_torch must refuse a dilated module
    (before the fix it loaded it and computed with dilation 1)."""
    for dims in (1, 2, 3):
        for mode in ("reflect", "replicate"):
            m = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}[dims](2, 2, 3, padding=2, dilation=2,
                                                                                  padding_mode=mode)
            cls = C.module_class(C.generated(f"conv{dims}d_{mode}"))
            with pytest.raises(ValueError, match=r"dilation\[0\] = 1"):
                cls.from_torch(m)


def test_reflect_outside_the_window_is_refused_not_miscomputed():
    """2P > K − 1 with reflect padding: the kernel's support leaves the window; the generic path would drop
    those taps' weights, so the generated module refuses (on every path) with the declared condition."""
    for dims in (1, 3):
        fn = getattr(C.generated(f"conv{dims}d_reflect"), f"conv{dims}d_reflect_evolution")
        x = torch.randn((1, 1) + (6,) * dims, dtype=torch.float64)
        w = torch.randn((1, 1) + (3,) * dims, dtype=torch.float64)
        sizes = dict(G=1, C_g=1, O_g=1, **{f"{b}{'_' + a if a else ''}": v for a in C.AXES[dims]
                                            for b, v in (("K", 3), ("s", 1), ("P", 2))})
        for path in ("auto", "generic"):
            with pytest.raises(ValueError, match=r"2·P.* ≤ K.* - 1"):
                fn(x, w, None, **sizes, path=path)


def test_same_asymmetric_padding_matches_torch():
    """δ(K−1) odd: ⌊δ(K−1)/2⌋ before and the rest after, on every axis, both paths."""
    torch.manual_seed(1)
    for dims, K, dil in ((1, 4, 1), (1, 2, 3), (3, (2, 3, 4), (3, 2, 1))):
        x = torch.randn((2, 2) + (5, 4, 6)[:dims], dtype=torch.float64)
        w = torch.randn((2, 1) + ((K,) if dims == 1 else K), dtype=torch.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)   # PyTorch's note that asymmetric 'same' copies the input
            ref = (F.conv1d if dims == 1 else F.conv3d)(x, w, None, padding="same", dilation=dil, groups=2)
        for path in ("auto", "generic"):
            torch.testing.assert_close(C.conv(dims, x, w, None, 1, "same", dil, 2, path=path), ref, rtol=1e-12, atol=1e-12)


# canaries: the sweep must fail when the generated code is wrong, raises something else, or computes
# where PyTorch refuses

@pytest.fixture
def small_sweep(monkeypatch):
    for name, values in (("PADDINGS", ("same", 1)), ("STRIDES", (1, 2)), ("DILATIONS", (1,)), ("GROUPS", (1,)),
                         ("KERNELS", (3,))):
        monkeypatch.setattr(C, name, values)


def _patched(monkeypatch, change):
    real = C.generated

    class Wrapped:
        def __init__(self, mod):
            self.mod = mod

        def __getattr__(self, attr):
            value = getattr(self.mod, attr)
            return change(value) if attr.endswith("_evolution") else value
    monkeypatch.setattr(C, "generated", lambda name: Wrapped(real(name)))


def test_canary_a_wrong_number_is_a_failure(monkeypatch, small_sweep):
    _patched(monkeypatch, lambda fn: lambda *a, **k: fn(*a, **k) * (1 + 1e-9))
    r = C.sweep(1, False)
    assert r["failures"] and all("wrong result on path auto, generic" in f for f in r["failures"])


def test_canary_another_exception_is_a_failure(monkeypatch, small_sweep):
    def broken(fn):
        def call(*a, **k):
            raise IndexError("out of range")
        return call
    _patched(monkeypatch, broken)
    r = C.sweep(1, False)
    assert r["failures"] and all("IndexError" in f for f in r["failures"])


def test_canary_computing_what_torch_refuses_is_a_failure(monkeypatch, small_sweep):
    real = C.route
    monkeypatch.setattr(C, "route", lambda dims, **kw: real(dims, **{**kw, "stride": 1}))   # forgets the stride
    r = C.sweep(1, False)
    assert any("evosym computed what PyTorch refuses" in f for f in r["failures"])


@pytest.mark.parametrize("padding,mode", [(1, "zeros"), ("same", "zeros"), (1, "reflect"), (1, "replicate"),
                                          (1, "circular")])
@pytest.mark.parametrize("dims", [2, 3])
def test_channels_last_weights_with_a_length_one_axis_differentiate_as_torch(dims, padding, mode):
    """One output channel, channels_last (3-D: channels_last_3d) input and weights, float64: the default path's
    backward failed (slow_conv2d: grad_weight must be contiguous) where torch's own layer works, because a reshape
    of the weight to its own shape re-strided its length-1 axis; the weight is now read as it is."""
    torch.manual_seed(4)
    fmt = torch.channels_last if dims == 2 else torch.channels_last_3d
    m = {2: torch.nn.Conv2d, 3: torch.nn.Conv3d}[dims](2, 1, 3, padding=padding, padding_mode=mode,
                                                         dtype=torch.float64).to(memory_format=fmt)
    layer = C.from_torch(m).to(memory_format=fmt)
    x = torch.randn((2, 2) + (5,) * dims, dtype=torch.float64).to(memory_format=fmt)
    grads = []
    for f in (m, layer):
        xx = x.clone().requires_grad_()
        y = f(xx)
        grads.append((y,) + torch.autograd.grad((y * torch.arange(y.numel(), dtype=y.dtype).view(y.shape)).sum(),
                                                 (xx,) + tuple(f.parameters())))
    for a, b in zip(*grads):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)
