"""A non-editable install carries the whole catalogue and a working ``evosym`` command, from any folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    # --no-build-isolation: use the setuptools already installed, no download needed
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--quiet",
                           "--target", str(target), str(ROOT)], capture_output=True, text=True,
                          env={**os.environ, "TMPDIR": str(build)}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return target


def _run(installed, *args, cwd):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(installed)
    return subprocess.run(list(args), capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def test_installed_package_has_the_catalogue(installed, tmp_path):
    assert (installed / "evosym" / "derivations" / "conv2d.py").is_file()
    assert not (installed / "derivations").exists(), "the catalogue must live inside the evosym package"
    proc = _run(installed, sys.executable, "-c", "import evosym, evosym.catalogue as c; print(evosym.__file__); "
                "print(' '.join(c.catalogue_names()))", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    path, names = proc.stdout.splitlines()
    assert path.startswith(str(installed)), "imported the source tree instead of the install"
    assert {"conv1d", "conv2d", "conv3d", "depthwise_conv2d", "linear", "pointwise_conv2d"} <= set(names.split())


def test_installed_console_script_proves(installed, tmp_path):
    script = installed / "bin" / "evosym"
    assert script.is_file()
    proc = _run(installed, sys.executable, str(script), "prove", "linear", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "PROVED" in proc.stdout and "Traceback" not in proc.stderr
