"""An operator file without a derive(d) function."""

from evosym.derivations.linear import OPERATOR  # noqa: F401


def derivation(d):
    pass
