"""Memory-checked host builds (evosym/runtime/sanitize.py, docs/cuda.md layer 3).

The kernels built with AddressSanitizer and UBSan run in a child process that preloads the
sanitizer runtime: at the check shapes of operators that reach every kernel variant and window kind,
no kernel may read or write outside its tensors or hit undefined behaviour. Two canaries make stray
accesses that the numeric check cannot see (its numbers stay right); the sanitized run must stop
at each, naming the kernel.
"""

from __future__ import annotations

import dataclasses
import subprocess

import pytest

from evosym.codegen.check import check_operator
from evosym.errors import EvosymError
from evosym.codegen.artifact import kernels_for
from evosym.runtime import artifact as rt_artifact
from evosym.runtime import build, sanitize
import sanitized_run
from cli_helpers import module_command, module_env, run_module

try:
    from .conftest import STARTED, Started
except ImportError:  # tests/ is not a package
    from conftest import STARTED, Started


def _runtime() -> str:
    """Why sanitized runs are impossible here, or "" when they are possible."""
    try:
        sanitize.runtime_paths(build.compiler("host"))
    except EvosymError as exc:
        return str(exc)
    return ""


NOT_HERE = _runtime()
pytestmark = pytest.mark.skipif(bool(NOT_HERE), reason=f"no sanitized builds here: {NOT_HERE}")

# every kernel variant and window kind: generic (O_g, C_g > 1), channel-shared and full-kernel (involution),
# broadcast kernel axes (dynamic_dwconv), wrapping (circular), reflected and 3-D windows (CPU kernels too),
# the fused attention without β (SASA), with β over clamped (NATTEN) and wrapped tiles (Swin)
OPERATORS = ["conv2d", "involution", "dynamic_dwconv", "conv2d_circular", "conv2d_reflect", "conv3d",
             "local_attention", "neighborhood_attention", "swin_attention"]

# (source text, replacement, the sanitizer's exit code, words of its report): each access is invisible to
# the numbers (a volatile read never used; an overflow whose result is dropped). The kernels are in the
# runtime's header, so the source's include of it is replaced by the header's text with the access added.
FORWARD_END = "    for (int r = 0; r < CH; ++r) yp[r * plane_out] = acc[r];\n"
WINDOW = "evosym_cuda_window.h"


def _in_header(extra: str) -> tuple[str, str]:
    """(the source's include of the kernel header, that header's text with ``extra`` after evo_forward_shared's
    last store)."""
    text = (build.INCLUDE / WINDOW).read_text(encoding="utf-8")
    assert text.count(FORWARD_END) == 1, f"the canary's target text is gone from {WINDOW}"
    return f'#include "{WINDOW}"\n', text.replace(FORWARD_END, FORWARD_END + extra) + "\n"


CANARIES = {
    "a read one past the input's end": (
        *_in_header("    if (idx == total - 1) { volatile double past = xc[CH * plane_in]; (void)past; }\n"),
        sanitize.ASAN_EXIT, "heap-buffer-overflow"),
    "an index computation that overflows": (
        *_in_header("    if (idx == total - 1) { volatile i64 big = 9223372036854775807LL; "
                    "volatile i64 o = big + z.B; (void)o; }\n"),
        sanitize.UBSAN_EXIT, "signed integer overflow"),
}


RUNS = {"catalogue": {"names": OPERATORS, "gradients": True},
        **{f"canary: {k}": {"names": ["involution"], "gradients": False, "mutate": ["involution", old, new]}
           for k, (old, new, _, _) in CANARIES.items()}}


def runs_for(items) -> list[str]:
    """The RUNS the selected test items wait for (tests/conftest.py starts them when the session starts)."""
    keys = []
    for item in items:
        if item.originalname == "test_the_kernels_touch_only_their_tensors":
            keys.append("catalogue")
        elif item.originalname == "test_a_stray_access_the_numeric_check_cannot_see_stops_the_sanitized_run":
            keys.append(f"canary: {item.callspec.params['canary']}")
    return keys


def sanitized(key: str) -> subprocess.CompletedProcess:
    """RUNS[key]'s outcome: started early by tests/conftest.py, or now."""
    proc = STARTED.pop(key, None) or sanitized_run.start(RUNS[key])
    return sanitized_run.result(proc)


def test_the_kernels_touch_only_their_tensors():
    """Forward, both backward passes (gradients compared with the reference's autograd) at every check shape:
    the emulated CUDA source and the CPU kernels, built sanitized, stop at nothing."""
    proc = sanitized("catalogue")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("PASSED  ")] == OPERATORS
    assert proc.stdout.count("CUDA source, host build (emulated launch) with AddressSanitizer and UBSan") == len(OPERATORS)
    # the CPU target lowers affine, wrapping (circular) and clamped (NATTEN) windows; tiled ones (Swin) have none
    assert proc.stdout.count("CPU kernels with AddressSanitizer and UBSan") == len(OPERATORS) - 1
    assert "✓ gradients kernels-emulated equal the reference's autograd" in proc.stdout


@pytest.mark.parametrize("canary", sorted(CANARIES))
def test_a_stray_access_the_numeric_check_cannot_see_stops_the_sanitized_run(monkeypatch, canary):
    old, new, code, words = CANARIES[canary]
    good = kernels_for("involution")
    assert old in good.source, f"the canary's target text is gone from the involution source: {old!r}"
    bad = dataclasses.replace(good, source=good.source.replace(old, new), libraries={}, agreed=set())
    monkeypatch.setitem(rt_artifact._REGISTRY, good.key, bad)   # by key: what modules call
    monkeypatch.setitem(rt_artifact._REGISTRY, "involution", bad)
    report = check_operator("involution", emulated=True, gradients=False)
    assert report.ok, "the canary changed the numbers: it tests the numeric check, not the sanitizers"
    proc = sanitized(f"canary: {canary}")
    assert proc.returncode == code, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert words in proc.stderr and "evo_forward_shared" in proc.stderr, proc.stderr[-3000:]


RERUN = ("check", "conv1d", "--emulated", "--kernels", "--sanitize")


def start_early(items, tmp_path_factory):
    """tests/conftest.py: ``python -m evosym check … --sanitize`` starts when collection ends (niced), as
    cli_helpers.run_module would start it, when its test is selected."""
    if NOT_HERE or not any(item.originalname == "test_the_command_reruns_itself_in_a_sanitized_process"
                           for item in items):
        return None
    return Started(module_command(*RERUN), env=module_env(), cwd=tmp_path_factory.mktemp("rerun"))


def test_the_command_reruns_itself_in_a_sanitized_process(tmp_path):
    early = STARTED.pop("test_sanitize", None)
    proc = early.result(600, text=True, encoding="utf-8") if early is not None \
        else run_module(*RERUN, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("PASSED  conv1d")
    assert "CUDA source, host build (emulated launch) with AddressSanitizer and UBSan" in proc.stdout
    assert "CPU kernels with AddressSanitizer and UBSan" in proc.stdout
    assert "gradcheck not run: gradients compared with the reference's autograd only" in proc.stdout


def test_a_stopped_run_ends_with_a_line_saying_which_sanitizer(monkeypatch, capsys):
    for code, words in ((sanitize.ASAN_EXIT, "outside its tensors"), (sanitize.UBSAN_EXIT, "undefined behaviour"),
                        (1, None)):
        monkeypatch.setattr(sanitize, "environment", lambda compiler: {})
        monkeypatch.setattr(sanitize.subprocess, "run", lambda *a, code=code, **k: subprocess.CompletedProcess(a, code))
        assert sanitize.rerun(["check", "conv1d", "--emulated", "--sanitize"], build.compiler("host")) == code
        err = capsys.readouterr().err
        assert (words in err) if words else err == ""


def test_sanitized_builds_need_the_runtime_loaded(monkeypatch):
    monkeypatch.setenv("EVOSYM_SANITIZE", "1")   # this process did not preload it
    with pytest.raises(EvosymError, match="needs the AddressSanitizer runtime loaded first"):
        build.build("extern \"C\" int f() { return 0; }\n", "cpu")


def test_a_compiler_without_the_runtime_is_a_clear_error(tmp_path):
    fake = tmp_path / "cxx"
    fake.write_text("#!/bin/sh\necho libasan.so\n")   # what GCC prints for a library it does not have
    fake.chmod(0o755)
    with pytest.raises(EvosymError, match="has no libasan.so"):
        sanitize.environment(str(fake))
