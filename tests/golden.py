"""Committed generated code (codegen/<target>/) must equal a fresh generation byte for byte.

``EVOSYM_UPDATE_GOLDEN=1`` rewrites the committed file instead of comparing (then review the diff).
"""

from __future__ import annotations

import difflib
import os

import pytest

from evosym.codegen.generate import committed_dir, generate

UPDATE = os.environ.get("EVOSYM_UPDATE_GOLDEN") == "1"


def assert_committed_current(name: str, target: str = "torch"):
    """Generate ``name`` for ``target`` and compare with the committed file; returns the generation."""
    gen = generate(name, target)
    path = committed_dir(target) / gen.filename
    if UPDATE:
        path.write_text(gen.source, encoding="utf-8")
    assert path.is_file(), f"{path} missing: run evosym codegen --all --target {target} --output codegen/{target}"
    committed = path.read_text(encoding="utf-8")
    if committed != gen.source:
        diff = "".join(list(difflib.unified_diff(committed.splitlines(True), gen.source.splitlines(True),
                                                 "committed", "regenerated"))[:60])
        pytest.fail(f"{path} is stale; regenerate with EVOSYM_UPDATE_GOLDEN=1 and review:\n{diff}")
    return gen
