"""PyTorch's per-axis arguments, read as the coverage routes need them (one helper for every route)."""

from __future__ import annotations


def ints(name: str, value, dims: int, low: int, *, one_for_all: bool = False) -> tuple:
    """An int or a tuple of ``dims`` ints, each ≥ low, as a tuple (PyTorch's convention for per-axis arguments;
    ``one_for_all``: a tuple of one stands for every axis, as the pooling functions take it)."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims
    if one_for_all and len(items) == 1 and dims > 1:
        items = items * dims
    if len(items) != dims or not all(isinstance(v, int) and not isinstance(v, bool) and v >= low for v in items):
        raise ValueError(f"{name} must be an int ≥ {low} or a tuple of {dims} such ints, not {value!r}")
    return items


def named(base: str, axis: str) -> str:
    """A per-axis size's name: ``K_h`` for axis "h", ``K`` for the one axis of a 1-D operator ("")."""
    return f"{base}_{axis}" if axis else base
