"""An operator file whose derive is not a function."""

from evosym.derivations.linear import OPERATOR  # noqa: F401

derive = 3
