"""Sanitized child processes for tests/test_sanitize.py.

As a script (in a process that preloads the sanitizer runtime): the numeric check of the named
operators' host-built kernels (the CUDA source's emulated build and the CPU kernels), optionally with
one operator's CUDA source mutated first (a canary). Exit 0: every check passed; 1: a check failed;
a sanitizer's exit code when it stopped the run.

    python tests/sanitized_run.py '{"names": [...], "gradients": true, "mutate": [NAME, OLD, NEW]}'

As a module: :func:`start` launches such a run, niced, with its output in temporary files, so that
tests/conftest.py can start the slow ones when the session starts, on the core the suite leaves
mostly idle; :func:`result` waits for one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def start(spec: dict) -> subprocess.Popen:
    from evosym.runtime import build, sanitize
    out, err = tempfile.TemporaryFile("w+", encoding="utf-8"), tempfile.TemporaryFile("w+", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), json.dumps(spec)], cwd=HERE,
                            env=sanitize.environment(build.compiler("host")), stdout=out, stderr=err,
                            preexec_fn=lambda: os.nice(10))
    proc.files = (out, err)
    return proc


def result(proc: subprocess.Popen, timeout: float = 900) -> subprocess.CompletedProcess:
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    texts = []
    for f in proc.files:
        f.seek(0)
        texts.append(f.read())
        f.close()
    return subprocess.CompletedProcess(proc.args, proc.returncode, *texts)


def main() -> int:
    from evosym.codegen.check import check_operator
    from evosym.codegen.artifact import kernels_for
    from evosym.runtime import artifact as rt_artifact
    from evosym.runtime import sanitize
    spec = json.loads(sys.argv[1])
    if not sanitize.requested():
        print("not a sanitized process (EVOSYM_SANITIZE is not 1)", file=sys.stderr)
        return 2
    if spec.get("mutate"):
        name, old, new = spec["mutate"]
        good = kernels_for(name)
        if old not in good.source:
            print(f"the canary's target text is gone from the {name} source: {old!r}", file=sys.stderr)
            return 2
        bad = dataclasses.replace(good, source=good.source.replace(old, new), libraries={})
        rt_artifact._REGISTRY[good.key] = rt_artifact._REGISTRY[name] = bad   # by key: what modules call
    failed = []
    for name in spec["names"]:
        report = check_operator(name, kernels=True, emulated=True, gradients=spec.get("gradients", True),
                                gradcheck=False)   # the autograd comparison reaches the same kernels
        print(report.text(), flush=True)
        if not report.ok:
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
