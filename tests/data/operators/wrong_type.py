"""An operator file whose OPERATOR is a string instead of an evosym.Operator."""

from evosym.derivations import linear

OPERATOR = "linear"


def derive(d):
    linear.derive(d)
