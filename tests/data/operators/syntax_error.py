"""An operator file with a syntax error on line 6."""

from evosym.derivations.linear import OPERATOR


def derive(d)
    d.apply("introduce-delta", targets=[], within=None)
