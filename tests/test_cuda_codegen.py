"""CUDA code generation, verified in layers (docs/cuda.md):

1. every operator with kernels in its artifact has a standalone CUDA source (no torch headers);
2. nvcc compiles every kernel for sm_80 (the whole object, host pass included) and sm_90 (the device code) (skipped,
   with the reason, where nvcc is absent);
3. the same source, built for the host with evosym_emulate.h, runs the full numeric check
   (forward, float64/float32, exact integers, gradcheck, gradients) against the references
   (path "kernels-emulated"; the "kernels" path on the CPU is the CPU kernels, tests/test_cpu_kernels.py);
4. on a GPU: ``benchmarks/gpu_checks.sh`` (not in CI: CI has no GPU).
A mutated kernel source must fail layer 3 (a canary), and bad inputs get clear errors.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from evosym import catalogue
from evosym.codegen.check import check_operator
from evosym.codegen.generate import generate
from evosym.errors import EvosymError
from evosym.codegen.artifact import kernels_for, refusal
from evosym.runtime import aggregate as agg
from evosym.runtime import backends
from evosym.runtime import artifact as rt_artifact
from evosym.runtime.build import INCLUDE, inline_headers, ptxas_report

import window_reference as ref
from cli_helpers import run_cli

# every operator: one without kernels is skipped with the reason its artifact records (a global Ω, a channels-last
# layout: the CUDA target's refusal means no kernels at all), never a hand list (evosym.codegen.artifact.refusal)
NAMES = catalogue.catalogue_names()


def lowered_or_skip(name: str) -> None:
    why = refusal(name, "cuda")
    if why:
        pytest.skip(f"no CUDA kernels: {why}")


HOST = shutil.which(os.environ.get("CXX", "c++")) is not None
NVCC = shutil.which("nvcc") is not None

@pytest.fixture(scope="module", autouse=True)
def _registered_kernels():
    """The kernels these tests call by operator name, registered with the runtime (which never proves)."""
    for name in ('involution', 'conv2d', 'neighborhood_attention'):
        kernels_for(name)



@pytest.mark.parametrize("name", NAMES)
def test_cuda_source_is_standalone(name):
    lowered_or_skip(name)
    gen = generate(name, "cuda")   # committed only where a module uses it: tests/test_codegen_golden.py
    assert "#include <torch" not in gen.source and "ATen" not in gen.source   # standalone
    assert "#include <torch" not in inline_headers(gen.source)


# the kernels and launchers, written once in the runtime's headers: a generated source defines none of them
CUDA_HEADER_FUNCTIONS = ("evo_forward", "evo_forward_shared", "evo_backward_input", "evo_backward_input_shared",
                         "evo_backward_kernel_full", "evo_backward_kernel", "evo_run_forward", "evo_blocks", "evo_chunk",
                         "evo_inverse_loops", "evo_unflatten", "evo_attention_forward", "evo_attention_backward_kv",
                         "evo_run_attention_backward", "evo_extents")


@pytest.mark.parametrize("name", ["involution", "conv2d_circular", "local_attention", "swin_attention"])
def test_a_generated_cuda_source_holds_only_what_differs_per_operator(name):
    """The source defines the operator's sizes, index functions (printed by SymPy) and entry points, includes
    the kernel headers, and defines no kernel or launcher itself (the headers do, once)."""
    src = generate(name, "cuda").source
    headers = "".join((INCLUDE / h).read_text(encoding="utf-8")
                      for h in ("evosym_cuda_window.h", "evosym_cuda_attention.h", "evosym_axes.h"))
    assert '#include "evosym_cuda_window.h"' in src and "template <> struct evo_axis<0>" in src
    assert ('#include "evosym_cuda_attention.h"' in src) == (name != "conv2d_circular" and name != "involution")
    for fn in CUDA_HEADER_FUNCTIONS:
        defined = re.compile(rf"\b{fn}\s*\([^;{{]*\)\s*{{")   # a definition, not a call
        assert defined.search(headers), f"{fn} is not defined in the headers (the test is stale)"
        assert not defined.search(src), f"{name}: the generated source defines the kernel function {fn}"
    assert "__global__" not in src and "for (" not in src and "EVO_LAUNCH" not in src
    assert len(src.splitlines()) < 250   # sizes, 1 to 3 axes, entry points (with the kernels: 420 to 850)


def test_channels_last_operators_are_refused_with_a_reason(capsys):
    with pytest.raises(EvosymError, match="channels-first"):
        generate("linear", "cuda")
    rc, out, err = run_cli(capsys, "codegen", "linear", "--target", "cuda")
    assert rc == 2 and "channels-first" in err


@pytest.mark.skipif(not NVCC, reason="nvcc is not on PATH: CUDA compilation not tested here")
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_every_kernel_compiles_with_nvcc(arch):
    names = ("involution", "conv2d", "conv3d", "conv1d", "local_attention", "neighborhood_attention", "swin_attention",
             "conv2d_circular")
    sources = [generate(name, "cuda").source for name in names]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:   # nvcc runs in subprocesses: in parallel
        reports = list(pool.map(lambda src: ptxas_report(src, arch, host=arch == "sm_80"), sources))
    for name, report in zip(names, reports):
        kinds = {k.split("<")[0] for k in report}
        variants = ["forward", "forward_shared", "backward_input", "backward_input_shared", "backward_kernel",
                    "backward_kernel_full"]
        if name in ("local_attention", "neighborhood_attention", "swin_attention"):   # the fused attention (plan.attention)
            variants += ["attention_forward", "attention_backward_query", "attention_backward_kv",
                         "attention_backward_bias"]
        assert kinds == {f"evo_{k}_{t}" for k in variants for t in ("f32", "f64")}, (name, kinds)
        assert all(regs > 0 for regs, _, _ in report.values())


@pytest.mark.skipif(not HOST, reason="no C++ compiler: the host build of the kernels is not tested here")
@pytest.mark.parametrize("name", NAMES)
def test_host_build_of_the_cuda_kernels_passes_the_numeric_check(name):
    lowered_or_skip(name)
    report = check_operator(name, emulated=True)
    assert report.paths == ("auto", "generic", "kernels-emulated")
    assert report.ok, report.text()
    text = report.text()
    assert "✓ gradcheck kernels-emulated" in text and "float32 kernels-emulated" in text
    assert "CUDA source, host build (emulated launch)" in text


# The aggregation kernels of NATTEN's clamped and Swin's tiled, wrapping windows: the generated modules run
# the fused attention instead, so these are compared directly with a gather over the papers' own windows
# (tests/window_reference.py), at (sizes, windows) that reach the generic (d = 1) and channel-shared variants.
AGGREGATE_CASES = {
    "neighborhood_attention": [((2, 1, 2, 5, 4, 1), lambda: (ref.clamped(5, 1), ref.clamped(4, 1))),      # B, N, d, H, W, R
                               ((1, 2, 1, 5, 6, 2), lambda: (ref.clamped(5, 2), ref.clamped(6, 2)))],
    "swin_attention": [((2, 1, 2, 2, 2, 3, 1), lambda: (ref.rolled_tiles(4, 2, 1), ref.rolled_tiles(6, 2, 1))),  # B, N, d, M, T_h, T_w, S
                       ((1, 2, 1, 3, 2, 1, 2), lambda: (ref.rolled_tiles(6, 3, 2), ref.rolled_tiles(3, 3, 2)))],
}


def aggregate_mismatches(name: str, gradients: bool = True, device: str = "emulated") -> list:
    """What of the aggregation kernels (forward; input and kernel gradients, the kernel tensor at full
    length and broadcast over the batch) disagrees with the gather reference; [] when all agree.
    ``device``: "emulated" (the CUDA source built for the host) or "cuda" (the nvcc build on a GPU)."""
    bad = []
    dev = "cuda" if device == "cuda" else "cpu"
    for sizes, windows in AGGREGATE_CASES[name]:
        rows, cols = ((i.to(dev), m.to(dev)) for i, m in windows())
        B, N, d = sizes[:3]
        H, W, K = rows[0].shape[0], cols[0].shape[0], (rows[0].shape[1], cols[0].shape[1])
        g = torch.Generator().manual_seed(sum(sizes))
        for kb in (B, 1):
            x = torch.randn(B, N * d, H, W, dtype=torch.float64, generator=g).to(dev).requires_grad_()
            kt = torch.randn((kb, N, 1, 1) + K + (H, W), dtype=torch.float64, generator=g).to(dev).requires_grad_()
            with agg.host_backend("emulated"):
                y = agg.evolution_aggregate(name, x, kt, sizes)
            want = ref.aggregate(x, kt, rows, cols)
            pairs = [("forward", y, want)]
            if gradients:
                dy = torch.randn(y.shape, dtype=torch.float64, generator=g).to(dev)
                pairs += [(f"gradient w.r.t. {w}", a, b) for w, a, b in
                          zip(("x", "kt"), torch.autograd.grad(y, (x, kt), dy), torch.autograd.grad(want, (x, kt), dy))]
            bad += [f"{name} {sizes}, kernel batch {kb}: {what}" for what, a, b in pairs
                    if not torch.allclose(a, b, rtol=1e-12, atol=1e-12)]
    return bad


GPU = pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here "
                                                   "(benchmarks/gpu_checks.sh runs this on one)"))


@pytest.mark.skipif(not HOST, reason="no C++ compiler")
@pytest.mark.parametrize("device", ["emulated", GPU])
@pytest.mark.parametrize("name", sorted(AGGREGATE_CASES))
def test_aggregation_kernels_of_clamped_and_tiled_windows_equal_a_gather(name, device):
    assert aggregate_mismatches(name, device=device) == []


# Canaries, one per kernel variant the launchers dispatch to: each mutation breaks exactly one variant
# (a text of the source with its runtime headers inlined: a kernel body or an index function printed by SymPy),
# and the operator named is one whose check shapes reach that variant (the checks must notice; "aggregate":
# the direct comparison above notices).
CANARIES = {
    "forward (generic)": ("conv2d", "acc += *kp * *xp;", "acc += *kp * *xp * 0.5;", False),
    "forward_shared (drops the last tap of every window)": ("involution", "ul <= hi[EVO_LAST]; ++ul, kp += kstep, xp += xstep) {", "ul < hi[EVO_LAST]; ++ul, kp += kstep, xp += xstep) {", False),
    "forward_shared": ("involution", "acc[r] += kv * xp[r * plane_in];", "acc[r] += kv * xp[r * plane_in] * 0.5;", False),
    "forward (generic, depthwise)": ("depthwise_conv2d", "acc += *kp * *xp;", "acc += *kp * *xp * 0.5;", False),
    "backward_input (generic)": ("conv2d", "dx[idx] = acc;", "dx[idx] = 0.5 * acc;", True),
    "backward_input_shared": ("involution", "acc[r] += kv * dyp[r * plane_out];", "acc[r] += kv * dyp[r * plane_out] * 0.5;", True),
    "backward_kernel (generic, broadcast axes)": ("dynamic_dwconv", "acc += dyo[", "acc -= dyo[", True),
    "backward_kernel_full": ("involution", "acc += dyp[c * plane_out] * xp[c * plane_in];", "acc += dyp[c * plane_out] * xp[c * plane_in] * 0.5;", True),
    # windows that wrap around, are clamped inside the input or tiled (their inverse runs over output positions)
    "forward (a wrapping axis: each tap's position wrapped)": ("conv2d_circular", "acc += *kp * xrow[evo_last::q(z, p[EVO_LAST], ul)];", "acc += *kp * xrow[evo_last::q(z, p[EVO_LAST], ul > 0 ? ul - 1 : ul)];", False),
    "forward_shared (a wrapping axis)": ("swin_attention", "xp = xrow + evo_last::q(z, p[EVO_LAST], ul);", "xp = xrow + evo_last::q(z, p[EVO_LAST], ul > 0 ? ul - 1 : ul);", False, "aggregate"),
    # (on conv2d_circular: in Swin's attention the wrapped taps are exactly the ones its −100 mask removes, so a
    # wrong read there is invisible to the operator's check)
    "evo_wrap (a wrapped tap read one position off)": ("conv2d_circular", "evo_mod(a, b); }", "evo_mod(a + 1, b); }", False),
    "backward_input_shared (inverse over positions: the first position skipped)": ("neighborhood_attention", "i64 first(const evo_sizes& z, i64 t0) { return evo_max(0, ", "i64 first(const evo_sizes& z, i64 t0) { return evo_max(1, ", True, "aggregate"),
    "backward_input_shared (tiles: the last position of a tile dropped)": ("swin_attention", "z.M + z.S - 1LL);", "z.M + z.S - 2LL);", True, "aggregate"),
    "backward_input (wrapped copies: the last one dropped)": ("conv2d_circular", "m <= ax::copy_hi(z, q[A]); ++m)", "m < ax::copy_hi(z, q[A]); ++m)", True),
    # the fused attention (local_attention's kernel path on the emulated backend)
    "attention_forward (values)": ("local_attention", "acc[r] += wt * vc[r * plane_in + off];", "acc[r] += wt * vc[r * plane_in + off] * 0.5;", False),
    "attention_forward (a tap outside the input left out of the softmax)": ("local_attention", "s += wt;", "s += in ? wt : 0;", False),
    "attention_forward (no rescale when the maximum grows)": ("local_attention", "s *= scale;", "s *= 1;", False),
    "attention_backward_query": ("local_attention", "acc[r] += ds * kc[r * plane_in + off];", "acc[r] += ds * kc[r * plane_in + off] * 0.5;", True),
    "attention_backward_kv (keys)": ("local_attention", "gkey[r] += ds * ag[", "gkey[r] -= ds * ag[", True),
    "attention_backward_kv (values)": ("local_attention", "gval[r] += wt * dyg[", "gval[r] -= wt * dyg[", True),
    # the fused attention with a logit bias β over clamped and tiled windows (NATTEN's and Swin's kernel paths)
    "attention_forward (β)": ("neighborhood_attention", "if (bp) logit += bp[evo_flat_taps(z, u, EVO_DIMS) * plane_out];\n        if (logit > m)", "if (bp) logit += 0.5 * bp[evo_flat_taps(z, u, EVO_DIMS) * plane_out];\n        if (logit > m)", False),
    "attention_backward_query (β)": ("neighborhood_attention", "if (bp) logit += bp[evo_flat_taps(z, u, EVO_DIMS) * plane_out];\n        const ", "if (bp) logit += 0.5 * bp[evo_flat_taps(z, u, EVO_DIMS) * plane_out];\n        const ", True),
    "attention_backward_kv (β)": ("neighborhood_attention", "if (bg) logit += bg[", "if (bg) logit += 0.5 * bg[", True),
    "attention_backward_kv (clamped inverse: the first position skipped)": ("neighborhood_attention", "i64 first(const evo_sizes& z, i64 t0) { return evo_max(0, ", "i64 first(const evo_sizes& z, i64 t0) { return evo_max(1, ", True),
    "attention_backward_kv (tiles: the last position of a tile dropped)": ("swin_attention", "z.M + z.S - 1LL);", "z.M + z.S - 2LL);", True),
    "attention_backward_bias": ("neighborhood_attention", "acc += evo_exp(logit - lse[at]) * (dA - delta[at]);", "acc += 0.5 * evo_exp(logit - lse[at]) * (dA - delta[at]);", True),
    "attention_backward_bias (broadcast: the first sample left out)": ("neighborhood_attention", "for (i64 b = bstride ? bb : 0;", "for (i64 b = bstride ? bb : 1;", True),
    "attention_forward (Swin's tiles: one position off)": ("swin_attention", "return evo_wrap(z.M*evo_floordiv(-z.S + p0, z.M) + z.S + u0,", "return evo_wrap(z.M*evo_floordiv(-z.S + p0, z.M) + z.S + u0 + 1,", False),
}


@pytest.mark.skipif(not HOST, reason="no C++ compiler")
@pytest.mark.parametrize("variant", sorted(CANARIES))
def test_a_wrong_kernel_source_fails_the_numeric_check(monkeypatch, variant):
    name, old, new, gradients, *how = CANARIES[variant]
    good = kernels_for(name)
    whole = inline_headers(good.source)   # the kernels are in the runtime's headers, the index functions in the source
    assert old in whole, f"the canary's target text is gone from the {name} source and its headers: {old!r}"
    bad = dataclasses.replace(good, source=whole.replace(old, new), libraries={})
    monkeypatch.setitem(rt_artifact._REGISTRY, bad.key, bad)   # by key: what modules call
    monkeypatch.setitem(rt_artifact._REGISTRY, name, bad)
    if how == ["aggregate"]:
        assert aggregate_mismatches(name, gradients), f"{variant}: the mutated aggregation kernels agree with the gather"
        return
    report = check_operator(name, emulated=True, gradients=gradients)
    assert not report.ok, f"{variant}: the mutated kernel passed the check\n{report.text()}"
    failed = [line for line in report.text().splitlines() if line.lstrip().startswith("✗") and "seed" not in line]
    assert failed and all("kernels-emulated" in line for line in failed), report.text()   # only the mutated path


@pytest.mark.skipif(not HOST, reason="no C++ compiler")
def test_bad_inputs_to_the_kernels_are_clear_errors():
    sizes = (1, 1, 2, 1, 3, 3, 1, 1)   # B, G, C_g, D, H, W, R, s
    x = torch.randn(1, 2, 3, 3, dtype=torch.float64)
    kt = torch.randn(1, 1, 1, 1, 3, 3, 3, 3, dtype=torch.float64)
    with agg.host_backend("emulated"):
        y = agg.evolution_aggregate("involution", x, kt, sizes)
    torch.testing.assert_close(y, agg.evolution_aggregate("involution", x, kt, sizes))   # CPU kernels: the same
    assert y.shape == (1, 2, 3, 3)
    with pytest.raises(TypeError, match="float32 or float64"):
        agg.evolution_aggregate("involution", x.half(), kt.half(), sizes)
    with pytest.raises(ValueError, match="kernel tensor is torch.float32"):
        agg.evolution_aggregate("involution", x, kt.float(), sizes)
    with pytest.raises(ValueError, match="x must have shape"):
        agg.evolution_aggregate("involution", x[:, :1], kt, sizes)
    strided = x.transpose(2, 3).contiguous().transpose(2, 3)   # the same values in another layout: accepted
    assert not strided.is_contiguous()
    torch.testing.assert_close(agg.evolution_aggregate("involution", strided, kt, sizes),
                               agg.evolution_aggregate("involution", x, kt, sizes), rtol=0, atol=0)
    with pytest.raises(ValueError, match="kernel tensor must have shape"):
        agg.evolution_aggregate("involution", x, kt[..., :2], sizes)
    with pytest.raises(ValueError, match="sizes must be 8 integers"):
        agg.evolution_aggregate("involution", x, kt, sizes[:-1])
    for backend in backends.runs_on("cpu"):   # cpu, emulated: sizes outside their declared ranges would divide by 0 or overflow
        with pytest.raises(ValueError, match="size s must be ≥ 1 and < 2.31, not 0"):
            agg.evolution_aggregate("involution", x, kt, sizes[:-1] + (0,), backend)
        with pytest.raises(ValueError, match="size H must be ≥ 1"):
            agg.evolution_aggregate("involution", x[:, :, :0], kt[..., :0, :], (1, 1, 2, 1, 0, 3, 1, 1), backend)
        with pytest.raises(ValueError, match="sizes must be integers, not 1.0"):
            agg.evolution_aggregate("involution", x, kt, sizes[:-1] + (1.0,), backend)
        with pytest.raises(TypeError, match="a list or tuple of integers, not str"):
            agg.evolution_aggregate("involution", x, kt, "11213311", backend)
        with pytest.raises(ValueError, match="size R must be ≥ 1 and < 2.31"):
            agg.evolution_correlate("involution", x[:, :1], x[:, :1], (1, 1, 1, 1, 3, 3, 2 ** 40, 1), backend)
    x2 = torch.randn(1, 1, 3, 1, dtype=torch.float64)   # conv2d: W_in = 1, padded by 2, a 3×3 window
    with pytest.raises(ValueError, match="size W_in must be ≥ 1"):   # (W_in = 0 once crashed the CPU kernels)
        agg.evolution_aggregate("conv2d", x2[..., :0], torch.randn(1, 1, 1, 1, 3, 3, 3, 2, dtype=torch.float64),
                                (1, 1, 1, 1, 3, 3, 1, 1, 1, 0, 3, 1, 1, 2))


@pytest.mark.skipif(not HOST, reason="no C++ compiler")
def test_a_window_that_does_not_fit_is_refused_not_computed():
    """A clamped window longer than the input (NATTEN needs H, W ≥ 2R + 1): the launchers refuse it
    (code 1003, CUDA emulated and CPU alike) and the generated module says so on the kernel path as on the generic one."""
    sizes = (1, 1, 1, 2, 5, 1)   # B, N, d, H, W, R: H = 2 < 3
    x = torch.randn(1, 1, 2, 5, dtype=torch.float64)
    kt = torch.randn(1, 1, 1, 1, 3, 3, 2, 5, dtype=torch.float64)
    with agg.host_backend("emulated"), pytest.raises(EvosymError, match="does not fit the window"):
        agg.evolution_aggregate("neighborhood_attention", x, kt, sizes)
    with pytest.raises(EvosymError, match="does not fit the window"):   # the CPU kernels refuse it too
        agg.evolution_aggregate("neighborhood_attention", x, kt, sizes)
    gen = generate("neighborhood_attention", "torch")
    from evosym.codegen.check import load_source
    layer = load_source(gen.source, "neighborhood_attention").NeighborhoodAttentionEvolution(N=1, d=1, R=1).double()
    for path in ("generic", "kernels"):
        # refused before any kernel: the operator declares H, W ≥ K (the clamped window lies inside the image)
        with agg.host_backend("emulated"), pytest.raises(ValueError, match=r"the proof holds only where H ≥ 2·R \+ 1 "
                                                                           r"\(a constraint the operator declares\)"):
            layer(x, path=path)


@pytest.mark.skipif(not HOST, reason="no C++ compiler")
def test_builds_are_cached_by_content(tmp_path, monkeypatch):
    from evosym.runtime.build import build
    monkeypatch.setenv("EVOSYM_CACHE", str(tmp_path))
    src = generate("conv1d", "cuda").source
    first = build(src, "host")
    again = build(src, "host")
    other = build(src + "\n// changed\n", "host")
    assert not first.cached and again.cached and again.path == first.path
    assert not other.cached and other.path != first.path


def test_the_gpu_benchmark_compares_with_unfold_only_where_unfold_computes_the_same_windows():
    """F.unfold zero-pads: for a clamped (NATTEN) or tiled (Swin) window the unfold-based aggregation
    would be another computation, so the GPU benchmark leaves it out (its agreement check would fail)."""
    from evosym.codegen.bench_kernels import _unfold_aggregate
    from evosym.codegen.plan import make_plan
    x, kt = torch.zeros(1, 4, 5, 5), torch.zeros(1, 2, 1, 1, 3, 3, 5, 5)
    for name, expected in (("involution", True), ("neighborhood_attention", False), ("swin_attention", False)):
        plan = make_plan(catalogue.checked(name))
        assert plan.kernel_unsqueeze == [2, 3]   # one kernel per channel block: the form the unfold comparison takes
        env = {s: 3 if str(s) in ("K", "M") else 1 for s in plan.size_order}
        assert (_unfold_aggregate(plan, x, kt, env) is not None) == expected, name
