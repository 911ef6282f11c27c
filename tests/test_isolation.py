"""Operator files run in a child process: none can reach the checker, end `prove` with exit 0, or outlast
--time-limit (hole 10). Each hostile file in tests/data/hostile tries one way; all must fail cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_helpers import module_command, module_env, run_cli, run_module
from confined import landlock_only

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


def test_a_dead_files_last_output_is_on_the_errors_one_line(capsys):
    """The child's last lines of standard error close the one-line error, " | " between them (they were joined by
    newlines, which the command's one-line error printed as ``\\n``); an escape sequence stays escaped and a line
    that looks like a verdict starts no line of its own."""
    rc, out, err = run_cli(capsys, "prove", hostile("os_exit_after_printing.py"))
    assert rc == 1 and out == "", (rc, out, err)
    line = [l for l in err.splitlines() if l.startswith("evosym: proof failed: ")]
    assert len(line) == 1 and line[0].endswith(
        "exited with status 3 before handing back a derivation; its last output: first line of the file | "
        "PROVED  everything\\x1b[2K"), err
    assert "\\n" not in line[0] and not any(l.startswith("PROVED") for l in err.splitlines()), err
    _clean(err)


@pytest.mark.parametrize("name", ["ignores_alarm.py", "forks_sleeper.py"])
def test_the_time_limit_is_enforced_by_the_parent(tmp_path, name):
    """Ignoring SIGALRM/SIGTERM/SIGINT or trying to fork a sleeper does not outlast --time-limit: the child's
    process group is killed (a forked grandchild too, where the kernel has no seccomp to refuse the fork)."""
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
    printed = err.split("evosym: the operator file printed:\n", 1)[1].splitlines()   # each of its lines marked
    assert printed and all(line.startswith("  | ") for line in printed if '"derivation"' in line), err
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



def _correct_file(path, body: str = ""):
    """An operator file with a correct operator (the textbook conv1d) and ``body`` run at its import."""
    path.write_text("from evosym.selftest.operators.textbook_conv1d import OPERATOR, derive  # noqa: F401\n" + body)
    return path


ATTEMPTS = ("append", "truncate", "replace", "remove", "rename", "create", "mkdir", "symlink", "hardlink")


@landlock_only
def test_an_operator_file_cannot_write_what_the_checker_reads_later(tmp_path):
    """The confined child may not change any file or folder outside its scratch folder — one standing for evosym's
    sources (the parent imports some modules after the child has run, and every later run imports them all), one
    standing for the proof cache (an entry it could forge with a valid hash) — nor signal its parent or connect out;
    the correct operator in the same file is still proved, and what it printed reaches our standard error."""
    victim = tmp_path / "module.py"
    victim.write_text("ORIGINAL\n")
    folder = tmp_path / "cache"
    folder.mkdir()
    service = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)   # a service of the user's (tmux, D-Bus, docker)
    service.bind(str(tmp_path / "service.sock"))
    service.listen(1)
    service.settimeout(0)
    datagrams = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)   # a datagram service (syslog's /dev/log)
    datagrams.bind(str(tmp_path / "datagram.sock"))
    datagrams.settimeout(0)
    env = dict(module_env(), EVOSYM_TEST_VICTIM=str(victim), EVOSYM_TEST_FOLDER=str(folder),
               EVOSYM_TEST_SOCKET=str(tmp_path / "service.sock"), EVOSYM_TEST_DATAGRAM=str(tmp_path / "datagram.sock"))
    try:
        r = subprocess.run(module_command("prove", hostile("writes_outside.py"), "--summary"), cwd=tmp_path, env=env,
                           capture_output=True, text=True, encoding="utf-8", timeout=300)
        with pytest.raises(BlockingIOError):   # nobody connected
            service.accept()
        with pytest.raises(BlockingIOError):   # nothing was sent
            datagrams.recv(100)
    finally:
        service.close()
        datagrams.close()
    assert r.returncode == 0 and r.stdout.startswith("PROVED"), (r.returncode, r.stdout, r.stderr)
    for name in ATTEMPTS + ("signal-parent", "tcp-connect", "unix-connect", "udp-send", "datagram-pair", "io-uring",
                            "int-0x80-socket", "fork", "subprocess", "posix-spawn", "setsid-daemon", "fork-call",
                            "clone-call", "clone3-call", "int-0x80-fork", "clear-pdeathsig", "pdeathsig-by-credentials",
                            "execveat-call", "execve"):
        assert f"ATTEMPT {name}: denied" in r.stderr, (name, r.stderr)
    assert victim.read_text() == "ORIGINAL\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "datagram.sock", "module.py", "service.sock"]
    assert list(folder.iterdir()) == []
    assert "warning" not in r.stderr


@landlock_only
def test_the_file_starts_no_process_its_threads_run_and_its_scratch_folder_is_removed(tmp_path):
    """An operator file cannot start a process (a shell writing a file, here: each other way is an attempt of
    writes_outside.py), while threads (PyTorch's, its own) run; the child's scratch folder (its TMPDIR, the one place
    it may write) is gone after the run."""
    target = tmp_path / "written_by_a_subprocess"
    src = _correct_file(tmp_path / "spawns.py",
        "import os, subprocess, sys, tempfile, threading, torch\n"
        "try:\n"
        f"    subprocess.run(['sh', '-c', 'echo x > {target}'])\n"
        "    print('SHELL ran', file=sys.stderr)\n"
        "except PermissionError:\n"
        "    print('SHELL denied', file=sys.stderr)\n"
        "seen = []\n"
        "t = threading.Thread(target=lambda: seen.append(float(torch.ones(300, 300).sum())))\n"
        "t.start(); t.join()\n"
        "print('THREAD', seen, torch.get_num_threads(), file=sys.stderr)\n"
        "print('SCRATCH', tempfile.gettempdir(), file=sys.stderr)\n"
        "open(os.path.join(tempfile.gettempdir(), 'ok'), 'w').write('in the scratch folder')\n")
    r = run_module("prove", str(src), "--summary", cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    assert not target.exists() and "SHELL denied" in r.stderr, r.stderr
    assert "THREAD [90000.0]" in r.stderr, r.stderr
    scratch = r.stderr.split("SCRATCH ", 1)[1].split()[0]
    assert "evosym-worker-" in scratch and not os.path.exists(scratch)


def test_an_unconfined_child_is_warned_about_once(monkeypatch, capsys):
    """Where the kernel has no Landlock the child says so in its first line; the parent accepts it and warns once per
    process, naming what an unconfined file can reach."""
    from evosym.isolation import spawn
    monkeypatch.setattr(spawn, "_warned", False)
    for _ in range(2):
        spawn.check_ready(spawn.UNCONFINED.strip().encode(), None, None)
    err = capsys.readouterr().err
    assert err.count("warning") == 1 and "Landlock" in err and "proof cache" in err
    spawn.check_ready(spawn.READY.strip().encode(), None, None)
    assert capsys.readouterr().err == ""


def test_what_an_operator_file_prints_reaches_standard_error_escaped(tmp_path):
    """An operator file's prints are forwarded with their control characters escaped (a carriage return and erase
    sequences would otherwise overwrite the verdict on a terminal); newlines and tabs stay."""
    src = _correct_file(tmp_path / "prints.py", "import sys\n"
                        "print('one\\ttwo\\r\\x1b[2K\\x1b[1AFORGED \\u202e', file=sys.stderr)\n")
    r = run_module("prove", str(src), "--summary", cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "one\ttwo\\r\\x1b[2K\\x1b[1AFORGED \\u202e" in r.stderr, ascii(r.stderr)
    assert "\x1b" not in r.stderr and "\r" not in r.stderr


@landlock_only
@pytest.mark.skipif(sys.version_info < (3, 11), reason="python -P (the checking process's own path) is 3.11+")
def test_a_module_beside_the_operator_file_does_not_run_before_the_confinement(tmp_path):
    """`python -m` puts the current folder first on the import path: a json.py there ran in the worker before it
    confined itself (it imports json first), unconfined; PYTHONPATH=. would do the same. The worker starts with
    evosym's own folder there and no relative entry or the current folder anywhere on its path; a json.py beside the
    file, imported after the confinement, stays confined."""
    (tmp_path / "json.py").write_text(f"open({str(tmp_path / 'pwned')!r}, 'w').write('unconfined')\n"
                                      "raise SystemExit('a shadowing json.py was imported')\n")
    _correct_file(tmp_path / "op.py")
    # (the parent with -P: the json.py must not reach the checking process either, which `python -m` would allow)
    for path in (None, ".", str(tmp_path)):   # PYTHONPATH holding the current folder, relative or absolute
        env = dict(module_env(), **({"PYTHONPATH": path} if path else {}))
        r = subprocess.run([sys.executable, "-P", "-c", "import sys; sys.path[:] = [p for p in sys.path if p and p != "
                            f"{str(tmp_path)!r} and p != '.']; from evosym.cli.main import main; sys.exit(main())",
                            "prove", "op.py", "--summary"], cwd=tmp_path, env=env, capture_output=True, text=True,
                           encoding="utf-8", timeout=300)
        assert not (tmp_path / "pwned").exists(), (path, r.stderr)
        assert r.returncode == 0 and r.stdout.startswith("PROVED"), (path, r.returncode, r.stdout, r.stderr)


def test_no_command_imports_an_operator_file_in_its_own_process(tmp_path):
    """`info`, `codegen`, `check` and `bench` never import an operator file: it is derived in the confined child,
    which hands back its plain data, and its references run in a confined process of their own (a marker it writes
    when imported anywhere unconfined never appears); what it prints is passed on."""
    marker = tmp_path / "imported_unconfined"
    src = _correct_file(tmp_path / "marked.py", "try:\n"
                        f"    open({str(marker)!r}, 'w').write('x')\n"
                        "except OSError:\n"
                        "    pass\n")
    r = run_module("info", str(src), cwd=tmp_path, timeout=300)
    assert r.returncode == 0 and "proof: PROVED" in r.stdout, r.stderr
    if __import__("evosym.isolation.landlock", fromlist=["abi"]).abi():
        assert not marker.exists()
    out = tmp_path / "gen"
    out.mkdir()
    r = run_module("codegen", str(src), "--output", str(out), cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (out / "textbook_conv1d.py").is_file()
    r = run_module("check", str(src), cwd=tmp_path, timeout=300)
    assert r.returncode == 0 and r.stdout.startswith("PASSED"), (r.stdout, r.stderr)
    timed = tmp_path / "timed.py"   # a torch reference and benchmark sizes: bench times the reference in its process
    timed.write_text("import dataclasses\nfrom evosym.selftest.operators.locally_connected1d import OPERATOR as _O\n"
                     "OPERATOR = dataclasses.replace(_O, bench=dict(_O.grid[0]))\n"
                     f"try:\n    open({str(marker)!r}, 'w').write('x')\nexcept OSError:\n    pass\n")
    r = run_module("bench", str(timed), "--repeat", "3", cwd=tmp_path, timeout=300)
    assert r.returncode == 0 and "| locally_connected1d |" in r.stdout, (r.stdout, r.stderr)
    assert "timed in the operator file's confined process" in r.stdout
    if __import__("evosym.isolation.landlock", fromlist=["abi"]).abi():
        assert not marker.exists()


def test_an_operator_files_output_is_forwarded_up_to_a_bound(tmp_path):
    """What the file prints is read after its time limit stopped counting: the parent keeps its last megabyte (50 MiB
    of output took 8 s and 588 MB in the parent before), saying how much it left out."""
    src = _correct_file(tmp_path / "loud.py", "import os\n"
                        "for _ in range(3):\n"
                        "    os.write(2, b'A' * (1 << 20))\n"
                        "os.write(2, b'\\nTHE END\\n')\n")
    r = run_module("prove", str(src), "--summary", cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr[-500:]
    assert "evosym: the operator file printed (its first " in r.stderr and "bytes left out):" in r.stderr
    assert r.stderr.rstrip().endswith("  | THE END")
    assert len(r.stderr) < (1 << 20) + 4096


def test_a_reply_without_end_is_cut_at_the_bound(tmp_path, monkeypatch):
    """A reply is one line: a file that writes on the protocol's pipe without ever ending the line (after its own
    reply's start, or instead of it) is a failed derivation once the line passes MAX_LINE bytes, not a parent that
    reads until its memory is gone."""
    from evosym import catalogue
    from evosym.isolation import spawn
    monkeypatch.setattr(spawn, "MAX_LINE", 1 << 20)
    src = _correct_file(tmp_path / "endless.py", "import os\n"
                        "for fd in range(3, 64):\n"
                        "    try:\n"
                        "        os.write(fd, b'{' + b' ' * (3 << 20))\n"
                        "    except OSError:\n"
                        "        pass\n")
    with pytest.raises(spawn.DerivationFailed, match="a reply longer than 1 MiB"):
        list(catalogue.checked_apart([str(src)], 60))


def _sleeping_file(tmp_path, command, clears=False) -> Path:
    """An operator file whose process sleeps: at import for ``info`` (the derivation's child), in the reference for
    ``check`` (the references' child); ``clears``: after trying to clear its parent-death signal, by prctl or by a
    change of credentials (which clears it, for a file run as root)."""
    src = tmp_path / "sleeps.py"
    if command == "info":
        src.write_text("import ctypes, os, time\n"
                       "from evosym.selftest.operators.textbook_conv1d import OPERATOR, derive  # noqa: F401\n"
                       + {False: "", "prctl": "ctypes.CDLL(None).prctl(1, 0, 0, 0, 0)\n",   # as root: fsgid changed
                          "credentials": "ctypes.CDLL(None).setfsgid(65534)\nctypes.CDLL(None).setfsgid(os.getgid())\n"}[clears] +
                       "time.sleep(3600)\n")
    else:
        src.write_text("import dataclasses, os, sys, time\n"
                       "from evosym.selftest.operators.locally_connected1d import OPERATOR as _O\n"
                       "def ref(t, s):\n"
                       "    time.sleep(3600)\n"
                       "OPERATOR = dataclasses.replace(_O, name='lc_sleeps', torch_reference=ref)\n")
    return src


def _running_file(proc, command) -> int:
    """The pid of ``proc``'s operator-file process, once it runs the file (found by its parent and its mode)."""
    pid = None
    deadline = time.monotonic() + 120
    while pid is None and time.monotonic() < deadline:
        time.sleep(0.5)
        kids = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        for k in kids:
            try:   # (a child that ends between the listing and the read: the derivation's, before the references')
                cmd, env = Path(f"/proc/{k}/cmdline").read_bytes(), Path(f"/proc/{k}/environ").read_bytes()
            except OSError:
                continue
            wanted = b"EVOSYM_WORKER_MODE=" + (b"derive" if command == "info" else b"serve")
            if b"evosym.worker" in cmd and wanted in env:
                pid = int(k)
    assert pid is not None, "the file's process was not seen"
    settle = time.monotonic() + 20   # (where the kernel has no seccomp filter, 20 s)
    while time.monotonic() < settle and b"Seccomp:\t2" not in Path(f"/proc/{pid}/status").read_bytes():
        time.sleep(0.2)   # its filter installed: it has asked to die with its parent (just before), then runs the file
    time.sleep(2)
    return pid


def _gone(pid) -> None:
    for _ in range(50):
        if not Path(f"/proc/{pid}").exists() or b"State:\tZ" in Path(f"/proc/{pid}/status").read_bytes():
            return
        time.sleep(0.1)
    os.kill(pid, 9)
    pytest.fail(f"the file's process {pid} outlived the command")


@pytest.mark.parametrize("command, clears, signum", [("info", False, signal.SIGKILL), ("check", False, signal.SIGKILL),
                                                     ("info", "prctl", signal.SIGKILL), ("info", "prctl", signal.SIGQUIT),
                                                     ("info", "credentials", signal.SIGKILL)])
def test_the_operator_files_process_dies_with_the_command(tmp_path, command, clears, signum):
    """A command killed while the file's process runs (SIGKILL, which it cannot catch; SIGQUIT's default action)
    leaves no process behind: the child is killed with its parent (PR_SET_PDEATHSIG), the derivation's child and the
    references', even one whose file tried to clear that signal (an adversarial pass's worker outlived the command)."""
    src = _sleeping_file(tmp_path, command, clears)
    temp = tmp_path / "temp"
    temp.mkdir()   # (the scratch folder a SIGKILL leaves: in the test's folder)
    proc = subprocess.Popen(module_command(command, str(src)), cwd=tmp_path, env=dict(module_env(), TMPDIR=str(temp)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pid = _running_file(proc, command)
    proc.send_signal(signum)
    proc.wait()
    _gone(pid)


@pytest.mark.parametrize("command, signum", [("info", signal.SIGTERM), ("check", signal.SIGTERM),
                                             ("check", signal.SIGHUP)])
def test_a_command_stopped_by_sigterm_or_sighup_cleans_up_and_says_so(tmp_path, command, signum):
    """SIGTERM (a CI job's timeout) or SIGHUP (a closed terminal) while an operator file's process runs: the command
    ends that process, removes its scratch folders, says why in one line, and exits 128 + the signal."""
    src = _sleeping_file(tmp_path, command)
    temp = tmp_path / "temp"
    temp.mkdir()
    proc = subprocess.Popen(module_command(command, str(src)), cwd=tmp_path, env=dict(module_env(), TMPDIR=str(temp)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pid = _running_file(proc, command)
    assert [n for n in os.listdir(temp) if n.startswith("evosym-")], "the command has a scratch folder while the file runs"
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, (proc.returncode, err)
    assert f"evosym: stopped by {signal.Signals(signum).name}" in err
    _clean(err)
    _gone(pid)
    assert [n for n in os.listdir(temp) if n.startswith("evosym-")] == []


@pytest.mark.parametrize("how", ["derive", "import", "exit"])
def test_the_files_words_in_an_error_reach_the_terminal_escaped(tmp_path, how):
    """The message of an error the file raises (in derive, at import, or as sys.exit's text) is its own text: its
    escape sequences and direction overrides are printed as escapes, never acted on."""
    words = "boom \x1b[2J\x1b[32mPASSED (fake) \x1b]0;title\x07 \u202eabc \r"
    body = {"derive": "from evosym.selftest.operators.textbook_conv1d import OPERATOR  # noqa: F401\n"
                      f"def derive(d):\n    raise RuntimeError({words!r})\n",
            "import": f"raise RuntimeError({words!r})\n",
            "exit": f"import sys\nsys.exit({words!r})\n"}[how]
    src = tmp_path / "loud.py"
    src.write_text(body)
    for command in ("info", "prove"):
        r = run_module(command, str(src), cwd=tmp_path, timeout=300)
        assert r.returncode in (1, 2) and "boom" in r.stderr, (command, r.stderr)
        assert not any(ch in r.stderr for ch in "\x1b\x07\u202e\r"), ascii(r.stderr)
