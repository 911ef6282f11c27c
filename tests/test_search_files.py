"""Operator files without ``derive``: the proof search must find every proof.

The files in ``tests/data/search`` are operators that are not in the catalogue (causal, strided and
replicate-padded 1-D convolutions, separable and grouped 2-D blocks, 3-D local attention, pooling in
1, 2 and 3 dimensions, channels-last token operators, a shift, a global context block …), each in
its traditional form with an independent torch reference and no ``derive``. Each is proved in-process
through the catalogue API (``catalogue.load(path).proof().check()``), so every step is the search's
and every check, the reference comparison included, runs.

``tests/data/search/unsupported`` holds correct operators the search cannot yet prove; their test
pins the current limitation (a ``SearchFailed``) and that the file's form agrees with its reference.
If the search learns one of them, move the file up a folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evosym import catalogue
from evosym.proof.reference import check_reference, run_reference
from evosym.search import SearchFailed, SearchingDerivation
from cli_helpers import run_cli

HERE = Path(__file__).resolve().parent / "data" / "search"
FILES = sorted(HERE.glob("*.py"))
UNSUPPORTED = sorted((HERE / "unsupported").glob("*.py"))


def test_there_are_search_files():
    assert len(FILES) >= 10, FILES


def _load_without_derive(path: Path):
    mod = catalogue.load(str(path))
    assert not hasattr(mod.module, "derive"), f"{path.name} defines derive: the search would not be tested"
    assert mod.derive is None
    assert not mod.builtin and mod.name not in catalogue.catalogue_names()
    return mod


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_search_proves_operator_file(path):
    mod = _load_without_derive(path)
    assert mod.name == path.stem
    proof = mod.proof()              # no derive: the catalogue hands an empty derivation to the search
    cp = proof.check()
    assert cp.ok, [(c.name, c.message) for c in cp.checks if not c.ok]
    assert cp.steps and len(cp.steps) == len(proof.steps)
    assert cp.evolution is not None
    assert all(c.ok for c in cp.checks)
    # the independent reference was compared with the traditional form
    assert any("reference" in c.name for c in cp.checks), [c.name for c in cp.checks]
    # every step is the search's: searching afresh from an empty derivation gives the same steps
    d = SearchingDerivation(mod.operator)
    assert not d.steps
    d.auto()
    assert [s.rule for s in d.steps] == [s.rule for s in proof.steps]
    assert [s.rule for s in cp.steps][-1] == "name-kernel"


def test_show_derive_prints_the_found_proof(capsys):
    """The command-line path (the file derived in a child process): the proof as a pasteable derive."""
    rc, out, err = run_cli(capsys, "prove", str(HERE / "causal_conv1d.py"), "--show-derive")
    assert rc == 0, err
    assert out.startswith("# causal_conv1d: 5 steps, checked")
    assert "def derive(d):" in out and "d.apply('unfold-definition', name='x_pad')" in out
    assert "d.conclude(omega=Window((WindowAxis(K, 1, delta, K*delta - delta, L),))" in out


@pytest.mark.parametrize("path", UNSUPPORTED, ids=lambda p: p.stem)
def test_unsupported_files_are_correct_but_not_found(path):
    mod = _load_without_derive(path)
    op = mod.operator
    ref = check_reference(op, op.grid, {d.name: d for d in op.definitions}, run_reference(op, op.grid))
    assert ref.ok, ref.message
    with pytest.raises(SearchFailed, match="found no Evolution form"):
        mod.proof()
