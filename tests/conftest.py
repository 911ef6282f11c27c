"""Shared fixtures: catalogue proofs are built once per session (a conv2d check takes seconds)."""

from __future__ import annotations

import functools

import pytest

from evosym import catalogue


@functools.lru_cache(maxsize=None)
def checked(name: str):
    """The checked proof of a catalogue operator (cached for the whole session)."""
    return catalogue.load(name).proof().check()


@pytest.fixture(scope="session")
def checked_proof():
    return checked
