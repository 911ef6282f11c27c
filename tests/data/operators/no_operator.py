"""An operator file that forgets to define OPERATOR."""

from evosym.derivations import linear

OPERATOR_TYPO = linear.OPERATOR


def derive(d):
    linear.derive(d)
