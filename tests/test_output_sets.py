"""A command's files are one set, and a place is known by identity, not by its spelling.

* :func:`evosym.files.write_all` puts every file in place or none: a rename that fails part way, or a signal among the
  renames, undoes the renames before it (new files removed, files replaced with ``--force`` put back, byte for byte
  and inode for inode); a file someone else put there since is left alone.
* ``codegen --standalone`` makes its runtime folders inside the same undo; ``evosym docs`` writes its pages as one
  set, refuses a dangling link without ``--force`` and an ``operators`` folder that is a link.
* Two outputs of one command, and evosym's own code, are compared by the identity of the folder that holds them:
  a bind mount of a folder (another spelling the path strings cannot see) neither gets two outputs onto one file nor
  an output into evosym's package.
"""

from __future__ import annotations

import errno
import itertools
import os
from pathlib import Path

import pytest

import evosym.files as files
import evosym.targets as targets
from cli_helpers import one_line_error, run_cli
from evosym.docgen.site import compare, write_docs
from evosym.errors import EvosymError, OutputExists


def _state(folder: Path) -> dict:
    """Every entry of ``folder``: (kind, content or link target, inode), the hidden ones too."""
    state = {}
    for p in sorted(folder.rglob("*")):
        st = os.lstat(p)
        if p.is_symlink():
            state[str(p.relative_to(folder))] = ("link", os.readlink(p), st.st_ino)
        elif p.is_dir():
            state[str(p.relative_to(folder))] = ("dir", None, st.st_ino)
        else:
            state[str(p.relative_to(folder))] = ("file", p.read_bytes(), st.st_ino)
    return state


def _failing(monkeypatch, name: str, at: int, exc: BaseException, before=None):
    """``files.os.<name>`` fails (``exc``) at its ``at``-th call from write_all's renames; ``before(path)`` runs
    first (someone else at work in the folder)."""
    real, calls = getattr(files.os, name), []

    def fake(src, dst, *args, **kwargs):
        if str(src).endswith(".tmp"):   # write_all's renames (not the backups)
            calls.append(dst)
            if len(calls) == at:
                if before is not None:
                    before(Path(dst))
                raise exc
        return real(src, dst, *args, **kwargs)
    monkeypatch.setattr(files.os, name, fake)
    return calls


def _failing_new(monkeypatch, at: int, exc: BaseException):
    """Putting a new file in place (:func:`files._link_new`) fails (``exc``) at its ``at``-th call."""
    real, calls = files._link_new, []

    def link_new(tmp, path):
        calls.append(path)
        if len(calls) == at:
            raise exc
        return real(tmp, path)
    monkeypatch.setattr(files, "_link_new", link_new)


@pytest.mark.parametrize("exc", [OSError(errno.EACCES, os.strerror(errno.EACCES)), KeyboardInterrupt()],
                         ids=["error", "signal"])
@pytest.mark.parametrize("at", [1, 2, 3])
def test_new_files_are_removed_when_a_rename_fails(tmp_path, monkeypatch, exc, at):
    _failing_new(monkeypatch, at, exc)
    with pytest.raises((EvosymError, KeyboardInterrupt)):
        files.write_all([(tmp_path / n, n * 3) for n in "abc"])
    assert _state(tmp_path) == {}


@pytest.mark.parametrize("exc", [OSError(errno.EACCES, os.strerror(errno.EACCES)), KeyboardInterrupt()],
                         ids=["error", "signal"])
@pytest.mark.parametrize("at", [1, 2, 3])
@pytest.mark.parametrize("hard_links", [True, False])
def test_replaced_files_are_put_back_when_a_rename_fails(tmp_path, monkeypatch, exc, at, hard_links):
    """With --force: the files replaced before the failure are put back (the same inode, where hard links exist)."""
    for n in "abc":
        (tmp_path / n).write_text(f"the user's {n}\n")
    (tmp_path / "a").chmod(0o640)
    before = _state(tmp_path)
    if not hard_links:   # (some network and FAT file systems): the files replaced are copied aside first
        def no_link(*args, **kwargs):
            raise OSError(errno.EPERM, os.strerror(errno.EPERM))
        monkeypatch.setattr(files.os, "link", no_link)
    _failing(monkeypatch, "replace", at, exc)
    with pytest.raises((EvosymError, KeyboardInterrupt)):
        files.write_all([(tmp_path / n, n * 3) for n in "abc"], force=True)
    after = _state(tmp_path)
    if hard_links:
        assert after == before
    else:   # a copy: the same names, bytes and permissions
        assert {k: v[:2] for k, v in after.items()} == {k: v[:2] for k, v in before.items()}
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o640


def test_a_dangling_link_replaced_with_force_is_put_back(tmp_path, monkeypatch):
    (tmp_path / "a").symlink_to(tmp_path / "nowhere")
    (tmp_path / "b").write_text("b\n")
    before = _state(tmp_path)
    _failing(monkeypatch, "replace", 2, OSError(errno.EIO, os.strerror(errno.EIO)))
    with pytest.raises(EvosymError, match="Input/output error"):
        files.write_all([(tmp_path / "a", "new"), (tmp_path / "b", "new")], force=True)
    assert _state(tmp_path) == before


def test_a_file_that_appears_part_way_is_theirs_and_the_rest_is_undone(tmp_path, monkeypatch):
    """A file created at the third name after the check: refused (never overwritten without --force), and the two
    put in place before it are removed."""
    real = files._link_new

    def link_new(tmp, path):
        if path.name == "c":
            path.write_text("theirs\n")
        return real(tmp, path)
    monkeypatch.setattr(files, "_link_new", link_new)
    with pytest.raises(OutputExists):
        files.write_all([(tmp_path / n, n) for n in "abcd"])
    assert {k: v[:2] for k, v in _state(tmp_path).items()} == {"c": ("file", b"theirs\n")}


def test_a_file_changed_since_it_was_put_in_place_is_left_alone(tmp_path, monkeypatch):
    """The undo removes only what it put there: a file someone replaced since stays."""
    (tmp_path / "b").write_text("b\n")

    def someone(_):
        (tmp_path / "a").unlink()
        (tmp_path / "a").write_text("someone's a\n")
    _failing(monkeypatch, "replace", 2, OSError(errno.EACCES, os.strerror(errno.EACCES)), before=someone)
    with pytest.raises(EvosymError):
        files.write_all([(tmp_path / "a", "a"), (tmp_path / "b", "new b")], force=True)
    assert {k: v[:2] for k, v in _state(tmp_path).items()} == {"a": ("file", b"someone's a\n"), "b": ("file", b"b\n")}


def test_a_set_written_whole_leaves_no_second_names(tmp_path):
    for n in "ab":
        (tmp_path / n).write_text("old\n")
    assert files.write_all([(tmp_path / n, "new\n") for n in "abc"], force=True) == [tmp_path / n for n in "abc"]
    assert {k: v[:2] for k, v in _state(tmp_path).items()} == {n: ("file", b"new\n") for n in "abc"}


# -- the commands ------------------------------------------------------------------------------------------------

def test_codegen_with_force_puts_back_what_it_replaced(capsys, tmp_path, monkeypatch):
    """A rename that fails at the runtime's last file: the module, its kernel sources and the runtime files before it
    were already replaced (an adversarial pass); now every one is as it was."""
    out = tmp_path / "out"
    out.mkdir()
    rc, _, err = run_cli(capsys, "codegen", "involution", "-o", str(out), "--kernels", "--standalone")
    assert rc == 0, err
    for p in out.rglob("*"):
        if p.is_file():
            p.write_text(f"# the user's edit of {p.name}\n")
    before = _state(out)
    _failing(monkeypatch, "replace", 8, OSError(errno.EDQUOT, os.strerror(errno.EDQUOT)))
    line = one_line_error(*run_cli(capsys, "codegen", "involution", "-o", str(out), "--kernels", "--standalone",
                                   "--force"))
    assert "quota" in line.lower(), line
    assert _state(out) == before


def test_codegen_standalone_interrupted_among_its_folders_leaves_none(capsys, tmp_path, monkeypatch):
    """A signal while the runtime's folders were made left them, empty (an adversarial pass)."""
    out = tmp_path / "out"
    out.mkdir()
    real, made = Path.mkdir, []

    def mkdir(self, *args, **kwargs):
        real(self, *args, **kwargs)
        made.append(self)
        if self.name == "include":
            raise KeyboardInterrupt
    monkeypatch.setattr(Path, "mkdir", mkdir)
    rc, _, err = run_cli(capsys, "codegen", "conv1d", "-o", str(out), "--standalone")
    assert rc == 130 and "interrupted" in err, err
    assert [p.relative_to(out).as_posix() for p in made if out in p.parents] == ["evosym_runtime",
                                                                                 "evosym_runtime/include"]
    assert _state(out) == {}


def _pages():
    return {"catalogue.md": "# catalogue\n", "operators/x.md": "# x\n", "operators/y.md": "# y\n"}


def test_docs_refuse_a_dangling_link_without_force(tmp_path):
    (tmp_path / "catalogue.md").symlink_to(tmp_path / "nowhere")
    with pytest.raises(EvosymError, match="use --force"):
        write_docs(_pages(), tmp_path, force=False)
    assert os.readlink(tmp_path / "catalogue.md") == str(tmp_path / "nowhere")
    assert not (tmp_path / "operators").exists()
    write_docs(_pages(), tmp_path, force=True)
    assert (tmp_path / "catalogue.md").read_text() == "# catalogue\n"


@pytest.mark.parametrize("force", [False, True])
def test_docs_refuse_an_operators_folder_that_is_a_link(tmp_path, force):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "operators").symlink_to(elsewhere)
    with pytest.raises(EvosymError, match="operators is a symbolic link"):
        write_docs(_pages(), docs, force=force)
    assert list(elsewhere.iterdir()) == [] and [p.name for p in docs.iterdir()] == ["operators"]


@pytest.mark.parametrize("force", [False, True])
def test_docs_refuse_an_operators_entry_that_is_no_folder(tmp_path, force):
    (tmp_path / "operators").write_text("the user's\n")
    with pytest.raises(EvosymError, match="operators is not a folder: the operator pages go inside it"):
        write_docs(_pages(), tmp_path, force=force)
    assert [p.name for p in tmp_path.iterdir()] == ["operators"] and (tmp_path / "operators").read_text() == "the user's\n"


def test_docs_are_written_all_or_none(tmp_path, monkeypatch):
    docs = tmp_path / "docs"
    docs.mkdir()
    _failing_new(monkeypatch, 3, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    with pytest.raises(EvosymError, match="No space left"):
        write_docs(_pages(), docs, force=False)
    assert _state(docs) == {}


def test_docs_take_a_page_that_is_no_utf8_for_a_changed_one(tmp_path):
    (tmp_path / "operators").mkdir()
    (tmp_path / "catalogue.md").write_bytes(b"\xff\xfe not utf-8\n")
    assert compare(_pages(), tmp_path)[0] == f"stale:   {tmp_path / 'catalogue.md'}"
    with pytest.raises(EvosymError, match="1 generated file"):
        write_docs(_pages(), tmp_path, force=False)
    assert (tmp_path / "catalogue.md").read_bytes() == b"\xff\xfe not utf-8\n"


# -- identity of places ------------------------------------------------------------------------------------------

def test_same_place_sees_through_spellings_and_links(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "sub")
    new = tmp_path / "sub" / "new.json"   # not there yet
    for other in (tmp_path / "link" / "new.json", tmp_path / "sub" / ".." / "sub" / "new.json"):
        assert targets.same_place(new, other)
    assert not targets.same_place(new, tmp_path / "sub" / "other.json")
    assert not targets.same_place(new, tmp_path / "new.json")


def test_same_place_sees_through_a_bind_mount(tmp_path, bind):
    (tmp_path / "a").mkdir()
    b = bind(tmp_path / "a", tmp_path / "b")
    assert targets.same_place(tmp_path / "a" / "x.json", b / "x.json")
    assert not targets.same_place(tmp_path / "a" / "x.json", b / "y.json")


def test_output_and_certificate_through_a_bind_mount_are_one_file(capsys, tmp_path, bind):
    (tmp_path / "a").mkdir()
    b = bind(tmp_path / "a", tmp_path / "b")
    line = one_line_error(*run_cli(capsys, "prove", "linear", "--format", "json", "-o", str(tmp_path / "a" / "x"),
                                   "--certificate", str(b / "x")))
    assert "name the same file" in line, line
    line = one_line_error(*run_cli(capsys, "prove", "linear", "--format", "json", "-o", str(b / "linear.json"),
                                   "--certificates", str(tmp_path / "a")))
    assert "--output and --certificates name the same file" in line, line
    assert list((tmp_path / "a").iterdir()) == []


@pytest.mark.parametrize("depth", [0, 1])
def test_evosym_s_package_through_a_bind_mount_is_never_an_output(capsys, tmp_path, bind, depth):
    """A bind mount of the package (or of a folder above it) got past the check on path strings."""
    import evosym
    package = Path(evosym.__file__).parent
    mounted = bind(package.parents[depth], tmp_path / "m", read_only=True)
    inside = mounted / Path(*package.parts[len(package.parents[depth].parts):])
    for target in (inside / "evosym_test_output.txt", inside / "cli" / "evosym_test_output.txt"):
        line = one_line_error(*run_cli(capsys, "prove", "linear", "--summary", "-o", str(target), "--force"))
        assert "is part of evosym's own code" in line, line


# -- a second pass on the mends above (an adversarial helper) ----------------------------------------------------

class _Signalled(Exception):
    pass


@pytest.fixture
def handlers():
    """``handlers(sigint=..., sigterm=...)``: this process's handlers for the test, the real ones put back after."""
    import signal
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}

    def install(**chosen):
        for name, handler in chosen.items():
            signal.signal(getattr(signal, name.upper()), handler)
    yield install
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def _signal_at(monkeypatch, name: str, dst_end: str, *sigs):
    """``files.os.<name>`` sends this process ``sigs`` when its destination ends with ``dst_end`` (then does its
    work)."""
    real = getattr(files.os, name)

    def hooked(src, dst, *args, **kwargs):
        if str(dst).endswith(dst_end):
            for sig in sigs:
                os.kill(os.getpid(), sig)
        return real(src, dst, *args, **kwargs)
    monkeypatch.setattr(files.os, name, hooked)


def _raises(*_):
    raise _Signalled


@pytest.mark.parametrize("force", [False, True])
def test_a_signal_during_the_renames_undoes_the_set(tmp_path, monkeypatch, handlers, force):
    """A real SIGINT among the renames (sent by the process to itself), whose handler raises: the set is undone, no
    backup is left, and the handler runs once (a signal in the cleanup left 22 hidden backups; a set reported
    interrupted had replaced the user's files: two adversarial passes)."""
    import signal
    if force:
        for n in "abc":
            (tmp_path / n).write_text("old\n")
    before = _state(tmp_path)
    _signal_at(monkeypatch, "replace" if force else "link", "b", signal.SIGINT)
    handlers(sigint=_raises)
    with pytest.raises(_Signalled):
        files.write_all([(tmp_path / n, "new\n") for n in "abc"], force=force)
    assert _state(tmp_path) == before
    assert signal.getsignal(signal.SIGINT) is _raises


def test_a_signal_whose_handler_returns_lets_the_set_be_written(tmp_path, monkeypatch, handlers):
    """Two signals among the renames, the first handler raising and the second returning: both run (the second was
    lost), the set is undone; with only the returning one, the set is written."""
    import signal
    got = []
    handlers(sigint=_raises, sigterm=lambda sig, _: got.append(sig))
    _signal_at(monkeypatch, "link", "b", signal.SIGINT, signal.SIGTERM)
    with pytest.raises(_Signalled):
        files.write_all([(tmp_path / n, "new\n") for n in "abc"])
    assert got == [signal.SIGTERM] and _state(tmp_path) == {}
    monkeypatch.undo()
    _signal_at(monkeypatch, "link", "c", signal.SIGTERM)
    assert files.write_all([(tmp_path / n, "new\n") for n in "abc"]) == [tmp_path / n for n in "abc"]
    assert got == [signal.SIGTERM] * 2
    assert {k: v[:2] for k, v in _state(tmp_path).items()} == {n: ("file", b"new\n") for n in "abc"}


def test_the_handlers_are_never_touched(tmp_path, monkeypatch, handlers):
    """Replacing the handlers for the duration of a write lost them under a signal storm, called them with no frame,
    merged signals, reverted a handler's own re-arming and dropped a C-level one (a third adversarial pass): they stay
    as they are, and a signal reaches its handler, in the main thread, with its frame."""
    import faulthandler
    import signal
    import threading
    calls = []

    def abort(sig, frame):
        calls.append(("abort", frame is not None, threading.current_thread() is threading.main_thread()))

    def graceful(sig, frame):   # the first Ctrl-C is graceful and arms the abort for the next
        calls.append(("graceful", frame is not None, threading.current_thread() is threading.main_thread()))
        signal.signal(signal.SIGINT, abort)
    handlers(sigint=graceful)
    faulthandler.register(signal.SIGHUP, file=open(os.devnull, "w"), chain=False)   # a handler that is not Python's
    try:
        _signal_at(monkeypatch, "link", "b", signal.SIGINT)
        assert files.write_all([(tmp_path / n, "new\n") for n in "abc"]) == [tmp_path / n for n in "abc"]
        assert calls == [("graceful", True, True)], calls
        assert signal.getsignal(signal.SIGINT) is abort
        os.kill(os.getpid(), signal.SIGHUP)   # still faulthandler's (it writes a traceback to /dev/null): not ended
    finally:
        faulthandler.unregister(signal.SIGHUP)
    assert {k: v[:2] for k, v in _state(tmp_path).items()} == {n: ("file", b"new\n") for n in "abc"}


def test_a_command_interrupted_among_its_renames_leaves_the_users_files(capsys, tmp_path, monkeypatch):
    """``prove -o F --certificate G --force`` with SIGINT before the first rename: "interrupted", exit 130, and F
    and G as they were (they held the new proof and certificate; a second pass)."""
    import signal
    for n in ("F.json", "G.json"):
        (tmp_path / n).write_text(f"the user's {n}\n")
    before = _state(tmp_path)
    _signal_at(monkeypatch, "replace", "F.json", signal.SIGINT)
    rc, out, err = run_cli(capsys, "prove", "linear", "--format", "json", "-o", str(tmp_path / "F.json"),
                           "--certificate", str(tmp_path / "G.json"), "--force")
    assert rc == 130 and "interrupted" in err and "wrote" not in err, err
    assert _state(tmp_path) == before


@pytest.mark.parametrize("force", [False, True])
def test_one_file_named_twice_in_a_set_writes_nothing(tmp_path, force):
    """Two outputs that name one file in a way no path comparison sees (a case-insensitive file system: out.json and
    OUT.json) were both written, the second over the first. Shown here with one path twice."""
    (tmp_path / "other").write_text("the user's\n")
    before = _state(tmp_path)
    with pytest.raises(EvosymError):
        files.write_all([(tmp_path / "x", "one"), (tmp_path / "other", "new"), (tmp_path / "x", "two")], force=force)
    assert _state(tmp_path) == before


@pytest.mark.parametrize("kind", ["file", "dangling link"])
@pytest.mark.parametrize("hard_links", [True, False])
def test_a_second_name_taken_meanwhile_is_not_reused(tmp_path, monkeypatch, kind, hard_links):
    """The name a replaced file is kept under aside (a hard link, a copy, or the link itself) is a fresh one: a name
    another process took meanwhile is left to it (its bytes intact) and another is drawn; the set is put back whole."""
    if kind == "file":
        (tmp_path / "a").write_text("old a\n")
    else:
        (tmp_path / "a").symlink_to(tmp_path / "nowhere")
    (tmp_path / "b").write_text("old b\n")
    taken = tmp_path / ".a.000000000000.old"
    taken.write_text("theirs\n")
    draws = itertools.chain(["000000000000"] * 2, (f"{i:012x}" for i in itertools.count(1)))
    monkeypatch.setattr(files.secrets, "token_hex", lambda n: next(draws))
    if not hard_links:
        def no_link(*args, **kwargs):
            raise OSError(errno.EPERM, os.strerror(errno.EPERM))
        monkeypatch.setattr(files.os, "link", no_link)
    before = _state(tmp_path)
    _failing(monkeypatch, "replace", 2, OSError(errno.EIO, os.strerror(errno.EIO)))
    with pytest.raises(EvosymError, match="Input/output error"):
        files.write_all([(tmp_path / "a", "new"), (tmp_path / "b", "new")], force=True)
    after = _state(tmp_path)
    assert {k: v[:2] for k, v in after.items()} == {k: v[:2] for k, v in before.items()}
    assert taken.read_text() == "theirs\n"


def test_a_copy_aside_that_fills_the_disk_leaves_no_part_of_it(tmp_path, monkeypatch):
    """Without hard links the file to be replaced is copied aside first; a full disk there left the half copy."""
    (tmp_path / "a").write_text("old a\n")

    def no_link(*args, **kwargs):
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(files.os, "link", no_link)
    monkeypatch.setattr(files.shutil, "copyfileobj", full)
    before = _state(tmp_path)
    with pytest.raises(EvosymError, match="No space left"):
        files.write_all([(tmp_path / "a", "new")], force=True)
    assert _state(tmp_path) == before


def test_without_hard_links_a_file_made_meanwhile_is_not_overwritten(tmp_path, monkeypatch):
    """Where the file system has no hard links, a new file was put in place by a plain rename, over a file another
    process made since the check (an adversarial pass): the name is taken exclusively first."""
    def no_link(src, dst, *args, **kwargs):
        Path(dst).write_text("theirs\n")   # made while this process was between its check and its rename
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))
    monkeypatch.setattr(files.os, "link", no_link)
    with pytest.raises(OutputExists):
        files.write_all([(tmp_path / "a", "ours")])
    assert {k: v[:2] for k, v in _state(tmp_path).items()} == {"a": ("file", b"theirs\n")}


def test_without_hard_links_new_files_are_written(tmp_path, monkeypatch):
    def no_link(*args, **kwargs):
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))
    monkeypatch.setattr(files.os, "link", no_link)
    files.write_all([(tmp_path / n, n) for n in "ab"])
    assert {k: v[:2] for k, v in _state(tmp_path).items()} == {"a": ("file", b"a"), "b": ("file", b"b")}


def test_prove_writes_its_output_and_certificates_all_or_none(capsys, tmp_path):
    """An operator file's certificate is named once it is derived: one that exists was refused after the proof's
    output had been written (an adversarial pass). Now nothing is written."""
    src = tmp_path / "op.py"
    src.write_text((Path(__file__).resolve().parent / "data" / "operators" / "box_sum1d.py").read_text())
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "box_sum1d.json").write_text("x\n")
    line = one_line_error(*run_cli(capsys, "prove", str(src), "--format", "json", "-o", str(tmp_path / "F.json"),
                                   "--certificates", str(certs)))
    assert "box_sum1d.json exists" in line, line
    assert not (tmp_path / "F.json").exists() and (certs / "box_sum1d.json").read_text() == "x\n"


def test_prove_with_force_puts_its_output_back_when_the_certificate_fails(capsys, tmp_path, monkeypatch):
    (tmp_path / "F.json").write_text("OLD F\n")
    (tmp_path / "G.json").write_text("OLD G\n")
    before = _state(tmp_path)
    _failing(monkeypatch, "replace", 2, OSError(errno.EIO, os.strerror(errno.EIO)))
    line = one_line_error(*run_cli(capsys, "prove", "linear", "--format", "json", "-o", str(tmp_path / "F.json"),
                                   "--certificate", str(tmp_path / "G.json"), "--force"))
    assert "G.json" in line and "Input/output error" in line, line
    assert _state(tmp_path) == before


@pytest.mark.parametrize("package, inside", [("evosym", "codegen"), ("evosym.templates", "torch"),
                                             ("evosym", "cli/commands.py")])
def test_a_bind_mount_of_a_folder_or_file_inside_evosym_is_never_an_output(capsys, tmp_path, bind, package, inside):
    """A bind mount of a subfolder of the package got past a comparison with the package's folder alone (an
    adversarial pass); a single file bound elsewhere too. Refused, new file or existing."""
    import importlib
    import evosym
    evosym.attach_source_packages()   # (a source checkout's codegen/templates/, as the catalogue does)
    source = Path(importlib.import_module(package).__path__[0]) / inside
    if source.is_file():
        target = tmp_path / "bound.py"
        target.write_text("")
        line = one_line_error(*run_cli(capsys, "prove", "linear", "--summary", "-o", str(bind(source, target, True)),
                                       "--force"))
        assert "is part of evosym's own code" in line, line
        return
    mounted = bind(source, tmp_path / "m", read_only=True)
    existing = sorted(p for p in mounted.iterdir() if p.is_file())[0]
    before = existing.read_bytes()
    for target in (existing, mounted / "evosym_test_output.txt"):   # (read only: nothing to remove afterwards)
        line = one_line_error(*run_cli(capsys, "prove", "linear", "--summary", "-o", str(target), "--force"))
        assert "is part of evosym's own code" in line, line
    assert existing.read_bytes() == before


def test_the_installed_distributions_files_are_never_an_output(tmp_path):
    """``--force`` could replace an editable install's finder (which ``import evosym`` runs), its .pth, its metadata
    (a second pass). Asked of the check only (no write is tried), where evosym is installed."""
    import importlib.metadata
    listed = [Path(d.locate_file(f)) for d in importlib.metadata.distributions(name="evosym") for f in d.files or ()
              if f.parts[0].endswith(".dist-info") or f.name.startswith("__editable__")]
    listed = [p for p in listed if p.is_file()]
    if not listed:
        pytest.skip("evosym is not installed here (a checkout on the path)")
    for path in listed:
        with pytest.raises(EvosymError, match="is part of evosym's own code"):
            targets.check_target(path, force=True)
    targets.check_target(tmp_path / "README.md", force=True)   # (a source tree's egg-info lists the checkout's files)


def test_docs_make_no_operators_folder_they_do_not_write_into(tmp_path):
    assert write_docs({"catalogue.md": "# catalogue\n"}, tmp_path, force=False) == [tmp_path / "catalogue.md"]
    assert [p.name for p in tmp_path.iterdir()] == ["catalogue.md"]


def test_a_signal_while_the_writer_starts_leaves_nothing_being_written(tmp_path, monkeypatch, handlers):
    """A handler that raised inside the writer thread's start (before the thread began) made write_all raise while the
    thread then replaced the user's files, left a mixed set and hidden files for a while, and undid them later (a
    fourth adversarial pass): the thread does nothing once write_all has left."""
    import signal
    import threading
    import time
    for n in "abc":
        (tmp_path / n).write_text("old\n")
    before = _state(tmp_path)
    real, main = threading._start_new_thread, threading.main_thread().ident

    def late(function, args, *rest):   # the new thread begins 0.2 s late; the main thread gets SIGINT meanwhile,
        def begin():                    # as it waits inside Thread.start() for the thread to begin
            time.sleep(0.2)
            function(*args)

        def interrupt():
            time.sleep(0.05)
            signal.pthread_kill(main, signal.SIGINT)
        ident = real(begin, (), *rest)
        real(interrupt, ())
        return ident
    monkeypatch.setattr(threading, "_start_new_thread", late)
    handlers(sigint=_raises)
    with pytest.raises(_Signalled):
        files.write_all([(tmp_path / n, "new\n") for n in "abc"], force=True)
    monkeypatch.undo()
    seen = set()
    for _ in range(60):   # 0.6 s: the late thread began and ended meanwhile
        seen.add(tuple(sorted(_state(tmp_path).items())))
        time.sleep(0.01)
    assert seen == {tuple(sorted(before.items()))}


def test_a_command_stopped_after_its_set_was_final_says_what_it_wrote(capsys, tmp_path, monkeypatch):
    """A SIGINT after the commit point (while the hidden backups are removed) stopped the command, "interrupted",
    with no word of the files it had written (a fourth pass): it names them."""
    import signal
    for n in ("F.json", "G.json"):
        (tmp_path / n).write_text(f"the user's {n}\n")
    real = files.os.unlink

    def unlink(path, *args, **kwargs):
        if str(path).endswith(".old"):
            os.kill(os.getpid(), signal.SIGINT)
        return real(path, *args, **kwargs)
    monkeypatch.setattr(files.os, "unlink", unlink)
    rc, out, err = run_cli(capsys, "prove", "linear", "--format", "json", "-o", str(tmp_path / "F.json"),
                           "--certificate", str(tmp_path / "G.json"), "--force")
    assert rc == 130 and err.splitlines() == [
        "evosym: interrupted", f"evosym: written before it stopped: {tmp_path / 'F.json'}, {tmp_path / 'G.json'}"], err
    assert all(not (tmp_path / n).read_text().startswith("the user's") for n in ("F.json", "G.json"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["F.json", "G.json"]
