"""Shared fixtures: catalogue proofs are built once per session (a conv2d check takes seconds)."""

from __future__ import annotations

import functools

import pytest

from evosym import catalogue


def checked(name: str):
    """The checked proof of a catalogue operator (checked once per process: ``catalogue.checked``, which
    the code generator, the numeric checks, the table and the docs read too)."""
    return catalogue.checked(name)


@pytest.fixture(scope="session")
def checked_proof():
    return checked


@pytest.fixture(scope="session")
def catalogue_certificates(tmp_path_factory):
    """The suite's one run of the whole catalogue: ``python -m evosym prove --all --summary --certificates DIR``
    under PYTHONHASHSEED=1, as (DIR, stdout, stderr, seconds). tests/test_cli.py reads its summary,
    tests/test_certificates.py verifies and tampers with its certificates."""
    import os
    import subprocess
    import sys
    import time
    folder = tmp_path_factory.mktemp("certificates")
    env = dict(os.environ, PYTHONUTF8="1", PYTHONHASHSEED="1")
    env.pop("EVOSYM_DEBUG", None)
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "evosym", "prove", "--all", "--summary", "--certificates", str(folder)],
                       capture_output=True, text=True, env=env, timeout=1200)
    seconds = time.perf_counter() - start
    assert r.returncode == 0, r.stderr[-3000:]
    return folder, r.stdout, r.stderr, seconds


@functools.lru_cache(maxsize=None)
def numeric_report(name: str):
    """``check_operator(name)`` with its defaults, once per session: the numeric check that the docs
    pages show (tests/test_docgen.py) and that tests/test_codegen_check.py asserts on."""
    from evosym.codegen.check import check_operator
    return check_operator(name)


# Sanitized runs (tests/test_sanitize.py) take about a minute each in a child process: the ones the
# selected tests need start when collection ends, niced, on the core the suite leaves mostly idle.
STARTED: dict = {}


def pytest_collection_finish(session):
    items = [i for i in session.items if getattr(i, "module", None) is not None and i.module.__name__ == "test_sanitize"]
    if not items or items[0].module.NOT_HERE:
        return
    import sanitized_run
    for key in items[0].module.runs_for(items):
        STARTED[key] = sanitized_run.start(items[0].module.RUNS[key])


def pytest_sessionfinish(session, exitstatus):
    for proc in STARTED.values():   # runs whose tests did not get to wait for them (-x, interrupted)
        if proc.poll() is None:
            proc.kill()
    STARTED.clear()
