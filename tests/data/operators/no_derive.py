"""An operator file without a derive(d) function: the proof search finds the steps."""

from evosym.derivations.linear import OPERATOR  # noqa: F401


def derivation(d):   # not the name evosym looks for: the file has no derive
    pass
