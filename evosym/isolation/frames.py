"""The messages between the checking process and an operator file's reference process (:mod:`.references`).

A message is one JSON line (its header) followed by the raw bytes of the arrays the header lists as
``[name, dtype, shape]``, in order: no pickle, nothing that could run code when read. :func:`layout` takes a
header from the other side only if every array is of a known dtype and shape, within :data:`MAX_BYTES` in all.
"""

from __future__ import annotations

import json
import math

import numpy as np

DTYPES = {"float64": np.float64, "float32": np.float32, "int64": np.int64, "bool": np.bool_}
MAX_HEADER = 1 << 16    # bytes of a header line
MAX_BYTES = 1 << 33     # bytes of a message's arrays
MAX_DIMS = 8
GRAD = "\u2207y"   # the name of a vjp request's output gradient (no tensor of an operator has it: not an identifier)


class FrameError(ValueError):
    """A message of another shape than the protocol's."""


def pack(header: dict, arrays: list) -> bytes:
    """``header`` with ``arrays`` ((name, numpy array) pairs) listed in it, and their bytes."""
    parts = [np.ascontiguousarray(a) for _, a in arrays]
    for (name, _), a in zip(arrays, parts):
        if a.dtype.name not in DTYPES:
            raise FrameError(f"{name}: an array of dtype {a.dtype.name} (taken: {', '.join(DTYPES)})")
    head = dict(header, arrays=[[name, a.dtype.name, list(a.shape)] for (name, _), a in zip(arrays, parts)])
    return json.dumps(head, sort_keys=True).encode() + b"\n" + b"".join(a.tobytes() for a in parts)


def header(line: bytes) -> dict:
    """A header line read from the other side."""
    if len(line) > MAX_HEADER:
        raise FrameError("a header line longer than the protocol's")
    try:
        head = json.loads(line)
    except (ValueError, RecursionError):
        raise FrameError("a header that is not JSON") from None
    if not isinstance(head, dict):
        raise FrameError("a header that is not a JSON object")
    return head


def layout(head: dict, limit: int = MAX_BYTES) -> list:
    """(name, dtype, shape, bytes) of each array the header lists, checked: ``limit`` bytes in all at most."""
    arrays = head.get("arrays", [])
    if not isinstance(arrays, list):
        raise FrameError("a header whose arrays are not a list")
    out, total = [], 0
    for a in arrays:
        if not (isinstance(a, list) and len(a) == 3 and isinstance(a[0], str) and a[1] in DTYPES
                and isinstance(a[2], list) and len(a[2]) <= MAX_DIMS
                and all(type(n) is int and 0 <= n < MAX_BYTES for n in a[2])):
            raise FrameError("an array listed as other than [name, dtype, shape]")
        nbytes = math.prod(a[2]) * np.dtype(DTYPES[a[1]]).itemsize
        total += nbytes
        if total > limit:
            raise FrameError(f"arrays of more than {limit} bytes")
        out.append((a[0], np.dtype(DTYPES[a[1]]), tuple(a[2]), nbytes))
    return out


def arrays(lay: list, read) -> dict:
    """The arrays of ``lay`` (from :func:`layout`), their bytes taken with ``read(n)`` (exactly n bytes)."""
    out = {}
    for name, dtype, shape, nbytes in lay:
        out[name] = np.frombuffer(read(nbytes), dtype=dtype).reshape(shape).copy()
    return out
