"""User operator files (``evosym prove path/to/op.py``): valid, wrong, malformed and hanging ones.

The files live in ``tests/data/operators``; the valid ones are written from scratch with the
public API only, the malformed ones each break one rule of the operator-file contract.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evosym import Operator, catalogue
from evosym.errors import OperatorFileError
from evosym.proof.rules import RULES
from cli_helpers import one_line_error, run_cli, run_module

OPS = Path(__file__).resolve().parent / "data" / "operators"


def op(name: str) -> str:
    return str(OPS / name)


# -- valid operators written from scratch ---------------------------------------------------------

@pytest.mark.parametrize("name, steps", [("shift1d", 3), ("linear_nobias", 2)])
def test_valid_user_operator_proves(capsys, name, steps):
    rc, out, err = run_cli(capsys, "prove", op(f"{name}.py"))
    assert rc == 0, err
    assert err == ""
    assert out.startswith(f"evosym proof: {name}: ")
    assert f"Step {steps}." in out and f"Step {steps + 1}." not in out
    assert "Evolution form" in out and "name-kernel" in out
    assert f"\nPROVED. {steps} steps: {steps} general" in out
    assert "NOT PROVED" not in out and "✗" not in out
    # every whole-proof check ran, the independent reference included
    assert "✓ Evolution form" in out and "✓ support of K" in out and "✓ reference (" in out


def test_shift_operator_kernel_and_neighbourhood(capsys):
    rc, out, err = run_cli(capsys, "prove", op("shift1d.py"))
    assert rc == 0, err
    assert "K[o, c, i, m] = δ(c, o)·δ(m, i - 1)" in out
    omega = [line.strip() for line in out.splitlines() if line.strip().startswith("Ω(i) = ")]
    assert len(omega) == 1, out
    assert ("i - 1" in omega[0] or "i + u - 1" in omega[0]) and omega[0].endswith("∩ [0, L)"), omega
    assert "reference (user-supplied, called 'numpy slice shift')" in out


def test_user_operator_loads_through_the_catalogue_api():
    mod = catalogue.load(op("linear_nobias.py"))
    assert mod.name == "linear_nobias"
    assert isinstance(mod.operator, Operator)
    assert mod.source == op("linear_nobias.py")
    cp = mod.proof().check()
    assert cp.ok and len(cp.steps) == 2 and all(s.check.general for s in cp.steps)
    assert cp.evolution is not None and cp.evolution.bias == 0


def test_user_operator_summary_and_markdown(capsys):
    rc, out, err = run_cli(capsys, "prove", op("linear_nobias.py"), "--summary")
    assert rc == 0, err
    assert out.startswith("PROVED  linear_nobias") and out.count("\n") == 1
    rc, out, err = run_cli(capsys, "prove", op("linear_nobias.py"), "--format", "markdown")
    assert rc == 0, err
    assert out.startswith("# Proof: `linear_nobias`") and "$$" in out


def test_user_operator_by_relative_path_from_another_directory(tmp_path):
    shutil.copy(OPS / "shift1d.py", tmp_path / "shift1d.py")
    r = run_module("prove", "shift1d.py", "--summary", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("PROVED  shift1d ") and "3 steps (3 general), 3 shapes" in r.stdout
    r = run_module("prove", "./shift1d.py", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "\nPROVED." in r.stdout


# -- a wrong derivation is refuted -----------------------------------------------------------------

def test_wrong_derivation_is_refuted_with_a_counterexample(capsys):
    rc, out, err = run_cli(capsys, "prove", op("wrong_range.py"))
    assert rc == 1
    assert "Traceback" not in err
    assert err.strip().splitlines() == ["evosym: proof failed: wrong_range"]
    assert "NOT PROVED" in out
    assert "\nPROVED." not in out
    # the refuted step: the precondition is not proved, and the grid shows where it is false
    assert "Step 1. introduce-delta" in out and "[failed]" in out
    assert "? the summand vanishes unless 0 ≤ n ≤ N - 2" in out
    assert "Counterexample:" in out
    assert "sizes: B=1, C=2, N=3, O=1" in out
    assert "output index: y[b=0, n=2, o=0]" in out          # the last token, n = N − 1, is lost
    assert "right: 0" in out
    # and the conclusion does not match: q does not cover x's token axis
    assert "✗ Evolution form" in out and "[0, N - 2]" in out


def test_wrong_derivation_summary_says_failed(capsys):
    rc, out, err = run_cli(capsys, "prove", op("wrong_range.py"), "--summary")
    assert rc == 1
    assert out.startswith("FAILED  wrong_range")
    assert "proof failed: wrong_range" in err


# -- malformed operator files: one clear line each, exit 2 ----------------------------------------

def test_syntax_error_names_file_and_line(capsys):
    rc, out, err = run_cli(capsys, "prove", op("syntax_error.py"))
    line = one_line_error(rc, out, err)
    assert "syntax_error.py:6: syntax error" in line
    assert "expected ':'" in line


def test_no_operator(capsys):
    line = one_line_error(*run_cli(capsys, "prove", op("no_operator.py")))
    assert "no_operator.py" in line and "defines no OPERATOR" in line


def test_operator_of_the_wrong_type(capsys):
    line = one_line_error(*run_cli(capsys, "prove", op("wrong_type.py")))
    assert "wrong_type.py" in line and "OPERATOR is a str, not an evosym.Operator" in line


def test_no_derive_function_is_left_to_the_search(capsys):
    rc, out, err = run_cli(capsys, "prove", op("no_derive.py"), "--summary")
    assert rc == 0, err
    assert out.startswith("PROVED  linear"), out


def test_derive_that_is_not_a_function(capsys):
    line = one_line_error(*run_cli(capsys, "prove", op("derive_not_function.py")))
    assert "derive_not_function.py" in line and "derive is a int, not a function" in line
    assert "leave it out to let the proof search find them" in line


@pytest.mark.parametrize("name, proves", [
    ("../../escaped", False),     # it names the generated files: never a path
    ("avg-pool 1d", False),       # and the generated functions and classes
    ("", False),
    ("involution", True),         # a catalogue operator's: generated modules find kernels by operator name
])
def test_operator_names_that_generated_code_cannot_carry_are_refused(capsys, tmp_path, name, proves):
    src = (Path(__file__).resolve().parent.parent / "docs/examples/my_avg_pool1d.py").read_text(encoding="utf-8")
    assert src.count('name="my_avg_pool1d"') == 1
    path = tmp_path / "renamed.py"
    path.write_text(src.replace('name="my_avg_pool1d"', f"name={name!r}"), encoding="utf-8")
    words = "like the catalogue's; code generated from it" if proves else "the operator's name must be an identifier"
    rc, out, err = run_cli(capsys, "prove", str(path), "--summary")
    if proves:   # a derivation of one's own may reuse the name; only generated code cannot
        assert rc == 0 and out.startswith("PROVED  involution"), err
    else:
        assert words in one_line_error(rc, out, err)
    for argv in (("codegen", str(path), "--target", "cuda", "--output", str(tmp_path)), ("check", str(path)),
                 ("bench", str(path), "--repeat", "1")):
        line = one_line_error(*run_cli(capsys, *argv))
        assert "renamed.py" in line and words in line, (argv, line)
    assert [p.name for p in tmp_path.iterdir()] == ["renamed.py"]   # nothing written, inside or outside


def test_derive_raising_says_derive_failed_and_the_line(capsys):
    line = one_line_error(*run_cli(capsys, "prove", op("derive_raises.py")))
    assert "derive_raises.py:9: derive() failed" in line
    assert "KeyError: 'second'" in line


def test_derive_failure_names_the_operator_file(capsys):
    """The line number alone is useless without the file: OperatorModule.proof promises that
    "errors name the operator file and line", but names only the operator (here 'linear',
    borrowed from the catalogue, which sends the user to the wrong file)."""
    line = one_line_error(*run_cli(capsys, "prove", op("derive_raises.py")))
    assert "derive_raises.py" in line, line


def test_unknown_rule_suggests_and_lists_rules(capsys):
    line = one_line_error(*run_cli(capsys, "prove", op("unknown_rule.py")))
    assert "unknown rule 'introduce-delt'" in line
    assert "did you mean introduce-delta" in line
    for rule in RULES:
        assert rule in line


def test_bad_rule_arguments(capsys):
    line = one_line_error(*run_cli(capsys, "prove", op("bad_rule_arguments.py")))
    assert "introduce-delta: bad arguments" in line and "'around'" in line


def test_derive_that_never_concludes(capsys):
    line = one_line_error(*run_cli(capsys, "prove", op("no_conclude.py")))
    assert "never calls conclude(" in line


def test_import_error_inside_the_file(capsys):
    line = one_line_error(*run_cli(capsys, "prove", op("import_error.py")))
    assert "import_error.py:5:" in line
    assert "error while loading" in line
    assert "ModuleNotFoundError: No module named 'evosym_no_such_module'" in line


def test_file_that_is_not_python(capsys):
    line = one_line_error(*run_cli(capsys, "prove", op("not_python.txt")))
    assert "not_python.txt" in line and "cannot be loaded as a Python module" in line


def test_malformed_file_raises_operator_file_error_in_the_api():
    with pytest.raises(OperatorFileError, match="syntax_error.py:6: syntax error"):
        catalogue.load(op("syntax_error.py"))
    with pytest.raises(OperatorFileError, match="defines no OPERATOR"):
        catalogue.load(op("no_operator.py"))


def test_failed_load_leaves_no_half_imported_module():
    before = {m for m in sys.modules if m.startswith("evosym_user_")}
    with pytest.raises(OperatorFileError):
        catalogue.load(op("import_error.py"))
    after = {m for m in sys.modules if m.startswith("evosym_user_")}
    assert not any("import_error" in m for m in after - before)


# -- time limits ------------------------------------------------------------------------------------

def test_hanging_derive_stops_at_the_time_limit(tmp_path):
    start = time.monotonic()
    r = run_module("prove", op("hangs.py"), "--time-limit", "1", cwd=tmp_path, timeout=60)
    elapsed = time.monotonic() - start
    assert r.returncode == 2, r.stderr
    assert r.stdout == ""
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("evosym: error:")
    assert "did not finish within 1 s" in lines[0]
    assert "--time-limit" in lines[0]
    assert elapsed < 30


def test_operator_file_hanging_while_loading_stops_at_the_time_limit(tmp_path):
    """--time-limit ("give up on an operator after this long") must also cover loading the file:
    a module-level loop currently hangs evosym whatever the limit."""
    hanging = tmp_path / "hangs_at_load.py"
    hanging.write_text("while True:\n    pass\n", encoding="utf-8")
    try:
        r = run_module("prove", str(hanging), "--time-limit", "1", cwd=tmp_path, timeout=8)
    except subprocess.TimeoutExpired:
        pytest.fail("evosym ignored --time-limit 1 while loading the operator file (still running after 8 s)")
    assert r.returncode == 2, r.stderr
    assert "did not finish within 1 s" in r.stderr


@pytest.mark.parametrize("form", ["mod", "bracket", "huge"])
def test_a_traditional_form_that_cannot_be_evaluated_is_a_failed_proof_not_a_crash(tmp_path, form):
    """A remainder or a bracket bound that depends on tensor entries, a value beyond float64: each fails the
    proof (exit 1) with the reason, never an internal error."""
    env = dict(os.environ, FORM=form, PYTHONUTF8="1")
    r = subprocess.run([sys.executable, "-m", "evosym", "prove", op("ill_formed_forms.py")], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr
    assert "✗" in r.stdout and "proof failed: ill_formed" in r.stderr


def test_a_failing_search_is_not_blamed_on_the_file(monkeypatch):
    """A file without derive() ran none of its own lines in the proof: an exception inside the search is evosym's
    fault and is said so (it was reported as "derive() failed" in a file that has no derive)."""
    from evosym.errors import EvosymError
    from evosym.search import SearchingDerivation

    def broken(self):
        raise ValueError("-j is not an integer")
    monkeypatch.setattr(SearchingDerivation, "auto", broken)
    module = catalogue.load(op("no_derive.py"))
    with pytest.raises(EvosymError, match="the proof search failed .*evosym's fault, not the file's") as info:
        module.proof()
    assert not isinstance(info.value, OperatorFileError) and "derive() failed" not in str(info.value)


@pytest.mark.parametrize("command", ["prove", "info", "codegen"])
def test_what_a_file_printed_before_derive_raised_reaches_standard_error(capsys, tmp_path, command):
    """A file's own debugging output, printed before its derive raised, was dropped (only a derivation's prints were
    passed on): it comes before the one-line error, escaped as every forwarded output is."""
    src = tmp_path / "prints_then_raises.py"
    src.write_text("from evosym.selftest.operators.textbook_conv1d import OPERATOR  # noqa: F401\n"
                   "print('DEBUG one')\n"
                   "def derive(d):\n"
                   "    print('DEBUG two \\x1b[2K')\n"
                   "    raise RuntimeError('boom')\n")
    rc, out, err = run_cli(capsys, command, str(src), *(("--output", str(tmp_path)) if command == "codegen" else ()))
    assert rc == 2, err
    lines = err.splitlines()
    assert lines[-1].startswith("evosym: error: ") and "derive() failed: RuntimeError: boom" in lines[-1], err
    assert lines[:-1] == ["evosym: the operator file printed:", "  | DEBUG one", "  | DEBUG two \\x1b[2K"], err


@pytest.mark.parametrize("target", ["torch", "cpu", "cuda"])
def test_a_kernel_sources_regenerate_line_names_the_operator_file(tmp_path, target):
    """``codegen FILE --target cpu`` printed "Regenerate: evosym codegen NAME --target cpu", a command that fails for an
    operator file (an adversarial pass): it names the file as given; a newline in its path stays inside the comment."""
    from evosym.codegen.generate import generate
    source = Path(__file__).resolve().parent / "data" / "operators" / "box_sum1d.py"
    folder = tmp_path / "a\nimport os"
    folder.mkdir()
    (folder / "box_sum1d.py").write_text(source.read_text())
    mark = "#" if target == "torch" else "//"
    for path in (str(source), str(folder / "box_sum1d.py")):
        lines = generate(path, target).source.splitlines()
        assert lines[2].startswith(f"{mark} Regenerate: evosym codegen ") and lines[2].endswith(
            f"--target {target} --output DIR --force") and lines[3].startswith('"""' if mark == "#" else "//"), lines[:4]
        assert "box_sum1d.py" in lines[2] and all(line.startswith(mark) for line in lines[:3])
        word = lines[2].removeprefix(f"{mark} Regenerate: evosym codegen ").removesuffix(
            f" --target {target} --output DIR --force")
        assert _shell_reads(word) == path, (word, path)


def _shell_reads(word: str, locale: str = "C.UTF-8") -> str:
    """What bash reads ``word`` as (one argument) in ``locale``, decoded as paths are."""
    r = subprocess.run(["bash", "-c", f"printf %s {word}"], capture_output=True, check=True,
                       env=dict(os.environ, LC_ALL=locale))
    return os.fsdecode(r.stdout)


@pytest.mark.parametrize("path", ["a b.py", "it's.py", "$HOME `id`;.py", "a\nimport os.py", "x\x1b[2K.py",
                                  "ls\u2028.py", "nb\u00a0sp.py", "back\\slash\n'q'.py", "bad\udcff\t.py",
                                  "\U000e0001tag.py", "\u00e9t\u00e9.py", "-x.py", "--help\n.py"])
@pytest.mark.parametrize("locale", ["C.UTF-8", "C", "POSIX"])
def test_the_regenerate_line_names_the_path_as_a_shell_reads_it(path, locale):
    """The torch banner quoted a path with ``shlex.quote`` and then escaped its newline as ``\\n`` inside the
    quotes: a shell read another path (a review); ``\\u2028`` was read as six characters in the C locale (an
    adversarial pass). One word a shell reads back as the path, on one line, in any locale."""
    from evosym.codegen.generate import shell_word
    word = shell_word(path)   # (a path read as an option by the command, -x.py, is written ./-x.py: a second pass)
    expected = f"./{path}" if path.startswith("-") else path
    assert word.isprintable() and _shell_reads(word, locale) == expected, word


def test_the_kernel_sources_written_beside_a_module_name_the_operator_file(capsys, tmp_path):
    """``codegen FILE --kernels``: the .cpp and .cu beside the module said "evosym codegen OPERATOR", which fails for
    an operator file (an adversarial pass); they name the file, as the module does."""
    src = tmp_path / "my op.py"
    src.write_text((Path(__file__).resolve().parent / "data" / "operators" / "box_sum1d.py").read_text())
    out = tmp_path / "out"
    out.mkdir()
    rc, _, err = run_cli(capsys, "codegen", str(src), "-o", str(out), "--kernels")
    assert rc == 0, err
    for name, mark in (("box_sum1d.py", "#"), ("box_sum1d.cpp", "//"), ("box_sum1d.cu", "//")):
        line = next(l for l in (out / name).read_text().splitlines() if "Regenerate:" in l)
        assert line.startswith(f"{mark} Regenerate: evosym codegen '{src}' --target "), line
