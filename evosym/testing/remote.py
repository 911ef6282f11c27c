"""A candidate run in a process of its own (``evosym check --candidate``), called by the harness as if it were local.

The harness (:mod:`.equivalence`) draws the inputs, computes the operator's values and the tolerance, compares and
decides, all in the checking process; :class:`RemoteCandidate` starts :mod:`.candidate_process`, which imports the
user's module and does to the candidate only what the harness asks: copy it to a dtype (:meth:`RemoteCandidate.at`),
read its weights, call it, take a vector-Jacobian product through it. So the candidate cannot read the values it is
compared with, nor change the harness or the verdict: it can only hand back outputs, and those are checked.

What comes back is rebuilt as the harness would have seen it in process: the output as a tensor of the dtype and
shape the candidate returned (values exact: other floating dtypes travel as float64), a stand-in of the same type name
for a non-tensor or a tensor subclass (refused by the harness as before), the inputs written over with what the
candidate left in them (an in-place write is seen), the outputs written over with their values now when the harness
looks again (a reused buffer is seen), and a differentiable output whose backward asks the process (the candidate
called again on the same inputs). A candidate that raises is an exception of its type's name; one that ends its
process or falls silent past :data:`CALL_LIMIT` is :class:`CandidateGone`: a failure, never a verdict. The process
is contained (:mod:`evosym.isolation.descendants`): it writes only beneath its scratch folder, reaches no service and
no process outside, and everything it starts ends with the check.
"""

from __future__ import annotations

import builtins
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import torch

from ..errors import EvosymError
from ..ir.binding import BUILTINS
from ..isolation import frames
from ..isolation.channel import Channel
from ..isolation.spawn import ROOT
from ..proof.codec import escaped
from .adapters import UNKNOWN, Drawn
from .redraw import drawn_values, unlisted_reason

CALL_LIMIT = 600.0   # seconds one request may take (the first one imports the user's module)
# Started with -I (no working folder on the path, no user site, no PYTHON* variables: nothing of the user's is imported
# before the containment); evosym's own folder first, then the checking process's import path for the candidate.
_START = (f"import json, os, sys; path = json.loads(os.environ['EVOSYM_CANDIDATE_PATH']); "
          f"sys.path.insert(0, {ROOT!r}); from evosym.isolation.descendants import contain; "
          "os.environ['EVOSYM_MISSING'] = contain(os.environ['TMPDIR'], int(os.environ['EVOSYM_LIFELINE'])); "
          "sys.path[1:] = path; "
          "import runpy; runpy.run_module('evosym.testing.candidate_process', run_name='__main__', alter_sys=True)")
# where the candidate's libraries cache what they build: beneath its scratch folder (the checking process's own
# settings, torch's inductor cache among them, point outside, where the candidate may not write)
CACHES = {"XDG_CACHE_HOME": "", "TORCH_EXTENSIONS_DIR": "torch_extensions", "TORCHINDUCTOR_CACHE_DIR": "inductor",
          "TRITON_CACHE_DIR": "triton", "TORCH_HOME": "torch", "CUDA_CACHE_PATH": "nv"}
DTYPES = {str(d).replace("torch.", ""): d for d in (torch.float64, torch.float32, torch.float16, torch.bfloat16,
                                                    torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8,
                                                    torch.bool, torch.complex64, torch.complex128)}
FLOATING = ("float64", "float32", "float16", "bfloat16")
_BUILTINS = {name: getattr(builtins, name) for name in BUILTINS}   # what a binding's expression may call
MAX_DRAWN = 1 << 27   # trainable parameter entries the harness draws values for (1 GiB of float64)


class CandidateGone(Exception):
    """The candidate's process ended, did not answer in time, or answered in other words than the protocol's: the
    candidate's failure (never a usage error, never a verdict)."""


class WeightsNotTaken(CandidateGone):
    """The candidate's process read back other weights than the harness drew and handed over."""


class CandidateRaised(Exception):
    """The candidate raised in its process; subclasses carry the name of what it raised."""


def _name(text) -> str:
    """A name the other process gave (a type's), as shown: an ASCII identifier of at most 64 characters, else
    "UnnamedType"."""
    text = str(text)
    return text if text.isascii() and text.isidentifier() and len(text) <= 64 else "UnnamedType"


class RemoteCandidate(Channel):
    """The candidate ``spec`` (MODULE:ATTR) in its own process, for the proven operator ``p``; ``path``: the import
    path it is imported with (the working folder first, as ``check`` imports it); ``seed``: torch's, NumPy's and
    Python's generators are seeded with it before the module is imported (its initial weights are the same in every
    run)."""

    failure, who, quoted = CandidateGone, "the candidate", False

    @property
    def limit(self) -> float:
        return CALL_LIMIT

    def __init__(self, spec: str, p, inputs: list, path: list, seed: int = 0):
        super().__init__()
        self.spec = spec
        self.err = tempfile.TemporaryFile()
        self.scratch = tempfile.mkdtemp(prefix="evosym-candidate-")   # the only folder its processes may write
        cache = os.path.join(self.scratch, "cache")
        os.mkdir(cache)
        read, self.lifeline = os.pipe()   # closed by close() (or by this process's end): the namespace ends
        env = dict(os.environ, EVOSYM_CANDIDATE_PATH=json.dumps([str(x) for x in path]), TMPDIR=self.scratch,
                   PYTHONDONTWRITEBYTECODE="1", EVOSYM_WORKER_PARENT=str(os.getpid()), EVOSYM_LIFELINE=str(read),
                   **{k: os.path.join(cache, v) for k, v in CACHES.items()})
        try:
            self.proc = subprocess.Popen([sys.executable, "-I", "-c", _START], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=self.err, env=env, start_new_session=True,
                                         pass_fds=(read,))
        finally:
            os.close(read)
        try:
            head, _ = self.request("load", spec=spec, binding=p.operator.torch_binding or None,
                                   operator=p.operator.name, inputs=list(inputs), seed=int(seed))
        except CandidateRaised as exc:   # (KeyboardInterrupt in the import: the user's)
            self.close()
            raise EvosymError(f"--candidate: loading {escaped(spec)} raised {exc}") from None
        except BaseException:
            self.close()
            raise
        self.missing = head.get("missing") if isinstance(head.get("missing"), str) else "namespace, confinement"
        _warn(self.missing)
        sizes, padding, why = head.get("sizes"), head.get("unread"), head.get("signature")
        if not (isinstance(sizes, dict) and all(isinstance(k, str) and type(v) is int for k, v in sizes.items())
                and (padding is None or isinstance(padding, str)) and (why is None or isinstance(why, str))):
            self.close()
            raise CandidateGone("the candidate's process handed back no sizes")
        self.sizes, self.padding = sizes, padding
        self.adapted = head.get("adapted") is True
        self.drawn = None   # {parameter name: the value drawn} once redrawn (:meth:`redraw`)
        self.confirmed = set()   # the drawn parameters a weight read afterwards was confirmed to hold
        self.signature = None if why is None else escaped(why[:4000])

    def close(self) -> None:
        """End the candidate's process and every process it started (its lifeline first: the namespace ends), pass on
        what it printed, remove its scratch folder."""
        if self.lifeline is not None:
            os.close(self.lifeline)
            self.lifeline = None
            if self.proc is not None:
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
        super().close()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def request(self, kind: str, arrays=(), **head):
        """One request; (the reply's header, its arrays). The candidate's refusal of a usage (its sizes, its weights,
        its name) is an ``EvosymError``; what it raised a :class:`CandidateRaised`."""
        if self.proc is None:
            raise CandidateGone("the candidate's process has ended")
        try:
            reply, out = self.exchange({"call": kind, **head}, list(arrays))
        except (CandidateGone, frames.FrameError, OSError) as exc:
            self.close()
            raise CandidateGone(f"the candidate's process: {exc}") from None
        if "usage" in reply:
            raise EvosymError(escaped(str(reply["usage"])[:4000]))
        if "raised" in reply:
            raise type(_name(reply["raised"]), (CandidateRaised,), {})(str(reply.get("message", ""))[:4000])
        return reply, out

    def redraw(self, seed: int, nonnegative=frozenset()) -> list:
        """The candidate in its process replaced by a copy whose trainable floating-point parameters, as that process
        lists them, hold values this process drew (:func:`.redraw.drawn_values`, seeded with ``seed``; non-negative for
        the names in ``nonnegative``); their names
        (none: nothing replaced). A weight read from the copy afterwards through a mapping that names one of them must
        hold the value drawn (:meth:`RemoteCopy.weights`): a process that keeps its own weights is caught."""
        self.drawn, self.confirmed = None, set()
        try:
            head, _ = self.request("trainable")
        except EvosymError:   # (no usage of the user's can be wrong here: the process answered out of protocol)
            raise CandidateGone("the candidate's process answered the request for its parameters with a usage "
                                "error") from None
        listed = head.get("parameters")
        if not (isinstance(listed, list) and all(
                isinstance(e, list) and len(e) == 3 and isinstance(e[0], str) and 0 < len(e[0]) <= 1000
                and isinstance(e[1], list) and len(e[1]) <= frames.MAX_DIMS
                and all(type(n) is int and 0 < n for n in e[1]) and e[2] in FLOATING for e in listed)
                and len({e[0] for e in listed}) == len(listed)):
            raise CandidateGone("the candidate's process listed its parameters in other words than the protocol's")
        if sum(math.prod(e[1]) for e in listed) > MAX_DRAWN:
            raise CandidateGone(f"the candidate's process lists more than {MAX_DRAWN} trainable parameter entries: more "
                                "than the harness draws")
        values = drawn_values([(shape, DTYPES[dtype]) for _, shape, dtype in listed], seed,
                              [name in nonnegative for name, _, _ in listed])
        self.drawn = {}
        if listed:
            try:
                self.request("assign", [(f"w{k}", v.to(torch.float64).numpy()) for k, v in enumerate(values)])
            except EvosymError:
                raise CandidateGone("the candidate's process answered the weights handed to it with a usage "
                                    "error") from None
            self.drawn = {name: v for (name, _, _), v in zip(listed, values)}
        return [name for name, _, _ in listed]

    def at(self, dtype):
        """The candidate copied to ``dtype`` in its process (what ``as_dtype`` makes of a local one)."""
        self.request("copy", dtype=str(dtype).replace("torch.", ""))
        return RemoteCopy(self, dtype)



class RemoteCopy:
    """The candidate in one dtype, called like a module: its inputs, outputs and gradients travel as arrays."""

    def __init__(self, remote: RemoteCandidate, dtype):
        self.remote, self.dtype = remote, dtype
        self.returned = []   # (k, the output handed to the harness), for a look again (:meth:`refresh`)
        self.calls = 0

    def weights(self, p, spec) -> dict:
        """The operator's parameters read from the candidate (``mapped_weights``): {IR name: tensor or None}."""
        params = [[ir, t] for ir, t, _, _ in p.plan.params]
        head, out = self.remote.request("weights", params=params, operator=p.operator.name,
                                        weights=None if spec is None else dict(spec))
        none = head.get("none")
        if not (isinstance(none, list) and sorted(list(out) + none) == sorted(ir for ir, _ in params)):
            raise CandidateGone("the candidate's process handed back other weights than asked for")
        got = {ir: (None if ir in none else torch.from_numpy(out[ir])) for ir, _ in params}
        if self.remote.drawn:
            self._check_drawn(p, spec, got)
        return got

    def _check_drawn(self, p, spec, got) -> None:
        """A :class:`WeightsNotTaken` unless every weight read through a mapping that names a parameter the harness
        drew holds the value drawn, in this copy's dtype: an attribute path, that parameter; a binding's expression,
        its value on the drawn parameters (``m.in_proj_weight[E:2E]``: those rows, :class:`.adapters.Drawn`). The
        parameters so confirmed are added to the candidate's ``confirmed`` (the report names only those)."""
        given = dict(spec or {})
        tensors = (p.operator.torch_binding or {}).get("tensors", {}) if spec is None and self.remote.adapted else None
        drawn = self.remote.drawn
        for ir, torch_name, _, _ in p.plan.params:
            if tensors is not None:
                expr, m = tensors.get(ir), Drawn(drawn)
                try:   # (the binding's grammar, evosym.ir.binding: reads, slices, arithmetic, x if c else y)
                    want = eval(expr, {"__builtins__": _BUILTINS, "torch": torch}, {"m": m}) if expr else UNKNOWN  # noqa: S307
                except (TypeError, ValueError, IndexError, AttributeError, RuntimeError, NameError, KeyError):
                    want = UNKNOWN
                sources = sorted(m.used)
            else:
                path = given.get(ir, given.get(torch_name, torch_name)) if torch_name else given.get(ir, ir)
                want, sources = drawn.get(path, UNKNOWN), [path]
            if not isinstance(want, torch.Tensor):   # (what the drawn values do not say: not checked, not confirmed)
                continue
            value = got.get(ir)
            if (isinstance(value, torch.Tensor) and value.is_floating_point()
                    and tuple(value.shape) == tuple(want.shape)
                    and torch.equal(value.to(torch.float64), want.to(self.dtype).to(torch.float64))):
                self.remote.confirmed.update(k for k in sources if k in drawn)
                continue
            raise WeightsNotTaken(
                f"its process did not take the weights the harness drew for it: the operator's {ir}, read from "
                f"{escaped(str(sources[0] if sources else expr)[:200])}, holds other values than were handed over (a "
                "candidate that keeps or changes its own weights is compared at them only)")

    def __call__(self, *given):
        flags, arrays = _packed(given)
        grad = torch.is_grad_enabled()
        head, out = self.remote.request("call", arrays, grad=grad, inputs=flags)
        k, self.calls = self.calls, self.calls + 1
        for i, t in enumerate(given):   # what the candidate left in its inputs
            if flags[i][2] is None:
                _overwrite(t, out.get(f"a{i}"), "an input")
        if head.get("kind") not in ("plain", "subclass"):
            return type(_name(head.get("type")), (), {})()
        y = self._output(head, out)
        if grad and head.get("grad") is True and any(t.requires_grad for t in given):
            y = _Differentiable.apply(self, flags, arrays, y, *given)
        self.returned.append((k, y))
        return y

    def _output(self, head, out):
        dtype, shape, device = DTYPES.get(head.get("dtype")), head.get("shape"), head.get("device")
        if dtype is None or not (isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape)):
            raise CandidateGone("the candidate's process described its output in other words than the protocol's")
        if device != "cpu":
            raise type("OutputOnAnotherDevice", (CandidateRaised,), {})(
                f"it returns its output on {escaped(str(device)[:64])} for input on cpu")
        values = out.get("y")
        if values is None:   # (a complex output: no values travel, its dtype is refused; nothing of its size is made)
            y = torch.zeros((), dtype=dtype).expand(shape)
        elif list(values.shape) != shape:
            raise CandidateGone("the candidate's process handed back an output of another shape than it said")
        else:
            y = torch.from_numpy(values).to(dtype)
        if head["kind"] == "subclass":
            y = y.as_subclass(type(_name(head.get("type")), (torch.Tensor,), {}))
        return y

    def refresh(self):
        """Every output handed back so far written over with its values now, in the candidate's process (a candidate
        that returns one buffer and writes it again is seen by the harness's look again); returns whether two of
        those outputs share memory there, as a function of the two."""
        head, out = self.remote.request("refresh")
        memory = head.get("memory")
        if not (isinstance(memory, list) and len(memory) == self.calls
                and all(type(m) is int and 0 <= m <= k for k, m in enumerate(memory))):
            raise CandidateGone("the candidate's process described its outputs' memory in other words than the protocol's")
        for k, y in self.returned:
            _overwrite(y, out.get(f"y{k}"), "an output")
        group = {id(y): memory[k] for k, y in self.returned}
        return lambda a, b: id(a) in group and group.get(id(b)) == group[id(a)]

    def vjp(self, flags, arrays, needs, gy) -> dict:
        """{input position: the gradient} for the output gradient ``gy``: the candidate called again on the inputs
        ``arrays`` (their values at the call) in its process, each in ``needs`` requiring grad."""
        extra = [(frames.GRAD, gy.detach().cpu().to(torch.float64).contiguous().numpy())]
        head, out = self.remote.request("vjp", list(arrays) + extra, inputs=flags, needs=needs)
        unused = head.get("unused")
        if not (isinstance(unused, list) and sorted(list(out) + [f"g{i}" for i in unused]) == sorted(f"g{i}" for i in needs)):
            raise CandidateGone("the candidate's process handed back other gradients than asked for")
        return {i: torch.from_numpy(out[f"g{i}"]) for i in needs if f"g{i}" in out}

    def parameter_gradients(self, p, spec, given, gy, needs=()):
        """({parameter name: its gradient, None where the output does not reach it} of this copy's trainable
        floating-point parameters for the output gradient ``gy``, the candidate called again on ``given`` in its
        process, the inputs at the positions ``needs`` requiring grad, ``gy`` laid out there with its strides; {IR
        name: what the operator's weight is read
        from there}: ``["parameter", name]``, ``["constant"]`` or ``["computed", names]``; {parameter name: its
        shape})."""
        flags, arrays = _packed(given)
        extra = [(frames.GRAD, gy.detach().cpu().to(torch.float64).contiguous().numpy())]
        layout = None if gy.is_contiguous() else [int(s) for s in gy.stride()] + [int(gy.storage_offset())]
        params = [[ir, t] for ir, t, _, _ in p.plan.params]
        head, out = self.remote.request("pgrad", arrays + extra, inputs=flags, params=params, operator=p.operator.name,
                                        weights=None if spec is None else dict(spec), needs=[int(i) for i in needs],
                                        layout=layout)
        names, reads, unused, shapes = head.get("parameters"), head.get("reads"), head.get("unused"), head.get("shapes")
        if not (isinstance(names, list) and all(isinstance(n, str) for n in names) and len(set(names)) == len(names)
                and isinstance(shapes, list) and len(shapes) == len(names)
                and all(isinstance(e, list) and len(e) <= frames.MAX_DIMS and all(type(n) is int and n > 0 for n in e)
                        for e in shapes) and sum(math.prod(e) for e in shapes) <= MAX_DRAWN
                and isinstance(unused, list) and all(type(k) is int and 0 <= k < len(names) for k in unused)
                and sorted(out) == sorted(f"p{k}" for k in range(len(names)) if k not in unused)
                and isinstance(reads, dict) and sorted(reads) == sorted(ir for ir, _ in params)
                and all(r == ["constant"] or (isinstance(r, list) and len(r) == 2 and (
                            (r[0] == "parameter" and r[1] in names) or (r[0] == "computed" and isinstance(r[1], list)
                                                                         and all(n in names for n in r[1]))))
                        for r in reads.values())):
            raise CandidateGone("the candidate's process handed back its parameters' gradients in other words than "
                                "the protocol's")
        grads = {n: (None if k in unused else torch.from_numpy(out[f"p{k}"])) for k, n in enumerate(names)}
        if any(g is not None and list(g.shape) != e for g, e in zip(grads.values(), shapes)):
            raise CandidateGone("the candidate's process handed back a parameter's gradient of another shape than listed")
        return grads, reads, dict(zip(names, map(tuple, shapes)))

    def pulled_back(self, p, spec, reads, grads: dict, shapes: dict) -> tuple:
        """The operator's weight gradients ``grads`` ({IR name: tensor}) as gradients of the candidate's parameters of
        the given shapes, through what each weight is read from (``reads``, :meth:`parameter_gradients`): a parameter
        itself; nothing (a constant); a binding's expression evaluated here, by autograd, on stand-ins of the
        parameters (``m.in_proj_weight[E:2E]``: those rows). (those gradients, the parameters they are not known
        for — those a weight is computed from in the candidate's process by what this process cannot evaluate —, a
        sentence saying so or None)."""
        leaves = {n: torch.zeros(shape, dtype=torch.float64, requires_grad=True) for n, shape in shapes.items()}
        tensors = (p.operator.torch_binding or {}).get("tensors", {}) if spec is None and self.remote.adapted else {}
        outs, wanted, unknown, opaque = [], [], set(), []
        for ir, g in grads.items():
            kind = reads[ir]
            if kind == ["constant"]:
                continue
            if kind[0] == "parameter":
                value = leaves.get(kind[1])
            else:
                try:   # (the binding's grammar, evosym.ir.binding)
                    value = eval(tensors[ir], {"__builtins__": _BUILTINS, "torch": torch}, {"m": Drawn(leaves)}  # noqa: S307
                                 ) if tensors.get(ir) else UNKNOWN
                except (TypeError, ValueError, IndexError, AttributeError, RuntimeError, NameError, KeyError):
                    value = UNKNOWN
            if not (isinstance(value, torch.Tensor) and tuple(value.shape) == tuple(g.shape)):
                unknown.update(kind[1] if kind[0] == "computed" else [kind[1]])
                opaque.append(ir)
                continue
            outs.append(value)
            wanted.append(g.to(torch.float64))
        got = torch.autograd.grad(outs, list(leaves.values()), wanted, allow_unused=True) if outs and leaves else ()
        got = dict(zip(leaves, got))
        out = {n: got[n] if got.get(n) is not None else torch.zeros(leaves[n].shape, dtype=torch.float64)
               for n in leaves}
        why = None
        hidden = [ir for ir in opaque if reads[ir] == ["computed", []]]   # (from no listed parameter: a hidden one)
        opaque = [ir for ir in opaque if ir not in hidden]
        if unknown:
            why = (f"the operator's {', '.join(opaque)} {'is' if len(opaque) == 1 else 'are'} computed in the "
                   f"candidate's process from its parameters {', '.join(sorted(unknown))} (not one parameter, not a "
                   "binding's expression): their gradients cannot be pulled back here")
        if hidden:
            why = f"{why}; {unlisted_reason(hidden)}" if why else unlisted_reason(hidden)
        return out, unknown, why


def _packed(given) -> tuple:
    """(flags, arrays) of the inputs ``given`` as the protocol hands them over: one array per distinct tensor (one
    passed twice is flagged as the same), its requires-grad flag, strides where it is not contiguous, its dtype."""
    flags, arrays, first = [], [], {}
    for i, t in enumerate(given):
        if not isinstance(t, torch.Tensor):
            raise TypeError("the harness calls a candidate with tensors")
        if id(t) in first:
            flags.append([False, False, first[id(t)], None])
            continue
        first[id(t)] = i
        dtype = str(t.dtype).replace("torch.", "")   # (a half precision travels as float64, exactly, and back)
        # a non-contiguous input: its strides, laid out so in the candidate's process (a view of a zero-filled buffer)
        requires = "leaf" if t.requires_grad and t.is_leaf else bool(t.requires_grad)   # (a leaf there too)
        flags.append([requires, None if t.is_contiguous() else
                      [int(s) for s in t.stride()] + [int(t.storage_offset())], None, dtype])   # (strides, offset)
        wired = t.detach().cpu() if dtype in ("float32", "float64") else t.detach().cpu().to(torch.float64)
        arrays.append((f"x{i}", wired.contiguous().numpy()))
    return flags, arrays


def _overwrite(t, values, what) -> None:
    """``t`` given the values ``values`` (the candidate's process's), where they differ; its shape too."""
    if values is None:
        raise CandidateGone(f"the candidate's process handed back no values for {what}")
    new = torch.from_numpy(values)
    if tuple(new.shape) != tuple(t.shape):
        t.data = new.to(t.dtype)
    elif not torch.equal(new.to(t.dtype), t.detach()):
        with torch.no_grad():
            t.detach().copy_(new)


class _Differentiable(torch.autograd.Function):
    """The candidate's output as an autograd node: its backward is the candidate's own, computed in its process."""

    @staticmethod
    def forward(ctx, copy, flags, arrays, y, *given):
        ctx.copy, ctx.flags, ctx.arrays = copy, flags, arrays
        ctx.shapes = [(t.shape, t.dtype) for t in given]
        return y.clone()

    @staticmethod
    def backward(ctx, gy):
        needs = [i for i, need in enumerate(ctx.needs_input_grad[4:]) if need and ctx.flags[i][2] is None]
        got = ctx.copy.vjp(ctx.flags, ctx.arrays, needs, gy)
        out = []
        for i, (shape, dtype) in enumerate(ctx.shapes):
            g = got.get(i)
            if g is not None and tuple(g.shape) != tuple(shape):
                raise CandidateGone(f"the candidate's process handed back a gradient of shape {tuple(g.shape)} for an "
                                    f"input of shape {tuple(shape)}")
            out.append(None if g is None else g.to(dtype))
        return (None, None, None, None, *out)


_warned = False


def _warn(missing) -> None:
    """Once per process: what of the candidate's containment this system does not give."""
    global _warned
    if missing and isinstance(missing, str) and not _warned:
        _warned = True
        sys.stderr.write(f"evosym: warning: the candidate's process cannot be contained on this system (no "
                         f"{escaped(missing[:200])}: it needs a PID namespace and Landlock, Linux 5.13 or later): a "
                         "process it starts may outlive the check, and it may write what you can, this check's "
                         "report included (docs/testing.md)\n")
