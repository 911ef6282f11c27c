"""Gradients of a candidate against the proven operator's: with respect to every input, and to every trainable
floating-point parameter of a candidate module, in float64 and in float32, in three calls: with the inputs requiring
grad (training), not requiring it (a parameter's, for a network's first layer), and requiring it as non-contiguous
views (:mod:`.layouts`, one layout per trial by its seed).

A candidate whose forward agrees can still train wrong: a backward that returns zeros for its weight, one that
flips a sign in float32 only, on wide inputs only or on non-contiguous inputs only (it reads its saved input's storage
as if it were contiguous), or one wrong in one of those calls only, passed while only float64 input gradients of
contiguous inputs were compared (adversarial passes and reviews). The operator's gradient for a parameter is its weights'
gradients pulled back through what reads them from the candidate, and the two are compared parameter by parameter,
by name: in the caller's process by autograd through the mapping itself (an attribute path, rows of a packed
projection, a function of several parameters); for a candidate in a process of its own (:mod:`.remote`), through
the parameter a weight is, or a binding's expression evaluated here — the parameters a weight is computed from there
in another way are left uncompared, and the report says so.

Tolerances: float64 to 1e-9 of each entry and of the largest; float32 against the operator's gradients in float64
from the same rounded inputs, weights and output gradient, within 8ε(√m·B + S) — m the terms one entry may sum (the
outputs of a sample for an input, every output for a parameter), B the entry's Σ|terms| where the operator is linear
in its input (its gradients at |inputs|, |weights| and |output gradient|) and √m·S otherwise; S the gradient's own
largest entry where the operator is linear (a weight read non-linearly, gcn's degree-normalised adjacency, has no
Σ|terms| bound), else the largest entry of every gradient compared (a gradient that cancels to 0, a logit's shift
under softmax, sums terms as large as the others'). The output gradient is drawn from the trial's seed; the first
layer's call takes it as a non-contiguous view, in a contained candidate's process too. √m, not m: rounding
errors of a long sum add up as a random walk, and m·Σ|terms| at a wide trial exceeded the largest entry (a zeroed
gradient passed). Half precisions are not compared (their backward rounds too coarsely for a bound that still fails
a wrong one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .layouts import LAYOUTS, laid_out
from .remote import RemoteCopy

COMPARED = (torch.float64, torch.float32)   # the dtypes whose gradients are compared


@dataclass
class _Pair:
    """One gradient to compare: the candidate's (None: its output does not reach it), the operator's (None: its
    weights do not read it) and, in float32 where the operator is linear, the Σ|terms| bound of each entry; ``when``:
    the call it was taken at, where not the first (its input requiring grad)."""

    kind: str        # "input" or "parameter"
    name: str
    shape: tuple
    candidate: object
    operator: object
    bound: object = None
    when: str = ""
    scale: float = 0.0   # (float32) the largest gradient entry compared in the call


FIRST_LAYER = "its input not requiring grad, as a network's first layer"


def _laid_out_call(layout: str) -> str:
    """The third call, in a failure's words."""
    return f"its inputs as non-contiguous views: {LAYOUTS[layout]}"


def compare_gradients(cand, reference64, x, op, where, inputs, *, dtype, static, weights, seed, params=(), live=None,
                      remote=None) -> dict:
    """Raise ``AssertionError`` where a gradient of the candidate differs from the operator's; else what was
    compared: {"inputs": names, "parameters": names, "not compared": a reason or None}.

    ``cand`` takes the inputs ``x`` (in ``dtype``); ``reference64(t, w)`` is the operator in float64 at the weights
    ``w`` ({IR name: tensor}); ``weights``: the operator's weights as read from the candidate (detached). A candidate
    module in this process: ``params`` its trainable parameters as (name, tensor) and ``live()`` the weights read from
    it with autograd. A contained candidate: ``remote`` = (the operator as proven, the weights' mapping). A
    parameter's gradient is compared in three calls: with the inputs requiring grad (training), not (a first layer,
    its output gradient a non-contiguous view), and as non-contiguous views requiring grad (an input's gradient is
    compared in the first and the third). The output gradient is drawn from the trial's ``seed``."""
    if dtype not in COMPARED:
        return {"inputs": [], "parameters": [], "not compared": f"gradients are not compared in {_dt(dtype)}"}
    inputs = list(inputs or [op.value])
    params = list(params) if live is not None else []
    prms = tuple(p for _, p in params)
    xc = tuple(t.detach().clone().to(dtype).requires_grad_(True) for t in x)
    xr = tuple(t.detach().clone().to(dtype).to(torch.float64).requires_grad_(True) for t in x)
    bounded = dtype != torch.float64 and static
    pull = remote is not None and isinstance(cand, RemoteCopy)
    with torch.enable_grad():
        yc = cand(*xc)
        if type(yc) is not torch.Tensor or not yc.requires_grad:
            raise AssertionError(f"{op.name}: the candidate's output does not depend on its input"
                                 f"{'s' if len(inputs) > 1 else ''} through autograd (detached?)\n{where}")
        g = torch.randn(yc.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(dtype)
        g64 = g.to(torch.float64)
        gcs = torch.autograd.grad(yc, xc + prms, g, allow_unused=True)
        first = _first_layer(cand, xc, prms, g)
        layout = list(LAYOUTS)[seed % len(LAYOUTS)]   # (a backward that assumes a contiguous input: one per trial)
        xs = tuple(laid_out(t.detach(), layout).requires_grad_(True) for t in xc)
        gss = _through(cand, xs, prms, g, layout, op, where, len(inputs))
        # the weights read with autograd from a module here; as leaves for a contained candidate (their gradients are
        # pulled back to its parameters); else as they are
        leaves = {k: v.detach().to(torch.float64).requires_grad_(True) for k, v in weights.items()} if pull else {}
        wr = live() if live is not None else leaves if pull else dict(weights)
        yr = reference64(xr, wr)
        grs = torch.autograd.grad(yr, xr + prms + tuple(leaves.values()), g64, allow_unused=True)
        bounds = [None] * len(grs)
        if bounded:   # Σ|terms| of each entry: the operator at |x|, |w| and |g|
            xa = tuple(t.detach().abs().requires_grad_(True) for t in xr)
            wa = {k: v.abs() for k, v in (live() if live is not None else wr).items()}   # (a graph of its own)
            wl = {k: v.detach().abs().requires_grad_(True) for k, v in leaves.items()}
            ya = reference64(xa, {**wa, **wl})
            bounds = [None if b is None else b.abs() for b in
                      torch.autograd.grad(ya, xa + prms + tuple(wl.values()), g64.abs(), allow_unused=True)]
    n, laid = len(inputs), _laid_out_call(layout)
    pairs = [_Pair("input", name, tuple(t.shape), gc[k], grs[k], bounds[k], when)
             for gc, when in ((gcs, ""), (gss, laid)) for k, (name, t) in enumerate(zip(inputs, x))]
    for k, (name, t) in enumerate(params):
        pairs += [_Pair("parameter", name, tuple(t.shape), gc, grs[n + k], bounds[n + k], when)
                  for gc, when in ((gcs[n + k], ""), (first[k], FIRST_LAYER), (gss[n + k], laid))]
    skipped = None
    if pull:
        at = n + len(params)
        named = lambda got: {k: got[at + j] if got[at + j] is not None else torch.zeros(v.shape, dtype=torch.float64)
                             for j, (k, v) in enumerate(leaves.items())}   # (the weights' gradients, by IR name)
        wgrads, wbounds = named(grs), named(bounds) if bounded else None
        more, skipped = _contained(cand, remote, xc, xs, layout, g, wgrads, wbounds)
        pairs += more
    _scale(pairs, static)
    per_sample = max(1, yr.numel() // max(1, int(x[0].shape[0]) if x[0].dim() else 1))
    for pair in pairs:
        _check(pair, op, where, dtype, per_sample if pair.kind == "input" else yr.numel(), several=n > 1)
    names = list(dict.fromkeys(p.name for p in pairs if p.kind == "parameter"))
    # a parameter neither side reaches in any call (the operator's weights not read from it, the candidate's output
    # not depending on it) had nothing compared: not listed as compared (a copy read detached was, an adversarial pass)
    reached = {p.name for p in pairs if p.kind == "parameter" and (p.candidate is not None or (
        p.operator is not None and bool(p.operator.any())))}
    unreached = [name for name in names if name not in reached]
    if unreached:
        said = (f"{', '.join(unreached)}: neither the operator's weights as read from the candidate nor its output "
                "depend on them through autograd (a parameter nothing reads, or one read as a copy)")
        skipped = f"{skipped}; {said}" if skipped else said
    return {"inputs": inputs, "parameters": [name for name in names if name in reached], "not compared": skipped}


def _through(cand, xs, prms, g, layout, op, where, n: int) -> tuple:
    """The gradients of the inputs ``xs`` (non-contiguous views) and of the parameters ``prms`` for the output gradient
    ``g``: a backward that reads its input's storage as if it were contiguous."""
    y = cand(*xs)
    if type(y) is not torch.Tensor or not y.requires_grad:
        raise AssertionError(f"{op.name}: the candidate's output does not depend on its input{'s' if n > 1 else ''} "
                             f"through autograd ({_laid_out_call(layout)})\n{where}")
    return torch.autograd.grad(y, xs + prms, g, allow_unused=True)


def _first_layer(cand, xc, prms, g) -> tuple:
    """The gradients of the parameters ``prms`` with the inputs not requiring grad (a candidate whose backward for
    its weights differs when no input gradient is asked for)."""
    if not prms:
        return ()
    y = cand(*[t.detach() for t in xc])
    if type(y) is not torch.Tensor or not y.requires_grad:
        return (None,) * len(prms)
    return torch.autograd.grad(y, prms, _every_other(g), allow_unused=True)


def _every_other(g):
    """``g``'s values in a non-contiguous view (every other entry of a buffer): a first layer's output gradient."""
    return torch.zeros(tuple(g.shape) + (2,), dtype=g.dtype).select(-1, 0).copy_(g)


def _contained(cand, remote, xc, xs, layout, g, wgrads, wbounds) -> tuple:
    """The parameter pairs of a contained candidate (its gradients taken in its process, with its inputs requiring
    grad and not, the output gradient non-contiguous there as here, and its inputs ``xs`` laid out in ``layout``; the
    operator's pulled back here), and why some were not compared (None: every one was)."""
    proven, spec = remote
    pairs, skipped = [], None
    every = list(range(len(xc)))
    for given, needs, gy, when in ((xc, every, g, ""), (xc, [], _every_other(g), FIRST_LAYER),
                                   (xs, every, g, _laid_out_call(layout))):
        got, reads, shapes = cand.parameter_gradients(proven, spec, given, gy, needs)
        expected, unknown, why = cand.pulled_back(proven, spec, reads, wgrads, shapes)
        bound = cand.pulled_back(proven, spec, reads, wbounds, shapes)[0] if wbounds is not None else None
        skipped = why
        pairs += [_Pair("parameter", name, shapes[name], got[name], expected[name],
                        None if bound is None else bound[name].abs(), when) for name in got if name not in unknown]
    return pairs, skipped


def _scale(pairs, static: bool) -> None:
    """Each pair's S, the float32 tolerance's floor: its own largest entry where the operator is linear in its input
    (a Σ|terms| bound holds but for a parameter read non-linearly, gcn's degree-normalised adjacency); else, with no
    Σ|terms| known, the largest entry of every gradient compared (a gradient that cancels to 0, a logit's shift under
    softmax, sums terms as large as the others'). (Across every gradient, a frozen weight of 1e8 in a linear layer
    made S swamp the bias's: a zeroed float32 bias gradient passed — an adversarial pass.)"""
    own = [float(q.operator.abs().max()) if q.operator is not None and q.operator.numel() else 0.0 for q in pairs]
    every = max(own, default=0.0)
    for q, s in zip(pairs, own):
        q.scale = s if static else every


def _dt(dtype) -> str:
    return str(dtype).replace("torch.", "")


def _check(pair: _Pair, op, where, dtype, terms: int, several: bool) -> None:
    gc, gr = pair.candidate, pair.operator
    which = (f"the input {pair.name}" if several else "the input") if pair.kind == "input" else \
        f"the parameter {pair.name}"
    at = (f"index of {pair.name}" if several else "input index") if pair.kind == "input" else f"index of {pair.name}"
    call = f" ({pair.when})" if pair.when else ""
    unread = gr is None or (pair.kind == "parameter" and not bool(gr.any()))
    if gc is None:
        if gr is None or not bool(gr.any()):
            if pair.kind == "input" and not several:
                raise AssertionError(f"{op.name}: the candidate's output does not depend on its input through "
                                     f"autograd\n{where}")
            return
        its = (f"its input {pair.name}" if several else "its input") if pair.kind == "input" else which
        raise AssertionError(f"{op.name}: the candidate's output does not depend on {its} through autograd"
                             + (", the operator's weights read from it do" if pair.kind == "parameter" else "")
                             + f"{call}\n{where}")
    gc = gc.to(torch.float64)
    gr = torch.zeros(pair.shape, dtype=torch.float64) if gr is None else gr.to(torch.float64)
    if dtype == torch.float64:
        tol = 1e-9 * gr.abs() + 1e-9 * (1 + gr.abs().max().item())
    else:   # 8ε(√m·B + S): B the entry's Σ|terms| (else √m·S), S the largest gradient entry compared
        root, scale = math.sqrt(terms), pair.scale
        bound = pair.bound.to(torch.float64) if pair.bound is not None else torch.full(pair.shape, root * scale,
                                                                                         dtype=torch.float64)
        tol = 8 * torch.finfo(dtype).eps * (root * bound + scale) + torch.finfo(dtype).tiny
    err = torch.nan_to_num((gc - gr).abs(), nan=float("inf"))
    if bool((err <= tol).all()):
        return
    worst = int(torch.argmax(err / (tol + 1e-300)))
    why = (" (the operator's weights read from the candidate do not depend on it: a parameter they do not read, or "
           "one a weights= function detaches)") if unread else ""
    raise AssertionError(
        f"{op.name}: gradients with respect to {which} differ (forward agrees){call}{why}\n{where}\n  worst "
        f"{at} {[int(i) for i in np.unravel_index(worst, tuple(pair.shape))]}: candidate "
        f"{gc.flatten()[worst].item():.17g}, operator {gr.flatten()[worst].item():.17g} (|diff| "
        f"{err.flatten()[worst].item():.3g} > tol {tol.flatten()[worst].item():.3g}); "
        f"{int((~(err <= tol)).sum())} of {err.numel()} entries differ")


def compared(records) -> dict | None:
    """What :func:`compare_gradients` compared over a run's trials ((dtype, its answer) each): the dtypes, inputs and
    parameters whose gradients were compared, and why a candidate's parameters' were not (None: they were, or it
    has none); None where gradients were not asked for."""
    if records is None:
        return None
    dtypes, inputs, params, why = [], [], [], None
    for dtype, done in records:
        if not done["inputs"]:
            continue
        dtypes += [dtype] if dtype not in dtypes else []
        inputs += [n for n in done["inputs"] if n not in inputs]
        params += [n for n in done["parameters"] if n not in params]
        why = why or done["not compared"]
    return {"dtypes": dtypes, "inputs": inputs, "parameters": params, "not compared": why}
