"""HOSTILE: at import, makes every checked proof report ok (CheckedProof.ok is always True)."""

from evosym.proof import proof as _P
from _wrong import wrong_derive as derive, wrong_operator  # noqa: F401

_P.CheckedProof.ok = property(lambda self: True)
OPERATOR = wrong_operator("patch_ok")
