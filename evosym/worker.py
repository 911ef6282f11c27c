"""The child side: load each operator, derive it, run its references, hand back derivations.

Run as ``python -m evosym.worker SOURCE…`` (by :mod:`evosym.isolation.spawn`) (with ``EVOSYM_WORKER_SEARCH=1`` in the environment:
the proof search instead of each file's ``derive``). One JSON line per source goes to the
protocol channel (the process's original standard output), after one ``{"ready": true}`` line; the operator file's own prints are
sent to standard error so they cannot be mistaken for the protocol. Each line is
``{"source", "derivation"}`` or ``{"source", "error": "usage"|"failed", "message"}``.
Nothing here is trusted: the parent re-checks everything it receives.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

from .isolation.landlock import confine
from .isolation.sockets import deny_sockets
from .isolation.spawn import READY, UNCONFINED   # sent once evosym is imported: the time limit counts from here


def _one(source: str, search: bool = False) -> dict:
    from . import catalogue
    from .errors import EvosymError, OperatorFileError, OperatorNotFound
    from .proof.certificate import derivation
    from .search import SearchFailed
    try:
        mod = catalogue.load(source)
    except (OperatorNotFound, OperatorFileError) as exc:
        return {"error": "usage", "message": str(exc)}
    try:
        proof = mod.proof(search=search)
        op = proof.operator
        ref = lim = None
        if op.reference is not None:
            from .proof.reference import run_reference
            ref = run_reference(op, op.grid)
        if op.limit is not None:
            from .proof.limit import run_limit_target
            lim = run_limit_target(op, op.grid)
        return {"derivation": derivation(proof, ref, lim)}
    except SearchFailed as exc:        # no proof found: a failed proof, not a usage error
        return {"error": "failed", "message": str(exc)}
    except EvosymError as exc:
        return {"error": "usage", "message": str(exc)}


def main(argv: list[str]) -> int:
    if os.path.isdir("/proc/self/task") and len(os.listdir("/proc/self/task")) > 1:
        sys.stderr.write("evosym.worker: more than one thread before the confinement (Landlock confines only the "
                         "calling thread); no operator file is run\n")
        return 3
    try:   # before anything of the user's is imported or run
        confined = confine(os.environ.get("EVOSYM_WORKER_SCRATCH") or tempfile.mkdtemp(prefix="evosym-worker-"))
        confined = deny_sockets() and confined
    except OSError as exc:
        sys.stderr.write(f"evosym.worker: the kernel refused the confinement ({exc}); no operator file is run\n")
        return 3
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)                       # the operator file's prints go to standard error
    sys.stdout = sys.stderr
    from . import catalogue  # noqa: F401  (evosym and SymPy imported before the clock starts)
    channel.write(READY if confined else UNCONFINED)
    channel.flush()
    search = os.environ.get("EVOSYM_WORKER_SEARCH") == "1"
    for source in argv:
        try:
            reply = _one(source, search)
        except BaseException as exc:    # SystemExit, KeyboardInterrupt, a bug in the file: a failed derivation
            reply = {"error": "failed", "message": f"{source}: the operator file raised {type(exc).__name__}: {exc}"}
        reply["source"] = source
        channel.write(json.dumps(reply, sort_keys=True) + "\n")
        channel.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
