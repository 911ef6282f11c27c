"""``check --candidate`` runs the candidate in a process of its own (evosym/testing/remote.py): the candidate cannot
read the values it is compared with nor change the harness, and the harness sees in its outputs, inputs and
gradients what it saw when the candidate ran beside it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_helpers import module_command, module_env, run_cli
from evosym.testing import assert_equivalent
from evosym.testing.equivalence import input_names
from evosym.testing.remote import CACHES, CandidateGone, RemoteCandidate
from evosym.testing.setup import proven

DATA = Path(__file__).resolve().parent / "data"
sys.path.insert(0, str(DATA / "candidates"))
import cheats  # noqa: E402

SIZES = dict(G=1, C_g=3, O_g=3, K_h=3, K_w=3, s_h=1, s_w=1, delta_h=1, delta_w=1, P_h=1, P_w=1)
POOL = ("--size", "K_h=3", "--size", "K_w=3", "--size", "s_h=2", "--size", "s_w=2", "--size", "P_h=0", "--size", "P_w=0")


def _remote(spec, folder=DATA / "candidates", operator="conv2d"):
    p = proven(operator)
    return RemoteCandidate(spec, p, input_names(p.operator, p.plan), [str(folder)] + sys.path)


def _failure(candidate, **kw) -> str:
    with pytest.raises(AssertionError) as info:
        assert_equivalent(candidate, "conv2d", sizes=SIZES, **kw)
    return str(info.value)


# Each cheat seen through the process boundary as in process: the same headline (what failed and at which call).
# The proxy rebuilds what the harness looks at: the inputs after the call (ZeroesInput, ShiftsInput), the output's
# dtype (AlwaysFloat16), its values later (ReusesItsOutput), a tensor subclass (LyingTensor), the grad mode and the
# inputs' requires_grad (WrongUnderNoGrad, WrongForAFirstLayer), their layout (IgnoresStrides), state kept in the
# candidate between calls (InstanceCache).
@pytest.mark.parametrize("name", ["ZeroesInput", "AlwaysFloat16", "ReusesItsOutput", "LyingTensor", "WrongUnderNoGrad",
                                  "WrongForAFirstLayer", "IgnoresStrides", "InstanceCache", "WrongOnLeaves",
                                  "WrongOnStridedInTraining", "WrongOnTorchMemory"])
def test_a_cheat_fails_in_its_own_process_as_in_the_checking_one(name):
    local = _failure(getattr(cheats, name)())
    remote = _remote(f"cheats:{name}")
    try:
        text = _failure(remote)
    finally:
        remote.close()
    assert text.splitlines()[0] == local.splitlines()[0], (local, text)   # (a reused buffer's: which call shares it)
    assert text.splitlines()[1] == local.splitlines()[1], (local, text)   # the configuration, dtype and seed


CHEATS = {
    # the operator's values read from the harness's frames (the call being checked holds them)
    "frames": "import sys\n"
              "def expected():\n"
              "    f = sys._getframe(1)\n"
              "    while f is not None:\n"
              "        c = f.f_locals.get('call')\n"
              "        if c is not None and hasattr(c, 'y_r'):\n"
              "            return c.y_r\n"
              "        f = f.f_back\n",
    # ... found among every object alive (the harness's calls)
    "objects": "import gc\n"
               "def expected():\n"
               "    for o in gc.get_objects():\n"
               "        if type(o).__name__ == '_Call' and getattr(o, 'y', 1) is None:\n"
               "            return o.y_r\n",
    # every comparison made to hold: torch's reductions patched while the candidate is imported
    "patched": "import torch\n"
               "torch.Tensor.all = lambda self, *a, **k: torch.tensor(True)\n"
               "torch.Tensor.any = lambda self, *a, **k: torch.tensor(False)\n"
               "def expected():\n"
               "    return None\n",
}
CANDIDATE = """
import torch
import torch.nn.functional as F


class M(torch.nn.Module):
    def forward(self, x):
        y = expected()
        return y.to(x.dtype).clone() if y is not None else F.avg_pool2d(x, 3, 2) * 1.001
"""


@pytest.mark.parametrize("how", sorted(CHEATS))
def test_a_candidate_cannot_reach_the_values_it_is_compared_with(tmp_path, monkeypatch, capsys, how):
    """Wrong values (×1.001) with the operator's values read from the checking process's memory, or with torch's
    comparisons patched: in process (``assert_equivalent``, the user's own test) the candidate can pass so (the
    harness shares its process; docs/testing.md says so); ``check --candidate`` runs it in its own process: NOT
    EQUIVALENT, the factor diagnosed."""
    (tmp_path / f"c_{how}.py").write_text(CHEATS[how] + CANDIDATE)
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "check", "--candidate", f"c_{how}:M", "avg_pool2d", *POOL, "--format", "json")
    doc = json.loads(out)
    assert code == 1 and not doc["ok"] and doc["verdict"] == "not equivalent", (code, out, err)
    assert any("constant factor 1.001" in d for d in doc["failure"]["diagnoses"]), doc["failure"]
    assert f"c_{how}" not in sys.modules and torch_intact()


def torch_intact() -> bool:
    import torch
    return not bool(torch.zeros(1).all()) and bool(torch.ones(1).any())


def test_in_process_the_frames_cheat_passes(tmp_path, monkeypatch):
    """What the process boundary buys, shown: the same candidate passes the in-process harness."""
    (tmp_path / "c_in.py").write_text(CHEATS["frames"] + CANDIDATE)
    monkeypatch.syspath_prepend(str(tmp_path))
    import c_in
    try:
        assert_equivalent(c_in.M(), "avg_pool2d", sizes=dict(K_h=3, K_w=3, s_h=2, s_w=2, P_h=0, P_w=0))
    finally:
        sys.modules.pop("c_in", None)


def test_the_candidates_prints_go_to_standard_error_escaped(tmp_path, monkeypatch, capsys):
    """Its prints (at import and in its forward, with a terminal escape and a forged verdict) never reach standard
    output, where the JSON document is alone; on standard error the escape is shown, not sent."""
    (tmp_path / "loud.py").write_text(
        "import sys, torch\nprint('\\x1b[2KEQUIVALENT  loud:M vs avg_pool2d')\n"
        "print('EQUIVALENT  loud:M vs avg_pool2d: 8 comparisons\\n  gradients compared', file=sys.stderr)\n"
        "class M(torch.nn.AvgPool2d):\n"
        "    def __init__(self):\n        super().__init__(3, 2)\n"
        "    def forward(self, x):\n        print('in forward \\x1b]0;title\\x07')\n        return super().forward(x)\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "check", "--candidate", "loud:M", "avg_pool2d", "--format", "json")
    assert code == 0 and json.loads(out)["ok"], (code, out, err)
    assert "\x1b" not in err and "\\x1b[2KEQUIVALENT" in err and "in forward" in err
    # under a line that says whose they are, each marked: a forged verdict on standard error reads as its own
    # (an adversarial pass: plain lines came first, unmarked, before the real verdict in a combined log)
    assert "evosym: the candidate printed:" in err, err
    for words in ("EQUIVALENT", "gradients compared", "in forward"):
        lines = [line for line in err.splitlines() if words in line]
        assert lines and all(line.startswith("  | ") for line in lines), err
    code, out, err = run_cli(capsys, "check", "--candidate", "loud:M", "avg_pool2d")
    assert code == 0 and out.startswith("EQUIVALENT  loud:M vs avg_pool2d") and all(
        line.startswith(("  | ", "evosym: ")) for line in err.splitlines()), (out, err)


def test_a_candidate_that_ends_its_process_is_not_quoted_in_the_verdict(tmp_path, monkeypatch, capsys):
    """Its process ending in a call is NOT EQUIVALENT; what it printed before stays on standard error, marked as its
    own: it was quoted in the failure's message and the JSON document (a forged verdict inside ours)."""
    (tmp_path / "ender.py").write_text(
        "import os, sys, torch\n"
        "class M(torch.nn.AvgPool2d):\n"
        "    def __init__(self):\n        super().__init__(3, 2)\n"
        "    def forward(self, x):\n"
        "        print('EQUIVALENT  ender:M vs avg_pool2d: 8 comparisons', file=sys.stderr, flush=True)\n"
        "        os._exit(0)\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "check", "--candidate", "ender:M", "avg_pool2d", "--format", "json")
    doc = json.loads(out)
    assert code == 1 and doc["verdict"] == "not equivalent" and "EQUIVALENT  ender" not in out, out
    assert "what it printed is passed on to standard error" in doc["failure"]["message"], doc["failure"]
    assert "  | EQUIVALENT  ender:M vs avg_pool2d" in err, err


def test_gradients_travel_through_the_process(tmp_path, monkeypatch, capsys):
    """--gradients: the candidate's backward runs in its process (a candidate called again on the same inputs); a
    wrong backward and a detached output are seen as in process."""
    (tmp_path / "grads.py").write_text(
        "import torch\nimport torch.nn.functional as F\n"
        "class Scaled(torch.autograd.Function):\n"
        "    @staticmethod\n    def forward(ctx, x):\n        ctx.save_for_backward(x)\n"
        "        return F.avg_pool2d(x, 3, 2)\n"
        "    @staticmethod\n    def backward(ctx, g):\n        x, = ctx.saved_tensors\n"
        "        with torch.enable_grad():\n            xx = x.detach().requires_grad_()\n"
        "            gx, = torch.autograd.grad(F.avg_pool2d(xx, 3, 2), xx, g)\n"
        "        return 1.5 * gx\n"
        "class WrongBackward(torch.nn.Module):\n"
        "    def forward(self, x):\n        return Scaled.apply(x)\n"
        "class Detached(torch.nn.Module):\n"
        "    def forward(self, x):\n        return F.avg_pool2d(x, 3, 2).detach()\n"
        "def right():\n    return torch.nn.AvgPool2d(3, 2)\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "check", "--candidate", "grads:right", "avg_pool2d", "--gradients")
    assert code == 0 and out.startswith("EQUIVALENT"), (code, out, err)
    code, out, err = run_cli(capsys, "check", "--candidate", "grads:Detached", "avg_pool2d", *POOL, "--gradients")
    assert code == 1 and "does not depend on its input through autograd (detached?)" in out, (code, out, err)
    code, out, err = run_cli(capsys, "check", "--candidate", "grads:WrongBackward", "avg_pool2d", *POOL, "--gradients")
    assert code == 1 and "gradients with respect to the input differ (forward agrees)" in out, (code, out, err)


def test_a_candidate_that_hangs_or_lies_about_its_output_is_a_failure(monkeypatch):
    """The process answers in other words than the protocol's (an output of another shape than it says): the
    candidate's failure, never a verdict; the process is ended."""
    remote = _remote("cheats:Exact")
    try:
        copy = remote.at(__import__("torch").float64)
        real = remote.request

        def lying(kind, arrays=(), **head):
            reply, out = real(kind, arrays, **head)
            if kind == "call":
                reply = dict(reply, shape=[1, 2, 3])
            return reply, out
        monkeypatch.setattr(remote, "request", lying)
        import torch
        with pytest.raises(CandidateGone, match="another shape than it said"):
            copy(torch.zeros(2, 3, 5, 5, dtype=torch.float64))
    finally:
        remote.close()



@pytest.mark.parametrize("memory", [None, [0], [0, 2], [1, 1], [0, -1], [0, "0"], [0, 0.0], {"0": 0}])
def test_a_process_that_lies_about_its_outputs_memory_is_a_failure(monkeypatch, memory):
    """Which outputs share memory comes from the candidate's process: an answer that is not one group per call
    handed back, each naming the same call or an earlier one, is the candidate's failure, never a verdict."""
    import torch
    remote = _remote("cheats:Exact")
    try:
        copy = remote.at(torch.float64)
        for _ in range(2):
            copy(torch.zeros(2, 3, 5, 5, dtype=torch.float64))
        real = remote.request

        def lying(kind, arrays=(), **head):
            reply, out = real(kind, arrays, **head)
            return (dict(reply, memory=memory) if kind == "refresh" else reply), out
        monkeypatch.setattr(remote, "request", lying)
        with pytest.raises(CandidateGone, match="outputs' memory"):
            copy.refresh()
    finally:
        remote.close()


def test_outputs_share_memory_as_they_do_in_the_candidates_process(tmp_path):
    """Views of one buffer at other offsets share its memory, separate tensors do not, an output that is not a
    tensor shares nothing: as the storage says in the candidate's process."""
    import torch
    source = ("import torch\n"
              "class Views(torch.nn.Conv2d):\n"
              "    def __init__(self):\n"
              "        super().__init__(3, 4, 3)\n"
              "        self.buf, self.n = None, 0\n"
              "    def forward(self, x):\n"
              "        y = super().forward(x).detach()\n"
              "        self.n += 1\n"
              "        if self.n == 3:\n"
              "            return 'none'\n"
              "        if self.n == 4:\n"
              "            return y.clone()\n"
              "        if self.buf is None:\n"
              "            self.buf = torch.zeros((2,) + tuple(y.shape), dtype=y.dtype)\n"
              "        return self.buf[self.n % 2].copy_(y)\n")
    (tmp_path / "views.py").write_text(source)
    remote = _remote("views:Views", tmp_path)
    try:
        copy = remote.at(torch.float64)
        ys = [copy(torch.zeros(2, 3, 5, 5, dtype=torch.float64)) for _ in range(4)]
        shares = copy.refresh()
        assert shares(ys[0], ys[1]) and shares(ys[1], ys[0])   # two halves of one buffer
        assert not shares(ys[0], ys[3]) and not shares(ys[3], ys[1]) and not shares(ys[2], ys[0])
        assert not shares(torch.zeros(1), ys[0])   # a tensor it never returned
    finally:
        remote.close()


ESCAPES = {
    # a grandchild out of the candidate's process group (setsid), orphaned, without a parent-death signal
    "setsid-grandchild": "import os, time\n"
                         "if os.fork() == 0:\n"
                         "    os.setsid()\n"
                         "    if os.fork() == 0:\n"
                         "        time.sleep(3600)\n"
                         "    os._exit(0)\n",
    # the candidate's own process leaves its group and clears its parent-death signal, then stays alive while a
    # forked copy of it answers the check (an adversarial pass: the namespace outlived the check)
    "first-process-stays": "import ctypes, os, time\n"
                           "ctypes.CDLL(None).prctl(1, 0, 0, 0, 0)\n"
                           "os.setsid()\n"
                           "if os.fork() != 0:\n"
                           "    time.sleep(3600)\n",
}


@pytest.mark.parametrize("how", sorted(ESCAPES))
def test_no_process_the_candidate_starts_outlives_the_check(tmp_path, monkeypatch, capsys, how):
    """Processes the candidate starts that escape a kill of its process group and its parent-death signal outlived
    the check (and could write a passing JUnit file over the verdict): the candidate's process is a PID namespace's
    first process, which the process waiting outside kills when the check ends (its lifeline closes)."""
    if not _contained():
        pytest.skip("this kernel gives no PID namespace or no Landlock (documented: a warning, nothing contained)")
    (tmp_path / "escapes.py").write_text(ESCAPES[how] + "import torch\n\n\nclass M(torch.nn.AvgPool2d):\n"
                                                         "    def __init__(self):\n        super().__init__(3, 2)\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "check", "--candidate", "escapes:M", "avg_pool2d")
    assert code == 0 and out.startswith("EQUIVALENT"), (code, out, err)
    deadline = time.monotonic() + 10
    while _ours() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _ours(), "a process the candidate started outlived the check"


def _ours() -> list:
    """The processes started for a candidate of this process (their environment names it as the parent and holds a
    lifeline: not the operator files' reference processes, which earlier tests of the session may have left open)."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if _environ_has(pid, str(os.getpid()), "EVOSYM_LIFELINE="):
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    if fh.read().rpartition(")")[2].split()[0] != "Z":
                        out.append(pid)
            except OSError:
                pass
    return out


@pytest.mark.parametrize("where", ["working folder", "home cache"])
def test_the_candidate_writes_only_beneath_its_scratch_folder(tmp_path, monkeypatch, capsys, where):
    """An unconfined candidate wrote a module into the working folder that the checking process imported at its exit
    (torch's exit hook imports tabulate lazily) and so chose the exit status: it may now write only beneath its
    TMPDIR (a usage error at import, naming the PermissionError)."""
    if not _contained():
        pytest.skip("this kernel gives no PID namespace or no Landlock (documented: a warning, nothing contained)")
    target = {"working folder": "os.path.join(os.environ['PWD'], 'tabulate.py')",
              "home cache": "os.path.join(os.path.expanduser('~'), '.cache', 'evosym-test-written')"}[where]
    (tmp_path / "writes.py").write_text(f"import os\nopen({target}, 'w').write('import os; os._exit(0)')\n"
                                        "import torch\ndef M():\n    return torch.nn.AvgPool2d(3, 2)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PWD", str(tmp_path))
    code, out, err = run_cli(capsys, "check", "--candidate", "writes:M", "avg_pool2d")
    assert code == 2 and "cannot import writes: PermissionError" in err, (code, out, err)
    assert not (tmp_path / "tabulate.py").exists()
    assert not os.path.exists(os.path.expanduser("~/.cache/evosym-test-written"))
    (tmp_path / "tmp_ok.py").write_text("import os, tempfile\nopen(os.path.join(tempfile.gettempdir(), 'x'), 'w')\n"
                                        "import torch\ndef M():\n    return torch.nn.AvgPool2d(3, 2)\n")
    code, out, err = run_cli(capsys, "check", "--candidate", "tmp_ok:M", "avg_pool2d")
    assert code == 0, (code, out, err)


def _contained() -> bool:
    remote = _remote("cheats:Exact")
    remote.close()
    return remote.missing == ""


def test_sigterm_while_the_candidate_runs_stops_the_command(tmp_path):
    """SIGTERM (a CI job's timeout) while the candidate's forward runs was reported as the candidate's failure
    (NOT EQUIVALENT, 'the candidate raised Terminated'): the command stops, says so, exits 128 + 15, and the
    candidate's process is gone."""
    (tmp_path / "hangs.py").write_text(   # (it may write beneath its TMPDIR only)
        "import os, tempfile, time, torch\nclass M(torch.nn.Module):\n    def forward(self, x):\n"
        "        open(os.path.join(tempfile.gettempdir(), 'running'), 'w').close()\n        time.sleep(3600)\n")
    temp = tmp_path / "temp"
    temp.mkdir()
    proc = subprocess.Popen(module_command("check", "--candidate", "hangs:M", "avg_pool2d", *POOL), cwd=tmp_path,
                            env=dict(module_env(), TMPDIR=str(temp)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 120
    while not list(temp.glob("evosym-candidate-*/running")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert list(temp.glob("evosym-candidate-*/running")), proc.communicate()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM and "evosym: stopped by SIGTERM" in err, (proc.returncode, out, err)
    assert "NOT EQUIVALENT" not in out
    survivors = subprocess.run(["pgrep", "-f", "candidate_process"], capture_output=True, text=True).stdout.split()
    assert not [p for p in survivors if _environ_has(p, str(proc.pid))]
    assert not list(temp.glob("evosym-candidate-*")), "the candidate's scratch folder is removed"


def _environ_has(pid: str, parent: str, also: str = "") -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            env = fh.read()
    except OSError:
        return False
    return f"EVOSYM_WORKER_PARENT={parent}".encode() in env and also.encode() in env


def test_non_finite_weights_are_a_usage_error_not_the_operators_fault():
    """A candidate whose weight holds inf made the operator's values non-finite, reported as "the proven operator is
    not finite … please report this": the weight is named."""
    import torch
    from evosym.errors import EvosymError
    conv = torch.nn.Conv2d(3, 3, 3, padding=1)
    with torch.no_grad():
        conv.bias[1] = float("inf")
    with pytest.raises(EvosymError, match="the candidate's weight bias holds 1 non-finite entries"):
        assert_equivalent(conv, "conv2d")


def test_a_complex_output_is_refused_for_its_dtype():
    """No values of a complex output travel (the protocol has no complex arrays) and nothing of the size the process
    claims is allocated: the harness refuses its dtype, as in process."""
    remote = _remote("complex_out:M", folder=Path(__file__).resolve().parent / "data" / "candidates")
    try:
        text = _failure(remote)
    finally:
        remote.close()
    assert "the candidate returns complex128 for float64 input" in text, text


def test_assert_equivalent_runs_a_named_candidate_in_its_own_process(tmp_path, monkeypatch):
    """``assert_equivalent("MODULE:ATTR", …)``: the candidate is imported in a process of its own, as with
    ``check --candidate``; the frames cheat that passes in process fails there; weights map by paths only."""
    from evosym.errors import EvosymError
    (tmp_path / "c_api.py").write_text(CHEATS["frames"] + CANDIDATE)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AssertionError, match="constant factor 1.001"):
        assert_equivalent("c_api:M", "avg_pool2d", sizes=dict(K_h=3, K_w=3, s_h=2, s_w=2, P_h=0, P_w=0))
    assert "c_api" not in sys.modules
    report = assert_equivalent("cheats:Renamed", "conv2d", sizes=SIZES, weights={"weight": "conv.kernel",
                                                                                 "bias": "shift"}) \
        if (DATA / "candidates").as_posix() in sys.path else None
    assert report is not None and len(report.trials) == 8
    with pytest.raises(EvosymError, match="attribute paths only"):
        assert_equivalent("cheats:Renamed", "conv2d", sizes=SIZES, weights=lambda m: {})


def test_a_candidate_may_compile_start_processes_and_use_shared_memory(tmp_path, monkeypatch, capsys):
    """What a legitimate candidate does under the containment: write the caches of torch.compile and its kin (its
    inductor cache was the checking process's folder, outside the scratch folder: NOT EQUIVALENT with a
    PermissionError, found by an adversarial pass), a multiprocessing pool with its semaphores in /dev/shm, a
    subprocess; a write elsewhere says why."""
    if not _contained():
        pytest.skip("this kernel gives no PID namespace or no Landlock (documented: a warning, nothing contained)")
    (tmp_path / "legit.py").write_text(
        "import multiprocessing, subprocess, sys, torch\n"
        "with multiprocessing.Pool(1) as pool:\n    assert pool.map(abs, [-1]) == [1]\n"
        "assert subprocess.run([sys.executable, '-c', 'print(1)'], capture_output=True).stdout.strip() == b'1'\n"
        "import os, tempfile\n"
        "for name in " + repr(sorted(CACHES)) + ":\n"   # (torch.compile writes its inductor cache there: ~20 s)
        "    os.makedirs(os.environ[name], exist_ok=True)\n"
        "    open(os.path.join(os.environ[name], 'written'), 'w').close()\n"
        "    assert os.path.realpath(os.environ[name]).startswith(os.path.realpath(tempfile.gettempdir()))\n"
        "class M(torch.nn.AvgPool2d):\n"
        "    def __init__(self):\n        super().__init__(3, 2)\n"
        "class Elsewhere(torch.nn.AvgPool2d):\n"
        "    def __init__(self):\n        super().__init__(3, 2)\n"
        "    def forward(self, x):\n        open('/var/tmp/evosym-candidate-elsewhere', 'w')\n"
        "        return super().forward(x)\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "check", "--candidate", "legit:M", "avg_pool2d", *POOL)
    assert code == 0 and out.startswith("EQUIVALENT"), (code, out, err)
    code, out, err = run_cli(capsys, "check", "--candidate", "legit:Elsewhere", "avg_pool2d", *POOL)
    assert code == 1 and "PermissionError" in out and "may write only beneath its TMPDIR" in out, (code, out, err)


def test_half_precisions_cross_the_process_boundary(tmp_path, monkeypatch):
    """Inputs in float16 and bfloat16 (the protocol carries float32, float64, int64, bool) travel as float64, exactly,
    and are cast back there: the same maximal differences as in process."""
    import torch
    (tmp_path / "half.py").write_text("import torch\ndef pool():\n    return torch.nn.AvgPool2d(3, 2)\n")
    monkeypatch.chdir(tmp_path)
    dtypes = (torch.float16, torch.bfloat16)
    remote = assert_equivalent("half:pool", "avg_pool2d", dtypes=dtypes, trials=2)
    local = assert_equivalent(torch.nn.AvgPool2d(3, 2), "avg_pool2d", dtypes=dtypes, trials=2)
    assert remote.trials == local.trials and {t[1] for t in remote.trials} == {"float16", "bfloat16"}


FALLBACK = """
import os, sys, time
import evosym.isolation.descendants as d
d._namespace = lambda lib: False          # a kernel that gives no PID namespace
read, write = os.pipe()
outer = os.fork()
if outer == 0:                            # the candidate's side: contained, then says who it is and sleeps
    os.close(write)
    missing = d.contain(sys.argv[1], read)
    print(f"{missing} {os.getpid()}", flush=True)
    time.sleep(60)
    os._exit(0)
os.close(read)
time.sleep(3)
os.close(write)                           # the check is over: its lifeline closes
time.sleep(1)
print("outer ended", os.waitpid(outer, os.WNOHANG)[0] == outer, flush=True)
"""


def test_without_a_pid_namespace_the_lifeline_still_ends_the_candidates_process(tmp_path):
    """Where the kernel gives no PID namespace the candidate's process is still forked from the one that waits
    outside, which kills it when the lifeline closes; what is missing is said ("namespace"). (The candidate's side
    no longer checks that its parent is the checking process, which it is not there: it exited at once.)"""
    r = subprocess.run([sys.executable, "-c", FALLBACK, str(tmp_path)], capture_output=True, text=True, timeout=60,
                       env=module_env())
    first, second = r.stdout.splitlines()[:2]
    missing, pid = first.rsplit(" ", 1)
    assert missing == "namespace" and second == "outer ended True", (r.stdout, r.stderr)
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()[0] == "Z"
