"""Output files: ``evosym prove … --output FILE`` and :func:`evosym.files.write_atomic`.

Writes go through a temporary file in the target's folder and an atomic rename; an existing
file is never replaced without ``--force``; every failure is one clear line and leaves neither
a changed target nor a stray temporary file (``.NAME.*.tmp``).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from evosym import files as output_module
from evosym.cli.main import main
from evosym.files import write_atomic
from evosym.errors import EvosymError, OutputExists
from cli_helpers import one_line_error, run_cli


def stray_temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp"))


@pytest.fixture(scope="module")
def linear_text():
    """`evosym prove linear` on standard output (computed once)."""
    import contextlib
    import io
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["prove", "linear"]) == 0
    return buf.getvalue()


# -- through the CLI -------------------------------------------------------------------------------

def test_output_file_equals_standard_output(capsys, tmp_path, linear_text):
    target = tmp_path / "linear.txt"
    rc, out, err = run_cli(capsys, "prove", "linear", "--output", str(target))
    assert rc == 0, err
    assert out == ""                                        # the proof goes to the file only
    assert err.strip() == f"wrote {target}"
    assert target.read_bytes() == linear_text.encode("utf-8")
    assert "Σ" in target.read_text(encoding="utf-8")         # UTF-8, whatever the locale
    assert sorted(p.name for p in tmp_path.iterdir()) == ["linear.txt"]


def test_output_markdown_file_equals_standard_output(capsys, tmp_path):
    rc, expected, err = run_cli(capsys, "prove", "pointwise_conv2d", "--format", "markdown")
    assert rc == 0, err
    target = tmp_path / "proof.md"
    rc, out, err = run_cli(capsys, "prove", "pointwise_conv2d", "--format", "markdown", "-o", str(target))
    assert rc == 0, err
    assert out == ""
    assert target.read_text(encoding="utf-8") == expected
    assert "$$" in expected
    assert stray_temporaries(tmp_path) == []


def test_output_relative_to_the_working_directory(capsys, tmp_path, monkeypatch, linear_text):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run_cli(capsys, "prove", "linear", "-o", "proof.txt")
    assert rc == 0, err
    assert (tmp_path / "proof.txt").read_text(encoding="utf-8") == linear_text
    assert stray_temporaries(tmp_path) == []


def test_existing_file_is_refused_without_force(capsys, tmp_path):
    target = tmp_path / "proof.txt"
    old = b"old content\r\n\xce\xa3 keep me byte for byte\n"
    target.write_bytes(old)
    rc, out, err = run_cli(capsys, "prove", "linear", "--output", str(target))
    line = one_line_error(rc, out, err)
    assert str(target) in line and "exists" in line and "--force" in line
    assert target.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proof.txt"]


def test_existing_file_is_overwritten_with_force(capsys, tmp_path, linear_text):
    target = tmp_path / "proof.txt"
    target.write_text("old content that is longer than nothing\n" * 200, encoding="utf-8")
    rc, out, err = run_cli(capsys, "prove", "linear", "--output", str(target), "--force")
    assert rc == 0, err
    assert out == "" and f"wrote {target}" in err
    assert target.read_text(encoding="utf-8") == linear_text
    assert stray_temporaries(tmp_path) == []


def test_missing_parent_folder(capsys, tmp_path):
    target = tmp_path / "no" / "such" / "folder" / "proof.txt"
    line = one_line_error(*run_cli(capsys, "prove", "linear", "--output", str(target)))
    assert "cannot write" in line and "does not exist" in line and str(target.parent) in line
    assert not (tmp_path / "no").exists()
    assert list(tmp_path.iterdir()) == []


def test_directory_as_target(capsys, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "keep.txt").write_text("x", encoding="utf-8")
    line = one_line_error(*run_cli(capsys, "prove", "linear", "--output", str(folder)))
    assert str(folder) in line and "is a directory" in line
    assert sorted(p.name for p in folder.iterdir()) == ["keep.txt"]
    assert stray_temporaries(tmp_path) == []


def test_directory_as_target_even_with_force(capsys, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    line = one_line_error(*run_cli(capsys, "prove", "linear", "--output", str(folder), "--force"))
    assert "is a directory" in line
    assert folder.is_dir() and list(folder.iterdir()) == []


def test_failed_proof_is_still_written_and_exits_1(capsys, tmp_path):
    wrong = Path(__file__).resolve().parent / "data" / "operators" / "wrong_range.py"
    target = tmp_path / "refuted.txt"
    rc, out, err = run_cli(capsys, "prove", str(wrong), "-o", str(target))
    assert rc == 1
    assert out == ""
    assert f"wrote {target}" in err and "proof failed: wrong_range" in err
    text = target.read_text(encoding="utf-8")
    assert "NOT PROVED" in text and "Counterexample:" in text
    assert stray_temporaries(tmp_path) == []


def test_output_through_a_subprocess(tmp_path, linear_text):
    env = dict(os.environ, PYTHONUTF8="1")
    r = subprocess.run([sys.executable, "-m", "evosym", "prove", "linear", "-o", "out/linear.txt"], cwd=tmp_path,
                       env=env, capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert r.returncode == 2 and "does not exist" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "out").mkdir()
    r = subprocess.run([sys.executable, "-m", "evosym", "prove", "linear", "-o", "out/linear.txt"], cwd=tmp_path,
                       env=env, capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    assert (tmp_path / "out" / "linear.txt").read_text(encoding="utf-8") == linear_text
    assert stray_temporaries(tmp_path / "out") == []


# -- write_atomic directly -------------------------------------------------------------------------

def test_write_atomic_writes_and_returns_the_path(tmp_path):
    target = tmp_path / "a.txt"
    result = write_atomic(target, "Σ_c K·v\nline 2\n")
    assert result == target and isinstance(result, Path)
    assert target.read_bytes() == "Σ_c K·v\nline 2\n".encode("utf-8")
    assert stray_temporaries(tmp_path) == []


def test_write_atomic_accepts_str_paths_and_keeps_newlines(tmp_path):
    target = tmp_path / "b.txt"
    write_atomic(str(target), "a\nb\n")
    assert target.read_bytes() == b"a\nb\n"           # no platform newline translation


def test_write_atomic_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert write_atomic("here.txt", "x\n") == Path("here.txt")
    assert (tmp_path / "here.txt").read_text(encoding="utf-8") == "x\n"
    assert stray_temporaries(tmp_path) == []


def test_write_atomic_refuses_existing_file(tmp_path):
    target = tmp_path / "a.txt"
    target.write_bytes(b"\x00old\xff")
    with pytest.raises(OutputExists, match="exists; use --force"):
        write_atomic(target, "new")
    assert target.read_bytes() == b"\x00old\xff"
    assert stray_temporaries(tmp_path) == []
    assert issubclass(OutputExists, EvosymError)


def test_write_atomic_force_overwrites(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old " * 1000, encoding="utf-8")
    write_atomic(target, "new\n", force=True)
    assert target.read_text(encoding="utf-8") == "new\n"
    assert stray_temporaries(tmp_path) == []


def test_write_atomic_directory_target(tmp_path):
    with pytest.raises(EvosymError, match="is a directory"):
        write_atomic(tmp_path, "x", force=True)
    assert list(tmp_path.iterdir()) == []


def test_write_atomic_missing_folder(tmp_path):
    with pytest.raises(EvosymError, match="does not exist"):
        write_atomic(tmp_path / "missing" / "a.txt", "x")
    assert list(tmp_path.iterdir()) == []


def test_write_atomic_parent_is_a_file(tmp_path):
    (tmp_path / "file").write_text("keep", encoding="utf-8")
    with pytest.raises(EvosymError, match="cannot write"):
        write_atomic(tmp_path / "file" / "a.txt", "x")
    assert (tmp_path / "file").read_text(encoding="utf-8") == "keep"


def test_write_atomic_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "a.txt").write_text("old", encoding="utf-8")
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("chmod does not make the folder read-only here (running as root?)")
        for force in (False, True):
            target = folder / ("a.txt" if force else "new.txt")
            with pytest.raises(EvosymError, match="cannot write") as info:
                write_atomic(target, "x", force=force)
            assert "Permission denied" in str(info.value) and str(target) in str(info.value)
        assert sorted(p.name for p in folder.iterdir()) == ["a.txt"]
        assert (folder / "a.txt").read_text(encoding="utf-8") == "old"
    finally:
        folder.chmod(stat.S_IRWXU)


def test_write_atomic_cannot_create_temporary(tmp_path, monkeypatch):
    """The read-only case without relying on chmod (which root ignores)."""
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(output_module.tempfile, "mkstemp", refuse)
    with pytest.raises(EvosymError, match=r"cannot write .*a\.txt: Permission denied"):
        write_atomic(tmp_path / "a.txt", "x")
    assert list(tmp_path.iterdir()) == []


def test_write_atomic_failed_rename_removes_the_temporary(tmp_path, monkeypatch):
    target = tmp_path / "a.txt"
    target.write_text("old", encoding="utf-8")

    def fail(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(output_module.os, "replace", fail)
    with pytest.raises(EvosymError, match="cannot write .*No space left on device"):
        write_atomic(target, "new", force=True)
    assert target.read_text(encoding="utf-8") == "old"
    assert stray_temporaries(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_write_atomic_interrupted_write_removes_the_temporary(tmp_path, monkeypatch):
    target = tmp_path / "a.txt"
    real_fdopen = os.fdopen

    class Interrupting:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()
            return False

        def write(self, text):
            self.fh.write(text[:3])
            raise KeyboardInterrupt

    monkeypatch.setattr(output_module.os, "fdopen", lambda *a, **k: Interrupting(real_fdopen(*a, **k)))
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, "a long text")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_write_atomic_temporary_is_hidden_in_the_target_folder(tmp_path, monkeypatch):
    """While writing, the only new entry is a hidden '.NAME.*.tmp' beside the target."""
    seen = []
    real_link = os.link   # a new file is linked into place (never over one that appeared meanwhile)

    def spy(src, dst):
        seen.append((Path(src), Path(dst), sorted(p.name for p in tmp_path.iterdir())))
        return real_link(src, dst)
    monkeypatch.setattr(output_module.os, "link", spy)
    write_atomic(tmp_path / "a.txt", "x")
    (src, dst, listing), = seen
    assert src.parent == tmp_path and dst == tmp_path / "a.txt"
    assert src.name.startswith(".a.txt.") and src.name.endswith(".tmp")
    assert listing == [src.name]
    assert stray_temporaries(tmp_path) == []


def test_write_atomic_file_mode_follows_the_umask(tmp_path):
    """A written proof must be an ordinary file (0o666 & ~umask), like any file the user creates.

    write_atomic renames a tempfile.mkstemp file, which is created 0o600, so the output is
    readable by its owner only, and --force silently turns an existing 0o644 file into 0o600.
    """
    old_umask = os.umask(0o022)
    try:
        write_atomic(tmp_path / "new.txt", "x")
        existing = tmp_path / "existing.txt"
        existing.write_text("old", encoding="utf-8")
        existing.chmod(0o644)
        write_atomic(existing, "x", force=True)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE(existing.stat().st_mode) == 0o644


def test_write_atomic_refuses_a_dangling_symbolic_link(tmp_path):
    link = tmp_path / "out.txt"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(OutputExists):
        write_atomic(link, "new")
    assert link.is_symlink() and not (tmp_path / "nowhere").exists()


def test_write_atomic_does_not_overwrite_a_file_created_after_the_check(tmp_path, monkeypatch):
    """Between the existence check and the rename another process creates the file: it is kept."""
    import evosym.targets as targets
    target = tmp_path / "out.txt"
    real = targets.writable

    def racing(path, force, inputs):
        checked = real(path, force, inputs)
        target.write_text("theirs")
        return checked
    monkeypatch.setattr(targets, "writable", racing)
    with pytest.raises(OutputExists):
        write_atomic(target, "mine")
    assert target.read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]   # the temporary is gone


def test_write_atomic_without_hard_links_still_writes(tmp_path, monkeypatch):
    """A file system without hard links (EPERM from link): the new file is renamed into place."""
    def no_links(src, dst):
        raise OSError(1, "Operation not permitted")
    monkeypatch.setattr(output_module.os, "link", no_links)
    write_atomic(tmp_path / "a.txt", "x")
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "x"
    assert stray_temporaries(tmp_path) == []
