"""evosym.testing.assert_equivalent: correct candidates pass, typical bugs are caught and diagnosed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from evosym.errors import EvosymError
from evosym.testing import assert_equivalent

DATA = Path(__file__).resolve().parent / "data"
sys.path.insert(0, str(DATA / "candidates"))
import layers  # noqa: E402


@pytest.mark.parametrize("candidate, operator, kw", [
    (layers.correct_conv(), "conv2d", {}),
    (nn.Conv2d(3, 5, (3, 2), stride=(1, 2), padding=(2, 0), dilation=(2, 1), bias=False), "conv2d", {}),
    (nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2), "conv1d", {}),
    (nn.Conv3d(2, 3, 2, padding=1), "conv3d", {}),
    (nn.Conv2d(3, 6, 3, padding=1, groups=3), "depthwise_conv2d", {}),
    (nn.Linear(5, 3), "linear", {}),
    (nn.AvgPool2d((2, 3), stride=(1, 2), padding=(1, 1)), "avg_pool2d", {}),
    (layers.Wrapped(), "conv2d", {"sizes": layers.SIZES, "weights": {"weight": "filters", "bias": "offset"}}),
    (layers.conv_bn(train=False), "conv2d", {"sizes": layers.SIZES, "weights": layers.fold_bn}),
])
def test_correct_candidates_pass(candidate, operator, kw):
    report = assert_equivalent(candidate, operator, gradients=True, **kw)
    assert len(report.trials) == 8 and all(err < 1e-4 for _, _, err in report.trials)


@pytest.mark.parametrize("candidate, operator, kw, diagnosis", [
    (layers.ReflectBorder(), "conv2d", {"sizes": layers.SIZES}, "differs only at borders"),
    (nn.Conv2d(3, 4, 3, padding=1, padding_mode="replicate"), "conv2d", {}, "differs only at borders"),
    (layers.GroupsModG(), "conv2d", {"sizes": dict(layers.SIZES, G=2, C_g=2, O_g=2)}, "channel coupling differs"),
    (layers.TransposedKernel(), "conv2d", {"sizes": layers.SIZES}, "spatial axes transposed"),
    (layers.MissingScale(5, 3, bias=False), "linear", {}, "scaled by a constant factor 0.353553"),
    (nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False), "avg_pool2d", {}, "differs only at borders"),
    (layers.conv_bn(train=True), "conv2d", {"sizes": layers.SIZES, "weights": layers.fold_bn},
     "batch statistics in train mode"),
])
def test_buggy_candidates_are_caught_with_the_right_diagnosis(candidate, operator, kw, diagnosis):
    with pytest.raises(AssertionError) as info:
        assert_equivalent(candidate, operator, **kw)
    text = str(info.value)
    assert "configuration:" in text and "seed 0" in text and "worst output index" in text
    assert diagnosis in text, text


def test_flipped_kernel_is_diagnosed():
    class Flipped(nn.Conv2d):
        def forward(self, x):
            return nn.functional.conv2d(x, self.weight.flip(-1, -2), self.bias, padding=self.padding)
    with pytest.raises(AssertionError, match="flipped kernel"):
        assert_equivalent(Flipped(3, 4, 3, padding=1), "conv2d")


@pytest.mark.parametrize("make, operator, sizes, diagnosis", [
    ("InvolutionModG", "involution", dict(G=2, C_g=2, D=2, R=1, s=1), "o mod G where it has ⌊o/C_g⌋ (interleaved groups"),
    ("LocalAttentionNoScale", "local_attention", dict(N=1, d=4, R=1), "without the factor 1/√d in logit"),
    ("LocalAttentionWrongAxis", "local_attention", dict(N=2, d=2, R=1),
     "softmax of logit normalised over i, j instead of over u, v"),
    ("SwinNoMask", "swin_attention", dict(N=1, d=2, M=2, S=1), "left out of logit (a mask forgotten?)"),
])
def test_structural_diagnoses(make, operator, sizes, diagnosis):
    import structural
    correct = structural.Reference(operator, sizes)
    assert_equivalent(correct, operator, sizes=sizes, trials=1, dtypes=(torch.float64,))
    with pytest.raises(AssertionError) as info:
        assert_equivalent(getattr(structural, make)(operator, sizes), operator, sizes=sizes, trials=1,
                          dtypes=(torch.float64,))
    text = str(info.value)
    assert "diagnosis: matches the operator with" in text or "diagnosis: matches the operator without" in text, text
    assert diagnosis in text and text.count("diagnosis:") == 1, text


def test_the_users_module_is_not_modified():
    m = layers.conv_bn(train=True)
    before = m[1].running_mean.clone()
    with pytest.raises(AssertionError):
        assert_equivalent(m, "conv2d", sizes=layers.SIZES, weights=layers.fold_bn)
    assert torch.equal(m[1].running_mean, before)


def test_operators_from_users_files():
    path = str(Path(__file__).resolve().parent.parent / "docs" / "examples" / "my_avg_pool1d.py")
    pool = nn.AvgPool1d(3, stride=2)
    assert_equivalent(pool, path, sizes={"K": 3, "s": 2})
    with pytest.raises(AssertionError, match="scaled by a constant factor"):
        assert_equivalent(lambda x: 3 * pool(x), path, sizes={"K": 3, "s": 2})


@pytest.mark.parametrize("kw, words", [
    ({}, "give the operator's sizes"),
    ({"sizes": dict(layers.SIZES, Q=1)}, "Q: not a size of conv2d"),
    ({"sizes": layers.SIZES, "weights": {"weight": "nope"}}, "has no 'nope'"),
])
def test_bad_setups_are_clear_errors(kw, words):
    with pytest.raises(EvosymError, match=words):
        assert_equivalent(layers.Wrapped(), "conv2d", **kw)


def test_pytest_fixture(tmp_path):
    test = tmp_path / "test_user.py"
    test.write_text("import torch\n\ndef test_mine(evosym_equivalent):\n"
                    "    evosym_equivalent(torch.nn.Conv1d(2, 3, 3, padding=1), 'conv1d')\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", str(test), "-p", "no:cacheprovider"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


def test_cli_candidate(capsys):
    from cli_helpers import run_cli
    sys.modules.pop("layers", None)
    cwd = DATA / "candidates"
    import os
    old = os.getcwd()
    os.chdir(cwd)
    try:
        rc, out, err = run_cli(capsys, "check", "--candidate", "layers:correct_conv", "conv2d")
        assert rc == 0 and out.startswith("EQUIVALENT  layers:correct_conv vs conv2d"), out + err
        args = ["check", "--candidate", "layers:TransposedKernel", "conv2d"] + \
            [a for k, v in layers.SIZES.items() for a in ("--size", f"{k}={v}")]
        rc, out, err = run_cli(capsys, *args)
        assert rc == 1 and "NOT EQUIVALENT" in out and "transposed" in out
        rc, out, err = run_cli(capsys, "check", "--candidate", "layers", "conv2d")
        assert rc == 2 and "MODULE:ATTR" in err
        rc, out, err = run_cli(capsys, "check", "--candidate", "layers:nothing", "conv2d")
        assert rc == 2 and "has no 'nothing'" in err
    finally:
        os.chdir(old)


# a user's operator file with two weights: a depthwise K×K kernel Wd[c, u, v] and a pointwise Wp[o, c]
SEPARABLE = '''
import sympy as sp
from evosym import Definition, InRange, Operator, TensorDecl, index, size

B, C, O, H, W_, R = size("B"), size("C"), size("O"), size("H"), size("W"), size("R")
K = 2 * R + 1
b, o, c, i, j, u, v, m, n = (index(t) for t in "b o c i j u v m n".split())
x = TensorDecl("x", (B, C, H, W_), "input", "input")
Wd = TensorDecl("Wd", (C, K, K), "parameter", "depthwise weight")
Wp = TensorDecl("Wp", (O, C), "parameter", "pointwise weight")
y = TensorDecl("y", (B, O, H, W_), "output", "output")
x_pad = Definition("x_pad", (b, c, m, n), InRange(m, 0, H - 1) * InRange(n, 0, W_ - 1) * x[b, c, m, n], "padded")
dw = Definition("dw", (b, c, i, j), sp.Sum(Wd[c, u, v] * x_pad[b, c, i + u - R, j + v - R], (v, 0, 2 * R), (u, 0, 2 * R)),
                "depthwise", shape=(B, C, H, W_))


def reference(arrays, sizes):
    import torch
    import torch.nn.functional as F
    t = {k: torch.from_numpy(a).to(torch.float64) for k, a in arrays.items()}
    mid = F.conv2d(t["x"], t["Wd"][:, None], padding=sizes["R"], groups=t["x"].shape[1])
    return F.conv2d(mid, t["Wp"][:, :, None, None]).numpy()


OPERATOR = Operator(
    name="my_separable", summary="depthwise then pointwise", output=y, lhs_indices=(b, o, i, j),
    traditional=sp.Sum(Wp[o, c] * dw[b, c, i, j], (c, 0, C - 1)), tensors=(x, Wd, Wp), batch=b, out_channel=o,
    position=(i, j), definitions=(x_pad, dw),
    sizes=((B, "batch"), (C, "channels"), (O, "outputs"), (H, "height"), (W_, "width"), (R, "radius")),
    grid=({B: 1, C: 2, O: 3, H: 3, W_: 4, R: 1}, {B: 1, C: 2, O: 1, H: 3, W_: 5, R: 2}),
    reference=reference, reference_name="torch conv2d(groups=C) then 1x1 conv2d")
'''


class Separable(nn.Module):
    def __init__(self, transposed: bool):
        super().__init__()
        self.transposed = transposed
        self.Wd = nn.Parameter(torch.randn(3, 3, 3))
        self.Wp = nn.Parameter(torch.randn(2, 3))

    def forward(self, x):
        wd = self.Wd.transpose(-1, -2) if self.transposed else self.Wd
        mid = nn.functional.conv2d(x, wd[:, None].to(x.dtype), padding=1, groups=3)
        return nn.functional.conv2d(mid, self.Wp[:, :, None, None].to(x.dtype))


def test_transposed_depthwise_kernel_in_a_users_two_tensor_file(tmp_path):
    """The flip and transpose experiments try every weight with the window's axes last, so a file with a
    depthwise Wd[c, u, v] next to a pointwise Wp[o, c] gets the diagnosis a convolution weight gets."""
    path = tmp_path / "my_separable.py"
    path.write_text(SEPARABLE, encoding="utf-8")
    sizes = dict(C=3, O=2, R=1)
    assert_equivalent(Separable(False), str(path), sizes=sizes, trials=1, dtypes=(torch.float64,))
    with pytest.raises(AssertionError) as info:
        assert_equivalent(Separable(True), str(path), sizes=sizes, trials=1, dtypes=(torch.float64,))
    text = str(info.value)
    assert "diagnosis: matches the operator with the kernel Wd's spatial axes transposed (u↔v swapped" in text, text
    assert text.count("diagnosis:") == 1, text


def test_a_padding_string_is_named_when_the_padding_sizes_are_missing():
    """nn.Conv2d(padding='same') against conv2d: the padding cannot be read as numbers; the error says so and names
    the operator that implements 'same' (an adversarial pass found the bare 'give the sizes P_h, P_w' misleading)."""
    with pytest.raises(EvosymError) as info:
        assert_equivalent(nn.Conv2d(3, 8, 3, padding="same", dilation=2), "conv2d")
    text = str(info.value)
    assert "give the operator's sizes P_h, P_w" in text and "padding='same' gives no number" in text
    assert "conv2d_same" in text
