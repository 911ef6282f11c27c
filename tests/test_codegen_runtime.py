"""The committed generated modules import and run: outputs, weight loading, clear errors."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from evosym.codegen.generate import committed_dir


def load(name):
    spec = importlib.util.spec_from_file_location(f"generated_{name}", committed_dir() / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TRADITIONAL = [
    ("conv1d", "Conv1dEvolution", lambda: torch.nn.Conv1d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2), (2, 4, 11)),
    ("conv2d", "Conv2dEvolution", lambda: torch.nn.Conv2d(6, 4, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(1, 3), groups=2), (2, 6, 9, 8)),
    ("conv2d", "Conv2dEvolution", lambda: torch.nn.Conv2d(3, 5, 3, padding="valid", bias=False), (1, 3, 7, 6)),
    ("conv2d_same", "Conv2dSameEvolution", lambda: torch.nn.Conv2d(4, 6, (4, 3), padding="same", dilation=(1, 2), groups=2), (2, 4, 7, 6)),
    ("conv2d_circular", "Conv2dCircularEvolution", lambda: torch.nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(2, 1), groups=2,
                                                                           padding_mode="circular"), (2, 4, 7, 5)),
    ("conv3d", "Conv3dEvolution", lambda: torch.nn.Conv3d(2, 4, (2, 3, 1), stride=(1, 2, 1), padding=(1, 0, 2)), (1, 2, 5, 7, 4)),
    ("depthwise_conv2d", "DepthwiseConv2dEvolution", lambda: torch.nn.Conv2d(3, 6, 3, padding=1, groups=3), (2, 3, 8, 5)),
    ("pointwise_conv2d", "PointwiseConv2dEvolution", lambda: torch.nn.Conv2d(4, 6, 1, stride=2, groups=2), (2, 4, 7, 6)),
    ("linear", "LinearEvolution", lambda: torch.nn.Linear(5, 3), (2, 7, 5)),
    ("avg_pool2d", "AvgPool2dEvolution", lambda: torch.nn.AvgPool2d((3, 2), stride=(2, 1), padding=(1, 1)), (2, 3, 8, 7)),
]


@pytest.mark.parametrize("name, cls, make, shape", TRADITIONAL, ids=[f"{t[0]}-{k}" for k, t in enumerate(TRADITIONAL)])
def test_from_torch_reproduces_the_traditional_module(name, cls, make, shape):
    torch.manual_seed(0)
    reference = make().double()
    layer = getattr(load(name), cls).from_torch(reference)
    x = torch.randn(shape, dtype=torch.float64)
    want = reference(x)
    for path in ("auto", "generic"):
        got = layer(x, path=path)
        assert got.shape == want.shape
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    # the copy is independent of the source module
    if hasattr(reference, "weight"):
        with torch.no_grad():
            reference.weight.add_(1.0)
        assert not torch.allclose(layer(x), reference(x))


def test_modules_train():
    layer = load("conv2d").Conv2dEvolution(G=1, C_g=2, O_g=3, K_h=3, s_h=1, delta_h=1, P_h=1, K_w=3, s_w=1,
                                           delta_w=1, P_w=1)
    x = torch.randn(2, 2, 5, 5)
    layer(x).square().mean().backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
    assert "G=1, C_g=2" in repr(layer)


def test_non_contiguous_and_empty_batches():
    g = load("conv2d")
    layer = g.Conv2dEvolution.from_torch(torch.nn.Conv2d(3, 2, 3, padding=1)).double()
    x = torch.randn(2, 5, 5, 3, dtype=torch.float64).permute(0, 3, 1, 2)   # non-contiguous NCHW view
    assert not x.is_contiguous()
    torch.testing.assert_close(layer(x, path="generic"), layer(x.contiguous()))
    assert layer(torch.zeros(0, 3, 5, 5, dtype=torch.float64)).shape == (0, 2, 5, 5)


@pytest.mark.parametrize("bad, error, words", [
    (lambda: torch.randn(3, 5), ValueError, r"must have 4 dimensions \(batch, channel, position, position\), or 3 without"),
    (lambda: torch.randn(2, 4, 5, 5), ValueError, "axis 1 of x must have length C_g·G = 3"),
    (lambda: torch.randn(2, 3, 5, 5, dtype=torch.float64), ValueError, "weight is torch.float32"),
    (lambda: torch.ones(2, 3, 5, 5, dtype=torch.int64), TypeError, "floating-point dtype"),
    (lambda: torch.randn(1, 3, 1, 1), ValueError, "the window does not fit"),
    (lambda: [[1.0]], TypeError, "must be a torch.Tensor"),
])
def test_bad_inputs_get_clear_errors(bad, error, words):
    layer = load("conv2d").Conv2dEvolution.from_torch(torch.nn.Conv2d(3, 2, 3))
    with pytest.raises(error, match=words):
        layer(bad())


@pytest.mark.parametrize("make, words", [
    (lambda: torch.nn.Conv2d(3, 2, 3, padding=1, padding_mode="reflect"), "padding_mode='zeros'"),
    (lambda: torch.nn.Conv2d(3, 2, 3, padding="same"), "padding='same' is the operator conv2d_same"),
    (lambda: torch.nn.Linear(3, 2), "expected a torch.nn.Conv2d"),
])
def test_from_torch_refuses_what_the_operator_is_not(make, words):
    with pytest.raises((ValueError, TypeError), match=words):
        load("conv2d").Conv2dEvolution.from_torch(make())


def test_constructor_validates_sizes():
    cls = load("conv2d").Conv2dEvolution
    with pytest.raises(ValueError, match="G \\(groups\\) must be an integer ≥ 1"):
        cls(G=0, C_g=2, O_g=3, K_h=3, s_h=1, delta_h=1, P_h=1, K_w=3, s_w=1, delta_w=1, P_w=1)
    with pytest.raises(ValueError, match="P_h .* must be an integer ≥ 0"):
        cls(G=1, C_g=2, O_g=3, K_h=3, s_h=1, delta_h=1, P_h=-1, K_w=3, s_w=1, delta_w=1, P_w=1)
    with pytest.raises(ValueError, match="depthwise convolution has groups == in_channels"):
        load("depthwise_conv2d").DepthwiseConv2dEvolution.from_torch(torch.nn.Conv2d(4, 4, 3, groups=2))


def test_parameters_on_another_device_are_a_clear_error():
    layer = load("linear").LinearEvolution(O=2, C=3)
    with pytest.raises(ValueError, match="weight is torch.float32 on cpu but x is torch.float32 on meta"):
        layer(torch.empty(1, 4, 3, device="meta"))


@pytest.mark.parametrize("name, make, shape", [
    ("conv1d", lambda: torch.nn.Conv1d(4, 6, 3, padding=1, groups=2), (4, 9)),
    ("conv2d", lambda: torch.nn.Conv2d(3, 2, 3, stride=2, padding=1), (3, 7, 6)),
    ("conv3d", lambda: torch.nn.Conv3d(2, 3, 2), (2, 4, 3, 5)),
    ("conv2d_reflect", lambda: torch.nn.Conv2d(3, 2, 3, padding=1, padding_mode="reflect"), (3, 5, 6)),
    ("avg_pool2d", lambda: torch.nn.AvgPool2d(2, stride=2), (3, 6, 4)),
])
def test_unbatched_inputs_as_torch_takes_them(name, make, shape):
    """(C, L…) without the batch axis: the generated module computes a batch of one and drops the axis, as
    torch's own functions do; every path agrees with torch."""
    mod = make().double()
    cls = next(v for k, v in vars(load(name)).items() if k.endswith("Evolution") and isinstance(v, type))
    layer = cls.from_torch(mod)
    x = torch.randn(*shape, dtype=torch.float64)
    want = mod(x)
    for path in ("auto", "generic"):
        got = layer(x, path=path)
        assert got.shape == want.shape
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_each_weight_is_initialised_with_its_own_fan_in():
    """Cross-attention's key and value weights read C_k and C_v channels, not the query's N·d: each weight is
    kaiming-uniform with its own fan-in (bound 1/√fan-in, as nn.Linear), each bias bounded by its weight's."""
    mod = load("cross_attention")
    torch.manual_seed(0)
    layer = mod.CrossAttentionEvolution(C_k=400, C_v=9, N=2, d=2)
    bounds = {"q_weight": 1 / 2, "q_bias": 1 / 2, "k_weight": 1 / 20, "k_bias": 1 / 20, "v_weight": 1 / 3,
              "v_bias": 1 / 3, "out_weight": 1 / 2, "out_bias": 1 / 2}
    for name, bound in bounds.items():
        p = getattr(layer, name).detach()
        assert float(p.abs().max()) <= bound + 1e-7, name
        assert float(p.abs().max()) > 0.5 * bound, name   # spread over the whole range, not a smaller one


def test_a_fixed_length_is_said_once():
    """A shape check of a fixed length says the number (not "length 2 = 2"); a formula is said with its value."""
    import sympy as sp
    from evosym.codegen.plan import _length_text
    C, d = sp.symbols("C d", integer=True, positive=True)
    assert _length_text(sp.Integer(2), str) == "2"
    assert _length_text(C * d, lambda e: "C * d") == "C·d = {C * d}"


def _gcn_args(adjacency):
    g = torch.Generator().manual_seed(3)
    return (torch.randn(2, 4, 3, generator=g, dtype=torch.float64), adjacency,
            torch.randn(3, 5, generator=g, dtype=torch.float64), torch.randn(5, generator=g, dtype=torch.float64))


def test_a_parameter_declared_non_negative_is_checked_at_every_call():
    """gcn's adjacency and Cordonnier's sharpness α are declared non-negative (the proof divides by gcn's degrees,
    ≥ 1 there): a negative or NaN entry gave NaN or ±inf on every path, accepted (two adversarial passes, 2026-12-07);
    now a clear ValueError. Valid values, zeros, meta tensors and a vmap over valid adjacencies still run."""
    gcn = load("gcn")
    A = torch.tensor([[0, 3, 0, 0], [3, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0]], dtype=torch.float64)
    x, _, W, b = _gcn_args(A)
    deg = (A + torch.eye(4, dtype=torch.float64)).sum(1).rsqrt()
    want = torch.einsum("p,pq,q,bqc,co->bpo", deg, A + torch.eye(4, dtype=torch.float64), deg, x, W) + b
    for path in ("auto", "generic"):
        torch.testing.assert_close(gcn.gcn_evolution(x, A, W, b, N=4, C=3, O=5, path=path), want)
        for bad in (-A, A.where(A != 3, -3.0), A.where(A != 1, float("nan")), A - 1e-300):
            with pytest.raises(ValueError, match="every entry of adjacency must be ≥ 0"):
                gcn.gcn_evolution(x, bad, W, b, N=4, C=3, O=5, path=path)
    assert gcn.gcn_evolution(x, torch.zeros(4, 4, dtype=torch.float64), W, b, N=4, C=3, O=5).isfinite().all()
    meta = gcn.gcn_evolution(*(t.to("meta") for t in (x, -A, W, b)), N=4, C=3, O=5)
    assert meta.device.type == "meta" and meta.shape == want.shape
    stacked = torch.stack((A, 2 * A))
    got = torch.func.vmap(lambda a: gcn.gcn_evolution(x, a, W, b, N=4, C=3, O=5))(stacked)
    torch.testing.assert_close(got[0], want)
    with pytest.raises(ValueError, match="every entry of adjacency must be ≥ 0"):
        torch.func.vmap(lambda a: gcn.gcn_evolution(x, a, W, b, N=4, C=3, O=5))(torch.stack((A, -A)))
    module = gcn.GcnEvolution(N=4, C=3, O=5, dtype=torch.float64)   # its initialisation lies in the domain
    assert module(x).isfinite().all()
    with torch.no_grad():
        module.adjacency[0, 1] = -1
    with pytest.raises(ValueError, match="adjacency"):
        module(x)
    with pytest.raises(RuntimeError, match="adjacency is checked at every call"):
        torch.jit.trace(gcn.GcnEvolution(N=4, C=3, O=5, dtype=torch.float64), (x,))
    cordonnier = load("cordonnier_attention")
    source = (committed_dir() / "cordonnier_attention.py").read_text()
    assert "every entry of alpha must be ≥ 0" in source and "_assert_async((alpha >= 0).all()" in source
    assert hasattr(cordonnier, "cordonnier_attention_evolution")
