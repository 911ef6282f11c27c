"""``gradients=True`` compares the gradients of a candidate's parameters, and in float32 too: a conv whose backward
returned zeros for its weight, or negated the input's gradient in float32 only, passed while only float64 input
gradients were compared (an adversarial pass). In the caller's process the operator's parameter gradients come by
autograd through the weights' mapping; for a candidate in its own process, pulled back here through the parameter
a weight is or a binding's expression — and where neither says, the report says they were not compared."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from cli_helpers import run_cli
from evosym.testing import assert_equivalent

DATA = Path(__file__).resolve().parent / "data" / "candidates"
sys.path.insert(0, str(DATA))
import gradcands  # noqa: E402

SIZES = dict(G=1, C_g=3, O_g=4, K_h=3, K_w=3, s_h=1, s_w=1, delta_h=1, delta_w=1, P_h=1, P_w=1)
FAULTS = {"WeightZero": ("the parameter weight", "float64"), "WeightOff": ("the parameter weight", "float64"),
          "BiasZero": ("the parameter bias", "float64"), "InputNegated32": ("the input differ", "float32"),
          "WeightOff32": ("the parameter weight", "float32"), "FirstLayer": ("the parameter weight", "float64"),
          "Training": ("the parameter weight", "float64"), "StridedGrad": ("the parameter weight", "float64"),
          "LaidOutInput": ("the input", "float64"), "LaidOutWeight": ("the parameter weight", "float64")}


def _failure(candidate, trials=1, **kw) -> str:
    with pytest.raises(AssertionError) as info:
        assert_equivalent(candidate, "conv2d", sizes=SIZES, gradients=True, trials=trials, **kw)
    return str(info.value)


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_a_wrong_backward_fails_naming_what_and_in_which_dtype(name):
    torch.manual_seed(0)
    text = _failure(getattr(gradcands, name)())
    which, dtype = FAULTS[name]
    assert f"gradients with respect to {which}" in text.splitlines()[0] and "(forward agrees)" in text, text
    assert f", {dtype}, seed" in text.splitlines()[1], text
    assert assert_equivalent(getattr(gradcands, name)(), "conv2d", sizes=SIZES, trials=1).gradients is None


@pytest.mark.parametrize("name", ["WeightZero", "InputNegated32", "FirstLayer", "Training", "StridedGrad", "LaidOutInput",
                                  "LaidOutWeight"])
def test_a_wrong_backward_fails_in_its_own_process_too(name):
    """(A backward wrong only when the input does not require grad, or only when it does: each path compared both.)"""
    text = _failure(f"gradcands:{name}")
    assert f"gradients with respect to {FAULTS[name][0]}" in text.splitlines()[0], text
    assert ("as a network's first layer" in text.splitlines()[0]) is (name in ("FirstLayer", "StridedGrad")), text
    assert ("as non-contiguous views" in text.splitlines()[0]) is name.startswith("LaidOut"), text


def test_a_float32_weight_gradient_wrong_on_wide_inputs_only_fails():
    """The float32 bound is 8ε(√m·Σ|terms| + the largest entry): with m·Σ|terms| the weight's tolerance on a wide trial
    exceeded its largest entry, and a zeroed gradient passed (an adversarial pass)."""
    torch.manual_seed(0)
    text = _failure(gradcands.Wide32(), trials=4)   # (the harness's large trial is wide)
    assert "gradients with respect to the parameter weight" in text.splitlines()[0] and ", float32, seed" in text


@pytest.mark.parametrize("name, which", [("FrozenHuge", "the parameter bias"), ("KnowsTheProbe", "the input")])
def test_a_backward_that_hides_behind_the_bound_or_the_probe_fails(name, which):
    """Two of an adversarial pass: a frozen weight 1e8 times torch's made the float32 floor (the largest entry of
    every gradient) swamp the bias's, whose zeroed float32 gradient passed; a backward right only for the one output
    gradient the harness always drew (seed 1) passed (it is drawn from each trial's seed now)."""
    torch.manual_seed(0)
    with pytest.raises(AssertionError) as info:
        assert_equivalent(getattr(gradcands, name)(), "linear", gradients=True, trials=1)
    assert f"gradients with respect to {which}" in str(info.value).splitlines()[0], str(info.value)


@pytest.mark.parametrize("where", ["here", "apart"])
def test_a_right_backward_passes_and_the_report_says_what_was_compared(where):
    torch.manual_seed(0)
    candidate = gradcands.Conv() if where == "here" else "gradcands:Conv"
    report = assert_equivalent(candidate, "conv2d", sizes=SIZES, gradients=True, trials=1)
    assert report.gradients == {"dtypes": ["float64", "float32"], "inputs": ["x"], "parameters": ["weight", "bias"],
                                "not compared": None}
    report = assert_equivalent(torch.nn.Conv2d(3, 4, 3, padding=1), "conv2d", gradients=True, trials=1,
                               dtypes=(torch.float64, torch.bfloat16))
    assert report.gradients["dtypes"] == ["float64"]   # (a half precision's gradients are not compared)


def test_a_weight_computed_from_two_parameters():
    """Weight norm: here autograd runs through the mapping (both g and v compared); in its own process the weight is
    computed there by what this process cannot evaluate, and the report says the parameters were not compared."""
    torch.manual_seed(0)
    here = assert_equivalent(gradcands.normed(), "conv2d", gradients=True, trials=1)
    assert here.gradients["parameters"] == ["bias", "parametrizations.weight.original0",
                                            "parametrizations.weight.original1"] and here.gradients["not compared"] is None
    apart = assert_equivalent("gradcands:normed", "conv2d", gradients=True, trials=1)
    assert apart.gradients["parameters"] == ["bias"], apart.gradients   # (the bias is read as itself: compared)
    assert "computed in the candidate's process from its parameters parametrizations.weight.original0, " \
           "parametrizations.weight.original1" in apart.gradients["not compared"], apart.gradients


def test_weights_given_as_tensors_leave_the_parameters_uncompared():
    torch.manual_seed(0)
    m = torch.nn.Conv2d(3, 4, 3, padding=1)
    report = assert_equivalent(m, "conv2d", gradients=True, trials=1, weights={"W": m.weight.detach().clone()})
    assert report.gradients["parameters"] == [] and "given as tensors" in report.gradients["not compared"]


def test_attention_through_its_binding_here_and_apart():
    """nn.MultiheadAttention: its packed projection's rows are the operator's W_Q, W_K, W_V (a binding's
    expression, evaluated here on stand-ins in the contained case); a dynamic operator's float32 bound is the
    largest gradient entry (a bias whose gradient cancels to 0 under softmax is compared against it)."""
    torch.manual_seed(0)
    want = ["m.in_proj_weight", "m.in_proj_bias", "m.out_proj.weight", "m.out_proj.bias"]
    here = assert_equivalent(gradcands.attention(), "mhsa", gradients=True, trials=1)
    apart = assert_equivalent("gradcands:attention", "mhsa", gradients=True, trials=1)
    assert here.gradients["parameters"] == [n[2:] for n in want] or here.gradients["parameters"] == want, here.gradients
    assert apart.gradients["parameters"] == want and apart.gradients["not compared"] is None


def test_the_command_line_names_the_gradients_compared(capsys, tmp_path, monkeypatch):
    import json
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(DATA))
    rc, out, err = run_cli(capsys, "check", "--candidate", "gradcands:conv", "conv2d", "--gradients")
    assert rc == 0 and "gradients compared (float64, float32): its inputs x; its parameters weight, bias" in out, out
    rc, out, err = run_cli(capsys, "check", "--candidate", "gradcands:normed", "conv2d", "--gradients", "--format",
                           "json")
    doc = json.loads(out)
    assert rc == 0 and doc["gradients_compared"]["parameters"] == ["bias"] and \
        "computed in the candidate's process" in doc["gradients_compared"]["parameters_not_compared"]
    rc, out, err = run_cli(capsys, "check", "--candidate", "gradcands:WeightZero", "conv2d", "--gradients",
                           *[a for k, v in SIZES.items() for a in ("--size", f"{k}={v}")])
    assert rc == 1 and "gradients with respect to the parameter weight differ" in out, out


@pytest.mark.parametrize("name", ["DetachedReads", "DataRead", "FreshLeafRead", "PackedDetached", "CopyRead",
                                  "parametrized_copy"])
@pytest.mark.parametrize("where", ["here", "apart"])
def test_a_parameter_read_detached_from_itself_fails(name, where):
    """A weight read that holds a trainable parameter's own memory but is detached from it (an attribute returning
    ``weight.detach()`` or ``.data``, a fresh leaf over it, detached rows of a packed one): the operator's gradient went
    to the read, none was expected of the parameter, and a layer that never trains passed, the report saying its
    weight's gradient was compared (an adversarial pass); then a detached copy in memory of its own (a property, a
    parametrization): taken from the one parameter holding its values. In its own process, rows of a packed
    parameter are computed from it there: left uncompared, and the report says so."""
    torch.manual_seed(0)
    if where == "apart" and name == "PackedDetached":
        report = assert_equivalent(f"gradcands:{name}", "conv2d", sizes=SIZES, gradients=True, trials=1)
        assert report.gradients["parameters"] == ["bias"] and "from its parameters _w" in report.gradients[
            "not compared"], report.gradients
        return
    text = _failure(getattr(gradcands, name)() if where == "here" else f"gradcands:{name}")
    which = {"DetachedReads": "weight", "parametrized_copy": "parametrizations.weight.original"}.get(name, "_w")
    assert f"does not depend on the parameter {which} through autograd" in text.splitlines()[0], text


@pytest.mark.parametrize("where", ["here", "apart"])
def test_a_packed_parameter_read_through_autograd_passes(where):
    torch.manual_seed(0)
    report = assert_equivalent(gradcands.PackedLive() if where == "here" else "gradcands:PackedLive", "conv2d",
                               sizes=SIZES, gradients=True, trials=1)
    if where == "here":
        assert report.gradients["parameters"] == ["_w", "bias"] and report.gradients["not compared"] is None
    else:
        assert report.gradients["parameters"] == ["bias"] and "_w" in report.gradients["not compared"]


def test_the_command_line_says_why_some_parameters_were_not_compared(capsys, tmp_path, monkeypatch):
    """Beside those compared: the line named only the compared ones, the reason was in the JSON document alone."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(DATA))
    rc, out, err = run_cli(capsys, "check", "--candidate", "gradcands:PackedLive", "conv2d", "--gradients",
                           *[a for k, v in SIZES.items() for a in ("--size", f"{k}={v}")])
    assert rc == 0 and "its parameters bias; not its other parameters: the operator's W is computed in the " \
        "candidate's process from its parameters _w" in out, out


@pytest.mark.parametrize("where", ["here", "apart"])
def test_parameters_neither_side_reaches_are_not_reported_compared(where):
    """Parameters replaced by fresh copies at every call: neither the operator's weights as read nor the output reach
    the ones listed, so nothing was compared for them — the report said they were (an adversarial pass)."""
    torch.manual_seed(0)
    report = assert_equivalent(gradcands.Recreated() if where == "here" else "gradcands:Recreated", "conv2d",
                               sizes=SIZES, gradients=True, trials=1)
    assert report.gradients["parameters"] == [] and "weight, bias: neither the operator's weights as read from the " \
        "candidate nor its output depend on them" in report.gradients["not compared"], report.gradients


@pytest.mark.parametrize("where", ["here", "apart"])
def test_a_weight_hidden_from_named_parameters_is_said_not_compared(where):
    """A module that leaves its weight out of named_parameters (its gradient zero): the report named the bias alone
    and said nothing of the weight (an adversarial pass); it says the weight's tensor is not among its parameters."""
    torch.manual_seed(0)
    report = assert_equivalent(gradcands.HiddenWeight() if where == "here" else "gradcands:HiddenWeight", "conv2d",
                               sizes=SIZES, gradients=True, trials=1)
    assert report.gradients["parameters"] == ["bias"], report.gradients
    assert "the operator's W is read from a tensor requiring grad that is not among the candidate's trainable " \
           "parameters" in report.gradients["not compared"], report.gradients
