"""Weights drawn at random for a candidate's trainable parameters (``assert_equivalent(random_weights=True)``):
constant or zero weights (a box filter, a zero-initialised last layer) hide a flipped kernel or a wrong bias index,
so the harness also compares a copy of the candidate whose trainable parameters it refilled with values it drew."""

from __future__ import annotations

import math

import torch

# how much wider than PyTorch's initialisation the redrawn weights spread: a candidate that clamps its weights to
# the initial range (or saturates past it) differs from the operator there
SPREAD = 4


def trainable(candidate) -> list:
    """The candidate's trainable floating-point parameters (``requires_grad``, not empty) as (name, parameter), in
    ``named_parameters`` order: what a redraw refills (frozen ones, buffers and other dtypes keep their values)."""
    if not isinstance(candidate, torch.nn.Module):
        return []
    return [(name, prm) for name, prm in candidate.named_parameters()
            if prm.requires_grad and prm.is_floating_point() and prm.numel() > 0]


def drawn_values(shapes: list, seed: int, nonnegative=()) -> list:
    """Values for parameters of the given (shape, dtype)s, in order, from a generator seeded with ``seed``: uniform in
    ±SPREAD/√fan_in (fan_in: the entries of one row, 1 for a vector), wider than PyTorch initialises a layer, their
    magnitudes where ``nonnegative[k]`` (a parameter the operator reads as a tensor it declares non-negative: gcn's
    adjacency); each rounded to its dtype. The checking process draws them (the same values in process and for a
    candidate run in its own process, which is handed them)."""
    gen = torch.Generator().manual_seed(int(seed))
    out = []
    for k, (shape, dtype) in enumerate(shapes):
        shape = tuple(int(n) for n in shape)
        fan = math.prod(shape[1:]) if len(shape) >= 2 else 1
        values = SPREAD * (2 * torch.rand(shape, generator=gen, dtype=torch.float64) - 1) / math.sqrt(fan)
        out.append((values.abs() if k < len(nonnegative) and nonnegative[k] else values).to(dtype))
    return out


def nonnegative_paths(op, plan, weights) -> frozenset:
    """The attribute paths of the candidate's parameters that the operator reads as tensors it declares non-negative:
    by ``weights``' path where it names one, else by the generated module's attribute name (the binding's); a weight
    mapped through a function has no path (its values are checked as read, :func:`.equivalence._compare`)."""
    spec = weights if isinstance(weights, dict) else {}
    out = set()
    for ir, attribute, _, _ in plan.params:
        if op.tensor(ir).domain == "nonnegative":
            path = spec.get(ir, attribute)
            if isinstance(path, str):
                out.add(path)
    return frozenset(out)


def redraw(candidate, seed: int, nonnegative=frozenset()) -> list:
    """The candidate's trainable floating-point parameters (:func:`trainable`) refilled in place with
    :func:`drawn_values` seeded with ``seed`` (non-negative for the names in ``nonnegative``); their names (none for a
    candidate that is not a module)."""
    params = trainable(candidate)
    drawn = drawn_values([(p.shape, p.dtype) for _, p in params], seed, [name in nonnegative for name, _ in params])
    with torch.no_grad():
        for (_, prm), values in zip(params, drawn):
            prm.copy_(values)
    return [name for name, _ in params]


def _extent(t) -> tuple:
    """The first and last storage entries (in elements) that ``t`` reads."""
    last = t.storage_offset() + sum((n - 1) * abs(s) for n, s in zip(t.shape, t.stride()))
    return t.storage_offset(), last


def attached(read: dict, params: list) -> dict:
    """The operator's weights ``read`` from a candidate, each read that holds a trainable parameter's own entries
    (its memory, within the parameter's extent) taken from the parameter: the parameter itself where the read has its
    shape and strides, else the same view of it. A read detached from the parameter it is (an attribute that returns
    ``weight.detach()`` or ``.data``) then gets the operator's gradient, so a parameter the candidate's output never
    reaches fails: such a layer never trains, and passed while the operator's gradient went to the detached read
    (an adversarial pass). A detached read in memory of its own (``weight.detach().clone()``) is taken from the one
    parameter that holds the same values, where one does. ``params``: (name, parameter) pairs, :func:`trainable`'s."""
    def where(t):
        try:
            return t.untyped_storage().data_ptr() if t.numel() else None
        except RuntimeError:   # (a tensor with no storage of its own)
            return None
    owners = {}
    for _, prm in params:
        owners.setdefault(where(prm), []).append(prm)
    out = {}
    for ir, value in read.items():
        out[ir] = value
        if not isinstance(value, torch.Tensor) or value.is_sparse or where(value) is None:
            continue
        low, high = _extent(value)
        for prm in owners.get(where(value), ()):
            first, last = _extent(prm)
            if prm.dtype != value.dtype or prm.device != value.device or not first <= low <= high <= last:
                continue
            same = (value.shape == prm.shape and value.stride() == prm.stride()
                    and value.storage_offset() == prm.storage_offset())
            out[ir] = prm if same else prm.as_strided(value.shape, value.stride(), value.storage_offset())
            break
        if out[ir] is value and not value.requires_grad:   # a detached copy: the one parameter holding its values
            equal = [prm for _, prm in params if prm.shape == value.shape and prm.dtype == value.dtype
                     and prm.device == value.device and torch.equal(prm.detach(), value)]
            if len(equal) == 1:
                out[ir] = equal[0]
    return out


def unlisted(read: dict, params: list) -> list:
    """The operator's weights (IR names) ``read`` from a tensor that requires grad and is a leaf, yet is none of the
    trainable parameters ``params`` (a parameter hidden from ``named_parameters``): an optimiser built from those does
    not train it, and no gradient of it is compared."""
    return [ir for ir, value in read.items() if isinstance(value, torch.Tensor) and value.requires_grad
            and value.is_leaf and all(value is not prm for _, prm in params)]


def unlisted_reason(names: list) -> str:
    """The report's words for :func:`unlisted`'s weights."""
    return (f"the operator's {', '.join(names)} {'is' if len(names) == 1 else 'are'} read from a tensor requiring grad "
            "that is not among the candidate's trainable parameters (named_parameters): an optimiser built from them "
            "does not train it, and its gradient is not compared")


def read_from(module, read: dict, names: list) -> list:
    """The redrawn parameters (of ``names``) that the operator's weights ``read`` from ``module`` are: those whose
    memory a weight read shares (an attribute path, rows of a packed projection); every one of them where a weight
    read is computed, a tensor no parameter or buffer holds (weight norm's g·v/‖v‖: its sources cannot be told).
    A decoy trainable parameter beside a frozen weight is not among them."""
    def where(t):
        try:
            return t.untyped_storage().data_ptr()
        except RuntimeError:   # (a tensor with no storage of its own)
            return None
    params = dict(module.named_parameters())
    drawn = {where(params[n]): n for n in names if n in params}
    held = {where(t) for t in list(module.parameters()) + list(module.buffers())}
    out = set()
    for value in read.values():
        if not isinstance(value, torch.Tensor):
            continue
        at = where(value)
        if at in drawn:
            out.add(drawn[at])
        elif at not in held:
            return list(names)
    return [n for n in names if n in out]
