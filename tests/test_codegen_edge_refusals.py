"""Generated modules at the edges of their sizes and dtypes: a clear refusal (ValueError naming the declared
condition) where the proof does not hold, the right result where it does, never PyTorch's raw error.

- fourier_conv1d declares K ≤ L (its kernel is zero-padded to the DFT size L); its padding P counts mod L (the
  kernel's roll by −P), so P > L, which a single circular F.pad cannot wrap, is computed, not refused.
- avg_pool3d* run F.avg_pool3d on the default path, which has no CPU kernel for float16 or bfloat16: there the
  default path takes the generic lowering (CUDA and float32/float64 stay native).
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

from evosym.codegen.generate import committed_dir


def load(name):
    spec = importlib.util.spec_from_file_location(f"generated_edge_{name}", committed_dir() / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dft_reference(x, w, bias, P):
    """The operator's traditional form (fourier_conv1d's docstring), computed independently in float64: the
    kernel zero-padded to L and rolled by −P (mod L), y = IDFT(Σ_c DFT(x)·conj(DFT(w))) + bias."""
    L, K = x.shape[-1], w.shape[-1]
    wp = torch.roll(torch.nn.functional.pad(w, (0, L - K)), -P, dims=-1)
    y = torch.fft.ifft(torch.einsum("bck,ock->bok", torch.fft.fft(x), torch.fft.fft(wp).conj())).real
    return y + bias[None, :, None]


def _fourier_inputs(C, O, K, L, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, C, L, dtype=torch.float64, generator=g)
    w = torch.randn(O, C, K, dtype=torch.float64, generator=g)
    b = torch.randn(O, dtype=torch.float64, generator=g)
    return x, w, b


@pytest.mark.parametrize("path", ["auto", "generic"])
@pytest.mark.parametrize("C, O, K, L, P", [(1, 1, 5, 1, 0), (2, 3, 4, 3, 1), (1, 2, 7, 5, 6), (1, 1, 2, 1, 3)])
def test_fourier_conv1d_refuses_kernel_longer_than_signal(C, O, K, L, P, path):
    fc = load("fourier_conv1d")
    x, w, b = _fourier_inputs(C, O, K, L)
    with pytest.raises(ValueError, match="K ≤ L") as info:
        fc.fourier_conv1d_evolution(x, w, b, C=C, O=O, K=K, P=P, path=path)
    assert f"K = {K}" in str(info.value) and f"L = {L}" in str(info.value)
    with pytest.raises(ValueError, match="K ≤ L"):   # the module form too
        module = fc.FourierConv1dEvolution(C, O, K, P, dtype=torch.float64)
        module(x, path=path)


@pytest.mark.parametrize("path", ["auto", "generic"])
@pytest.mark.parametrize("C, O, K, L, P", [
    (1, 1, 1, 5, 7), (1, 1, 3, 5, 6), (1, 1, 5, 5, 6),   # P > L: F.pad would wrap around more than once
    (2, 3, 3, 4, 11), (1, 2, 2, 3, 100), (1, 1, 1, 1, 5),
    (2, 2, 4, 4, 4), (1, 1, 5, 5, 0), (1, 1, 1, 1, 0),   # edges inside PyTorch's single wrap: P = L, K = L, L = 1
    (2, 1, 3, 7, 2)])
def test_fourier_conv1d_computes_any_padding(C, O, K, L, P, path):
    fc = load("fourier_conv1d")
    x, w, b = _fourier_inputs(C, O, K, L, seed=K * 100 + L * 10 + P)
    y = fc.fourier_conv1d_evolution(x, w, b, C=C, O=O, K=K, P=P, path=path)
    torch.testing.assert_close(y, dft_reference(x, w, b, P), rtol=1e-10, atol=1e-10)
    # P counts mod L: the same operator as P mod L, which PyTorch's circular conv1d computes
    direct = torch.nn.functional.conv1d(torch.nn.functional.pad(x, (P % L, P % L + max(0, K - 1 - 2 * (P % L))),
                                                                mode="circular"), w, b)[..., :L]
    torch.testing.assert_close(y, direct, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name, P", [("conv1d_circular", 5), ("conv1d_circular", 3)])
def test_circular_conv_padding_equal_to_length_still_matches_torch(name, P):
    """P = L (the declared bound of conv*d_circular): reduced mod L to 0 by the generated code, still PyTorch's."""
    m = load(name)
    L = P
    conv = torch.nn.Conv1d(2, 4, 3, padding=P, padding_mode="circular", dtype=torch.float64)
    x = torch.randn(2, 2, L, dtype=torch.float64)
    for path in ("auto", "generic"):
        y = m.conv1d_circular_evolution(x, conv.weight, conv.bias, G=1, C_g=2, O_g=4, K=3, s=1, delta=1, P=P, path=path)
        torch.testing.assert_close(y, conv(x), rtol=1e-10, atol=1e-10)


AVG_POOL3D = ["avg_pool3d", "avg_pool3d_divisor", "avg_pool3d_ceil", "avg_pool3d_ceil_divisor",
              "avg_pool3d_exclude_pad", "avg_pool3d_ceil_exclude_pad"]
HALF_TOL = {torch.float16: dict(rtol=1e-2, atol=1e-2), torch.bfloat16: dict(rtol=4e-2, atol=4e-2)}


def _pool_sizes(name, K=3, s=2, P=1):
    kw = dict(K_d=K, s_d=s, P_d=P, K_h=K, s_h=s, P_h=P, K_w=K, s_w=s, P_w=P)
    if "divisor" in name:
        kw["D_o"] = 5
    return kw


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", AVG_POOL3D)
def test_avg_pool3d_half_on_cpu_takes_the_generic_path(name, dtype, monkeypatch):
    fn = getattr(load(name), name + "_evolution")
    x = torch.randn(2, 3, 5, 6, 7, generator=torch.Generator().manual_seed(1)).to(dtype)
    for kw in (_pool_sizes(name), _pool_sizes(name, K=2, s=1, P=1), _pool_sizes(name, K=3, s=3, P=0)):
        want = fn(x.float(), path="generic", **kw)
        calls = []
        native = torch.nn.functional.avg_pool3d
        monkeypatch.setattr(torch.nn.functional, "avg_pool3d", lambda *a, **k: calls.append(1) or native(*a, **k))
        y = fn(x, **kw)   # the default path: PyTorch has no CPU avg_pool3d kernel for this dtype
        monkeypatch.setattr(torch.nn.functional, "avg_pool3d", native)
        assert y.dtype == dtype and y.shape == want.shape and not calls
        torch.testing.assert_close(y.float(), want, **HALF_TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", AVG_POOL3D)
def test_avg_pool3d_full_precision_stays_native(name, dtype, monkeypatch):
    fn = getattr(load(name), name + "_evolution")
    x = torch.randn(1, 2, 5, 6, 7, dtype=dtype)
    kw = _pool_sizes(name)
    calls = []
    native = torch.nn.functional.avg_pool3d
    monkeypatch.setattr(torch.nn.functional, "avg_pool3d", lambda *a, **k: calls.append(1) or native(*a, **k))
    y = fn(x, **kw)
    monkeypatch.setattr(torch.nn.functional, "avg_pool3d", native)
    assert calls, "float32/float64 on the CPU keep the native F.avg_pool3d"
    torch.testing.assert_close(y, fn(x, path="generic", **kw))
