"""Shared helpers for the printer tests: golden-file snapshots and cached checked proofs.

Snapshots: :func:`assert_snapshot` compares a rendered proof byte for byte with a golden file in
``tests/snapshots/``. With ``EVOSYM_UPDATE_SNAPSHOTS=1`` in the environment it rewrites the golden
file instead (and passes), e.g.::

    EVOSYM_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_printers.py

Proofs: checking a proof takes seconds (conv2d ~3 s, the whole catalogue ~10 s), so the checked
proofs are cached per process and shared by every test module that imports this helper.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
from pathlib import Path

SNAPSHOT_DIR = Path(__file__).resolve().parent / "snapshots"
UPDATE_ENV = "EVOSYM_UPDATE_SNAPSHOTS"
UPDATE_HINT = f"{UPDATE_ENV}=1 python -m pytest tests/test_printers.py"
DIFF_LINES = 40


def updating() -> bool:
    """True when the golden files are to be rewritten rather than compared."""
    return os.environ.get(UPDATE_ENV) == "1"


def assert_snapshot(actual: str, filename: str, directory: Path = SNAPSHOT_DIR) -> None:
    """``actual`` must equal the golden file ``directory/filename`` byte for byte (UTF-8)."""
    path = Path(directory) / filename
    data = actual.encode("utf-8")
    if updating():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return
    if not path.is_file():
        raise AssertionError(f"golden file {path} is missing; create it with: {UPDATE_HINT}")
    expected = path.read_bytes()
    if expected == data:
        return
    diff = list(difflib.unified_diff(expected.decode("utf-8", "replace").splitlines(),
                                     actual.splitlines(), f"{filename} (golden)", f"{filename} (rendered)",
                                     lineterm="", n=2))
    if not diff:  # same lines, different bytes: line endings or the final newline
        diff = [f"(no line differs; the bytes do: golden ends {expected[-20:]!r}, rendered ends {data[-20:]!r})"]
    shown = diff[:DIFF_LINES]
    if len(diff) > DIFF_LINES:
        shown.append(f"... ({len(diff) - DIFF_LINES} more diff lines)")
    raise AssertionError(f"rendered output differs from the golden file {path}:\n" + "\n".join(shown)
                         + f"\n\nIf the change is intended, update the golden files with: {UPDATE_HINT}\n"
                           "then read the diff (git diff tests/snapshots) before committing it.")


# -- cached checked proofs --------------------------------------------------------------------

def checked(name: str):
    """The CheckedProof of a catalogue operator (checked once per process, shared with the library)."""
    from evosym import catalogue

    return catalogue.checked(name)


@functools.lru_cache(maxsize=None)
def all_checked() -> tuple:
    """CheckedProofs of the whole catalogue, in catalogue order (cached; shares ``checked``)."""
    from evosym.catalogue import catalogue_names

    return tuple(checked(n) for n in catalogue_names())


FAILING_STEP = 3  # 1-based: the step whose recorded result is made wrong


@functools.lru_cache(maxsize=None)
def failing_conv2d():
    """conv2d with a wrong step: step 3's result loses the bias (and step 4 starts from it), checked."""
    import sympy as sp

    from evosym.catalogue import load

    mod = load("conv2d")
    proof = mod.proof()
    steps = list(proof.steps)
    k = FAILING_STEP - 1
    wrong = steps[k].after - sp.IndexedBase("bias")[mod.operator.out_channel]
    assert wrong != steps[k].after
    steps[k] = dataclasses.replace(steps[k], after=wrong)
    steps[k + 1] = dataclasses.replace(steps[k + 1], before=wrong)
    return dataclasses.replace(proof, steps=tuple(steps)).check()
