"""The numeric check passes on the generated code and fails on canaries: a mutated kernel
expression, a mutated template and a mutated reference each make it fail."""

from __future__ import annotations

import pytest
import sympy as sp
import torch

from evosym import catalogue
from evosym.codegen.check import check_operator, load_source
from evosym.codegen.plan import make_plan
from evosym.codegen.render import render_torch, template_source
from evosym.errors import EvosymError

try:
    from .conftest import numeric_report
except ImportError:  # tests/ is not a package
    from conftest import numeric_report


@pytest.mark.parametrize("name", catalogue.catalogue_names())
def test_generated_code_passes_the_numeric_check(name):
    report = numeric_report(name)   # check_operator's defaults: the report the docs pages show
    assert report.ok, report.text()
    text = report.text()
    assert "gradcheck generic" in text and "float32 generic" in text
    if report.plan.static and report.plan.integer_kernel and not catalogue.load(name).operator.reference_rounds:
        assert "integer inputs auto: exactly equal" in text   # linear, integer constants: exact outputs
    else:   # an average's 1/(K_h·K_w), an FFT reference: compared within the rounding bound only
        assert "integer inputs" not in text


def _conv2d():
    cp = catalogue.checked("conv2d")
    return cp, cp.operator


def test_canary_mutated_kernel_expression():
    """K̂ with its two taps swapped (W[…, v, u] for W[…, u, v]): every non-square kernel differs."""
    cp, op = _conv2d()

    def swap(expr):
        reads = {r: r.base[tuple(r.indices[:2]) + tuple(r.indices[2:][::-1])] for r in expr.atoms(sp.Indexed)}
        return expr.xreplace(reads)
    source = render_torch(make_plan(cp, mutate_kernel=swap), op.torch_binding)
    report = check_operator("conv2d", source=source, variants=0, gradients=False)
    assert not report.ok
    assert "|diff|" in report.text() and "reference" in report.text()


def test_canary_mutated_kernel_group_mapping():
    """K̂ with groups as c mod G instead of contiguous blocks."""
    cp, op = _conv2d()
    c, o = sp.Symbol("c", integer=True), sp.Symbol("o", integer=True)
    C_g, O_g, G = (sp.Symbol(n, integer=True, positive=True) for n in ("C_g", "O_g", "G"))

    def mod_groups(expr):
        return expr.xreplace({sp.KroneckerDelta(sp.floor(c / C_g), sp.floor(o / O_g)):
                              sp.KroneckerDelta(sp.Mod(c, G), sp.floor(o / O_g))})
    plan = make_plan(cp, mutate_kernel=mod_groups, force_generic=True)
    report = check_operator("conv2d", source=render_torch(plan, op.torch_binding), variants=0, gradients=False)
    assert not report.ok


def test_canary_padding_mode_lowering():
    """conv2d_reflect lowered as F.pad(mode='reflect') + F.conv2d: padding with the other mode must
    fail the check, the generated module passes, and the generic path keeps the true K̂."""
    cp = catalogue.checked("conv2d_reflect")
    plan = make_plan(cp)
    assert plan.path == "native-conv" and plan.pad_mode == "reflect"
    good = render_torch(plan, cp.operator.torch_binding)
    assert 'mode="reflect")' in good
    report = check_operator("conv2d_reflect", source=good.replace('mode="reflect")', 'mode="replicate")'), variants=0,
                            gradients=False, checked=cp)
    assert not report.ok and "✗ torch.float64 auto" in report.text() and "✗ torch.float64 generic" not in report.text()


def test_canary_circular_window_lowering():
    """conv2d_circular: both paths pad circularly (the native one through F.pad, the generic one builds
    its windows so); zero padding on either path must fail the check."""
    cp = catalogue.checked("conv2d_circular")
    plan = make_plan(cp)
    assert plan.path == "native-conv" and plan.pad_mode == "circular" and plan.wrap
    good = render_torch(plan, cp.operator.torch_binding)
    native = good.replace('mode="circular")\n', 'mode="constant")\n', 1)
    generic = good.replace('windows = F.pad(xc, pad, mode="circular")', 'windows = F.pad(xc, pad)')
    assert native != good and generic != good
    for source, path in ((native, "auto"), (generic, "generic")):
        report = check_operator("conv2d_circular", source=source, variants=0, gradients=False, checked=cp)
        assert not report.ok and f"✗ torch.float64 {path}" in report.text(), path
    assert check_operator("conv2d_circular", source=good, variants=0, gradients=False, checked=cp).ok


def test_canary_clamped_window_lowering():
    """neighborhood_attention's generic path selects, for each output position, the window that starts at
    its clamped start: windows taken in the wrong order must fail the check."""
    cp = catalogue.checked("neighborhood_attention")
    plan = make_plan(cp)
    assert plan.clamp and plan.kernel_devices == ("cpu", "cuda")   # the CPU and CUDA kernels lower a clamped window
    good = render_torch(plan, cp.operator.torch_binding)
    line = ".clamp(0, xc.shape[2 + axis] - span)\n"
    assert line in good
    bad = good.replace(line, ".clamp(0, xc.shape[2 + axis] - span).flip(0)\n")
    report = check_operator("neighborhood_attention", source=bad, variants=0, gradients=False, checked=cp)
    assert not report.ok and "✗ torch.float64 generic" in report.text()   # "auto" runs the CPU kernels


def test_canary_shifted_window_lowering():
    """swin_attention's generic path rolls the input by −S before cutting it into windows: rolling the
    other way must fail the check (the grid has shifted shapes)."""
    cp = catalogue.checked("swin_attention")
    plan = make_plan(cp)
    assert plan.tiled and plan.path == "sdpa" and plan.kernel_devices == ()   # auto: SDPA over the tiles
    good = render_torch(plan, cp.operator.torch_binding)
    line = "torch.roll(windows, -P_, 2 + axis)"
    assert line in good
    report = check_operator("swin_attention", source=good.replace(line, "torch.roll(windows, P_, 2 + axis)"), variants=0,
                            gradients=False, checked=cp)
    assert not report.ok and "✗ torch.float64 generic" in report.text()   # (auto: SDPA over the tiles, no roll)


def test_canary_global_kernel_transposed():
    """Token mixing with W[q, p] for W[p, q], on its native-matmul path and on the generic-global one:
    the check must fail on both; the right kernel passes on both."""
    cp = catalogue.checked("token_mixing")
    op = cp.operator

    def transpose(expr):
        return expr.xreplace({r: r.base[r.indices[::-1]] for r in expr.atoms(sp.Indexed) if str(r.base) == "W"})
    for force_generic, path in ((False, "native-matmul"), (True, "generic-global")):
        plan = make_plan(cp, mutate_kernel=transpose, force_generic=force_generic)
        assert plan.path == path and plan.global_omega and not plan.kernel_devices
        report = check_operator("token_mixing", source=render_torch(plan, op.torch_binding), variants=0, gradients=False)
        assert not report.ok and "✗ torch.float64 auto" in report.text()
        good = check_operator("token_mixing", source=render_torch(make_plan(cp, force_generic=force_generic),
                                                                  op.torch_binding), variants=0, gradients=False)
        assert good.ok, good.text()


def test_gcn_separable_matmul_lowering_and_canary():
    """GCN lowers to two matrix products (x·W, then Â along the nodes), Â computed from A by its
    definition; a transposed Â (A is not symmetric in the check's random inputs) fails the check."""
    cp = catalogue.checked("gcn")
    op = cp.operator
    plan = make_plan(cp)
    assert plan.path == "native-matmul" and plan.channel_weight is not None and "separable" in plan.reason

    def transpose(expr):
        return expr.xreplace({r: r.base[r.indices[::-1]] for r in expr.atoms(sp.Indexed) if str(r.base) == "Ahat"})
    bad = check_operator("gcn", source=render_torch(make_plan(cp, mutate_kernel=transpose), op.torch_binding),
                         variants=0, gradients=False)
    assert not bad.ok and "✗ torch.float64 auto" in bad.text()


def test_a_non_negative_tensor_is_drawn_non_negative():
    """GCN's adjacency is declared non-negative; every check draws it so (else the degree can be ≤ 0
    and D̃^(−1/2) undefined), and a wrong domain name is refused."""
    from evosym.ir.tensors import TensorDecl
    op = catalogue.load("gcn").operator
    assert op.tensor("A").domain == "nonnegative"
    from evosym.codegen.check import _tensors
    t = _tensors(op, {s: 3 for s, _ in op.sizes}, torch.float64, "cpu", torch.Generator().manual_seed(0))
    assert (t["A"] >= 0).all() and (t["x"] < 0).any()
    with pytest.raises(ValueError, match="domain must be one of"):
        TensorDecl("A", (2,), "parameter", domain="positive")


def test_mhsa_post_mix_lowering_and_canaries():
    """MHSA lowers as: heads aggregated with the value projection first, then the output projection
    as a channel map (post-mix), β = b_O + W_O·b_V. Canaries: a transposed W_O in K̂, and the
    template's post-mix applied with the transposed matrix, each fail the check."""
    cp = catalogue.checked("mhsa")
    op = cp.operator
    plan = make_plan(cp)
    assert plan.path == "sdpa" and plan.postmix is not None and plan.global_omega
    assert not plan.kernel_devices and "then P applied as a channel map" in plan.reason

    def transpose(expr):
        return expr.xreplace({r: r.base[r.indices[::-1]] for r in expr.atoms(sp.Indexed) if str(r.base) == "WO"})
    bad = check_operator("mhsa", source=render_torch(make_plan(cp, mutate_kernel=transpose), op.torch_binding),
                         variants=0, gradients=False)
    assert not bad.ok and "✗ torch.float64 auto" in bad.text()
    source = render_torch(plan, op.torch_binding)
    assert source.count("    y = torch.matmul(post2.expand(") == 1   # the post-mix of the generic path (a global Ω: no _kernels)
    assert source.count("    y = F.linear(y, post2.expand(") == 1     # … and of the SDPA path, on the tokens
    source = source.replace("    y = torch.matmul(post2.expand(", "    y = torch.matmul(post2.t().expand(")
    source = source.replace("    y = F.linear(y, post2.expand(", "    y = F.linear(y, post2.t().expand(")
    assert not check_operator("mhsa", source=source, variants=0, gradients=False).ok


@pytest.mark.parametrize("template, old, new", [
    ("torch/module.py.j2", "windows.unfold(2 + axis, d_ * (K_ - 1) + 1, s_)", "windows.unfold(2 + axis, K_, s_)"),  # dilation lost
    ("torch/module.py.j2", "dilation=dilation, groups=", "dilation=stride, groups="),                  # wrong argument
    ("torch/macros.j2", "    y = y + {{ plan.bias }}.reshape", "    y = y - {{ plan.bias }}.reshape"),  # bias sign (the tail)
])
def test_canary_mutated_template(template, old, new):
    cp, op = _conv2d()
    text = template_source(template)
    assert old in text
    changed = text.replace(old, new)
    source = render_torch(make_plan(cp), op.torch_binding, **({"source": changed} if template == "torch/module.py.j2"
                                                               else {"overrides": {template: changed}}))
    report = check_operator("conv2d", source=source, variants=0, gradients=False)
    assert not report.ok, report.text()


@pytest.mark.parametrize("broken", [
    lambda t, s: torch.zeros_like(catalogue.load("conv2d").operator.torch_reference(t, s)),   # returns zeros
    lambda t, s: catalogue.load("conv2d").operator.torch_reference({**t, "W": t["W"].flip(-1)}, s),  # flipped kernel
    lambda t, s: catalogue.load("conv2d").operator.torch_reference(t, s) * float("nan"),     # NaN
])
def test_canary_mutated_reference(broken):
    report = check_operator("conv2d", reference=broken, variants=0, gradients=False)
    assert not report.ok


def test_cuda_request_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(EvosymError, match="CUDA is not available"):
        check_operator("linear", device="cuda")


def test_bench_runs_and_reports_ratios():
    """The benchmark machinery works (tiny sizes; no test gates on times)."""
    from evosym.codegen.bench import bench_operator, table
    row = bench_operator("conv2d", repeat=2, sizes={"B": 1, "G": 1, "C_g": 2, "O_g": 2, "H_in": 6, "W_in": 5, "K_h": 3,
                                                    "K_w": 3, "s_h": 1, "s_w": 1, "delta_h": 1, "delta_w": 1, "P_h": 1, "P_w": 1})
    assert row.generated_ms > 0 and row.traditional_ms > 0 and row.generic_ms > 0 and row.ratio > 0
    assert row.path == "native-conv"
    text = table([row])
    assert text.count("\n") == 2 and "| conv2d |" in text


def _local_attention():
    cp = catalogue.checked("local_attention")
    return cp, render_torch(make_plan(cp), cp.operator.torch_binding)


def test_canary_softmax_normalised_over_one_window_axis():
    """The recognised softmax (exp(ℓ)/Z as torch statements) normalised over one tap axis only: the
    check against the unfold-based reference must fail on the generic path, and on the default path
    where it runs that code (without the CPU kernels, whose fused softmax has canaries of its own)."""
    cp, good = _local_attention()
    old = "= _softmax(def_logit, 4, 2, flush=True)"
    assert old in good
    bad = good.replace(old, "= _softmax(def_logit, 5, 1, flush=True)").replace('KERNELS = ("cpu", "cuda")', "KERNELS = ()")
    report = check_operator("local_attention", source=bad, variants=0, gradients=False, checked=cp)
    assert not report.ok
    assert "✗ torch.float64 auto" in report.text() and "✗ torch.float64 generic" in report.text()


def test_generated_softmax_helper_matches_torch_in_every_layout():
    """``_softmax`` of the generated module: the fused view path (axes adjacent in memory) and the
    copy path (axes apart, or broadcast) both equal torch.softmax over the flattened axes."""
    _, good = _local_attention()
    softmax = load_source(good, "local_attention_softmax")._softmax
    torch.manual_seed(0)
    base = torch.randn(2, 3, 4, 5, 6, dtype=torch.float64)

    def want(t, first, count):
        moved = t.movedim(list(range(first, first + count)), list(range(t.dim() - count, t.dim())))
        flat = torch.softmax(moved.reshape(moved.shape[:t.dim() - count] + (-1,)), dim=-1).reshape(moved.shape)
        return flat.movedim(list(range(t.dim() - count, t.dim())), list(range(first, first + count)))
    layouts = {"contiguous": base, "taps outermost": base.permute(3, 4, 0, 1, 2).contiguous().permute(2, 3, 4, 0, 1),
               "taps apart": base.permute(3, 0, 4, 1, 2).contiguous().permute(1, 3, 4, 0, 2),
               "broadcast": base[:, :, :1].expand(2, 3, 4, 5, 6)}
    for what, t in layouts.items():
        for first, count in ((3, 2), (2, 2), (1, 1), (0, 5)):
            got = softmax(t, first, count)
            assert got.shape == t.shape, what
            torch.testing.assert_close(got, want(t, first, count), rtol=1e-12, atol=1e-14, msg=what)
    assert softmax(torch.empty(2, 0, 3, 3), 2, 2).shape == (2, 0, 3, 3)


def test_generated_softmax_is_stable_where_the_written_one_overflows():
    """Logits far above 88 overflow exp() in float32; the generated code subtracts the maximum, as
    torch.softmax does, and matches the reference where exp(ℓ)/Σ exp(ℓ) evaluated as written is NaN."""
    cp, good = _local_attention()
    gen = load_source(good, "local_attention_stable")
    torch.manual_seed(0)
    x = torch.randn(1, 4, 5, 6) * 30
    w = {n: torch.randn(4, 4) for n in ("Wq", "Wk", "Wv")}
    ref = cp.operator.torch_reference({"x": x, **w}, {"N": 2, "R": 1})
    y = gen.local_attention_evolution(x, w["Wq"], w["Wk"], w["Wv"], N=2, d=2, R=1, path="generic")
    assert torch.isfinite(y).all() and torch.allclose(y, ref, rtol=1e-4, atol=1e-4)
    q = torch.einsum("oc,bchw->bohw", w["Wq"], x)
    k = torch.einsum("oc,bchw->bohw", w["Wk"], x)
    centre = (q * k).view(1, 2, 2, 5, 6).sum(2) / 2 ** 0.5      # each head's logit for the centre tap
    assert torch.isinf(torch.exp(centre)).any(), "the test needs logits that overflow exp() in float32"


def test_a_declared_parameter_nothing_reads_has_gradient_zero_on_both_sides():
    """The gradient comparison takes a tensor one side does not read as gradient zero (review finding: an unused
    declared parameter failed the check with torch's 'not used in the graph')."""
    from pathlib import Path
    from evosym.codegen.check import check_operator
    path = str(Path(__file__).resolve().parent / "data/operators/box_sum_unused_parameter.py")
    report = check_operator(path, variants=1)
    assert report.ok, report.text()
    assert "gradients" in report.text() and "equal the reference's autograd" in report.text()


def test_a_gradient_through_a_tensor_the_reference_does_not_read_fails():
    """The other direction: generated code whose output carries a gradient into a parameter the reference never
    reads (forward unchanged: + (w − w.detach()).sum()) fails the gradient comparison, it is not skipped."""
    from pathlib import Path
    path = str(Path(__file__).resolve().parent / "data/operators/box_sum_unused_parameter.py")
    cp = catalogue.checked(path)
    src = render_torch(make_plan(cp), cp.operator.torch_binding)
    marker = "    y = F.avg_pool1d(xin, kernel, stride, padding)\n"
    assert marker in src
    cheat = src.replace(marker, marker + "    y = y + (unused - unused.detach()).sum()\n")
    report = check_operator(path, variants=1, source=cheat, gradcheck=False)
    assert not report.ok and "gradients" in report.text() and "unused" in report.text()
