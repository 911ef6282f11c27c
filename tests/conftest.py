"""Shared fixtures: catalogue proofs are built once per session (a conv2d check takes seconds)."""

from __future__ import annotations

import functools

import pytest

from evosym import catalogue


def checked(name: str):
    """The checked proof of a catalogue operator (checked once per process: ``catalogue.checked``, which
    the code generator, the numeric checks, the table and the docs read too)."""
    return catalogue.checked(name)


@pytest.fixture(scope="session")
def checked_proof():
    return checked


@functools.lru_cache(maxsize=None)
def numeric_report(name: str):
    """``check_operator(name)`` with its defaults, once per session: the numeric check that the docs
    pages show (tests/test_docgen.py) and that tests/test_codegen_check.py asserts on."""
    from evosym.codegen.check import check_operator
    return check_operator(name)
