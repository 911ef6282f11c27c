"""User code in a child process: operator files are derived there and hand back plain data.

The parent (:mod:`.spawn`) never imports an operator file; the child (:mod:`evosym.worker`, above the catalogue it loads) loads it,
runs ``derive`` and the user-supplied references, and writes a derivation (see
:mod:`evosym.proof.certificate`) to a pipe. A hard wall-clock limit is the parent's: the child's
whole process group is killed when it runs out, whatever the child does with signals.
"""
