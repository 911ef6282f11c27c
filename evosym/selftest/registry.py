"""Mutants: named, categorised, each a function that builds a wrong artefact and reports whether
evosym's checks killed it (and which check did)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .. import catalogue

CATEGORIES = ("proof-step", "operator-definition", "kernel-property", "generated-code", "numeric-checker",
              "checker-premise")
OPERATORS = Path(__file__).resolve().parent / "operators"


@dataclass(frozen=True)
class Mutant:
    name: str
    category: str
    description: str
    run: Callable[[], "Outcome"]


@dataclass(frozen=True)
class Outcome:
    killed: bool
    by: str
    detail: str = ""


MUTANTS: list[Mutant] = []


def mutant(category: str, description: str):
    """Register a mutant; the function returns an :class:`Outcome`."""
    if category not in CATEGORIES:
        raise ValueError(category)

    def wrap(fn):
        MUTANTS.append(Mutant(fn.__name__.replace("_", "-"), category, description, fn))
        return fn
    return wrap


@functools.lru_cache(maxsize=None)
def load(name: str):
    """A catalogue operator, or one of the self-test's own operators by file stem."""
    path = OPERATORS / f"{name}.py"
    return catalogue.load(str(path) if path.is_file() else name)


def proof(name: str):
    return load(name).proof()


def outcome_of_check(cp, *, expect: str | None = None) -> Outcome:
    """Killed when the proof check fails; ``by`` names the first failing check."""
    if cp.ok:
        return Outcome(False, "nothing", "the proof still checks")
    first = cp.failures()[0]
    by = first.split(":")[0]
    return Outcome(True, by, first.splitlines()[0][:200])
