"""PyTorch's per-axis arguments, read as the coverage routes need them (one helper for every route)."""

from __future__ import annotations

import operator


def integer(value):
    """``value`` as a Python int when it is an integer as PyTorch takes one (an int, a numpy integer: anything
    ``operator.index`` takes), else None: bools (True is no size), floats and strings are not."""
    if isinstance(value, (bool, str)) or type(value).__name__ == "bool_":
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def ints(name: str, value, dims: int, low: int, *, one_for_all: bool = False) -> tuple:
    """An int or a tuple of ``dims`` ints, each ≥ low, as a tuple of Python ints (PyTorch's convention for per-axis
    arguments; numpy integers are ints; ``one_for_all``: a tuple of one stands for every axis, as the pooling
    functions take it)."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims
    if one_for_all and len(items) == 1 and dims > 1:
        items = items * dims
    read = tuple(integer(v) for v in items)
    if len(items) != dims or not all(v is not None and v >= low for v in read):
        raise ValueError(f"{name} must be an int ≥ {low} or a tuple of {dims} such ints, not {value!r}")
    return read


def named(base: str, axis: str) -> str:
    """A per-axis size's name: ``K_h`` for axis "h", ``K`` for the one axis of a 1-D operator ("")."""
    return f"{base}_{axis}" if axis else base
