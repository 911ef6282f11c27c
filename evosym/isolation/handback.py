"""What an operator file hands back besides its derivation: its plain data, so that the checking process never imports it.

Code generation needs the file's weight binding (``torch_binding``), the benchmark and picture sizes
(``bench``, ``figure``) and whether it has references; the confined child (:mod:`evosym.worker`) encodes them with
:func:`encode`, and the parent takes them through :func:`decode`, which accepts only plain data of the expected
shape (the binding's expressions in the grammar of :mod:`evosym.ir.binding`). The references themselves stay in a
confined process (:mod:`.references`).
"""

from __future__ import annotations

import hashlib
import json
import operator

from ..errors import OperatorFileError
from ..ir.binding import BindingError, checked_binding

FIELDS = ("torch_binding", "bench", "figure", "reference", "torch_reference")
MAX_SIZE = 1 << 31
TABLES = ("sizes", "tensors")   # the binding's name → expression tables


def digest(op) -> str:
    """The operator's identity (its certificate encoding, hashed): the reference process says which operator it loaded,
    so that a file edited since its proof is not taken for the proved one."""
    from ..proof.certificate import encode_operator
    return hashlib.sha256(json.dumps(encode_operator(op), sort_keys=True).encode()).hexdigest()


def encode(op) -> dict:
    """The child's side: the operator's plain data as JSON values (an OperatorFileError names what is not plain)."""
    binding = _plain(op.torch_binding, "torch_binding")
    for key in TABLES:   # as [name, expression] pairs: their order is the generated code's (JSON objects are sorted)
        if isinstance(binding, dict) and isinstance(binding.get(key), dict):
            binding[key] = [[k, v] for k, v in binding[key].items()]
    return {"torch_binding": binding, "bench": _sizes(op.bench, "bench"),
            "figure": _sizes(op.figure, "figure"), "reference": op.reference is not None,
            "torch_reference": op.torch_reference is not None}


def decode(d, source: str, sizes: dict, module_sizes: set[str], tensors: set[str]) -> dict:
    """The parent's side: ``torch_binding``, ``bench`` and ``figure`` for :class:`~evosym.ir.operator.Operator`, and
    whether the file has a numpy (``reference``) and a torch reference (``torch_reference``). ``sizes``: the proved
    operator's sizes by name (name → Symbol); ``module_sizes``, ``tensors``: the names a binding may map."""
    if not isinstance(d, dict) or sorted(d) != sorted(FIELDS):
        raise OperatorFileError(f"{source}: the operator file's process handed back data of another shape")
    binding = d["torch_binding"]
    if isinstance(binding, dict):
        binding = dict(binding)
        for key in TABLES:
            pairs = binding.get(key)
            if not (isinstance(pairs, list) and all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)
                                                    for p in pairs)) or len({p[0] for p in pairs}) != len(pairs):
                raise OperatorFileError(f"{source}: torch_binding's {key} must map names to expressions")
            binding[key] = dict(pairs)
    try:
        binding = checked_binding(binding, module_sizes, tensors)
    except BindingError as exc:
        raise OperatorFileError(f"{source}: {exc}") from None
    out = {"torch_binding": binding}
    for key in ("bench", "figure"):
        table = d[key]
        if table is None:
            out[key] = None
            continue
        if not isinstance(table, dict):
            raise OperatorFileError(f"{source}: {key} must map sizes to whole numbers")
        for name, value in table.items():
            if name not in sizes:
                raise OperatorFileError(f"{source}: {key} names {name!r}, which is not a size of the operator "
                                        f"(sizes: {', '.join(sorted(sizes))})")
            if type(value) is not int or not 0 <= value < MAX_SIZE:
                raise OperatorFileError(f"{source}: {key}[{name!r}] must be a whole number from 0 to {MAX_SIZE - 1}, "
                                        f"not {value!r}")
        out[key] = {sizes[name]: value for name, value in table.items()}
    for key in ("reference", "torch_reference"):
        if type(d[key]) is not bool:
            raise OperatorFileError(f"{source}: the operator file's process handed back data of another shape")
        out[key] = d[key]
    return out


def _sizes(table, what: str):
    if table is None:
        return None
    try:
        items = list(table.items())
    except AttributeError:
        raise OperatorFileError(f"{what} must map sizes to whole numbers, not a {type(table).__name__}") from None
    bad = next(((k, v) for k, v in items if isinstance(v, bool) or not hasattr(v, "__index__")), None)
    if bad is not None:
        raise OperatorFileError(f"{what}[{bad[0]}] must be a whole number, not {bad[1]!r}")
    return {str(k): operator.index(v) for k, v in items}


def _plain(x, where: str):
    """``x`` as JSON values: dicts with text keys, lists (tuples become lists), text, numbers, booleans, None."""
    if x is None or isinstance(x, (str, bool, int, float)):
        return x
    if isinstance(x, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(x)]
    if isinstance(x, dict):
        if not all(isinstance(k, str) for k in x):
            raise OperatorFileError(f"{where} must have text keys")
        return {k: _plain(v, f"{where}[{k!r}]") for k, v in x.items()}
    raise OperatorFileError(f"{where} holds a {type(x).__name__}: a binding is plain data (text, numbers, lists, dicts)")
