"""HOSTILE operator file of the self-test (hole 10): a linear layer with a WRONG derivation (the last token
is lost) that, when imported, makes every checked proof report ok (``CheckedProof.ok`` is always True).

``evosym prove`` runs it in a child process and checks what it hands back, so it fails there; loaded in the
checker's own process it would print PROVED. Never import it into a process whose checks matter: the
self-test loads it only in a fresh Python (``trust_conclusion_mutants``). The leading underscore keeps it
out of the lists of worked operator files.
"""

from evosym.proof import proof as _proof
from evosym.selftest.operators._wrong_linear import wrong_derive as derive, wrong_operator  # noqa: F401

OPERATOR = wrong_operator("hostile_patch_ok")
_proof.CheckedProof.ok = property(lambda self: True)   # the attack: every proof in this process "checks"
