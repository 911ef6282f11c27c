"""Declared tensors (inputs, parameters, output) and defined tensors.

A declared tensor has a symbolic shape; the bounded checker refuses to read it outside that
shape or at a non-integer index. A defined tensor (``x̃[b,c,m,n] := [0≤m≤H−1]·…·x[b,c,m,n]``)
is an abbreviation that the rule ``unfold-definition`` expands and ``name-kernel`` introduces.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

ROLES = ("input", "parameter", "output")


class _Indexable:
    """``t[i, j, …]`` builds the SymPy read ``t[i, j, …]``, checking the number of indices."""

    name: str

    @property
    def base(self) -> sp.IndexedBase:
        return sp.IndexedBase(self.name)

    def __getitem__(self, idx) -> sp.Indexed:
        idx = idx if isinstance(idx, tuple) else (idx,)
        if len(idx) != self.arity:
            raise ValueError(f"{type(self).__name__} {self.name!r} has {self.arity} indices, got {len(idx)}")
        return self.base[idx]


# finite: real, and generated code refuses non-finite entries (an additive mask input). indicator: every entry 0 or 1,
# and along the last axis a 1 in every row (a key padding mask that leaves each sample a visible key); generated code
# refuses inputs that are not, and the checker's softmax rule may rely on it (a masked row is never empty).
# leading_indicator: an indicator whose first entry along the last axis is 1 in every row (a right-padded sequence's
# mask: its first key is always seen), so a row restricted to the keys up to any query still has one (causal masks)
DOMAINS = ("real", "nonnegative", "finite", "indicator", "leading_indicator")
INDICATORS = ("indicator", "leading_indicator")


def indicator_names(tensors, domains=INDICATORS) -> tuple:
    """The names of the inputs among ``tensors`` declared one of ``domains`` (by default either indicator: 0/1, a 1
    along the last axis in every row), in their order: the tensors whose premise the softmax rule may use, the
    generated code checks at every call, and no gradient reaches."""
    return tuple(t.name for t in tensors if getattr(t, "domain", None) in domains and getattr(t, "role", None) == "input")


def in_domain(t, values):
    """Random ``values`` (a NumPy array or a torch tensor) moved into the tensor's domain: |·| (non-negative); for an
    indicator, 1 where the value is positive, else 0, with each row's largest entry (its first, on a tie) set to 1;
    for a leading indicator, with each row's first entry set to 1."""
    if t.domain == "nonnegative":
        return abs(values)
    if t.domain == "leading_indicator":
        out = (values > 0) * 1
        out = out.to(values.dtype) if hasattr(out, "to") else out.astype(values.dtype)
        if values.shape and values.shape[-1] > 0:
            out[..., 0] = 1
        return out
    if t.domain == "indicator":
        out = (values > 0) * 1
        if values.shape and values.shape[-1] > 0:
            top = values.argmax(-1)
            if hasattr(out, "scatter_"):   # torch
                out = out.to(values.dtype).scatter_(-1, top.unsqueeze(-1), 1)
            else:                           # NumPy
                import numpy as np
                out = out.astype(values.dtype)
                np.put_along_axis(out, np.expand_dims(top, -1), 1, axis=-1)
        return out
    return values


@dataclass(frozen=True)
class TensorDecl(_Indexable):
    """A tensor with a role, a symbolic shape, and optional display names."""

    name: str
    shape: tuple[sp.Expr, ...]
    role: str = "input"
    description: str = ""
    latex: str | None = None
    text: str | None = None
    torch_name: str | None = None   # the attribute name in the traditional torch module ("weight")
    domain: str = "real"            # "nonnegative": every check draws |random| (an adjacency, a variance); see DOMAINS

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"tensor {self.name!r}: role must be one of {ROLES}, not {self.role!r}")
        if self.domain not in DOMAINS:
            raise ValueError(f"tensor {self.name!r}: domain must be one of {DOMAINS}, not {self.domain!r}")
        if self.domain in INDICATORS and (self.role != "input" or not self.shape):
            raise ValueError(f"tensor {self.name!r}: only an input with at least one axis can be declared an "
                             f"indicator (generated code checks an input's premise at every call; a {self.role}'s "
                             "values are not checked)")
        object.__setattr__(self, "shape", tuple(sp.sympify(s) for s in self.shape))

    @property
    def arity(self) -> int:
        return len(self.shape)


@dataclass(frozen=True)
class Definition(_Indexable):
    """``name[params] := body``: a tensor defined by an expression of its indices."""

    name: str
    params: tuple[sp.Symbol, ...]
    body: sp.Expr
    description: str = ""
    latex: str | None = None
    text: str | None = None
    shape: tuple | None = None      # optional extents: generated code may then materialise it once

    def __post_init__(self):
        if self.shape is not None:
            if len(self.shape) != len(self.params):
                raise ValueError(f"definition {self.name!r}: shape has {len(self.shape)} entries for {len(self.params)} indices")
            object.__setattr__(self, "shape", tuple(sp.sympify(s) for s in self.shape))

    @property
    def arity(self) -> int:
        return len(self.params)

    def instantiate(self, args) -> sp.Expr:
        """The body with the parameters replaced simultaneously by ``args``."""
        return self.body.xreplace(dict(zip(self.params, args)))

    @property
    def lhs(self) -> sp.Indexed:
        return self.base[self.params]


def definitions_read(expr: sp.Expr, defs: dict) -> list:
    """The definitions ``expr`` reads, directly or through other definitions, each once, every
    definition after those it reads (a stable order: reads are visited sorted by their text)."""
    order: list = []

    def visit(e, stack):
        for r in sorted(e.atoms(sp.Indexed), key=str):
            d = defs.get(str(r.base.label))
            if d is None or d in order:
                continue
            if d.name in stack:
                raise ValueError(f"definition {d.name} refers to itself")
            visit(d.body, stack | {d.name})
            order.append(d)
    visit(expr, frozenset())
    return order


def inline_unshaped(expr: sp.Expr, defs: dict, *, shaped: bool = False) -> sp.Expr:
    """``expr`` with every read of a definition without a shape replaced by its body, repeatedly
    (definitions with a shape are tensors of their own and stay reads, unless ``shaped``)."""
    for _ in range(len(defs) + 1):
        reps = {r: defs[str(r.base.label)].instantiate(r.indices) for r in expr.atoms(sp.Indexed)
                if str(r.base.label) in defs and (shaped or defs[str(r.base.label)].shape is None)}
        if not reps:
            return expr
        expr = expr.xreplace(reps)
    raise ValueError("definitions refer to each other in a cycle")
