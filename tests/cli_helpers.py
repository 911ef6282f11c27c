"""Running the ``evosym`` command in tests: in-process (fast) or as ``python -m evosym`` (real)."""

from __future__ import annotations

import os
import subprocess
import sys

from evosym.cli.main import main


def run_cli(capsys, *argv):
    """(exit code, stdout, stderr) of ``evosym ARGV`` in-process; argparse's exits count too."""
    try:
        rc = main(list(argv))
    except SystemExit as exc:
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def module_command(*argv) -> list[str]:
    return [sys.executable, "-m", "evosym", *argv]


def module_env() -> dict:
    """This process's environment, UTF-8 mode on, EVOSYM_DEBUG off."""
    env = dict(os.environ, PYTHONUTF8="1")
    env.pop("EVOSYM_DEBUG", None)
    return env


def run_module(*argv, cwd, timeout=120):
    """``python -m evosym ARGV`` in a subprocess started in ``cwd``."""
    return subprocess.run(module_command(*argv), cwd=cwd, env=module_env(), capture_output=True,
                          text=True, encoding="utf-8", timeout=timeout)


def one_line_error(rc, out, err) -> str:
    """The single 'evosym: error: …' line of a user error (exit 2, nothing on stdout)."""
    assert rc == 2, (rc, out[-500:], err)
    assert out == ""
    assert "Traceback" not in err and "internal error" not in err
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("evosym: error: ")
    return lines[0]
