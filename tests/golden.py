"""Committed generated code (codegen/torch/: modules and their kernel artifacts) must equal a fresh generation
byte for byte.

``EVOSYM_UPDATE_GOLDEN=1`` rewrites the committed file instead of comparing (then review the diff).
"""

from __future__ import annotations

import difflib
import os

import pytest

from evosym.codegen.generate import committed_dir, generate

UPDATE = os.environ.get("EVOSYM_UPDATE_GOLDEN") == "1"


def assert_committed_current(name: str, target: str = "torch"):
    """Generate ``name`` for ``target`` and compare with the committed files (a torch module and, where its
    default path runs generated kernels, its artifact: manifest and kernel sources); returns the generation."""
    gen = generate(name, target)
    for file, text in gen.files().items():
        path = committed_dir(target) / file
        if UPDATE:
            path.write_text(text, encoding="utf-8")
        assert path.is_file(), f"{path} missing: run evosym codegen --all --target {target} --output codegen/{target}"
        committed = path.read_text(encoding="utf-8")
        if committed != text:
            diff = "".join(list(difflib.unified_diff(committed.splitlines(True), text.splitlines(True),
                                                     "committed", "regenerated"))[:60])
            pytest.fail(f"{path} is stale; regenerate with EVOSYM_UPDATE_GOLDEN=1 and review:\n{diff}")
    return gen
