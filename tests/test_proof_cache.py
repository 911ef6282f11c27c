"""Checked catalogue proofs kept on disk across commands (evosym.proofcache): a restored proof prints
exactly as a fresh one, and an entry that is damaged, tampered with, not private, of another source
or another operator is never read (the proof is checked afresh)."""

from __future__ import annotations

import json
import os

import pytest

from evosym import catalogue, proofcache
from evosym.analysis import report
from evosym.printers import render
from evosym.proof.proof import Proof


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EVOSYM_CACHE", str(tmp_path))
    monkeypatch.delenv("EVOSYM_PROOF_CACHE", raising=False)
    _forget()
    yield tmp_path / "proofs"
    _forget()


def _forget():
    """Drop this process's copies, so that the next read goes to the disk cache."""
    for f in (catalogue._checked_builtin, report._builtin_properties, report._builtin_cost):
        f.cache_clear()


@pytest.fixture
def no_check(monkeypatch):
    """After this, a proof that is checked (not read from the cache) fails the test."""
    def refuse(self, *a, **k):
        raise AssertionError(f"{self.operator.name} was checked again instead of read from the cache")
    return lambda: monkeypatch.setattr(Proof, "check", refuse)


@pytest.mark.parametrize("name", ["linear", "conv2d_reflect", "cordonnier_attention", "fourier_conv1d", "mhsa"])
def test_a_restored_proof_reads_exactly_as_a_fresh_one(cache, no_check, name):
    fresh = catalogue.checked(name)
    props, cost = report.properties_of(fresh), report.cost_of(fresh)
    assert {p.name.split("-")[-2] for p in cache.iterdir()} == {"proof", "properties", "cost"}
    _forget()
    no_check()
    again = catalogue.checked(name)
    assert again is not fresh and again.ok == fresh.ok
    for fmt in ("text", "markdown", "latex"):
        assert render(again, fmt) == render(fresh, fmt)
    assert report.properties_of(again) == props and report.cost_of(again) == cost
    assert again.checks == fresh.checks and again.steps == fresh.steps and again.shapes == fresh.shapes
    assert again.operator.reference is not None and again.operator.bench == fresh.operator.bench   # callables re-attached


def _entry(cache, kind="proof"):
    (path,) = [p for p in cache.iterdir() if p.name.startswith(f"linear-{kind}-")]
    return path


def _tamper_verdict(path):
    outer = json.loads(path.read_text())
    value = json.loads(outer["value"])
    steps = value["certificate"]["verdicts"]["steps"]
    steps[0]["general"] = not steps[0]["general"]
    outer["value"] = json.dumps(value, sort_keys=True)
    return outer


def _rehash(outer):
    import hashlib
    outer["sha256"] = hashlib.sha256(outer["value"].encode()).hexdigest()
    return outer


@pytest.mark.parametrize("damage", [
    lambda p: p.write_text(p.read_text()[:100]),                                   # truncated
    lambda p: p.write_text("not json"),
    lambda p: p.write_text(json.dumps(_tamper_verdict(p))),                        # a verdict changed, hash kept
    lambda p: (p.write_text(json.dumps(_rehash(_tamper_verdict(p)))), os.chmod(p, 0o666)),   # rehashed, but writable by others
    lambda p: (p.write_text(json.dumps(_rehash(_tamper_verdict(p)))), os.chmod(p.parent, 0o777)),  # in a shared folder
    lambda p: (p.unlink(), os.mkfifo(p)),                                          # not a regular file
    lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "key": "0" * 64})),   # another source
    lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "name": "conv1d"})),  # another operator's
], ids=["truncated", "garbage", "verdict-changed", "group-writable", "shared-folder", "fifo", "other-key", "other-name"])
def test_an_entry_that_is_not_trustworthy_is_checked_afresh(cache, damage):
    fresh = catalogue.checked("linear")
    damage(_entry(cache))
    _forget()
    again = catalogue.checked("linear")
    assert render(again, "text") == render(fresh, "text")
    assert again.steps[0].check.general == fresh.steps[0].check.general


def test_a_rehashed_tampered_entry_in_a_private_folder_is_read(cache, no_check):
    """What the cache can and cannot guard: an entry rewritten by its own user, hash and all, is read (the
    cache is as trustworthy as the user's own files; evosym prove and verify never read it)."""
    catalogue.checked("linear")
    path = _entry(cache)
    path.write_text(json.dumps(_rehash(_tamper_verdict(path))))
    os.chmod(path, 0o600)
    _forget()
    no_check()
    assert catalogue.checked("linear").steps[0].check.general is False


def test_another_source_or_a_changed_operator_misses(cache, monkeypatch):
    catalogue.checked("linear")
    _forget()
    with monkeypatch.context() as m:
        m.setattr(proofcache, "source_digest", lambda: "f" * 64)       # any edit to evosym or the catalogue
        assert proofcache.load("linear", catalogue.load("linear").operator) is None
    import dataclasses
    changed = dataclasses.replace(catalogue.load("linear").operator, summary="edited")
    assert proofcache.load("linear", changed) is None
    assert proofcache.load("linear", catalogue.load("linear").operator) is not None


def test_the_cache_can_be_turned_off(cache, monkeypatch):
    monkeypatch.setenv("EVOSYM_PROOF_CACHE", "0")
    catalogue.checked("linear")
    assert not cache.exists()


def test_entries_are_private(cache):
    catalogue.checked("linear")
    assert cache.stat().st_mode & 0o777 == 0o700
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in cache.iterdir())


def test_prove_never_reads_the_cache(cache, capsys, monkeypatch):
    """A tampered entry changes nothing for evosym prove: it derives and checks afresh."""
    from cli_helpers import run_cli
    catalogue.checked("linear")
    path = _entry(cache)
    path.write_text(json.dumps(_rehash(_tamper_verdict(path))))
    rc, out, err = run_cli(capsys, "prove", "linear", "--summary")
    assert rc == 0 and out.startswith("PROVED  linear               2 steps (2 general)"), out
