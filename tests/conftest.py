"""Shared fixtures: catalogue proofs are built once per session (a conv2d check takes seconds).

The slow child processes that some tests only wait for (the catalogue's certificates and their
verification in a fresh process, the hash-seed runs of tests/test_determinism.py, the committed tutorial,
the non-editable install and its self-test, the sanitized runs) start when collection ends, niced, on the
core the suite leaves mostly idle: a test module's ``start_early(items, tmp_path_factory)`` starts what its
selected tests need, and ``STARTED`` keeps it for them. Each is still its own fresh process, started with
the environment the suite started with, and each test checks its outcome exactly as before (or starts it
itself when nothing was started early). Under pytest-xdist (a worker process) nothing starts early.
"""

from __future__ import annotations

import functools
import io
import locale
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from evosym import catalogue


def checked(name: str):
    """The checked proof of a catalogue operator (checked once per process: ``catalogue.checked``, which
    the code generator, the numeric checks, the table and the docs read too)."""
    return catalogue.checked(name)


@pytest.fixture(scope="session")
def checked_proof():
    return checked


class Started:
    """A child process started ahead of the test that waits for it: its output in temporary files, its
    end noted by a watcher thread (``seconds``: from its start to its end)."""

    def __init__(self, argv, *, env, cwd=None, nice=10):
        self.args = [str(a) for a in argv]
        self.files = (tempfile.TemporaryFile("w+b"), tempfile.TemporaryFile("w+b"))
        self.began = time.perf_counter()
        self.seconds = None
        self.proc = subprocess.Popen(self.args, env=env, cwd=cwd, stdout=self.files[0], stderr=self.files[1],
                                     stdin=subprocess.DEVNULL, preexec_fn=(lambda: os.nice(int(nice))) if nice else None)
        self.watcher = threading.Thread(target=self._watch, daemon=True)
        self.watcher.start()

    def _watch(self):
        self.proc.wait()
        self.seconds = time.perf_counter() - self.began

    def done(self) -> bool:
        return self.proc.poll() is not None

    def result(self, timeout: float, *, text: bool, encoding: str | None = None) -> subprocess.CompletedProcess:
        """Its outcome as ``subprocess.run(..., capture_output=True, text=text, encoding=encoding)`` gives it;
        killed after ``timeout`` seconds of waiting."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        self.watcher.join()
        outs = []
        for f in self.files:
            f.seek(0)
            data = f.read()
            f.close()
            # text=True's decoding: the locale's encoding, universal newlines
            outs.append(io.TextIOWrapper(io.BytesIO(data), encoding=encoding or locale.getpreferredencoding(False))
                        .read() if text or encoding else data)
        return subprocess.CompletedProcess(self.args, self.proc.returncode, *outs)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# -- the catalogue's certificates: one `prove --all` per session, then their verification ---------------

def _certificates_env():
    env = dict(os.environ, PYTHONUTF8="1", PYTHONHASHSEED="1")
    env.pop("EVOSYM_DEBUG", None)
    return env


class CertificateRun:
    """``python -m evosym prove --all --summary --certificates DIR`` under PYTHONHASHSEED=1; when it
    succeeds, ``then(DIR)`` (tests/test_certificates.py: the verification of its certificates in a fresh
    process) starts at once, and its outcome is kept in ``followed``."""

    def __init__(self, folder, *, then=None, nice=5):   # needed before the other early runs: niced less
        self.folder = folder
        self.prove = Started([sys.executable, "-m", "evosym", "prove", "--all", "--summary", "--certificates", folder],
                             env=_certificates_env(), nice=nice)
        self.followed = None
        self.chain = None
        if then is not None:
            self.chain = threading.Thread(target=self._follow, args=(then,), daemon=True)
            self.chain.start()

    def _follow(self, then):
        self.prove.proc.wait()
        if self.prove.proc.returncode == 0:
            self.followed = then(self.folder)

    def kill(self):
        self.prove.kill()
        if self.chain is not None:
            self.chain.join()
        if self.followed is not None:
            self.followed.kill()


@pytest.fixture(scope="session")
def catalogue_certificates(tmp_path_factory):
    """The suite's one run of the whole catalogue: ``python -m evosym prove --all --summary --certificates DIR``
    under PYTHONHASHSEED=1, as (DIR, stdout, stderr, seconds). tests/test_cli.py reads its summary,
    tests/test_certificates.py verifies and tampers with its certificates."""
    run = STARTED.get("certificates") or CertificateRun(tmp_path_factory.mktemp("certificates"), nice=False)
    STARTED["certificates"] = run   # tests/test_certificates.py finds the verification started after it here
    r = run.prove.result(1200, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return run.folder, r.stdout, r.stderr, run.prove.seconds


@pytest.fixture
def bind():
    """``bind(source, target, read_only)``: ``source`` mounted at ``target`` (a folder, made, or a file), unmounted
    after the test; the test is skipped where this process may not mount. A test of evosym's own code mounts it read
    only: should the defence regress, the write fails instead of replacing evosym's files (a check of a test against
    the code before the mend replaced a template of the checkout)."""
    mounted = []

    def bind(source: Path, target: Path, read_only: bool = False) -> Path:
        if not target.exists():
            target.mkdir()
        r = subprocess.run(["mount", "--bind", *(("-o", "ro") if read_only else ()), str(source), str(target)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"no bind mounts here: {r.stderr.strip()}")
        mounted.append(target)
        return target
    yield bind
    for target in reversed(mounted):
        subprocess.run(["umount", "-l", str(target)], check=True)


@functools.lru_cache(maxsize=None)
def selftest_rows(category: str) -> tuple:
    """``evosym.selftest.run.run`` of one category, once per session: tests/test_selftest.py and
    tests/test_trust_mutants.py (the checker-premise category, ~17 s) read the same run."""
    from evosym.selftest.run import run
    return tuple(run(categories={category}))


@functools.lru_cache(maxsize=None)
def numeric_report(name: str):
    """``check_operator(name)`` with its defaults, once per session: the numeric check that the docs
    pages show (tests/test_docgen.py) and that tests/test_codegen_check.py asserts on."""
    from evosym.codegen.check import check_operator
    return check_operator(name)


# What started when collection ends, by key: the sanitized runs (tests/test_sanitize.py's RUNS, about a
# minute each), the certificates ("certificates", above), and each test module's start_early (its name).
STARTED: dict = {}


def _in_worker(config) -> bool:
    """A pytest-xdist worker: every worker collects every test, so none starts anything early."""
    return hasattr(config, "workerinput")


def pytest_collection_finish(session):
    if _in_worker(session.config) or session.config.option.collectonly:
        return
    modules = {}
    for item in session.items:
        module = getattr(item, "module", None)
        if module is not None:
            modules.setdefault(module.__name__, (module, []))[1].append(item)
    if "test_sanitize" in modules:
        module, items = modules["test_sanitize"]
        if not module.NOT_HERE:
            import sanitized_run
            for key in module.runs_for(items):
                STARTED[key] = sanitized_run.start(module.RUNS[key])
    if any("catalogue_certificates" in getattr(item, "fixturenames", ()) for item in session.items):
        then = None
        if "test_certificates" in modules:
            module, items = modules["test_certificates"]
            then = module.verification_for(items)
        STARTED["certificates"] = CertificateRun(session.config._tmp_path_factory.mktemp("certificates"), then=then)
    for name, (module, items) in modules.items():   # a test module's own early work: start_early(items, tmp)
        start = getattr(module, "start_early", None)
        if start is not None:
            started = start(items, session.config._tmp_path_factory)
            if started is not None:
                STARTED[name] = started


def _stop(started):
    if isinstance(started, dict):
        for each in started.values():
            _stop(each)
    elif isinstance(started, subprocess.Popen):
        if started.poll() is None:
            started.kill()
    else:
        started.kill()


def pytest_sessionfinish(session, exitstatus):
    for started in STARTED.values():   # runs whose tests did not get to wait for them (-x, interrupted)
        _stop(started)
    STARTED.clear()


class Early(threading.Thread):
    """``work(self)`` run in a thread when collection ends (its subprocesses niced; it stops early once
    ``stopped``); ``outcome()`` waits for it and returns its value, or raises what it raised."""

    def __init__(self, work, **attributes):
        super().__init__(daemon=True)
        self.work, self.value, self.error, self.stopped = work, None, None, False
        self.__dict__.update(attributes)
        self.start()

    def run(self):
        try:
            self.value = self.work(self)
        except BaseException as exc:   # handed to the test that waits for it
            self.error = exc

    def outcome(self):
        self.join()
        if self.error is not None:
            raise self.error
        return self.value

    def kill(self):   # at the session's end: it stops, its running child process (``current``) killed
        self.stopped = True
        current = getattr(self, "current", None)
        if current is not None and current.poll() is None:
            current.kill()


def niced():
    os.nice(10)


# -- pytest-xdist (``-n 2 --dist loadgroup``): tests that share one process's expensive work (the session's
# certificates, the numeric reports the docs reuse) or write the same committed files run in one worker --------
XDIST_GROUPS = {
    "certificates": ("tests/test_certificates.py::", "tests/test_cli.py::test_prove_all_summary_one_proved_line"),
    "numeric-reports": ("tests/test_codegen_check.py::", "tests/test_docgen.py::"),
    "committed-docs": ("tests/test_attention_coverage.py::", "tests/test_pooling_coverage.py::",
                       "tests/test_analysis.py::test_docs_table_is_current", "tests/test_docs.py::"),
    "snapshots": ("tests/test_printers.py::", "tests/test_determinism.py::", "tests/test_codegen_golden.py::"),
}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    if not _in_worker(config):
        return
    for item in items:
        for group, prefixes in XDIST_GROUPS.items():
            if item.nodeid.startswith(prefixes):
                item.add_marker(pytest.mark.xdist_group(group))
                break
