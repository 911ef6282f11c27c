"""Softmax weights below the smallest normal float are 0 in the generated modules where every read of them is linear
(the template's ``_normal``, evosym.facts.softmax.weights_read_linearly): sharp attention (logits more than ~87 apart in float32)
gave subnormal weights, and every product with one took a slow path on x86 CPUs (cordonnier_attention at its
benchmark size: 37 ms against 6 ms). The values and gradients must stay those of the reference, on every mode the
softmax runs in (no gradient, reverse, forward-mode); a kernel that reads the weights otherwise keeps them."""

from __future__ import annotations

import pytest
import torch

import sympy as sp

from evosym import catalogue
from evosym.codegen.plan import make_plan
from evosym.codegen.render import render_torch
from evosym.coverage.modules import generated
from evosym.facts.softmax import reads_linearly

F32, F64 = torch.float32, torch.float64


def _subnormal(t):
    return int(((t != 0) & (t.abs() < torch.finfo(t.dtype).tiny)).sum())


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("grad", [False, True])
def test_the_softmax_helper_drops_exactly_the_subnormal_weights(dtype, grad):
    mod = generated("cordonnier_attention")
    spread = {F32: 120.0, F64: 800.0}[dtype]   # logits spread past the dtype's normal range of exp
    t = torch.linspace(0, -spread, 32, dtype=dtype).repeat(3, 2, 1).requires_grad_(grad)   # each row 0 … −spread
    want = torch.softmax(t.detach(), dim=-1)
    assert _subnormal(want) > 0   # the case in point: torch's softmax gives subnormal weights here
    got = mod._softmax(t, 2, 1, flush=True)
    assert _subnormal(mod._softmax(t.detach(), 2, 1)) == _subnormal(want)   # kept unless asked
    assert _subnormal(got) == 0
    normal = want >= torch.finfo(dtype).tiny
    assert torch.equal(got.detach()[normal], want[normal])   # the normal weights untouched, to the bit
    assert not got.detach()[~normal].any()
    if grad:   # the gradient of the kept weights is the softmax's; the dropped ones' is below any rounding
        w = torch.randn(got.shape, dtype=dtype, generator=torch.Generator().manual_seed(0))
        mine, = torch.autograd.grad((got * w).sum(), t)
        theirs, = torch.autograd.grad((torch.softmax(t, dim=-1) * w).sum(), t)
        torch.testing.assert_close(mine, theirs, rtol=0, atol=torch.finfo(dtype).tiny * 8)


def test_half_types_keep_their_weights():
    mod = generated("cordonnier_attention")
    t = torch.linspace(0, -30, 32, dtype=torch.bfloat16).reshape(1, 32)
    torch.testing.assert_close(mod._softmax(t, 1, 1, flush=True), torch.softmax(t, dim=-1), rtol=0, atol=0)


def _cordonnier(alpha, dtype, grad):
    g = torch.Generator().manual_seed(1)
    t = {"x": torch.randn(2, 3, 7, 7, generator=g, dtype=dtype), "alpha": torch.tensor([alpha], dtype=dtype),
         "WO": torch.randn(4, 27, generator=g, dtype=dtype), "bO": torch.randn(4, generator=g, dtype=dtype)}
    for v in t.values():
        v.requires_grad_(grad)
    return t


@pytest.mark.parametrize("path", ["auto", "generic"])
@pytest.mark.parametrize("alpha", [3.0, 40.0])   # logits to −3·72 and −40·72: subnormal weights, and exp's zeros
def test_sharp_cordonnier_attention_equals_its_reference(path, alpha):
    mod = generated("cordonnier_attention")
    op = catalogue.checked("cordonnier_attention").operator
    sizes = dict(B=2, C=3, O=4, R=1, H=7, W=7)
    t = _cordonnier(alpha, F32, True)
    y = mod.cordonnier_attention_evolution(t["x"], t["alpha"], t["WO"], t["bO"], C=3, O=4, R=1, path=path)
    t64 = {k: v.detach().double().requires_grad_() for k, v in t.items()}
    want = op.torch_reference(t64, sizes)
    torch.testing.assert_close(y.double(), want, rtol=1e-5, atol=1e-5)
    w = torch.randn(y.shape, generator=torch.Generator().manual_seed(2))
    mine = torch.autograd.grad((y * w).sum(), list(t.values()))
    theirs = torch.autograd.grad((want * w.double()).sum(), list(t64.values()))
    for a, b in zip(mine, theirs):
        torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=1e-4)
    with torch.no_grad():   # the in-place form (no graph)
        again = mod.cordonnier_attention_evolution(t["x"], t["alpha"], t["WO"], t["bO"], C=3, O=4, R=1, path=path)
    torch.testing.assert_close(again, y.detach(), rtol=0, atol=0)


def test_forward_mode_through_sharp_weights():
    mod = generated("cordonnier_attention")
    t = _cordonnier(3.0, F64, False)
    tangent = torch.randn(t["x"].shape, dtype=F64, generator=torch.Generator().manual_seed(3))
    f = lambda x: mod.cordonnier_attention_evolution(x, t["alpha"], t["WO"], t["bO"], C=3, O=4, R=1, path="generic")
    _, jvp = torch.func.jvp(f, (t["x"],), (tangent,))
    eps = 1e-6
    torch.testing.assert_close(jvp, (f(t["x"] + eps * tangent) - f(t["x"] - eps * tangent)) / (2 * eps),
                               rtol=1e-6, atol=1e-6)


A, V = sp.IndexedBase("A"), sp.IndexedBase("V")
i, j, n = sp.symbols("i j n", integer=True)


@pytest.mark.parametrize("expr, linear", [
    (sp.Sum(3 * A[i, j] * V[j], (j, 0, n)), True),
    (A[i, j] + V[j], True),
    (sp.exp(V[j]) * A[i, j], True),                 # other factors may be anything
    (sp.log(A[i, j]) * V[j], False),                # log(0) is −∞: a subnormal weight's log is finite
    (A[i, j] ** 2, False),
    (sp.sqrt(A[i, j]), False),                      # √(1e-40) = 1e-20 is no small change
    (V[j] / A[i, j], False),
    (A[i, j] * A[j, i], False),                     # two weights in one product
    (sp.Piecewise((V[j], A[i, j] > 0), (0, True)), False),
    (V[A[0, 0]], False),                            # an index
    (A[A[0, 0], j], False),
    (sp.Sum(V[j], (j, 0, A[0, 0])), False),         # a limit
    (V[i] * V[j], True),                            # no read at all
])
def test_reads_linearly(expr, linear):
    assert reads_linearly(expr, "A") is linear


@pytest.mark.parametrize("mutate, flush", [(None, True), (lambda k: k ** 2, False), (lambda k: 2 * k + 1, True),
                                           (lambda k: sp.exp(k), False)])
def test_the_plan_flushes_only_weights_read_linearly(mutate, flush):
    cp = catalogue.checked("cordonnier_attention")
    src = render_torch(make_plan(cp, mutate_kernel=mutate, force_generic=True), cp.operator.torch_binding)
    calls = [line for line in src.splitlines() if "= _softmax(" in line]
    assert calls and all(("flush=True" in line) is flush for line in calls)


@pytest.mark.parametrize("dtype", [F32, F64])
def test_only_the_subnormals_are_zeroed(dtype):
    """finfo.tiny is the smallest normal number: kept, as 2·tiny and 1 are; its half and the largest subnormal are
    zeroed; NaN stays NaN (the adversarial pass found torch.threshold at tiny zeroing tiny itself)."""
    mod = generated("cordonnier_attention")
    tiny = torch.finfo(dtype).tiny
    largest = torch.nextafter(torch.tensor(tiny, dtype=dtype), torch.tensor(0.0, dtype=dtype))
    s = torch.tensor([tiny, 2 * tiny, tiny / 2, float(largest), 1.0, float("nan"), 0.0], dtype=dtype)
    for grad in (False, True):
        got = mod._normal(s.clone().requires_grad_(grad), True).detach()
        assert got[:2].tolist() == [tiny, 2 * tiny] and got[2:4].tolist() == [0.0, 0.0]
        assert got[4] == 1 and got[5].isnan() and got[6] == 0
    assert torch.equal(mod._normal(s.clone(), False).nan_to_num(), s.nan_to_num())   # flush=False: untouched


@pytest.mark.parametrize("name", ["mhsa", "cordonnier_attention"])
def test_a_trace_made_without_gradients_replays_with_them(name):
    """torch.jit.trace under no_grad, replayed with inputs that require grad: the flush runs out of place while
    tracing (in place it would be recorded into the trace, and softmax saves the weights it would change).
    Cordonnier's α is declared non-negative and checked at every call, which a trace would drop: refused."""
    mod = generated(name)
    g = torch.Generator().manual_seed(5)
    if name == "mhsa":
        layer = mod.MhsaEvolution(N=2, d=3, dtype=torch.float64)
        args, sizes = [torch.randn(2, 6, 3, 4, generator=g, dtype=torch.float64)], dict(N=2, d=3)
        params = [p.detach() for p in layer.parameters()]
        fn = mod.mhsa_evolution
    else:
        t = _cordonnier(3.0, torch.float64, True)
        args, params, sizes = [t["x"].detach()], [t["alpha"].detach(), t["WO"].detach(), t["bO"].detach()], dict(C=3, O=4, R=1)
        fn = mod.cordonnier_attention_evolution
        with torch.no_grad(), pytest.raises(RuntimeError, match="alpha is checked at every call"):
            torch.jit.trace(lambda *a: fn(*a, **sizes, path="generic"), tuple(args + params), check_trace=False)
        return
    with torch.no_grad():
        traced = torch.jit.trace(lambda *a: fn(*a, **sizes, path="generic"), tuple(args + params), check_trace=False)
    leaves = [a.clone().requires_grad_() for a in args + params]
    want = torch.autograd.grad(fn(*leaves, **sizes, path="generic").square().sum(), leaves)
    got = torch.autograd.grad(traced(*leaves).square().sum(), leaves)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("path", ["auto", "generic"])
@pytest.mark.parametrize("name", ["mhsa_causal", "swin_attention", "cordonnier_attention"])
def test_reverse_over_forward_mode(name, path):
    """torch.func.grad of a jvp (and jacrev of jacfwd): the flush ran in place inside the jvp, where no gradient is
    recorded at its level but the outer grad's backward needs the softmax's output ("modified by an inplace
    operation"; found by an adversarial pass 2026-12-05, every softmax module's generic path and the SDPA modules'
    default path under forward-mode AD). Against reverse-over-reverse of the generic path (J·t by the double-vjp
    trick); Cordonnier's weights read no input: differentiated in α."""
    mod = generated(name)
    g = torch.Generator().manual_seed(6)
    fn = getattr(mod, f"{name}_evolution")
    if name == "cordonnier_attention":
        t = _cordonnier(3.0, F64, False)
        primal, sizes = t["alpha"], dict(C=3, O=4, R=1)
        f = lambda path: (lambda a: fn(t["x"], a, t["WO"], t["bO"], **sizes, path=path))
    else:
        cls, sizes, shape = ((mod.MhsaCausalEvolution, dict(N=2, d=3), (1, 6, 4)) if name == "mhsa_causal" else
                             (mod.SwinAttentionEvolution, dict(N=2, d=2, M=2, S=1), (1, 4, 4, 4)))
        params = [p.detach() for p in cls(**sizes, dtype=F64).parameters()]
        primal = torch.randn(shape, generator=g, dtype=F64)
        f = lambda path: (lambda a: fn(a, *params, **sizes, path=path))
    tangent = torch.randn(primal.shape, generator=g, dtype=F64)
    got = torch.func.grad(lambda a: torch.func.jvp(f(path), (a,), (tangent,))[1].square().sum())(primal)
    leaf = primal.clone().requires_grad_()
    y = f("generic")(leaf)
    u = torch.zeros_like(y, requires_grad=True)
    jt = torch.autograd.grad(torch.autograd.grad(y, leaf, u, create_graph=True)[0], u, tangent, create_graph=True)[0]
    want = torch.autograd.grad(jt.square().sum(), leaf)[0]
    assert float(want.abs().max()) > 1e-3
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-11)
    if name == "mhsa_causal":   # (whole Jacobians: small outputs only)
        torch.testing.assert_close(torch.func.jacrev(torch.func.jacfwd(f(path)))(primal),
                                   torch.func.jacrev(torch.func.jacrev(f("generic")))(primal), rtol=1e-9, atol=1e-11)
