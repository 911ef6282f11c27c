"""The documentation's operator-file example is the file the tests prove, and it proves."""

from __future__ import annotations

import re
from pathlib import Path

from evosym import catalogue

ROOT = Path(__file__).resolve().parent.parent


def test_tutorial_code_is_the_example_file():
    doc = (ROOT / "docs" / "operator-files.md").read_text(encoding="utf-8")
    block = re.search(r"```python\n(.*?)```", doc, re.S).group(1)
    example = (ROOT / "docs" / "examples" / "my_avg_pool1d.py").read_text(encoding="utf-8")
    assert block.strip() in example, "docs/operator-files.md and docs/examples/my_avg_pool1d.py disagree"


def test_tutorial_example_proves_every_step_general():
    """Step 2's range 0 ≤ s·i + u ≤ L − 1 is proved from the output index's range ⌊(L − K)/s⌋ (bounded until
    2026-12-06: the rule's own range prover had no floors, guards or constraints)."""
    cp = catalogue.load(str(ROOT / "docs" / "examples" / "my_avg_pool1d.py")).proof().check()
    assert cp.ok, cp.failures()
    labels = [s.check.label for s in cp.steps]
    assert labels == ["general"] * 5
    assert [o.proved for o in cp.steps[1].obligations if "vanishes unless" in o.text] == [True, True]
    ref = [c for c in cp.checks if c.name.startswith("reference")][0]
    assert ref.ok and "within 16·u·max|y|" in ref.message   # an average divides: float64 rounds


def test_textbook_convolution_example_proves_all_general():
    """Trap 1 of the spec: a flipped kernel reaches the same form via a reflection of the sum."""
    cp = catalogue.load(str(ROOT / "evosym" / "selftest" / "operators" / "textbook_conv1d.py")).proof().check()
    assert cp.ok, cp.failures()
    assert [s.rule for s in cp.steps][1] == "reindex-sum"
    assert all(s.check.general for s in cp.steps)
