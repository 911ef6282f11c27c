"""CPU kernels generated from the Evolution form (docs/cpu.md), checked in CI:

1. every operator with CPU kernels in its artifact has a standalone source (no torch headers);
2. every windowed operator passes the full numeric check through them (forward float64/float32,
   exact integers, gradcheck in float64 through both backward kernels, gradients);
3. canaries: a kernel that drops a tap (forward, input gradient, kernel gradient) fails that check;
4. bad inputs are clear errors; builds are cached by content and CPU features;
5. the custom op works under torch.compile (fullgraph, aot_eager), forward and gradients;
6. the generated module's path="auto" uses them on the CPU, and falls back with one notice.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import shutil
import sys
import warnings

import pytest
import torch

from evosym import catalogue
from evosym.codegen.check import check_operator
from evosym.codegen.generate import committed_dir, generate
from evosym.errors import EvosymError
from evosym.codegen.artifact import kernels_for, refusal
from evosym.runtime import aggregate as agg
from evosym.runtime import artifact as rt_artifact
from evosym.runtime import build as build_mod

from cli_helpers import run_cli

# every operator: one without CPU kernels is skipped with the reason its artifact records (no kernels at all, or
# the manifest's cpu_refusal: a tiled window), never a hand list (evosym.codegen.artifact.refusal)
NAMES = catalogue.catalogue_names()


def lowered_or_skip(name: str) -> None:
    why = refusal(name, "cpu")
    if why:
        pytest.skip(f"no CPU kernels: {why}")


CXX = shutil.which(os.environ.get("CXX") or "c++") is not None
needs_cxx = pytest.mark.skipif(not CXX, reason="no C++ compiler: the CPU kernels are not built here")
INV_SIZES = (2, 2, 2, 2, 5, 6, 1, 1)   # B, G, C_g, D, H, W, R, s

@pytest.fixture(scope="module", autouse=True)
def _registered_kernels():
    """The kernels these tests call by operator name, registered with the runtime (which never proves)."""
    for name in ('involution', 'local_attention'):
        kernels_for(name)


@pytest.fixture(scope="module", autouse=True)
def _built_side_by_side():
    """Every operator's CPU kernel library built first, as many at a time as there are cores: the compiler runs in a
    process of its own, and the tests one after another kept all but one core idle (58 libraries from a cold cache:
    222 s one at a time, 99 s two at a time on CI's two cores). Only a warm-up of the kernel cache: a build that fails
    is left to the test that loads it to report."""
    if not CXX:
        return
    from concurrent.futures import ThreadPoolExecutor
    sources = []
    for name in NAMES:
        if not refusal(name, "cpu"):
            sources.append(generate(name, "cpu").source)

    def build(source):
        try:
            build_mod.build(source, "cpu")
        except EvosymError:
            pass
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(build, sources))



def load_generated(name, tag):
    """The committed generated module, imported under a fresh name (torch.compile needs it in sys.modules)."""
    spec = importlib.util.spec_from_file_location(f"cpu_test_{name}_{tag}", committed_dir() / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", NAMES)
def test_cpu_source_is_standalone(name):
    lowered_or_skip(name)
    gen = generate(name, "cpu")   # committed only where a module uses it: tests/test_codegen_golden.py
    assert "#include <torch" not in gen.source and "ATen" not in gen.source   # standalone: builds in about a second
    whole = build_mod.inline_headers(gen.source)   # the kernels are in the runtime's header
    assert "#include <torch" not in whole and "#pragma omp parallel for" in whole and "#pragma omp simd" in whole


# the kernel bodies, written once in the runtime's header: a generated source defines none of them
CPU_HEADER_FUNCTIONS = ("evo_row", "evo_tile", "evo_forward", "evo_backward_input", "evo_backward_kernel",
                        "evo_backward_kernel_tiled", "evo_softmax_rows", "evo_ktile", "evo_pad_rows", "evo_expf",
                        "evo_tap_loops", "evo_unpack", "evo_extents")


@pytest.mark.parametrize("name", ["involution", "conv1d", "conv3d", "local_attention"])
def test_a_generated_cpu_source_holds_only_what_differs_per_operator(name):
    """The source defines the operator's sizes, index functions (printed by SymPy) and entry points, includes
    evosym_cpu_window.h for the kernels, and defines no kernel body itself (the header does, once)."""
    src = generate(name, "cpu").source
    header = (build_mod.INCLUDE / "evosym_cpu_window.h").read_text(encoding="utf-8")
    axes = (build_mod.INCLUDE / "evosym_axes.h").read_text(encoding="utf-8")
    assert '#include "evosym_cpu_window.h"' in src and "template <> struct evo_axis<0>" in src
    for fn in CPU_HEADER_FUNCTIONS:
        defined = re.compile(rf"\b{fn}\s*\([^;{{]*\)\s*(const\s*)?{{")   # a definition, not a call
        assert defined.search(header + axes), f"{fn} is not defined in the header (the test is stale)"
        assert not defined.search(src), f"{name}: the generated source defines the kernel function {fn}"
    assert "#pragma omp" not in src and "for (" not in src   # no loops at all: they are the header's
    assert len(src.splitlines()) < 250   # sizes, 1 to 3 axes, entry points (with the kernels: 420 to 850)


def test_channels_last_and_global_operators_are_refused_for_the_cpu_target(capsys):
    with pytest.raises(EvosymError, match="CPU target supports channels-first"):
        generate("linear", "cpu")
    with pytest.raises(EvosymError, match="CPU target lowers windowed neighbourhoods only"):
        generate("token_mixing", "cpu")
    # tiled windows (Swin): the CUDA target lowers them (tests/test_cuda_codegen.py); clamped and wrapping windows
    # are the CPU target's too (tests/test_cpu_clamped_windows.py)
    with pytest.raises(EvosymError, match="CPU target lowers windows at s·p \\+ δ·u − P clipped to the input, clamped "
                                          "inside it or wrapping around it only .Ω is a fixed tile"):
        generate("swin_attention", "cpu")
    rc, out, err = run_cli(capsys, "codegen", "involution", "--target", "cpu")
    assert rc == 0 and "extern \"C\" int evo_involution_forward_f32" in out


@needs_cxx
@pytest.mark.parametrize("name", NAMES)
def test_cpu_kernels_pass_the_numeric_check(name):
    lowered_or_skip(name)
    report = check_operator(name, kernels=True, variants=1)   # the grid and one random variant per grid shape
    assert report.paths == ("auto", "generic", "kernels")
    assert report.ok, report.text()
    text = report.text()
    assert "(CPU kernels)" in text and "note: CPU kernels:" in text
    assert "✓ gradcheck kernels" in text and "✓ gradients kernels equal" in text and "✓ float32 kernels" in text


DROPPED_TAP = {   # (kernel, text in the involution source with its headers inlined, the same with the last tap of each row dropped)
    "forward": ("y[b, o, p]:", "for (i64 ul = 0; ul < taps; ++ul) {", "for (i64 ul = 0; ul < taps - 1; ++ul) {"),
    "forward, register-tiled": ("y[b, o, p]:", "ul < taps; ++ul, ++nk) {", "ul < taps - 1; ++ul, ++nk) {"),
    "input gradient": ("dx[b, c, q]:", "for (i64 ul = 0; ul < taps; ++ul) {", "for (i64 ul = 0; ul < taps - 1; ++ul) {"),
    "kernel gradient": ("dkt:", "dyrow + plo, 1, phi - plo + 1);", "dyrow + plo, 1, phi - plo);"),
    # the register-tiled kernel gradient leaves out the last channel of each block that shares a kernel
    "kernel gradient, register-tiled": ("dkt's register-tiled path", "dyr.data(), xr.data(), share, xoff,",
                                        "dyr.data(), xr.data(), share - 1, xoff,"),
}


@needs_cxx
@pytest.mark.parametrize("kernel", sorted(DROPPED_TAP))
def test_a_wrong_cpu_kernel_fails_the_numeric_check(monkeypatch, kernel):
    """Canary: one kernel drops the last tap of every window row (or the last position); the check must fail."""
    good = kernels_for("involution")
    marker, old, new = DROPPED_TAP[kernel]
    head, tail = build_mod.inline_headers(good.cpu_source).split("// " + marker, 1)   # the kernels: in the header
    assert old in tail
    bad = dataclasses.replace(good, cpu_source=head + "// " + marker + tail.replace(old, new, 1), libraries={})
    monkeypatch.setitem(rt_artifact._REGISTRY, bad.key, bad)   # by key: what modules call
    monkeypatch.setitem(rt_artifact._REGISTRY, "involution", bad)
    forward = kernel.startswith("forward")
    report = check_operator("involution", kernels=True, gradients=not forward, variants=0)
    text = report.text()
    assert not report.ok
    if forward:
        assert "✗ torch.float64 kernels" in text and "✗ torch.float64 generic" not in text
    else:
        assert "✓ float64 kernels" in text and "✗ gradcheck kernels" in text and "✗ gradcheck generic" not in text


@needs_cxx
def test_bad_inputs_to_the_cpu_kernels_are_clear_errors():
    x = torch.randn(2, 4, 5, 6, dtype=torch.float64)
    kt = torch.randn(2, 2, 1, 1, 3, 3, 5, 6, dtype=torch.float64)
    y = agg.evolution_aggregate("involution", x, kt, INV_SIZES)
    assert y.shape == (2, 4, 5, 6)
    with pytest.raises(TypeError, match="must be torch.Tensors"):
        agg.evolution_aggregate("involution", x.numpy(), kt, INV_SIZES)
    with pytest.raises(TypeError, match="float32 or float64"):
        agg.evolution_aggregate("involution", x.to(torch.bfloat16), kt.to(torch.bfloat16), INV_SIZES)
    with pytest.raises(ValueError, match="kernel tensor is torch.float32 on cpu but x is torch.float64"):
        agg.evolution_aggregate("involution", x, kt.float(), INV_SIZES)
    with pytest.raises(ValueError, match="on meta but x is torch.float64 on cpu"):
        agg.evolution_aggregate("involution", x, kt.to("meta"), INV_SIZES)
    with pytest.raises(ValueError, match="backend 'cuda' cannot run on cpu"):
        agg.evolution_aggregate("involution", x, kt, INV_SIZES, backend="cuda")
    strided = x.transpose(2, 3).contiguous().transpose(2, 3)   # another layout of the same values: accepted
    torch.testing.assert_close(agg.evolution_aggregate("involution", strided, kt, INV_SIZES), y, rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"x must have shape \(2, 4, 5, 6\)"):
        agg.evolution_aggregate("involution", x[:, :3].contiguous(), kt, INV_SIZES)
    with pytest.raises(ValueError, match="kernel tensor must have shape"):
        agg.evolution_aggregate("involution", x, kt[..., :2], INV_SIZES)
    with pytest.raises(ValueError, match="sizes must be 8 integers"):
        agg.evolution_aggregate("involution", x, kt, INV_SIZES[:-1])
    # a non-contiguous kernel tensor is fine: the kernels read it through its strides
    wide = torch.randn(2, 2, 1, 1, 3, 3, 5, 12, dtype=torch.float64)[..., ::2]
    torch.testing.assert_close(agg.evolution_aggregate("involution", x, wide, INV_SIZES),
                               agg.evolution_aggregate("involution", x, wide.contiguous(), INV_SIZES), rtol=0, atol=0)


@needs_cxx
def test_cpu_builds_are_cached_by_content_and_cpu_features(tmp_path, monkeypatch):
    monkeypatch.setenv("EVOSYM_CACHE", str(tmp_path))
    src = generate("conv1d", "cpu").source
    first = build_mod.build(src, "cpu")
    again = build_mod.build(src, "cpu")
    assert first.target == "cpu" and not first.cached and again.cached and again.path == first.path
    other = build_mod.build(src + "\n// changed\n", "cpu")
    assert not other.cached and other.path != first.path
    monkeypatch.setattr(build_mod, "cpu_features", lambda exe: "another CPU: avx512f missing")
    moved = build_mod.build(src, "cpu")
    assert not moved.cached and moved.path != first.path   # -march=native on another CPU never loads this build
    assert "-march=native" in build_mod.CPU_FLAGS and "-fopenmp" in build_mod.CPU_FLAGS


@needs_cxx
def test_the_custom_op_works_under_torch_compile():
    torch._dynamo.reset()
    x = torch.randn(2, 4, 5, 6, dtype=torch.float64, requires_grad=True)
    kt = torch.randn(2, 2, 1, 1, 3, 3, 5, 6, dtype=torch.float64, requires_grad=True)

    def f(x, kt):
        return agg.evolution_aggregate("involution", x, kt, INV_SIZES)
    compiled = torch.compile(f, fullgraph=True, backend="aot_eager")
    y, want = compiled(x, kt), f(x, kt)
    assert torch.equal(y, want)
    dy = torch.randn_like(y)
    for a, b in zip(torch.autograd.grad(y, [x, kt], dy), torch.autograd.grad(want, [x, kt], dy)):
        assert torch.equal(a, b)


@needs_cxx
def test_generated_module_uses_the_cpu_kernels_by_default_and_compiles(monkeypatch):
    gen = load_generated("involution", "auto")
    torch.manual_seed(0)
    layer = gen.InvolutionEvolution(G=2, C_g=2, D=2, R=1, s=1).double()
    x = torch.randn(2, 4, 5, 6, dtype=torch.float64, requires_grad=True)
    calls = []
    real = agg._call
    monkeypatch.setattr(agg, "_call", lambda k, kind, *a: (calls.append((kind, a[-1])), real(k, kind, *a))[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # no notice: the kernels are available
        y = layer(x)
    assert calls == [("forward", "cpu")]
    torch.testing.assert_close(y, layer(x, path="generic"), rtol=1e-12, atol=1e-12)
    y.sum().backward()
    assert [c[0] for c in calls[1:]] == ["backward_input", "backward_kernel"]
    # under torch.compile (fullgraph): the same values and gradients
    torch._dynamo.reset()
    compiled = torch.compile(lambda t: layer(t), fullgraph=True, backend="aot_eager")
    got = compiled(x)
    torch.testing.assert_close(got, y, rtol=1e-12, atol=1e-12)
    g1 = torch.autograd.grad(got.square().sum(), [x, layer.span_weight])
    g0 = torch.autograd.grad(layer(x).square().sum(), [x, layer.span_weight])
    for a, b in zip(g1, g0):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    # native-lowered operators keep their native path (faster than any generic-window kernel)
    calls.clear()
    conv = load_generated("depthwise_conv2d", "auto").DepthwiseConv2dEvolution(C=3, M=1, K_h=3, K_w=3, s_h=1, s_w=1,
                                                                                delta_h=1, delta_w=1, P_h=1, P_w=1)
    conv(torch.randn(1, 3, 6, 6))
    assert calls == []


def test_local_attention_runs_attend_and_aggregate_by_default_and_compiles(monkeypatch):
    """Local attention's default path on the CPU: one `attend` call (logits and softmax) and one
    aggregation, equal to the generic path; under torch.compile (fullgraph) the same values and gradients."""
    gen = load_generated("local_attention", "auto")
    torch.manual_seed(0)
    layer = gen.LocalAttentionEvolution(N=2, d=2, R=1).double()
    x = torch.randn(2, 4, 5, 19, dtype=torch.float64, requires_grad=True)
    calls = []
    real = agg._call
    monkeypatch.setattr(agg, "_call", lambda k, kind, *a: (calls.append(kind), real(k, kind, *a))[1])
    y = layer(x)
    assert calls == ["attend", "forward"]
    torch.testing.assert_close(y, layer(x, path="generic"), rtol=1e-12, atol=1e-12)
    torch._dynamo.reset()
    compiled = torch.compile(lambda t: layer(t), fullgraph=True, backend="aot_eager")
    got = compiled(x)
    torch.testing.assert_close(got, y, rtol=1e-12, atol=1e-12)
    g1 = torch.autograd.grad(got.square().sum(), [x, layer.query_weight])
    g0 = torch.autograd.grad(layer(x, path="generic").square().sum(), [x, layer.query_weight])
    for a, b in zip(g1, g0):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_without_a_compiler_auto_falls_back_with_one_notice(monkeypatch):
    from evosym.runtime import api
    monkeypatch.setenv("CXX", "/nonexistent/c++")
    gen = load_generated("involution", "nocxx")
    key = gen._key()   # the committed module's own artifact, read from the manifest next to it
    fresh = dataclasses.replace(rt_artifact.kernels(key), libraries={}, agreed=set())   # nothing built in this process
    monkeypatch.setitem(rt_artifact._REGISTRY, key, fresh)
    monkeypatch.setattr(api, "_AVAILABLE", {})   # decided once per process: decide again here
    monkeypatch.setattr(api, "_WARNED", set())
    layer = gen.InvolutionEvolution(G=2, C_g=2, D=2, R=1, s=1).double()
    x = torch.randn(2, 4, 5, 6, dtype=torch.float64)
    with pytest.warns(UserWarning, match="generated CPU kernels unavailable .*nonexistent.*using the generic path"):
        y = layer(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # said once
        again = layer(x)
    torch.testing.assert_close(y, again)
    torch.testing.assert_close(y, layer(x, path="generic"))
    with pytest.raises(EvosymError, match="nonexistent"):   # asked for explicitly: a clear error, no fallback
        layer(x, path="kernels")


@needs_cxx
def test_check_cli_labels_cpu_kernels_and_emulated_cuda_source(capsys):
    rc, out, err = run_cli(capsys, "check", "conv1d", "--kernels", "--emulated")
    assert rc == 0, err
    assert "(CPU kernels)" in out and "CUDA kernels' source built for the host" in out
    assert "note: CPU kernels:" in out and "note: CUDA source, host build (emulated launch):" in out


@needs_cxx
def test_bench_kernels_on_the_cpu_reports_ratios(capsys):
    rc, out, err = run_cli(capsys, "bench", "involution", "--kernels", "--size", "B=1", "--size", "H=8", "--size", "W=8")
    assert rc == 0, err
    for row in ("aggregation forward, generated CPU kernel", "native depthwise F.conv2d 7×7", "unfold-based",
                "traditional (involution_naive", "backward, input gradient", "backward, kernel gradient"):
        assert row in out
    assert "kernel / native =" in out and "× the forward" in out and "threads" in out


@needs_cxx
def test_a_wrong_windowed_correlation_fails_the_kernel_check():
    """Canary for the attention logits the kernels compute (attend, then aggregate, on the CPU kernels):
    with the queries and keys exchanged (Σ k[p]·q[q] instead of Σ q[p]·k[q]), the kernels path must
    fail while the generic path still passes."""
    from evosym.codegen.plan import make_plan
    from evosym.codegen.render import render_torch
    cp = catalogue.checked("local_attention")
    good = render_torch(make_plan(cp), cp.operator.torch_binding)
    old = '_rt.evolution_attention(_key(), queries, keys,'
    assert old in good
    report = check_operator("local_attention", kernels=True, variants=0, gradients=False, checked=cp,
                            source=good.replace(old, '_rt.evolution_attention(_key(), keys, queries,'))
    text = report.text()
    assert not report.ok and "✗ torch.float64 kernels" in text and "✗ torch.float64 generic" not in text


@needs_cxx
def test_the_windowed_correlation_op_is_checked_and_differentiable():
    """evosym::correlate: shapes are validated; gradcheck in float64 through its backward (the
    aggregation and its input gradient), against the unfold-based correlation."""
    import torch.nn.functional as F
    sizes = (2, 2, 2, 4, 5, 1)   # B, N, d, H, W, R
    a = torch.randn(2, 4, 4, 5, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, 4, 4, 5, dtype=torch.float64, requires_grad=True)
    kt = agg.evolution_correlate("local_attention", a, b, sizes)
    cols = F.unfold(b, 3, padding=1).view(2, 2, 2, 3, 3, 4, 5)
    want = (a.view(2, 2, 2, 1, 1, 4, 5) * cols).sum(2)
    assert kt.shape == (2, 2, 1, 1, 3, 3, 4, 5) and torch.allclose(kt.flatten(1, 3), want)
    assert torch.autograd.gradcheck(lambda a_, b_: agg.evolution_correlate("local_attention", a_, b_, sizes), (a, b))
    with pytest.raises(ValueError, match="correlation operands must have shapes"):
        agg.evolution_correlate("local_attention", a[:, :, :3], b, sizes)


def _unfold_attention(a, b, r):
    """softmax over the (2r+1)² window of Σ_e a·b̃ per head block of 2 channels, by F.unfold (float64)."""
    import torch.nn.functional as F
    bsz, ch, hh, ww = a.shape
    k = 2 * r + 1
    cols = F.unfold(b.double(), k, padding=r).view(bsz, ch // 2, 2, k, k, hh, ww)
    logits = (a.double().view(bsz, ch // 2, 2, 1, 1, hh, ww) * cols).sum(2)
    return torch.softmax(logits.flatten(2, 3), dim=2).view_as(logits)


@needs_cxx
def test_the_attention_op_is_checked_stable_and_differentiable():
    """evosym::attend (the correlation and its softmax over the taps in one CPU kernel call): equal to
    torch.softmax of the unfold-based logits in float64 and float32, stable where exp overflows
    float32, gradcheck in float64, and the same as the correlation + torch.softmax on the emulated
    CUDA source."""
    from evosym.runtime.attend import evolution_attend
    sizes = (2, 2, 2, 4, 7, 1)   # B, N, d, H, W, R: W = 7 leaves a partial vector in every row
    torch.manual_seed(0)
    a = torch.randn(2, 4, 4, 7, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, 4, 4, 7, dtype=torch.float64, requires_grad=True)
    attn = evolution_attend("local_attention", a, b, sizes)
    assert attn.shape == (2, 2, 1, 1, 3, 3, 4, 7)
    torch.testing.assert_close(attn.flatten(1, 3), _unfold_attention(a.detach(), b.detach(), 1), rtol=1e-13, atol=1e-15)
    a32, b32 = a.detach().float() * 40, b.detach().float() * 40   # logits up to ~10⁴: exp overflows float32
    got = evolution_attend("local_attention", a32, b32, sizes).flatten(1, 3)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got.double(), _unfold_attention(a32, b32, 1), rtol=0, atol=1e-5)
    assert torch.autograd.gradcheck(lambda a_, b_: evolution_attend("local_attention", a_, b_, sizes), (a, b))
    with agg.host_backend("emulated"):
        emulated = evolution_attend("local_attention", a.detach(), b.detach(), sizes)
    torch.testing.assert_close(emulated, attn.detach(), rtol=1e-13, atol=1e-15)


WIDE = (2, 2, 2, 3, 70, 2)   # local attention's B, N, d, H, W, R: rows of 70 = whole chunks, whole vectors, a partial one


def _wide_passes(dtype):
    """Aggregation (forward, both gradients), correlation and attention on wide rows, by the active backend."""
    from evosym.runtime.attend import evolution_attend
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 3, 70, generator=gen, dtype=dtype, requires_grad=True)
    kt = torch.randn(2, 2, 1, 1, 5, 5, 3, 70, generator=gen, dtype=dtype, requires_grad=True)
    dy = torch.randn(2, 4, 3, 70, generator=gen, dtype=dtype)
    y = agg.evolution_aggregate("local_attention", x, kt, WIDE)
    dx, dkt = torch.autograd.grad(y, (x, kt), dy)
    a, b = x.detach(), dy
    return {"forward": y.detach(), "input gradient": dx, "kernel gradient": dkt,
            "correlation": agg.evolution_correlate("local_attention", a, b, WIDE),
            "attention": evolution_attend("local_attention", a * 3, b, WIDE)}


@needs_cxx
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_cpu_kernels_on_wide_rows_equal_the_emulated_cuda_source(dtype):
    """The grid checks use rows narrower than one vector; here every register-tiled path (whole chunks,
    whole vectors, the partial vector) meets the emulated CUDA source, an independent implementation."""
    cpu = _wide_passes(dtype)
    with agg.host_backend("emulated"):
        emulated = _wide_passes(dtype)
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 2e-5, "atol": 2e-5}
    for what in cpu:
        torch.testing.assert_close(cpu[what], emulated[what], **tol, msg=what)


@needs_cxx
@pytest.mark.parametrize("old, new", [
    ("const V inv = T(1) / sum;", "const V inv = T(1) / (sum + sum);"),             # whole vectors: half the weights
    ("base[t * stride + j0 + j] /= tot[j];", "base[t * stride + j0 + j] /= tot[0];"),  # the partial vector: one sum
])
def test_a_wrong_fused_softmax_is_caught(monkeypatch, old, new):
    """Canary for the softmax that the attention kernel computes: a wrong normalisation of whole vectors
    of positions, or of a row's last, partial vector, differs from the emulated CUDA source on wide rows."""
    from evosym.runtime.attend import evolution_attend
    gen = torch.Generator().manual_seed(2)
    a, b = (torch.randn(2, 4, 3, 70, generator=gen, dtype=torch.float64) for _ in range(2))
    with agg.host_backend("emulated"):
        want = evolution_attend("local_attention", a, b, WIDE)
    good = kernels_for("local_attention")
    whole = build_mod.inline_headers(good.cpu_source)   # the kernels: in the runtime's header
    assert old in whole
    bad = dataclasses.replace(good, cpu_source=whole.replace(old, new), libraries={})
    monkeypatch.setitem(rt_artifact._REGISTRY, bad.key, bad)   # by key: what modules call
    monkeypatch.setitem(rt_artifact._REGISTRY, "local_attention", bad)
    assert not torch.allclose(evolution_attend("local_attention", a, b, WIDE), want)


@needs_cxx
@pytest.mark.parametrize("what, old, new", [
    ("forward", "memcpy(yt[c] + vo[v], &acc[c][v], sizeof(V));", "memcpy(yt[c] + vo[v], &acc[c][0], sizeof(V));"),
    ("kernel gradient", "memcpy(out[t] + j0, &acc[t], sizeof(V));", "memcpy(out[t] + j0, &acc[0], sizeof(V));"),
])
def test_a_wrong_whole_vector_store_is_caught_on_wide_rows(monkeypatch, what, old, new):
    """Canary for the whole-vector stores of the register tiles (never reached by the narrow grid shapes):
    storing the wrong vector differs from the emulated CUDA source on wide rows."""
    with agg.host_backend("emulated"):
        want = _wide_passes(torch.float64)[what]
    good = kernels_for("local_attention")
    whole = build_mod.inline_headers(good.cpu_source)   # the kernels: in the runtime's header
    assert old in whole
    bad = dataclasses.replace(good, cpu_source=whole.replace(old, new), libraries={})
    monkeypatch.setitem(rt_artifact._REGISTRY, bad.key, bad)   # by key: what modules call
    monkeypatch.setitem(rt_artifact._REGISTRY, "local_attention", bad)
    assert not torch.allclose(_wide_passes(torch.float64)[what], want)


_NO_ROW_SCRIPT = """
import torch
from evosym.codegen.artifact import kernels_for
from evosym.runtime import aggregate as agg
kernels_for("conv2d")
for dtype in (torch.float64, torch.float32):
    for B, G, cg, og, H, Kh, sh, dh, Ph, W, Kw, sw, dw, Pw in ((1, 1, 1, 1, 3, 1, 1, 1, 1, 5, 3, 1, 1, 1),
                                                               (1, 1, 1, 1, 2, 2, 1, 3, 1, 6, 3, 1, 1, 1)):
        x = torch.randn(B, G * cg, H, W, dtype=dtype)
        w = torch.randn(G * og, cg, Kh, Kw, dtype=dtype)
        ref = torch.nn.functional.conv2d(x, w, padding=(Ph, Pw), dilation=(dh, dw), groups=G)
        y = agg.evolution_aggregate("conv2d", x, w.view(1, G, og, cg, Kh, Kw, 1, 1),
                                    (B, G, cg, og, H, Kh, sh, dh, Ph, W, Kw, sw, dw, Pw))
        torch.testing.assert_close(y, ref)
print("ok")
"""


@needs_cxx
def test_a_row_that_reads_no_input_row_in_a_fresh_process():
    """The register-tiled forward's task for an output row whose taps of the axes before the last all lie outside the
    input (zero padding ≥ the window, a dilated window skipping the input) gathers no kernel row; as a thread's first
    task (a fresh process) its scratch is still empty (a write through its null data pointer crashed the process)."""
    import subprocess
    proc = subprocess.run([sys.executable, "-c", _NO_ROW_SCRIPT], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", (proc.returncode, proc.stdout, proc.stderr[-2000:])
