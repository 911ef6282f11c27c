"""The kernel cache heals and is shared safely (evosym/runtime/build.py, cache.py, lock.py).

Each hole is tried in several variants: corrupt entries (truncated, garbage, a flipped byte, a stale
library with the same symbols, broken or foreign records) are rebuilt and never loaded, checked in a
child process so that a crash fails the test instead of killing pytest; concurrent first uses
compile once; files follow the umask; an unusable cache falls back with one warning; a failed
compiler says how it ended; a library that does not load is never cached; a killed build's
workspace is removed. The sources are tiny standalone C++ (about 0.2 s a build); only the CLI test
builds generated kernels (no torch headers, about a second).
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import pytest

from evosym.errors import EvosymError
from evosym.runtime import build as build_mod
from evosym.runtime import backends, cache, lock

REPO = Path(__file__).resolve().parents[1]
CXX = shutil.which(os.environ.get("CXX") or "c++")
pytestmark = pytest.mark.skipif(CXX is None, reason="no C++ compiler")
SOURCE = 'extern "C" int f() { return %d; }\n'


def _env(cache_dir, **extra) -> dict:
    """A child's environment: this checkout's evosym (not an installed copy) and the given cache."""
    env = dict(os.environ, EVOSYM_CACHE=str(cache_dir), PYTHONPATH=os.pathsep.join(
        [str(REPO)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])), PYTHONUTF8="1")
    env.pop("EVOSYM_DEBUG", None)
    env.update(extra)
    return env


def _entry(lib: Path) -> cache.Entry:
    return cache.Entry(lib.parent, lib.stem)


def _script(tmp_path: Path, name: str, body: str) -> Path:
    """A fake compiler: answers --version, then runs ``body`` for anything else."""
    path = tmp_path / name
    path.write_text(f'#!/bin/sh\ncase "$1" in --version) echo "{name} 1.0"; exit 0;; esac\n{body}\n')
    path.chmod(0o755)
    return path


# --- corrupt entries are rebuilt, never loaded ------------------------------------------------------

def _truncate(lib, size):
    with open(lib, "r+b") as f:
        f.truncate(size)


def _flip(lib):
    data = bytearray(lib.read_bytes())
    data[len(data) // 2] ^= 0xFF
    lib.write_bytes(bytes(data))


def _record(e, **change):
    data = json.loads(e.record.read_text())
    data.update(change)
    e.record.write_text(json.dumps(data))


# variant: (what it does to entry e, given the other source's entry o; a word of the reason it is rebuilt)
CORRUPTIONS = {
    "intact": (lambda e, o: None, None),
    "truncated to half (SIGBUS when loaded)": (lambda e, o: _truncate(e.library, e.library.stat().st_size // 2),
                                               "size"),
    "truncated to nothing": (lambda e, o: _truncate(e.library, 0), "size"),
    "one byte short": (lambda e, o: _truncate(e.library, e.library.stat().st_size - 1), "size"),
    "garbage of the same size": (lambda e, o: e.library.write_bytes(os.urandom(e.library.stat().st_size)), "SHA-256"),
    "a few bytes of garbage": (lambda e, o: e.library.write_bytes(b"not a shared library\n"), "size"),
    "one byte flipped": (lambda e, o: _flip(e.library), "SHA-256"),
    "a stale library with the same symbols": (lambda e, o: shutil.copyfile(o.library, e.library), "SHA-256"),
    "a stale library with its own record": (lambda e, o: (shutil.copyfile(o.library, e.library),
                                                         shutil.copyfile(o.record, e.record)), "another key"),
    "no record (a cache from before records)": (lambda e, o: e.record.unlink(), "no record"),
    "a record of garbage": (lambda e, o: e.record.write_bytes(b"\x00\xff{"), "unreadable"),
    "a record of another format": (lambda e, o: _record(e, format=0), "unreadable"),
    "a record too large to be one": (lambda e, o: e.record.write_text(" " * (cache.MAX_RECORD + 1) + "{}"),
                                     "unreadable"),
    "a record with the wrong size": (lambda e, o: _record(e, size=1), "size"),
    "no library": (lambda e, o: e.library.unlink(), "missing"),
    "a folder where the library was": (lambda e, o: (e.library.unlink(), e.library.mkdir()), "size"),
    "a named pipe where the record was (never waited on)": (lambda e, o: (e.record.unlink(), os.mkfifo(e.record)),
                                                            "unreadable"),
    "a named pipe where the library was": (lambda e, o: (e.library.unlink(), os.mkfifo(e.library)), "size"),
}

# in a child process: build each cache's SOURCE % 1, say so, then load it and call it
_CHILD = r"""
import ctypes, json, os, sys
from evosym.runtime import build as b
b._versions = lambda: sys.argv[3]   # the parent's torch version, without importing torch (the same keys)
for folder in json.loads(sys.argv[1]):
    os.environ["EVOSYM_CACHE"] = folder
    lib = b.build(sys.argv[2], "cpu")
    print(json.dumps({"folder": folder, "cached": lib.cached, "rebuilt": lib.rebuilt}), flush=True)
    print(json.dumps({"folder": folder, "value": ctypes.CDLL(str(lib.path)).f()}), flush=True)
"""


@pytest.fixture(scope="module")
def corrupted(tmp_path_factory):
    """{variant: (cache folder, what the child said about it, its exit code, its stderr)}: one cache
    per variant, all loaded by one child process (a crash names the variant it happened in)."""
    base = tmp_path_factory.mktemp("corrupt")
    before = os.environ.get("EVOSYM_CACHE")
    try:
        os.environ["EVOSYM_CACHE"] = str(base / "good")
        good = _entry(build_mod.build(SOURCE % 1, "cpu").path)
        os.environ["EVOSYM_CACHE"] = str(base / "other")
        other = _entry(build_mod.build(SOURCE % 2, "cpu").path)
    finally:
        os.environ.pop("EVOSYM_CACHE") if before is None else os.environ.__setitem__("EVOSYM_CACHE", before)
    folders = {}
    for i, (variant, (corrupt, _)) in enumerate(CORRUPTIONS.items()):
        folder = base / f"v{i}"
        shutil.copytree(base / "good", folder)
        e = cache.Entry(folder / "kernels" / good.folder.name, good.key)
        corrupt(e, other)
        folders[variant] = folder
    r = subprocess.run([sys.executable, "-c", _CHILD, json.dumps([str(f) for f in folders.values()]), SOURCE % 1,
                        build_mod._versions()],
                       env=_env(base / "unused"), capture_output=True, text=True, timeout=300)
    said = {}
    for line in r.stdout.splitlines():
        data = json.loads(line)
        said.setdefault(data.pop("folder"), {}).update(data)
    return {v: (f, good.key, said.get(str(f), {}), r.returncode, r.stderr) for v, f in folders.items()}


@pytest.mark.parametrize("variant", list(CORRUPTIONS))
def test_a_cached_library_is_checked_before_it_is_loaded_and_rebuilt_when_invalid(corrupted, variant):
    folder, key, said, rc, err = corrupted[variant]
    assert "value" in said, f"the child died in {variant!r} (exit {rc}, {said}):\n{err[-2000:]}"
    assert said["value"] == 1   # never the stale library's 2, never a crash
    word = CORRUPTIONS[variant][1]
    if word is None:
        assert said["cached"] and said["rebuilt"] == ""
    else:
        assert not said["cached"] and word in said["rebuilt"], said
    e = cache.Entry.at(folder / "kernels", key)
    assert cache.problem(e) is None   # healed: the next process loads it without a build


@pytest.mark.parametrize("forged", [False, True])
def test_check_kernels_survives_a_corrupt_cache(tmp_path, monkeypatch, forged):
    """`evosym check --kernels` (the kernels' default path) died by SIGBUS, silently, on a truncated
    library. The library is built here (never loaded in this process), truncated, then checked; ``forged``: its
    record rewritten to match (only the load's ELF check sees it), tests/test_kernel_cache_tampering.py."""
    from evosym.codegen.artifact import kernels_for   # generates and registers conv1d's kernels
    monkeypatch.setenv("EVOSYM_CACHE", str(tmp_path / "cache"))
    e = _entry(build_mod.build(kernels_for("conv1d").cpu_source, "cpu").path)
    _truncate(e.library, e.library.stat().st_size // 3)   # (garbage and the rest: the child-process variants above)
    if forged:
        data = json.loads(e.record.read_text())
        e.record.write_text(json.dumps({**data, "size": e.library.stat().st_size, "sha256": cache.sha256(e.library)}))
    r = subprocess.run([sys.executable, "-m", "evosym", "check", "conv1d", "--kernels"], cwd=tmp_path,
                       env=_env(tmp_path / "cache"), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])   # was -7: SIGBUS
    assert "PASSED" in r.stdout and "unavailable" not in r.stderr
    assert ("past its end" if forged else "is rebuilt: its size is") in r.stderr, r.stderr[-2000:]
    assert cache.problem(e) is None and len(list((tmp_path / "cache").rglob("*.so"))) == 1


# --- one build for concurrent first uses ------------------------------------------------------------

def _counting_compiler(tmp_path: Path, delay: float) -> tuple[Path, Path]:
    """A wrapper around the real compiler that logs each compilation and is slow at it."""
    log = tmp_path / "compilations.log"
    wrapper = _script(tmp_path, "slow-c++", f'case "$*" in *" -o "*) echo "$$" >> "{log}"; sleep {delay};; esac\n'
                                            f'exec "{CXX}" "$@"')
    return wrapper, log


_RACER = r"""
import ctypes, json, os, sys, time
from evosym.runtime import build
build._versions = lambda: "pinned"   # no torch import: the four start at once (the key is not under test)
print("ready", flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.01)
lib = build.build(sys.argv[1], "cpu")
print(json.dumps([lib.cached, ctypes.CDLL(str(lib.path)).f()]))
"""


def test_concurrent_processes_on_an_empty_cache_compile_once(tmp_path):
    wrapper, log = _counting_compiler(tmp_path, 1.0)
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", _RACER, SOURCE % 7, str(go)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=_env(tmp_path / "cache", CXX=str(wrapper)))
             for _ in range(4)]
    try:
        assert [p.stdout.readline().strip() for p in procs] == ["ready"] * 4
        go.touch()   # all four ask for the same library at once
        results = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    assert all(p.returncode == 0 for p in procs), [err[-1500:] for _, err in results]
    said = [json.loads(out) for out, _ in results]
    assert sorted(said) == [[False, 7], [True, 7], [True, 7], [True, 7]]
    assert len(log.read_text().split()) == 1


def test_concurrent_threads_compile_once(tmp_path, monkeypatch):
    wrapper, log = _counting_compiler(tmp_path, 0.5)
    monkeypatch.setenv("EVOSYM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CXX", str(wrapper))
    out, errors = [], []

    def use():
        try:
            out.append(build_mod.build(SOURCE % 8, "cpu"))
        except Exception as exc:   # reported below
            errors.append(exc)
    threads = [threading.Thread(target=use) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and sorted(lib.cached for lib in out) == [False, True, True]
    assert len({lib.path for lib in out}) == 1 and len(log.read_text().split()) == 1


def test_the_lock_is_per_key_waits_with_a_clear_error_and_dies_with_its_holder(tmp_path):
    a, b = tmp_path / "a.lock", tmp_path / "b.lock"
    with lock.file_lock(a):
        with lock.file_lock(b, timeout=1):   # another key: no wait
            pass
        start = time.monotonic()
        with pytest.raises(EvosymError, match="waited 0.3 s for the kernel-cache lock .*a.lock"):
            with lock.file_lock(a, timeout=0.3):
                pass
        assert time.monotonic() - start < 5
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, sys, time\nf = open(sys.argv[1], 'w')\n"
                               "fcntl.flock(f, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(300)", str(a)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(EvosymError, match="waited"):
            with lock.file_lock(a, timeout=0.2):
                pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
        with lock.file_lock(a, timeout=5):   # a killed holder's lock is gone
            pass
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        holder.stdout.close()


# --- permissions follow the umask -------------------------------------------------------------------

@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_cache_files_get_the_umask_permissions(tmp_path, monkeypatch, mask):
    monkeypatch.setenv("EVOSYM_CACHE", str(tmp_path / "cache"))
    before = os.umask(mask)
    try:
        assert cache.umask() == mask
        lib = build_mod.build(SOURCE % 3, "cpu")
    finally:
        os.umask(before)
    e = _entry(lib.path)
    mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)  # noqa: E731
    assert mode(e.library) == 0o777 & ~mask
    assert mode(e.record) == mode(e.lock) == 0o666 & ~mask
    assert mode(e.folder) == mode(e.folder.parent) == 0o777 & ~mask


# --- an unusable cache falls back to a private folder -----------------------------------------------

def _unusable(kind: str, tmp_path: Path) -> str:
    if kind == "a file":
        (tmp_path / "file").write_text("x")
        return str(tmp_path / "file")
    if kind == "below a file":
        (tmp_path / "file").write_text("x")
        return str(tmp_path / "file" / "cache")
    if kind == "a kernels file":
        (tmp_path / "c").mkdir()
        (tmp_path / "c" / "kernels").write_text("x")
        return str(tmp_path / "c")
    if kind == "not writable":
        if os.geteuid() == 0:
            return "/proc/evosym-cache"   # not even root can write there
        (tmp_path / "ro").mkdir(mode=0o555)
        return str(tmp_path / "ro")
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["a file", "below a file", "a kernels file", "not writable"])
def test_an_unusable_cache_falls_back_to_a_private_folder_with_one_warning(tmp_path, monkeypatch, kind):
    monkeypatch.setattr(cache, "_WARNED", set())
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("EVOSYM_CACHE", _unusable(kind, tmp_path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = build_mod.build(SOURCE % 4, "cpu")
        again = build_mod.build(SOURCE % 4, "cpu")
    said = [w for w in caught if issubclass(w.category, cache.KernelCacheWarning)]
    assert len(said) == 1 and "check EVOSYM_CACHE" in str(said[0].message) and "cannot be used" in str(said[0].message)
    private = tmp_path / "tmp" / f"evosym-{os.getuid()}"
    assert first.path.is_relative_to(private / "kernels") and not first.cached and again.cached
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    assert ctypes.CDLL(str(first.path)).f() == 4


@pytest.mark.parametrize("kind", ["open to others", "a link", "a file", "no temporary folder"])
def test_an_unsafe_private_folder_is_a_clear_error(tmp_path, monkeypatch, kind):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("EVOSYM_CACHE", _unusable("a file", tmp_path))
    private = tmp_path / "tmp" / f"evosym-{os.getuid()}"
    if kind == "open to others":
        private.mkdir()
        private.chmod(0o777)
    elif kind == "a link":
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        private.symlink_to(tmp_path / "elsewhere")
    elif kind == "a file":
        private.write_text("x")
    else:
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "file"))
    with pytest.raises(EvosymError, match="no usable kernel cache.*(EVOSYM_CACHE)"):
        build_mod.build(SOURCE % 5, "cpu")


# --- a failed compiler says how it ended ------------------------------------------------------------

@pytest.mark.parametrize("body, words", [
    ("kill -9 $$", ["was killed by signal 9 (SIGKILL)", "(no output)"]),
    ("echo 'fatal: out of licences'; exit 3", ["exited with status 3", "fatal: out of licences"]),
    ("echo 'internal compiler error' >&2; kill -SEGV $$", ["killed by signal 11 (SIGSEGV)", "internal compiler error"]),
    ("exit 1", ["exited with status 1", "(no output)"]),
    ("exit 0", ["reported success but wrote no library"]),
])
def test_a_failed_compiler_is_reported_with_its_status_and_output(tmp_path, monkeypatch, body, words):
    monkeypatch.setenv("EVOSYM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CXX", str(_script(tmp_path, "fake-c++", body)))
    with pytest.raises(EvosymError) as info:
        build_mod.build(SOURCE % 6, "cpu")
    message = str(info.value)
    assert message.startswith("building the cpu kernels failed: fake-c++ ")
    for word in words:
        assert word in message, message
    assert not list((tmp_path / "cache").rglob("*.so")) and not list((tmp_path / "cache" / "kernels" / "tmp").iterdir())


def test_a_compile_error_says_the_status_and_the_diagnostics(tmp_path, monkeypatch):
    monkeypatch.setenv("EVOSYM_CACHE", str(tmp_path / "cache"))
    with pytest.raises(EvosymError, match=r"(?s)exited with status 1 .*error"):
        build_mod.build('extern "C" int f( {\n', "cpu")


# --- a library that does not load is never cached ---------------------------------------------------

@pytest.mark.parametrize("compiler, source, words", [
    ("gcc", 'extern "C" int f(int x) { if (x < 0) throw x; return x + 1; }\n',
     ["undefined symbol", "looks like a C compiler", "such as g++"]),
    (None, 'extern "C" int missing_elsewhere();\nextern "C" int f() { return missing_elsewhere(); }\n',
     ["undefined symbol: missing_elsewhere"]),
    (None, '__attribute__((constructor)) static void boom() { __builtin_trap(); }\nextern "C" int f() { return 0; }\n',
     ["loading it was killed by signal"]),
])
def test_a_library_that_does_not_load_is_never_cached(tmp_path, monkeypatch, compiler, source, words):
    monkeypatch.setenv("EVOSYM_CACHE", str(tmp_path / "cache"))
    if compiler:
        if not shutil.which(compiler):
            pytest.skip(f"no {compiler}")
        monkeypatch.setenv("CXX", compiler)
    for _ in range(2):   # not cached: the second use builds (and refuses) again
        with pytest.raises(EvosymError) as info:
            build_mod.build(source, "cpu")
        message = str(info.value)
        assert "does not load, so it is not cached" in message
        for word in words:
            assert word in message, message
        assert not list((tmp_path / "cache").rglob("*.so")) and not list((tmp_path / "cache").rglob("*.json"))
    if compiler:   # the same source with a C++ compiler is fine
        monkeypatch.delenv("CXX")
        assert not build_mod.build(source, "cpu").cached


def test_the_load_test_finds_a_dependency_where_this_process_does(tmp_path, monkeypatch):
    """A dependency off the loader's path that this process has loaded (as torch's bundled libgomp.so.1
    is with some toolchains) is loaded first in the child, as it would be here; one it has not is an
    error, and nothing is cached."""
    helper = tmp_path / "deps" / "libevohelper.so"
    helper.parent.mkdir()
    subprocess.run([CXX, "-shared", "-fPIC", "-Wl,-soname,libevohelper.so", "-x", "c++", "-", "-o", str(helper)],
                   input='extern "C" int evo_helper() { return 40; }\n', text=True, check=True)
    wrapper = _script(tmp_path, "linking-c++", f'exec "{CXX}" "$@" -L"{helper.parent}" -levohelper')
    monkeypatch.setenv("EVOSYM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CXX", str(wrapper))
    source = 'extern "C" int evo_helper();\nextern "C" int f() { return evo_helper() + 2; }\n'
    with pytest.raises(EvosymError, match="does not load, so it is not cached: .*libevohelper.so: cannot open"):
        build_mod.build(source, "cpu")   # not loaded here yet
    assert not list((tmp_path / "cache").rglob("*.so"))
    ctypes.CDLL(str(helper), mode=ctypes.RTLD_GLOBAL)
    lib = build_mod.build(source, "cpu")
    assert not lib.cached and ctypes.CDLL(str(lib.path)).f() == 42


@pytest.mark.parametrize("which", ["source", "header"])
@pytest.mark.parametrize("code", [28, 122, 30])   # ENOSPC, EDQUOT, EROFS
def test_a_cache_that_takes_no_more_bytes_is_a_clear_error_naming_it(tmp_path, monkeypatch, which, code):
    """A full disk (or quota, or a file system turned read-only) while the sources are written into the workspace was a
    bare OSError without a path (found by an adversarial pass); it is the build's error naming the cache's workspace,
    which path="auto" turns into its fallback with a warning, and the workspace is removed."""
    monkeypatch.setenv("EVOSYM_CACHE", str(tmp_path / "cache"))
    real = Path.write_text

    def full(self, *args, **kwargs):
        if (self.parent.name == "include") == (which == "header"):
            raise OSError(code, os.strerror(code))
        return real(self, *args, **kwargs)
    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(EvosymError, match=rf"building the cpu kernels failed: cannot write the sources into the kernel "
                                          rf"cache's workspace {tmp_path}/cache/\S+: {os.strerror(code)}"):
        build_mod.build(SOURCE % (40 + code), "cpu")
    assert list((tmp_path / "cache" / "kernels" / "tmp").iterdir()) == []


# --- killed builds leave no workspace ---------------------------------------------------------------

def test_a_killed_build_leaves_no_workspace(tmp_path, monkeypatch):
    wrapper, log = _counting_compiler(tmp_path, 120)
    code = "import sys\nfrom evosym.runtime import build as b\nb._versions = lambda: 'no torch'\nb.build(sys.argv[1], 'cpu')"
    child = subprocess.Popen([sys.executable, "-c", code, SOURCE % 9], env=_env(tmp_path / "cache", CXX=str(wrapper)),
                             start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    work = tmp_path / "cache" / "kernels" / "tmp"
    try:
        deadline = time.monotonic() + 120
        while not (log.exists() and log.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert log.exists(), "the child never started compiling"
    finally:
        os.killpg(child.pid, signal.SIGKILL)   # the build and its compiler, as an OOM killer would
        child.wait(30)
    left = list(work.iterdir())
    assert len(left) == 1 and left[0].name.startswith(f"build-{cache._host()}-{child.pid}-")
    monkeypatch.setenv("EVOSYM_CACHE", str(tmp_path / "cache"))
    lib = build_mod.build(SOURCE % 9, "cpu")   # the next build cleans up, and builds (the lock died too)
    assert not lib.cached and list(work.iterdir()) == []


def test_stale_workspaces_are_removed_and_live_ones_kept(tmp_path):
    root = tmp_path / "kernels"
    (root / "tmp").mkdir(parents=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    host, old = cache._host(), time.time() - 2 * cache.STALE_AGE
    names = {f"build-{host}-{dead.pid}-a": True,            # this host, process gone
             f"build-{host}-{os.getpid()}-b": False,        # this host, alive
             f"build-{host}-{os.getpid()}-c": True,         # alive but ancient: a reused pid
             "build-elsewhere-1-d": False,                  # another host, recent: it may be running
             "build-elsewhere-1-e": True,                   # another host, ancient
             "not-a-workspace": False}                      # not evosym's: left alone, however old
    for name, _ in names.items():
        (root / "tmp" / name).mkdir()
        (root / "tmp" / name / "lib.so").write_bytes(b"x")
    for name in (f"build-{host}-{os.getpid()}-c", "build-elsewhere-1-e", "not-a-workspace"):
        os.utime(root / "tmp" / name, (old, old))
    removed = {p.name for p in cache.clean_stale(root)}
    assert removed == {n for n, gone in names.items() if gone}
    assert {p.name for p in (root / "tmp").iterdir()} == {n for n, gone in names.items() if not gone}


# ---- the runtime's kernel headers (evosym/runtime/include): part of every key, compiled as hashed ----------------

HEADER_SOURCE = '#include "evosym_probe.h"\nextern "C" int f() { return EVO_PROBE; }\n'


def _probe_headers(tmp_path: Path, monkeypatch, value: int) -> Path:
    """The runtime's include folder replaced by a copy with a header evosym_probe.h defining EVO_PROBE = value."""
    folder = tmp_path / "include"
    if not folder.exists():
        shutil.copytree(build_mod.INCLUDE, folder)
    (folder / "evosym_probe.h").write_text(f"#define EVO_PROBE {value}\n")
    monkeypatch.setattr(build_mod, "INCLUDE", folder)
    return folder


def _call(lib: Path) -> int:
    """f() of a library, loaded in a child process (a stale library must be seen, not crash pytest)."""
    code = f"import ctypes; print(ctypes.CDLL({str(lib)!r}).f())"
    return int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


@pytest.mark.parametrize("target", [t.name for t in backends.targets() if t.compiler == "cxx"])   # cpu, host
def test_a_changed_header_rebuilds_and_never_loads_the_stale_library(tmp_path, monkeypatch, target):
    """A source that includes a runtime header: changing only the header's text changes the key, so the
    library is rebuilt (and computes the new value) instead of the cached one being loaded."""
    monkeypatch.setenv("EVOSYM_CACHE", str(tmp_path / "cache"))
    _probe_headers(tmp_path, monkeypatch, 1)
    first = build_mod.build(HEADER_SOURCE, target)
    assert not first.cached and _call(first.path) == 1
    assert build_mod.build(HEADER_SOURCE, target).cached   # unchanged: loaded from the cache
    _probe_headers(tmp_path, monkeypatch, 2)
    second = build_mod.build(HEADER_SOURCE, target)
    assert not second.cached and second.path != first.path and _call(second.path) == 2
    _probe_headers(tmp_path, monkeypatch, 1)   # back to the first text: the first entry again
    assert build_mod.build(HEADER_SOURCE, target).path == first.path


def test_every_header_is_in_the_key_even_one_the_source_does_not_name(tmp_path, monkeypatch):
    """Any header in the include folder can be reached (a header includes another), so all of them are hashed:
    a new header, or a changed emulation header, gives another key."""
    monkeypatch.setenv("EVOSYM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(build_mod, "INCLUDE", shutil.copytree(build_mod.INCLUDE, tmp_path / "include"))
    first = build_mod.build(SOURCE % 7, "host")
    (tmp_path / "include" / "evosym_extra.h").write_text("// a new header\n")
    second = build_mod.build(SOURCE % 7, "host")
    assert not second.cached and second.path != first.path
    emulate = tmp_path / "include" / build_mod.EMULATION
    emulate.write_text(emulate.read_text() + "\n// changed\n")
    third = build_mod.build(SOURCE % 7, "host")
    assert not third.cached and third.path not in (first.path, second.path)


def test_the_header_text_compiled_is_the_text_hashed(tmp_path, monkeypatch):
    """The headers are read once per build and compiled from the build's own copy: a header changed while the
    compiler runs cannot end up in a library cached under the old text's key."""
    monkeypatch.setenv("EVOSYM_CACHE", str(tmp_path / "cache"))
    folder = _probe_headers(tmp_path, monkeypatch, 3)
    real = build_mod._compile

    def compile_then_change(exe, flags, source, include, target, work):
        (folder / "evosym_probe.h").write_text("#define EVO_PROBE 4\n")   # after the key was computed
        assert include["evosym_probe.h"] == "#define EVO_PROBE 3\n"   # the text read when the key was made
        return real(exe, flags, source, include, target, work)

    monkeypatch.setattr(build_mod, "_compile", compile_then_change)
    lib = build_mod.build(HEADER_SOURCE, "cpu")
    assert _call(lib.path) == 3


def test_a_missing_include_folder_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("EVOSYM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(build_mod, "INCLUDE", tmp_path / "nowhere")
    with pytest.raises(EvosymError, match="cannot read the kernel headers"):
        build_mod.build(SOURCE % 1, "cpu")


def test_the_compiler_environment_is_part_of_the_key(tmp_path, monkeypatch):
    """A library built with a header shadowed through CPLUS_INCLUDE_PATH (its constructor printing) was reused by a
    clean environment: the key did not hold the variables the compiler reads (an adversarial pass)."""
    monkeypatch.setenv("EVOSYM_CACHE", str(tmp_path / "cache"))
    for name in build_mod.COMPILER_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    plain = build_mod.build(SOURCE % 9, "cpu")
    monkeypatch.setenv("CPLUS_INCLUDE_PATH", str(tmp_path / "include"))
    shadowed = build_mod.build(SOURCE % 9, "cpu")
    monkeypatch.setenv("NVCC_PREPEND_FLAGS", "-DX=1")
    other = build_mod.build(SOURCE % 9, "cpu")
    assert len({plain.path, shadowed.path, other.path}) == 3 and not shadowed.cached and not other.cached
    monkeypatch.delenv("CPLUS_INCLUDE_PATH")
    monkeypatch.delenv("NVCC_PREPEND_FLAGS")
    assert build_mod.build(SOURCE % 9, "cpu").path == plain.path
