"""The fused local attention (``evosym::attention``, docs/cuda.md): logits (+ a bias β), online softmax over
the window and aggregation in one CUDA kernel pass, and its backward kernels, run here through the emulated
host build of the CUDA source (layer 3). Checked against an unfold-based softmax attention written in this
file and a gather-based one over SASA's, NATTEN's and Swin's windows (tests/window_reference.py; forward
and gradients, β given once or per sample), against the CPU kernels' attend + aggregate, under
``torch.library.opcheck`` (schema, fake implementation, autograd registration), and for clear errors.
Canaries that mutate these kernels are in tests/test_cuda_codegen.py; the plan's structural condition
is tested on a mutated K̂ here.
"""

from __future__ import annotations

import os
import shutil

import pytest
import sympy as sp
import torch
import torch.nn.functional as F

from evosym import catalogue
from evosym.codegen.plan import make_plan
from evosym.errors import EvosymError
from evosym.codegen.artifact import kernels_for
from evosym.runtime import aggregate as agg
from evosym.runtime import artifact as rt_artifact
from evosym.runtime.attend import evolution_attend
from evosym.runtime.attention import _attention, evolution_attention
from window_reference import attention as gather_attention
from window_reference import clamped, rolled_tiles, zero_padded

HOST = shutil.which(os.environ.get("CXX", "c++")) is not None
needs_cxx = pytest.mark.skipif(not HOST, reason="no C++ compiler: the host build of the CUDA source is not tested here")

@pytest.fixture(scope="module", autouse=True)
def _registered_kernels():
    """The kernels these tests call by operator name, registered with the runtime (which never proves)."""
    for name in ('involution', 'local_attention', 'neighborhood_attention', 'swin_attention'):
        kernels_for(name)



def unfold_attention(a, b, v, heads, R):
    """y[b, c, p] = Σ_u softmax_u(Σ_{e in head} a·b̃)·ṽ over the (2R+1)² window, b̃ and ṽ zero-padded
    (a padded tap has logit 0 and stays in the softmax): torch.nn.functional.unfold, independent of evosym."""
    B, C, H, W = a.shape
    d, K = C // heads, 2 * R + 1
    kw = F.unfold(b, K, padding=R).view(B, heads, d, K * K, H * W)
    vw = F.unfold(v, K, padding=R).view(B, heads, d, K * K, H * W)
    logits = (a.reshape(B, heads, d, 1, H * W) * kw).sum(2)          # (B, heads, K², HW)
    weights = torch.softmax(logits, dim=2)
    return (weights.unsqueeze(2) * vw).sum(3).reshape(B, C, H, W)


def operands(B, N, d, H, W, dtype=torch.float64, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(B, N * d, H, W, generator=g, dtype=dtype) * scale).requires_grad_() for _ in range(3)]


def test_the_plan_fuses_local_attention_only_where_the_kernel_is_exactly_the_softmax():
    plan = make_plan(catalogue.checked("local_attention"))
    assert plan.attention is not None and plan.attention["text"] == "qry ⋆ key_pad"
    for name in ("involution", "acmix_attention", "conv2d"):
        assert make_plan(catalogue.checked(name)).attention is None, name
    # K̂ with the taps transposed still attends (its softmax is the same tensor), but is not that
    # softmax read as the kernel's own axes: no fusion
    cp = catalogue.checked("local_attention")
    u, v = make_plan(cp).premix_factor[1].indices[-2:]
    swapped = make_plan(cp, mutate_kernel=lambda k: k.xreplace({u: v, v: u}))
    assert swapped.attends and swapped.attention is None
    assert make_plan(cp, force_generic=True).attention is None


def test_nattens_and_swins_logits_fuse_with_their_bias_as_a_term_of_its_own():
    """ℓ = α·(q ⋆ k) + β: the correlation is found over the clamped and the tiled, wrapping window, and β
    (rpb; Swin's also the −100 mask) is everything else, free of the batch (given once to the kernels)."""
    for name in ("neighborhood_attention", "swin_attention"):
        att = make_plan(catalogue.checked(name)).attention
        assert att is not None and att["text"] == "qry ⋆ key" and att["batch_free"], name
        assert {str(r.base.label) for r in att["bias"].atoms(sp.Indexed)} == {"rpb"}
        assert att["bias_shape"][0] == "1" and att["bias_program"] is not None
        assert att["bias"].has(sp.KroneckerDelta) == (name == "swin_attention")   # Swin's −100 mask
    assert make_plan(catalogue.checked("local_attention")).attention["bias"] is None
    # not fused (the taps transposed): the biased correlation is dropped, since its kernels compute no β
    cp = catalogue.checked("neighborhood_attention")
    u, v = make_plan(cp).premix_factor[1].indices[-2:]
    swapped = make_plan(cp, mutate_kernel=lambda k: k.xreplace({u: v, v: u}))
    assert swapped.attention is None and not swapped.attends and not swapped.correlations


GPU = pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here "
                                                   "(benchmarks/gpu_checks.sh runs this on one)"))


@needs_cxx
@pytest.mark.parametrize("device", ["emulated", GPU])
@pytest.mark.parametrize("B, N, d, H, W, R", [(2, 2, 2, 5, 7, 1), (1, 1, 16, 4, 3, 2), (1, 2, 12, 6, 2, 1), (2, 1, 3, 3, 5, 3)])
def test_fused_kernels_equal_an_unfold_attention_forward_and_gradients(B, N, d, H, W, R, device):
    """CH = 2, 16, 4 and 1 channels per thread (d = 2, 16, 12, 3); windows larger than the input (R = 3, H = 3).
    "emulated": the CUDA source built for the host (CI); "cuda": the nvcc build on a GPU."""
    a, b, v = (t.detach().to("cuda" if device == "cuda" else "cpu").requires_grad_()
               for t in operands(B, N, d, H, W, scale=3.0))     # logits of a few units: the rescaling is exercised
    sizes = (B, N, d, H, W, R)
    with agg.host_backend("emulated"):
        y = evolution_attention("local_attention", a, b, v, sizes)
    want = unfold_attention(a, b, v, N, R)
    torch.testing.assert_close(y, want, rtol=1e-12, atol=1e-12)
    dy = torch.randn_like(y)
    got = torch.autograd.grad(y, (a, b, v), dy)
    ref = torch.autograd.grad(want, (a, b, v), dy)
    for what, g1, g0 in zip("abv", got, ref):
        torch.testing.assert_close(g1, g0, rtol=1e-11, atol=1e-12, msg=f"gradient w.r.t. {what}")
    with agg.host_backend("emulated"):   # float32: the same kernels, within float32 rounding
        y32 = evolution_attention("local_attention", *(t.detach().float() for t in (a, b, v)), sizes)
    torch.testing.assert_close(y32, want.float(), rtol=2e-5, atol=2e-5)


WINDOWS = {   # operator: (its window per axis from the paper's own recipe, its sizes from (B, N, d, H, W, extra))
    "local_attention": (lambda H, W, r: (zero_padded(H, r), zero_padded(W, r)), lambda B, N, d, H, W, r: (B, N, d, H, W, r)),
    "neighborhood_attention": (lambda H, W, r: (clamped(H, r), clamped(W, r)), lambda B, N, d, H, W, r: (B, N, d, H, W, r)),
    "swin_attention": (lambda H, W, ms: (rolled_tiles(H, *ms), rolled_tiles(W, *ms)),
                       lambda B, N, d, H, W, ms: (B, N, d, ms[0], H // ms[0], W // ms[0], ms[1])),
}


@needs_cxx
@pytest.mark.parametrize("device", ["emulated", GPU])
@pytest.mark.parametrize("name, B, N, d, H, W, extra, per_sample", [
    ("neighborhood_attention", 2, 2, 2, 5, 7, 1, False),    # clamped window, CH = 2
    ("neighborhood_attention", 1, 1, 3, 6, 5, 2, True),     # CH = 1, K = 5 over 5 columns
    ("swin_attention", 2, 1, 4, 4, 6, (2, 1), False),       # tiles of 2 shifted by 1, wrapping; CH = 4
    ("swin_attention", 1, 2, 2, 6, 3, (3, 2), True),
    ("local_attention", 2, 2, 2, 4, 5, 1, True),            # zero-padded keys: a padded tap's logit is β
])
def test_fused_kernels_with_a_logit_bias_equal_a_gather_attention(name, B, N, d, H, W, extra, per_sample, device):
    """β added to every logit (a padded tap's too), given once for the batch or per sample; forward and the
    gradients of a, b, v and β (β's kernel sums over the batch when β is broadcast)."""
    windows, sizes_of = WINDOWS[name]
    dev = "cuda" if device == "cuda" else "cpu"
    a, b, v = (t.detach().to(dev).requires_grad_() for t in operands(B, N, d, H, W, scale=2.0, seed=1))
    K = windows(H, W, extra)
    taps = (K[0][0].shape[1], K[1][0].shape[1])
    beta = (torch.randn((B if per_sample else 1, N) + taps + (H, W), dtype=torch.float64,
                        generator=torch.Generator().manual_seed(2)) * 2).to(dev).requires_grad_()
    sizes = sizes_of(B, N, d, H, W, extra)
    with agg.host_backend("emulated"):
        y = evolution_attention(name, a, b, v, sizes, bias=beta)
    K = tuple((i.to(dev), m.to(dev)) for i, m in K)
    want = gather_attention(a, b, v, N, *K, bias=beta)
    torch.testing.assert_close(y, want, rtol=1e-12, atol=1e-12)
    dy = torch.randn_like(y)
    got = torch.autograd.grad(y, (a, b, v, beta), dy)
    ref = torch.autograd.grad(want, (a, b, v, beta), dy)
    for what, g1, g0 in zip(("a", "b", "v", "β"), got, ref):
        torch.testing.assert_close(g1, g0, rtol=1e-11, atol=1e-12, msg=f"gradient w.r.t. {what}")
    with agg.host_backend("emulated"):   # float32: the same kernels, within float32 rounding
        y32 = evolution_attention(name, *(t.detach().float() for t in (a, b, v)), sizes, bias=beta.detach().float())
    torch.testing.assert_close(y32, want.float(), rtol=2e-5, atol=2e-5)
    if name == "local_attention":   # the CPU kernels (correlation, + β, softmax, aggregation) agree
        y_cpu = evolution_attention(name, a, b, v, sizes, bias=beta)
        torch.testing.assert_close(y_cpu, want, rtol=1e-12, atol=1e-12)
        got_cpu = torch.autograd.grad(y_cpu, (a, b, v, beta), dy)
        for what, g1, g0 in zip(("a", "b", "v", "β"), got_cpu, ref):
            torch.testing.assert_close(g1, g0, rtol=1e-11, atol=1e-12, msg=f"CPU kernels: gradient w.r.t. {what}")


@needs_cxx
def test_a_bias_without_its_gradient_and_bad_biases():
    a, b, v = operands(1, 2, 2, 4, 3)
    sizes = (1, 2, 2, 4, 3, 1)
    beta = torch.randn(1, 2, 3, 3, 4, 3, dtype=torch.float64)      # no gradient asked: none computed
    with agg.host_backend("emulated"):
        y = evolution_attention("neighborhood_attention", a, b, v, sizes, bias=beta)
        got = torch.autograd.grad(y.sum(), (a, b, v))
    want = gather_attention(a, b, v, 2, clamped(4, 1), clamped(3, 1), bias=beta)   # (the ∂β kernel not launched)
    for what, g1, g0 in zip("abv", got, torch.autograd.grad(want.sum(), (a, b, v))):
        torch.testing.assert_close(g1, g0, rtol=1e-11, atol=1e-12, msg=f"gradient w.r.t. {what}")
    with agg.host_backend("emulated"):
        with pytest.raises(ValueError, match=r"the logit bias must have shape \(1, 2, 3, 3, 4, 3\) \(its batch axis may be 1\)"):
            evolution_attention("neighborhood_attention", a, b, v, sizes, bias=beta[..., :2].contiguous())
        with pytest.raises(ValueError, match="the logit bias are torch.float32"):
            evolution_attention("neighborhood_attention", a, b, v, sizes, bias=beta.float())
        strided = beta.transpose(4, 5).contiguous().transpose(4, 5)   # another layout of the same β: accepted
        assert not strided.is_contiguous()
        torch.testing.assert_close(evolution_attention("neighborhood_attention", a, b, v, sizes, bias=strided),
                                   evolution_attention("neighborhood_attention", a, b, v, sizes, bias=beta), rtol=0, atol=0)
        with pytest.raises(TypeError, match="torch.Tensors"):
            evolution_attention("neighborhood_attention", a, b, v, sizes, bias=beta.tolist())
        # a window that does not fit (K = 3 > W = 2): the launcher refuses it (code 1003), nothing is computed
        a2, b2, v2 = operands(1, 2, 2, 4, 2)
        with pytest.raises(EvosymError, match="does not fit the window"):
            evolution_attention("neighborhood_attention", a2, b2, v2, (1, 2, 2, 4, 2, 1), bias=beta[..., :2].contiguous())
    # the launchers check β's options themselves (code 1004): a bias mode with no bias is refused
    k = kernels_for("neighborhood_attention")
    y, lse = torch.empty_like(a), torch.empty(1, 2, 4, 3, dtype=torch.float64)
    import ctypes
    with pytest.raises(EvosymError, match="logit bias options are invalid"):
        agg.launch(k, "attention_forward", (a, b, v, None, y, lse), sizes, "emulated", (ctypes.c_longlong * 1)(1))


@needs_cxx
def test_large_logits_do_not_overflow_and_the_cpu_kernels_agree():
    """Logits near ±200 (exp overflows float32 at 88): the online softmax stays finite, as torch.softmax."""
    a, b, v = (t.detach().float() for t in operands(1, 2, 4, 5, 5, seed=3))
    a = a * 10
    sizes = (1, 2, 4, 5, 5, 1)
    with agg.host_backend("emulated"):
        fused = evolution_attention("local_attention", a, b * 10, v, sizes)
    assert torch.isfinite(fused).all()
    torch.testing.assert_close(fused, unfold_attention(a, b * 10, v, 2, 1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(evolution_attention("local_attention", a, b * 10, v, sizes), fused, rtol=1e-5, atol=1e-5)


@needs_cxx
def test_opcheck_schema_fake_and_autograd_registration():
    a, b, v = operands(1, 2, 2, 4, 3)
    torch.library.opcheck(_attention, ("local_attention", a, b, v, None, [1, 2, 2, 4, 3, 1], "emulated"))
    beta = torch.randn(1, 2, 3, 3, 4, 3, dtype=torch.float64, requires_grad=True)
    torch.library.opcheck(_attention, ("neighborhood_attention", a, b, v, beta, [1, 2, 2, 4, 3, 1], "emulated"))


@needs_cxx
def test_bad_inputs_are_clear_errors():
    a, b, v = operands(1, 2, 2, 4, 3)
    sizes = (1, 2, 2, 4, 3, 1)
    with agg.host_backend("emulated"):
        with pytest.raises(TypeError, match="float32 or float64"):
            evolution_attention("local_attention", a.half(), b.half(), v.half(), sizes)
        with pytest.raises(ValueError, match="the keys are torch.float32"):
            evolution_attention("local_attention", a, b.float(), v, sizes)
        with pytest.raises(ValueError, match="the values must have shape"):
            evolution_attention("local_attention", a, b, v[:, :, :3].contiguous(), sizes)
        strided = v.transpose(2, 3).contiguous().transpose(2, 3)   # another layout of the same values: accepted
        torch.testing.assert_close(evolution_attention("local_attention", a, b, strided, sizes),
                                   evolution_attention("local_attention", a, b, v, sizes), rtol=0, atol=0)
        with pytest.raises(ValueError, match="sizes must be 6 integers"):
            evolution_attention("local_attention", a, b, v, sizes[:-1])
        with pytest.raises(EvosymError, match="no fused attention"):
            _attention("involution", a, b, v, None, [1, 2, 2, 1, 4, 3, 1, 1], "emulated")
    with pytest.raises(ValueError, match="backend cuda .* or emulated"):
        _attention("local_attention", a, b, v, None, list(sizes), "cpu")
    with pytest.raises(TypeError, match="torch.Tensors"):
        evolution_attention("local_attention", a.tolist(), b, v, sizes)
    for backend in ("cpu", "emulated"):
        with pytest.raises(TypeError, match="torch.Tensors"):
            evolution_attention("local_attention", a, b, v.tolist(), sizes, backend)
        with pytest.raises(TypeError, match="torch.Tensors"):
            evolution_attend("local_attention", a, b.tolist(), sizes, backend)
        with pytest.raises(ValueError, match="sizes must be integers, not 1.5"):   # never truncated to R = 1
            evolution_attention("local_attention", a, b, v, sizes[:-1] + (1.5,), backend)
        with pytest.raises(ValueError, match="size R must be ≥ 1 and < 2.31, not 4611686018427387904"):
            evolution_attention("local_attention", a, b, v, sizes[:-1] + (2 ** 62,), backend)   # 2R + 1 would overflow
        with pytest.raises(ValueError, match="size N must be ≥ 1"):
            evolution_attend("local_attention", a, b, (1, 0, 2, 4, 3, 1), backend)
        with pytest.raises(EvosymError, match="no fused attention"):   # on every backend, not only the fused one
            evolution_attention("involution", a, b, v, (1, 2, 2, 1, 4, 3, 1, 1), backend)


@needs_cxx
@pytest.mark.parametrize("name, extra", [("local_attention", (1,)), ("neighborhood_attention", (1,))])
def test_an_empty_batch_gives_empty_results_and_gradients(name, extra):
    """B = 0 with β per sample (an empty tensor: no data pointer) or broadcast: empty outputs, zero ∂β."""
    a, b, v = (t.requires_grad_() for t in operands(0, 2, 2, 4, 3))
    sizes = (0, 2, 2, 4, 3) + extra
    backends = ("cpu", "emulated") if name == "local_attention" else ("emulated",)   # NATTEN: no CPU kernels
    for backend in backends:
        for batch in (0, 1):
            beta = torch.randn(batch, 2, 3, 3, 4, 3, dtype=torch.float64, requires_grad=True)
            y = evolution_attention(name, a, b, v, sizes, backend, bias=beta)
            assert y.shape == (0, 4, 4, 3)
            y.sum().backward()
            assert a.grad.shape == a.shape and beta.grad.shape == beta.shape and not beta.grad.any()
            a.grad = b.grad = v.grad = None


@needs_cxx
def test_the_cpu_path_with_a_bias_compiles_to_one_graph():
    a, b, v = operands(1, 2, 2, 4, 3)
    beta = torch.randn(1, 2, 3, 3, 4, 3, dtype=torch.float64)
    sizes = (1, 2, 2, 4, 3, 1)
    f = lambda a, b, v, beta: evolution_attention("local_attention", a, b, v, sizes, "cpu", bias=beta)   # noqa: E731
    compiled = torch.compile(f, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(a, b, v, beta), f(a, b, v, beta))
    with pytest.raises(ValueError, match="the logit bias must have shape"):
        f(a, b, v, beta[..., :2])


@needs_cxx
@pytest.mark.parametrize("name, sizes, others", [
    ("local_attention", (2, 2, 4, 5, 6, 1), ["attend + aggregate", "unfold-based"]),
    ("neighborhood_attention", (2, 2, 4, 5, 6, 1), ["correlate + β + softmax + aggregate"]),   # no unfold: it zero-pads
])
def test_the_gpu_benchmark_rows_run_on_the_emulated_backend(monkeypatch, name, sizes, others):
    """`evosym bench NAME --device cuda --kernels` adds the fused-attention rows; their code (operands, the
    implementations, their agreement check, the gradients) runs here on the emulated backend with the CUDA
    timing and the GPU's peak replaced. No time measured here is reported."""
    from evosym.codegen import bench_kernels as bk
    monkeypatch.setattr(bk, "_events_ms", lambda fns, rounds: [(f(), 1.0)[1] for f in fns])
    monkeypatch.setattr(bk, "peak_bandwidth", lambda device: (1e12, "a stand-in peak"))
    cp = catalogue.checked(name)
    env = dict(zip([s for s, _ in cp.operator.sizes], sizes))   # B, N, d, H, W, R
    plan = make_plan(cp)
    report = bk.KernelBench(name, "", "emulated")
    with agg.host_backend("emulated"):
        bk._attention_rows(report, plan, name, tuple(env[s] for s in plan.size_order), env, "cpu", 1)
    labels = [row[0] for row in report.rows]
    assert labels == (["attention forward, fused kernel (logits, online softmax, aggregation)"] +
                      [f"attention forward, {k}" for k in others] + ["attention forward + backward, fused kernels"] +
                      [f"attention forward + backward, {k}" for k in others]), labels
