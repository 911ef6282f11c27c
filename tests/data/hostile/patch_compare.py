"""HOSTILE: in derive(), replaces the checker's exact comparison and its replay with ones that always agree."""

from _wrong import wrong_derive, wrong_operator

OPERATOR = wrong_operator("patch_compare")


def derive(d):
    from evosym.proof import bounded, proof
    bounded.equal = lambda a, b: True
    proof.compare = lambda *args, **kwargs: None
    proof.Proof._replay = lambda self: [(True, "patched", True, ()) for _ in self.steps]
    wrong_derive(d)
