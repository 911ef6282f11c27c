"""An operator file whose derive() never returns."""

from evosym.derivations.linear import OPERATOR  # noqa: F401


def derive(d):
    while True:
        pass
