"""The candidate's own process (``evosym check --candidate``): it imports the user's module, builds the candidate and
does to it what the harness asks (:mod:`.remote`): copy it to a dtype, read its weights, call it on inputs, take a
vector-Jacobian product through it. The checking process draws the inputs, computes the operator's values, compares
and decides; it never runs the candidate's code, and the candidate never sees the values it is compared with.

Started as ``python -I -c …`` and contained before anything else is imported (:mod:`evosym.isolation.descendants`:
a PID namespace, Landlock, no sockets), then given the checking process's import path (the working folder first, as
an in-process import would have it). Requests arrive on standard input, replies leave on the original standard output
(:mod:`evosym.isolation.frames`); the candidate's prints go to standard error. Nothing here is trusted: what it answers
is only ever the candidate's output, checked like one.
"""

from __future__ import annotations

import copy
import os
import random
import sys

import numpy as np
import torch

from ..errors import EvosymError
from ..isolation import frames
from .adapters import adapt
from .load import hint, load_candidate, raised
from .equivalence import signature_error
from .redraw import attached, trainable
from .setup import as_dtype, mapped, read_sizes

WIRE = {torch.float64: torch.float64, torch.float32: torch.float32, torch.bool: torch.bool}


def wire(t):
    """A tensor as one of the protocol's arrays: float64 and float32 as they are, other floating dtypes as float64
    (exact), integers as int64; a ValueError for what has no such array (complex)."""
    t = t.detach().cpu()
    if t.is_complex():
        raise ValueError(f"a {t.dtype} tensor cannot be handed back")
    if t.dtype not in WIRE:
        t = t.to(torch.float64 if t.is_floating_point() else torch.int64)
    return t.resolve_conj().resolve_neg().contiguous().numpy()


def with_strides(t, layout):
    """``t``'s values in a view of a zero-filled buffer with the given strides (non-negative, one per axis) from the
    given storage offset (the list's last entry)."""
    if not (isinstance(layout, list) and len(layout) == t.dim() + 1 and all(type(s) is int and s >= 0 for s in layout)):
        raise ValueError("the harness asked for a layout in other words than the protocol's")
    *strides, offset = layout
    size = offset + 1 + sum((n - 1) * s for n, s in zip(t.shape, strides)) if t.numel() else offset
    return torch.zeros(size, dtype=t.dtype).as_strided(tuple(t.shape), tuple(strides), offset).copy_(t)


class Side:
    """The candidate and what was done to it: the copy in the dtype of the current trial, the outputs it returned."""

    def __init__(self):
        self.candidate = self.bound = self.copy = self.original = self.pending = None
        self.kept = []

    def answer(self, head: dict, data: dict):
        call = head.get("call")
        if call in ("load", "copy", "weights"):
            try:
                return getattr(self, "_" + call)(head, data)
            except EvosymError as exc:   # the sizes, the weights or the candidate named wrongly: a usage error
                return {"usage": str(exc)[:4000]}, []
        if call in ("call", "refresh", "vjp", "pgrad", "trainable", "assign"):
            return getattr(self, "_" + call)(head, data)
        raise ValueError(f"no request {call!r}")

    def _load(self, head, data):
        seed = int(head["seed"])   # the candidate's own draws (its initial weights): the same in every run
        random.seed(seed)
        np.random.seed(seed % 2 ** 32)
        torch.manual_seed(seed)
        # tensors shared between its processes through /dev/shm files: the default passes descriptors over a UNIX
        # socket, which the containment refuses, and a DataLoader's workers then hung (600 s); now they fail at once
        torch.multiprocessing.set_sharing_strategy("file_system")
        candidate = load_candidate(head["spec"])
        binding = head.get("binding") or None
        sizes, unread = read_sizes(binding, candidate)   # (before the adapter: from the module as given)
        self.candidate, self.bound = adapt(candidate, binding)
        self.original = self.candidate
        why = signature_error(self.candidate, head["operator"], list(head["inputs"]))
        return {"sizes": sizes, "unread": unread, "adapted": self.bound is not None,
                "missing": os.environ.get("EVOSYM_MISSING", "namespace, confinement"),
                "signature": None if why is None else why[:4000]}, []

    def _trainable(self, head, data):
        """A fresh deep copy of the candidate built, held for :meth:`_assign`; its trainable floating-point parameters
        (name, shape, dtype), which the checking process draws values for."""
        self.pending = copy.deepcopy(self.original) if isinstance(self.original, torch.nn.Module) else None
        listed = trainable(self.pending)
        return {"parameters": [[name[:1000], list(prm.shape), str(prm.dtype).replace("torch.", "")]
                               for name, prm in listed]}, []

    def _assign(self, head, data):
        """The held copy given the values the checking process drew (``w0``, ``w1``, … in :meth:`_trainable`'s
        order), and the candidate from now on."""
        listed = trainable(self.pending)
        if len(data) != len(listed):
            raise ValueError("the harness handed over values for another number of parameters than listed")
        with torch.no_grad():
            for k, (_, prm) in enumerate(listed):
                prm.copy_(torch.from_numpy(data[f"w{k}"]))
        self.candidate, self.pending = self.pending, None
        return {"count": len(listed)}, []

    def _copy(self, head, data):
        self.copy, self.kept = as_dtype(self.candidate, getattr(torch, head["dtype"])), []
        return {}, []

    def _weights(self, head, data):
        spec = head.get("weights")
        spec = self.bound if spec is None and self.bound is not None else spec
        w = mapped([tuple(p) for p in head["params"]], head["operator"], self.copy, spec)
        for ir, value in w.items():
            if value is not None and value.is_complex():
                raise EvosymError(f"the operator's {ir} maps to a {value.dtype} tensor: a real one is needed")
        return {"none": [ir for ir, v in w.items() if v is None]}, [(ir, wire(v)) for ir, v in w.items() if v is not None]

    def _inputs(self, head, data, fresh=False):
        given = []
        for i, (requires, strided, same, dtype) in enumerate(head["inputs"]):
            if same is not None:
                given.append(given[int(same)])
                continue
            # (a copy in torch's own memory, as a caller's tensor is: the protocol's arrays are numpy's, whose storage
            # a candidate could tell apart — not resizable — and be right only there: an adversarial pass)
            t = torch.from_numpy(data[f"x{i}"]).to(getattr(torch, dtype), copy=True)
            if fresh:   # (laid out as the harness's input is: a backward that assumes a contiguous input is seen)
                given.append((with_strides(t, strided) if strided else t).requires_grad_(i in head["needs"]))
            elif strided:   # the strides of the harness's non-contiguous view: the same layout here (a leaf, as there)
                given.append(with_strides(t, strided).requires_grad_(bool(requires)))
            elif requires == "leaf":   # (as the harness's input is: a leaf requiring grad)
                given.append(t.requires_grad_(True))
            elif requires:
                given.append(t.requires_grad_(True).clone())
            else:
                given.append(t)
        return given

    def _call(self, head, data):
        given = self._inputs(head, data)
        with torch.enable_grad() if head["grad"] else torch.no_grad():
            y = self.copy(*given)
        self.kept.append(y)
        arrays = [(f"a{i}", wire(t)) for i, (t, f) in enumerate(zip(given, head["inputs"])) if f[2] is None]
        if not isinstance(y, torch.Tensor):
            return {"kind": "other", "type": type(y).__name__[:200]}, arrays
        info = {"kind": "plain" if type(y) is torch.Tensor else "subclass", "type": type(y).__name__[:200],
                "dtype": str(y.dtype).replace("torch.", ""), "shape": list(y.shape), "device": str(y.device),
                "grad": bool(y.requires_grad)}
        try:
            arrays.append(("y", wire(y)))
        except ValueError:   # a complex output: its dtype is wrong, which the checking process says
            pass
        return info, arrays

    def _refresh(self, head, data):
        out, first, memory = [], {}, []   # memory[k]: the first output whose memory output k shares (itself if none)
        for k, y in enumerate(self.kept):
            if isinstance(y, torch.Tensor) and not y.is_complex():
                out.append((f"y{k}", wire(y)))
            try:
                where = y.untyped_storage().data_ptr() if isinstance(y, torch.Tensor) and y.numel() > 0 else None
            except RuntimeError:   # (a tensor with no storage to share)
                where = None
            memory.append(k if where is None else first.setdefault(where, k))
        return {"memory": memory}, out

    def _vjp(self, head, data):
        given = self._inputs(head, data, fresh=True)
        with torch.enable_grad():
            y = self.copy(*given)
            if not isinstance(y, torch.Tensor) or not y.requires_grad:
                raise ValueError("the second call on the same inputs handed back no output that depends on them")
            needs = [int(i) for i in head["needs"]]
            gy = torch.from_numpy(data[frames.GRAD]).to(y.dtype, copy=True)
            grads = torch.autograd.grad(y, [given[i] for i in needs], gy, allow_unused=True)
        return ({"unused": [i for i, g in zip(needs, grads) if g is None]},
                [(f"g{i}", wire(g)) for i, g in zip(needs, grads) if g is not None])

    def _pgrad(self, head, data):
        """The gradients of the current copy's trainable floating-point parameters for the output gradient handed over
        (the candidate called again on the inputs), and what each of the operator's weights is read from there:
        ``["parameter", name]`` (that parameter itself), ``["constant"]`` (no trainable parameter reaches it) or
        ``["computed", names]`` (from those parameters, by an expression the checking process evaluates itself or
        cannot). The inputs in ``needs`` require grad (a first layer's do not); the output gradient has the strides
        ``layout`` gives (None: contiguous)."""
        given = self._inputs(head, data, fresh=True)   # (the inputs in ``needs`` require grad: training, or not)
        listed = trainable(self.copy)
        prms = [prm for _, prm in listed]
        with torch.enable_grad():
            y = self.copy(*given)
            if not isinstance(y, torch.Tensor):
                raise ValueError("the call for the parameters' gradients handed back no tensor")
            gy = torch.from_numpy(data[frames.GRAD]).to(y.dtype, copy=True)
            gy = gy if head.get("layout") is None else with_strides(gy, head["layout"])
            grads = (torch.autograd.grad(y, prms, gy, allow_unused=True)
                     if y.requires_grad and prms else [None] * len(prms))
            spec = head.get("weights")
            spec = self.bound if spec is None and self.bound is not None else spec
            w = attached(mapped([tuple(p) for p in head["params"]], head["operator"], self.copy, spec), listed)
            names = {id(prm): name[:1000] for name, prm in listed}
            reads = {}
            for ir, v in w.items():
                if id(v) in names:
                    reads[ir] = ["parameter", names[id(v)]]
                elif v is None or not v.requires_grad:
                    reads[ir] = ["constant"]
                elif not prms:   # (requiring grad, from no listed parameter: one hidden from named_parameters)
                    reads[ir] = ["computed", []]
                else:   # the parameters it is computed from
                    hit = torch.autograd.grad(v, prms, torch.ones_like(v), allow_unused=True, retain_graph=True)
                    reads[ir] = ["computed", [name[:1000] for (name, _), h in zip(listed, hit) if h is not None]]
        return ({"parameters": [name[:1000] for name, _ in listed], "reads": reads,
                 "shapes": [list(prm.shape) for _, prm in listed],
                 "unused": [k for k, g in enumerate(grads) if g is None]},
                [(f"p{k}", wire(g)) for k, g in enumerate(grads) if g is not None])


def main() -> int:
    # (it dies with the process that waits outside, which dies with the checking process: evosym.isolation.descendants)
    fd = os.dup(1)
    os.dup2(2, 1)                       # the candidate's prints go to standard error
    sys.stdout = sys.stderr
    channel = os.fdopen(fd, "wb")
    stdin = sys.stdin.buffer
    side = Side()
    while True:
        line = stdin.readline()
        if not line:
            return 0
        head = frames.header(line.rstrip(b"\n"))
        data = frames.arrays(frames.layout(head), stdin.read)
        try:
            reply = side.answer(head, data)
        except BaseException as exc:   # the candidate raised (a sys.exit too): said to the checking process
            try:
                message = raised(exc).split(": ", 1)[1] if isinstance(exc, SystemExit) else str(exc)[:3000] + hint(exc)
            except BaseException:   # (an exception whose text cannot be made)
                message = "(its message could not be read)"
            reply = {"raised": type(exc).__name__[:200], "message": message[:4000]}, []
        channel.write(frames.pack(*reply))
        channel.flush()


if __name__ == "__main__":
    sys.exit(main())
