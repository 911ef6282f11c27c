"""``evosym bench NAME --against``: the alternatives compute the operator, the report and its JSON, the errors,
and the CPU peak-memory measurement.

The real test is the first one: every registered alternative must agree with the operator's torch reference
(a wrong alternative would make every ratio meaningless), and the check must refuse a plausible wrong one.
Nothing here asserts on a timing. Sizes are small (``--size`` overrides) so that each test takes seconds.
The two ``torch.compile`` tests (``test_torch_compile_*``) compile on the CPU: about 10 s each here.
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from cli_helpers import one_line_error, run_cli
from evosym.cli.report import without_run_dependent
from evosym.cli.schemas import validate
from evosym.codegen import alternatives as A
from evosym.codegen.bench import prepare
from evosym.codegen.bench_against import bench_against
from evosym.codegen.peak_memory import peak_cpu_bytes

SMALL = {
    "mhsa": {"B": 2, "N": 2, "d": 4, "H": 3, "W": 5},
    "mhsa_bias": {"B": 2, "N": 2, "d": 4, "L": 7},
    "mhsa_sample_bias": {"B": 2, "N": 2, "d": 4, "L": 7},
    "mhsa_key_padding": {"B": 3, "N": 2, "d": 4, "L": 7},
    "mhsa_causal": {"B": 2, "N": 2, "d": 4, "L": 7},
    "mhsa_causal_key_padding": {"B": 3, "N": 2, "d": 4, "L": 7},
    "mhsa_masked": {"B": 3, "N": 2, "d": 4, "L": 7},
    "mhsa_masked_bias": {"B": 3, "N": 2, "d": 4, "L": 7},
    "gqa_attention": {"B": 2, "N_kv": 2, "G": 2, "d": 4, "L": 7},
    "gqa_causal": {"B": 2, "N_kv": 2, "G": 2, "d": 4, "L": 7},
    "gqa_masked": {"B": 2, "N_kv": 2, "G": 2, "d": 4, "L": 7},
    "gqa_masked_bias": {"B": 2, "N_kv": 2, "G": 2, "d": 4, "L": 7},
    "swin_attention": {"B": 2, "N": 2, "d": 4, "M": 3, "T_h": 2, "T_w": 3, "S": 1},
    "neighborhood_attention": {"B": 2, "N": 2, "d": 4, "H": 6, "W": 7, "R": 1},
    "involution": {"B": 2, "G": 2, "C_g": 4, "D": 4, "H": 6, "W": 7, "R": 1, "s": 1},
    "local_attention": {"B": 2, "N": 2, "d": 16, "H": 6, "W": 7, "R": 1},
    "cross_attention": {"B": 2, "N": 2, "d": 4, "L": 5, "S": 3, "C_k": 6, "C_v": 7},
    "gqa_cross_attention": {"B": 2, "N_kv": 2, "G": 2, "d": 4, "L": 5, "S": 3, "C_k": 6, "C_v": 7},
    "gqa_cross_attention_masked": {"B": 2, "N_kv": 2, "G": 2, "d": 4, "L": 5, "S": 3, "C_k": 6, "C_v": 7},
    "gqa_cross_attention_masked_bias": {"B": 2, "N_kv": 2, "G": 2, "d": 4, "L": 5, "S": 3, "C_k": 6, "C_v": 7},
    "cross_attention_key_padding": {"B": 3, "N": 2, "d": 4, "L": 5, "S": 6, "C_k": 6, "C_v": 7},
    "cross_attention_masked": {"B": 3, "N": 2, "d": 4, "L": 5, "S": 6, "C_k": 6, "C_v": 7},
    "cross_attention_masked_bias": {"B": 3, "N": 2, "d": 4, "L": 5, "S": 6, "C_k": 6, "C_v": 7},
}


def _size_args(name):
    return [arg for k, v in SMALL[name].items() for arg in ("--size", f"{k}={v}")]


def _run(name, alt, sizes=None, grad=False):
    """(alternative's output, reference output) on the benchmark's random tensors at the small sizes."""
    st = prepare(name, "cpu", sizes or SMALL[name])
    sz = {str(k): v for k, v in st.env.items()}
    t = {k: v.detach().clone().requires_grad_(grad) for k, v in st.t.items()}
    with torch.set_grad_enabled(grad):
        return alt.make(t, sz, st.op).call(), st.op.torch_reference(t, sz), t


CHECKED = [(name, alt) for name in A.operators_with_alternatives() for alt in A.REGISTRY[name]
           if alt.check and not alt.compiled]


def test_the_registry_covers_the_operators_of_the_issue():
    assert set(A.operators_with_alternatives()) == set(SMALL)
    assert any(a.label == "nn.MultiheadAttention" for a in A.REGISTRY["mhsa"])
    assert [a.check for a in A.REGISTRY["neighborhood_attention"]] == [False]
    assert A.REGISTRY["involution"][0].label == A.COMPILED_REFERENCE
    assert [a.label for a in A.alternatives_for("conv2d", compile=True)] == [A.COMPILED_REFERENCE]
    assert A.alternatives_for("conv2d") == []


@pytest.mark.parametrize("name,alt", CHECKED, ids=[f"{n}-{a.label}" for n, a in CHECKED])
def test_every_alternative_agrees_with_the_reference(name, alt):
    out, ref, _ = _run(name, alt)
    ok, diff, why = alt.agrees(out, ref)
    assert ok, why
    assert out.shape == ref.shape and diff < 1e-3 * float(ref.abs().max())


@pytest.mark.parametrize("name", ["mhsa", "gqa_causal", "swin_attention"])
def test_alternatives_agree_at_a_second_size_and_differentiate(name):
    """Other sizes (two batches of windows, more heads, S = 0 for Swin) and the backward pass: the
    gradient w.r.t. x agrees with the reference's."""
    sizes = dict(SMALL[name], B=3)
    if name == "swin_attention":
        sizes.update(S=0, T_h=3)
    if name == "gqa_causal":
        sizes.update(N_kv=1, G=3)
    for alt in A.REGISTRY[name]:
        out, ref, t = _run(name, alt, sizes, grad=True)
        assert alt.agrees(out, ref)[0], alt.label
        (g_alt,) = torch.autograd.grad(out.sum(), [t["x"]])
        (g_ref,) = torch.autograd.grad(ref.sum(), [t["x"]])
        assert torch.allclose(g_alt, g_ref, rtol=1e-3, atol=1e-4 * float(g_ref.abs().max())), alt.label


@pytest.mark.parametrize("kv", [(6, 7), (8, 8)], ids=["kdim-vdim", "packed"])
def test_cross_attention_alternatives_run_in_the_bench_and_differentiate(kv):
    """cross_attention's two alternatives (F.linear q/k/v + SDPA; nn.MultiheadAttention with kdim/vdim, which
    stores separate q/k/v weights when they differ from E and the packed in_proj_weight when C_k = C_v = E) are
    registered, pass their check in a bench run (forward and forward + backward), and their gradients w.r.t.
    the three inputs agree with the reference's."""
    labels = [a.label for a in A.REGISTRY["cross_attention"]]
    assert labels == ["F.linear q/k/v + SDPA", "nn.MultiheadAttention(kdim, vdim)"]
    sizes = dict(SMALL["cross_attention"], C_k=kv[0], C_v=kv[1])
    report = bench_against("cross_attention", repeat=1, backward=True, sizes=sizes)
    assert [r.label for r in report.rows][2:] == labels and report.failed == []
    for row in report.rows[2:]:
        assert row.kind == "alternative" and row.status == "ok" and row.check == "passed", row.message
        assert row.forward_ms > 0 and row.backward_ms > 0 and row.forward_mb >= 0 and row.backward_mb >= 0
    assert not any("no registered alternative" in n for n in report.notes)
    for alt in A.REGISTRY["cross_attention"]:
        out, ref, t = _run("cross_attention", alt, sizes, grad=True)
        assert alt.agrees(out, ref)[0], alt.label
        inputs = [t["x"], t["xk"], t["xv"]]
        for g_alt, g_ref in zip(torch.autograd.grad(out.sum(), inputs), torch.autograd.grad(ref.sum(), inputs)):
            assert torch.allclose(g_alt, g_ref, rtol=1e-3, atol=1e-4 * float(g_ref.abs().max())), alt.label
    if kv == (8, 8):   # a plausible mistake where the shapes allow it: the values projected from xk, not xv
        wrong = A.Alternative("values from xk", lambda t, s, o: A._cross_sdpa(dict(t, xv=t["xk"]), s, o),
                              rtol=1e-3, atol=1e-4)
        out, ref, _ = _run("cross_attention", wrong, sizes)
        assert not wrong.agrees(out, ref)[0]


IN_CALL = [(name, alt) for name in A.operators_with_alternatives() for alt in A.REGISTRY[name] if alt.note == A._IN_CALL]


def test_every_hard_mask_beside_a_bias_has_an_alternative_that_builds_the_mask_in_the_call():
    assert sorted(name for name, _ in IN_CALL) == sorted(n for n in SMALL if n.endswith("masked_bias"))


@pytest.mark.parametrize("name,alt", IN_CALL, ids=[n for n, _ in IN_CALL])
def test_a_mask_built_in_the_call_is_rebuilt_each_call_and_differentiates_to_the_bias(name, alt):
    """The in-call alternative reads M and P when it runs (a changed P changes its output, as the reference's), and
    its gradient w.r.t. x and P is the reference's (the mask made before the timing is a leaf of its own instead)."""
    out, ref, t = _run(name, alt, grad=True)
    assert alt.agrees(out, ref)[0]
    inputs = [t["x"], t["attn_mask"]]
    for g_alt, g_ref in zip(torch.autograd.grad(out.sum(), inputs), torch.autograd.grad(ref.sum(), inputs)):
        assert torch.allclose(g_alt, g_ref, rtol=1e-3, atol=1e-4 * float(g_ref.abs().max()))
    st = prepare(name, "cpu", SMALL[name])
    sz = {str(k): v for k, v in st.env.items()}
    call = alt.make(st.t, sz, st.op).call
    first = call()
    with torch.no_grad():
        st.t["attn_mask"].mul_(3.0)
    again, ref = call(), st.op.torch_reference(st.t, sz)
    assert not torch.allclose(first, again) and alt.agrees(again, ref)[0]


def test_the_check_refuses_a_wrong_alternative():
    """Plausible mistakes a user makes: repeat instead of repeat_interleave for GQA, the relative position
    bias indexed by key − query in Swin, causal attention without the mask. Each must be refused."""
    def gqa_repeat(t, sizes, op):
        def call():
            tok = t["x"].transpose(1, 2)
            q, k, v = (A._heads(F.linear(tok, t[w], t[b]), n) for w, b, n in
                       (("WQ", "bQ", sizes["N_kv"] * sizes["G"]), ("WK", "bK", sizes["N_kv"]), ("WV", "bV", sizes["N_kv"])))
            k, v = k.repeat(1, sizes["G"], 1, 1), v.repeat(1, sizes["G"], 1, 1)
            return F.linear(A._merge(F.scaled_dot_product_attention(q, k, v)), t["WO"], t["bO"]).transpose(1, 2)
        return A.Built(call)
    wrong = A.Alternative("repeat", gqa_repeat, rtol=1e-3, atol=1e-4)
    out, ref, _ = _run("gqa_attention", wrong)
    ok, _, why = wrong.agrees(out, ref)
    assert not ok and "differ" in why

    def swin_transposed_bias(t, sizes, op):
        t2 = dict(t, rpb=t["rpb"].flip(1, 2))   # key − query instead of query − key
        return A._swin_sdpa(t2, sizes, op)
    wrong = A.Alternative("bias", swin_transposed_bias, rtol=1e-3, atol=1e-4)
    out, ref, _ = _run("swin_attention", wrong)
    assert not wrong.agrees(out, ref)[0]

    wrong = A.Alternative("no mask", A._sdpa(separate=True), rtol=1e-3, atol=1e-4)
    out, ref, _ = _run("mhsa_causal", wrong)
    assert not wrong.agrees(out, ref)[0]
    assert not wrong.agrees(out[..., :-1], ref)[0]   # a shape mismatch is a disagreement too

    def kpm_not_negated(t, sizes, op):   # the visible keys passed as PyTorch's key_padding_mask (True = hidden)
        return A._mha_module(key_padding=True)(dict(t, key_mask=1 - t["key_mask"]), sizes, op)
    for wrong in (A.Alternative("no key mask", A._sdpa(separate=False), rtol=1e-3, atol=1e-4),
                  A.Alternative("key mask not negated", kpm_not_negated, rtol=1e-3, atol=1e-4)):
        out, ref, _ = _run("mhsa_key_padding", wrong)
        assert not wrong.agrees(out, ref)[0]

    for wrong in (A.Alternative("causal only", A._sdpa(separate=False, causal=True), rtol=1e-3, atol=1e-4),
                  A.Alternative("key mask only", A._sdpa(separate=False, key_padding=True), rtol=1e-3, atol=1e-4)):
        out, ref, _ = _run("mhsa_causal_key_padding", wrong)
        assert not wrong.agrees(out, ref)[0]

    def transposed_mask(t, sizes, op):   # the keys each query sees read as the queries each key sees
        return A._sdpa(separate=False, masked=True)(dict(t, allowed=t["allowed"].transpose(-1, -2)), sizes, op)
    for wrong in (A.Alternative("no mask", A._sdpa(separate=False), rtol=1e-3, atol=1e-4),
                  A.Alternative("transposed mask", transposed_mask, rtol=1e-3, atol=1e-4)):
        out, ref, _ = _run("mhsa_masked", wrong)
        assert not wrong.agrees(out, ref)[0]

    def bias_only(t, sizes, op):         # the bias without the hard mask
        return A._sdpa(separate=False, biased="input")(t, sizes, op)

    def mask_only(t, sizes, op):         # the hard mask without the bias
        return A._sdpa(separate=False, masked=True)(t, sizes, op)
    for wrong in (A.Alternative("bias only", bias_only, rtol=1e-3, atol=1e-4),
                  A.Alternative("mask only", mask_only, rtol=1e-3, atol=1e-4)):
        out, ref, _ = _run("mhsa_masked_bias", wrong)
        assert not wrong.agrees(out, ref)[0]

    def cross_unmasked(t, sizes, op):   # cross_attention's alternative without the key mask
        return A._cross_sdpa({k: v for k, v in t.items() if k != "key_mask"}, sizes, op)

    def cross_not_negated(t, sizes, op):
        return A._cross_mha_module(dict(t, key_mask=1 - t["key_mask"]), sizes, op)
    for wrong in (A.Alternative("no key mask", cross_unmasked, rtol=1e-3, atol=1e-4),
                  A.Alternative("key mask not negated", cross_not_negated, rtol=1e-3, atol=1e-4)):
        out, ref, _ = _run("cross_attention_key_padding", wrong)
        assert not wrong.agrees(out, ref)[0]

    def cross_transposed(t, sizes, op):   # the keys each query sees flipped along the keys
        return A._cross_sdpa(dict(t, allowed=t["allowed"].flip(-1)), sizes, op)

    def cross_mask_only(t, sizes, op):    # the hard mask without the bias
        return A._cross_sdpa({k: v for k, v in t.items() if k != "attn_mask"}, sizes, op)

    def cross_no_mask(t, sizes, op):      # cross_attention's alternative without the keys each query sees
        return A._cross_sdpa({k: v for k, v in t.items() if k != "allowed"}, sizes, op)
    for name, wrong in (("cross_attention_masked", A.Alternative("no mask", cross_no_mask, rtol=1e-3, atol=1e-4)),
                        ("cross_attention_masked", A.Alternative("mask flipped", cross_transposed, rtol=1e-3, atol=1e-4)),
                        ("cross_attention_masked_bias", A.Alternative("mask only", cross_mask_only, rtol=1e-3,
                                                                      atol=1e-4))):
        out, ref, _ = _run(name, wrong)
        assert not wrong.agrees(out, ref)[0]


def test_the_reference_point_is_not_checked_and_says_why():
    (alt,) = A.REGISTRY["neighborhood_attention"]
    out, ref, _ = _run("neighborhood_attention", alt)
    assert out.shape == ref.shape and not torch.allclose(out, ref)   # a different Ω indeed
    assert "different Ω" in alt.note and alt.tolerance == "not checked"


def test_peak_memory_of_a_known_allocation_pattern():
    mb = 1 << 20

    def pattern():
        a = torch.empty(mb)          # 4 MiB
        b = torch.empty(mb)          # 4 MiB: 8 held
        del a                        # 4 held
        c = torch.empty(mb // 4)     # 1 MiB: 5 held, the peak stays 8
        return b, c
    assert peak_cpu_bytes(pattern) == 8 * mb

    def one_at_a_time():
        for _ in range(3):
            z = torch.empty(mb)      # freed before the next: the peak is 4 MiB, the allocations 12
            del z
    assert peak_cpu_bytes(one_at_a_time) == 4 * mb
    assert peak_cpu_bytes(lambda: None) == 0


def test_cli_text_prints_ratios_and_memory_columns(capsys):
    rc, out, err = run_cli(capsys, "bench", "mhsa", "--against", "--backward", "--repeat", "1", *_size_args("mhsa"))
    assert rc == 0, err
    assert "measured mhsa" in err
    lines = out.splitlines()
    head = next(line for line in lines if line.startswith("| implementation"))
    assert head.count("×evosym") == 2 and "fwd peak MB" in head and "fwd+bwd peak MB" in head and "evosym÷" in head
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| implementation")]
    assert [r.split("|")[1].strip() for r in rows][1:] == ["traditional reference", "F.linear + SDPA",
                                                           "nn.MultiheadAttention"]
    assert rows[0].split("|")[4].strip() == "1.00×"   # evosym against itself
    assert all(r.split("|")[2].strip().startswith(("passed", "reference")) for r in rows)
    assert "load average" in out and "threads" in out and "running sum" in out


def test_json_validates_and_has_one_row_per_implementation(capsys):
    rc, out, err = run_cli(capsys, "bench", "gqa_causal", "--against", "--repeat", "1", "--format", "json",
                           *_size_args("gqa_causal"))
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["schema"] == "evosym-bench-against/1" and validate(doc) == []
    (op,) = doc["operators"]
    assert op["size_values"]["L"] == 7 and len(op["load_before"]) == 3 and doc["ok"] is True
    assert [r["kind"] for r in op["rows"]] == ["evosym", "traditional", "alternative", "alternative"]
    assert all(r["forward_ms"] > 0 and r["forward_mb"] is not None and r["backward_ms"] is None for r in op["rows"])
    assert op["rows"][0]["forward_ratio"] == 1.0


def test_json_is_the_same_apart_from_run_dependent_fields_and_without_name_runs_every_operator(capsys, monkeypatch):
    monkeypatch.setattr(A, "operators_with_alternatives", lambda: ["mhsa_causal"])
    docs = []
    for _ in range(2):
        rc, out, err = run_cli(capsys, "bench", "--against", "--repeat", "1", "--format", "json",
                               *_size_args("mhsa_causal"))
        assert rc == 0, err
        docs.append(json.loads(out))
    assert [op["operator"] for op in docs[0]["operators"]] == ["mhsa_causal"]
    assert without_run_dependent(docs[0]) == without_run_dependent(docs[1])


def test_a_disagreeing_alternative_is_an_error_row_never_timed(capsys, monkeypatch):
    wrong = A.Alternative("no mask", A._sdpa(separate=True), rtol=1e-3, atol=1e-4)
    monkeypatch.setitem(A.REGISTRY, "mhsa_causal", (wrong,))
    rc, out, err = run_cli(capsys, "bench", "mhsa_causal", "--against", "--repeat", "1", "--format", "json",
                           *_size_args("mhsa_causal"))
    assert rc == 1 and "mhsa_causal: no mask" in err and "Traceback" not in err
    doc = json.loads(out)
    assert validate(doc) == [] and doc["ok"] is False
    row = doc["operators"][0]["rows"][-1]
    assert row["status"] == "error" and row["check"] == "failed" and "disagrees" in row["message"]
    assert row["forward_ms"] is None and row["forward_ratio"] is None


def test_errors_are_one_clear_line(capsys):
    line = one_line_error(*run_cli(capsys, "bench", "no_such_op", "--against"))
    assert "unknown operator 'no_such_op'" in line and "mhsa" in line
    line = one_line_error(*run_cli(capsys, "bench", "mhsa", "--backward"))
    assert "only with --against" in line
    line = one_line_error(*run_cli(capsys, "bench", "mhsa", "--against", "--kernels"))
    assert "--kernels" in line
    line = one_line_error(*run_cli(capsys, "bench", "mhsa", "--against", "--size", "Q=3"))
    assert "no size Q" in line
    for extra in ((), ("--against",)):   # sizes outside the proof's domain: the module's refusal, not an internal error
        line = one_line_error(*run_cli(capsys, "bench", "convolve_same", "--repeat", "1", "--no-generic", "--size",
                                       "K=5", "--size", "L=3", *extra))
        assert "the proof holds only where K ≤ L" in line and "internal error" not in line


# -- torch.compile (about 10 s each on 2 CPU cores) ---------------------------------------------------------

def _compiled_row(name):
    report = bench_against(name, repeat=1, sizes=SMALL[name])
    row = report.rows[-1]
    if row.status == "skipped":
        pytest.skip(f"{row.label}: {row.message}")
    return row


def test_torch_compile_involution_agrees_and_reports_its_compile_time():
    row = _compiled_row("involution")
    assert row.label == A.COMPILED_REFERENCE and row.status == "ok" and row.check == "passed"
    assert row.compile_s > 0 and row.forward_ms > 0


def test_torch_compile_flex_attention_window_agrees():
    row = _compiled_row("local_attention")
    assert row.status == "ok" and row.check == "passed" and row.max_abs_diff < 1e-3


def test_an_operator_without_alternatives_is_compared_with_its_traditional_implementation(capsys):
    rc, out, err = run_cli(capsys, "bench", "conv1d", "--against", "--repeat", "1", "--size", "B=1", "--size", "L_in=16",
                           "--size", "C_g=2", "--size", "O_g=2")
    assert rc == 0, err
    assert "| traditional reference |" in out and "conv1d has no registered alternative" in out
    assert "| evosym (native-conv) |" in out


def test_the_roofline_bound_is_the_slower_of_compute_and_memory(monkeypatch):
    """FLOPs = 2·multiply-adds at the sizes, bytes = input, parameters and output once; the bound is the larger of
    the two times at this run's peaks, the fraction bound ÷ measured."""
    import sympy as sp
    from evosym.codegen import roofline as R
    fake = R.Peaks(gflops=100.0, gbytes=10.0, how="fake")
    monkeypatch.setattr(R, "peaks", lambda device, dtype, threads: fake)
    n = sp.Symbol("n", positive=True, integer=True)
    t = {"x": torch.zeros(1000), "w": torch.zeros(250)}       # 5000 bytes in
    compute = R.roofline(10 ** 6 * n, {n: 3}, t, 250, 4, 1.0, "cpu", torch.float32)   # 6 MFLOP: 0.06 ms; 6 kB: 0.0006 ms
    assert compute.bound_by == "compute" and compute.gflop == pytest.approx(6e-3) and compute.mbytes == pytest.approx(6e-3)
    assert compute.bound_ms == pytest.approx(0.06) and compute.fraction == pytest.approx(0.06)
    memory = R.roofline(n, {n: 3}, t, 10 ** 6, 4, 2.0, "cpu", torch.float32)          # 4.005 MB: 0.4005 ms
    assert memory.bound_by == "memory" and memory.bound_ms == pytest.approx(0.4005) and memory.fraction == pytest.approx(0.20025)
    assert "20.0% of the roofline" in memory.text() and memory.as_json()["bound_by"] == "memory"


def test_the_measured_peaks_are_positive_and_a_report_carries_its_roofline():
    from evosym.codegen.roofline import peaks
    pk = peaks("cpu", torch.float32, torch.get_num_threads(), n=256, copy_mib=8, rounds=2)
    assert pk.gflops > 0 and pk.gbytes > 0 and "torch.mm 256×256" in pk.how
    report = bench_against("mhsa_causal", repeat=1, sizes=SMALL["mhsa_causal"])
    r = report.roofline
    assert r is not None and r.measured_ms == report.evosym.forward_ms and 0 < r.fraction
    assert r.gflop > 0 and "of the roofline" in report.text()
