"""A window inside a global kernel, and a global kernel's diagonal read as an einsum label.

HyperZ·Z·W as released is a column-wise matrix product beside a depthwise k×k branch, both over a global Ω: K̂
over (p, q) was a B·C·L⁴ grid. The k×k branch is a term of K̂ that vanishes off a window around p and is the same
kernel for every sample and position there: one native convolution (:mod:`evosym.facts.bands`, verified exactly
against K at every grid shape). The matrix product carries δ(j, u₂) with the output as long as the input on that
axis: x is read at j itself (an einsum label), so its kernel is (B, C, L, L), not a (p, q) grid.
Each recogniser is shown refusing the variants it must not take.
"""

from __future__ import annotations

import importlib.util
import types

import pytest
import sympy as sp
import torch

from conftest import checked
from evosym.codegen import lowering as L
from evosym.codegen.generate import committed_dir
from evosym.codegen.plan import _diagonal, make_plan
from evosym.errors import EvosymError
from evosym.facts.bands import _window, verify_band
from evosym.facts.kernel import kernel_facts
from evosym.ir.symbols import InRange


def _module():
    spec = importlib.util.spec_from_file_location("band_hyperzzw_code", committed_dir() / "hyperzzw_code.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hyperzzw_code_splits_its_local_branch_off_as_a_window():
    facts = kernel_facts(checked("hyperzzw_code"))
    band = facts.band
    op = facts.operator
    R = dict((str(s), s) for s, _ in op.sizes)["R"]
    assert band is not None and band.size == (2 * R + 1,) * 2 and band.padding == (R, R)
    assert band.checked_shapes == len(op.grid)
    assert sp.expand(band.rest + band.term - facts.taps.expr.expand()) == 0   # the parts sum to the verified K̂
    assert not band.rest.has(InRange) and not band.kernel.free_symbols & set(facts.form.position)
    plan = make_plan(checked("hyperzzw_code"))
    assert type(plan.lowering) is L.Generic and plan.band_conv["groups"] == "C"   # depthwise: groups = C
    assert "compared exactly with K at 2 grid shapes" in plan.reason and "native convolution" in plan.reason
    assert plan.diagonal_axes == [1] and plan.einsum == "bgcuj->bgoij"
    assert "δ(j, u_2_tap)" in plan.reason


def test_forced_generic_keeps_the_plain_grid():
    plan = make_plan(checked("hyperzzw_code"), force_generic=True)
    assert plan.band_conv is None and plan.diagonal_axes == [] and plan.einsum == "bgcuv->bgoij"


@pytest.mark.parametrize("sizes", [dict(B=1, C=1, D=2, R=1, P=1), dict(B=3, C=2, D=3, R=1, P=3),
                                   dict(B=2, C=3, D=2, R=2, P=2)])
def test_the_split_module_matches_the_released_computation(sizes):
    module = _module()
    import derivations.hyperzzw_code as ref
    torch.manual_seed(0)
    B, C, D, R, P = (sizes[k] for k in "BCDRP")
    layer = module.HyperzzwCodeEvolution(C=C, D=D, R=R, P=P, dtype=torch.float64)
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_()
    H = P * (2 * R + 1)
    z = torch.randn(B, C, H, H, dtype=torch.float64, requires_grad=True)
    t = {"Z": z, "fast_bias": layer.fast_bias}
    for tag in "gl":
        t.update({f"omega_{tag}": getattr(layer, f"omega_{tag}"), f"phi_{tag}": getattr(layer, f"phi_{tag}"),
                  f"Wo_{tag}": getattr(layer, f"out_weight_{tag}"), f"bo_{tag}": getattr(layer, f"out_bias_{tag}")})
    want = ref.torch_reference(t, {"R": R})
    got = layer(z)
    assert torch.allclose(got, want, rtol=1e-10, atol=1e-10)
    g_want = torch.autograd.grad(want.square().sum(), [z, layer.omega_l, layer.out_weight_g])
    g_got = torch.autograd.grad(got.square().sum(), [z, layer.omega_l, layer.out_weight_g])
    for a, b in zip(g_got, g_want):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-9)


def test_the_kernel_is_no_longer_a_p_q_grid():
    module = _module()
    B, C, D, R, P = 2, 3, 2, 1, 4
    H = P * (2 * R + 1)
    layer = module.HyperzzwCodeEvolution(C=C, D=D, R=R, P=P)
    z = torch.randn(B, C, H, H)
    kernel, band = module._kernel_tensor(z, *[p for _, p in layer.named_parameters()], C=C, D=D, R=R, P=P, L_out=(H, H))
    assert kernel.numel() <= B * C * H ** 3 and band.shape == (C, 1, 3, 3)   # was B·C·H⁴ (one entry per (p, q))


I, J, U, V = sp.symbols("i j u v", integer=True)
Rs = sp.Symbol("R", integer=True, positive=True)
Ws = sp.IndexedBase("W")


@pytest.mark.parametrize("term, found", [
    (InRange(Rs - I + U, 0, 2 * Rs) * InRange(Rs - J + V, 0, 2 * Rs) * Ws[U - I + Rs, V - J + Rs], ((Rs, Rs), (2 * Rs + 1,) * 2)),
    (InRange(U - I, -1, 1) * InRange(V - J, 0, 2) * Ws[U - I + 1, V - J], ((1, 0), (3, 3))),
    (InRange(Rs - I + U, 0, 2 * Rs) * Ws[U - I + Rs, V], None),                              # one axis has no window
    (InRange(Rs - 2 * I + U, 0, 2 * Rs) * InRange(Rs - J + V, 0, 2 * Rs) * Ws[U, V], None),  # stride 2: not q − p
    (InRange(J - I + U, 0, 2 * Rs) * InRange(Rs - J + V, 0, 2 * Rs) * Ws[U, V], None),       # the offset reads j
    (InRange(Rs - I + U, 0, I) * InRange(Rs - J + V, 0, 2 * Rs) * Ws[U, V], None),           # the range reads i
])
def test_window_brackets_are_recognised_only_at_q_minus_p(term, found):
    assert _window(term, (I, J), (U, V), {Rs}) == found


def test_a_wrong_window_part_fails_the_exact_check():
    facts = kernel_facts(checked("hyperzzw_code"))
    band, op, form = facts.band, facts.operator, facts.windowed
    args = (op, form, facts.definitions, band.rest, facts.taps.taps)
    assert verify_band(*args, band.kernel, band.taps, (band.padding, band.size)) == len(op.grid)
    t1, t2 = band.taps
    R = band.padding[0]
    mutants = [
        (band.kernel, band.taps, ((R + 1, R), band.size)),                   # the window shifted by one row
        (band.kernel.xreplace({t1: 2 * R - t1}), band.taps, (band.padding, band.size)),   # flipped (a correlation)
        (band.kernel, band.taps, (band.padding, (2 * R, 2 * R + 1))),        # one tap short
        (2 * band.kernel, band.taps, (band.padding, band.size)),             # scaled
    ]
    for kernel, taps, window in mutants:
        with pytest.raises(EvosymError, match="differs from K|ill-formed"):
            verify_band(*args, kernel, taps, window)


def _fake(out_len, in_len, delta):
    p, u = sp.symbols("j u_tap", integer=True)
    n = sp.Symbol("n", integer=True, positive=True)
    op = types.SimpleNamespace(output=types.SimpleNamespace(shape=(out_len(n),)), lhs_indices=(p,))
    form = types.SimpleNamespace(position=(p,), omega=types.SimpleNamespace(axes=(types.SimpleNamespace(kernel=in_len(n)),)))
    plan = types.SimpleNamespace(einsum="bcu->boi", kernel_letters="bocui", kernel_expand=[(1, "O"), (4, "L_out[0]")],
                                 diagonal_axes=[])
    W = sp.IndexedBase("M")
    expr = delta(p, u) * W[p, u]
    return plan, op, form, types.SimpleNamespace(taps=(u,)), expr, p, u


@pytest.mark.parametrize("out_len, in_len, delta, applied", [
    (lambda n: n, lambda n: n, sp.KroneckerDelta, True),
    (lambda n: n + 1, lambda n: n, sp.KroneckerDelta, False),    # the output is longer: j = L reads no position of x
    (lambda n: n, lambda n: 2 * n, sp.KroneckerDelta, False),    # the input is longer
    (lambda n: n, lambda n: n, lambda a, b: sp.KroneckerDelta(a, b + 1), False),   # δ(j, u + 1): not the diagonal
])
def test_the_diagonal_is_taken_only_where_the_lengths_agree(out_len, in_len, delta, applied):
    plan, op, form, taps, expr, p, u = _fake(out_len, in_len, delta)
    out = _diagonal(plan, op, form, taps, expr, "i", "u")
    if applied:
        assert out == sp.IndexedBase("M")[p, p] and plan.einsum == "bci->boi" and plan.kernel_expand == [(1, "O")]
    else:
        assert out == expr and plan.einsum == "bcu->boi" and plan.diagonal_axes == []


DATA = __import__("pathlib").Path(__file__).resolve().parent / "data" / "operators"


@pytest.mark.parametrize("name, path, band, diagonal", [
    ("band_scaled_weight2d", "generic-global", True, [1]),   # the window's weight a definition without a shape
    ("row_mixing2d", "generic-window", False, []),            # the search's window of stride 0 on the rows
    ("transposed_read2d", "generic-global", True, []),        # δ(j, u_1) crosses the axes: no diagonal
    ("band_batch_mean2d", "generic-global", True, [1]),      # the window's weight reads an input through a sum
])
def test_operator_files_at_the_edges_generate_and_check(name, path, band, diagonal):
    from evosym.codegen.check import check_operator
    report = check_operator(str(DATA / f"{name}.py"), variants=1)
    assert report.ok, report.text()
    assert report.plan.path == path and bool(report.plan.band_conv) == band and report.plan.diagonal_axes == diagonal
    if path.startswith("generic") and not report.plan.has_kernels:
        assert "run the same code here" in report.text()   # the default is path="generic": said, not a second check
    else:
        assert "and generic" in report.text()
