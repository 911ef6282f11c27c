"""``assert_equivalent``: a candidate implementation against the proven operator's generated code.

Soundness first: a check that a candidate can fool is worse than none. So every trial

- draws its sizes from the operator's declared domain (:mod:`.domain`): the smallest inputs the windows
  allow, odd and non-square ones, random ones and larger ones (every length above 12);
- draws a fresh input per dtype and a second input per trial (a candidate that caches its result by
  shape returns the wrong values on the second);
- computes the operator's values and the tolerance *before* the candidate runs, on private copies;
- calls the candidate six or seven times: with autograd enabled on an input that requires grad, under
  ``torch.no_grad()``, again with autograd on the same input (nondeterminism), on the second input (its
  negative entries zeroed, as after a ReLU: a candidate with a path for sparse inputs), with
  autograd enabled on an input that does not require grad (a network's first layer), on non-contiguous views
  of the input in three layouts (:data:`LAYOUTS`: a candidate that reads the storage as if it were contiguous, or
  copies only when the last axis is strided) and, where the operator is linear
  in its input, on the input 64 times larger (a candidate that clamps or saturates);
- after the last call, checks that every output handed back earlier still has its values (a candidate that returns
  one buffer it writes again);
- after each call checks that the input it was given is unchanged, that the output is a tensor of the
  right shape, dtype and device, finite, and within the rounding bound of the operator's values;
- counts its comparisons in locals: a run that compared nothing, or fewer than it planned, fails;
- compares once more per dtype a copy of the candidate with its trainable floating-point parameters redrawn at
  random (seeded), the operator given the weights read from that copy: constant or zero weights hide bugs;
- in float16 and bfloat16 compares against the operator's values in float64 from the same rounded inputs and
  weights, within 2 epsilons of Σ|terms| where the operator is linear (a wrong scale or sign fails).

A failure names cheats plainly (a constant or all-zero output, the input returned, a modified input,
results cached across calls, nondeterminism, dependence on grad mode) before any property diagnosis.

An operator with several input tensors (``cross_attention``: x, xk, xv) is called like its generated module,
``candidate(x, xk, xv)``: every input in the operator's order. Each trial draws every input; the second call
changes every input at once, and one more call per input changes that input alone (a candidate that ignores
an input, or caches its result keyed on some of them, returns the output of the first call there). Inputs
are checked unchanged after every call, and gradients are compared with respect to each.
"""

from __future__ import annotations

import itertools
import inspect
import math
import os
import sys
from dataclasses import dataclass, field

import numpy as np
import torch

from ..codegen.torchexpr import py_name
from ..errors import EvosymError
from ..ir.tensors import in_domain
from ..proof.codec import escaped
from .diagnose import diagnose
from .domain import Domain, kinds
from .mutants import structural
from .adapters import adapt
from .remote import CandidateGone, CandidateRaised, RemoteCandidate, RemoteCopy
from .gradients import compare_gradients, compared
from .layouts import LAYOUTS, laid_out
from .redraw import attached, nonnegative_paths, read_from, redraw, trainable, unlisted, unlisted_reason
from .setup import as_dtype, check_weight_shapes, copied, mapped_weights, module_sizes, proven


@dataclass
class Report:
    """What was compared (returned when the candidate agrees)."""

    operator: str
    sizes: dict
    trials: list = field(default_factory=list)   # (runtime sizes, dtype, max |diff|)
    redrawn: list = field(default_factory=list)  # parameters also compared at values drawn at random (names)
    # with gradients=True: {"dtypes", "inputs", "parameters": the gradients compared, "not compared": why a
    # candidate's parameters' gradients were not (None: they were, or it has none)}
    gradients: dict | None = None


# a half precision's tolerance on a linear operator: this many of its epsilons times the accumulated magnitude
# Σ|terms| (an honest half implementation rounds its output once, about half an epsilon of it, and accumulates in
# float32; the output doubled, negated or 20 % off is past it wherever |y| is a fair part of Σ|terms|)
LOW_ROUNDINGS = 2


def _dt(dtype) -> str:
    return str(dtype).replace("torch.", "")


def _num(v: float) -> str:
    """A tolerance or difference for a message: 0 for what only underflow separates from it."""
    return "0" if abs(v) < 1e-290 else f"{v:.3g}"


def _index(flat: int, shape) -> list:
    return [int(i) for i in np.unravel_index(flat, tuple(shape))]


def input_names(op, plan) -> list[str]:
    """The operator's input tensors in its order (the candidate's positional arguments); the value among them."""
    names = list(getattr(plan, "inputs", None) or [])
    return names if op.value in names else [op.value]


def _signature(candidate):
    """The signature the candidate is called with (a module's ``forward``), or None when it cannot be read."""
    try:
        target = candidate.forward if isinstance(candidate, torch.nn.Module) else candidate
        return inspect.signature(target)
    except (TypeError, ValueError, AttributeError):
        return None


def check_signature(candidate, op, plan) -> None:
    """An ``EvosymError`` when an operator with several inputs gets a candidate that cannot take them all
    (positionally, in the operator's order); a candidate whose signature cannot be read is called as it is."""
    why = candidate.signature if isinstance(candidate, RemoteCandidate) else \
        signature_error(candidate, op.name, input_names(op, plan))
    if why:
        raise EvosymError(why)


def signature_error(candidate, operator: str, names: list) -> str | None:
    """Why ``candidate`` cannot be called with the inputs ``names`` of ``operator`` (see :func:`check_signature`)."""
    if len(names) < 2:
        return None
    sig = _signature(candidate)
    if sig is None:
        return None
    try:
        sig.bind(*names)
    except TypeError as exc:
        what = type(candidate).__name__ + ".forward" if isinstance(candidate, torch.nn.Module) else \
            getattr(candidate, "__qualname__", type(candidate).__name__)
        return (f"{operator} has {len(names)} inputs ({', '.join(names)}): the candidate is called as "
                f"candidate({', '.join(names)}), every input positionally in the operator's order like the "
                f"generated module's forward, but {what}{sig} cannot take them ({escaped(str(exc))})")
    return None


class _Call:
    """One call of the candidate: its label, the inputs it was given and what it returned."""

    def __init__(self, label, x, y_r, tol, grad, requires=None, layout=None, leaf=False):
        self.label, self.x, self.y_r, self.tol, self.grad = label, x, y_r, tol, grad   # x: a tuple, one per input
        self.requires = grad if requires is None else requires   # the inputs handed over require grad
        # ... as leaves (as gradcheck and an optimised input hand them over; a non-leaf otherwise); a laid-out input
        # requiring grad is a leaf
        self.leaf = leaf
        # the inputs handed over as non-contiguous views of a zero-filled buffer (what a candidate reads between them
        # is the same in every run): one of LAYOUTS, or None (contiguous)
        self.layout = layout
        self.given = None      # the tensors handed to the candidate (checked afterwards: unchanged?)
        self.y = None          # the output as returned
        self.y64 = None        # its values in float64
        self.err = None

    @property
    def strided(self) -> bool:
        return self.layout is not None

    @property
    def ok(self) -> bool:
        return self.err is not None and bool((self.err <= self.tol).all())


def _compare(p, candidate, weights, env, dtype, seed, history, gradients, small=None):
    """One trial in one dtype: (configuration, dtype, max |diff|), or an ``AssertionError``."""
    op, plan = p.operator, p.plan
    names = {py_name(s): int(v) for s, v in env.items()}
    config = ", ".join(f"{k}={v}" for k, v in sorted(names.items()))
    where = f"  configuration: {config}, {_dt(dtype)}, seed {seed}"

    def fail(headline, *lines):
        raise AssertionError("\n".join([f"{op.name}: {headline}", where, *[ln for ln in lines if ln]]))

    cand = as_dtype(candidate, dtype)
    mapped = mapped_weights(p, cand, weights, dtype)
    w = {k: (v.detach().clone().to(dtype) if v is not None else torch.zeros(shape_of(plan, k, names), dtype=dtype))
         for k, v in mapped.items()}
    check_weight_shapes(p, w, names, weights)
    for k, v in w.items():   # (the operator's values would not be finite: nothing to compare)
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise EvosymError(f"the candidate's weight {k} holds {int((~torch.isfinite(v)).sum())} non-finite entries "
                              f"(inf or NaN) in {_dt(dtype)}: the comparison needs finite weights")
        if op.tensor(k).domain == "nonnegative" and bool((v < 0).any()):   # (gcn's adjacency: degrees ≤ 0, no root)
            raise EvosymError(f"the candidate's weight {k} holds {int((v < 0).sum())} negative entries: {op.name} "
                              f"declares {k} non-negative ({op.tensor(k).description}), where its proof holds; give "
                              "the candidate non-negative values there (the harness draws random weights non-negative "
                              "for a parameter it finds by the weights' attribute paths; map one it cannot find "
                              "through weights={...}, or pass random_weights=False)")
    kwargs = {n: names[n] for n, _ in plan.module_sizes}
    try:   # the generated torch form (no compiled kernels: nothing is built, nothing differs between machines)
        if "path" in inspect.signature(p.function).parameters:
            kwargs["path"] = "generic"
    except (TypeError, ValueError):
        pass
    function, params = p.function, [ir for ir, _, _, _ in plan.params]
    inputs = input_names(op, plan)
    several = len(inputs) > 1

    def run_reference(t, alt=None):
        ws = alt if alt is not None else w
        return function(*t, *[ws[ir] for ir in params], **kwargs)

    # a half precision (float16, bfloat16): the operator's values in float64 from the same rounded inputs and weights,
    # within a few roundings of the accumulated magnitude (its own rounding in the half precision would widen the
    # tolerance past a wrong scale or sign)
    low = torch.finfo(dtype).eps > torch.finfo(torch.float32).eps

    def reference64(t, alt=None):
        ws = alt if alt is not None else w
        return function(*[a.to(torch.float64) for a in t], *[ws[ir].to(torch.float64) for ir in params], **kwargs)

    shapes = op.shapes_at(env)
    gen = torch.Generator().manual_seed(seed)

    def draw():   # every input, in the operator's order (one input: the same draws as ever)
        return tuple(in_domain(op.tensor(n), torch.randn(shapes[n], generator=gen, dtype=torch.float64)).to(dtype)
                     for n in inputs)
    def real(f, x):   # f applied to the inputs that take real values (an indicator stays 0/1)
        return tuple(t if op.tensor(n).domain in ("indicator", "leading_indicator") else f(t) for n, t in zip(inputs, x))
    x1 = draw()
    x2 = real(lambda t: t.clamp(min=0), draw())   # half of it exact zeros, as after a ReLU: a candidate that skips zeros
    # where the output is linear in the inputs, the first inputs 64 times larger (exact in binary floating point): a
    # candidate that clamps or saturates
    big = [real(lambda t: t * 64, x1)] if plan.static else []
    # one input changed at a time (several inputs only): a candidate that ignores it, or caches by the others, is seen
    mixed = [tuple(x2[j] if j == k else x1[j] for j in range(len(inputs))) for k in range(len(inputs))] if several else []
    # two inputs of one shape passed as the SAME tensor (cross-attention's m(q, kv, kv)): a candidate must not
    # special-case the aliased call (an input is never told apart by identity in the operator)
    pairs = [(i, j) for i in range(len(inputs)) for j in range(i + 1, len(inputs)) if x1[i].shape == x1[j].shape]
    aliased = [tuple(x1[i] if k == j else x1[k] for k in range(len(inputs))) for i, j in pairs]
    eps = torch.finfo(dtype).eps
    n = int(eval(plan.channels_in, {}, dict(names))) + 1  # noqa: S307 - generated from sizes
    for k in plan.window.get("kernel", []):
        n *= int(eval(k, {}, dict(names)))  # noqa: S307

    # the operator's values and the tolerance first, on private copies: nothing the candidate does changes them
    refs = []
    reference = reference64 if low else run_reference
    with torch.no_grad():
        for x in (x1, x2, *mixed, *aliased, *big):
            try:
                y_r = reference(tuple(t.clone() for t in x))
                bound = (reference(tuple(t.abs() for t in x), {k: v.abs() for k, v in w.items()}).abs() if plan.static
                         else y_r.abs().max())
            except Exception as exc:  # noqa: BLE001 - the proven operator must run wherever trials draw sizes
                raise EvosymError(f"{op.name}: the proven operator fails at {config} ({type(exc).__name__}: {exc}); "
                                  "these sizes should lie outside its domain: please report this") from None
            if not bool(torch.isfinite(y_r).all()):
                raise EvosymError(f"{op.name}: the proven operator is not finite at {config} ({_dt(dtype)}); these "
                                  "sizes should lie outside its domain: please report this")
            if low and plan.static:   # the output's rounding, the sum's in float32, a little more: not a wrong scale
                tol = (LOW_ROUNDINGS * eps * bound.to(torch.float64) + torch.finfo(dtype).tiny).expand(y_r.shape)
            else:
                tol = (8 * n * eps * bound.to(torch.float64)).expand(y_r.shape)
            refs.append((y_r.to(torch.float64), tol))
    if low and big and float(refs[-1][0].abs().max()) > torch.finfo(dtype).max / 16:
        big, refs = [], refs[:-1]   # (the inputs 64 times larger: near the half precision's overflow, not compared)
    (y_r1, tol1), (y_r2, tol2) = refs[:2]

    if several:
        calls = [_Call("autograd enabled, inputs require grad", x1, y_r1, tol1, True),
                 _Call("under torch.no_grad()", x1, y_r1, tol1, False),
                 _Call("autograd enabled, the same inputs again", x1, y_r1, tol1, True),
                 _Call("autograd enabled, second inputs (every input changed)", x2, y_r2, tol2, True)]
    else:
        calls = [_Call("autograd enabled, input requires grad", x1, y_r1, tol1, True),
                 _Call("under torch.no_grad()", x1, y_r1, tol1, False),
                 _Call("autograd enabled, the same input again", x1, y_r1, tol1, True),
                 _Call("autograd enabled, a second input", x2, y_r2, tol2, True)]
    modes = [_Call(f"autograd enabled, the same input{'s' if several else ''} not requiring grad", x1, y_r1, tol1, True,
                   requires=False),
             *[_Call(f"under torch.no_grad(), the same input{'s' if several else ''} as non-contiguous views "
                     f"({LAYOUTS[lay]})", x1, y_r1, tol1, False, layout=lay) for lay in LAYOUTS]]
    if dtype.is_floating_point:   # as leaves requiring grad, and so laid out (a layout per trial): the forward where
        # the gradient calls run it (a forward wrong only there passed while only their gradients were compared)
        lay = list(LAYOUTS)[seed % len(LAYOUTS)]
        leaves = "s as leaves" if several else " as a leaf"
        modes += [_Call(f"autograd enabled, the same input{leaves} requiring grad", x1, y_r1, tol1, True, leaf=True),
                  _Call(f"autograd enabled, the same input{'s' if several else ''} as non-contiguous views requiring "
                        f"grad ({LAYOUTS[lay]})", x1, y_r1, tol1, True, layout=lay)]
    modes += [_Call(f"autograd enabled, the first input{'s' if several else ''} 64 times larger", b, y_r, tol, True)
              for b, (y_r, tol) in zip(big, refs[2 + len(mixed) + len(aliased):])]
    varied = [_Call(f"autograd enabled, the first inputs with only {n} changed", m, y_r, tol, True)
              for n, m, (y_r, tol) in zip(inputs, mixed, refs[2:])]
    same = [_Call(f"autograd enabled, {inputs[j]} passed as the same tensor as {inputs[i]}", a, y_r, tol, True)
            for (i, j), a, (y_r, tol) in zip(pairs, aliased, refs[2 + len(mixed):])]
    shown = ", ".join(f"{n} {tuple(t.shape)}" for n, t in zip(inputs, x1))
    called = f"  called as candidate({', '.join(inputs)}) with {shown}" if several else ""

    def run(call):
        copies = {}   # one copy per distinct tensor: inputs passed as one tensor stay one tensor

        def copy(t):
            if id(t) not in copies:   # (a non-leaf where grad is on: in-place writes stay observable)
                if call.layout is not None:
                    copies[id(t)] = laid_out(t, call.layout).requires_grad_(call.requires and dtype.is_floating_point)
                elif call.leaf:
                    copies[id(t)] = t.clone().requires_grad_(True)
                elif call.requires and dtype.is_floating_point:
                    copies[id(t)] = t.clone().requires_grad_(True).clone()
                else:
                    copies[id(t)] = t.clone()
            return copies[id(t)]
        given = tuple(copy(t) for t in call.x)
        call.given = given
        try:
            with torch.enable_grad() if call.grad else torch.no_grad():
                y = cand(*given)
        except Exception as exc:  # noqa: BLE001 - whatever the candidate raises is its verdict
            fail(f"the candidate raised {type(exc).__name__}: {escaped(str(exc))} ({call.label})", called)
        call.y = y
        for name, g, x in zip(inputs, given, call.x):
            changed = g.detach()
            if changed.shape != x.shape or not torch.equal(changed, x):
                count = int((changed != x).sum()) if changed.shape == x.shape else x.numel()
                what = " (it zeroed it)" if changed.shape == x.shape and not bool(changed.any()) else ""
                which = f"the input {name}" if several else "the input"
                fail(f"the candidate modifies its input in place: {count} of {x.numel()} entries of {which} it was "
                     f"given changed{what} ({call.label})")
        if type(y) is not torch.Tensor:   # (a subclass defines what its comparisons return: one forged them all)
            fail(f"the candidate returns {type(y).__name__}, not a tensor" + (
                " (a torch.Tensor subclass, whose own operations could decide the comparisons: return a plain tensor, "
                "e.g. y.as_subclass(torch.Tensor))" if isinstance(y, torch.Tensor) else "") + f" ({call.label})")
        if tuple(y.shape) != tuple(call.y_r.shape):
            fail(f"the candidate returns shape {tuple(y.shape)}, the operator {tuple(call.y_r.shape)} ({call.label})",
                 *_cached_hint(y, call, history))
        if y.device != call.x[0].device:
            fail(f"the candidate returns its output on {y.device} for input on {call.x[0].device} ({call.label})")
        if y.dtype != dtype:
            fail(f"the candidate returns {_dt(y.dtype)} for {_dt(dtype)} input (the output's dtype must be the "
                 f"input's) ({call.label})", *_cached_hint(y, call, history))
        call.y64 = y.detach().to(torch.float64)
        finite = torch.isfinite(call.y64)
        if not bool(finite.all()):
            bad = ~finite
            first = _index(int(torch.nonzero(bad.flatten())[0]), y.shape)
            kinds_ = [k for k, m in (("NaN", torch.isnan(call.y64)), ("Inf", torch.isinf(call.y64))) if bool(m.any())]
            fail(f"the candidate returns {' and '.join(kinds_)} at {int(bad.sum())} of {y.numel()} entries (first at "
                 f"output index {first}); the operator is finite there ({call.label})", *_cached_hint(y, call, history))
        call.err = (call.y64 - call.y_r).abs()

    for call in calls:
        run(call)
    if calls[0].ok != calls[1].ok:    # grad mode, or state? the same input again under torch.no_grad()
        calls.append(_Call(f"under torch.no_grad(), the same input{'s' if several else ''} again", x1, y_r1, tol1, False))
        run(calls[-1])
    for call in modes + varied + same:
        run(call)
    done = calls + modes + varied + same
    shares = _shares_memory
    if isinstance(cand, RemoteCopy):   # the outputs as they are now in the candidate's process, and their memory there
        shares = cand.refresh()
    for call in done:   # an output handed back earlier must keep its values (a reused buffer does not)
        if call.y is not None and not torch.equal(call.y.detach().to(torch.float64), call.y64):
            later = next((c.label for c in done if c is not call and c.y is not None and shares(c.y, call.y)),
                         None)
            fail(f"the output the candidate returned ({call.label}) changed after later calls: it hands back a buffer "
                 f"it writes again" + (f" (the output of the call {later} shares its memory)" if later else ""))
    bad = next((c for c in done if not c.ok), None)
    if bad is not None:
        cheats = _cheats(bad, calls, history, varied, inputs, modes)
        worst = int(torch.argmax(bad.err / (bad.tol + 1e-300)))
        idx = _index(worst, bad.y_r.shape)
        lines = [f"  worst output index {idx}: candidate {bad.y64.flatten()[worst].item():.17g}, operator "
                 f"{bad.y_r.flatten()[worst].item():.17g} (|diff| {_num(bad.err.flatten()[worst].item())} > tol "
                 f"{_num(bad.tol.flatten()[worst].item())}); {int((~(bad.err <= bad.tol)).sum())} of {bad.err.numel()} "
                 f"entries differ"]
        if cheats:
            lines += [f"  cause: {c}" for c in cheats]
        else:
            why = (_properties(plan, names, cand, run_reference, bad, w, inputs, op.value)
                   or _structural(p, small, candidate, weights, seed))
            lines += [f"  diagnosis: {d}" for d in why] or ["  diagnosis: none of the property tests explains it"]
        fail(f"the candidate differs from the proven operator ({bad.label})", *lines)
    for call in (calls[0], calls[3]):
        history.append((tuple(t.to(torch.float64) for t in call.x), call.y_r, call.y64))
    del history[:-8]
    if gradients is not None:   # (and a module's parameters: the operator's weights read from it with autograd)
        here = isinstance(cand, torch.nn.Module) and not _tensor_weights(weights)
        own = trainable(cand) if here else []
        live = (lambda: {k: (v if v is not None else w[k])
                         for k, v in attached(mapped_weights(p, cand, weights, dtype), own).items()}) if own else None
        done = compare_gradients(cand, reference64, x1, op, where, inputs, dtype=dtype, static=plan.static, weights=w,
                                 seed=seed, params=own, live=live,
                                 remote=(p, weights) if isinstance(cand, RemoteCopy) else None)
        hidden = unlisted(mapped_weights(p, cand, weights, dtype), own) if here else []
        if hidden:   # (a weight whose tensor the module hides from named_parameters: said, not passed over silently)
            said = unlisted_reason(hidden)
            done["not compared"] = f"{done['not compared']}; {said}" if done["not compared"] else said
        if isinstance(cand, torch.nn.Module) and not here and trainable(cand):
            done["not compared"] = ("the operator's weights are given as tensors (weights=…): which of the candidate's "
                                    "parameters they stand for is unknown")
        gradients.append((_dt(dtype), done))
    return (config, _dt(dtype), max(float(c.err.max()) if c.err.numel() else 0.0 for c in calls))


def _cached_hint(y, call, history) -> list:
    """A cause line when ``y`` is an output the candidate returned earlier for a different input."""
    if not isinstance(y, torch.Tensor) or y.is_complex():   # (a complex output is refused for its dtype alone)
        return []
    y64 = y.detach().to(torch.float64)
    for x_h, y_r_h, y_h in history:
        if y_h.shape != y64.shape:
            continue
        same_input = len(x_h) == len(call.x) and all(a.shape == b.shape and torch.equal(a, b.to(torch.float64))
                                                      for a, b in zip(x_h, call.x))
        other = y_r_h.shape != call.y_r.shape or not torch.allclose(y_r_h, call.y_r)
        if not same_input and torch.equal(y_h, y64) and other:
            return ["  cause: it returns the output of an earlier call on a different input: the candidate caches "
                    "results across calls"]
    return []


def _shares_memory(a, b) -> bool:
    try:
        return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr() and a.numel() > 0
    except (RuntimeError, AttributeError):
        return False


def _mode_cause(bad, modes) -> str:
    """What sets the call ``bad`` (one of ``modes``, the first call and the one under torch.no_grad() correct) apart."""
    if bad.strided and bad.requires:
        plain = next((c for c in modes if c.layout == bad.layout and not c.requires), None)
        if plain is not None and plain.ok:
            return (f"wrong only on non-contiguous inputs requiring grad with autograd enabled ({LAYOUTS[bad.layout]}): "
                    "correct on the same views under torch.no_grad() and on contiguous inputs requiring grad (does it "
                    "take a path of its own for non-contiguous inputs in training?)")
    if bad.strided:
        return (f"wrong only on non-contiguous inputs ({LAYOUTS[bad.layout]}): correct on the same values laid out "
                "contiguously (does it read the input's storage as if it were contiguous: data_ptr, as_strided, a view "
                "without .contiguous(), a copy only when x.stride(-1) != 1?)")
    if bad.leaf:
        return ("wrong only on inputs that are leaves requiring grad (as torch.autograd.gradcheck and an optimised "
                "input hand them over): correct on inputs requiring grad computed from others and under "
                "torch.no_grad() (does the output depend on x.is_leaf or x.grad_fn?)")
    if bad.grad and not bad.requires:
        return ("wrong only with autograd enabled on an input that does not require grad (a network's first layer): "
                "correct when it requires grad and under torch.no_grad() (does the output depend on "
                "torch.is_grad_enabled() and x.requires_grad together?)")
    return f"wrong only in the call {bad.label}: correct on the first inputs at their size"


def _cheats(bad, calls, history, varied=(), inputs=("x",), modes=()) -> list[str]:
    """Plain causes of a mismatch that are not kernel properties: each an observation, never a guess."""
    first, no_grad, again, second = calls[:4]
    out = []
    if bad in modes and first.ok and no_grad.ok:
        return [_mode_cause(bad, modes)]
    for a, b in [(first, again)] + ([(no_grad, calls[4])] if len(calls) > 4 else []):
        if bool(((a.y64 - b.y64).abs() > a.tol).any()):
            diff = float((a.y64 - b.y64).abs().max())
            out.append(f"nondeterministic: two calls on the same input return different outputs (max |diff| "
                       f"{_num(diff)}; {a.label} / {b.label})")
            break
    if not out and first.ok != no_grad.ok:
        if no_grad.ok:
            out.append("wrong only with autograd enabled: correct under torch.no_grad(), wrong when grad mode is on "
                       "(does the output depend on torch.is_grad_enabled() or x.requires_grad?)")
        else:
            out.append("wrong only under torch.no_grad(): correct with autograd enabled (does the output depend on "
                       "torch.is_grad_enabled() or x.requires_grad?)")
    if not out:
        y = bad.y64
        if y.numel() and float(y.max() - y.min()) == 0 and float(bad.y_r.max() - bad.y_r.min()) > 0:
            value = y.flatten()[0].item()
            out.append("the output is all zeros" if value == 0 else f"the output is constant (every entry {value:.6g})")
    several = len(inputs) > 1
    if not out and isinstance(bad.y, torch.Tensor):
        for name, given, x in zip(inputs, bad.given, bad.x):
            which = f"its input {name}" if several else "its input"
            if _shares_memory(bad.y, given):
                out.append(f"it returns {which} (the output shares the {'input ' + name if several else 'input'}'s memory)")
            elif bad.y.shape == x.shape and torch.equal(bad.y64, x.to(torch.float64)):
                out.append(f"it returns {which} unchanged")
            else:
                continue
            break
    if not out and second.y64 is not None and first.y64 is not None:
        differs = not torch.allclose(first.y_r, second.y_r)
        if differs and (_shares_memory(first.y, second.y) or torch.equal(first.y64, second.y64)):
            out.append("it returns the same output for two different inputs: the candidate caches results across calls")
    if not out and first.y64 is not None:
        for name, call in zip(inputs, varied):   # only this input changed: the operator's output changes, the candidate's?
            if call.y64 is None or call.y64.shape != first.y64.shape:
                continue
            moved = bool(((call.y_r - first.y_r).abs() > first.tol + call.tol).any())
            same = _shares_memory(first.y, call.y) or bool(((call.y64 - first.y64).abs() <= first.tol).all())
            if moved and same:
                out.append(f"its output does not change when only the input {name} changes (the operator's does): the "
                           f"candidate ignores {name}, or caches results across calls")
                break
    if not out:
        hint = _cached_hint(bad.y, bad, history)
        if hint:
            out.append(hint[0].split("cause: ", 1)[1])
    return out


def _properties(plan, names, cand, run_reference, bad, w, inputs=None, value=None) -> list[str]:
    """The kernel-property diagnoses (diagnose.py) of a finite mismatch; a failing experiment says so, never crashes.
    With several inputs the experiments vary the value input (the others held), after the inputs' own experiment."""
    layout = [r[0] for r in plan.output_layout]
    inputs = list(inputs or [value])
    vi = inputs.index(value) if value in inputs else 0
    xs = bad.x
    try:
        window = list(zip(*[[int(eval(v, {}, dict(names))) for v in plan.window[k]]  # noqa: S307
                            for k in ("kernel", "stride", "dilation", "padding")])) if plan.window else []

        def put(t):
            return tuple(t if j == vi else xs[j] for j in range(len(xs)))

        def run_candidate(t):
            return cand(*[a.clone() for a in put(t)])

        def run_ref(t, alt=None):
            return run_reference(put(t), alt)

        def each_sample():   # every input's sample b (each input batched like the value), else no experiment
            if not getattr(plan, "extras_batched", False):
                return None
            return torch.cat([cand(*[a[b:b + 1].clone() for a in xs]) for b in range(xs[vi].shape[0])])
        samples = each_sample if len(xs) > 1 else None
        out = _inputs_exchanged(run_reference, bad, inputs) if len(xs) > 1 else []
        with torch.enable_grad():
            return out + diagnose(run_candidate, run_ref, xs[vi], bad.y.detach(), bad.y_r.to(bad.y.dtype),
                                  bad.tol.to(bad.y.dtype), window, layout, w, plan=plan, names=names, samples=samples)
    except Exception as exc:  # noqa: BLE001 - a diagnosis is an aid; the verdict stands without it
        return [f"the property tests could not run ({type(exc).__name__}: {exc})"]


def _inputs_exchanged(run_reference, bad, inputs) -> list[str]:
    """The operator re-run with two inputs of one shape exchanged, or one read in place of the other: the first such
    variant the candidate equals (and the operator does not)."""
    xs, y = bad.x, bad.y.detach().to(bad.y_r.dtype)
    tol = bad.tol

    def matches(alt):
        with torch.no_grad():
            y_alt = run_reference(tuple(t.clone() for t in alt))
        return (y_alt.shape == y.shape and bool(((y_alt.to(y.dtype) - y).abs() <= tol).all())
                and not bool(((y_alt.to(y.dtype) - bad.y_r).abs() <= tol).all()))
    pairs = [(i, j) for i in range(len(xs)) for j in range(len(xs)) if i != j and xs[i].shape == xs[j].shape]
    for i, j in pairs:
        if i < j:
            alt = tuple(xs[j] if m == i else xs[i] if m == j else xs[m] for m in range(len(xs)))
            if matches(alt):
                return [f"matches the operator with its inputs {inputs[i]} and {inputs[j]} exchanged (the candidate "
                        f"reads {inputs[i]} where the operator reads {inputs[j]} and the other way round: arguments in "
                        f"another order, or keys and values swapped?)"]
    for i, j in pairs:
        alt = tuple(xs[i] if m == j else xs[m] for m in range(len(xs)))
        if matches(alt):
            return [f"matches the operator with {inputs[i]} read in place of {inputs[j]} (the candidate ignores "
                    f"{inputs[j]} and reads {inputs[i]} there)"]
    return []


def _structural(p, small, candidate, weights, seed) -> list[str]:
    """Mutants of the operator's form (mutants.py) the candidate matches, at the small configuration ``small``."""
    if small is None:
        return []
    op, plan = p.operator, p.plan
    try:
        names = {py_name(s): int(v) for s, v in small.items()}
        cand = as_dtype(candidate, torch.float64)
        w = {k: (v.detach().clone().to(torch.float64) if v is not None
                 else torch.zeros(shape_of(plan, k, names), dtype=torch.float64))
             for k, v in mapped_weights(p, cand, weights, torch.float64).items()}
        gen = torch.Generator().manual_seed(seed + 7)
        inputs, shapes = input_names(op, plan), op.shapes_at(small)
        xs = [in_domain(op.tensor(n), torch.randn(shapes[n], generator=gen, dtype=torch.float64)) for n in inputs]
        kwargs = {n: names[n] for n, _ in plan.module_sizes}
        if "path" in inspect.signature(p.function).parameters:
            kwargs["path"] = "generic"
        with torch.no_grad():
            y_op = p.function(*[x.clone() for x in xs], *[w[ir] for ir, _, _, _ in plan.params], **kwargs)
            y_c = cand(*[x.clone() for x in xs])
        if not isinstance(y_c, torch.Tensor) or y_c.shape != y_op.shape:
            return []
        arrays = {**{n: x.numpy() for n, x in zip(inputs, xs)}, **{k: v.numpy() for k, v in w.items()}}
        return structural(op, small, arrays, y_op.numpy(), y_c.detach().to(torch.float64).numpy())
    except Exception:  # noqa: BLE001 - a diagnosis is an aid; the verdict stands without it
        return []


def shape_of(plan, ir, names):
    for name_ir, _, shape, _ in plan.params:
        if name_ir == ir:
            return tuple(int(eval(d, {}, dict(names))) for d in shape)  # noqa: S307
    raise KeyError(ir)


def check_arguments(operator, sizes, weights, seed, trials, dtypes, gradients, random_weights) -> tuple:
    """``assert_equivalent``'s arguments checked before anything runs: an ``EvosymError`` that names the wrong one;
    (the operator as a str, the dtypes as a tuple)."""
    def integer(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))
    if isinstance(operator, os.PathLike):
        operator = os.fspath(operator)
    if not isinstance(operator, str) or not operator:
        raise EvosymError(f"operator must be a catalogue name or the path of an operator file (a str), not "
                          f"{escaped(repr(operator)[:80])}")
    if sizes is not None and not (isinstance(sizes, dict) and all(isinstance(k, str) for k in sizes)):
        raise EvosymError(f"sizes must be a dict of the operator's module sizes by name ({{'G': 2, …}}) or None, not "
                          f"{type(sizes).__name__}")
    if sizes is not None:
        wrong = [k for k, v in sizes.items() if not integer(v)]
        if wrong:
            raise EvosymError("sizes must be integers: " + ", ".join(f"{k}={escaped(repr(sizes[k])[:40])}" for k in wrong))
    if weights is not None and not callable(weights) and not isinstance(weights, dict):
        raise EvosymError(f"weights must be a dict (the operator's parameter → an attribute path, a function of the "
                          f"candidate or a tensor), a function of the candidate returning such a dict, or None, not "
                          f"{type(weights).__name__}")
    if not integer(seed) or not 0 <= int(seed) < 2 ** 48:
        raise EvosymError(f"seed must be an integer from 0 to 2**48 - 1, not {escaped(repr(seed)[:80])}")
    if not integer(trials) or int(trials) < 1:
        raise EvosymError(("nothing to compare: " if integer(trials) else "") + f"trials must be a positive integer "
                          f"(input shapes per dtype), not {escaped(repr(trials)[:80])}")
    if isinstance(dtypes, torch.dtype):
        raise EvosymError(f"dtypes must be a sequence of floating-point torch dtypes: give dtypes=({dtypes},)")
    try:
        dtypes = tuple(dtypes)
    except TypeError:
        raise EvosymError(f"dtypes must be a sequence of floating-point torch dtypes, not {type(dtypes).__name__}") \
            from None
    if not dtypes:
        raise EvosymError("nothing to compare: give trials ≥ 1 and at least one dtype")
    if not all(isinstance(d, torch.dtype) and d.is_floating_point for d in dtypes):
        raise EvosymError(f"dtypes must be floating-point torch dtypes, not {escaped(repr(dtypes)[:200])}")
    for name, flag in (("gradients", gradients), ("random_weights", random_weights)):
        if not isinstance(flag, (bool, np.bool_)):
            raise EvosymError(f"{name} must be True or False, not {escaped(repr(flag)[:80])}")
    return operator, dtypes


def _tensor_weights(weights) -> bool:
    """Whether ``weights`` gives the operator a tensor of its own (not read from the candidate)."""
    return isinstance(weights, dict) and any(isinstance(v, torch.Tensor) for v in weights.values())


def _harness(proven_, module_sizes_, domain_, kinds_, compare_, report_, signature_, adapt_, redraw_=None):
    """``assert_equivalent`` with the functions its verdict depends on bound now: a candidate that rebinds this
    module's names while it is constructed or run does not change what an earlier import of it checks."""
    minimum, draw, env_of = domain_.minimum, domain_.draw, domain_.env

    def assert_equivalent(candidate, operator: str, *, sizes: dict | None = None, weights=None, seed: int = 0,
                          trials: int = 4, dtypes=(torch.float64, torch.float32), gradients: bool = False,
                          random_weights: bool = True) -> Report:
        """Raise ``AssertionError`` unless ``candidate`` computes the proven ``operator``.

        - ``candidate``: an ``nn.Module`` or a function of the input tensor; of every input, positionally in the
          operator's order, when the operator has several (``candidate(x, xk, xv)`` for ``cross_attention``). An
          ``nn.MultiheadAttention`` is taken as it is for the attention operators bound to it (mhsa, mhsa_causal,
          mhsa_bias, mhsa_sample_bias, cross_attention): called as they are, its weights read through the binding.
          A string ``"MODULE:ATTR"`` (a module, or a function of no arguments returning one) is imported and run
          in a process of its own (``evosym check --candidate``): it cannot reach the harness or the values it
          is compared with; ``weights`` then maps names to attribute paths only.
        - ``operator``: a catalogue name or the path of an operator file.
        - ``sizes``: the operator's module sizes by name (``G``, ``C_g``, …); read from the candidate when
          it is the traditional module (``nn.Conv2d`` …).
        - ``weights``: how the candidate's parameters map onto the operator's (see :func:`mapped_weights`).
        - ``trials`` input shapes per dtype from the operator's domain (odd and non-square, larger than
          12 on every length, the smallest the windows allow, random), seeded by ``seed``.
        - ``gradients``: also compare gradients (float64 and float32): with respect to every input and every
          trainable parameter of a candidate module (:mod:`.gradients`); ``Report.gradients`` says which.
        - ``random_weights``: also compare, once per dtype, a copy of the candidate whose trainable floating-point
          parameters are redrawn at random (seeded by ``seed``), the operator given the weights read from that copy
          (constant or zero weights hide a wrong kernel); False: only at the candidate's own weights.
        """
        operator, dtypes = check_arguments(operator, sizes, weights, seed, trials, dtypes, gradients, random_weights)
        seed, trials = int(seed), int(trials)
        if isinstance(candidate, str):
            return isolated(candidate, operator, sizes=sizes, weights=weights, seed=seed, trials=trials,
                            dtypes=dtypes, gradients=gradients, random_weights=random_weights)
        if candidate is None:
            raise EvosymError("candidate must be a torch module, a function of the input tensors or a 'MODULE:ATTR' "
                              "string, not None")
        planned = trials * len(dtypes)
        p = proven_(operator)
        op = p.operator
        msizes = module_sizes_(p, candidate, sizes)
        candidate, bound = adapt_(candidate, op.torch_binding)   # a bare nn.MultiheadAttention: called as bound
        weights = bound if weights is None and bound is not None else weights
        signature_(candidate, op, p.plan)
        by_name = {py_name(s): s for s, _ in op.sizes}
        domain = domain_(op, p.omega, p.plan, {by_name[k]: v for k, v in msizes.items()})
        low = minimum(domain)
        rng = np.random.default_rng(seed)
        envs = [env_of(domain, draw(domain, kind, rng, low)) for kind in kinds_(int(trials))]
        near = {s: v + 1 if s is not domain.batch else 1 for s, v in low.items()}   # small, for structural diagnoses
        small = env_of(domain, near if domain.ok(env_of(domain, near)) else low)
        done, history, grads = [], [], [] if gradients else None
        for t, env in enumerate(envs):
            for k, dtype in enumerate(dtypes):
                done.append(compare_(p, candidate, weights, env, dtype, seed * 1000 + 10 * t + k, history,
                                     grads, small))
        drawn, names, redone = None, [], []
        if random_weights and not _tensor_weights(weights):
            drawn, names = redrawn(candidate, seed, nonnegative_paths(op, p.plan, weights))
        if drawn is not None:   # its trainable parameters redrawn: the operator takes the weights read from them
            # at the first trial's sizes and at the largest (a candidate whose wrong path runs on wide inputs only)
            at = [envs[0]] + [e for e in [max(envs, key=_entries)] if e is not envs[0]]
            for (t, env), (k, dtype) in itertools.product(enumerate(at), enumerate(dtypes)):
                try:
                    redone.append(compare_(p, drawn, weights, env, dtype, seed * 1000 + 500 + 10 * t + k, history,
                                           grads, small))
                except AssertionError as exc:
                    first, _, rest = str(exc).partition("\n")
                    raise AssertionError(
                        f"{op.name}: the candidate differs from the proven operator at randomly drawn weights: it agrees "
                        f"at its own weights, not with its trainable floating-point parameters redrawn at random (seed "
                        f"{seed}) and the operator given the weights read from them (constant or zero weights hide a "
                        f"wrong kernel; a parameter that must keep a structure: map the operator's weights through a "
                        f"function of it, freeze it with requires_grad=False, or pass random_weights=False)\n"
                        f"  at redrawn weights: {first.partition(': ')[2]}\n{rest}") from None
        if (len(done) != planned or len(redone) != (len(at) * len(dtypes) if drawn is not None else 0)
                or not all(isinstance(r, tuple) and len(r) == 3 for r in done + redone)):
            raise AssertionError(f"{op.name}: {len(done) + len(redone)} of {planned} comparisons ran: no verdict (was "
                                 "the harness modified while the candidate ran?)")
        names = confirmed(p, drawn, weights, names) if drawn is not None else []
        return report_(op.name, dict(msizes), list(done), list(names), compared(grads))

    def _entries(env) -> int:
        """How many entries a trial's sizes make (the product of their values): the largest trial is redone."""
        return math.prod(int(v) for v in env.values())

    def redrawn(candidate, seed, nonnegative):
        """(the candidate with its trainable floating-point parameters redrawn, seeded by ``seed``, those at the paths
        ``nonnegative`` non-negative; their names), or (None, []) when it has none (a function, a module without
        parameters)."""
        if isinstance(candidate, RemoteCandidate):
            names = candidate.redraw(seed, nonnegative)
            return (candidate, names) if names else (None, [])
        if not isinstance(candidate, torch.nn.Module):
            return None, []
        drawn = copied(candidate)
        names = redraw_(drawn, seed, nonnegative)
        return (drawn, names) if names else (None, [])

    def confirmed(p, drawn, weights, names) -> list:
        """Of the redrawn parameters ``names``, those the operator's weights are read from (:func:`.redraw.read_from`;
        a contained candidate: those a weight read was confirmed to hold)."""
        if isinstance(drawn, RemoteCandidate):
            return [n for n in names if n in drawn.confirmed]
        return read_from(drawn, mapped_weights(p, drawn, weights, torch.float64), names)

    def isolated(spec: str, operator: str, *, weights, seed: int, **kw) -> Report:
        """``assert_equivalent`` of the candidate ``spec`` (MODULE:ATTR) run in its own process (:mod:`.remote`)."""
        if weights is not None and not (isinstance(weights, dict) and
                                        all(isinstance(k, str) and isinstance(v, str) for k, v in weights.items())):
            raise EvosymError("a candidate run in its own process maps its weights by attribute paths only "
                              "(weights={'weight': 'conv.weight', …})")
        p = proven_(operator)
        try:
            remote = RemoteCandidate(spec, p, input_names(p.operator, p.plan), [os.getcwd()] + sys.path, seed)
        except CandidateGone as exc:   # (it ended its process as it was imported or built: as a raise there)
            raise EvosymError(f"--candidate: cannot load {escaped(spec)}: {exc}") from None
        try:
            return assert_equivalent(remote, operator, weights=weights, seed=seed, **kw)
        except (CandidateGone, CandidateRaised) as exc:   # (outside a call: its process ended, or copying it raised)
            raise AssertionError(f"{p.operator.name}: the candidate raised {type(exc).__name__}: "
                                 f"{escaped(str(exc))}") from None
        finally:
            remote.close()   # (and every process it started) before the caller writes a verdict

    return assert_equivalent


assert_equivalent = _harness(proven, module_sizes, Domain, kinds, _compare, Report, check_signature, adapt, redraw)


__all__ = ["Report", "assert_equivalent"]
