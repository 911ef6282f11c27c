"""Printed proofs depend only on the proof, never on hash seeds (set iteration order, dict order).

Each command runs in fresh interpreters with different ``PYTHONHASHSEED`` values; the outputs must
be byte-identical. The subprocesses run concurrently to keep the test fast (tests/conftest.py starts them
when collection ends, on the core the suite leaves mostly idle).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

try:
    from .snapshot import SNAPSHOT_DIR, updating
    from .conftest import STARTED, Started
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from snapshot import SNAPSHOT_DIR, updating
    from conftest import STARTED, Started

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ("0", "1", "4242")
COMMANDS = {
    "conv1d-text": ("conv1d", "text", "conv1d.txt"),
    "conv1d-markdown": ("conv1d", "markdown", "conv1d.md"),
    "conv1d-latex": ("conv1d", "latex", "conv1d.tex"),
    "linear-latex": ("linear", "latex", "linear.tex"),
}
TIMEOUT = 180


def start_runs(*, nice: bool = False) -> dict:
    """{(command id, seed): the started ``evosym prove`` process}: every command under every seed, each in its
    own fresh interpreter, all at once (tests/conftest.py starts them when collection ends)."""
    procs = {}
    for cid, (name, fmt, _) in COMMANDS.items():
        for seed in SEEDS:
            env = dict(os.environ)
            env["PYTHONHASHSEED"] = seed
            procs[cid, seed] = Started([sys.executable, "-m", "evosym", "prove", name, "--format", fmt],
                                       cwd=ROOT, env=env, nice=nice)
    return procs


SHAPES_CODE = ("from evosym.codegen.check import _shapes; from evosym.codegen.plan import make_plan; "
               "from evosym import catalogue; cp = catalogue.load('conv2d').proof().check(); "
               "print(sorted(sorted((str(k), v) for k, v in s.items()) for s, _ in _shapes(cp.operator, make_plan(cp), 7, 2)))")
SHAPES_SEEDS = ("0", "1", "99")


def start_shapes(*, nice: bool = False) -> dict:
    """{seed: the started interpreter printing the numeric check's shapes for seed 7}: one fresh process per hash
    seed, all at once."""
    return {seed: Started([sys.executable, "-c", SHAPES_CODE], cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": seed},
                          nice=nice)
            for seed in SHAPES_SEEDS}


def start_early(items, tmp_path_factory):
    """tests/conftest.py: the runs start when collection ends, niced, when a selected test reads them."""
    started = {}
    if any("outputs" in getattr(item, "fixturenames", ()) for item in items):
        started["outputs"] = start_runs(nice=True)
    if any(item.originalname == "test_numeric_check_shapes_depend_on_the_seed_only" for item in items):
        started["shapes"] = start_shapes(nice=True)
    return started or None


def _early(what: str):
    return (STARTED.get("test_determinism") or {}).pop(what, None)


@pytest.fixture(scope="module")
def outputs():
    """{(command id, seed): (returncode, stdout bytes, stderr bytes)}, all run concurrently."""
    procs = _early("outputs") or start_runs()
    deadline = time.monotonic() + TIMEOUT
    results = {}
    try:
        for key, p in procs.items():
            r = p.result(max(1.0, deadline - time.monotonic()), text=False)
            results[key] = (r.returncode, r.stdout, r.stderr)
    finally:
        for p in procs.values():
            p.kill()
    return results


@pytest.mark.parametrize("cid", list(COMMANDS))
def test_output_is_identical_across_hash_seeds(outputs, cid):
    name, fmt, _ = COMMANDS[cid]
    for seed in SEEDS:
        rc, out, err = outputs[cid, seed]
        assert rc == 0, f"evosym prove {name} --format {fmt} (PYTHONHASHSEED={seed}) exited {rc}:\n{err.decode()}"
        assert b"PROVED" in out and b"NOT PROVED" not in out
    first = outputs[cid, SEEDS[0]][1]
    for seed in SEEDS[1:]:
        other = outputs[cid, seed][1]
        if other != first:
            a, b = first.decode().splitlines(), other.decode().splitlines()
            k = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            pytest.fail(f"evosym prove {name} --format {fmt}: output with PYTHONHASHSEED={seed} differs from "
                        f"PYTHONHASHSEED={SEEDS[0]} at line {k + 1}:\n"
                        f"  seed {SEEDS[0]}: {a[k] if k < len(a) else '<end>'}\n"
                        f"  seed {seed}: {b[k] if k < len(b) else '<end>'}")


@pytest.mark.parametrize("cid", list(COMMANDS))
def test_cli_output_equals_the_golden_file(outputs, cid):
    """What the CLI prints is what the printers render in-process (the golden files)."""
    if updating():
        pytest.skip("golden files are being rewritten")
    golden = SNAPSHOT_DIR / COMMANDS[cid][2]
    assert golden.is_file(), f"missing {golden}; run EVOSYM_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_printers.py"
    rc, out, _ = outputs[cid, SEEDS[0]]
    assert rc == 0
    assert out == golden.read_bytes(), f"CLI output differs from {golden}"


def test_numeric_check_shapes_depend_on_the_seed_only():
    """`evosym check --seed N` replays the same shapes in any interpreter (they were once hash-seed dependent)."""
    procs = _early("shapes") or start_shapes()
    outs = set()
    try:
        for seed in SHAPES_SEEDS:
            proc = procs[seed].result(TIMEOUT, text=True)
            assert proc.returncode == 0, proc.stderr
            outs.add(proc.stdout)
    finally:
        for p in procs.values():
            p.kill()
    assert len(outs) == 1, "the check's random shapes depend on the hash seed"
