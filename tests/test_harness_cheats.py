"""assert_equivalent / check --candidate cannot be fooled: sizes from the operator's domain (and beyond 12),
fresh inputs, grad mode, the caller's input, dtype, nondeterminism, NaN, a patched harness; cheats named."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from evosym import catalogue
from evosym.codegen.torchexpr import py_name
from evosym.errors import EvosymError
from evosym.testing import assert_equivalent
from evosym.testing.domain import Domain, kinds

DATA = Path(__file__).resolve().parent / "data"
sys.path.insert(0, str(DATA / "candidates"))
import cheats  # noqa: E402
from structural import Reference  # noqa: E402


def _fails(candidate, operator="conv2d", **kw) -> str:
    with pytest.raises(AssertionError) as info:
        assert_equivalent(candidate, operator, **kw)
    text = str(info.value)
    assert "configuration:" in text and "seed" in text, text
    return text


@pytest.fixture(autouse=True)
def _restore_patches():
    yield
    cheats.restore()
    cheats.ClassCache.store.clear()


# -- 1. sizes from the operator's domain ---------------------------------------------------------------

def _domain(name, sizes):
    """The domain from the operator's (unchecked) proof: no proof check, no plan, the structural conditions."""
    proof = catalogue.load(name).proof()
    by_name = {py_name(s): s for s, _ in proof.operator.sizes}
    return Domain(proof.operator, proof.omega, None, {by_name[k]: v for k, v in sizes.items()})


@pytest.mark.parametrize("name, sizes, least", [
    ("acmix", dict(C=2, N=1, d=2, R=3, s=1), 4),                    # reflection: R < H, W
    ("acmix", dict(C=2, N=1, d=2, R=2, s=2), 3),
    ("neighborhood_attention", dict(N=1, d=2, R=2), 5),             # clamped window: K = 2R + 1 ≤ H, W
    ("neighborhood_attention", dict(N=1, d=2, R=1), 3),
    ("conv2d_reflect", dict(G=1, C_g=1, O_g=1, K_h=5, K_w=3, s_h=1, s_w=1, P_h=2, P_w=1), None),
])
def test_trials_draw_only_from_the_operators_domain(name, sizes, least):
    d = _domain(name, sizes)
    low = d.minimum()
    lengths = {str(s): v for s, v in low.items() if s is not d.batch}
    if least is not None:
        assert set(lengths.values()) == {least}, lengths
    else:   # reflection pads 2 rows and 1 column: H ≥ 3, W ≥ 2
        assert lengths == {"H_in": 3, "W_in": 2}, lengths
    below = {**low, **{s: x - 1 for s, x in low.items() if s is not d.batch}}
    assert not d.ok(d.env(below))
    for seed in range(5):
        rng = np.random.default_rng(seed)
        drawn = [d.draw(kind, rng, low) for kind in kinds(6)]
        assert all(d.ok(d.env(v)) for v in drawn)
        large = drawn[1]
        assert all(large[s] > 12 for s in large if s is not d.batch), large   # beyond 12 on every length


@pytest.mark.parametrize("name, sizes", [
    ("acmix", dict(C=2, N=1, d=2, R=3, s=1)),      # the reported 5×3 input with radius 3
    ("neighborhood_attention", dict(N=2, d=1, R=2)),  # the reported 5-window on a 3-wide input
])
def test_exact_implementations_of_windowed_operators_pass(name, sizes):
    report = assert_equivalent(Reference(name, sizes), name, sizes=sizes, trials=3)
    assert len(report.trials) == 6
    configs = [dict(kv.split("=") for kv in c.split(", ")) for c, _, _ in report.trials]
    R = sizes["R"]
    need = R + 1 if name == "acmix" else 2 * R + 1
    assert all(int(c["H"]) >= need and int(c["W"]) >= need for c in configs), configs
    assert any(int(c["H"]) > 12 and int(c["W"]) > 12 for c in configs), configs


def test_sizes_outside_the_domain_are_a_clear_error():
    sizes = dict(G=1, C_g=1, O_g=1, K_h=3, K_w=3, s_h=1, s_w=1, P_h=1, P_w=1)
    with pytest.raises(EvosymError, match=r"no input size lies in the operator's domain .*size G must be ≥ 1, not 0"):
        assert_equivalent(lambda x: x, "conv2d_reflect", sizes=dict(sizes, G=0), trials=1)
    d = _domain("conv2d_reflect", dict(sizes, K_h=141, P_h=70))     # a reflection 70 wide (2P ≤ K − 1): from 71 rows
    assert {str(s): v for s, v in d.minimum().items()} == {"B": 1, "H_in": 71, "W_in": 2}
    with pytest.raises(EvosymError, match=r"the constraint 2\*P_h <= K_h - 1 does not hold"):   # a declared constraint
        _domain("conv2d_reflect", dict(sizes, P_h=70)).minimum()


# -- 2. candidates that fooled the harness ---------------------------------------------------------------

def test_the_exact_candidate_passes():
    report = assert_equivalent(cheats.Exact(), "conv2d", gradients=True)
    assert len(report.trials) == 8


def test_an_output_that_is_a_tensor_subclass_fails():
    """A candidate returning garbage as a torch.Tensor subclass whose __torch_function__ made every difference 0
    and every comparison true was EQUIVALENT (an adversarial pass): only a plain tensor is compared."""
    text = _fails(cheats.LyingTensor())
    assert "returns _Liar, not a tensor (a torch.Tensor subclass" in text, text


@pytest.mark.parametrize("candidate", [cheats.WrongAbove12, cheats.WrongAboveArea])
def test_candidates_correct_only_on_small_inputs_fail(candidate):
    text = _fails(candidate())
    assert "differs from the proven operator" in text


@pytest.mark.parametrize("candidate, words", [
    (cheats.ClassCache, "caches results across calls"),
    (cheats.InstanceCache, "caches results across calls"),
    (cheats.CacheByChecksum, "caches results across calls"),
])
def test_caching_candidates_fail_and_are_named(candidate, words):
    assert words in _fails(candidate())


@pytest.mark.parametrize("candidate, words", [
    (cheats.TiledWithoutHalo, "differs from the proven operator"),   # a length past 64 in the large trial
    (cheats.BiasForThreeSamples, "differs from the proven operator"),   # a batch of 4 to 6 in the large trial
    (cheats.IgnoresStrides, "wrong only on non-contiguous inputs"),
    (cheats.WrongForAFirstLayer, "wrong only with autograd enabled on an input that does not require grad"),
    (cheats.Saturates, "(autograd enabled, the first input 64 times larger)"),
    (cheats.ReusesItsOutput, "changed after later calls: it hands back a buffer it writes again"),
    (cheats.TiledBy128, "differs from the proven operator"),   # a length past 128 in the large trial
    (cheats.BiasForEightSamples, "differs from the proven operator"),   # a batch of 9 to 11 in the large trial
    (cheats.SkipsZeros, "(autograd enabled, a second input)"),   # the second input is half exact zeros
    # the forward as the gradient calls run it, whose values were not compared (an adversarial pass)
    (cheats.WrongOnLeaves, "wrong only on inputs that are leaves requiring grad"),
    (cheats.WrongWithoutGradFn, "wrong only on inputs that are leaves requiring grad"),
    (cheats.WrongOnStridedInTraining, "wrong only on non-contiguous inputs requiring grad with autograd enabled"),
    (cheats.WrongOnChannelsLastInTraining, "wrong only on non-contiguous inputs requiring grad with autograd enabled "
                                           "(a permuted memory layout"),
])
def test_candidates_wrong_only_at_sizes_layouts_or_modes_past_the_first_trials_fail(candidate, words):
    """Each passed before the harness tried them (two adversarial passes): lengths of 13–29 only (then up to 96),
    batches of 1–3 (then up to 6), contiguous inputs, inputs that require grad whenever grad is on, randn magnitudes
    and no exact zeros, outputs read once; then inputs as leaves, and non-contiguous with grad mode on."""
    text = _fails(candidate(), gradients=False)
    assert words in text, text


@pytest.mark.parametrize("candidate, words", [
    (cheats.WrongUnderGrad, "wrong only with autograd enabled"),
    (cheats.WrongWhenRequiresGrad, "wrong only with autograd enabled"),
    (cheats.WrongUnderNoGrad, "wrong only under torch.no_grad()"),
])
def test_grad_mode_dependent_candidates_fail_and_are_named(candidate, words):
    assert words in _fails(candidate())


@pytest.mark.parametrize("candidate, words", [
    (cheats.ZeroesInput, "modifies its input in place: 210 of 210 entries of the input it was given changed (it zeroed it)"),
    (cheats.ShiftsInput, "modifies its input in place"),
    (cheats.ScalesInputFirst, "modifies its input in place"),
])
def test_candidates_that_modify_their_input_fail(candidate, words):
    assert words in _fails(candidate())


@pytest.mark.parametrize("candidate, words", [
    (cheats.AlwaysFloat64, "returns float64 for float32 input"),
    (cheats.AlwaysFloat16, "returns float16 for float64 input"),
])
def test_wrong_output_dtypes_fail(candidate, words):
    assert words in _fails(candidate())


def test_a_function_returning_another_dtype_fails():
    conv = cheats.Exact()
    assert "returns float64 for float32 input" in _fails(lambda x: conv.double()(x.double()), sizes=cheats.SIZES,
                                                         weights={"weight": lambda m: conv.weight, "bias": lambda m: conv.bias})


@pytest.mark.parametrize("candidate, words", [
    (cheats.OneNaN, "returns NaN at 1 of"),
    (cheats.AllNaN, "returns NaN at 210 of 210 entries"),
    (cheats.SomeInf, "returns Inf at"),
])
def test_nonfinite_outputs_are_a_verdict_not_a_crash(candidate, words):
    text = _fails(candidate())
    assert words in text and "atol" not in text


def test_nonfinite_outputs_on_the_command_line_exit_1(capsys):
    rc, out, err = _cli(capsys, "check", "--candidate", "cheats:AllNaN", "conv2d")
    assert rc == 1 and out.startswith("NOT EQUIVALENT") and "returns NaN" in out, out + err


@pytest.mark.parametrize("candidate, words", [
    (cheats.Noisy, "nondeterministic: two calls on the same input return different outputs"),
    (cheats.WrongEveryThirdCall, "nondeterministic"),
    (cheats.WrongEverySecondCall, "nondeterministic"),
])
def test_nondeterministic_candidates_are_named(candidate, words):
    text = _fails(candidate())
    assert words in text and "wrong only" not in text, text


# -- patching the harness -----------------------------------------------------------------------------------

@pytest.mark.parametrize("candidate", [cheats.PatchesCompare, cheats.PatchesFakeSuccess, cheats.PatchesEntryPoint])
def test_a_candidate_that_patches_the_harness_is_still_checked(candidate):
    text = _fails(candidate())    # assert_equivalent was imported before the candidate's constructor ran
    assert "the output is all zeros" in text


@pytest.mark.parametrize("spec", ["cheats:patches_compare", "cheats:patches_entry_point", "cheats:PatchesFakeSuccess"])
def test_a_patched_harness_never_says_equivalent_on_the_command_line(capsys, spec):
    rc, out, err = _cli(capsys, "check", "--candidate", spec, "conv2d")
    assert rc == 1 and out.startswith("NOT EQUIVALENT"), out + err
    assert "EQUIVALENT  " not in out.replace("NOT EQUIVALENT  ", "")


def test_zero_comparisons_is_a_failure():
    with pytest.raises(EvosymError, match="nothing to compare"):
        assert_equivalent(cheats.Exact(), "conv2d", trials=0)
    with pytest.raises(EvosymError, match="nothing to compare"):
        assert_equivalent(cheats.Exact(), "conv2d", dtypes=())


# -- 3. cheats named plainly ---------------------------------------------------------------------------------

@pytest.mark.parametrize("candidate, words", [
    (cheats.Zeros, "cause: the output is all zeros"),
    (cheats.Constant, "cause: the output is constant (every entry 2.5)"),
    (cheats.ReturnsInput, "cause: it returns its input (the output shares the input's memory)"),
    (cheats.ReturnsInputCopy, "cause: it returns its input unchanged"),
])
def test_trivial_outputs_are_named_alone(candidate, words):
    text = _fails(candidate())
    assert words in text, text
    assert "diagnosis:" not in text and text.count("cause:") == 1, text
    tol = float(re.search(r"> tol (\S+)\)", text).group(1))
    assert tol == 0 or tol > 1e-30, text    # no underflowed tolerance such as 7.99e-314


# -- 4. check --candidate --weights ---------------------------------------------------------------------------

def _cli(capsys, *argv):
    from cli_helpers import run_cli
    old = os.getcwd()
    os.chdir(DATA / "candidates")
    try:
        return run_cli(capsys, *argv)
    finally:
        os.chdir(old)


def _sizes():
    return [a for k, v in cheats.SIZES.items() for a in ("--size", f"{k}={v}")]


@pytest.mark.parametrize("mapping", [["--weights", "weight=conv.kernel,bias=shift"],
                                     ["--weights", "W=conv.kernel", "--weights", "bias=shift"]])
def test_cli_maps_weights(capsys, mapping):
    rc, out, err = _cli(capsys, "check", "--candidate", "cheats:Renamed", "conv2d", *_sizes(), *mapping)
    assert rc == 0 and out.startswith("EQUIVALENT  cheats:Renamed vs conv2d: 8 comparisons"), out + err
    assert out.rstrip().endswith("also with its trainable parameters shift, conv.kernel drawn at random"), out


@pytest.mark.parametrize("mapping, words", [
    ("Q=conv.kernel", "Q: not a parameter of conv2d (its parameters: W (weight), bias)"),
    ("weight=conv.nope,bias=shift", "has no 'conv.nope'"),
    ("weight=shift,bias=shift", "the candidate's shift has shape (3,), the operator's W needs (3, 3, 3, 3)"),
    ("weight", "--weights takes NAME=ATTR"),
    ("weight=conv.kernel,weight=shift", "--weights maps weight twice"),
])
def test_cli_weight_mapping_errors_are_one_line(capsys, mapping, words):
    from cli_helpers import one_line_error
    rc, out, err = _cli(capsys, "check", "--candidate", "cheats:Renamed", "conv2d", *_sizes(), "--weights", mapping)
    line = one_line_error(rc, out, err)
    assert words in line, line


def test_weights_only_apply_with_a_candidate(capsys):
    from cli_helpers import one_line_error
    rc, out, err = _cli(capsys, "check", "conv2d", "--weights", "weight=w")
    assert "apply with --candidate only" in one_line_error(rc, out, err)
