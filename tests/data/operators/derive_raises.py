"""An operator file whose derive() raises an ordinary Python exception on line 9."""

from evosym.derivations.linear import OPERATOR  # noqa: F401

STEPS = {"first": "introduce-delta"}


def derive(d):
    d.apply(STEPS["second"])
