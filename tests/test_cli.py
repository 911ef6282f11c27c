"""The ``evosym`` command line: list, rules, prove (formats, --all), and its error messages.

Most tests call :func:`evosym.cli.main.main` in-process (fast); a few run ``python -m evosym``
in a subprocess from a temporary directory, as a user would.
"""

from __future__ import annotations

import os

import pytest

import evosym
from evosym import catalogue
from evosym.proof.rules import RULES
from cli_helpers import run_cli, run_module

CATALOGUE = [
    "acmix", "acmix_attention", "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "avg_pool1d",
    "avg_pool1d_ceil", "avg_pool1d_ceil_exclude_pad", "avg_pool1d_exclude_pad", "avg_pool2d", "avg_pool2d_ceil",
    "avg_pool2d_ceil_divisor", "avg_pool2d_ceil_exclude_pad", "avg_pool2d_divisor", "avg_pool2d_exclude_pad",
    "avg_pool3d", "avg_pool3d_ceil", "avg_pool3d_ceil_divisor", "avg_pool3d_ceil_exclude_pad", "avg_pool3d_divisor",
    "avg_pool3d_exclude_pad", "conv1d", "conv1d_circular", "conv1d_reflect", "conv1d_replicate", "conv1d_same",
    "conv2d", "conv2d_circular", "conv2d_reflect", "conv2d_replicate", "conv2d_same", "conv3d", "conv3d_circular",
    "conv3d_reflect", "conv3d_replicate", "conv3d_same", "convolve2d_full", "convolve2d_same", "convolve2d_valid",
    "convolve3d_full", "convolve3d_same", "convolve3d_valid", "convolve_full", "convolve_same", "convolve_valid",
    "cordonnier_attention", "correlate_reversed", "cross_attention", "cross_attention_key_padding",
    "cross_attention_masked", "cross_attention_masked_bias",
    "depthwise_conv2d", "dirichlet_conv", "dynamic_dwconv",
    "fourier_conv1d", "gcn", "gqa_attention", "gqa_causal", "gqa_cross_attention", "gqa_cross_attention_masked", "gqa_cross_attention_masked_bias", "gqa_masked", "gqa_masked_bias", "hyperzzw", "hyperzzw_code", "idynamic_dwconv",
    "involution", "linear", "local_attention", "lti_system", "mhsa", "mhsa_bias", "mhsa_causal", "mhsa_causal_key_padding",
    "mhsa_key_padding", "mhsa_masked", "mhsa_masked_bias",
    "mhsa_sample_bias",
    "mobius_inversion",
    "mobius_inversion_converse", "neighborhood_attention", "pointwise_conv2d", "shifted_pointwise_conv2d",
    "spectral_graph_conv", "squeeze_excitation", "swin_attention", "token_mixing"
]


def assert_error(rc, out, err, *words, usage_allowed=False):
    """A user error: exit 2, nothing on stdout, one 'evosym: error:' line (last) naming ``words``."""
    assert rc == 2, (rc, err)
    assert "Traceback" not in err and "Traceback" not in out
    assert out == ""
    lines = err.strip("\n").splitlines()
    assert lines, "no error message"
    errors = [line for line in lines if line.startswith("evosym: error:")]
    assert len(errors) == 1, err
    assert lines[-1] == errors[0], err
    if not usage_allowed:
        assert len(lines) == 1, f"expected a one-line error, got:\n{err}"
    else:   # argparse's parser.error prints a usage line first, nothing else
        assert all(line.startswith("usage:") or line.startswith(" ") or line == errors[0] for line in lines), err
    for w in words:
        assert w in errors[0], f"{w!r} not in {errors[0]!r}"
    return errors[0]


# -- list / rules ------------------------------------------------------------------------------

def test_list_names_every_catalogue_operator_with_its_summary(capsys):
    rc, out, err = run_cli(capsys, "list")
    assert rc == 0 and err == ""
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == CATALOGUE
    for name, line in zip(CATALOGUE, lines):
        summary = catalogue.load(name).operator.summary
        assert summary
        assert line.rstrip().endswith(summary), line
        assert line.split(None, 1)[1].strip() == summary
    # the summaries start in one column
    assert len({line.index(catalogue.load(n).operator.summary) for n, line in zip(CATALOGUE, lines)}) == 1


def test_catalogue_names_are_exactly_the_listed_ones():
    assert catalogue.catalogue_names() == CATALOGUE


def test_rules_lists_every_rule_with_statement_and_preconditions(capsys):
    rc, out, err = run_cli(capsys, "rules")
    assert rc == 0 and err == ""
    names = [line for line in out.splitlines() if line and not line.startswith(" ")]
    assert names == sorted(RULES)
    assert "introduce-delta" in names and "name-kernel" in names
    assert "  precondition: e is integer-valued" in out
    assert "Kronecker delta" in out


# -- prove: formats ----------------------------------------------------------------------------

def test_prove_linear_text(capsys):
    rc, out, err = run_cli(capsys, "prove", "linear")
    assert rc == 0, err
    assert err == ""
    assert out.startswith("evosym proof: linear: ")
    for word in ("Step 1.", "Step 2.", "introduce-delta", "name-kernel", "Traditional form", "Evolution form",
                 "Checks of the conclusion", "torch.nn.functional.linear"):
        assert word in out, word
    assert "Step 3." not in out
    assert "\nPROVED. 2 steps: 2 general" in out
    assert "NOT PROVED" not in out and "FAILED" not in out and "✗" not in out
    assert out.endswith("\n")


def test_prove_linear_markdown(capsys):
    rc, out, err = run_cli(capsys, "prove", "linear", "--format", "markdown")
    assert rc == 0, err
    assert out.startswith("# Proof: `linear`")
    assert "$$" in out
    assert out.count("$$") % 2 == 0
    assert "introduce-delta" in out and "PROVED" in out and "NOT PROVED" not in out
    assert "\\documentclass" not in out


def test_prove_linear_latex(capsys):
    rc, out, err = run_cli(capsys, "prove", "linear", "--format", "latex")
    assert rc == 0, err
    assert out.startswith("\\documentclass")
    assert out.rstrip().endswith("\\end{document}")
    assert out.count("\\begin{document}") == 1
    assert "PROVED" in out and "NOT PROVED" not in out


def test_prove_all_summary_one_proved_line_per_operator(catalogue_certificates):
    """The suite's one run of the whole catalogue (tests/conftest.py), which also writes the certificates."""
    folder, out, err, _ = catalogue_certificates
    assert [line.split("/")[-1] for line in err.splitlines()] == [f"{name}.json" for name in CATALOGUE], err
    assert all(line.startswith("wrote ") for line in err.splitlines())
    lines = out.splitlines()
    assert len(lines) == len(CATALOGUE)
    for name, line in zip(CATALOGUE, lines):
        fields = line.split()
        assert fields[0] == "PROVED", line
        assert fields[1] == name, line
        assert " steps (" in line and " general), " in line and line.endswith(" s"), line


def test_prove_summary_of_one_operator(capsys):
    rc, out, err = run_cli(capsys, "prove", "pointwise_conv2d", "--summary")
    assert rc == 0, err
    lines = out.splitlines()
    assert len(lines) == 1
    assert lines[0].split()[:4] == ["PROVED", "pointwise_conv2d", "6", "steps"]
    assert "(6 general), 3 shapes" in lines[0]


# -- prove: user errors --------------------------------------------------------------------------

def test_unknown_operator_suggests_close_matches(capsys):
    rc, out, err = run_cli(capsys, "prove", "conv2dd")
    line = assert_error(rc, out, err, "unknown operator", "'conv2dd'", "evosym list")
    assert "did you mean conv2d" in line          # the closest match first


def test_unknown_operator_without_close_match_has_no_suggestion(capsys):
    rc, out, err = run_cli(capsys, "prove", "transformer")
    line = assert_error(rc, out, err, "unknown operator", "'transformer'", "evosym list")
    assert "did you mean" not in line


def test_missing_operator_file(capsys, tmp_path):
    missing = tmp_path / "nowhere" / "my_op.py"
    rc, out, err = run_cli(capsys, "prove", str(missing))
    assert_error(rc, out, err, "no operator file", str(missing))


def test_missing_operator_file_by_relative_name(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run_cli(capsys, "prove", "my_op.py")
    assert_error(rc, out, err, "no operator file", "my_op.py")


def test_directory_is_not_an_operator_file(capsys, tmp_path):
    rc, out, err = run_cli(capsys, "prove", str(tmp_path) + os.sep)
    assert_error(rc, out, err, "no operator file")


def test_prove_without_name_or_all(capsys):
    rc, out, err = run_cli(capsys, "prove")
    assert_error(rc, out, err, "exactly one of NAME or --all", usage_allowed=True)


def test_prove_with_both_name_and_all(capsys):
    rc, out, err = run_cli(capsys, "prove", "linear", "--all")
    assert_error(rc, out, err, "exactly one of NAME or --all", usage_allowed=True)


def test_force_without_output(capsys):
    rc, out, err = run_cli(capsys, "prove", "linear", "--force")
    assert_error(rc, out, err, "--force", "--output", usage_allowed=True)


def test_bad_format_is_an_argparse_error(capsys):
    rc, out, err = run_cli(capsys, "prove", "linear", "--format", "html")
    assert rc == 2
    assert out == ""
    assert "Traceback" not in err
    assert "invalid choice: 'html'" in err
    assert "error:" in err.strip().splitlines()[-1]


def test_non_numeric_time_limit_is_an_argparse_error(capsys):
    rc, out, err = run_cli(capsys, "prove", "linear", "--time-limit", "soon")
    assert rc == 2 and out == "" and "Traceback" not in err
    assert "--time-limit" in err and "not a number" in err


@pytest.mark.parametrize("value", ["-1", "nan", "inf"])
def test_invalid_time_limit_is_a_user_error_not_an_internal_error(capsys, value):
    """A negative, NaN or infinite --time-limit must be refused as a user error (exit 2).

    evosym currently passes it to signal.setitimer and reports an "internal error" (exit 3).
    """
    rc, out, err = run_cli(capsys, "prove", "linear", "--time-limit", value)
    assert "internal error" not in err, err
    assert rc == 2, err
    assert "--time-limit" in err or "time limit" in err


def test_time_limit_zero_means_no_limit(capsys):
    rc, out, err = run_cli(capsys, "prove", "linear", "--summary", "--time-limit", "0")
    assert rc == 0, err
    assert out.startswith("PROVED  linear")


def test_time_limit_expiring_during_the_recheck_is_reported_as_a_time_out(capsys, monkeypatch):
    """The limit covers derive() (in the child process) *and* the re-check (here); expiring in the check's
    replay of a rule must still be "did not finish" (exit 2), not a refuted step (exit 1, "proof failed")."""
    import time

    rule = RULES["name-kernel"]
    original = rule.apply
    calls = []

    def slow_on_replay(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:          # the derivation ran in the child process: this is Proof.check's replay
            time.sleep(30)
        return original(*args, **kwargs)

    monkeypatch.setattr(rule, "apply", slow_on_replay)
    start = time.perf_counter()
    rc, out, err = run_cli(capsys, "prove", "linear", "--time-limit", "5")
    assert time.perf_counter() - start < 25
    assert len(calls) == 1
    assert "proof failed" not in err, err
    assert_error(rc, out, err, "did not finish within 5 s")


def test_no_command_prints_help_and_exits_2(capsys):
    rc, out, err = run_cli(capsys)
    assert rc == 2
    assert "usage: evosym" in out
    for cmd in ("list", "prove", "rules"):
        assert cmd in out


# -- as a program, from another directory --------------------------------------------------------

def test_module_version(tmp_path):
    r = run_module("--version", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"evosym {evosym.__version__}"
    assert evosym.__version__ == "0.1.0"


def test_module_without_command_prints_help_and_exits_2(tmp_path):
    r = run_module(cwd=tmp_path)
    assert r.returncode == 2
    assert r.stdout.startswith("usage: evosym")
    assert "prove" in r.stdout and "Traceback" not in r.stderr


def test_module_from_another_directory_lists_and_proves(tmp_path):
    """The catalogue is found from any directory (no dependence on the repository as cwd)."""
    r = run_module("list", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert [line.split()[0] for line in r.stdout.splitlines()] == CATALOGUE
    r = run_module("prove", "linear", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Step 1." in r.stdout and "introduce-delta" in r.stdout and "Evolution form" in r.stdout
    assert "\nPROVED." in r.stdout
    assert list(tmp_path.iterdir()) == []          # proving writes nothing into the working directory


def test_module_error_is_one_line_without_traceback(tmp_path):
    r = run_module("prove", "conv2dd", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stdout == ""
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("evosym: error:") and "conv2d" in lines[0]
