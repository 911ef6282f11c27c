"""The mutation suite: at least 40 seeded mutants across six categories, every one killed."""

from __future__ import annotations

from collections import Counter

import pytest

from evosym.selftest.registry import CATEGORIES, MUTANTS
from evosym.selftest.run import summary

try:
    from .conftest import selftest_rows
except ImportError:  # tests/ is not a package
    from conftest import selftest_rows


def test_enough_mutants_in_every_category():
    import evosym.selftest.run  # noqa: F401  (registers the mutants)
    counts = Counter(m.category for m in MUTANTS)
    assert len(MUTANTS) >= 40
    assert set(counts) == set(CATEGORIES) and min(counts.values()) >= 5, counts
    assert len({m.name for m in MUTANTS}) == len(MUTANTS)


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_mutant_is_killed(category, recwarn):
    rows = selftest_rows(category)
    # a mutated module runs its generic path, as it must: no "kernels unavailable" warning reaches the user
    assert not [str(w.message) for w in recwarn if "kernels unavailable" in str(w.message)]
    survivors = [(m.name, o.by, o.detail) for m, o, _ in rows if not o.killed]
    assert not survivors, summary(rows, verbose=True)
    assert all(o.by not in ("nothing", "harness error") for _, o, _ in rows)
