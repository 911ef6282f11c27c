"""docs/examples/depthwise_separable_conv2d.py: two convolutions (depthwise, then 1×1) proved as one
Evolution form, its generated code checked against two F.conv2d calls, and its from_torch binding."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from cli_helpers import run_cli
from evosym.codegen.check import check_operator

FILE = str(Path(__file__).resolve().parent.parent / "docs/examples/depthwise_separable_conv2d.py")


def test_file_proves_with_every_step_general(capsys):
    rc, out, err = run_cli(capsys, "prove", FILE)
    assert rc == 0, err
    assert out.startswith("evosym proof: depthwise_separable_conv2d: ")
    assert "\nPROVED. 6 steps: 6 general" in out and "NOT PROVED" not in out and "✗" not in out
    # the kernel is the product of the two weights, over the stride-1 window clipped to the input
    assert "K[o, c, i, j, -P_h + i + u_1, -P_w + j + u_2] = W_dw[c, u_1, u_2]·W_pw[o, c]" in out
    assert "Ω(i, j) = {(-P_h + i + u_1, -P_w + j + u_2) : 0 ≤ u_1 ≤ K_h - 1, 0 ≤ u_2 ≤ K_w - 1}" in out
    assert "✓ Evolution form" in out and "✓ support of K" in out
    assert "✓ reference (user-supplied, called 'torch.nn.functional.conv2d twice" in out


def test_search_finds_the_proof(capsys):
    rc, out, err = run_cli(capsys, "prove", FILE, "--search", "--summary")
    assert rc == 0, err
    assert out.startswith("PROVED  depthwise_separable_conv2d"), out


def test_generated_code_checks_against_the_reference():
    report = check_operator(FILE, variants=1)
    assert report.ok, report.text()
    assert report.plan.path == "native-conv"


def test_generated_module_takes_a_torch_sequential(capsys, tmp_path):
    torch = pytest.importorskip("torch")
    rc, out, err = run_cli(capsys, "codegen", FILE, "--target", "torch", "--output", str(tmp_path))
    assert rc == 0, err
    assert "depthwise_separable_conv2d: native-conv" in err
    path = tmp_path / "depthwise_separable_conv2d_evolution.py"
    spec = importlib.util.spec_from_file_location("dsep_generated", path)
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    cls = gen.DepthwiseSeparableConv2dEvolution
    torch.manual_seed(0)
    seq = torch.nn.Sequential(torch.nn.Conv2d(4, 4, (3, 2), padding=(1, 0), groups=4, bias=False),
                              torch.nn.Conv2d(4, 6, 1, bias=False)).double()
    layer = cls.from_torch(seq)
    x = torch.randn(2, 4, 7, 5, dtype=torch.float64)
    torch.testing.assert_close(layer(x), seq(x))
    with_bias = torch.nn.Sequential(torch.nn.Conv2d(4, 4, 3, groups=4), torch.nn.Conv2d(4, 6, 1, bias=False))
    with pytest.raises(ValueError, match="m\\[0\\] has no bias"):
        cls.from_torch(with_bias)
    strided = torch.nn.Sequential(torch.nn.Conv2d(4, 4, 3, stride=2, groups=4, bias=False),
                                  torch.nn.Conv2d(4, 6, 1, bias=False))
    with pytest.raises(ValueError, match="stride 1"):
        cls.from_torch(strided)
