"""Shared by the hostile files: a linear layer and a WRONG derivation (the last token is lost)."""

from evosym.selftest.operators._wrong_linear import wrong_derive, wrong_operator  # noqa: F401
