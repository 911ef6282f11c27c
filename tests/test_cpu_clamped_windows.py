"""The CPU kernels on clamped windows (NATTEN's neighbourhood: start(p) = min(max(s·p − P, 0), L − span)) and
wrapping windows (circular: (s·p + δ·u − P) mod L): each pass (forward, input gradient, kernel gradient, the
correlation and its fused softmax) equals an independent reference written here from the window's definition,
on rows narrow and wide (the register-tiled interior, whole chunks and a partial one, and the border positions
run one by one), windows as large as the input, odd and even lengths, strides, broadcast kernel tensors; the
generated module's kernel path equals its generic path (values and gradients, float64) and is what
path="auto" runs on the CPU; a window that does not fit is a clear error. The interior the kernels run as
affine rows (window_maps.interior) is checked against the window's own start(p) at many sizes, strides and
dilations (catalogue operators have clamped windows of stride and dilation 1 only)."""

from __future__ import annotations

import dataclasses
import itertools
import os
import shutil
import warnings

import pytest
import sympy as sp
import torch

from evosym import catalogue
from evosym.codegen.artifact import kernels_for
from evosym.codegen.check import load_source
from evosym.codegen.generate import generate
from evosym.codegen.plan import make_plan
from evosym.codegen.window_maps import interior
from evosym.errors import EvosymError
from evosym.ir.neighbourhood import WindowAxis
from evosym.runtime import aggregate as agg
from evosym.runtime.attend import evolution_attend

CXX = shutil.which(os.environ.get("CXX") or "c++") is not None
needs_cxx = pytest.mark.skipif(not CXX, reason="no C++ compiler: the CPU kernels are not built here")
NA, C1, C2 = "neighborhood_attention", "conv1d_circular", "conv2d_circular"
TOL = {"rtol": 1e-12, "atol": 1e-12}


@pytest.fixture(scope="module", autouse=True)
def _registered_kernels():
    if CXX:
        for name in (NA, C1, C2):
            kernels_for(name)


# ---- the window maps, from the definitions (not from the kernels' printed pieces) ----------------------------
def clamped_reads(L: int, K: int, s: int = 1, dil: int = 1, P: int | None = None, L_out: int | None = None):
    """reads[p, u]: the input position tap u of output p reads, start(p) = min(max(s·p − P, 0), L − span)."""
    P = (K - 1) // 2 if P is None else P
    L_out = L if L_out is None else L_out
    span = dil * (K - 1) + 1
    start = [min(max(s * p - P, 0), L - span) for p in range(L_out)]
    return torch.tensor([[start[p] + dil * u for u in range(K)] for p in range(L_out)])


def wrapped_reads(L: int, K: int, s: int, P: int, L_out: int, dil: int = 1):
    return torch.tensor([[(s * p + dil * u - P) % L for u in range(K)] for p in range(L_out)])


def aggregate_2d(x, kt, rows, cols, share, og=1, cg=1):
    """y[b, g·og + o', i, j] = Σ_c' Σ_{u,v} kt[b, g/share, o', c', u, v, i, j] · x[b, g·cg + c', rows[i, u], cols[j, v]]
    (kt broadcast along its size-1 axes), in plain torch indexing: differentiable, the reference."""
    B, C = x.shape[:2]
    G = C // cg
    Ho, K1 = rows.shape
    Wo, K2 = cols.shape
    full = (B, G // share, og, cg, K1, K2, Ho, Wo)
    kt = kt.expand(full)
    win = x[:, :, rows[:, None, :, None], cols[None, :, None, :]]          # b, c, i, j, u, v
    win = win.reshape(B, G, 1, cg, Ho, Wo, K1, K2)
    k = kt.repeat_interleave(share, dim=1).permute(0, 1, 2, 3, 6, 7, 4, 5)   # b, g, o', c', i, j, u, v
    return (k * win).sum(dim=(3, 6, 7)).reshape(B, G * og, Ho, Wo)


def aggregate_1d(x, kt, reads, share, og=1, cg=1):
    y = aggregate_2d(x.unsqueeze(2), kt.unsqueeze(4).unsqueeze(6), torch.zeros(1, 1, dtype=torch.long), reads,
                     share, og, cg)
    return y.squeeze(2)


# ---- neighbourhood attention's kernels: (B, N, d, H, W, R), x (B, N·d, H, W), kt (B, N, 1, 1, K, K, H, W) --------
NA_SIZES = [
    (1, 1, 1, 3, 3, 1),     # the window as large as the input on both axes (one interior position each)
    (2, 2, 3, 5, 4, 1),     # odd and even lengths
    (1, 2, 2, 5, 5, 2),     # the window as large as the input again, R = 2
    (2, 1, 2, 4, 7, 1),
    (1, 2, 2, 3, 70, 1),    # wide rows (float64: two chunks of 32 and a partial one), the window as tall as the input
    (1, 1, 3, 8, 41, 3),    # wide rows, K = 7
    (1, 1, 16, 7, 37, 3),   # a block of 16 channels (float64: two vectors) on the border, runs of 3 positions
    (2, 1, 12, 5, 23, 2),   # a block of 12 (a partial vector), runs of 2
]


def _na_operands(sizes, gen, dtype, kt_shape=None):
    B, N, d, H, W, R = sizes
    K = 2 * R + 1
    x = torch.randn(B, N * d, H, W, generator=gen, dtype=dtype)
    kt = torch.randn(kt_shape or (B, N, 1, 1, K, K, H, W), generator=gen, dtype=dtype)
    return x, kt


def _na_reference(x, kt, sizes):
    B, N, d, H, W, R = sizes
    return aggregate_2d(x, kt, clamped_reads(H, 2 * R + 1), clamped_reads(W, 2 * R + 1), share=d)


@needs_cxx
@pytest.mark.parametrize("sizes", NA_SIZES)
def test_clamped_window_kernels_equal_the_reference(sizes):
    gen = torch.Generator().manual_seed(sum(sizes))
    x, kt = _na_operands(sizes, gen, torch.float64)
    x.requires_grad_(True)
    kt.requires_grad_(True)
    y = agg.evolution_aggregate(NA, x, kt, sizes)
    ref = _na_reference(x, kt, sizes)
    torch.testing.assert_close(y, ref, **TOL)
    dy = torch.randn(y.shape, generator=gen, dtype=torch.float64)
    got = torch.autograd.grad(y, (x, kt), dy)
    want = torch.autograd.grad(ref, (x, kt), dy)
    for what, a, b in zip(("input gradient", "kernel gradient"), got, want):
        torch.testing.assert_close(a, b, **TOL, msg=what)
    # the correlation (the kernel gradient as an op: attention logits) and its fused softmax (attend)
    a, b = torch.randn(y.shape, generator=gen, dtype=torch.float64), x.detach()
    logits = agg.evolution_correlate(NA, a, b, sizes)
    torch.testing.assert_close(logits, torch.autograd.grad(_na_reference(b, kt, sizes), kt, a)[0], **TOL)
    K = 2 * sizes[5] + 1
    soft = logits.flatten(4, 5).softmax(4).unflatten(4, (K, K))
    torch.testing.assert_close(evolution_attend(NA, a, b, sizes), soft, **TOL)


@needs_cxx
@pytest.mark.parametrize("sizes", [NA_SIZES[1], NA_SIZES[4], NA_SIZES[6]])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_clamped_window_with_a_broadcast_kernel_tensor(sizes, dtype):
    """kt constant along the last axis (the register-tiled forward's broadcast rows) and along every position
    (the kernel gradient's accumulating, non-tiled path), in float32 too."""
    B, N, d, H, W, R = sizes
    K = 2 * R + 1
    tol = TOL if dtype == torch.float64 else {"rtol": 2e-5, "atol": 2e-5}
    for shape in ((B, N, 1, 1, K, K, H, 1), (1, N, 1, 1, K, K, 1, 1)):
        gen = torch.Generator().manual_seed(7)
        x, kt = _na_operands(sizes, gen, dtype, shape)
        x.requires_grad_(True)
        kt.requires_grad_(True)
        y = agg.evolution_aggregate(NA, x, kt, sizes)
        ref = _na_reference(x, kt, sizes)
        torch.testing.assert_close(y, ref, **tol, msg=str(shape))
        dy = torch.randn(y.shape, generator=gen, dtype=dtype)
        for a, b in zip(torch.autograd.grad(y, (x, kt), dy), torch.autograd.grad(ref, (x, kt), dy)):
            torch.testing.assert_close(a, b, **tol, msg=str(shape))


@needs_cxx
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_clamped_window_kernels_at_every_interior_length_and_alignment(dtype):
    """The register tiles run the interior [R, W − R) from a vector-aligned copy (its first position R lands on a
    whole vector) and move a last chunk or vector shorter than a whole one back to end at the interior's end
    (positions computed twice, stored whole): interiors just below, at and above one vector (L) and one chunk of
    the forward (4L), at R = 1…4 (every alignment offset mod 4), each pass against the reference in float64."""
    lanes = 64 // torch.tensor([], dtype=dtype).element_size()   # one 512-bit vector
    tol = TOL if dtype == torch.float64 else {"rtol": 3e-5, "atol": 3e-5}
    for R, n in itertools.product((1, 2, 3, 4), (1, lanes - 1, lanes, lanes + 1, 2 * lanes + 3, 4 * lanes - 1,
                                                 4 * lanes, 4 * lanes + 1, 5 * lanes + 5)):
        sizes = (1, 1, 3, 2 * R + 1, n + 2 * R, R)
        gen = torch.Generator().manual_seed(R * 1000 + n)
        x, kt = _na_operands(sizes, gen, dtype)
        dy = torch.randn(x.shape, generator=gen, dtype=dtype)
        x.requires_grad_(True)
        kt.requires_grad_(True)
        y = agg.evolution_aggregate(NA, x, kt, sizes)
        xd, ktd = (t.detach().double().requires_grad_(True) for t in (x, kt))
        ref = _na_reference(xd, ktd, sizes)
        where = f"R = {R}, interior {n}, {dtype}"
        torch.testing.assert_close(y.double(), ref, **tol, msg=where)
        for what, a, b in zip(("input gradient", "kernel gradient"), torch.autograd.grad(y, (x, kt), dy),
                              torch.autograd.grad(ref, (xd, ktd), dy.double())):
            torch.testing.assert_close(a.double(), b, **tol, msg=f"{what}: {where}")
        logits = agg.evolution_correlate(NA, dy, x.detach(), sizes)
        want = torch.autograd.grad(_na_reference(xd.detach(), ktd, sizes), ktd, dy.double())[0]
        torch.testing.assert_close(logits.double(), want, **tol, msg=f"correlation: {where}")
        soft = want.flatten(4, 5).softmax(4).unflatten(4, (2 * R + 1, 2 * R + 1))
        torch.testing.assert_close(evolution_attend(NA, dy, x.detach(), sizes).double(), soft, **tol,
                                   msg=f"attention: {where}")


@needs_cxx
@pytest.mark.parametrize("sizes", [(1, 1, 2, 3, 3, 1), (2, 1, 1, 4, 5, 1)])
def test_clamped_window_kernels_gradcheck(sizes):
    gen = torch.Generator().manual_seed(3)
    x, kt = _na_operands(sizes, gen, torch.float64)
    x.requires_grad_(True)
    kt.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: agg.evolution_aggregate(NA, a, b, sizes), (x, kt))
    a = torch.randn(x.shape, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda p, q: agg.evolution_correlate(NA, p, q, sizes), (a, x))


@needs_cxx
def test_a_clamped_window_longer_than_the_input_is_a_clear_error():
    sizes = (1, 1, 2, 4, 6, 2)   # K = 5 > H = 4
    x = torch.randn(1, 2, 4, 6, dtype=torch.float64)
    kt = torch.randn(1, 1, 1, 1, 5, 5, 4, 6, dtype=torch.float64)
    with pytest.raises(EvosymError, match="input does not fit the window"):
        agg.evolution_aggregate(NA, x, kt, sizes)
    with pytest.raises(EvosymError, match="input does not fit the window"):
        agg.evolution_correlate(NA, torch.randn(1, 2, 4, 6, dtype=torch.float64), x, sizes)
    module = _na_module()
    layer = module.NeighborhoodAttentionEvolution(N=1, d=2, R=2).double()
    # the module refuses it before any kernel runs: neighborhood_attention declares H, W ≥ K (the clamped window's
    # reads stay inside the image only there)
    with pytest.raises(ValueError, match=r"the proof holds only where H ≥ 2·R \+ 1 \(a constraint the operator "
                                         r"declares\); got H = 4, R = 2"):
        layer(x, path="kernels")


# ---- the generated module: kernel path = generic path, and what path="auto" runs on the CPU ------------------
_MODULES = {}


def _na_module():
    if NA not in _MODULES:
        cp = catalogue.checked(NA)
        _MODULES[NA] = load_source(generate(NA).source, NA, checked=cp)
    return _MODULES[NA]


def test_clamped_windows_are_lowered_by_the_cpu_kernels_and_tiles_are_not():
    plan = make_plan(catalogue.checked(NA))
    assert plan.clamp and plan.kernel_devices == ("cpu", "cuda")
    for kinds, devices in (({"wrap": True, "clamp": False}, ("cpu", "cuda")), ({"tiled": True}, ("cuda",)),
                           ({"tiled": True, "wrap": True, "clamp": False}, ("cuda",))):
        assert dataclasses.replace(plan, **kinds).kernel_devices == devices, kinds
    src = generate(NA, "cpu").source
    assert "static constexpr bool affine = false;" in src and "if (!evo_window_fits(z)) return 1003;" in src
    with pytest.raises(EvosymError, match="CPU target lowers windows at s·p \\+ δ·u − P clipped to the input, "
                                          "clamped inside it or wrapping around it only .Ω is a fixed tile"):
        generate("swin_attention", "cpu")


@needs_cxx
@pytest.mark.parametrize("N, d, R, H, W", [(2, 2, 1, 5, 6), (1, 3, 2, 5, 5), (2, 2, 1, 3, 37)])
def test_neighborhood_attention_kernel_path_equals_the_generic_path(monkeypatch, N, d, R, H, W):
    module = _na_module()
    torch.manual_seed(N + d + R + H + W)
    layer = module.NeighborhoodAttentionEvolution(N=N, d=d, R=R).double()
    with torch.no_grad():
        for prm in layer.parameters():
            prm.copy_(torch.randn_like(prm))
    x = torch.randn(2, N * d, H, W, dtype=torch.float64, requires_grad=True)
    calls = []
    real = agg._call
    monkeypatch.setattr(agg, "_call", lambda k, kind, *a: (calls.append(kind), real(k, kind, *a))[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # no fallback notice: the CPU kernels run
        y = layer(x)                     # path="auto" on the CPU: the kernels
    assert "forward" in calls and "attend_biased" in calls, calls   # β with the softmax in the attend kernel
    ref = layer(x, path="generic")
    torch.testing.assert_close(y, ref, **TOL)
    torch.testing.assert_close(layer(x, path="kernels"), ref, **TOL)
    dy = torch.randn(y.shape, dtype=torch.float64)
    params = [x] + list(layer.parameters())
    for a, b in zip(torch.autograd.grad(y, params, dy), torch.autograd.grad(ref, params, dy)):
        torch.testing.assert_close(a, b, **TOL)


# ---- wrapping windows: conv1d_circular (B, G, C_g, O_g, L_in, K, s, δ, P), conv2d_circular -------------------
C1_SIZES = [
    (2, 2, 2, 3, 7, 3, 1, 1, 1),
    (1, 3, 1, 2, 8, 4, 2, 1, 3),     # stride 2, even K
    (2, 1, 2, 2, 5, 5, 1, 1, 2),     # the window as long as the input
    (1, 2, 1, 1, 6, 3, 3, 1, 6),     # P = L: every window starts a whole turn back
    (1, 4, 1, 1, 70, 5, 1, 1, 2),    # wide rows: the register-tiled interior and its border (C_g = 1, O_g = 1)
    (1, 2, 1, 1, 9, 2, 1, 1, 0),     # no padding: the interior starts at 0
    (1, 2, 1, 2, 9, 3, 1, 2, 2),     # dilation 2: the dilated window wraps
    (2, 1, 2, 1, 70, 3, 2, 3, 4),    # wide rows, stride 2, dilation 3
]


def _c1_lout(L, K, s, P, dil=1):
    return (L + 2 * P - dil * (K - 1) - 1) // s + 1


@needs_cxx
@pytest.mark.parametrize("sizes", C1_SIZES)
@pytest.mark.parametrize("per_position", [False, True])
def test_wrapping_window_kernels_equal_the_reference(sizes, per_position):
    B, G, cg, og, L, K, s, dil, P = sizes
    L_out = _c1_lout(L, K, s, P, dil)
    gen = torch.Generator().manual_seed(sum(sizes) + per_position)
    x = torch.randn(B, G * cg, L, generator=gen, dtype=torch.float64, requires_grad=True)
    kt = torch.randn((B, G, og, cg, K, L_out) if per_position else (1, G, og, cg, K, 1), generator=gen,
                     dtype=torch.float64, requires_grad=True)
    y = agg.evolution_aggregate(C1, x, kt, sizes)
    ref = aggregate_1d(x, kt, wrapped_reads(L, K, s, P, L_out, dil), share=1, og=og, cg=cg)
    torch.testing.assert_close(y, ref, **TOL)
    dy = torch.randn(y.shape, generator=gen, dtype=torch.float64)
    for what, a, b in zip(("input gradient", "kernel gradient"), torch.autograd.grad(y, (x, kt), dy),
                          torch.autograd.grad(ref, (x, kt), dy)):
        torch.testing.assert_close(a, b, **TOL, msg=what)


@needs_cxx
def test_wrapping_window_kernels_in_2d_and_gradcheck():
    # conv2d_circular's sizes, in the order of its sizes struct
    names = kernels_for(C2).sizes
    want = dict(B=2, G=2, C_g=1, O_g=2, H_in=5, W_in=6, K_h=3, K_w=4, s_h=2, s_w=1, delta_h=1, delta_w=2, P_h=1, P_w=3)
    assert set(map(str, names)) == set(want), names
    sizes = tuple(want[str(n)] for n in names)
    Ho, Wo = (5 + 2 - 3) // 2 + 1, (6 + 6 - 2 * 3 - 1) // 1 + 1
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(2, 2, 5, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    kt = torch.randn(2, 2, 2, 1, 3, 4, Ho, Wo, generator=gen, dtype=torch.float64, requires_grad=True)
    y = agg.evolution_aggregate(C2, x, kt, sizes)
    ref = aggregate_2d(x, kt, wrapped_reads(5, 3, 2, 1, Ho), wrapped_reads(6, 4, 1, 3, Wo, 2), share=1, og=2, cg=1)
    torch.testing.assert_close(y, ref, **TOL)
    dy = torch.randn(y.shape, generator=gen, dtype=torch.float64)
    for a, b in zip(torch.autograd.grad(y, (x, kt), dy), torch.autograd.grad(ref, (x, kt), dy)):
        torch.testing.assert_close(a, b, **TOL)
    xs = torch.randn(1, 2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    ks = torch.randn(1, 1, 1, 2, 2, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    small = (1, 1, 2, 1, 3, 2, 1, 1, 1)   # conv1d_circular: B, G, C_g, O_g, L_in, K, s, δ, P
    assert torch.autograd.gradcheck(lambda a, b: agg.evolution_aggregate(C1, a, b, small), (xs, ks))


# ---- the interior the kernels run as affine rows, against the window's own start(p) -------------------------
@pytest.mark.parametrize("kind", ["clamp", "wrap"])
def test_the_interior_is_exactly_the_positions_read_affinely_inside_the_input(kind):
    """For p in [in_lo, in_hi] ∩ [0, L_out): every tap reads s·p − P + δ·u, inside the input, unclamped and
    unwrapped; every other p has a tap that is clamped or wraps (the interior is all such positions)."""
    n = 0
    for L, K, s, dil, P in itertools.product(range(1, 9), range(1, 5), range(1, 4), range(1, 3), range(0, 6)):
        span = dil * (K - 1) + 1
        if kind == "clamp" and L < span:
            continue
        a = WindowAxis(K, s, dil, P, L, wrap=kind == "wrap", clamp=kind == "clamp")
        lo, hi = (int(v) for v in interior(a))
        L_out = L if kind == "clamp" else (L + 2 * P - span) // s + 1
        for p in range(max(L_out, 0)):
            affine = all(0 <= s * p - P + dil * u <= L - 1 for u in range(K))
            assert (lo <= p <= hi) == affine, (kind, L, K, s, dil, P, p)
            if affine:
                for u in range(K):
                    assert int(a.position(sp.Integer(p), sp.Integer(u))) == s * p - P + dil * u
            n += 1
    assert n > 1000
