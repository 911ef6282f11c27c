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
from .symbols import check_size, size_value
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


def _fmt(env) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(((str(k), v) for k, v in env.items())))


def format_sizes(env) -> str:
    """Sizes as ``B=1, C=2, …`` sorted by name: the text used in every printed shape."""
    return _fmt(env)
