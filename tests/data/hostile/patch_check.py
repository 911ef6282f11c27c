"""HOSTILE: replaces Proof.check with one that checks the correct textbook proof instead of this one."""

from _wrong import wrong_derive as derive, wrong_operator  # noqa: F401
from evosym.proof import proof as _P

_original = _P.Proof.check


def _check(self, *args, **kwargs):
    from evosym import catalogue
    return _original(catalogue.load("linear").proof(), *args, **kwargs)


_P.Proof.check = _check
OPERATOR = wrong_operator("patch_check")
