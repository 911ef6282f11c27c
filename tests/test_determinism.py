"""Printed proofs depend only on the proof, never on hash seeds (set iteration order, dict order).

Each command runs in fresh interpreters with different ``PYTHONHASHSEED`` values; the outputs must
be byte-identical. The subprocesses run concurrently to keep the test fast.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

try:
    from .snapshot import SNAPSHOT_DIR, updating
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from snapshot import SNAPSHOT_DIR, updating

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ("0", "1", "4242")
COMMANDS = {
    "conv1d-text": ("conv1d", "text", "conv1d.txt"),
    "conv1d-markdown": ("conv1d", "markdown", "conv1d.md"),
    "conv1d-latex": ("conv1d", "latex", "conv1d.tex"),
    "linear-latex": ("linear", "latex", "linear.tex"),
}
TIMEOUT = 180


@pytest.fixture(scope="module")
def outputs():
    """{(command id, seed): (returncode, stdout bytes, stderr bytes)}, all run concurrently."""
    procs = {}
    for cid, (name, fmt, _) in COMMANDS.items():
        for seed in SEEDS:
            env = dict(os.environ)
            env["PYTHONHASHSEED"] = seed
            procs[cid, seed] = subprocess.Popen(
                [sys.executable, "-m", "evosym", "prove", name, "--format", fmt],
                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + TIMEOUT
    results = {}
    try:
        for key, p in procs.items():
            out, err = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
            results[key] = (p.returncode, out, err)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
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
    code = ("from evosym.codegen.check import _shapes; from evosym.codegen.plan import make_plan; "
            "from evosym import catalogue; cp = catalogue.load('conv2d').proof().check(); "
            "print(sorted(sorted((str(k), v) for k, v in s.items()) for s, _ in _shapes(cp.operator, make_plan(cp), 7, 2)))")
    outs = set()
    for seed in ("0", "1", "99"):
        proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": seed},
                              capture_output=True, text=True, timeout=TIMEOUT)
        assert proc.returncode == 0, proc.stderr
        outs.add(proc.stdout)
    assert len(outs) == 1, "the check's random shapes depend on the hash seed"
