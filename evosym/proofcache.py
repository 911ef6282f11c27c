"""Checked catalogue proofs kept on disk, so that commands that only read proofs do not re-prove.

``evosym table``, ``info``, ``docs``, ``check``, ``codegen`` and ``bench`` read the checked proofs
of the catalogue; checking all of them takes minutes. An entry holds one operator's proof and the
verdicts of its check, in the certificate encoding (:mod:`evosym.proof.certificate`: exact data,
no code), keyed by everything the verdicts depend on: the source of every module of evosym and of
the catalogue, the Python and SymPy versions and the certificate format. Any edit to the checker,
a rule or an operator gives another key.

A cached verdict is not re-checked, so the cache is trusted only as far as its folder is: an entry
is read only when it and its folder belong to this user and no one else can write them, and only
when its content hash matches; anything else is ignored and the proof is checked afresh. ``evosym
prove`` and ``evosym verify`` never read the cache: they always check. ``EVOSYM_PROOF_CACHE=0``
turns the cache off.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import stat
import sys
import tempfile
from pathlib import Path

import sympy as sp

from .proof import certificate as C
from .proof.proof import CheckedProof, Proof
from .proof.rules.base import Obligation
from .proof.step import Counterexample, Step, StepCheck
from .proof.reference import CheckResult
from .proof.limit import LimitReport

FORMAT = "evosym-proof-cache/1"
MAX_ENTRY = 64 * 1024 * 1024


def enabled() -> bool:
    return os.environ.get("EVOSYM_PROOF_CACHE", "1") != "0"


def folder() -> Path:
    root = os.environ.get("EVOSYM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "evosym")
    return Path(root) / "proofs"


# Subpackages that a source checkout keeps outside evosym/ (derivations/, codegen/templates/) and an install
# puts inside it: evosym's own sources are hashed without them, the catalogue on its own, so that the same
# sources give the same key in a checkout and in an install (the test suite runs both at once: the checkout
# in its own process, the install in ``evosym`` commands started from other folders).
_ATTACHED = ("derivations", "templates")


def _version(dist: str) -> str:
    """The installed version of ``dist`` (without importing it), or "" when it has no metadata."""
    from importlib import metadata
    try:
        return metadata.version(dist)
    except Exception:
        return ""


@functools.lru_cache(maxsize=1)
def source_digest() -> str:
    """SHA-256 of every Python source of evosym and of the catalogue (by path inside its package, the
    same in a source checkout and an install), the Python, SymPy, NumPy and PyTorch versions (the
    reference checks' measured errors are computed with NumPy and PyTorch) and the formats: what a
    checked proof's verdicts can depend on."""
    import evosym
    from . import attach_source_packages
    attach_source_packages()
    import evosym.derivations as derivations
    h = hashlib.sha256(f"{FORMAT}\0{C.FORMAT}\0{C.VERSION}\0{sp.__version__}\0{sys.version_info[:3]}\0"
                       f"numpy {_version('numpy')}\0torch {_version('torch')}".encode())
    base = Path(evosym.__file__).parent
    for label, paths in (("evosym", [p for p in base.rglob("*.py") if p.relative_to(base).parts[0] not in _ATTACHED]),
                         ("derivations", list(Path(derivations.__file__).parent.rglob("*.py")))):
        root = base if label == "evosym" else Path(derivations.__file__).parent
        for path in sorted(paths, key=lambda p: p.relative_to(root).as_posix()):
            h.update(f"{label}/{path.relative_to(root).as_posix()}".encode() + b"\0")
            h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def _entry(name: str, kind: str = "proof") -> Path:
    return folder() / f"{name}-{kind}-{source_digest()[:32]}.json"


def _private(path: Path) -> bool:
    """Owned by this user and writable by no one else (the folder and the file)."""
    try:
        for p in (path.parent, path):
            st = os.lstat(p)
            if st.st_uid != os.getuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                return False
            if p == path and not stat.S_ISREG(st.st_mode):
                return False
        return True
    except OSError:
        return False


def read(name: str, kind: str):
    """The JSON value cached for (``name``, ``kind``) under the current key, or None (off, missing,
    not private, damaged, another key)."""
    if not enabled():
        return None
    path = _entry(name, kind)
    if not _private(path):
        return None
    try:
        if path.stat().st_size > MAX_ENTRY:
            return None
        outer = json.loads(path.read_text(encoding="utf-8"))
        text = outer["value"]
        if outer.get("format") != FORMAT or outer.get("key") != source_digest() or outer.get("name") != name \
                or outer.get("kind") != kind or hashlib.sha256(text.encode()).hexdigest() != outer.get("sha256"):
            return None
        return json.loads(text)
    except Exception:   # a damaged or foreign entry: computed afresh
        return None


def write(name: str, kind: str, value) -> None:
    """Cache a JSON value atomically, readable only by this user; a cache that cannot be written is skipped."""
    if not enabled():
        return
    try:
        text = json.dumps(value, sort_keys=True)
        outer = json.dumps({"format": FORMAT, "key": source_digest(), "name": name, "kind": kind, "value": text,
                            "sha256": hashlib.sha256(text.encode()).hexdigest()}, sort_keys=True)
        where = folder()
        where.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not _private_folder(where):
            return
        fd, tmp = tempfile.mkstemp(dir=where, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(outer)
            os.chmod(tmp, 0o600)
            os.replace(tmp, _entry(name, kind))
        except BaseException:
            os.unlink(tmp)
            raise
    except (OSError, TypeError, ValueError):
        return


def load(name: str, operator) -> CheckedProof | None:
    """The cached checked proof of catalogue operator ``name`` (its ``operator`` as loaded now), or None."""
    entry = read(name, "proof")
    if not isinstance(entry, dict):
        return None
    try:
        cp = restore(C.loads(json.dumps(entry["certificate"]), name))
        measured = [None if m is None else float.fromhex(m) for m in entry["measured"]]
        cp = dataclasses.replace(cp, checks=tuple(dataclasses.replace(c, measured=m)
                                                  for c, m in zip(cp.checks, measured, strict=True)))
    except Exception:   # an entry this evosym cannot restore: check afresh
        return None
    return cp if cp.operator == operator else None


def store(name: str, cp: CheckedProof) -> None:
    """The certificate of ``cp`` and what certificates leave out: the reference check's measured error."""
    write(name, "proof", {"certificate": C.certificate(cp, C.derivation(cp.proof)),
                          "measured": [None if c.measured is None else float(c.measured).hex() for c in cp.checks]})


def remembered(name: str, kind: str, compute, encode, decode):
    """``decode`` of the cached value of (``name``, ``kind``), else ``compute()``, cached as ``encode`` of it."""
    value = read(name, kind)
    if value is not None:
        try:
            return decode(value)
        except Exception:
            pass
    result = compute()
    write(name, kind, encode(result))
    return result


def _private_folder(p: Path) -> bool:
    try:
        st = os.lstat(p)
        return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    except OSError:
        return False


# -- from a certificate back to a CheckedProof, verdicts as recorded ----------------------------
def _counterexample(d):
    return None if d is None else Counterexample(d["sizes"], d["index"], d["left"], d["right"], d["detail"])


def _obligations(ds) -> tuple:
    return tuple(Obligation(o["text"], o["proved"], o["how"], C._dexprs(o["args"]), C._dexprs(o["how_args"])) for o in ds)


def _step(s: Step, v: dict) -> Step:
    check = StepCheck(ok=v["ok"], general=v["general"], replay=v["replay"], bounded_shapes=tuple(v["shapes"]),
                      counterexample=_counterexample(v["counterexample"]), message=v["message"])
    return dataclasses.replace(s, statement=v["statement"], obligations=_obligations(v["obligations"]), check=check)


def _result(v: dict) -> CheckResult:
    return CheckResult(v["name"], v["ok"], v["label"], v["message"], _counterexample(v["counterexample"]))


def restore(doc: dict) -> CheckedProof:
    """The checked proof a certificate records, its verdicts taken as written (no check runs)."""
    op = C.decode_operator(doc["operator"])
    proof = C.decode_proof(doc["proof"], op)
    v = doc["verdicts"]
    steps = tuple(_step(s, sv) for s, sv in zip(proof.steps, v["steps"], strict=True))
    proof = Proof(op, steps, proof.omega, proof.channel, proof.neighbour)
    limit = None
    if v["limit"] is not None:
        lv = v["limit"]
        lsteps = tuple(_step(Step(rule=s["rule"], statement="", args=tuple((k, C.decode_value(a)) for k, a in s["args"]),
                                  before=C.decode(s["before"]), after=C.decode(s["after"])), s) for s in lv["steps"])
        limit = LimitReport(lsteps, _result(lv["target"]), tuple(tuple(float(x) for x in r) for r in lv["rows"]),
                            tuple(tuple(float(x) for x in r) for r in lv["needed"]), _result(lv["bound"]), lv["dims"])
    return CheckedProof(proof, steps, proof.match() if v["evolution"] else None,
                        tuple(_result(c) for c in v["checks"]), tuple(v["shapes"]), limit)
