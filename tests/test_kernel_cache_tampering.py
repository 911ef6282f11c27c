"""A kernel cache written by someone else between the check and the load, or laid out with links, never loads other
bytes than its record's, never crashes the interpreter and never writes outside the cache (an adversarial pass:
evosym/runtime/cache.py ``load``, ``own_folder``, lock.py).

The entry was checked (size and SHA-256 against its record) and then loaded by name, so a library swapped in between
loaded; a truncated library under a rewritten record killed the interpreter with SIGBUS; a garbage one raised ctypes's
own OSError; a lock that was a dangling link created a file outside the cache; a shard folder linked outside received
the entry; a rebuild and a wait for another build were silent. Each is tried in several variants; the loads that
could crash run in a child process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

from evosym.runtime import build as build_mod
from evosym.runtime import cache, lock
from test_kernel_cache import CXX, SOURCE, _entry, _env, _truncate

pytestmark = pytest.mark.skipif(CXX is None, reason="no C++ compiler")


def _forge(e: cache.Entry) -> None:
    """Rewrite the record to describe the library as it is now (what whoever shares the cache can do)."""
    data = json.loads(e.record.read_text())
    data.update(size=e.library.stat().st_size, sha256=cache.sha256(e.library))
    e.record.write_text(json.dumps(data))


@pytest.fixture
def built(tmp_path, monkeypatch):
    """(entry of SOURCE % 1, entry of SOURCE % 2), each in a cache of its own under tmp_path."""
    monkeypatch.setenv("EVOSYM_CACHE", str(tmp_path / "other"))
    other = _entry(build_mod.build(SOURCE % 2, "cpu").path)
    monkeypatch.setenv("EVOSYM_CACHE", str(tmp_path / "cache"))
    return _entry(build_mod.build(SOURCE % 1, "cpu").path), other


SWAPS = {
    "another library's bytes": lambda e, o: e.library.write_bytes(o.library.read_bytes()),
    "truncated to half": lambda e, o: _truncate(e.library, e.library.stat().st_size // 2),
    "a link to another library": lambda e, o: (e.library.unlink(), e.library.symlink_to(o.library)),
    "a named pipe": lambda e, o: (e.library.unlink(), os.mkfifo(e.library)),
}


@pytest.mark.parametrize("swap", list(SWAPS))
def test_a_library_changed_after_its_check_is_not_loaded(built, swap):
    e, o = built
    assert cache.problem(e) is None
    SWAPS[swap](e, o)   # (between the check and the load: the race an adversarial pass won 3 times in 20)
    with pytest.raises(cache.Unloadable, match="changed after it was checked|cannot be read|is a symbolic link"):
        cache.load(e.library)
    assert cache.load(o.library).f() == 2   # (an intact entry loads)


# in a child: load the entry as the runtime does; a crash (SIGBUS) fails the test instead of killing pytest
_LOAD = r"""
import sys
from pathlib import Path
from evosym.runtime import cache
try:
    print("value", cache.load(Path(sys.argv[1])).f())
except cache.Unloadable as exc:
    print("refused", exc)
"""

FORGED = {
    "truncated to half": (lambda e: _truncate(e.library, e.library.stat().st_size // 2), "past its end"),
    "truncated to its ELF header": (lambda e: _truncate(e.library, 64), "program headers lie past its end"),
    "cut inside its ELF header": (lambda e: _truncate(e.library, 40), "no ELF shared library"),
    "garbage": (lambda e: e.library.write_bytes(b"not a shared library\n" * 50), "no ELF shared library"),
    "empty": (lambda e: _truncate(e.library, 0), "no ELF shared library"),
    "a segment's memory past the address space": (lambda e: _segment(e, memsz=0x7FFFFFFF0000), "does not load"),
}


def _segment(e: cache.Entry, memsz: int) -> None:
    """The first PT_LOAD's p_memsz rewritten (an ELF64 little-endian library): the loader refuses to map it."""
    import struct
    data = bytearray(e.library.read_bytes())
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    at = next(phoff + k * phentsize for k in range(phnum) if struct.unpack_from("<I", data, phoff + k * phentsize)[0] == 1)
    struct.pack_into("<Q", data, at + 40, memsz)
    e.library.write_bytes(bytes(data))


@pytest.mark.parametrize("variant", list(FORGED))
def test_a_library_under_a_rewritten_record_is_refused_never_mapped_past_its_end(built, variant):
    e, _ = built
    damage, words = FORGED[variant]
    damage(e)
    _forge(e)
    assert cache.problem(e) is None   # (the record now says these bytes: only the load can see them)
    r = subprocess.run([sys.executable, "-c", _LOAD, str(e.library)], env=_env(e.folder.parent.parent),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"the load crashed (exit {r.returncode}): {r.stderr[-2000:]}"   # was -7: SIGBUS
    assert r.stdout.startswith("refused") and words in r.stdout, r.stdout


@pytest.mark.parametrize("size", [10 ** 15, "abc", -5, [1], 2 ** 40, None, 1.5])
def test_a_record_changed_to_none_after_the_check_is_refused_never_read_as_asked(built, size):
    e, _ = built
    data = json.loads(e.record.read_text())
    e.record.write_text(json.dumps({**data, "size": size}))
    with pytest.raises(cache.Unloadable, match="lost its record"):
        cache.load(e.library)


def test_a_corrupt_entry_is_rebuilt_with_a_warning(built):
    e, o = built
    e.library.write_bytes(o.library.read_bytes())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lib = build_mod.build(SOURCE % 1, "cpu")
    said = [str(w.message) for w in caught if issubclass(w.category, cache.KernelCacheWarning)]
    assert len(said) == 1 and "is rebuilt: its bytes do not match the recorded SHA-256" in said[0], said
    assert lib.rebuilt and cache.load(lib.path).f() == 1


@pytest.mark.parametrize("target", ["missing", "an existing file", "an empty folder"])
def test_a_lock_that_is_a_link_is_removed_never_followed(tmp_path, target):
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim"
    if target == "an existing file":
        victim.write_text("kept\n")
    path = tmp_path / "k.lock"
    if target == "an empty folder":   # (not a link: a folder where the lock goes is removed, the entry heals)
        path.mkdir()
        victim.write_text("kept\n")
    else:
        path.symlink_to(victim)
    with lock.file_lock(path):
        assert path.is_file() and not path.is_symlink()
    assert (victim.read_text() == "kept\n") if target != "missing" else not victim.exists()
    assert [p.name for p in outside.iterdir()] == (["victim"] if target != "missing" else [])


@pytest.mark.parametrize("linked", ["the entry's shard folder", "the workspace folder"])
def test_a_cache_folder_linked_outside_is_replaced_never_written_through(tmp_path, monkeypatch, linked):
    monkeypatch.setenv("EVOSYM_CACHE", str(tmp_path / "cache"))
    lib = build_mod.build(SOURCE % 3, "cpu")   # (to learn the shard's name)
    shard = lib.path.parent
    outside = tmp_path / "outside"
    outside.mkdir()
    where = shard if linked == "the entry's shard folder" else shard.parent / "tmp"
    for p in [*shard.iterdir()]:
        p.unlink()
    if where.exists():
        os.rmdir(where) if where.is_dir() else where.unlink()
    mine = outside / "build-x-999999-mine"   # (named like a dead build's workspace, a day old: never removed there)
    mine.mkdir()
    os.utime(mine, (1, 1))
    where.symlink_to(outside, target_is_directory=True)
    again = build_mod.build(SOURCE % 3, "cpu")
    assert list(outside.iterdir()) == [mine] and not where.is_symlink() and where.is_dir()
    assert cache.load(again.path).f() == 3


def test_a_wait_for_another_build_is_said(tmp_path, monkeypatch):
    monkeypatch.setattr(lock, "WAIT_SAID", 0.2)
    path = tmp_path / "k.lock"
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, os, sys, time\n"
                               "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\nfcntl.flock(fd, fcntl.LOCK_EX)\n"
                               "print('held', flush=True)\ntime.sleep(1.0)\n", str(path)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        start = time.monotonic()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with lock.file_lock(path, timeout=30):
                waited = time.monotonic() - start
    finally:
        holder.wait(timeout=30)
    said = [str(w.message) for w in caught if issubclass(w.category, cache.KernelCacheWarning)]
    assert waited >= 0.5 and len(said) == 1 and "another process is building this kernel" in said[0], said


def test_a_cache_every_user_may_write_to_is_not_used(tmp_path, monkeypatch):
    import tempfile
    monkeypatch.setattr(cache, "_WARNED", set())
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    (tmp_path / "shared" / "kernels").mkdir(parents=True)
    os.chmod(tmp_path / "shared" / "kernels", 0o777)
    monkeypatch.setenv("EVOSYM_CACHE", str(tmp_path / "shared"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lib = build_mod.build(SOURCE % 5, "cpu")
    said = [str(w.message) for w in caught if issubclass(w.category, cache.KernelCacheWarning)]
    assert len(said) == 1 and "every user may write to it" in said[0], said
    assert lib.path.is_relative_to(tmp_path / "tmp") and not list((tmp_path / "shared").rglob("*.so"))
