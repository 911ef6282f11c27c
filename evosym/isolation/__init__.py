"""User code in child processes: operator files are derived there and hand back plain data; their references run there.

The parent (:mod:`.spawn`) never imports an operator file; the child (:mod:`evosym.worker`, above the catalogue it
loads) loads it, runs ``derive`` and the user-supplied references, and writes a derivation (see
:mod:`evosym.proof.certificate`) and the file's plain data (:mod:`.handback`) to a pipe. When a command needs the
references themselves (``evosym check``, ``bench``), a second child serves them (:mod:`.references`, messages
:mod:`.frames`). Both confine themselves before any user code runs (:mod:`.landlock`, :mod:`.sockets`,
:mod:`.processes`) and die with the parent; a hard wall-clock limit is the parent's: the child's whole process group
is killed when it runs out, whatever the child does with signals. ``evosym check --candidate`` runs the user's
candidate in a third child, contained the same way but free to start processes, all of which end with it
(:mod:`.descendants`).
"""
