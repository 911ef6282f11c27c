"""Refusals and sizes from the adversarial review of issue 27: avg_pool3d's window against the unpadded input,
fourier_conv1d's P='valid', Swin's shift and input rank, numpy integer sizes, lazy convolutions and adaptive
pooling's None. Each against PyTorch in float64, through modules generated from the template now (``fresh``)."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from test_empty_inputs import fresh, fresh_coverage  # noqa: F401  (a fixture)

F64 = torch.float64


def _cls(gen):
    return next(getattr(gen, n) for n in gen.__all__ if not n.endswith("_evolution"))


# -- avg_pool: PyTorch's accept/refuse rule for windows larger than the unpadded input ------------------------------

def _pool_calls(dims):
    for L, K, s, ceil, include in itertools.product((1, 2, 3), (1, 2, 3, 4), (1, 2), (False, True), (True, False)):
        for P in range(K // 2 + 1):
            yield (L,) * dims, dict(kernel_size=K, stride=s, padding=P, ceil_mode=ceil, count_include_pad=include)
    # axes that differ: only one axis' window larger than its input
    yield (3, 2, 4)[:dims], dict(kernel_size=(3, 3, 3)[:dims], stride=1, padding=1)
    yield (4, 4, 2)[:dims], dict(kernel_size=(2, 2, 3)[:dims], stride=1, padding=1, ceil_mode=True)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_avg_pool_takes_a_window_larger_than_the_input_exactly_where_pytorch_does(dims, fresh_coverage):
    """avg_pool3d refuses a window larger than the unpadded input (whatever the padding), avg_pool1d/2d take it
    when the padded input is large enough: the same accept/refuse rule, equal numbers, the refusal an evosym
    ValueError naming the condition."""
    from evosym.coverage import pooling
    gen = torch.Generator().manual_seed(dims)
    took = refused = 0
    for lengths, kw in _pool_calls(dims):
        x = torch.rand((2, 3) + lengths, generator=gen, dtype=F64)
        where = f"avg_pool{dims}d(x of shape {tuple(x.shape)}, {kw})"
        try:
            want = getattr(F, f"avg_pool{dims}d")(x, **kw)
        except RuntimeError:
            want = None
        for path in ("auto", "generic"):
            if want is None:
                with pytest.raises(ValueError, match=r"the proof holds only where|window does not fit") as info:
                    pooling.pool(f"avg_pool{dims}d", x, path=path, **kw)
                if dims == 3 and any(k > n for k, n in zip(np.broadcast_to(kw["kernel_size"], (3,)), lengths)):
                    assert re.search(r"K_[dhw] ≤ [DHW]_in", str(info.value)), f"{where}: {info.value}"
                continue
            got = pooling.pool(f"avg_pool{dims}d", x, path=path, **kw)
            torch.testing.assert_close(got, want, rtol=1e-13, atol=1e-14, msg=where)
        took += want is not None
        refused += want is None
    assert took and refused   # both sides of the rule were exercised


@pytest.mark.parametrize("lengths, K, P", [((2, 2, 2), 3, 1), ((3, 2, 3), (1, 3, 1), (0, 1, 0)), ((4, 4, 1), (2, 2, 2), 1)])
def test_avg_pool3d_module_refuses_a_window_larger_than_the_unpadded_input(lengths, K, P):
    layer = fresh("avg_pool3d").AvgPool3dEvolution.from_torch(torch.nn.AvgPool3d(K, 1, P))
    x = torch.rand((1, 2) + lengths, dtype=F64)
    with pytest.raises(RuntimeError, match="smaller than kernel size"):
        F.avg_pool3d(x, K, 1, P)
    for path in ("auto", "generic"):
        with pytest.raises(ValueError, match=r"avg_pool3d: the proof holds only where K_[dhw] ≤ [DHW]_in .*got"):
            layer(x, path=path)


# -- fourier_conv1d: P is the kernel's offset, not a padding of the output grid ---------------------------------------

@pytest.mark.parametrize("K", [1, 2, 3])
def test_fourier_conv1d_refuses_padding_valid(K):
    gen = fresh("fourier_conv1d")
    x, w, b = torch.randn(2, 3, 6, dtype=F64), torch.randn(2, 3, K, dtype=F64), torch.randn(2, dtype=F64)
    for path in ("auto", "generic"):
        with pytest.raises(ValueError, match=r"P='valid' \(PyTorch's no padding.*output length does not depend on P"):
            gen.fourier_conv1d_evolution(x, w, b, C=3, O=2, K=K, P="valid", path=path)
    with pytest.raises(ValueError, match=r"P \(.*\) must be an integer"):
        gen.FourierConv1dEvolution(C=3, O=2, K=K, P="valid")


@pytest.mark.parametrize("K", [1, 3, 5])
def test_fourier_conv1d_padding_same_is_circular_same(K):
    """'same' (odd K) stays what it was: the circular convolution PyTorch computes with padding='same'."""
    gen = fresh("fourier_conv1d")
    torch.manual_seed(K)
    x, w, b = torch.randn(2, 3, 7, dtype=F64), torch.randn(2, 3, K, dtype=F64), torch.randn(2, dtype=F64)
    conv = torch.nn.Conv1d(3, 2, K, padding="same", padding_mode="circular", dtype=F64)
    with torch.no_grad():
        conv.weight.copy_(w), conv.bias.copy_(b)
        want = conv(x)
    got = gen.fourier_conv1d_evolution(x, w, b, C=3, O=2, K=K, P="same", path="generic")
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_padding_valid_is_still_taken_where_the_output_depends_on_it(fresh_coverage):
    """conv1d_circular's P pads the output grid: 'valid' is P = 0, as nn.Conv1d(padding='valid', 'circular')."""
    torch.manual_seed(0)
    gen = fresh("conv1d_circular")
    x, w = torch.randn(2, 2, 7, dtype=F64), torch.randn(4, 2, 3, dtype=F64)
    got = gen.conv1d_circular_evolution(x, w, None, G=1, C_g=2, O_g=4, K=3, s=1, delta=1, P="valid")
    torch.testing.assert_close(got, F.conv1d(x, w, padding="valid"), rtol=1e-12, atol=1e-12)


# -- Swin: the shift is below the window, in the constructor; the rank is checked before the shape is read ----------

@pytest.mark.parametrize("M, S", [(3, 3), (3, 4), (3, 6), (1, 1), (2, 7)])
def test_swin_constructor_refuses_a_shift_of_a_window_or_more(M, S):
    cls = fresh("swin_attention").SwinAttentionEvolution
    with pytest.raises(ValueError, match=rf"S ≤ M - 1 .*got M = {M}, S = {S}"):
        cls(N=1, d=2, M=M, S=S)
    assert cls(N=1, d=2, M=M, S=M - 1).S == M - 1


@pytest.mark.parametrize("shape", [(6, 6), (6,), (1, 2, 1, 6, 6), ()])
def test_swin_forward_checks_the_rank_first(shape):
    layer = fresh("swin_attention").SwinAttentionEvolution(N=1, d=2, M=3, S=1, dtype=F64)
    for path in ("auto", "generic"):
        with pytest.raises(ValueError, match=r"x must have 4 dimensions .*or 3 without the batch"):
            layer(torch.randn(shape, dtype=F64), path=path)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        layer([[1.0]])


# -- numpy integers are sizes, as PyTorch takes them; bools and floats are not ----------------------------------------

I64 = np.int64


@pytest.mark.parametrize("fn, args, kwargs", [
    ("avg_pool2d", (I64(3),), dict(stride=I64(2), padding=I64(1))),
    ("avg_pool2d", ((I64(3), np.int32(2)),), dict(stride=(I64(1), 2), padding=(I64(1), I64(0)), divisor_override=I64(4))),
    ("avg_pool1d", (I64(3),), dict(stride=I64(2), padding=I64(1), ceil_mode=True, count_include_pad=False)),
    ("avg_pool3d", (I64(2),), dict(stride=np.int16(1), padding=I64(1))),
    ("adaptive_avg_pool2d", ((I64(2), I64(3)),), {}),
    ("adaptive_avg_pool1d", (np.uint8(3),), {}),
    ("lp_pool2d", (I64(1), I64(2)), {}),
])
def test_pooling_takes_numpy_integer_sizes(fn, args, kwargs, fresh_coverage):
    from evosym.coverage import pooling
    dims = int(fn[-2])
    x = torch.rand((2, 3) + (5,) * dims, dtype=F64)
    want = getattr(F, fn)(x, *args, **kwargs)
    for path in ("auto", "generic"):
        torch.testing.assert_close(pooling.pool(fn, x, *args, path=path, **kwargs), want, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("bad", [True, 3.0, np.float64(3.0), np.bool_(True), "3"])
def test_pooling_and_conv_routes_refuse_bools_and_floats(bad):
    from evosym.coverage import conv, pooling
    with pytest.raises(ValueError, match="kernel_size must be an int"):
        pooling.route("avg_pool2d", bad)
    with pytest.raises(ValueError, match="stride must be an int"):
        conv.route(2, in_channels=2, out_channels=2, kernel_size=3, stride=bad)
    with pytest.raises(ValueError, match="groups must be an int"):
        conv.route(2, in_channels=2, out_channels=2, kernel_size=3, groups=bad)
    with pytest.raises(ValueError, match="divisor_override must be a positive int"):
        pooling.route("avg_pool2d", 2, divisor_override=bad)
    with pytest.raises(ValueError, match=r"K_h \(.*\) must be an integer"):
        fresh("avg_pool2d").AvgPool2dEvolution(K_h=bad, s_h=1, P_h=0, K_w=2, s_w=1, P_w=0)


def test_conv_takes_numpy_integer_sizes(fresh_coverage):
    from evosym.coverage import conv
    torch.manual_seed(1)
    x, w, b = torch.randn(2, 4, 7, 6, dtype=F64), torch.randn(6, 2, 3, 2, dtype=F64), torch.randn(6, dtype=F64)
    want = F.conv2d(x, w, b, I64(2), (I64(1), 0), I64(1), I64(2))
    for path in ("auto", "generic"):
        got = conv.conv(2, x, w, b, I64(2), (I64(1), 0), I64(1), I64(2), path=path)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    r = conv.route(1, in_channels=I64(4), out_channels=np.int32(2), kernel_size=I64(3), padding=I64(1), groups=I64(2))
    assert all(type(v) is int for v in r.sizes.values())
    m = torch.nn.Conv2d(I64(4), I64(6), I64(3), stride=I64(2), padding=I64(1), groups=I64(2), dtype=F64)
    layer = conv.from_torch(m)
    torch.testing.assert_close(layer(x), m(x), rtol=1e-12, atol=1e-12)
    assert all(type(getattr(layer, n)) is int for n in fresh("conv2d").SIZES)


def test_pooling_modules_with_numpy_sizes(fresh_coverage):
    from evosym.coverage import pooling
    x = torch.rand(2, 3, 6, 5, dtype=F64)
    for m in (torch.nn.AvgPool2d(I64(3), I64(2), I64(1)), torch.nn.AvgPool2d((I64(2), 3), ceil_mode=True),
              torch.nn.AdaptiveAvgPool2d((I64(2), I64(4))), torch.nn.AvgPool2d(I64(3), divisor_override=I64(2))):
        torch.testing.assert_close(pooling.from_torch(m)(x), m(x), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("name, sizes, shape", [
    ("conv1d", dict(G=1, C_g=2, O_g=3, K=3, s=2, delta=1, P=1), (2, 2, 7)),
    ("avg_pool2d", dict(K_h=3, s_h=2, P_h=1, K_w=2, s_w=1, P_w=0), (2, 2, 6, 4)),
    ("swin_attention", dict(N=1, d=2, M=2, S=1), (2, 2, 6, 4)),
])
def test_generated_modules_take_numpy_integer_sizes(name, sizes, shape):
    gen = fresh(name)
    layer = _cls(gen)(**{k: I64(v) for k, v in sizes.items()}, dtype=F64)
    assert all(type(getattr(layer, k)) is int and getattr(layer, k) == v for k, v in sizes.items())
    same = _cls(gen)(**sizes, dtype=F64)
    same.load_state_dict(layer.state_dict())
    x = torch.rand(shape, dtype=F64)
    fn = getattr(gen, f"{name}_evolution")
    params = [p.detach() for p in layer.parameters()]
    with torch.no_grad():   # (as the detached parameters: SDPA picks its kernel by whether a gradient is wanted)
        want = same(x)
    torch.testing.assert_close(fn(x, *params, **{k: I64(v) for k, v in sizes.items()}), want, rtol=0, atol=0)


# -- lazy convolutions: no weights to take yet -------------------------------------------------------------------------

@pytest.mark.parametrize("make, dims", [(lambda: torch.nn.LazyConv2d(3, 3), 2), (lambda: torch.nn.LazyConv1d(2, 2), 1),
                                        (lambda: torch.nn.LazyConv3d(2, 1, bias=False), 3)])
def test_lazy_convolutions_are_refused_until_materialised(make, dims, fresh_coverage):
    from evosym.coverage import conv
    m = make().double()
    with pytest.raises(ValueError, match=r"lazy module whose weights do not exist yet .*run a forward pass"):
        conv.from_torch(m)
    with pytest.raises(ValueError, match=r"lazy module whose weights do not exist yet .*run a forward pass"):
        _cls(fresh(f"conv{dims}d")).from_torch(m)
    x = torch.randn((1, 2) + (4,) * dims, dtype=F64)
    want = m(x)   # materialised: now an nn.Conv{dims}d with weights
    torch.testing.assert_close(conv.from_torch(m)(x), want, rtol=1e-12, atol=1e-12)


# -- adaptive pooling's None output size ------------------------------------------------------------------------------

@pytest.mark.parametrize("m", [torch.nn.AdaptiveAvgPool2d((None, 3)), torch.nn.AdaptiveAvgPool2d((2, None)),
                               torch.nn.AdaptiveAvgPool3d((None, 2, None)), torch.nn.AdaptiveAvgPool1d(None)])
def test_adaptive_pool_module_with_none_is_refused_saying_what_none_means(m):
    from evosym.coverage import pooling
    with pytest.raises(ValueError, match=r"None means 'keep the input's length on that axis'.*pooling.pool\("):
        pooling.from_torch(m)


@pytest.mark.parametrize("out, shape", [((None, 3), (2, 3, 5, 7)), ((2, None), (1, 2, 4, 3)), ((None, None), (3, 6, 4))])
def test_adaptive_pool_functional_with_none_reads_the_input(out, shape, fresh_coverage):
    from evosym.coverage import pooling
    x = torch.rand(shape, dtype=F64)
    torch.testing.assert_close(pooling.pool("adaptive_avg_pool2d", x, out), F.adaptive_avg_pool2d(x, out),
                               rtol=1e-13, atol=1e-14)
    with pytest.raises(ValueError, match="has None, which PyTorch reads as 'keep the input's length"):
        pooling.route("adaptive_avg_pool2d", out)

