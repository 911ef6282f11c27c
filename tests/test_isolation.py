"""Operator files run in a child process: none can reach the checker, end `prove` with exit 0, or outlast
--time-limit (hole 10). Each hostile file in tests/data/hostile tries one way; all must fail cleanly."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from cli_helpers import run_cli, run_module

HOSTILE = Path(__file__).resolve().parent / "data" / "hostile"


def hostile(name: str) -> str:
    return str(HOSTILE / name)


def _clean(err: str):
    assert "Traceback" not in err and "internal error" not in err, err


@pytest.mark.parametrize("name", ["patch_ok.py", "patch_compare.py", "patch_check.py"])
def test_a_file_that_patches_the_checker_cannot_make_a_false_proof_pass(capsys, name):
    """The wrong derivation loses the last token; each file patches the checker (CheckedProof.ok, the
    comparison and the replay, Proof.check itself) in its own process, which is not the checker's."""
    rc, out, err = run_cli(capsys, "prove", hostile(name), "--summary")
    assert rc == 1, (rc, out, err)
    assert out.startswith("FAILED"), out
    assert "proof failed" in err
    _clean(err)


@pytest.mark.parametrize("name, words", [
    ("exit_at_import.py", "raised SystemExit"),
    ("os_exit_in_derive.py", "exited with status 0 before handing back a derivation"),
    ("system_exit_in_derive.py", "raised SystemExit"),
    ("base_exception.py", "raised KeyboardInterrupt"),
])
def test_a_file_that_exits_or_raises_is_a_failed_proof_never_exit_0(capsys, name, words):
    rc, out, err = run_cli(capsys, "prove", hostile(name))
    assert rc == 1, (rc, out, err)
    assert out == ""
    assert words in err, err
    assert err.startswith("evosym: proof failed: ")
    _clean(err)


@pytest.mark.parametrize("name", ["ignores_alarm.py", "forks_sleeper.py"])
def test_the_time_limit_is_enforced_by_the_parent(tmp_path, name):
    """Ignoring SIGALRM/SIGTERM/SIGINT or forking a sleeper does not outlast --time-limit: the child's
    process group is killed (the forked grandchild too)."""
    start = time.monotonic()
    r = run_module("prove", hostile(name), "--time-limit", "2", cwd=tmp_path, timeout=60)
    assert time.monotonic() - start < 30
    assert r.returncode == 2, r.stderr
    assert "did not finish within 2 s" in r.stderr and "killed" in r.stderr
    _clean(r.stderr)
    time.sleep(0.5)
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert hostile(name) not in ps


def test_forged_protocol_lines_on_stdout_do_not_become_a_proof(capsys):
    rc, out, err = run_cli(capsys, "prove", hostile("prints_protocol.py"), "--summary")
    assert rc == 1, (rc, out, err)
    assert out.startswith("FAILED  prints_protocol")
    assert '"derivation"' in err    # what the file printed is passed on as its output, on stderr
    _clean(err)


def test_the_prover_process_never_imports_the_operator_file(tmp_path):
    """`evosym prove FILE` loads no module of the file in the checking process."""
    script = ("import sys, json\n"
              "from evosym.cli.main import main\n"
              f"rc = main(['prove', {hostile('patch_ok.py')!r}, '--summary'])\n"
              "mods = [m for m in sys.modules if m.startswith('evosym_user_') or m == '_wrong']\n"
              "print(json.dumps([rc, mods]))\n")
    r = subprocess.run([os.sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    import json
    rc, mods = json.loads(r.stdout.strip().splitlines()[-1])
    assert rc == 1 and mods == [], (rc, mods, r.stderr)


def test_a_forged_derivation_on_the_protocol_pipe_is_checked_like_any_other(capsys, tmp_path):
    """The file writes a correct derivation renamed '../escaped' to the parent's pipe: the parent refuses the
    name (it would put the certificate outside DIR) and writes nothing."""
    (tmp_path / "certs").mkdir()
    rc, out, err = run_cli(capsys, "prove", hostile("forge_name.py"), "--summary", "--certificates",
                           str(tmp_path / "certs"))
    assert rc == 2 and "must be an identifier, not '../escaped'" in err, (rc, out, err)
    assert not list(tmp_path.rglob("*.json"))
    _clean(err)


@pytest.mark.parametrize("name", ["square_via_bracket.py", "square_via_piecewise.py", "cube_via_pin.py"])
def test_a_kernel_that_reads_the_value_at_the_channel_however_spelled_is_refused(capsys, name):
    """K reads x at the aggregated channel through [c ≤ t ≤ c] or a Piecewise on t = c under a sum over t, or at
    a constant channel under δ(c, 0): every way of selecting one value pins the variable for the kernel scan."""
    rc, out, err = run_cli(capsys, "prove", hostile(name))
    assert rc == 1, (rc, out[-2000:], err)
    text = " ".join(out.split())   # the printer wraps long lines
    assert "✗ Evolution form [general]: the kernel reads the value x at" in text
    assert "the aggregated channel c" in text or "which a factor δ(c, 0) makes the aggregated channel" in text
    _clean(err)
