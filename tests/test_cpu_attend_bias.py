"""The CPU kernels' attend with a logit bias β (``evosym::attend`` with ``bias=``: the windowed correlation, + β
and the softmax over the taps in one kernel call, ``attend_biased``): equal to the separate correlation kernel,
+ β and ``torch.softmax`` (and, for the clamped window, to logits gathered here from the window's definition), on
clamped (neighbourhood attention), plain zero-padded (local attention, conv1d with stride and dilation) and
wrapping (conv1d_circular) windows, the register-tiled rows and the per-position path, β given once for the
batch and per sample, float32 and float64; its gradients (a, b and β, β's summed over the batch when broadcast)
by gradcheck and against the separate path; a β of the wrong shape, dtype or type refused with a clear error;
the fused kernel is what runs (not the fallback); the generated neighbourhood attention module, whose β is one
gather at indices cached per sizes, equal to its generic path at several sizes, values and gradients."""

from __future__ import annotations

import os
import shutil

import pytest
import sympy as sp
import torch

from evosym.codegen.artifact import kernels_for
from evosym.codegen.check import load_source
from evosym.codegen.render import template_function
from evosym.codegen.torchexpr import GridCompiler
from evosym.runtime import aggregate as agg
from evosym.runtime import attend as attend_mod
from evosym.runtime.attend import evolution_attend

CXX = shutil.which(os.environ.get("CXX") or "c++") is not None
pytestmark = pytest.mark.skipif(not CXX, reason="no C++ compiler: the CPU kernels are not built here")
NA, LA, C1, CONV = "neighborhood_attention", "local_attention", "conv1d_circular", "conv1d"

# (operator, sizes in its kernels' order, what the case covers)
CASES = [
    (NA, (2, 2, 3, 5, 4, 1), "clamped, odd and even lengths"),
    (NA, (1, 1, 3, 8, 41, 3), "clamped, K = 7, wide rows"),
    (NA, (2, 2, 2, 3, 70, 1), "clamped, wide rows: tiled interior, whole and partial vectors, border"),
    (LA, (2, 2, 3, 5, 9, 1), "plain (zero-padded)"),
    (LA, (2, 1, 2, 3, 70, 1), "plain, wide rows"),
    (CONV, (2, 2, 1, 1, 9, 3, 2, 2, 1), "plain, stride 2 and dilation 2: the per-position path"),
    (C1, (2, 3, 1, 1, 70, 5, 1, 1, 2), "wrapping, wide rows"),
    (C1, (2, 2, 1, 1, 8, 3, 2, 1, 1), "wrapping, stride 2: the per-position path"),
    (C1, (2, 2, 1, 1, 9, 3, 1, 2, 2), "wrapping, dilation 2"),
]
IDS = [f"{name}-{'x'.join(map(str, sizes))}" for name, sizes, _ in CASES]


@pytest.fixture(scope="module", autouse=True)
def _registered_kernels():
    for name in sorted({c[0] for c in CASES}):
        kernels_for(name)


def _operands(name, sizes, dtype, batch_bias, seed=0, scale=1.0):
    """a, b (B, C, L…) and β (B or 1, kernel groups, taps…, positions…) for the correlation at ``sizes``."""
    gen = torch.Generator().manual_seed(seed)
    k = agg.kernels_for(name)
    ext = agg.checked_extents(k, sizes)
    a = torch.randn((ext["B"], ext["groups"]) + ext["out"], generator=gen, dtype=dtype) * scale
    b = torch.randn((ext["B"], ext["groups"]) + ext["in"], generator=gen, dtype=dtype)
    shape = agg._kernel_shape(k, a, b, sizes)
    beta = torch.randn((ext["B"] if batch_bias else 1, shape[1]) + tuple(shape[4:]), generator=gen, dtype=dtype) * 2
    return a, b, beta


def _separate(name, a, b, beta, sizes):
    """softmax over the taps of (the correlation kernel's logits + β): what the fused call must equal."""
    logits = agg.evolution_correlate(name, a, b, sizes) + beta.unsqueeze(2).unsqueeze(3)
    dims = (logits.dim() - 4) // 2
    return torch.softmax(logits.flatten(4, 3 + dims), dim=4).view(logits.shape)


def _tol(dtype):
    return {"rtol": 1e-12, "atol": 1e-13} if dtype == torch.float64 else {"rtol": 2e-5, "atol": 2e-6}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("batch_bias", [False, True], ids=["once", "per-sample"])
@pytest.mark.parametrize("name,sizes,what", CASES, ids=IDS)
def test_fused_attend_with_bias_equals_the_separate_calls(name, sizes, what, batch_bias, dtype):
    a, b, beta = _operands(name, sizes, dtype, batch_bias, seed=sum(sizes) + batch_bias)
    got = evolution_attend(name, a, b, sizes, bias=beta)
    torch.testing.assert_close(got, _separate(name, a, b, beta, sizes), **_tol(dtype))
    # β matters (a case where it were dropped would fail), and the attention without β is unchanged
    assert (got - evolution_attend(name, a, b, sizes)).abs().max() > 1e-3
    torch.testing.assert_close(evolution_attend(name, a, b, sizes), _separate(name, a, b, beta * 0, sizes), **_tol(dtype))


def _clamped_reads(L, K):
    R = (K - 1) // 2
    return torch.tensor([[min(max(p - R, 0), L - K) + u for u in range(K)] for p in range(L)])


@pytest.mark.parametrize("batch_bias", [False, True], ids=["once", "per-sample"])
def test_clamped_window_against_logits_from_its_definition(batch_bias):
    """Independent of the correlation kernel: ℓ[b, h, u, v, i, j] = Σ_e a[b, h·d + e, i, j]·b[b, h·d + e, r(i, u),
    c(j, v)] + β with NATTEN's window start(p) = min(max(p − R, 0), L − K), softmax over (u, v) in torch."""
    sizes = (2, 2, 3, 6, 37, 2)
    B, N, d, H, W, R = sizes
    K = 2 * R + 1
    a, b, beta = _operands(NA, sizes, torch.float64, batch_bias, seed=5)
    rows, cols = _clamped_reads(H, K), _clamped_reads(W, K)
    win = b[:, :, rows[:, None, :, None], cols[None, :, None, :]]                 # b, c, i, j, u, v
    logits = (a[:, :, :, :, None, None] * win).unflatten(1, (N, d)).sum(2)       # b, h, i, j, u, v
    logits = logits.permute(0, 1, 4, 5, 2, 3) + beta                              # b, h, u, v, i, j
    want = torch.softmax(logits.flatten(2, 3), dim=2).view(logits.shape).unsqueeze(2).unsqueeze(3)
    torch.testing.assert_close(evolution_attend(NA, a, b, sizes, bias=beta), want, rtol=1e-12, atol=1e-13)


def test_the_fused_kernel_runs_not_the_fallback(monkeypatch):
    """With the CPU kernels, β goes into the attend kernel: the separate correlation is never called."""
    name, sizes, _ = CASES[2]
    a, b, beta = _operands(name, sizes, torch.float64, False)
    want = _separate(name, a, b, beta, sizes)
    assert attend_mod._declared(name, a.device, "cpu")

    def refuse(*args, **kwargs):
        raise AssertionError("the separate correlation ran")
    monkeypatch.setattr(attend_mod, "correlation", refuse)
    torch.testing.assert_close(evolution_attend(name, a, b, sizes, bias=beta), want, rtol=1e-12, atol=1e-13)


def test_large_logits_stay_finite_in_float32():
    """β and logits up to ~10⁴ (exp overflows float32 without the max subtracted): finite, as torch.softmax."""
    name, sizes, _ = CASES[2]
    a, b, beta = _operands(name, sizes, torch.float32, True, scale=40.0)
    beta = beta * 1000
    got = evolution_attend(name, a, b, sizes, bias=beta)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got.double(), _separate(name, a.double(), b.double(), beta.double(), sizes),
                               rtol=0, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_hidden_taps_weigh_exactly_zero_and_nan_stays_nan(dtype):
    """As torch.softmax: a −∞ logit's weight is exactly 0 and one 100 below its row's largest 0 too in float32
    (the vectorised exp returned e^−87.3 ≈ 1e-38 for both); a NaN logit makes its row NaN (never a weight of 0).
    Rows of 70 positions: whole vectors and the partial last one."""
    name, sizes, _ = CASES[2]
    a, b, beta = _operands(name, sizes, dtype, True, seed=3)
    # β: (b, head, tap row, tap column, row, column) over 3 × 70 positions
    beta[0, :, 0, 0] = -torch.inf               # tap (0, 0) hidden at every position of sample 0
    beta[1, 1, 1, 1, :, 5:] = -200.0            # tap (1, 1) 200 below the others in sample 1's head 1, from column 5
    beta[1, 0, 0, 0, 2, 69] = torch.nan         # one NaN logit at the partial vector's last position
    got = evolution_attend(name, a, b, sizes, bias=beta)   # (b, head, 1, 1, tap row, tap column, row, column)
    want = _separate(name, a, b, beta, sizes)
    assert (got[0, :, :, :, 0, 0] == 0).all() and (want[0, :, :, :, 0, 0] == 0).all()
    low = got[1, 1, :, :, 1, 1, :, 5:]           # float32: 0 as torch's (e^−200 is below its range); float64 e^−200
    assert (low == 0).all() if dtype == torch.float32 else (low > 0).all() and (low < 1e-80).all()
    assert (got[1, 1, :, :, 1, 1, :, :5] > 1e-5).all()
    nan = got.isnan()
    assert torch.equal(nan, want.isnan()) and nan[1, 0, :, :, :, :, 2, 69].all() and int(nan.sum()) == 9
    torch.testing.assert_close(got[~nan], want[~nan], **_tol(dtype))


@pytest.mark.parametrize("batch_bias", [False, True], ids=["once", "per-sample"])
@pytest.mark.parametrize("name,sizes", [(NA, (2, 1, 2, 3, 4, 1)), (LA, (2, 2, 1, 3, 4, 1)),
                                        (C1, (2, 2, 1, 1, 6, 3, 1, 1, 1)), (CONV, (2, 1, 1, 1, 7, 3, 2, 2, 1))],
                         ids=["clamped", "plain", "wrapping", "plain-strided"])
def test_gradients_by_gradcheck_and_against_the_separate_calls(name, sizes, batch_bias):
    a, b, beta = (t.requires_grad_(True) for t in _operands(name, sizes, torch.float64, batch_bias, seed=3))
    fused = lambda a_, b_, beta_: evolution_attend(name, a_, b_, sizes, bias=beta_)   # noqa: E731
    assert torch.autograd.gradcheck(fused, (a, b, beta))
    y = fused(a, b, beta)
    dy = torch.randn(y.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    got = torch.autograd.grad(y, (a, b, beta), dy)
    want = torch.autograd.grad(_separate(name, a, b, beta, sizes), (a, b, beta), dy)
    assert got[2].shape == beta.shape   # summed over the batch where β is given once
    for what, g, w in zip(("∂a", "∂b", "∂β"), got, want):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-13, msg=what)
    # β alone needing a gradient, and none at all
    beta2 = beta.detach().requires_grad_(True)
    (g2,) = torch.autograd.grad(fused(a.detach(), b.detach(), beta2), beta2, dy)
    torch.testing.assert_close(g2, want[2], rtol=1e-12, atol=1e-13)
    with torch.no_grad():
        torch.testing.assert_close(fused(a, b, beta), y.detach(), rtol=0, atol=0)


def test_double_backward_through_the_bias():
    name, sizes = NA, (1, 1, 2, 3, 3, 1)
    a, b, beta = (t.requires_grad_(True) for t in _operands(name, sizes, torch.float64, True, seed=9))
    assert torch.autograd.gradgradcheck(lambda a_, b_, beta_: evolution_attend(name, a_, b_, sizes, bias=beta_),
                                        (a, b, beta))


def test_a_wrong_bias_is_refused_clearly():
    name, sizes, _ = CASES[0]
    a, b, beta = _operands(name, sizes, torch.float64, True)
    with pytest.raises(ValueError, match=r"logit bias must have shape \(2, 2, 3, 3, 5, 4\) \(its batch axis may be 1\)"):
        evolution_attend(name, a, b, sizes, bias=beta[:, :, :2])
    with pytest.raises(ValueError, match="logit bias must have shape"):
        evolution_attend(name, a, b, sizes, bias=torch.cat([beta, beta]))   # batch 4: neither 1 nor B
    with pytest.raises(ValueError, match="logit bias must have shape"):
        evolution_attend(name, a, b, sizes, bias=beta[0])                    # no batch axis
    with pytest.raises(ValueError, match="logit bias is torch.float32"):
        evolution_attend(name, a, b, sizes, bias=beta.float())
    with pytest.raises(TypeError, match="logit bias must be a torch.Tensor"):
        evolution_attend(name, a, b, sizes, bias=beta.tolist())
    with pytest.raises(ValueError, match="logit bias must have shape"):      # through the attention's CPU path too
        from evosym.runtime.attention import evolution_attention
        evolution_attention(name, a, b, b, sizes, bias=beta[:, :, :2])


def test_an_empty_batch():
    name, sizes = NA, (0, 2, 3, 5, 4, 1)
    a, b, beta = _operands(name, sizes, torch.float64, False)
    out = evolution_attend(name, a, b, sizes, bias=beta)
    assert out.shape == (0, 2, 1, 1, 3, 3, 5, 4)


# ---- the generated module: β by one gather at cached indices ------------------------------------------------------

def _module(name):
    from evosym import catalogue
    from evosym.codegen.plan import make_plan
    from evosym.codegen.render import render_torch
    cp = catalogue.checked(name)
    plan = make_plan(cp)
    return load_source(render_torch(plan, cp.operator.torch_binding), name, cp), plan


def test_the_generated_module_caches_the_bias_index_and_equals_its_generic_path():
    gen, plan = _module(NA)
    fn = getattr(gen, plan.func_name)
    g = torch.Generator().manual_seed(2)
    for (B, N, d, H, W, R) in [(2, 2, 3, 5, 7, 1), (1, 2, 2, 9, 6, 2), (2, 2, 3, 5, 7, 1)]:   # the first again: a hit
        C = N * d
        x = torch.randn(B, C, H, W, generator=g, dtype=torch.float64, requires_grad=True)
        ws = [(torch.randn(C, C, generator=g, dtype=torch.float64) / C ** 0.5).requires_grad_(True) for _ in range(3)]
        rpb = torch.randn(N, 4 * R + 1, 4 * R + 1, generator=g, dtype=torch.float64, requires_grad=True)
        ins = (x, *ws, rpb)
        y = fn(*ins, N=N, d=d, R=R, path="kernels")
        ref = fn(*ins, N=N, d=d, R=R, path="generic")
        torch.testing.assert_close(y, ref, rtol=1e-11, atol=1e-12)
        dy = torch.randn(y.shape, generator=g, dtype=torch.float64)
        for what, a, b in zip(("x", "Wq", "Wk", "Wv", "rpb"), torch.autograd.grad(y, ins, dy), torch.autograd.grad(ref, ins, dy)):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-11, msg=what)
    cache = vars(gen).get("_evosym_gathers")
    assert cache is not None and len(cache) == 2   # one entry per sizes (the third call hit the first's)


def test_cached_gathers_keep_their_mask():
    """A gather that reads outside its tensor (T[i − 1, j + 1]: masked) gives the same with the index cached, at two
    sizes and again (hits), and keeps the grid axes' extents in its key; where T may be empty (n, m are no sizes ≥ 1
    here) it reads zeros then, cached or not."""
    i, j, n, m = sp.symbols("i j n m", integer=True)
    T = sp.IndexedBase("T")
    e = T[i - 1, j + 1] * 2
    progs = [GridCompiler((i, j), {i: "n", j: "m"}, {"T": ("t", ("n", "m"), (n, m))}, {n: "n", m: "m"},
                          cache_gathers=c).compile(e) for c in (False, True)]
    assert not any("_gather(" in s for s in progs[0].statements)
    assert any("_gather(" in s for s in progs[1].statements)
    scopes = [{"torch": torch, "_as_grid": lambda v, r, dt, dev: torch.as_tensor(v, dtype=dt, device=dev)}
              for _ in progs]   # each program's module globals, kept between calls (the cache lives there)
    for scope in scopes:
        exec(template_function("_traced") + "\n" + template_function("_gather"), scope)  # noqa: S102 - the helpers
    for shape in [(3, 4), (5, 2), (3, 4), (0, 4), (3, 0)]:   # (n, m may be 0 here: an empty T reads zeros)
        t = torch.randn(shape, dtype=torch.float64)
        outs = []
        for prog, scope in zip(progs, scopes):
            scope.update(t=t, n=shape[0], m=shape[1], dtype=t.dtype, device=t.device)
            exec("\n".join(prog.statements), scope)
            outs.append(scope[prog.result])
        want = torch.zeros(shape, dtype=torch.float64)
        want[1:, :-1] = 2 * t[:-1, 1:]
        torch.testing.assert_close(outs[0], want, rtol=0, atol=0)
        torch.testing.assert_close(outs[1], want, rtol=0, atol=0)
    assert len(scopes[1]["_evosym_gathers"]) == 4   # one entry per sizes: (3, 4) hit the first


@pytest.mark.parametrize("batch_bias", [False, True], ids=["once", "per-sample"])
def test_the_op_with_a_bias_passes_opcheck(batch_bias):
    """``evosym::attend`` with β: schema, fake implementation (β checked there too), autograd registration."""
    name, sizes, _ = CASES[0]
    a, b, beta = (t.requires_grad_(True) for t in _operands(name, sizes, torch.float64, batch_bias))
    torch.library.opcheck(attend_mod._attend, (name, a, b, list(sizes), "cpu", beta))
    torch.library.opcheck(attend_mod._attend, (name, a, b, list(sizes), "cpu"))
