"""Issue 28: never lose a user's file, never crash on the terminal.

* ``--output`` (and every file the CLI writes) replaces only regular files: pipes, devices, sockets and
  folders are refused even with ``--force``; symbolic links lead to the regular file they name (or are
  refused: loops, links to anything else); a file the command reads is never overwritten.
* A terminal that cannot encode Σ gets ASCII (``sum``), never ``UnicodeEncodeError``; files stay UTF-8.
* Mistakes of the user or the environment (a full device, a name too long, a link loop, out-of-range
  numbers) are one line and exit 2, never "internal error" (exit 3).
* ``codegen`` never writes over its own operator file, and names the module so that it does not collide.
* ``evosym rules`` and docs/rules.md describe every rule's arguments; progress only on a terminal.
"""

from __future__ import annotations

import dataclasses
import errno
import inspect
import io
import os
import socket
import stat
import subprocess
import unicodedata
import sys
from pathlib import Path

import pytest

from cli_helpers import one_line_error, run_cli, run_module
from evosym.cli.main import MAX_SECONDS, main
from evosym.cli.output import Progress, ascii_text, configure_terminal
from evosym.files import write_atomic
from evosym.targets import check_target
from evosym.errors import EvosymError, OutputExists
from evosym.proof.rules import RULES

ROOT = Path(__file__).resolve().parent.parent
OPERATORS = ROOT / "tests" / "data" / "operators"
LONG = "n" * 300   # longer than NAME_MAX (255) on every common file system


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def run_real(*argv, cwd, env=None, stdout=subprocess.PIPE, timeout=120):
    """``python -m evosym ARGV`` on this working tree (not an installed copy), bytes out."""
    full = dict(os.environ, PYTHONPATH=str(ROOT))
    full.pop("EVOSYM_DEBUG", None)
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "evosym", *argv], cwd=cwd, env=full, stdout=stdout,
                          stderr=subprocess.PIPE, timeout=timeout)


def assert_one_line(err: str, *words) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("evosym: error: ") and "internal error" not in err and "Traceback" not in err, err
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


# -- 1. what --output may replace ------------------------------------------------------------------------

def _fifo(path):
    os.mkfifo(path)


def _socket(path):
    cwd = os.getcwd()
    os.chdir(path.parent)   # AF_UNIX paths are short: bind the bare name
    try:
        s = socket.socket(socket.AF_UNIX)
        s.bind(path.name)
        s.close()
    finally:
        os.chdir(cwd)


def _chardev(path):
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))   # a /dev/null of our own, in tmp_path
    except PermissionError:
        pytest.skip("creating a device node needs root")


def _folder(path):
    path.mkdir()
    (path / "keep").write_text("x")


@pytest.mark.parametrize("make, words", [(_fifo, "named pipe"), (_socket, "socket"), (_chardev, "character device"),
                                         (_folder, "is a directory")])
@pytest.mark.parametrize("force", [False, True])
def test_only_regular_files_are_replaced(tmp_path, make, words, force):
    target = tmp_path / "out.txt"
    make(target)
    before = os.lstat(target)
    with pytest.raises(EvosymError, match=words) as info:
        write_atomic(target, "new", force=force)
    assert not isinstance(info.value, OutputExists)        # not "use --force": --force would not help
    after = os.lstat(target)
    assert stat.S_IFMT(after.st_mode) == stat.S_IFMT(before.st_mode) and after.st_ino == before.st_ino
    assert [p for p in listing(tmp_path) if p.endswith(".tmp")] == []


@pytest.mark.parametrize("make, words", [(_fifo, "named pipe"), (_chardev, "character device"),
                                         (_folder, "symbolic link to a directory")])
def test_a_link_to_a_non_regular_file_is_refused(tmp_path, make, words):
    thing = tmp_path / "thing"
    make(thing)
    link = tmp_path / "out.txt"
    link.symlink_to(thing)
    with pytest.raises(EvosymError, match=words):
        write_atomic(link, "new", force=True)
    assert link.is_symlink() and os.readlink(link) == str(thing)
    assert not stat.S_ISREG(os.stat(thing).st_mode)


def test_a_fifo_through_the_cli_with_force(capsys, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    line = one_line_error(*run_cli(capsys, "prove", "linear", "--summary", "--output", str(fifo), "--force"))
    assert "named pipe" in line and "not a regular file" in line
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.parametrize("hops", [1, 3])
def test_a_link_to_a_regular_file_writes_that_file(tmp_path, hops):
    real = tmp_path / "data" / "real.txt"
    real.parent.mkdir()
    real.write_text("old\n")
    real.chmod(0o640)
    link = real
    for k in range(hops):   # a chain of links, each relative
        nxt = tmp_path / f"link{k}"
        nxt.symlink_to(os.path.relpath(link, tmp_path))
        link = nxt
    with pytest.raises(OutputExists):
        write_atomic(link, "new\n")
    assert write_atomic(link, "new Σ\n", force=True) == link
    assert link.is_symlink() and real.read_text(encoding="utf-8") == "new Σ\n"
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert listing(real.parent) == ["real.txt"]


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("loop", ["self", "pair"])
def test_a_link_loop_is_a_clear_error(capsys, tmp_path, force, loop):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    if loop == "self":
        a.symlink_to("a.txt")
    else:
        a.symlink_to("b.txt")
        b.symlink_to("a.txt")
    argv = ["prove", "linear", "--summary", "--output", str(a)] + (["--force"] if force else [])
    line = one_line_error(*run_cli(capsys, *argv))
    assert "link" in line and "loop" in line and str(a) in line
    assert a.is_symlink() and listing(tmp_path) == sorted(["a.txt"] + (["b.txt"] if loop == "pair" else []))


def test_a_dangling_link_is_replaced_only_with_force(tmp_path):
    link = tmp_path / "out.txt"
    link.symlink_to("nowhere")
    with pytest.raises(OutputExists):
        write_atomic(link, "x")
    write_atomic(link, "x", force=True)
    assert not link.is_symlink() and link.read_text() == "x" and not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("option", ["--output", "--certificate"])
def test_a_name_too_long_is_a_user_error(capsys, tmp_path, option):
    line = one_line_error(*run_cli(capsys, "prove", "linear", option, str(tmp_path / LONG)))
    assert "File name too long" in line
    assert listing(tmp_path) == []


@pytest.mark.parametrize("argv", [("codegen", "linear", "--output"), ("prove", "linear", "--certificates"),
                                  ("docs", "--check", "--output")])
def test_a_folder_name_too_long_is_a_user_error(capsys, tmp_path, argv):
    rc, out, err = run_cli(capsys, *argv, str(tmp_path / LONG))
    assert rc == 2 and out == ""
    assert_one_line(err)


def test_a_too_long_operator_file_name_is_a_user_error(capsys, tmp_path):
    rc, out, err = run_cli(capsys, "prove", str(tmp_path / (LONG + ".py")))
    assert rc == 2, err
    assert_one_line(err)


# -- 4. inputs are never overwritten; generated names do not collide -----------------------------------------

@pytest.fixture
def own_operator(tmp_path):
    """An operator file named like its operator: shift1d.py defines shift1d."""
    src = tmp_path / "shift1d.py"
    src.write_bytes((OPERATORS / "shift1d.py").read_bytes())
    return src


def test_codegen_names_the_module_apart_from_its_operator_file(capsys, tmp_path, own_operator, monkeypatch):
    original = own_operator.read_bytes()
    monkeypatch.chdir(tmp_path)
    rc, out, err = run_cli(capsys, "codegen", "shift1d.py", "--output", ".")
    assert rc == 0, err
    assert "wrote shift1d_evolution.py" in err
    assert listing(tmp_path) == ["shift1d.py", "shift1d_evolution.py"]
    generated = (tmp_path / "shift1d_evolution.py").read_bytes()
    assert generated.startswith(b"# Generated by evosym") and own_operator.read_bytes() == original
    rc, out, err = run_cli(capsys, "codegen", "shift1d.py", "--output", ".")
    assert rc == 2 and "shift1d_evolution.py exists; use --force" in err
    rc, out, err = run_cli(capsys, "codegen", "shift1d.py", "--output", ".", "--force")
    assert rc == 0, err
    assert own_operator.read_bytes() == original and (tmp_path / "shift1d_evolution.py").read_bytes() == generated


def test_codegen_keeps_the_operator_name_for_other_file_names(capsys, tmp_path):
    src = tmp_path / "my_shift.py"
    src.write_bytes((OPERATORS / "shift1d.py").read_bytes())
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    rc, out, err = run_cli(capsys, "codegen", str(src), "--output", str(out_dir))
    assert rc == 0, err
    assert listing(out_dir) == ["shift1d.py"]


@pytest.mark.parametrize("link", ["symbolic", "hard"])
def test_codegen_never_overwrites_its_source_through_a_link(capsys, tmp_path, own_operator, link):
    original = own_operator.read_bytes()
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "shift1d_evolution.py"
    if link == "symbolic":
        target.symlink_to(own_operator)
    else:
        os.link(own_operator, target)
    line = one_line_error(*run_cli(capsys, "codegen", str(own_operator), "--output", str(out_dir), "--force"))
    assert "input of this command" in line and "even with --force" in line
    assert own_operator.read_bytes() == original and listing(out_dir) == ["shift1d_evolution.py"]


@pytest.mark.parametrize("how", ["same", "dot", "symbolic", "hard"])
@pytest.mark.parametrize("option", ["--output", "--certificate"])
def test_prove_never_overwrites_its_operator_file(capsys, tmp_path, own_operator, monkeypatch, how, option):
    original = own_operator.read_bytes()
    monkeypatch.chdir(tmp_path)
    target = {"same": "shift1d.py", "dot": "./sub/../shift1d.py", "symbolic": "link.py", "hard": "hard.py"}[how]
    (tmp_path / "sub").mkdir()
    if how == "symbolic":
        (tmp_path / "link.py").symlink_to("shift1d.py")
    if how == "hard":
        os.link("shift1d.py", "hard.py")
    line = one_line_error(*run_cli(capsys, "prove", "shift1d.py", option, target, "--force"))
    assert "input of this command" in line
    assert own_operator.read_bytes() == original


def test_catalogue_sources_are_inputs_too(tmp_path):
    """A catalogue operator's derivation module is an input: check_target refuses a link to it (never writes)."""
    from evosym.cli.commands import _input_files
    source, = _input_files(["linear"])
    assert Path(source).name == "linear.py" and Path(source).is_file()
    link = tmp_path / "linear.py"
    link.symlink_to(source)
    with pytest.raises(EvosymError, match="input of this command"):
        check_target(link, force=True, inputs=[source])
    check_target(tmp_path / "other.py", force=True, inputs=[source])   # anything else is fine


def test_output_and_certificate_cannot_be_one_file(capsys, tmp_path):
    target = tmp_path / "x.json"
    line = one_line_error(*run_cli(capsys, "prove", "linear", "-o", str(target), "--certificate", str(target)))
    assert "same file" in line


@pytest.mark.parametrize("operator", ["linear", str(OPERATORS / "box_sum1d.py")])
@pytest.mark.parametrize("option", ["--output", "--certificate"])
@pytest.mark.parametrize("force", [False, True])
def test_a_certificate_of_the_folder_is_not_the_output(capsys, tmp_path, operator, option, force):
    """``prove linear -o DIR/linear.json --certificates DIR``: the certificate's write replaced the proof (with --force;
    without it, the second write failed after the first: an adversarial pass). Refused before anything is written,
    for a catalogue operator and an operator file (whose name is known after its derivation), however spelled."""
    name = Path(operator).stem
    target = tmp_path / "." / f"{name}.json"
    line = one_line_error(*run_cli(capsys, "prove", operator, option, str(target), "--certificates", str(tmp_path),
                                   *(["--force"] if force else [])))
    assert f"{option} and --certificates name the same file" in line, line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("hops", [1, 2])
def test_a_link_to_standard_output_that_is_a_pipe_is_refused_and_kept(tmp_path, hops):
    """``-o /dev/stdout --force`` with standard output a pipe: /proc's magic link has no path, which was taken for a
    dangling link, and the link was replaced by a file — the output lost, /dev/stdout a regular file on the machine (an
    adversarial pass). Refused as a pipe; the link stays."""
    link = tmp_path / "out0"
    link.symlink_to("/proc/self/fd/1")
    for k in range(1, hops):
        (tmp_path / f"out{k}").symlink_to(tmp_path / f"out{k - 1}")
    shown = tmp_path / f"out{hops - 1}"   # (/dev/stdout itself is the same link: not risked on the test machine)
    r = run_module("prove", "linear", "--summary", "-o", str(shown), "--force", cwd=tmp_path, timeout=300)
    assert r.returncode == 2 and r.stdout == "" and "named pipe (FIFO)" in r.stderr, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert all(p.is_symlink() for p in tmp_path.iterdir()) and os.readlink(link) == "/proc/self/fd/1"


@pytest.mark.parametrize("where", ["evosym", "derivations", "templates"])
def test_evosym_s_own_code_is_never_an_output(capsys, tmp_path, bind, where):
    """A catalogue derivation's helper module (``derivations/_conv.py``, which conv1d imports) was overwritten by
    ``prove conv1d -o …/_conv.py --force``: the record of what an operator file imported leaves evosym's own files
    out (an adversarial pass). Nothing in evosym's package, derivations or templates is written, new or existing.
    The folder is mounted read only over itself first (the same files, the same identities), so that a regression
    fails to write instead of replacing evosym's files; where this process may not mount, the check alone is asked
    (no write is tried)."""
    import importlib
    import evosym
    evosym.attach_source_packages()   # (a source checkout's derivations/ and codegen/templates/, as the catalogue does)
    folder = Path(evosym.__file__).parent if where == "evosym" else Path(
        importlib.import_module(f"evosym.{where}").__path__[0])
    existing = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".py", ".j2"))[0]
    before = existing.read_bytes()
    try:
        bind(folder, folder, read_only=True)
    except pytest.skip.Exception:
        for target in (existing, folder / "evosym_test_output.txt"):
            with pytest.raises(EvosymError, match="is part of evosym's own code"):
                check_target(target, force=True)
        return
    for target in (existing, folder / "evosym_test_output.txt"):
        line = one_line_error(*run_cli(capsys, "prove", "linear", "--summary", "-o", str(target), "--force"))
        # (an existing file that an operator file of this process imported is refused as that first)
        assert "is part of evosym's own code" in line or (
            target == existing and "a module an operator file of this command imported" in line), line
    assert existing.read_bytes() == before and not (folder / "evosym_test_output.txt").exists()


# -- 3. numbers and the environment --------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ("prove", "linear", "--time-limit", "1e308"),
    ("prove", "linear", "--time-limit", "1e400"),
    ("prove", "linear", "--time-limit", "inf"),
    ("prove", "linear", "--time-limit", "-inf"),
    ("prove", "linear", "--time-limit", "nan"),
    ("prove", "linear", "--time-limit", "-1"),
    ("prove", "linear", "--time-limit", "-0.001"),
    ("prove", "linear", "--time-limit", str(MAX_SECONDS + 1)),
    ("prove", "linear", "--time-limit", ""),
    ("verify", "x.json", "--time-limit", "1e308"),
    ("verify", "x.json", "--time-limit", "nan"),
    ("check", "linear", "--seed", "-1"),
    ("check", "linear", "--seed", str(2**32)),
    ("check", "linear", "--seed", "1e3"),
    ("check", "linear", "--seed", "x"),
    ("check", "linear", "--candidate", "m:a", "--seed", "-5"),
    ("bench", "linear", "--repeat", "x"),
    ("bench", "linear", "--repeat", "-1"),
    ("prove", "linear", "--format", "html"),
])
def test_bad_numbers_are_one_line_usage_errors(capsys, argv):
    rc, out, err = run_cli(capsys, *argv)
    assert rc == 2 and out == "", err
    assert_one_line(err)


def test_largest_time_limit_and_seed_are_accepted(capsys):
    from evosym.cli.main import build_parser
    args = build_parser().parse_args(["prove", "linear", "--time-limit", str(MAX_SECONDS)])
    assert args.time_limit == MAX_SECONDS
    assert build_parser().parse_args(["check", "linear", "--seed", str(2**32 - 1)]).seed == 2**32 - 1
    rc, out, err = run_cli(capsys, "prove", "linear", "--summary", "--time-limit", str(MAX_SECONDS))
    assert rc == 0, err


class _Full(io.TextIOBase):
    """A standard output on a full device."""

    encoding = "utf-8"

    def write(self, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    def flush(self):
        pass


def test_standard_output_on_a_full_device_in_process(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdout", _Full())
    rc = main(["list"])
    assert rc == 2
    assert_one_line(capsys.readouterr().err, "cannot write standard output", "No space left on device")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
@pytest.mark.parametrize("argv", [("list",), ("rules",), ("prove", "linear"), ("--help",), ("--version",),
                                  ("prove", "--help")])
def test_standard_output_on_dev_full(tmp_path, argv):
    """Help and version text too (argparse drops its own write errors: the parser writes them itself)."""
    with open("/dev/full", "wb") as full:
        r = run_real(*argv, cwd=tmp_path, stdout=full)
    err = r.stderr.decode("utf-8")
    assert r.returncode == 2, err
    assert_one_line(err, "cannot write standard output")
    assert "Exception ignored" not in err


# -- 2. terminals that are not UTF-8 -------------------------------------------------------------------

def test_ascii_transliteration():
    assert ascii_text("y = Σ_c Σ_{q∈Ω(p)} K·v") == "y = sum_c sum_{q in Omega(p)} K*v"
    assert ascii_text("0 ≤ u ≤ K − 1, 3×3, θ(α) → ∞, ⌊c/C_g⌋") == "0 <= u <= K - 1, 3x3, theta(alpha) -> inf, floor(c/C_g)"
    assert ascii_text("δ β Δ λ ✓ ✗ …") == "delta beta Delta lambda ok X ..."
    assert ascii_text("i₁ a² café K̂") == "i1 a^2 cafe K"
    assert ascii_text("☃ 中") == "? ?"
    assert ascii_text("plain ASCII stays") == "plain ASCII stays"
    assert ascii_text("☃").isascii() and "\\N" not in ascii_text("☃")


@pytest.mark.parametrize("encoding", ["ascii", "latin-1", "cp1252"])
def test_configure_terminal_degrades_instead_of_raising(encoding):
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding=encoding, errors="strict")
    configure_terminal([stream])
    stream.write("Σ_c K·v ≤ θ ☃\n")
    stream.flush()
    text = raw.getvalue().decode(encoding)
    assert text.startswith("sum_c K") and "<= theta ?" in text


def test_configure_terminal_leaves_utf8_alone():
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    configure_terminal([stream])
    assert stream.errors == "strict"


@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "latin-1"}, {"PYTHONIOENCODING": "ascii"},
                                 {"LC_ALL": "POSIX", "LANG": "", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""}],
                         ids=["latin-1", "ascii", "posix"])
def test_printing_commands_on_a_non_utf8_terminal(tmp_path, env):
    encoding = "latin-1" if env.get("PYTHONIOENCODING") == "latin-1" else "ascii"
    for argv in (("list",), ("rules", "introduce-delta"), ("prove", "linear"), ("--help",)):
        r = run_real(*argv, cwd=tmp_path, env=env)
        assert r.returncode == 0, r.stderr.decode("utf-8", "replace")
        text = r.stdout.decode(encoding)   # every byte is valid in the terminal's encoding
        assert r.stderr == b"" or b"internal error" not in r.stderr
        assert "sum" in text or argv == ("list",)
    r = run_real("prove", "linear", "--time-limit", "-1", cwd=tmp_path, env=env)   # an error message with '≥'
    assert r.returncode == 2
    assert_one_line(r.stderr.decode(encoding), ">= 0")


def test_output_files_stay_utf8_on_an_ascii_terminal(tmp_path):
    r = run_real("prove", "linear", "-o", "proof.txt", cwd=tmp_path, env={"PYTHONIOENCODING": "ascii"})
    assert r.returncode == 0, r.stderr
    assert "Σ" in (tmp_path / "proof.txt").read_text(encoding="utf-8")


# -- 5. rule arguments -----------------------------------------------------------------------------------

def test_every_rule_argument_is_described():
    for name, rule in RULES.items():
        params = [p.name for p in inspect.signature(type(rule).apply).parameters.values()
                  if p.kind is inspect.Parameter.KEYWORD_ONLY]
        assert list(rule.argument_docs) == params, name
        for arg, (kind, what) in rule.argument_docs.items():
            assert kind and len(what) > 10, (name, arg)


def test_window_axis_fields_are_described():
    from evosym.docgen.rules_page import WINDOW_AXIS, window_axis_fields
    from evosym.ir.neighbourhood import WindowAxis
    assert [f.name for f in dataclasses.fields(WindowAxis)] == list(WINDOW_AXIS)
    assert [f for f, _, _ in window_axis_fields()] == list(WINDOW_AXIS)


def test_rules_lists_compact_arguments(capsys):
    rc, out, err = run_cli(capsys, "rules")
    assert rc == 0 and err == ""
    assert [line for line in out.splitlines() if line and not line.startswith(" ")] == sorted(RULES)
    assert out.count("  arguments: ") == len(RULES)
    assert "  arguments: targets (list of (e, m, lo, hi)), within (Symbol, optional)" in out
    assert "inclusive" in out and "evosym rules conclude" in out


def test_rules_name_describes_each_argument(capsys):
    rc, out, err = run_cli(capsys, "rules", "introduce-delta")
    assert rc == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "introduce-delta"
    assert "    targets (list of (e, m, lo, hi))" in lines and "    within (Symbol, optional)" in lines
    assert "inclusive bounds lo ≤ m ≤ hi" in " ".join(line.strip() for line in lines)
    for name in RULES:
        rc, out, err = run_cli(capsys, "rules", name)
        assert rc == 0 and out.startswith(name + "\n")
        for arg in RULES[name].argument_docs:
            assert f"    {arg} (" in out, (name, arg)


def test_rules_conclude_describes_window_axis(capsys):
    rc, out, err = run_cli(capsys, "rules", "conclude")
    assert rc == 0
    fields = [line.split()[0] for line in out.splitlines() if line.startswith("    ") and not line.startswith("     ")]
    assert fields == ["kernel", "stride", "dilation", "padding", "length", "wrap", "clamp", "tiled"]
    assert "Global" in out and "IndexSet" in out


def test_unknown_rule_is_one_line(capsys):
    line = one_line_error(*run_cli(capsys, "rules", "introduce-detla"))
    assert "did you mean introduce-delta" in line


def test_rules_page_documents_arguments_and_conclusion():
    from evosym.docgen.rules_page import rules_page
    page = rules_page([])
    assert "- `within` (Symbol, optional): " in page and "- `targets` (list of (e, m, lo, hi)): " in page
    assert "## Concluding a derivation" in page and "- `padding` (expression): " in page
    assert "both bounds inclusive" in page
    committed = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    for line in page.splitlines():   # the committed page has the same argument lines (docs --check: all of it)
        if line.startswith("- `"):
            assert line in committed, line


# -- 6. progress -----------------------------------------------------------------------------------------

class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_only_on_a_terminal():
    tty, pipe = _Tty(), io.StringIO()
    for stream in (tty, pipe):
        p = Progress(3, stream)
        p.show("deriving a")
        p.step("proved a")
        p.step("proved bb")
        p.done()
    assert pipe.getvalue() == ""
    text = tty.getvalue()
    assert "\r[0/3] deriving a" in text and "\r[1/3] proved a" in text and "\r[2/3] proved bb" in text
    assert text.endswith("\r")
    assert Progress(1, _Tty()).on is False   # one operator: nothing to count


def test_prove_all_shows_progress_on_a_terminal_only(capsys, monkeypatch):
    from evosym import catalogue
    monkeypatch.setattr(catalogue, "catalogue_names", lambda: ["linear", "pointwise_conv2d"])
    rc, out, err = run_cli(capsys, "prove", "--all", "--summary")
    assert rc == 0 and err == "" and len(out.splitlines()) == 2
    tty = _Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    assert main(["prove", "--all", "--summary"]) == 0
    text = tty.getvalue()
    assert "[1/2] proved linear" in text and "[2/2] proved pointwise_conv2d" in text and text.endswith("\r")
    assert "[" not in capsys.readouterr().out


def _pool_file(tmp_path):
    src = tmp_path / "op.py"
    src.write_text((Path(__file__).resolve().parent.parent / "docs" / "examples" / "my_avg_pool1d.py").read_text())
    return src


def test_check_junit_never_overwrites_what_the_command_reads(tmp_path):
    """--junit onto the operator file checked (as given, through a symlink, with a .. component) or onto the
    candidate's own source: refused before any work, even with --force, the file unchanged (an adversarial pass
    found the operator file replaced by the JUnit XML, exit 0)."""
    src = _pool_file(tmp_path)
    before = src.read_text()
    (tmp_path / "link.py").symlink_to("op.py")
    (tmp_path / "sub").mkdir()
    for argv in (("check", "op.py", "--junit", "op.py", "--force"), ("check", "link.py", "--junit", "op.py", "--force"),
                 ("check", "op.py", "--junit", "sub/../op.py", "--force")):
        r = run_module(*argv, cwd=tmp_path, timeout=300)
        assert r.returncode == 2 and "is an input of this command" in r.stderr, (argv, r.returncode, r.stderr)
        assert src.read_text() == before
    cand = tmp_path / "cand.py"
    cand.write_text("import torch.nn as nn\npool = nn.AvgPool2d(3, 2, 1)\n")
    r = run_module("check", "--candidate", "cand:pool", "avg_pool2d", "--junit", "cand.py", "--force", cwd=tmp_path,
                   timeout=300)
    assert r.returncode == 2 and "is an input of this command" in r.stderr and "nn.AvgPool2d" in cand.read_text()


@pytest.mark.parametrize("line", ["import helper  # noqa", "from helper import NOTE  # noqa",
                                  "from pkg import helper  # noqa", "from pkg.helper import NOTE  # noqa",
                                  "from . import helper  # noqa"])
def test_check_junit_never_overwrites_a_module_the_candidate_imports(tmp_path, line):
    """--junit onto a module the candidate's module imports: the failing placeholder, written before the candidate is
    imported, replaced it (the candidate then failed to import, with a SyntaxError in the user's helper). The
    candidate's own imports are found from its text, without running it."""
    relative = line.startswith("from .")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    helper = tmp_path / ("pkg" if "pkg" in line or relative else ".") / "helper.py"
    helper.write_text("NOTE = 'mine'\n")
    cand = tmp_path / ("pkg" if relative else ".") / "cand.py"
    cand.write_text(f"{line}\nimport torch.nn as nn\npool = nn.AvgPool2d(3, 2, 1)\n")
    r = run_module("check", "--candidate", "pkg.cand:pool" if relative else "cand:pool", "avg_pool2d", *SIZES, "--junit",
                   str(helper.relative_to(tmp_path)), "--force", cwd=tmp_path, timeout=300)
    assert r.returncode == 2 and "is an input of this command" in r.stderr, (r.returncode, r.stderr)
    assert helper.read_text() == "NOTE = 'mine'\n"


SIZES = ("--size", "K_h=3", "--size", "K_w=3", "--size", "s_h=2", "--size", "s_w=2", "--size", "P_h=1", "--size", "P_w=1")


@pytest.mark.parametrize("body, rc, words", [
    ("import sys\nsys.exit(0)\n", 2, "cannot import cand: SystemExit: sys.exit(0) was called"),
    ("raise RuntimeError('import boom')\n", 2, "cannot import cand: RuntimeError: import boom"),
    ("def (\n", 2, "cannot import cand: SyntaxError"),
    ("def x():\n    raise SystemExit(0)\n", 2, "calling cand:x raised SystemExit: sys.exit(0) was called"),
    ("def x():\n    raise RuntimeError('boom')\n", 2, "calling cand:x raised RuntimeError: boom"),
    ("import torch\nclass M(torch.nn.Module):\n    def forward(self, x):\n        raise SystemExit(0)\nx = M()\n", 1,
     "the candidate raised SystemExit: sys.exit(0) was called"),
], ids=["exit-at-import", "error-at-import", "syntax", "exit-in-factory", "error-in-factory", "exit-in-forward"])
def test_a_candidate_that_exits_or_raises_never_passes(tmp_path, monkeypatch, capsys, body, rc, words):
    """The candidate is the user's code: a sys.exit (at import, in its factory or its forward) ended the check with
    status 0 and no verdict, and an error at import was an internal error (exit 3). Now: exit 2 naming the error,
    or 1 with NOT EQUIVALENT; the JUnit file is a failure."""
    (tmp_path / "cand.py").write_text(body)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "cand", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    code, out, err = run_cli(capsys, "check", "--candidate", "cand:x", "avg_pool2d", *SIZES, "--junit", "j.xml")
    monkeypatch.delitem(sys.modules, "cand", raising=False)
    assert code == rc and words in (out + err), (code, out, err)
    junit = tmp_path / "j.xml"
    assert 'failures="1"' in junit.read_text() if rc == 1 else not junit.exists() or 'failures="1"' in junit.read_text()


FORWARD = "import torch\nclass M(torch.nn.Module):\n    def forward(self, x):\n        {}\nx = M()\n"


@pytest.mark.parametrize("body, rc, words", [
    ("import os\nos._exit(0)\n", 2, "cannot load cand:x: the candidate's process: it exited with status 0"),
    ("def x():\n    import os\n    os._exit(0)\n", 2, "cannot load cand:x: the candidate's process: it exited with "
     "status 0"),
    (FORWARD.format("import os; os._exit(0)"), 1, "the candidate raised CandidateGone: the candidate's process: it "
     "exited with status 0"),
    (FORWARD.format("import ctypes; ctypes.string_at(0)"), 1, "the candidate raised CandidateGone: the candidate's "
     "process: it was killed by SIGSEGV"),
], ids=["at-import", "in-factory", "in-forward", "crashed-in-forward"])
def test_a_candidate_that_ends_its_process_never_passes(tmp_path, monkeypatch, capsys, body, rc, words):
    """os._exit(0) in the candidate ended the checking process with status 0 before any verdict, when the candidate
    ran in it (the JUnit file written first said no verdict). The candidate now runs in a process of its own: its end
    is the check's failure, exit 2 where it could not be loaded, NOT EQUIVALENT (exit 1) in its forward; the JUnit
    file says failure either way."""
    (tmp_path / "cand.py").write_text(body)
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "check", "--candidate", "cand:x", "avg_pool2d", *SIZES, "--junit", "j.xml")
    assert code == rc and words in (out + err), (code, out, err)
    assert 'failures="1"' in (tmp_path / "j.xml").read_text()
    assert "cand" not in sys.modules


def test_standard_output_cut_short_by_a_file_size_limit_is_an_error(tmp_path):
    """A file-size limit (or a full disk) cuts a write to standard output short: Python's buffered writer dropped the
    rest without an error, leaving a truncated JSON document and exit 0. Now exit 2 with the reason."""
    import resource
    from cli_helpers import module_command, module_env
    out = tmp_path / "out.json"

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
    with open(out, "wb") as fh:
        r = subprocess.run(module_command("prove", "conv2d", "--format", "json"), stdout=fh, stderr=subprocess.PIPE,
                           text=True, cwd=tmp_path, env=module_env(), preexec_fn=limit, timeout=300)
    assert r.returncode == 2 and "cannot write standard output: File too large" in r.stderr, (r.returncode, r.stderr)
    assert out.stat().st_size == 4096


@pytest.mark.parametrize("field, text", [("summary", "pool\ud800ing"), ("description", "in\udcffput")])
def test_an_operator_files_lone_surrogate_is_refused_not_printed(tmp_path, field, text):
    """A lone surrogate in an operator file's text (a summary, a tensor's description) was an internal error
    (UnicodeEncodeError) or printed as a raw byte no UTF-8 reader takes: refused with exit 2, shown escaped."""
    src = _pool_file(tmp_path)
    body = src.read_text()
    old = ('summary="1-D average pooling, kernel K, stride s, no padding"' if field == "summary"
           else '"input signal"')
    assert old in body
    src.write_text(body.replace(old, f"summary={text!r}" if field == "summary" else repr(text)))
    for argv in (("prove", "op.py"), ("prove", "op.py", "--format", "markdown", "-o", "p.md")):
        r = run_module(*argv, cwd=tmp_path, timeout=300)
        assert r.returncode == 2 and "holds the control character" in r.stderr and "internal error" not in r.stderr, \
            (argv, r.returncode, r.stderr)
    assert not (tmp_path / "p.md").exists()


def test_junit_paths_are_fixed_before_the_candidate_runs(tmp_path):
    """A candidate that changes the working folder at import made '--junit ../op.py' (another file when given) the
    operator file at write time: every path is made absolute first. A candidate package found by a meta-path finder
    (an editable install) is protected like one on the path."""
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    src = _pool_file(work)   # the operator file, work/op.py; ../op.py from work is another file
    before = src.read_text()
    (tmp_path / "op.py").write_text("mine")
    (work / "cand.py").write_text("import os\nos.chdir('sub')\nimport torch.nn as nn\npool = nn.AvgPool1d(3, 2)\n")
    r = run_module("check", "--candidate", "cand:pool", "op.py", "--size", "K=3", "--size", "s=2", "--junit", "../op.py",
                   "--force", cwd=work, timeout=300)
    assert r.returncode == 0 and src.read_text() == before, (r.returncode, r.stdout, r.stderr)
    assert "testsuite" in (tmp_path / "op.py").read_text()   # the file named, as it was named before the chdir
    pkg = tmp_path / "src" / "edpkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("import torch.nn as nn\npool = nn.AvgPool2d(3, 2, 1)\n")
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import importlib.abc, importlib.util, sys\n"
        "class F(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        return importlib.util.spec_from_file_location(name, {str(pkg / '__init__.py')!r}, "
        f"submodule_search_locations=[{str(pkg)!r}]) if name == 'edpkg' else None\n"
        "sys.meta_path.append(F())\n")
    from cli_helpers import module_command, module_env
    env = dict(module_env(), PYTHONPATH=str(site))
    r = subprocess.run(module_command("check", "--candidate", "edpkg:pool", "avg_pool2d", *SIZES, "--junit",
                                      str(pkg / "__init__.py"), "--force"), cwd=work, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 2 and "is an input of this command" in r.stderr, r.stderr
    assert "AvgPool2d" in (pkg / "__init__.py").read_text()


@pytest.mark.parametrize("argv, where", [
    (["prove", "linear", "--certificate", "{dir}/a\x1b[2K\rPROVED\x07.json"], "wrote"),   # a written file's name
    (["prove", "linear", "-o", "{dir}/no\x1b]0;title\x07/b.md"], "error"),               # an error naming a path
    (["codegen", "linear", "--output", "{dir}/c\x9b1A"], "error"),                           # a C1 control
    (["prove", "{dir}/\x1b[31mred.py"], "error"),                                            # an operator file's path
    (["prove", "linear", "\x1b[2Jextra"], "error"),                                          # argparse's own message
])
def test_paths_reach_the_terminal_escaped(capsys, tmp_path, argv, where):
    """A path or name the user gave is printed with its control characters as escapes, never raw: a terminal would
    act on them (erase the line, retitle the window, print a forged verdict). Tried with the written file's name, and
    in errors naming a missing folder, a missing output folder (a C1 control) and an operator file's path."""
    argv = [a.replace("{dir}", str(tmp_path)) for a in argv]
    try:
        rc = main(argv)
    except SystemExit as stop:   # a usage error: argparse's own exit
        rc = stop.code
    err = capsys.readouterr().err
    assert not any(ch in err for ch in "\x1b\x07\x9b\r"), repr(err)
    assert "\\x1b" in err or "\\x9b" in err, repr(err)
    assert (rc == 0 and err.startswith("wrote ")) if where == "wrote" else (rc == 2 and "error" in err), (rc, err)


@pytest.mark.parametrize("argv", [
    ["check", "linear", "--candidate", ""],      # would check the catalogue's own module and say PASSED
    ["prove", "linear", "-o", ""],               # would print to standard output where a file was asked for
    ["prove", "linear", "--certificate", ""], ["prove", "--all", "--certificates", ""],
    ["codegen", "linear", "--output", ""], ["check", "linear", "--junit", ""], ["docs", "--output", ""],
    ["prove", ""], ["codegen", ""], ["check", ""], ["bench", ""], ["rules", ""], ["verify", ""],
])
def test_an_empty_string_is_no_argument_given(capsys, argv):
    """An empty string (an unset shell variable, "$CANDIDATE") names nothing: a usage error naming the argument,
    never taken as "not given"."""
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "an empty string names no" in err, err


def test_the_command_shows_evosym_warnings_as_one_line(capsys, monkeypatch):
    """The kernel cache's fallback warning (EVOSYM_CACHE unusable) and evosym's other warnings are one line,
    'evosym: warning: …', escaped; another library's keep Python's form."""
    from evosym.cli import main as cli
    from evosym.runtime.cache import KernelCacheWarning
    cli._show_warning(KernelCacheWarning("evosym: the kernel cache /x\x1b[2K cannot be used"), KernelCacheWarning,
                      "/anywhere/artifact.py", 120)
    cli._show_warning(UserWarning("linear: generated CPU kernels unavailable"), UserWarning,
                      os.path.join(cli._PACKAGE, "runtime", "api.py"), 41)
    passed_on = []
    monkeypatch.setattr(cli, "_PYTHON_SHOW", lambda *args: passed_on.append(args))
    cli._show_warning(UserWarning("a library's own"), UserWarning, "/site-packages/torch/x.py", 7)
    err = capsys.readouterr().err.splitlines()
    assert err == ["evosym: warning: the kernel cache /x\\x1b[2K cannot be used",
                   "evosym: warning: linear: generated CPU kernels unavailable"], err
    assert len(passed_on) == 1 and passed_on[0][2:4] == ("/site-packages/torch/x.py", 7)


def test_the_console_entry_point_installs_it(capsys, monkeypatch):
    """run() (the ``evosym`` script and ``python -m evosym``) shows a warning raised during the command so."""
    import warnings
    from evosym.cli import main as cli
    from evosym.runtime.cache import KernelCacheWarning
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)   # restored after the test

    def command():
        warnings.warn("evosym: the kernel cache /x cannot be used", KernelCacheWarning)
        return 0
    monkeypatch.setattr(cli, "main", command)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        with pytest.raises(SystemExit) as stop:
            cli.run()
    assert stop.value.code == 0
    assert capsys.readouterr().err == "evosym: warning: the kernel cache /x cannot be used\n"


FORGED = "evosym: all 1 proofs checked"


@pytest.mark.parametrize("argv", [
    ["prove", "linear", "-o", "{dir}/nodir\n" + FORGED + "/x"],                 # an error naming the path
    ["prove", "linear", "x\n" + FORGED],                                         # argparse's unrecognised argument
    ["codegen", "linear", "--output", "{dir}/no\n" + FORGED],
    ["check", "linear", "--junit", "{dir}/nodir\n" + FORGED + "/j.xml"],
    ["bench", "linear", "--size", "B\n" + FORGED + "=3"],
])
def test_a_newline_in_an_argument_prints_no_line_of_its_own(capsys, tmp_path, argv):
    """A user's newline would print a line that looks like evosym's (a forged verdict): every line about it is one
    line, the newline shown as an escape."""
    rc, out, err = run_cli(capsys, *[a.replace("{dir}", str(tmp_path)) for a in argv])
    assert rc == 2 and not any(line.startswith(FORGED) for line in (out + err).splitlines()), (out, err)
    assert "\\n" in err, err


@pytest.mark.parametrize("attr, body, words", [
    ("g\x1b[31m\nEQUIVALENT  x", "import torch\nglobals()['g\\x1b[31m\\nEQUIVALENT  x'] = torch.nn.Identity\n", None),
    ("x", "def x():\n    def f(*a, **k):\n        raise RuntimeError('oops\\x1b[2K\\rEQUIVALENT  all good\\u202e\\nEQUIVALENT  y')\n"
          "    return f\n", "the candidate raised RuntimeError"),
])
def test_a_candidates_name_and_errors_reach_the_terminal_escaped(tmp_path, monkeypatch, capsys, attr, body, words):
    """The verdict line names the candidate and quotes its exception: both escaped, newlines too (a forged
    EQUIVALENT line on a terminal)."""
    (tmp_path / "cand.py").write_text(body)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "cand", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    rc, out, err = run_cli(capsys, "check", "--candidate", f"cand:{attr}", "avg_pool2d", *SIZES)
    monkeypatch.delitem(sys.modules, "cand", raising=False)
    assert rc == 1 and out.startswith("NOT EQUIVALENT  cand:"), (rc, out, err)
    assert not any(line.startswith("EQUIVALENT") for line in out.splitlines()), out
    assert not any(unicodedata.category(ch) in ("Cc", "Cf") for ch in out.replace("\n", "")), ascii(out)
    if words:
        assert words in out, out


@pytest.mark.parametrize("value", ["²", "--3", "1_0", "٣"])
def test_sizes_are_ascii_integers(capsys, value):
    rc, out, err = run_cli(capsys, "bench", "linear", "--size", f"B={value}")
    assert rc == 2 and err.startswith("evosym: error: --size takes NAME=INTEGER"), (rc, err)


@pytest.mark.parametrize("argv", [(), ("list",), ("prove", "linear")])
def test_a_closed_standard_output_is_an_error_not_a_traceback(tmp_path, argv):
    full = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "evosym", *argv], cwd=tmp_path, env=full, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=120, pass_fds=(), close_fds=True,
                       preexec_fn=lambda: os.close(1))
    assert r.returncode == 2, r.stderr
    assert_one_line(r.stderr.decode(), "cannot write standard output")


HELPER_IMPORTS = {   # how the operator file reads helper.py (sub/helper.py where "sub"): every way reports the file
    "top": "import helper\n",
    "from": "from helper import NOTE  # noqa\n",
    "importlib": "__import__('importlib').import_module('helper')\n",
    "transitive": "import other  # noqa\n",   # other.py imports helper
    "package": "from sub import helper\n",
    "spec": ("import importlib.util as _u, os as _o\n_s = _u.spec_from_file_location('h', _o.path.join(_o.path.dirname("
             "_o.path.abspath(__file__)), 'helper.py'))\n_s.loader.exec_module(_u.module_from_spec(_s))\n"),
    "runpy": "import runpy as _r, os as _o\n_r.run_path(_o.path.join(_o.path.dirname(_o.path.abspath(__file__)), 'helper.py'))\n",
    "forgotten": "import helper\nimport sys as _y\ndel _y.modules['helper']\n",   # (not in sys.modules any more)
    "relative runpy": "import runpy as _r, os as _o\n_o.chdir(_o.path.dirname(_o.path.abspath(__file__)))\n_r.run_path('helper.py')\n",
    "exec of its text": "import os as _o\nexec(open(_o.path.join(_o.path.dirname(_o.path.abspath(__file__)), 'helper.py')).read())\n",
    "compiled": ("import os as _o, types as _t\n_p = _o.path.join(_o.path.dirname(_o.path.abspath(__file__)), 'helper.py')\n"
                 "_t.FunctionType(compile(open(_p).read(), _p, 'exec'), {})()\n"),   # (no exec event: a compile one)
    "syntax error": "try:\n    import helper  # noqa\nexcept SyntaxError:\n    pass\n",   # helper.py half-edited
}


def _helper_op(tmp_path, top="import helper\n", name="helper", derive="", more="", folder=".",
               helper="NOTE = 'the user helper'\n"):
    """op.py: the pooling example with its operator named ``name``, ``top`` run at its import, ``derive`` first in
    its derive, ``more`` appended; ``folder``/helper.py (holding ``helper``) and helper2.py beside it, the package
    sub/ and other.py (which imports helper)."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "__init__.py").write_text("")
    (tmp_path / "other.py").write_text("import helper  # noqa\n")
    (tmp_path / folder / "helper.py").write_text(helper)
    (tmp_path / "helper2.py").write_text("NOTE = 'the user helper'\n")
    text = _pool_file(tmp_path).read_text().replace('name="my_avg_pool1d"', f'name="{name}"')
    text = text.replace("import sympy as sp\n", "import sympy as sp\n" + top).replace("def derive(d):\n", "def derive(d):\n" + derive)
    (tmp_path / "op.py").write_text(text + more)


@pytest.mark.parametrize("derive", ["    raise SystemExit(3)\n", "    import os\n    os._exit(0)\n"])
def test_a_failed_derivation_still_protects_what_it_imported(tmp_path, derive):
    """prove --format json writes its failure report to --output: onto a module the failed operator file had
    imported it wrote over the user's helper (the imports were reported with a derivation only)."""
    _helper_op(tmp_path, derive=derive)
    r = run_module("prove", "op.py", "--format", "json", "--output", "helper.py", "--force", cwd=tmp_path, timeout=300)
    assert r.returncode == 2 and "is a module an operator file of this command imported" in r.stderr, r.stderr
    assert (tmp_path / "helper.py").read_text() == "NOTE = 'the user helper'\n"


def test_a_module_the_torch_reference_imports_is_never_overwritten(tmp_path):
    """The torch reference runs in a process of its own (evosym.isolation.references), when the check calls it: what
    it imports there is recorded too (check --junit wrote its XML over such a module)."""
    _helper_op(tmp_path, top="", name="refpool", more=(
        "\n\ndef torch_reference(t, sizes):\n    import os, sys\n"
        "    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))\n    import helper2  # noqa\n"
        "    import torch.nn.functional as F\n    return F.avg_pool1d(t['x'], sizes['K'], sizes['s'])\n\n\n"
        "OPERATOR = __import__('dataclasses').replace(OPERATOR, torch_reference=torch_reference)\n"))
    r = run_module("check", "op.py", "--junit", "helper2.py", "--force", cwd=tmp_path, timeout=600)
    assert r.returncode == 2 and "helper2.py is a module an operator file of this command imported" in r.stderr, \
        (r.returncode, r.stdout[-2000:], r.stderr)
    assert (tmp_path / "helper2.py").read_text() == "NOTE = 'the user helper'\n"


def test_a_file_is_evosym_s_or_python_s_only_when_its_link_target_is_too(tmp_path):
    """A package linked into site-packages (an editable install's symlink) is the user's: recorded."""
    from evosym.isolation.imports import _installed
    root, user = tmp_path / "site", tmp_path / "user"
    root.mkdir(), user.mkdir()
    (user / "helper.py").write_text("")
    (root / "own.py").write_text("")
    (root / "linked").symlink_to(user)
    roots = (os.path.join(os.path.realpath(root), ""),)
    assert _installed(str(root / "own.py"), roots)
    assert not _installed(str(root / "linked" / "helper.py"), roots) and not _installed(str(user / "helper.py"), roots)


@pytest.mark.parametrize("how", sorted(HELPER_IMPORTS))
def test_a_module_the_operator_file_imports_is_never_overwritten(tmp_path, how):
    """An operator file named its operator like a helper module it imports (here: "helper"): `codegen --output DIR
    --force` wrote DIR/helper.py over it (the command's inputs were the files it names only). The operator file's
    confined process now records the files it runs or reads, and no write of the process replaces one of them."""
    folder = "sub" if how == "package" else "."
    mine = "NOTE = ('the user helper'\n" if how == "syntax error" else "NOTE = 'the user helper'\n"   # (half-edited)
    _helper_op(tmp_path, HELPER_IMPORTS[how], folder=folder, helper=mine)
    helper = tmp_path / folder / "helper.py"
    files = lambda: sorted(p.name for p in (tmp_path / folder).iterdir())
    before = files()
    r = run_module("codegen", "op.py", "--output", folder, "--force", cwd=tmp_path, timeout=300)
    assert r.returncode == 2 and "helper.py is a module an operator file of this command imported" in r.stderr, r.stderr
    assert helper.read_text() == mine
    assert [f for f in files() if f != "__pycache__"] == [f for f in before if f != "__pycache__"]   # no new file
    if how == "top":   # prove's output and certificate too, after the work (the imports are known from it)
        for flag in ("--output", "--certificate"):
            r = run_module("prove", "op.py", flag, "helper.py", "--force", cwd=tmp_path, timeout=300)
            assert r.returncode == 2 and "is a module an operator file of this command imported" in r.stderr, r.stderr
            assert helper.read_text() == "NOTE = 'the user helper'\n"
        r = run_module("codegen", "op.py", "--output", "sub", "--force", cwd=tmp_path, timeout=300)   # not imported
        assert r.returncode == 0 and "class HelperEvolution" in (tmp_path / "sub" / "helper.py").read_text(), r.stderr


def test_the_record_of_imported_files_takes_absolute_paths_only(tmp_path):
    """The operator file's process writes the record (untrusted): only absolute paths ended by a NUL are taken, within
    the first 4 MiB; a missing record is no file."""
    from evosym.isolation.imports import RECORD, recorded
    assert recorded(str(tmp_path)) == []
    (tmp_path / RECORD).write_bytes(b"/a.py\0relative.py\0\0/b/c\nd.py\0/" + b"x" * 5000 + b"\0/\xff.py\0/cut")
    assert recorded(str(tmp_path)) == ["/a.py", "/b/c\nd.py", os.fsdecode(b"/\xff.py")]
    (tmp_path / RECORD).write_bytes(b"/a.py\0" * (1 << 20))
    assert len(recorded(str(tmp_path))) == 10_000


@pytest.mark.parametrize("name", [b"\xff", b"caf\xe9", b"a\nb"])
def test_an_operator_file_in_a_folder_whose_name_is_no_utf8(tmp_path, name):
    """The loader named the module by a digest of str(path).encode(): a folder named in Latin-1 bytes (or any byte
    that is no UTF-8) made that a UnicodeEncodeError, reported as the operator file's own error."""
    folder = os.fsencode(tmp_path) + b"/" + name
    os.mkdir(folder)
    Path(os.fsdecode(folder + b"/op.py")).write_text(_pool_file(tmp_path).read_text())
    r = subprocess.run([sys.executable, "-m", "evosym", "prove", "op.py", "--summary"], cwd=folder, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.startswith("PROVED  my_avg_pool1d"), (r.stdout, r.stderr)


def test_a_standalone_runtime_folder_that_is_a_link_is_refused(capsys, tmp_path):
    """``codegen --standalone`` wrote the runtime's files where an ``evosym_runtime`` link in the output folder led
    (an adversarial pass): refused, nothing written there or where it leads."""
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "evosym_runtime").symlink_to(elsewhere)
    line = one_line_error(*run_cli(capsys, "codegen", "conv1d", "-o", str(out), "--standalone", "--force"))
    assert "evosym_runtime is a symbolic link" in line, line
    assert list(elsewhere.iterdir()) == [] and sorted(p.name for p in out.iterdir()) == ["evosym_runtime"]


def test_a_standalone_runtime_entry_that_is_no_folder_is_refused(capsys, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "evosym_runtime").write_text("the user's\n")
    line = one_line_error(*run_cli(capsys, "codegen", "conv1d", "-o", str(out), "--standalone", "--force"))
    assert "evosym_runtime is not a folder: the runtime's files go inside it" in line, line
    assert sorted(p.name for p in out.iterdir()) == ["evosym_runtime"]
    assert (out / "evosym_runtime").read_text() == "the user's\n"


@pytest.mark.parametrize("failing", [".cu", "manifest.json", "aggregate.py"])
def test_codegen_writes_its_files_all_or_none(capsys, tmp_path, monkeypatch, failing):
    """A module and its kernel sources (and the standalone runtime) are one set: a full disk at the third file left
    the first two, and a rerun then refused them without --force (an adversarial pass). Now every text is written to a
    temporary file first and the set renamed into place only when all are written: a failure leaves nothing."""
    import evosym.files as files
    real_chmod = files.os.chmod

    def chmod(path, mode):   # the disk fills up while the failing file is written
        if os.path.basename(str(path)).startswith(".") and failing in os.path.basename(str(path)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_chmod(path, mode)
    monkeypatch.setattr(files.os, "chmod", chmod)
    out = tmp_path / "out"
    out.mkdir()
    line = one_line_error(*run_cli(capsys, "codegen", "involution", "-o", str(out), "--kernels", "--standalone"))
    assert "No space left on device" in line and failing in line, line
    assert list(out.iterdir()) == [], sorted(p.name for p in out.rglob("*"))
    monkeypatch.setattr(files.os, "chmod", real_chmod)
    rc, _, err = run_cli(capsys, "codegen", "involution", "-o", str(out), "--kernels", "--standalone")
    assert rc == 0 and {"involution.py", "involution.cpp", "involution.cu", "involution.manifest.json",
                        "evosym_runtime"} <= {p.name for p in out.iterdir()}, err
