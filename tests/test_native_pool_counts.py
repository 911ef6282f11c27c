"""A static kernel that is exactly PyTorch's average pool with a per-position divisor runs as the native
F.avg_pool{1,2,3}d(…, ceil_mode, count_include_pad) (lowering.AvgPool, path native-avg-pool), recognised factor by
factor in the proved kernel, never from the operator's name: δ(c, o)·Π_k 1/N_k with N_k the window's taps inside the
input (count_include_pad=False) or inside the padded extent (count_include_pad=True, PyTorch's ceil_mode divisor), on
PyTorch's output grid (floor, or the ceil_mode length), under the declared 2P ≤ K (and K ≤ L in 3-D).

Look-alike operator files (tests/data/operators/pool_*.py: another divisor, a count over another range, an output
one shorter, a window for every start inside the input, padding avg_pool refuses) keep their lowering and still pass
the numeric check; each with its one difference undone is lowered natively (so the test reaches the recognition)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
import sympy as sp
import torch
import torch.nn.functional as F

from evosym import catalogue
from evosym.codegen.check import check_operator, load_source
from evosym.codegen.lowering import AvgPool, _ceil_length, _counted_pool
from evosym.codegen.plan import make_plan
from evosym.codegen.render import render_torch
from evosym.facts.kernel import kernel_facts
from evosym.ir.symbols import InRange

DATA = Path(__file__).resolve().parent / "data" / "operators"
NATIVE = {   # name -> (ceil_mode, count_include_pad)
    "avg_pool1d_ceil": (True, True), "avg_pool2d_ceil": (True, True), "avg_pool3d_ceil": (True, True),
    "avg_pool1d_exclude_pad": (False, False), "avg_pool2d_exclude_pad": (False, False),
    "avg_pool3d_exclude_pad": (False, False),
    "avg_pool1d_ceil_exclude_pad": (True, False), "avg_pool2d_ceil_exclude_pad": (True, False),
    "avg_pool3d_ceil_exclude_pad": (True, False),
}


@pytest.mark.parametrize("name", sorted(NATIVE))
def test_counted_average_pools_lower_to_the_native_call(name):
    plan = make_plan(catalogue.checked(name))
    ceil, include = NATIVE[name]
    assert plan.path == "native-avg-pool" and isinstance(plan.lowering, AvgPool)
    assert (plan.lowering.ceil_mode, plan.lowering.count_include_pad) == (ceil, include)
    assert f"ceil_mode={ceil}, count_include_pad={include}" in plan.reason
    assert make_plan(catalogue.checked(name), force_generic=True).path == "generic-window"


@pytest.mark.parametrize("name", ["avg_pool2d", "avg_pool3d_ceil_divisor", "avg_pool2d_divisor", "conv2d",
                                  "depthwise_conv2d", "adaptive_avg_pool2d", "involution"])
def test_other_kernels_keep_their_lowering(name):
    assert make_plan(catalogue.checked(name)).path != "native-avg-pool"


# ---- look-alike operator files: refused, still checked; with their one difference undone, lowered natively ----

UNDO = {
    "pool_count_plus_one1d": [("(t_, 0, K - 1)) + 1\n", "(t_, 0, K - 1))\n"), ("<= n - 1) + 1\n", "<= n - 1)\n")],
    "pool_count_left_pad1d": [("t_ - P, -P, L - 1)", "t_ - P, 0, L - 1)"), ("if -p <= q", "if 0 <= q")],
    "pool_exclude_short1d": [("L_out = sp.floor((L + 2 * P - K) / s)\n", "L_out = sp.floor((L + 2 * P - K) / s) + 1\n"),
                             ("length = (n + 2 * p - k) // st\n", "length = (n + 2 * p - k) // st + 1\n")],
    "pool_exclude_every_start1d": [   # undone into PyTorch's ceil length written with Min (the other accepted form)
        ("L_out = sp.floor((L + P - 1) / s) + 1", "L_out = sp.floor(sp.Min(L + 2 * P - K + s - 1, L + P - 1) / s) + 1"),
        ("length = (n + p - 1) // st + 1", "length = min(n + 2 * p - k + st - 1, n + p - 1) // st + 1")],
    "pool_exclude_wide_pad1d": [("constraints=(sp.Le(P, K - 1),", "constraints=(sp.Le(2 * P, K),"),
                                ("K: 3, s: 2, P: 2}", "K: 3, s: 2, P: 1}"), ("K: 4, s: 3, P: 3}", "K: 4, s: 3, P: 2}")],
}


@pytest.mark.parametrize("name", sorted(UNDO))
def test_look_alikes_keep_their_lowering_and_pass_the_check(name):
    path = str(DATA / f"{name}.py")
    cp = catalogue.checked(path)
    plan = make_plan(cp)
    assert plan.path == "generic-window", plan.reason
    assert _counted_pool(kernel_facts(cp).whole.native, kernel_facts(cp)) is None
    report = check_operator(path, checked=cp, variants=1, gradcheck=False)
    assert report.ok, report


@pytest.mark.parametrize("name", sorted(UNDO))
def test_look_alikes_with_the_difference_undone_are_native(name, tmp_path):
    text = (DATA / f"{name}.py").read_text()
    for old, new in UNDO[name]:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    f = tmp_path / f"{name}_undone.py"
    f.write_text(text.replace(f'name="{name}"', f'name="{name}_undone"'))
    assert make_plan(catalogue.checked(str(f))).path == "native-avg-pool"


def test_kernel_mutations_are_refused():
    facts = kernel_facts(catalogue.checked("avg_pool2d_ceil_exclude_pad"))
    khat = facts.whole.native
    assert _counted_pool(khat, facts) == (True, False)
    counts = [f for f in sp.Mul.make_args(khat) if isinstance(f, sp.Pow)]
    (h, w), o, c = counts, facts.windowed.out_channel, facts.windowed.channel
    body = h.base.function
    e, lo, hi = body.args
    (t, t_lo, t_hi), = h.base.limits
    j = facts.windowed.position[1]
    i = facts.windowed.position[0]
    variants = {
        "count + 1": khat.xreplace({h: 1 / (h.base + 1)}),
        "twice the mean": 2 * khat,
        "the sum, not the mean": khat.xreplace({h: sp.Integer(1)}),
        "a count up to L (one past the input)": khat.xreplace({body: InRange(e, lo, hi + 1)}),
        "a count from −P (left padding) to L − 1": khat.xreplace({body: InRange(e, lo - facts.windowed.omega.axes[0].padding, hi)}),
        "a count over K + 1 taps": khat.xreplace({h: 1 / sp.Sum(body, (t, t_lo, t_hi + 1))}),
        "a count shifted by one": khat.xreplace({body: InRange(e + 1, lo, hi)}),
        "the h-count read at j": khat.xreplace({body: body.xreplace({i: j})}),
        "one axis counted twice": khat.xreplace({w: h}),
        "another channel pairing": khat.xreplace({sp.KroneckerDelta(c, o): sp.KroneckerDelta(c, o + 1)}),
        "no channel delta": khat.xreplace({sp.KroneckerDelta(c, o): sp.Integer(1)}),
        "a tap-dependent weight": khat * (facts.kernel.taps[0] + 1),
    }
    for what, changed in variants.items():
        assert _counted_pool(changed, facts) is None, what
    # one axis counting the padded extent, the other the input: no single count_include_pad
    facts_ceil = kernel_facts(catalogue.checked("avg_pool2d_ceil"))
    k_ceil = facts_ceil.whole.native
    hc = [f for f in sp.Mul.make_args(k_ceil) if isinstance(f, sp.Pow)][0]
    mixed = k_ceil.xreplace({hc: h})
    assert _counted_pool(k_ceil, facts_ceil) == (True, True) and _counted_pool(mixed, facts_ceil) is None


def test_the_ceil_length_is_pytorchs_rule():
    """Both accepted forms of the ceil length equal PyTorch's rule (round up, less one when the last window starts
    at or past L + P) for 0 ≤ 2P ≤ K, and the torch call's own output length."""
    L, K, s, P = sp.symbols("L K s P", integer=True, positive=True)
    forms = [sp.lambdify((L, K, s, P), f, modules=[{"floor": math.floor, "Min": min}]) for f in _ceil_length(L, K, s, P)]
    for n, k, st in itertools.product(range(1, 12), range(1, 8), range(1, 6)):
        for p in range(0, k // 2 + 1):
            out = -(-(n + 2 * p - k) // st) + 1
            if (out - 1) * st >= n + p:
                out -= 1
            if out < 1:
                continue
            assert all(f(n, k, st, p) == out for f in forms), (n, k, st, p)
            if k <= n + 2 * p:
                got = F.avg_pool1d(torch.zeros(1, 1, n), k, st, p, ceil_mode=True).shape[-1]
                assert got == out, (n, k, st, p)


# ---- the generated modules against F.avg_poolNd directly, at many sizes, with gradients ----

@pytest.fixture(scope="module")
def modules():
    out = {}
    for name in NATIVE:
        cp = catalogue.checked(name)
        plan = make_plan(cp)
        out[name] = getattr(load_source(render_torch(plan, cp.operator.torch_binding), name, cp), plan.func_name)
    return out


def _sizes(dims, K, s, P):
    axes = {1: ("",), 2: ("_h", "_w"), 3: ("_d", "_h", "_w")}[dims]
    return {f"{base}{a}": v for a, k_, s_, p_ in zip(axes, K, s, P) for base, v in (("K", k_), ("s", s_), ("P", p_))}


def _cases(dims, seed):
    g = torch.Generator().manual_seed(seed)
    out = []
    lengths = (5, 6, 7, 9, 11)
    for n in range(10 if dims < 3 else 6):
        L, K, s, P = [], [], [], []
        for _ in range(dims):
            k = int(torch.randint(1, 6, (), generator=g))
            lo = k if dims == 3 else max(1, k - 2)
            L.append(max(lo, lengths[int(torch.randint(0, 5, (), generator=g))] - (2 if dims == 3 else 0)))
            K.append(k)
            s.append(int(torch.randint(1, 5, (), generator=g)))   # stride above the window too
            P.append(int(torch.randint(0, k // 2 + 1, (), generator=g)))
        out.append((tuple(L), tuple(K), tuple(s), tuple(P)))
    return out


@pytest.mark.parametrize("name", sorted(NATIVE))
def test_equal_to_avg_pool_at_many_sizes_with_gradients(name, modules, monkeypatch):
    fn = modules[name]
    ceil, include = NATIVE[name]
    dims = int(name[len("avg_pool")])
    pool = getattr(F, f"avg_pool{dims}d")
    calls = []
    monkeypatch.setattr(fn.__globals__["F"], f"avg_pool{dims}d", lambda *a, **k: calls.append(k) or pool(*a, **k))
    done = 0
    for seed_case, (L, K, s, P) in enumerate(_cases(dims, sum(map(ord, name)))):
        try:
            want_shape = pool(torch.zeros((1, 1) + L, dtype=torch.float64), K, s, P, ceil_mode=ceil).shape
        except RuntimeError:   # torch refuses these sizes (the window does not fit): the module refuses them too
            with pytest.raises(ValueError):
                fn(torch.zeros((1, 1) + L, dtype=torch.float64), **_sizes(dims, K, s, P))
            continue
        x = torch.randn((2, 3) + L, dtype=torch.float64, requires_grad=True,
                        generator=torch.Generator().manual_seed(seed_case))
        got = fn(x, **_sizes(dims, K, s, P))
        want = pool(x, K, s, P, ceil_mode=ceil, count_include_pad=include)
        assert got.shape == want.shape == (2, 3) + tuple(want_shape[2:])
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
        wgt = torch.randn_like(want)
        (ga,), (gb,) = torch.autograd.grad((got * wgt).sum(), (x,)), torch.autograd.grad((want * wgt).sum(), (x,))
        torch.testing.assert_close(ga, gb, rtol=1e-12, atol=1e-12)
        generic = fn(x.detach(), **_sizes(dims, K, s, P), path="generic")
        torch.testing.assert_close(generic, want.detach(), rtol=1e-12, atol=1e-12)
        done += 1
    assert done >= 4 and calls and all(k == {"ceil_mode": ceil, "count_include_pad": include} for k in calls)
