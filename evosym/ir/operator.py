"""An operator in its traditional form: the starting point of a derivation.

It bundles the symbolic right-hand side of ``y[b,o,p] = …``, the declared tensors and their
shapes, defined tensors (padding, …), the meaning of each size, the grid of small concrete
shapes on which bounded checks run, and optionally a numeric reference implementation that
is independent of the SymPy form (e.g. ``torch.nn.functional.conv2d``) so that the
traditional form itself is checked against the semantics users already rely on.

``torch_reference(tensors, sizes)`` is the same reference on (differentiable) torch tensors,
used by the numeric checks of generated code; ``torch_binding`` says how the traditional torch
module (``nn.Conv2d`` …) maps onto the operator's sizes and tensors, for weight loading.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import sympy as sp

from .limit import SoftmaxLimit
from .symbols import check_size, free_variables, size_value
from .tensors import Definition, TensorDecl


@dataclass(frozen=True)
class Operator:
    """A feature operator ``y[b, o, *p] = traditional`` with everything needed to check it."""

    name: str
    summary: str
    output: TensorDecl
    lhs_indices: tuple[sp.Symbol, ...]
    traditional: sp.Expr
    tensors: tuple[TensorDecl, ...]
    batch: sp.Symbol
    out_channel: sp.Symbol
    position: tuple[sp.Symbol, ...]
    value: str = "x"
    definitions: tuple[Definition, ...] = ()
    sizes: tuple[tuple[sp.Symbol, str], ...] = ()
    grid: tuple[Mapping[sp.Symbol, int], ...] = ()
    constraints: tuple[sp.Basic, ...] = ()
    reference: Callable | None = field(default=None, compare=False)
    reference_name: str = ""
    reference_rounds: bool = False   # the reference rounds (an FFT): compared within RTOL even where integer-valued
    torch_reference: Callable | None = field(default=None, compare=False)
    torch_binding: Mapping | None = field(default=None, compare=False)
    limit: SoftmaxLimit | None = None   # an α → ∞ limit in which the operator becomes another (proof/limit.py)
    bench: Mapping | None = field(default=None, compare=False)   # realistic sizes for `evosym bench`
    figure: Mapping | None = field(default=None, compare=False)  # small sizes for the connectivity picture
    description: str = ""
    citation: str = ""
    notes: tuple[str, ...] = ()

    @property
    def lhs(self) -> sp.Indexed:
        return self.output[self.lhs_indices]

    def tensor(self, name: str) -> TensorDecl:
        for t in self.tensors + (self.output,):
            if t.name == name:
                return t
        raise KeyError(name)

    def size_symbols(self) -> tuple[sp.Symbol, ...]:
        return tuple(s for s, _ in self.sizes)

    def valid_shapes_at(self, env: Mapping[sp.Symbol, int]) -> dict[str, tuple[int, ...]]:
        """:meth:`shapes_at` for sizes a user gave: a ``ValueError`` naming the first size below its
        declared range (positive, or ≥ 0) or the first tensor whose shape is not positive integers."""
        for sym, value in env.items():
            check_size(sym, value)
        shapes = self.shapes_at(env)
        for name, shape in shapes.items():
            if any(n < 1 for n in shape):
                raise ValueError(f"these sizes give {name} the shape {shape}: every length must be ≥ 1")
        return shapes

    def shapes_at(self, env: Mapping[sp.Symbol, int]) -> dict[str, tuple[int, ...]]:
        """Concrete shapes of every declared tensor at the given sizes."""
        out = {}
        for t in self.tensors + (self.output,):
            try:
                out[t.name] = tuple(size_value(d, env) for d in t.shape)
            except ValueError as exc:
                raise ValueError(f"shape of {t.name}: {exc}") from None
        return out

    def lhs_ranges(self) -> tuple[tuple[sp.Symbol, sp.Expr, sp.Expr], ...]:
        """Each output index with its inclusive range, from the output's shape."""
        return tuple((i, sp.Integer(0), sp.sympify(n) - 1) for i, n in zip(self.lhs_indices, self.output.shape))

    def display_names(self, kind: str) -> dict[str, str]:
        """Display names (``kind`` is "latex" or "text") of tensors that have one: ``x_pad`` → x̃. A tensor of
        shape (1,) with a display name is a scalar: its read ``t[0]`` (key ``"t[0]"``) prints as the name alone."""
        out = {}
        for t in self.tensors + (self.output,) + self.definitions:
            name = getattr(t, kind)
            if name:
                out[t.name] = name
                if isinstance(t, TensorDecl) and t.shape == (1,):
                    out[f"{t.name}[0]"] = name
        return out


def declaration_problems(op: Operator) -> list[str]:
    """What is wrong with how ``op`` is declared, one clear line each naming the mistake and its fix (empty when
    nothing is). These are mistakes of the file, not of a proof: the sizes listed once each, every tensor's shape
    an integer expression of the sizes, one output index per axis of the output, the batch, channel and position
    indices among them, and every grid shape giving a value to each size and to nothing else. Left unchecked they
    surface deep inside the proof search as an internal error ("B is not an integer at C=2, …", "u is not in
    list"), or not at all (a size listed twice). The premises (:mod:`evosym.proof.premises`) still check, for every
    proof however it was made, what depends on the values (a grid value in its size's domain, the constraints)."""
    out: list[str] = []
    sizes = [s for s, *_ in _pairs(op.sizes)]
    by_name: dict[str, list] = {}
    for s in sizes:
        by_name.setdefault(str(s), []).append(s)
    listed = ", ".join(by_name)
    for name, same in by_name.items():
        if len(same) > 1:
            how = "" if len(set(same)) == 1 else " (as symbols with different assumptions)"
            out.append(f"the size {name} is listed {len(same)} times in sizes={how}: list each size once, "
                       "with its meaning")
    known = set(sizes)
    integer_sizes = all(getattr(s, "is_integer", None) is True for s in sizes)   # else the premises name the size
    tensors = tuple(op.tensors) + (op.output,)
    for t in tensors:
        for n, entry in enumerate(getattr(t, "shape", ()) or (), 1):
            why = _shape_entry_problem(entry, known, integer_sizes)
            if why:
                out.append(f"axis {n} of the tensor {t.name} has the length {entry}, {why}")
    lhs = tuple(op.lhs_indices) if isinstance(op.lhs_indices, (tuple, list)) else (op.lhs_indices,)
    shape = tuple(getattr(op.output, "shape", ()) or ())
    if len(lhs) != len(shape):
        out.append(f"lhs_indices={_tuple(lhs)} has {len(lhs)} "
                   f"entr{'y' if len(lhs) == 1 else 'ies'} but the output {op.output.name} has {len(shape)} "
                   f"ax{'i' if len(shape) == 1 else 'e'}s ({', '.join(map(str, shape))}): give one output index per axis")
    position = tuple(op.position) if isinstance(op.position, (tuple, list)) else (op.position,)
    indices = f"lhs_indices={_tuple(lhs)}"
    for what, idx in (("batch", op.batch), ("out_channel", op.out_channel)):
        if idx not in lhs:
            out.append(f"{what}={idx} is not an output index ({indices}): {what} must be one of them")
    for idx in position:
        if idx not in lhs:
            out.append(f"position={_tuple(position)} names {idx}, which is not an output index "
                       f"({indices}): every position index must be one of them")
    out += _expression_problems(op, known, lhs)
    for k, config in enumerate(op.grid, 1):
        if not hasattr(config, "keys"):
            continue   # the premises name a grid shape that is not a mapping
        missing = [s for s in dict.fromkeys(sizes) if s not in config]
        if missing:
            out.append(f"grid shape {k} gives no value to the size{'s' if len(missing) > 1 else ''} "
                       f"{', '.join(map(str, missing))}: every grid shape gives a value to each size ({listed})")
        extra = [key if isinstance(key, sp.Basic) else repr(key) for key in config if key not in known]
        if extra:
            out.append(f"grid shape {k} gives a value to {', '.join(map(str, extra))}, which "
                       f"{'are not sizes' if len(extra) > 1 else 'is not a size'}: a grid shape gives values to the "
                       f"sizes ({listed}) only; add a size to sizes= first")
    return out


def _summed(expr) -> list:
    """The variables the sums of ``expr`` bind, each once, in a stable order."""
    return list(dict.fromkeys(lim[0] for node in sorted(expr.atoms(sp.Sum), key=sp.default_sort_key)
                              for lim in node.limits))


def _scope_problems(expr, where: str, own, own_words: str, sizes: set, fix: str) -> list[str]:
    """A sum in ``expr`` that binds one of ``own`` (the output indices, a definition's parameters) or a size, and a
    variable it reads that is neither."""
    out = []
    for v in _summed(expr):
        if v in own or v in sizes:
            out.append(f"{where} sums over {v}, which is {own_words if v in own else 'a size'}: give the sum a "
                       "variable of its own")
    stray = sorted((v for v in free_variables(expr) if v not in own and v not in sizes), key=str)
    if stray:
        out.append(f"{where} reads {_names(stray)}, which {'are' if len(stray) > 1 else 'is'} neither {own_words} nor a "
                   f"size: {fix}")
    return out


def _names(symbols) -> str:
    return ", ".join(map(str, symbols))


def _expression_problems(op: Operator, sizes: set, lhs: tuple) -> list[str]:
    """What the traditional form and the definitions' bodies read or bind that is not theirs: a sum binding an output
    index or a size (traditional form), or a definition's own index or a size (its body); a variable that is neither
    an output index nor a size (traditional form), neither a parameter nor a size (a body); a definition parameter
    that is no symbol. Each changes what the expression means or stops a rule part way ("Invalid limits given",
    "P − u is not an integer", "−m is not an integer" from deep inside the search), so they are named at load."""
    out = []
    if not isinstance(op.traditional, sp.Expr) or not op.traditional.atoms(sp.Indexed):
        what = (f"the number {op.traditional}" if isinstance(op.traditional, (int, float, sp.Number))
                else f"an expression that reads no tensor ({op.traditional})" if isinstance(op.traditional, sp.Expr)
                else "None" if op.traditional is None else f"a {type(op.traditional).__name__}")
        return [f"traditional= is {what}, not the right-hand side y[…] = … as a SymPy expression of the tensors' reads "
                "(e.g. sp.Sum(W[o, c] * x[b, c, i], (c, 0, C - 1)))"]
    out += _scope_problems(op.traditional, "the traditional form", lhs, f"an output index (lhs_indices={_tuple(lhs)})",
                           sizes, "declare it in sizes=, or sum over it")
    for d in op.definitions if isinstance(op.definitions, (tuple, list)) else ():
        if not isinstance(d, Definition) or not isinstance(d.params, (tuple, list)):
            continue
        params = tuple(d.params)
        shown = f"{d.name}[{_names(params)}]"
        odd = [p for p in params if not isinstance(p, sp.Symbol)]
        if odd:
            out.append(f"the definition {shown} has {_names(odd)} as {'parameters' if len(odd) > 1 else 'a parameter'}: "
                       "its parameters are index variables (index(\"m\")), one per axis")
            continue
        try:
            body = sp.sympify(d.body)
        except (sp.SympifyError, TypeError, ValueError):
            continue
        out += _scope_problems(body, f"the body of {shown}", params, "its own parameter", sizes,
                               "a definition is a function of its parameters and the sizes")
    return out


def _tuple(xs) -> str:
    """``xs`` as a Python tuple reads: ``(u,)``, ``(b, o, i)``."""
    return f"({xs[0]},)" if len(xs) == 1 else f"({', '.join(map(str, xs))})"


def _pairs(sizes) -> list[tuple]:
    """The (size, meaning) entries of ``sizes=``, each as a tuple (a bare symbol as a 1-tuple)."""
    return [tuple(e) if isinstance(e, (tuple, list)) else (e,) for e in sizes]


def _shape_entry_problem(entry, sizes: set, integer_sizes: bool) -> str | None:
    """Why a shape entry is not an integer expression of the sizes (``L - K + 1``, ``2*L``, ``floor(L/2)``, 1)."""
    if isinstance(entry, bool):
        return "which is not an integer expression of the sizes: write a size, an integer or e.g. L - K + 1"
    try:
        e = sp.sympify(entry, strict=True)
    except (sp.SympifyError, TypeError, ValueError):
        return "which is not an integer expression of the sizes: write a size, an integer or e.g. L - K + 1"
    if not isinstance(e, sp.Expr):
        return "which is not an integer expression of the sizes: write a size, an integer or e.g. L - K + 1"
    if e.atoms(sp.Float):
        return "which is a float, not an integer expression: write it with integers (L or 2*L, not 1.0*L or 2.0*L)"
    stray = sorted(map(str, e.free_symbols - sizes))
    if stray:
        return (f"but {', '.join(stray)} {'are not sizes' if len(stray) > 1 else 'is not a size'}: a length is "
                "written with the sizes of sizes= (add it there, with its meaning)")
    if integer_sizes and e.is_integer is not True:
        return ("which is not an integer at every value of the sizes: write an integer expression of the sizes "
                "(e.g. L - K + 1 or floor(L/2)), or declare the length as a size of its own")
    return None


def _fmt(env) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(((str(k), v) for k, v in env.items())))


def format_sizes(env) -> str:
    """Sizes as ``B=1, C=2, …`` sorted by name: the text used in every printed shape."""
    return _fmt(env)
