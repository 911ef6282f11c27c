"""An operator file's references, run in a confined process of their own: the checking process never imports the file.

``evosym check`` compares generated code with the file's references, and ``evosym bench`` times them; both call
them here as if they were local. :class:`References` starts the worker in ``serve`` mode (confined like the
derivation's child: :mod:`.landlock`, :mod:`.sockets`) on first use, sends it the inputs as raw arrays
(:mod:`.frames`) and reads back the outputs, each call under a hard wall-clock limit; the torch reference is
differentiable through :class:`_Remote` (its backward asks the process for the vector-Jacobian product). The
process says which operator it loaded; one other than the proved one (the file was edited) is refused. Whatever the
process answers is only ever the reference's value: it is compared, never trusted.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import time

import numpy as np
import torch

from ..errors import EvosymError
from . import frames
from .channel import Channel, ChannelFailed
from .imports import protect_recorded
from .spawn import check_ready, visible, start

CALL_LIMIT = 600.0   # seconds one call may take
STARTUP = 120.0      # seconds the process may take to import evosym and load the file


class ReferenceFailed(ChannelFailed):
    """The reference process did not answer (it raised, died, or ran out of time); the message says which."""


class References(Channel):
    """The references of the operator file ``source``, whose proved operator has the identity ``digest``."""

    failure = ReferenceFailed

    @property
    def limit(self) -> float:
        return CALL_LIMIT

    def __init__(self, source: str, digest: str):
        super().__init__()
        self.source, self.digest = source, digest
        self.scratch = None
        self.broken: str | None = None

    # the references, called as the operator's own ---------------------------------------------------------------
    def numpy(self, arrays: dict, sizes: dict) -> np.ndarray:
        """``Operator.reference``: arrays in, a float64 array out."""
        return self.call("numpy", {k: np.asarray(v) for k, v in arrays.items()}, sizes, expect=["y"])["y"]

    def torch(self, t: dict, sizes: dict) -> torch.Tensor:
        """``Operator.torch_reference``: tensors in, a tensor out, differentiable in the tensors that require grad."""
        names = list(t)
        return _Remote.apply(self, names, dict(sizes), *[t[k] for k in names])

    def time_ms(self, t: dict, sizes: dict, repeat: int) -> list[float]:
        """``repeat`` calls of the torch reference on ``t``, each timed in the reference process (ms)."""
        return self.call("time", _arrays(t), sizes, expect=[], repeat=int(repeat))["ms"]

    # the process ------------------------------------------------------------------------------------------------
    def call(self, kind: str, arrays: dict, sizes: dict, expect: list, **extra) -> dict:
        """One request; the reply's arrays, which must be the floating-point arrays ``expect`` (and ``ms`` for a
        timing)."""
        if self.broken:
            raise ReferenceFailed(self.broken)
        if self.proc is None:
            self._start()
        try:
            head, out = self.exchange({"call": kind, "sizes": {str(k): int(v) for k, v in sizes.items()}, **extra},
                                      list(arrays.items()))
        except (ReferenceFailed, frames.FrameError, OSError) as exc:
            self.close()
            self.broken = f"{self.source}: the reference process: {exc}"
            raise ReferenceFailed(self.broken) from None
        finally:
            if self.scratch is not None:   # a module the reference imported as it ran: never overwritten
                protect_recorded(self.scratch)
        if "error" in head:
            raise ReferenceFailed(f"the reference raised {visible(str(head['error'])[:2000])}")
        if sorted(out) != sorted(expect) or any(a.dtype.kind != "f" for a in out.values()):
            raise ReferenceFailed(f"{self.source}: the reference process handed back other arrays than asked for")
        if kind == "time":
            ms = head.get("ms")
            if not (isinstance(ms, list) and len(ms) == extra["repeat"]
                    and all(type(v) is float and 0 <= v < float("inf") for v in ms)):
                raise ReferenceFailed(f"{self.source}: the reference process handed back no timing")
            out["ms"] = ms
        return out

    def _start(self) -> None:
        self.scratch = tempfile.mkdtemp(prefix="evosym-reference-")
        self.err = tempfile.TemporaryFile()
        self.proc = start([self.source], self.scratch, self.err, "serve", stdin=subprocess.PIPE)
        try:
            line = self._line(time.monotonic() + STARTUP)
            check_ready(line, self.proc, self.err)
            head, _ = self._receive(time.monotonic() + STARTUP)
        except (ReferenceFailed, frames.FrameError, EvosymError) as exc:
            self.close()
            self.broken = f"{self.source}: the reference process did not start: {exc}"
            raise ReferenceFailed(self.broken) from None
        if head.get("operator") != self.digest:
            self.close()
            why = (f"it could not load the file ({visible(str(head['error'])[:2000])})" if "error" in head else
                   "the file defines another operator than the one proved (edited since?)")
            self.broken = f"{self.source}: the reference process: {why}"
            raise ReferenceFailed(self.broken)

    def close(self) -> None:
        """End the process (and pass on what the file printed)."""
        if self.proc is not None:
            super().close()
            protect_recorded(self.scratch)
            shutil.rmtree(self.scratch, ignore_errors=True)


class _Remote(torch.autograd.Function):
    """The torch reference as an autograd function: forward and vector-Jacobian products computed by the process."""

    @staticmethod
    def forward(ctx, refs, names, sizes, *tensors):
        ctx.refs, ctx.names, ctx.sizes = refs, names, sizes
        ctx.save_for_backward(*tensors)
        y = refs.call("torch", _arrays(dict(zip(names, tensors))), sizes, expect=["y"])["y"]
        return torch.from_numpy(y).to(tensors[0].device if tensors else "cpu")

    @staticmethod
    def backward(ctx, grad):
        tensors = ctx.saved_tensors
        needs = [k for k, need in zip(ctx.names, ctx.needs_input_grad[3:]) if need]
        arrays = dict(_arrays(dict(zip(ctx.names, tensors))), **{frames.GRAD: _array(grad)})
        got = ctx.refs.call("vjp", arrays, ctx.sizes, expect=needs, needs=needs)
        out = []
        for k, t in zip(ctx.names, tensors):
            g = got[k] if k in needs else None
            if g is not None and tuple(g.shape) != tuple(t.shape):
                raise ReferenceFailed(f"the reference's gradient for {k} has shape {tuple(g.shape)}, not {tuple(t.shape)}")
            out.append(None if g is None else torch.from_numpy(g).to(device=t.device, dtype=t.dtype))
        return (None, None, None, *out)


def _array(t) -> np.ndarray:
    """A tensor or array as one of the protocol's dtypes (half precisions as float32, other integers as int64)."""
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu()
        if t.is_floating_point() and t.dtype != torch.float64:
            t = t.to(torch.float32)
        elif not (t.is_floating_point() or t.is_complex() or t.dtype == torch.bool):
            t = t.to(torch.int64)
        return t.numpy()   # a complex array is refused by frames.pack, with its dtype
    a = np.asarray(t)
    kind = {"f": np.float32, "i": np.int64, "u": np.int64}.get(a.dtype.kind)
    return a if a.dtype.name in frames.DTYPES or kind is None else a.astype(kind)


def _arrays(t: dict) -> dict:
    return {k: _array(v) for k, v in t.items()}


_OPEN: dict = {}


def references(source: str, digest: str) -> References:
    """The references of ``source`` (one process per file and operator, per run; ended at exit; a new one where the
    last has failed)."""
    key = (os.path.realpath(source), digest)
    if key not in _OPEN or _OPEN[key].broken:
        _OPEN[key] = References(source, digest)
    return _OPEN[key]


@atexit.register
def close_all() -> None:
    """End every reference process (at exit; and before a command writes its report: what a reference ran up to its
    end is then in its record, :mod:`.imports`)."""
    for refs in _OPEN.values():
        refs.close()
