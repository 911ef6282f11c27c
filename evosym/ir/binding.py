"""What an operator's ``torch_binding`` may hold: plain data, and weight-loading expressions of a small grammar.

The binding says how a traditional torch module (``nn.Conv2d`` …) maps onto the operator's sizes and tensors. Its
expressions are pasted into the generated module's ``from_torch`` and evaluated by the harness on a candidate module,
so an operator file's binding is code that reaches generated code. It is taken only as this grammar: expressions
over the module ``m`` and the ``from_torch`` arguments the binding declares, reading attributes (no ``__dunder__``),
indexing, arithmetic, comparisons, ``x if c else y``, and calling only :data:`FUNCTIONS` (pure reads, no method of
an object): what weight loading needs and nothing that could run code of the file's choosing. Constants, powers and
repetitions are bounded so that an expression's value stays small (a power of a power, or text times a number, could
take the memory of whoever evaluates it); what the module ``m`` itself holds is the caller's.
"""

from __future__ import annotations

import ast
import keyword
import re

# how a torch module of the operator's kind is called (evosym.testing.adapters): plain, causal, masked, cross-attention
CALLS = ("self", "causal", "sample_bias", "key_padding", "causal_key_padding", "mask", "mask_bias", "cross",
         "cross_key_padding", "cross_mask", "cross_mask_bias")
BUILTINS = ("isinstance", "type", "len", "tuple", "int", "float", "bool", "any", "all", "min", "max", "abs")
FUNCTIONS = BUILTINS + ("torch.sqrt", "torch.nn.modules.utils._single", "torch.nn.modules.utils._pair",
                        "torch.nn.modules.utils._triple")
KEYS = ("module", "call", "arguments", "requires", "sizes", "tensors")
MAX_EXPONENT = 64
MAX_CONSTANT = 1 << 16   # no weight-loading expression needs more; bounds what a product of constants can reach
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MODULE = re.compile(r"torch(\.[A-Za-z][A-Za-z0-9_]*)+")
_NODES = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.BinOp, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
          ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.Compare, ast.Eq, ast.NotEq, ast.Lt,
          ast.LtE, ast.Gt, ast.GtE, ast.Is, ast.IsNot, ast.In, ast.NotIn, ast.IfExp, ast.Constant, ast.Name,
          ast.Attribute, ast.Subscript, ast.Slice, ast.Tuple, ast.List, ast.Call, ast.Load)


class BindingError(ValueError):
    """A torch_binding outside what evosym takes; the message says where and what is allowed."""


def checked_binding(binding, sizes: set[str], tensors: set[str]) -> dict | None:
    """``binding`` as a plain dict (lists for tuples) if it is one evosym takes for an operator whose module sizes
    are ``sizes`` and tensors ``tensors`` (names); else :class:`BindingError`."""
    if binding is None:
        return None
    if not isinstance(binding, dict):
        raise BindingError(f"torch_binding must be a dict, not {type(binding).__name__}")
    unknown = sorted(map(str, set(binding) - set(KEYS)))
    if unknown:
        raise BindingError(f"torch_binding has no key {', '.join(map(repr, unknown))} (keys: {', '.join(KEYS)})")
    for key in ("module", "requires", "sizes", "tensors"):
        if key not in binding:
            raise BindingError(f"torch_binding needs {key!r}")
    module = binding["module"]
    if not isinstance(module, str) or not _MODULE.fullmatch(module):
        raise BindingError(f"torch_binding's module must name a torch class as torch.X.Y, not {module!r}")
    out = {"module": module}
    if "call" in binding:
        if binding["call"] not in CALLS:
            raise BindingError(f"torch_binding's call must be one of {', '.join(CALLS)}, not {binding['call']!r}")
        out["call"] = binding["call"]
    arguments = _list(binding.get("arguments", []), "arguments")
    names = []
    for a in arguments:
        name = a[:-len("=None")] if isinstance(a, str) and a.endswith("=None") else a
        if not isinstance(name, str) or not _IDENT.fullmatch(name) or keyword.iskeyword(name) or name in ("m", "cls"):
            raise BindingError(f"torch_binding's arguments are from_torch's keyword arguments, NAME or NAME=None, "
                               f"not {a!r}")
        names.append(name)
    if "arguments" in binding:
        out["arguments"] = list(arguments)
    allowed = {"m", "torch", *BUILTINS, *names}
    out["requires"] = []
    for i, pair in enumerate(_list(binding["requires"], "requires")):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not isinstance(pair[1], str):
            raise BindingError(f"torch_binding's requires[{i}] must be a pair (condition, what it requires in words)")
        if any(ord(ch) < 32 or 0x7f <= ord(ch) < 0xa0 for ch in pair[1]):
            raise BindingError(f"torch_binding's requires[{i}] has a control character in its text")
        out["requires"].append([check_expression(pair[0], allowed, f"requires[{i}]"), pair[1]])
    for key, known in (("sizes", sizes), ("tensors", tensors)):
        table = binding[key]
        if not isinstance(table, dict):
            raise BindingError(f"torch_binding's {key} must be a dict (name → expression)")
        wrong = sorted(str(k) for k in table if k not in known)
        if wrong:
            raise BindingError(f"torch_binding's {key} names {', '.join(map(repr, wrong))}, which the operator does not "
                               f"have (its {key}: {', '.join(sorted(known)) or 'none'})")
        out[key] = {k: check_expression(v, allowed, f"{key}[{k!r}]") for k, v in table.items()}
    return out


def check_expression(text, names: set[str], where: str) -> str:
    """``text`` if it is an expression of the binding grammar over ``names``; else :class:`BindingError`."""
    if not isinstance(text, str):
        raise BindingError(f"torch_binding's {where} must be an expression as text, not {type(text).__name__}")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise BindingError(f"torch_binding's {where}: not a Python expression ({exc.msg}): {text!r}") from None
    for node in ast.walk(tree):
        why = _refused(node, names)
        if why:
            raise BindingError(f"torch_binding's {where}: {why} in {text!r} (a binding reads the module m: attributes, "
                               f"indexing, arithmetic, comparisons, x if c else y, and calls only "
                               f"{', '.join(FUNCTIONS)})")
    return text


def _refused(node, names) -> str | None:
    if not isinstance(node, _NODES):
        return f"{type(node).__name__} is not taken"
    if isinstance(node, ast.Name) and node.id not in names:
        return f"the name {node.id!r} is not m, torch, one of the binding's arguments or a taken function"
    if isinstance(node, ast.Attribute) and node.attr.startswith("__"):
        return f"the attribute {node.attr!r} is not taken"
    if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, str, bool, type(None))):
        return f"the constant {node.value!r} is not taken"
    if isinstance(node, ast.Call):
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args) or _dotted(node.func) not in FUNCTIONS:
            return f"the call of {ast.unparse(node.func)!r} is not taken"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        e = node.right
        if not (isinstance(e, ast.Constant) and type(e.value) is int and 0 <= e.value <= MAX_EXPONENT):
            return f"a power's exponent must be a whole number from 0 to {MAX_EXPONENT}"
        if any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.Pow) for n in ast.walk(node.left)):
            return "a power of a power is not taken (its size has no bound)"
    if isinstance(node, ast.BinOp) and any(isinstance(side, (ast.Tuple, ast.List)) or (
            isinstance(side, ast.Constant) and isinstance(side.value, str)) for side in (node.left, node.right)):
        return "arithmetic on text, tuples or lists is not taken (a repetition has no bound)"
    if isinstance(node, ast.Constant) and type(node.value) is int and abs(node.value) > MAX_CONSTANT:
        return f"a whole number beyond ±{MAX_CONSTANT} is not taken"
    return None


def _dotted(node) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return ".".join([node.id, *reversed(parts)]) if isinstance(node, ast.Name) else None


def _list(x, what) -> list:
    if not isinstance(x, (list, tuple)):
        raise BindingError(f"torch_binding's {what} must be a list")
    return list(x)
