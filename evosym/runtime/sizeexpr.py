"""Size expressions as plain data, and their exact values: how a manifest states lengths without SymPy.

A generated kernel's lengths (input, output, window taps, channel groups) are functions of the
operator's sizes, e.g. ⌊(H + 2P − δ(K − 1) − 1)/s⌋ + 1. The code generator writes each as a small
JSON tree (:func:`evosym.codegen.artifact` serialises the SymPy expression) and the runtime
evaluates it here, exactly, in integer arithmetic (a rational is a numerator and a denominator), which
also keeps a size symbolic while torch.compile traces with dynamic shapes:

    int                 an integer constant
    "name"              the value of a size
    ["add", e, …]       sum                  ["mul", e, …]    product
    ["pow", e, n]       e to an integer power n (n < 0: an exact division)
    ["floor", e]        ⌊e⌋                  ["ceil", e]      ⌈e⌉
    ["min", e, …]       minimum              ["max", e, …]    maximum
    ["mod", a, b]       a mod b, the sign of b (SymPy's Mod, Python's %)

Anything else is refused when the manifest is read (:func:`validate`), so evaluation never meets
an unknown form; a value that is not an integer where a length is needed is a clear ``ValueError``.
"""

from __future__ import annotations

import re
from fractions import Fraction

from .errors import EvosymError

_NARY = ("add", "mul", "min", "max")
_UNARY = ("floor", "ceil")
OPERATIONS = frozenset(_NARY + _UNARY + ("pow", "mod"))
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")   # a size's name in a manifest: an ASCII identifier (the C++ it reaches)
_DEPTH = 64    # deeper trees are not lengths a generator writes: refused rather than recursed into
_NODES = 4096  # nor are larger ones
_DEGREE = 64   # the product of the powers along any path: bounds the size of every intermediate value


def validate(expr, names: frozenset, where: str, depth: int = 0, budget: list | None = None, degree: int = 1) -> None:
    """An :class:`EvosymError` unless ``expr`` is a well-formed size expression over ``names``, small enough
    that evaluating it is cheap (at most 4096 nodes, 64 deep, powers multiplying to at most 64)."""
    bad = lambda why: EvosymError(f"{where}: {why} in the size expression {str(expr)[:200]}")  # noqa: E731
    budget = [_NODES] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0:
        raise bad("too many terms")
    if depth > _DEPTH:
        raise bad("nested too deeply")
    if isinstance(expr, bool) or isinstance(expr, float):
        raise bad("not an integer or a size name")
    if isinstance(expr, int):
        return
    if isinstance(expr, str):
        if expr not in names:
            raise bad(f"unknown size {expr!r}")
        return
    if not isinstance(expr, list) or not expr or not isinstance(expr[0], str):
        raise bad("not an expression")
    op, args = expr[0], expr[1:]
    if op in _NARY and args:
        pass
    elif op in _UNARY and len(args) == 1:
        pass
    elif op == "mod" and len(args) == 2:
        pass
    elif op == "pow" and len(args) == 2 and isinstance(args[1], int) and not isinstance(args[1], bool) \
            and 1 <= abs(args[1]) <= 8:
        if degree * abs(args[1]) > _DEGREE:
            raise bad("powers of powers too high")
        validate(args[0], names, where, depth + 1, budget, degree * abs(args[1]))
        return
    else:
        raise bad(f"unknown operation {op!r} or wrong number of arguments")
    for a in args:
        validate(a, names, where, depth + 1, budget, degree)


def evaluate(expr, env: dict) -> tuple:
    """The exact value of a validated expression at ``env`` (size name → int, or ``torch.SymInt`` while
    torch.compile traces with dynamic shapes) as a pair (numerator, denominator) of integers, the
    denominator positive: integer arithmetic only, so a symbolic size stays symbolic."""
    if isinstance(expr, int):
        return expr, 1
    if isinstance(expr, str):
        return env[expr], 1
    op, args = expr[0], expr[1:]
    if op == "pow":
        n, d = evaluate(args[0], env)
        k = args[1]
        if k < 0:
            if n == 0:
                raise ValueError(f"division by zero in {show(expr)}")
            n, d, k = (d, n, -k) if n > 0 else (-d, -n, -k)
        return n ** k, d ** k
    vals = [evaluate(a, env) for a in args]
    if op == "add":
        n, d = vals[0]
        for n2, d2 in vals[1:]:
            n, d = n * d2 + n2 * d, d * d2
        return n, d
    if op == "mul":
        n, d = 1, 1
        for n2, d2 in vals:
            n, d = n * n2, d * d2
        return n, d
    if op == "floor":
        return vals[0][0] // vals[0][1], 1
    if op == "ceil":
        return -((-vals[0][0]) // vals[0][1]), 1
    if op in ("min", "max"):
        best = vals[0]
        for v in vals[1:]:
            smaller = v[0] * best[1] < best[0] * v[1]
            best = v if smaller == (op == "min") else best
        return best
    (n1, d1), (n2, d2) = vals   # mod: a − b·⌊a/b⌋, the sign of b
    if n2 == 0:
        raise ValueError(f"modulo by zero in {show(expr)}")
    q = (n1 * d2) // (d1 * n2) if n2 > 0 else (-(n1 * d2)) // (-(d1 * n2))
    return n1 * d2 - q * n2 * d1, d1 * d2


def integer(expr, env: dict):
    """The value as an integer; a ``ValueError`` (naming the sizes) when it is not an integer there."""
    n, d = evaluate(expr, env)
    if n % d != 0:
        at = ", ".join(f"{k}={v}" for k, v in sorted(env.items()))
        raise ValueError(f"{show(expr)} is not an integer at {at}: {Fraction(int(n), int(d))}")
    return n // d


def show(expr) -> str:
    """A readable form of an expression, for messages."""
    if isinstance(expr, (int, str)):
        return str(expr)
    op, args = expr[0], [show(a) for a in expr[1:]]
    if op == "add":
        return "(" + " + ".join(args) + ")"
    if op == "mul":
        return "·".join(args)
    if op == "pow":
        return f"{args[0]}^{args[1]}"
    return f"{op}({', '.join(args)})"
