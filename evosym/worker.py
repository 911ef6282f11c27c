"""The child side: load each operator, derive it, run its references, hand back derivations; or serve one file's references.

Run by :mod:`evosym.isolation.spawn` as ``python -c … SOURCE…`` with ``EVOSYM_WORKER_MODE`` one of :data:`MODES`
in the environment: ``derive`` (each file's ``derive``), ``search`` (the proof search instead), ``serve`` (one
file's references, called by :mod:`evosym.isolation.references`). It confines itself before anything of the user's
is imported. In ``derive``/``search`` mode one JSON line per source goes to the protocol channel (the process's
original standard output), after one ``{"ready": true}`` line; the operator file's own prints are sent to standard
error so they cannot be mistaken for the protocol. Each line is ``{"source", "derivation", "data"}`` (``data``: the
file's plain data, :mod:`evosym.isolation.handback`) or ``{"source", "error": "usage"|"failed", "message"}``.
In ``serve`` mode, after the ready line, one line ``{"operator": digest}`` (or ``{"error"}``), then one reply
(:mod:`evosym.isolation.frames`) per request read from standard input.
Nothing here is trusted: the parent re-checks everything it receives.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

from .isolation.landlock import confine
from .isolation.libc import die_with_parent
from .isolation.processes import deny_processes
from .isolation.sockets import deny_sockets
from .isolation.spawn import READY, UNCONFINED   # sent once evosym is imported: the time limit counts from here

MODES = ("derive", "search", "serve")


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
        from .isolation.handback import encode
        return {"derivation": derivation(proof, ref, lim), "data": encode(op)}
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
        die_with_parent(int(os.environ.get("EVOSYM_WORKER_PARENT") or os.getppid()))
        scratch = os.environ.get("EVOSYM_WORKER_SCRATCH") or tempfile.mkdtemp(prefix="evosym-worker-")
        confined = confine(scratch)
        confined = deny_sockets() and confined
        confined = deny_processes() and confined
    except OSError as exc:
        sys.stderr.write(f"evosym.worker: the kernel refused the confinement ({exc}); no operator file is run\n")
        return 3
    fd = os.dup(1)
    os.dup2(2, 1)                       # the operator file's prints go to standard error
    sys.stdout = sys.stderr
    from . import catalogue  # noqa: F401  (evosym and SymPy imported before the clock starts)
    from .isolation.imports import record
    try:
        record(scratch)   # the files of the user's modules, as they run (the parent never overwrites them)
    except OSError as exc:
        sys.stderr.write(f"evosym.worker: cannot record the files the operator file runs ({exc}); none is run\n")
        return 3
    mode = os.environ.get("EVOSYM_WORKER_MODE")
    if mode not in MODES:
        sys.stderr.write(f"evosym.worker: EVOSYM_WORKER_MODE must be one of {', '.join(MODES)}\n")
        return 3
    if mode == "serve":
        channel = os.fdopen(fd, "wb")
        channel.write((READY if confined else UNCONFINED).encode())
        channel.flush()
        return _serve(argv[0], channel)
    channel = os.fdopen(fd, "w", encoding="utf-8")
    channel.write(READY if confined else UNCONFINED)
    channel.flush()
    for source in argv:
        try:
            reply = _one(source, mode == "search")
        except BaseException as exc:    # SystemExit, KeyboardInterrupt, a bug in the file: a failed derivation
            reply = {"error": "failed", "message": f"{source}: the operator file raised {type(exc).__name__}: {exc}"}
        reply["source"] = source
        channel.write(json.dumps(reply, sort_keys=True) + "\n")
        channel.flush()
    return 0


def _serve(source: str, channel) -> int:
    """Answer the parent's requests with the file's references (:mod:`evosym.isolation.references`) until it closes
    standard input."""
    from . import catalogue
    from .isolation import frames
    from .isolation.handback import digest
    try:
        op = catalogue.load(source).operator
        hello = {"operator": digest(op)}
    except BaseException as exc:
        hello, op = {"error": f"{type(exc).__name__}: {exc}"}, None
    channel.write(frames.pack(hello, []))
    channel.flush()
    stdin = sys.stdin.buffer
    while op is not None:
        line = stdin.readline()
        if not line:
            break
        head = frames.header(line.rstrip(b"\n"))
        data = frames.arrays(frames.layout(head), stdin.read)
        try:
            reply = _answer(op, head, data)
        except BaseException as exc:   # the reference raised: said to the parent, which reports it
            reply = ({"error": f"{type(exc).__name__}: {exc}"}, [])
        channel.write(frames.pack(*reply))
        channel.flush()
    return 0


def _answer(op, head: dict, data: dict):
    """One request: ``numpy`` (the reference on arrays), ``torch`` (the torch reference), ``vjp`` (its gradients for
    the output gradient ``data[GRAD]``) or ``time`` (``repeat`` timed calls of the torch reference, in ms)."""
    import time

    import numpy as np
    import torch

    from .isolation.frames import GRAD
    sizes, call = dict(head["sizes"]), head["call"]
    if call == "numpy":
        return {}, [("y", np.asarray(op.reference(data, sizes), dtype=np.float64))]
    t = {k: torch.from_numpy(v) for k, v in data.items() if k != GRAD}
    if call == "torch":
        with torch.no_grad():
            return {}, [("y", _array(op.torch_reference(t, sizes)))]
    if call == "vjp":
        needs = list(head["needs"])
        for k in needs:
            t[k].requires_grad_(True)
        grads = torch.autograd.grad(op.torch_reference(t, sizes), [t[k] for k in needs], torch.from_numpy(data[GRAD]),
                                    allow_unused=True)
        return {}, [(k, _array(torch.zeros_like(t[k]) if g is None else g)) for k, g in zip(needs, grads)]
    if call == "time":
        ms = []
        with torch.no_grad():
            for _ in range(int(head["repeat"]) + 1):   # the first call warms up
                start = time.perf_counter()
                op.torch_reference(t, sizes)
                ms.append((time.perf_counter() - start) * 1e3)
        return {"ms": ms[1:]}, []
    raise ValueError(f"no request {call!r}")


def _array(y):
    """A torch reference's result as an array (float32 stays float32, anything else becomes float64)."""
    import numpy as np
    import torch
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"the torch reference returned a {type(y).__name__}, not a tensor")
    y = y.detach().cpu()
    return y.numpy() if y.dtype == torch.float32 else y.to(torch.float64).numpy()

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
