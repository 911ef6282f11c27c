"""Compiling a SymPy index expression into torch statements over a broadcast grid.

Every free index variable gets its own axis of a grid (``o = torch.arange(O).view(-1, 1, 1)``),
so an expression such as ``δ(⌊c/C_g⌋, ⌊o/O_g⌋)·W[o, c − C_g⌊o/O_g⌋, u]`` becomes elementwise torch
code with no Python loop over positions: reads become masked gathers (or the tensor itself, when
the read is the identity), Kronecker deltas and brackets become masks, and inner sums get an axis
of their own and are reduced. SymPy prints the scalar pieces; the order of statements and the
temporary names depend only on the expression, so output is deterministic.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import itertools
import re
from dataclasses import dataclass, field

import sympy as sp

from ..errors import EvosymError
from ..ir.pyname import py_name  # noqa: F401  (re-exported: the generators name sizes with it)
from ..ir.symbols import InRange
from ..proof.symbolic import nonnegative
from ..facts.taps import drop_true_brackets, map_mode
from .digits import decompose, split_floors, weights as _weights


_GLOBALS = {"F", "torch", "math", "_as_grid", "_pad_axes", "_unfold"}   # module-level names a program's code reads


def _padding_map(i, n):
    """(mode, a) when index ``i`` = ρ(a) for the index map ρ of one of F.pad's modes over an axis of length ``n``
    (:mod:`evosym.ir.padding`: the same expressions, compared structurally), else None."""
    if not i.has(sp.Abs, sp.Max, sp.Mod):
        return None
    inner = {arg for node in sp.preorder_traversal(i) if isinstance(node, (sp.Abs, sp.Max, sp.Mod))
             for arg in node.args if not arg.has(sp.Abs, sp.Min, sp.Max, sp.Mod) and arg.free_symbols}
    for a in sorted(inner, key=sp.default_sort_key):
        mode = map_mode(i, a, n)
        if mode is not None:
            return mode, a
    return None


def _real(e) -> bool:
    """``e`` has a non-integer number, a division by a non-constant or a transcendental function in it: the compiler
    prints it in the working dtype (an integer expression stays an integer tensor)."""
    return any(isinstance(a, sp.Float) or (a.is_Rational and not a.is_Integer)
               or (isinstance(a, sp.Pow) and a.exp.is_negative) or isinstance(a, (sp.exp, sp.sin, sp.cos))
               for a in sp.preorder_traversal(e))


def _bound(code: str) -> str:
    """``lambda <names>: code`` with every name the code reads (but Python's builtins) bound as a default argument:
    the lambda closes over nothing, so the generated function's locals stay plain (a local captured by a closure
    cannot be deleted under torch.compile's fullgraph or torch.export: the SDPA lowering deletes its q, k, v)."""
    names = sorted({n.id for n in ast.walk(ast.parse(code, mode="eval")) if isinstance(n, ast.Name)
                    and isinstance(n.ctx, ast.Load) and not hasattr(builtins, n.id) and n.id not in _GLOBALS})
    return f"lambda {', '.join(f'{n}={n}' for n in names)}: {code}" if names else f"lambda: {code}"


def _distinct_sums(expr, main, taken=()):
    """``expr`` with each summation variable renamed apart from the grid axes, the expression's free symbols, the
    names in ``taken`` (the program's sizes, lengths and tensors: an axis is a Python variable of its name) and every
    other sum's: one axis per sum. Two sums over one variable (Σ_a A[a]·Σ_a B[a], one inside the other) shared an
    axis, and the second read what was computed for the first (a wrong value, found by an adversarial pass); a limit
    repeating an inner limit's variable (SymPy's Sum(f, (a, 0, C − 1), (a, 0, K − 1)): the inner one binds f) gets a
    variable of its own, which f does not read. The first sum over a name keeps it (the code of every expression
    without such a clash is unchanged), and a sum met again whole is the same sum (computed once)."""
    sums = [n for n in sp.preorder_traversal(expr) if isinstance(n, sp.Sum)]
    if not sums:
        return expr
    names = {str(s) for s in expr.free_symbols | set(main)} | {str(l[0]) for n in sums for l in n.limits} | set(taken)
    used, done = set(main) | expr.free_symbols, {}

    def fresh(v):
        k = 1
        while f"{v.name}_{k}" in names or py_name(sp.Symbol(f"{v.name}_{k}")) in names:
            k += 1
        names.update((f"{v.name}_{k}", py_name(sp.Symbol(f"{v.name}_{k}"))))
        return sp.Symbol(f"{v.name}_{k}", **v.assumptions0)

    def walk(e):
        if isinstance(e, sp.Sum):
            if e in done:
                return done[e]
            given, renames, limits, here = e, {}, [], set()
            for v, lo, hi in e.limits:
                if v in here:   # a repeat: bound by nothing in the body (the inner limit binds it), counted alone
                    limits.append((fresh(v), lo, hi))
                    continue
                here.add(v)
                if v in used:
                    renames[v] = fresh(v)
                limits.append((renames.get(v, v), lo, hi))
            if renames or len(here) < len(limits):
                e = sp.Sum(e.function.xreplace(renames),
                           *[(w, lo.xreplace(renames), hi.xreplace(renames)) for w, lo, hi in limits])
            used.update(v for v, _, _ in e.limits)
            body = walk(e.function)
            done[given] = e if body == e.function else sp.Sum(body, *e.limits)
            return done[given]
        if e.is_Atom or not e.args or isinstance(e, sp.Indexed) and not e.has(sp.Sum):
            return e
        args = [walk(a) for a in e.args]
        return e if all(a is b for a, b in zip(args, e.args)) else e.func(*args)
    return walk(expr)


@dataclass
class Program:
    """Statements computing an expression on a grid; ``result`` names the final tensor."""

    axes: tuple[sp.Symbol, ...]
    statements: list[str] = field(default_factory=list)
    result: str = ""
    uses: set = field(default_factory=set)
    helpers: set = field(default_factory=set)   # the module's helper functions it calls (``pad_axes``)


class GridCompiler:
    """Compile expressions over ``axes`` (grid order); ``extent[v]`` is each axis length (Python)."""

    def __init__(self, axes, extent: dict, tensors: dict, sizes: dict, prefix: str = "t", bounds: dict | None = None,
                 cache_gathers: bool = False):
        """``bounds[v]``: the SymPy length of grid axis v, where known; a bracket [0 ≤ v ≤ n − 1] that
        it proves true on the whole grid is then dropped instead of computed as a mask. ``cache_gathers``: a
        gather whose indices depend on the sizes alone (not on any tensor's values) computes its flat index and
        mask once per key (:meth:`_cached_gather`) and is one gather from the tensor per call after that (for a
        program run at every call, as the fused attention's β)."""
        self.main = tuple(axes)
        self.cache_gathers = cache_gathers
        self.bounds = dict(bounds or {})
        self.extent = dict(extent)
        self.tensors = dict(tensors)      # IR name -> (python expression, python shape, SymPy shape)
        self.sizes = dict(sizes)          # size Symbol -> python expression
        self.prefix = prefix
        self.count = 0
        self.cache: dict = {}
        self.axes, self.rank = self.main, len(self.main)
        self.prog = Program(self.main)
        self.defined: set = set()
        self.sum_extent: dict = {}
        self.whole: dict = {}             # temporary -> (the tensor with unit axes dropped, grid axis of each of its axes)
        self.ranges: dict = {}            # a variable -> (first value, SymPy extent, Python extent), where known
        self.views: set = set()           # temporaries that are views of a tensor (no copy made)
        self.matmuls: dict = {}           # temporary -> how _matmul made it (for _fuse_bias)
        self.tables: set = set()          # temporaries that are tables kept between calls (never handed on as they are)
        self._in_table = False            # compiling the code of a cached table (no table inside a table)

    def scalar(self, expr: sp.Expr) -> str:
        """A Python expression for a size expression (no grid): e.g. ``G * O_g``."""
        return self._expr(sp.sympify(expr))

    def compile(self, expr: sp.Expr) -> Program:
        # summation variables apart first: a bracket on one named as a grid axis is not judged by the axis's range
        texts = [*map(str, self.sizes), *self.sizes.values(), *map(str, self.extent.values()),
                 *(str(t) for ref, shape, _ in self.tensors.values() for t in (ref, *shape))]
        expr = _distinct_sums(sp.sympify(expr), self.main, {w for t in texts for w in re.findall(r"[A-Za-z_]\w*", t)})
        expr = drop_true_brackets(expr, {v: (0, n - 1) for v, n in self.bounds.items()})
        bound = sorted({l[0] for s in sp.preorder_traversal(expr) if isinstance(s, sp.Sum) for l in s.limits}, key=str)
        self.axes = self.main + tuple(bound)
        self.rank = len(self.axes)
        self.prog = Program(self.main)
        self.cache = {}
        self.defined = set()
        self.sum_extent = {}   # a sum variable running from 0: its extent (reads over it may be whole axes)
        self.whole = {}
        self.ranges = {}
        for v in self.main:
            n = self._symbolic_extent(v) if v in self.extent else None
            if n is not None:
                self.ranges[v] = (sp.Integer(0), n, self.extent[v])
        self.views = set()
        self.matmuls = {}
        self.tables = set()
        value = self._fuse_bias(self._expr(expr))
        for st in list(self.prog.statements):   # an axis that no statement reads any more (every read a view)
            name = st.split(" = ", 1)[0]
            if " = torch.arange(" in st and not any(   # (an einsum's subscripts 'ab,ab->a' name no variable)
                    re.search(rf"\b{name}\b", re.sub(r"'[^']*'", "", other.split("  # ")[0]))
                    for other in self.prog.statements + [value] if other is not st):
                self.prog.statements.remove(st)
                self.defined.discard(next((v for v in self.axes if py_name(v) == name), None))
        for tmp in self.whole:   # a whole-tensor view that only einsum read (as the tensor itself): drop it
            used = [st for st in self.prog.statements if re.search(rf"\b{tmp}\b", st.split(" = ", 1)[-1])]
            if not used and not re.search(rf"\b{tmp}\b", value):
                self.prog.statements = [st for st in self.prog.statements if not st.startswith(f"{tmp} = ")]
        name = self._tmp()
        n = len(self.main)
        if value in self.tables:   # the result is handed on: never the kept table itself (an in-place op would change it)
            value = f"{value}.clone()"
        self.prog.statements.append(f"{name} = _as_grid({value}, {self.rank}, dtype, device)")
        if self.rank > n:  # inner-sum axes are reduced to size 1: drop them
            self.prog.statements.append(f"{name} = {name}.reshape({name}.shape[:{n}])")
        self.prog.result = name
        return self.prog

    # -- helpers --------------------------------------------------------------------------
    def _tmp(self) -> str:
        self.count += 1
        return f"{self.prefix}{self.count}"

    def _view(self, k: int) -> str:
        return "(" + ", ".join("-1" if j == k else "1" for j in range(self.rank)) + ("," if self.rank == 1 else "") + ")"

    def _arange(self, v, extent, start):
        self.defined.add(v)
        k = self.axes.index(v)
        start_txt = "" if start == 0 else f"{start}, "
        stop = extent if start == 0 else f"{start} + {extent}"
        self.prog.statements.append(f"{py_name(v)} = torch.arange({start_txt}{stop}, device=device).view{self._view(k)}")

    def _size(self, s) -> str:
        if s not in self.sizes:
            raise EvosymError(f"code generation: size {s} has no value in the generated code")
        self.prog.uses.add(s)
        return self.sizes[s]

    # -- expressions ------------------------------------------------------------------------
    def _expr(self, e) -> str:
        if e in self.cache:
            return self.cache[e]
        out = self._cached_table(e) if self._table_worthy(e) else self._expr_uncached(e)
        self.cache[e] = out
        return out

    def _table_worthy(self, e) -> bool:
        """``e`` is computed from sizes and grid axes alone (no tensor read, no sum), not part of a table being
        computed, and either a mask over the grid (brackets, deltas) in a program whose gathers are cached
        (``cache_gathers``) or a real-valued function (:func:`_real`) of one grid axis in any program (a slow net's
        coordinate −1 + 2u/(n − 1): an arange, a conversion and three operations at every call, one vector kept)."""
        if self._in_table or e.is_Atom or e.has(sp.Indexed, sp.Sum):
            return False
        axes = e.free_symbols & set(self.main)
        if not axes or not e.free_symbols <= set(self.main) | set(self.sizes):
            return False
        if e.has(InRange, sp.KroneckerDelta):
            return self.cache_gathers
        # real-valued by construction (a fraction, a division, a transcendental function: printed in dtype), and no
        # integer operation (%, ⌊·⌋, min, max, |·|: integer tensors, indices a table in dtype would break). SymPy's
        # is_integer is no test: an index symbol has no sign, so 2**j or i mod n are not known to be integers
        return len(axes) == 1 and e.is_integer is not True and _real(e) and not e.has(
            sp.Mod, sp.floor, sp.ceiling, sp.Max, sp.Min, sp.Abs, sp.Piecewise)

    def _cached_table(self, e) -> str:
        """``e`` (:meth:`_table_worthy`) computed once per key and kept in the module's ``_evosym_tables`` between calls
        (the template's ``_table``): a shift mask's dozens of comparisons over the grid, or a coordinate vector's arange
        and arithmetic, are one lookup per call after the first. The key holds everything the table is computed from:
        the expression (a digest of its code), the device, the dtype and the values of the sizes and axis lengths it
        reads (``_table`` adds whether inference mode is on: a tensor made there cannot be saved for backward later);
        traced (torch.compile, a dispatch or function mode) it is computed in the graph and nothing is kept."""
        self._in_table, cache = True, dict(self.cache)
        try:   # self-contained: an axis not yet named is an arange inside the table's code (nothing named in it)
            code = self._expr_uncached(e)
        finally:
            self._in_table, self.cache = False, cache
        tmp = self._tmp()
        symbols = sorted(e.free_symbols, key=str)
        values = [self.extent[v] if v in self.main else self._size(v) for v in symbols]
        digest = hashlib.sha256(code.encode()).hexdigest()[:12]
        self.prog.helpers.add("table")
        self.tables.add(tmp)
        self.prog.statements.append(
            f"{tmp} = _table(({digest!r}, device, dtype, {', '.join(map(str, values))}), "
            f"{_bound(f'_as_grid({code}, {self.rank}, dtype, device)')})  # from the sizes alone: computed once per key")
        return tmp

    def _expr_uncached(self, e) -> str:
        if e.is_Integer:
            return str(int(e))
        if e.is_Rational:
            return f"({int(e.p)} / {int(e.q)})"
        if e.is_Float:
            return repr(float(e))
        if e.is_Symbol:
            if e in self.axes:
                if e not in self.defined and self._in_table:
                    return f"torch.arange({self.extent[e]}, device=device).view{self._view(self.axes.index(e))}"
                if e not in self.defined:
                    self._arange(e, self.extent[e], 0)
                return py_name(e)
            return self._size(e)
        if isinstance(e, sp.Add):
            terms = sorted(e.as_ordered_terms(), key=lambda t: t.could_extract_minus_sign())  # stable
            out = self._expr(terms[0])
            for t in terms[1:]:
                out += f" - {self._expr(-t)}" if t.could_extract_minus_sign() else f" + {self._expr(t)}"
            return f"({out})"
        if isinstance(e, sp.Mul):
            if e.args[0] == -1:
                return f"(-{self._expr(sp.Mul(*e.args[1:]))})"
            sums = [a for a in e.args if isinstance(a, sp.Sum)]
            if len(sums) == 1 and all(self._sizes_only(a) for a in e.args if a is not sums[0]):
                # c·Σ f: c goes inside, onto an operand (see _sum): Σ f alone may overflow the dtype
                return self._sum(sums[0], scale=sp.Mul(*[a for a in e.args if a is not sums[0]]))
            if e.is_integer is not True:   # an index times a fraction (a coordinate 2m/(H − 1)): in dtype, not int → float32
                return "(" + " * ".join(f"torch.as_tensor({self._expr(a)}, dtype=dtype, device=device)"
                                        if a.is_integer and a.free_symbols & set(self.axes) else self._expr(a)
                                        for a in e.args) + ")"
            return "(" + " * ".join(self._expr(a) for a in e.args) + ")"
        if isinstance(e, sp.Pow):
            if e.exp == -1:
                if e.base.is_integer and not self._sizes_only(e.base):   # an integer tensor: 1/· in dtype, not float32
                    return f"(1 / torch.as_tensor({self._expr(e.base)}, dtype=dtype, device=device))"
                return f"(1 / {self._expr(e.base)})"
            if e.exp == sp.Rational(1, 2):
                return f"torch.sqrt(torch.as_tensor({self._expr(e.base)}, dtype=dtype, device=device))"
            if e.exp.is_Integer:
                return f"({self._expr(e.base)} ** {int(e.exp)})"
            return f"({self._expr(e.base)} ** {self._expr(e.exp)})"
        if isinstance(e, sp.floor):
            num, den = sp.fraction(sp.together(e.args[0]))
            if not (num.is_integer and den.is_integer):
                raise EvosymError(f"code generation: floor of a non-integer ratio {e.args[0]}")
            return f"({self._expr(num)} // {self._expr(den)})"
        if isinstance(e, sp.Mod):
            return f"({self._expr(e.args[0])} % {self._expr(e.args[1])})"
        if isinstance(e, sp.KroneckerDelta):
            eye = self._eye(*e.args)
            return eye if eye else f"({self._expr(e.args[0])} == {self._expr(e.args[1])}).to(dtype)"
        if isinstance(e, InRange):
            x, lo, hi = (self._expr(a) for a in e.args)
            return f"(({lo} <= {x}) & ({x} <= {hi})).to(dtype)"
        if isinstance(e, sp.Indexed):
            return self._read(e)
        if isinstance(e, sp.Sum):
            return self._sum(e)
        if isinstance(e, sp.exp):   # in dtype: exp of an integer tensor would be in torch's default dtype
            return f"torch.exp(torch.as_tensor({self._expr(e.args[0])}, dtype=dtype, device=device))"
        if isinstance(e, (sp.sin, sp.cos)):   # a slow net's sinusoidal layer
            return f"torch.{type(e).__name__}(torch.as_tensor({self._expr(e.args[0])}, dtype=dtype, device=device))"
        if isinstance(e, (sp.Max, sp.Min)) and len(e.args) == 2:
            a, b = (self._expr(x) for x in e.args)
            fn = "maximum" if isinstance(e, sp.Max) else "minimum"
            if all(x.is_integer and self._sizes_only(x) for x in e.args):   # sizes (an output length): Python ints
                return f"{fn[:3]}({a}, {b})"
            sized = [self._sizes_only(x) for x in e.args]
            if all(x.is_integer for x in e.args) and sum(sized) == 1:   # an index clamped by a size: the size stays
                bound, index = (a, b) if sized[0] else (b, a)           # a number (symbolic under torch.compile)
                side = "min" if isinstance(e, sp.Max) else "max"
                return f"torch.as_tensor({index}, device=device).clamp({side}={bound})"
            if all(x.is_integer for x in e.args):   # an index (a clamp): integer tensors, no dtype
                return f"torch.{fn}(torch.as_tensor({a}, device=device), torch.as_tensor({b}, device=device))"
            return f"torch.{fn}(torch.as_tensor({a}, dtype=dtype, device=device), torch.as_tensor({b}, dtype=dtype, device=device))"
        if isinstance(e, sp.Abs):
            return f"torch.as_tensor({self._expr(e.args[0])}, device=device).abs()"
        raise EvosymError(f"code generation: no torch lowering for {type(e).__name__} in {e}")

    def _eye(self, a, b) -> str | None:
        """δ(a, b) for two grid axes (each runs from 0 over its whole length) as ``torch.eye`` viewed onto the grid: one
        fill, where the comparison of two aranges is a comparison and a conversion over the same grid (gcn's Â)."""
        if not (a in self.main and b in self.main and a != b and a in self.extent and b in self.extent):
            return None
        first, second = sorted((a, b), key=self.main.index)
        at = {self.axes.index(first): self.extent[first], self.axes.index(second): self.extent[second]}
        view = ", ".join(at.get(j, "1") for j in range(self.rank))
        # inline: a temporary of the expression it is in, not held by a name until the function returns
        return f"torch.eye({self.extent[first]}, {self.extent[second]}, dtype=dtype, device=device).view({view})"

    def _sizes_only(self, e) -> bool:
        """``e`` reads only sizes (no tensor, no index axis): it prints as a Python number, not a tensor."""
        return not e.has(sp.Indexed) and all(s in self.sizes and s not in self.axes for s in e.free_symbols)

    def _read(self, e: sp.Indexed) -> str:
        name = str(e.base.label)
        if name not in self.tensors:
            raise EvosymError(f"code generation: tensor {name} is not available in the generated code")
        ref, shape, sym_shape = self.tensors[name]
        idx = list(e.indices)
        if any(i.has(sp.Sum, sp.Product) for i in idx):   # (compiled, it is a tensor of the dtype: no index)
            raise EvosymError(f"code generation: the read {e} has a sum or product in an index; write the index as "
                              "a closed form (SymPy's doit())")
        self.prog.uses.add(name)

        def whole_axis(i, n_py, n_sym):   # a grid or sum variable running over the whole axis
            return i in self.axes and (self.extent.get(i) if i in self.main else self.sum_extent.get(i)) == n_py

        def unit(i, n_sym):               # the constant 0 on an axis of length 1
            return i == 0 and sp.sympify(n_sym) == 1
        var_dims = [k for k, i in enumerate(idx) if not unit(i, sym_shape[k])]
        if all(whole_axis(idx[k], shape[k], sym_shape[k]) for k in var_dims) and len({idx[k] for k in var_dims}) == len(var_dims):
            order = sorted(var_dims, key=lambda k: self.axes.index(idx[k]))
            perm = [k for k in range(len(idx)) if k not in var_dims] + order
            permuted = ref if perm == list(range(len(idx))) else f"{ref}.permute({', '.join(map(str, perm))})"
            at = {self.axes.index(idx[k]): shape[k] for k in var_dims}
            view = ", ".join(at.get(j, "1") for j in range(self.rank))
            tmp = self._tmp()
            if permuted == ref and len(idx) == self.rank and all(self.axes.index(idx[k]) == k for k in var_dims) \
                    and len(var_dims) == len(idx):   # its own shape (checked on entry): the tensor itself, no view
                # (a view of a channels_last weight re-strides its length-1 axes, which slow_conv2d's backward refuses)
                self.prog.statements.append(f"{tmp} = {ref}  # {e}: the whole tensor")
            else:
                self.prog.statements.append(f"{tmp} = {permuted}.reshape({view}{',' if self.rank == 1 else ''})  # {e}: the whole tensor")
            squeezed = ref if len(var_dims) == len(idx) else f"{ref}.reshape({', '.join(shape[k] for k in var_dims)}{',' if len(var_dims) == 1 else ''})"
            self.whole[tmp] = (squeezed, [self.axes.index(idx[k]) for k in var_dims])
            self.views.add(tmp)
            return tmp
        view = self._view_read(e, ref, shape, sym_shape)
        if view is None and e.has(sp.floor):
            view = self._digit_read(e, ref, shape, sym_shape)
        if view is not None:
            return view
        # an axis that may have length 0 (every read of it is outside): read from zeros of length 1 there
        empty = [k for k, n_sym in enumerate(sym_shape) if not nonnegative(sp.sympify(n_sym) - 1)]
        held = [f"max({n}, 1)" if k in empty else n for k, n in enumerate(shape)]   # the lengths of what is read
        parts, masks = [], []
        for i, n, m, n_sym in zip(idx, shape, held, sym_shape):
            t = self._expr(i)
            if i.is_Integer and i >= 0 and nonnegative(sp.sympify(n_sym) - i - 1):
                parts.append(t)                      # a constant index provably inside the axis
            elif i.is_Integer:                       # a constant that may not be: read it guarded
                parts.append(f"min({t}, {m} - 1)")
                masks.append(f"torch.tensor(0 <= {t} < {n}, device=device)")
            elif self._sizes_only(i):                # a size expression (a Python int, not a tensor)
                if nonnegative(i) and nonnegative(sp.sympify(n_sym) - i - 1):
                    parts.append(t)
                else:
                    parts.append(f"max(0, min({t}, {m} - 1))")
                    masks.append(f"torch.tensor(0 <= {t} < {n}, device=device)")
            elif whole_axis(i, n, n_sym):
                parts.append(t)
            else:
                parts.append(f"{t}.clamp(0, {m} - 1)")
                masks.append(f"((0 <= {t}) & ({t} < {n}))")
        tmp = self._tmp()
        if masks and empty:
            source = self._tmp()
            self.prog.statements.append(
                f"{source} = {ref} if {' and '.join(f'{shape[k]} > 0' for k in empty)} else "
                f"{ref}.new_zeros(({', '.join(held)}{',' if len(held) == 1 else ''}))  # {name} may be empty: "
                f"nothing is read")
            ref = source
        if self.cache_gathers and self._cached_gather(tmp, e, ref, parts, masks, held, sym_shape):
            return tmp
        self.prog.statements.append(f"{tmp} = {ref}[{', '.join(parts)}]  # {e}")
        if masks:
            self.prog.statements.append(f"{tmp} = {tmp} * ({' & '.join(masks)}).to(dtype)  # reads outside {name} are 0")
        return tmp

    def _cached_gather(self, tmp, e: sp.Indexed, ref: str, parts, masks, shape, sym_shape) -> bool:
        """``tmp = ref[parts] · masks`` as one index_select along ref's flat layout at a flat index (and mask, None when
        every entry is inside ``ref``: x·1 = x exactly) kept in the module's ``_evosym_gathers`` between calls (the
        template's ``_gather``), keyed by everything the index and the mask are computed from: a digest of their code,
        ``ref``'s shape, the device, the dtype, the values of the sizes and axis lengths its indices and ``ref``'s Python
        shape use (and whether inference mode is on: an index made there cannot be saved for backward by a later call
        outside it). Only where every index reads sizes and grid axes alone (no tensor, no summation variable) and
        some index is a tensor; traced (torch.compile, a dispatch or function mode) the index is computed in the graph
        and nothing is kept. False where it does not apply."""
        idx = list(e.indices)
        if any(i.has(sp.Indexed, sp.Sum) for i in idx) or not any(i.free_symbols & set(self.main) for i in idx):
            return False
        symbols = set().union(*(sp.sympify(i).free_symbols for i in idx), *(sp.sympify(n).free_symbols for n in sym_shape))
        if not symbols <= set(self.main) | set(self.sizes):
            return False
        values = [self.extent[v] if v in self.main else self._size(v) for v in sorted(symbols, key=str)]
        flat = parts[0]
        for part, n in zip(parts[1:], shape[1:]):
            flat = f"({flat}) * {n} + {part}"
        mask = f"({' & '.join(masks)}).to(dtype)" if masks else "None"
        digest = hashlib.sha256(f"{ref}[{flat}] * {mask}".encode()).hexdigest()[:12]   # what the entry is computed from
        self.prog.helpers.add("gather")
        self.prog.statements.append(
            f"{tmp} = _gather({ref}, ({digest!r}, tuple({ref}.shape), device, dtype, "
            f"{', '.join(map(str, list(shape) + values))}), {_bound(f'({flat}, {mask})')})  # {e}: its index from the sizes "
            f"alone, computed once per key; reads outside {str(e.base.label)} are 0")
        return True

    def _affine(self, i):
        """``i`` as (c, {v: m}) with i = c + Σ m·(v − v₀) over variables v of known range [v₀, v₀ + E) (the
        shift v₀ folded into c), c and every m integer size expressions and each m provably ≥ 1; else None."""
        const, coef = sp.Integer(0), {}
        variables = [v for v in self.axes if v in i.free_symbols]
        if any(v not in self.ranges for v in variables):
            return None
        for term in sp.Add.make_args(sp.expand(i)):
            m, v = term.as_independent(*variables, as_Add=False)
            if v == 1 or term == 0:   # (SymPy splits 0 as (0, 0))
                const += m
            elif v in variables:
                coef[v] = coef.get(v, sp.Integer(0)) + m
            else:
                return None          # v², v·w, ⌊v/2⌋, a read …: not affine
        for v in list(coef):
            coef[v] = sp.expand(coef[v])
            if coef[v] == 0:
                del coef[v]
                continue
            if not (coef[v].is_integer and self._sizes_only(coef[v]) and nonnegative(coef[v] - 1)):
                return None          # a coefficient that may be ≤ 0 (a reversed or diagonal read): gathered
            const += coef[v] * self.ranges[v][0]
        const = sp.expand(const)
        if not (const.is_integer and self._sizes_only(const)):
            return None
        return const, {v: coef[v] for v in variables if v in coef}   # in grid order (deterministic)

    def _radix(self, coef: dict):
        """The variables of one index ordered by increasing coefficient when they form a mixed radix
        (m₁ = the step, m_{j+1} = m_j·E_j: the index runs once over a contiguous strided block), else None."""
        variables = list(coef)
        if len(variables) > 4:
            return None
        for order in itertools.permutations(variables):
            if all(sp.expand(coef[b] - coef[a] * self.ranges[a][1]) == 0 for a, b in zip(order, order[1:])):
                return list(order)
        return None

    def _view_read(self, e: sp.Indexed, ref: str, shape, sym_shape) -> str | None:
        """A read whose every index is affine in distinct variables (:meth:`_affine`) and which is provably inside
        the tensor for every admissible size, as a view: per axis an integer (a constant index), a slice (c + m·v:
        start c, step m), an unflatten (several variables in a mixed radix on one axis, e.g. a + s·i or
        g·K² + u·K + v) or an unfold (the overlapping windows c + s·i + δ·u of a convolution), then a permutation
        into grid order. An index ρ(a) through F.pad's index map ρ (reflect, replicate, circular) reads the tensor
        padded by that mode once (:meth:`_padding`) at a. No gather and no mask. None where any of this is not
        proved. Slices end at the axis's declared length (torch returns the tensor itself when that is its whole
        length; the input of a strided pool may be longer than H·s)."""
        idx = list(e.indices)
        plan, seen, pads, modes = [], set(), [], set()   # plan: (axis, slice, variables, window or None)
        flips = []                                       # variables read backwards (c − m·v)
        for k, (i, n, n_py) in enumerate(zip(idx, sym_shape, shape)):
            i = sp.sympify(i)
            mapped = _padding_map(i, sp.sympify(n))
            if mapped is not None:   # i = ρ(a): a read through F.pad's index map, a view of the padded tensor
                mode, i = mapped
                modes.add(mode)
            elif i in self.axes and self._py_length(i) == n_py:
                if i in seen:
                    return None
                seen.add(i)
                plan.append((k, f":{n_py}", [i], None))    # a variable over the whole axis (the same Python length)
                continue
            aff = self._affine(i)
            if aff is None and mapped is None:   # c − m·v: the same reads backwards, a slice then flipped
                aff = self._reversed(i)
                if aff is not None:
                    flips.append(next(iter(aff[1])))
            if aff is None:
                return None
            const, coef = aff
            if seen & set(coef):
                return None          # one variable on two axes (a diagonal): gathered
            seen |= set(coef)
            order = self._radix(coef) if coef else []
            window = None
            if order is None and len(coef) == 2:   # c + a·i + b·u, not a radix: overlapping windows (unfold)
                u, w = sorted(coef, key=lambda v: (not nonnegative(coef[v] - 1) or sp.default_sort_key(coef[v]),
                                                   self.axes.index(v)))
                order, window = [w], u
                if not (nonnegative(coef[w] - 1) and nonnegative(coef[u] - 1)):
                    return None      # a step or dilation that may be 0 (or negative): unfold takes neither
            if order is None or not all(nonnegative(self.ranges[v][1] - 1) for v in coef):
                return None          # an extent that may be 0: the slice arithmetic below needs E ≥ 1
            if window is not None:
                step = coef[order[0]]
                span = sp.expand(step * (self.ranges[order[0]][1] - 1) + coef[window] * (self.ranges[window][1] - 1) + 1)
            else:
                step = coef[order[0]] if order else sp.Integer(1)
                span = sp.expand(step * (sp.Mul(*[self.ranges[v][1] for v in order]) - 1) + 1)   # first read to last
            if mapped is not None:   # padded by (before, after): the reads are before + const … on the padded axis
                padding = self._padding(mode, const, span, sp.sympify(n)) if order else None
                if padding is None:
                    return None
                pads.append((k, *padding))
                first = sp.Integer(0) if nonnegative(-const) else const if nonnegative(const) else None
                start = self._expr(first) if first is not None else f"{padding[0]} + {self._expr(const)}"
                end = self._expr(first + span) if first is not None else f"{start} + {self._expr(span)}"
                start = "" if first == 0 else start
            elif not (nonnegative(const) and nonnegative(sp.sympify(n) - const - span)):
                return None          # not provably inside the axis for every size: gathered and masked
            elif not order:
                plan.append((k, self._expr(const), [], None))
                continue
            else:
                start = "" if const == 0 else self._expr(const)
                end = n_py if const == 0 and sp.expand(span - sp.sympify(n)) == 0 else self._expr(const + span)
            if window is not None:   # the whole span sliced, then unfold(size = b·(E_u − 1) + 1, step a)[…, ::b]
                size = self._expr(sp.expand(coef[window] * (self.ranges[window][1] - 1) + 1))
                plan.append((k, f"{start}:{end}", order, (window, size, self._expr(step), self._expr(coef[window]))))
                continue
            item = f"{start}:{end}"
            plan.append((k, item if step == 1 else f"{item}:{self._expr(step)}", order, None))
        if len(modes) > 1 or len(pads) > 3:
            return None              # two padding modes on one read, or more axes than F.pad pads: gathered
        if pads:                     # the tensor padded once (F.pad's index map on those axes), then viewed
            padded, mode = self._tmp(), next(iter(modes))
            self.prog.statements.append(f"{padded} = _pad_axes({ref}, ({', '.join(f'({k}, {lo}, {hi})' for k, lo, hi in pads)},), "
                                        f"{mode!r})  # {e.base.label}, read through the '{mode}' padding's index map")
            self.prog.helpers.add("pad_axes")
            ref = padded
        text = f"{ref}[{', '.join(item for _, item, _, _ in plan)}{',' if len(plan) == 1 else ''}]"
        if flips:   # (a copy: torch has no negative strides)
            sliced = [order[0] for _, _, order, _ in plan if order]
            text += f".flip({', '.join(str(sliced.index(v)) for v in flips)})"
        labels, dim = [], sum(1 for _, _, order, _ in plan if order)
        for k, item, order, _ in reversed(plan):   # the last axis first: earlier axes keep their number
            if not order:
                continue
            dim -= 1
            if len(order) > 1:
                text += f".unflatten({dim}, ({', '.join(self.ranges[v][2] for v in reversed(order))}))"
            labels = list(reversed(order)) + labels
        for k, item, order, window in plan:   # each window's taps become a trailing axis
            if window is not None:
                u, size, step, dilation = window
                text = f"_unfold({text}, {labels.index(order[0])}, {size}, {step})" + ("" if dilation == "1" else f"[..., ::{dilation}]")
                labels.append(u)
                self.prog.helpers.add("unfold")
        at = [self.axes.index(v) for v in labels]
        perm = sorted(range(len(labels)), key=lambda j: at[j])
        permuted = text if perm == list(range(len(perm))) else f"{text}.permute({', '.join(map(str, perm))})"
        grid = ", ".join(self._extent_py(self.axes[j]) if j in at else "1" for j in range(self.rank))
        grid = f"({grid}{',' if self.rank == 1 else ''})"
        tmp = self._tmp()
        what = "reversed, a flipped copy" if flips else "a view"
        self.prog.statements.append(f"{tmp} = {permuted}.reshape{grid}  # {e}: {what} (proved inside {e.base.label})")
        self.whole[tmp] = (text, at)
        if not flips:
            self.views.add(tmp)
        return tmp

    def _interval(self, i):
        """(low, high) of ``i`` over the variables' ranges where it is affine with positive coefficients, else None."""
        aff = self._affine(i)
        if aff is None:
            return None
        const, coef = aff
        return const, sp.expand(const + sum((m * (self.ranges[v][1] - 1) for v, m in coef.items()), sp.Integer(0)))

    def _digit_read(self, e: sp.Indexed, ref: str, shape, sym_shape) -> str | None:
        """A read through ⌊·/D⌋ as a view (:mod:`.digits`): each ⌊(D·A + R)/D⌋ with 0 ≤ R < D proved is A, and a
        variable v read through ⌊v/D⌋ is split into its mixed-radix digits, each an axis of its own; the read, affine
        over them, is a view (:meth:`_view_read`), broadcast over the digits it does not read and merged back into
        v's axis (a copy where it broadcasts, never a gather or a mask). A summation variable the rewrite removed
        from the read (⌊(K·g + a)/K⌋ = g) keeps its whole axis, broadcast: the sum counts each of its terms. None
        where the rewritten read is no view."""
        idx = [split_floors(i, self._interval) for i in e.indices]
        extents = {v: self.ranges[v][1] for v in self.axes if v in self.ranges and self.ranges[v][0] == 0}
        taken = {str(s) for s in set(self.axes) | set(self.sizes) | set(self.ranges)}
        found = decompose(idx, extents, lambda v, k: f"{v}_digit{k}")
        if found is None and any(n.has(sp.floor) for n in idx):
            return None   # a floor neither split away nor one digits can take
        idx, digits = found if found is not None else (idx, {})
        if any(str(r) in taken for rs in digits.values() for r, _ in rs):
            return None
        grid = [r for v in self.axes for r in ([r for r, _ in digits[v]] if v in digits else [v])]
        saved = self.axes, self.rank
        for rs in digits.values():
            for r, n in rs:
                self.ranges[r] = (sp.Integer(0), n, self._expr(n))
        self.axes, self.rank = tuple(grid), len(grid)
        try:
            view = self._view_read(sp.Indexed(e.base, *idx), ref, shape, sym_shape)
        finally:
            self.axes, self.rank = saved
            for r in grid:
                if r not in self.axes:
                    self.ranges.pop(r, None)
        if view is None:
            return None
        read = set().union(*(sp.sympify(i).free_symbols for i in idx))
        summed = set(e.free_symbols) & (set(self.axes) - set(self.main))   # summation variables the read had
        whole = {v for v in self.axes if v in summed or v in digits and read & {r for r, _ in digits[v]}}
        sizes = [self._expr(n) if v in whole and v in digits else self._extent_py(v) if v in whole and v not in read
                 else "-1" for v in self.axes for _, n in digits.get(v, [(v, None)])]
        if not digits and all(n == "-1" for n in sizes):
            return view   # the floors split away, every variable still read: the view itself
        self.whole.pop(view, None)   # (on the digits' grid, or missing an axis it must have: no whole tensor)
        self.views.discard(view)
        text = view if all(n == "-1" for n in sizes) else f"{view}.expand({', '.join(sizes)})"
        for v in reversed(self.axes):
            if v in digits:
                first = grid.index(digits[v][0][0])
                text += f".flatten({first}, {first + len(digits[v]) - 1})"
        split = "; ".join(f"{v} = " + " + ".join(str(r) if w == 1 else f"{w}·{r}" for r, w in zip(
            [r for r, _ in reversed(digits[v])], _weights(digits[v]))) for v in sorted(digits, key=str))
        tmp = self._tmp()
        how = f"over digits ({split}), a view broadcast and merged" if digits else "a view broadcast over the sum"
        self.prog.statements.append(f"{tmp} = {text}  # {e}: {how}, no gather")
        return tmp

    def _reversed(self, i):
        """``i`` = c − m·v, one variable v of known range [v₀, v₀ + E) and m a size expression provably ≥ 1 (a
        filter read backwards, h[K − 1 − u]), as (c − m·(v₀ + E − 1), {v: m}): the smallest index read and the step
        of the same reads in increasing order (v run backwards); else None."""
        variables = [v for v in self.axes if v in i.free_symbols]
        if len(variables) != 1 or variables[0] not in self.ranges:
            return None
        v = variables[0]
        i = sp.expand(i)
        m = sp.expand(-sp.diff(i, v))
        rest = sp.expand(i + m * v)
        if m.has(v) or rest.has(v) or not (m.is_integer and self._sizes_only(m) and nonnegative(m - 1)):
            return None      # not linear in v, or a coefficient not provably ≤ −1
        lo, extent = self.ranges[v][0], self.ranges[v][1]
        first = sp.expand(rest - m * (lo + extent - 1))
        if not (first.is_integer and self._sizes_only(first)):
            return None
        return first, {v: m}

    def _padding(self, mode, first, span, n) -> tuple[str, str] | None:
        """(before, after): the Python padding of an axis of length n read at first … first + span − 1 through
        ``mode``'s index map, so that F.pad(mode) gives those reads as a slice of the padded axis; None where F.pad
        could not pad that much for some admissible size (circular padding wraps around once at most). Reflection
        needs before, after < n: the module's domain checks (:mod:`.domain`) refuse sizes where a read through
        the reflection map leaves (−n, 2n − 2], which is exactly that."""
        last = sp.expand(first + span - n)
        if mode == "circular" and not (nonnegative(n + first) and nonnegative(n - last)):
            return None

        def amount(e):   # max(0, e) in Python, decided symbolically where the sign is proved
            return self._expr(e) if nonnegative(e) else "0" if nonnegative(-e) else f"max(0, {self._expr(e)})"
        return amount(-first), amount(last)

    def _py_length(self, v) -> str | None:
        """The Python length of the axis that grid or summation variable v runs over from 0, if it does."""
        if v in self.main:
            return self.extent.get(v)
        lo, _, py = self.ranges.get(v, (None, None, None))
        return py if lo == 0 else None

    def _extent_py(self, v) -> str:
        """The Python length of grid or sum axis v."""
        return self.extent[v] if v in self.main else self.ranges[v][2]

    def _symbolic_extent(self, v):
        """The SymPy length of main axis v: from ``bounds``, else its Python length read back as sizes when
        printing it again gives the same text (so it denotes the same number), else None."""
        if v in self.bounds:
            return sp.sympify(self.bounds[v])
        text = self.extent.get(v)
        if not isinstance(text, str):
            return None if text is None else sp.Integer(int(text))
        names = {py: sym for sym, py in self.sizes.items() if re.fullmatch(r"[A-Za-z_]\w*", py)}
        try:
            expr = sp.sympify(text, locals=names)
        except Exception:   # noqa: BLE001 - any text SymPy cannot read proves nothing: the read is gathered
            return None
        if not (expr.free_symbols <= set(self.sizes)) or not expr.is_integer:
            return None
        uses = set(self.prog.uses)
        try:
            back = self._expr_uncached(expr)
        except EvosymError:
            return None
        finally:
            self.prog.uses = uses
        return expr if back == text else None

    def _matmul(self, tmp, reads, subs, present, letters) -> str | None:
        """A channel map M[o, e] applied along axis e of a tensor T (a 1×1 projection) as torch.matmul
        over T's own layout (no copy of T, unlike einsum), the result permuted into grid order; else None."""
        if len(reads) != 2 or reads[0] == reads[1]:
            return None
        pairs = list(zip(reads, subs))
        for (m, ms), (t, ts) in (pairs, pairs[::-1]):
            mref, tref = self.whole[m][0], self.whole[t][0]
            if len(ms) != 2 or len(set(ms)) != 2 or len(set(ts)) != len(ts):
                continue
            for e_pos, o_pos in ((1, 0), (0, 1)):
                e_l, o_l = ms[e_pos], ms[o_pos]
                if e_l not in ts or o_l in ts or letters.index(e_l) in present:
                    continue
                k = ts.index(e_l)
                mat = mref if e_pos == 1 else f"{mref}.t()"
                if k == len(ts) - 1:   # the product, what lays it out on T's axes, and a bias vector's shape there
                    product, after, vector = f"torch.matmul({tref}, {mat}.t())", "", ""
                else:
                    product = f"torch.matmul({mat}, {tref}.flatten({k + 1}))"
                    after, vector = f".unflatten({k + 1}, {tref}.shape[{k + 1}:])", ".reshape(-1, 1)"
                order = ts.replace(e_l, o_l)
                perm = [order.index(letters[j]) for j in present]
                if sorted(perm) != list(range(len(order))):
                    continue
                tail = "" if perm == list(range(len(perm))) else f".permute({', '.join(map(str, perm))})"
                self.matmuls[tmp] = {"product": product, "after": after + tail, "vector": vector,
                                     "axis": letters.index(o_l)}
                return f"{tmp} = {product}{after}{tail}  # a channel map as a matrix product over T's own layout"
        return None

    def _fuse_bias(self, value: str) -> str:
        """A vector along the output channel added to a channel map's product, b[o] + Σ_e M[o, e]·T[…, e, …], where
        nothing else reads the product: the module's ``_plus_bias`` adds it into the product's own memory where no
        gradient is recorded (involution's generated kernels, G·K² values per pixel, were held twice at the forward's
        peak), else as before. Not ``torch.baddbmm`` or ``torch.addmm``: with an expanded weight they give up matmul's
        batch folding (B small products, and a (B, O, E) weight gradient). ``value`` (the program's result) with the
        sum replaced."""
        for tmp, mm in self.matmuls.items():
            texts = self.prog.statements + [value]
            uses = [j for j, st in enumerate(texts) if re.search(rf"\b{tmp}\b", st.split(" = ", 1)[-1] if j < len(
                self.prog.statements) else st) and not st.startswith(f"{tmp} = ")]
            if len(uses) != 1:
                continue
            j = uses[0]
            for bias, w in self.whole.items():
                if len(w[1]) != 1 or w[1][0] != mm["axis"]:
                    continue
                found = next((f for f in (f"({bias} + {tmp})", f"({tmp} + {bias})") if texts[j].count(f) == 1), None)
                if found is None or len(re.findall(rf"\b{tmp}\b", texts[j])) != 1:
                    continue
                at = next(i for i, st in enumerate(self.prog.statements) if st.startswith(f"{tmp} = "))
                self.prog.statements[at] = (f"{tmp} = _plus_bias({mm['product']}, {w[0]}{mm['vector']}){mm['after']}  "
                                            f"# a channel map as a matrix product over T's own layout, its bias added "
                                            f"into it where nothing records")
                self.prog.helpers.add("plus_bias")
                if j < len(self.prog.statements):
                    self.prog.statements[j] = self.prog.statements[j].replace(found, tmp)
                else:
                    value = value.replace(found, tmp)
                break
        return value

    def _pooled(self, body, limits) -> str | None:
        """The mean over the summation variables of a read A[…, P·u + a, …] (a summed over [0, P), u a grid axis
        from 0 of extent E, P·E provably within A's axis) on A's last one or two axes, A's other axes read whole
        by grid axes in front, as one ``F.avg_poolNd(A, P, P)`` (non-overlapping bins: the window is the stride)
        cut to E and put on the grid; None where the read is not of that form (three axes too: avg_pool3d has no
        float16 or bfloat16 CPU kernel). torch's mean over two strided axes of a view was 2–3× avg_pool2d
        (HyperZ·Z·W's context Z̄, involution's stride pool). Where every P is 1: the read itself (no copy)."""
        if not isinstance(body, sp.Indexed) or str(body.base.label) not in self.tensors:
            return None
        ref, shape, sym_shape = self.tensors[str(body.base.label)]
        summed = {l[0]: l for l in limits}
        if any(l[1] != 0 for l in limits):
            return None
        lead, pools = [], []   # lead: the grid axes read whole; pools: (u, P, E, axis length provably P·E)
        for k, i in enumerate(body.indices):
            i = sp.sympify(i)
            if not pools and i in self.main and i not in summed and self._py_length(i) == shape[k]:
                lead.append(i)
                continue
            aff = self._affine(i)
            if aff is None or aff[0] != 0 or len(aff[1]) != 2:
                return None
            a = next((v for v in aff[1] if v in summed), None)
            u = next((v for v in aff[1] if v in self.main), None)
            if a is None or u is None or aff[1][a] != 1 or u not in self.ranges or self.ranges[u][0] != 0:
                return None
            P, E = aff[1][u], self.ranges[u][1]
            if sp.expand(P - self.ranges[a][1]) != 0 or not nonnegative(sp.sympify(sym_shape[k]) - P * E):
                return None
            if not (nonnegative(P - 1) and nonnegative(E - 1)):   # (avg_pool takes no empty bin or output)
                return None
            pools.append((a, u, P, E, sp.expand(sp.sympify(sym_shape[k]) - P * E) == 0))
        variables = lead + [u for _, u, *_ in pools]
        if not 1 <= len(pools) <= 2 or len(set(variables)) != len(variables) or {a for a, *_ in pools} != set(summed) \
                or len(pools) != len(summed):
            return None
        if lead and not nonnegative(sp.sympify(sym_shape[len(lead) - 1]) - 1):
            return None   # the channel axis avg_pool sees may be empty (it refuses that; the batch in front may be)
        pools = [(u, P, E, exact) for _, u, P, E, exact in pools]
        d, n = len(pools), len(lead)
        # avg_pool's input: (N, C, …) or (C, …)
        x = f"{ref}.to(dtype)" + (".unsqueeze(0)" if n == 0 else "" if n <= 2 else f".flatten(0, {n - 2})")
        bins = ", ".join(self._expr(P) for _, P, _, _ in pools) + ("," if d == 1 else "")
        pooled = f"F.avg_pool{d}d({x}, ({bins}), ({bins}))"
        if all(P == 1 for _, P, _, _ in pools):
            text = x
        elif any(P.is_number and P != 1 for _, P, _, _ in pools):   # a bin of 2 or more somewhere: always a pool
            text = pooled
        else:
            text = f"({x} if {' and '.join(dict.fromkeys(f'{self._expr(P)} == 1' for _, P, _, _ in pools))} else {pooled})"
        if not all(exact for *_, exact in pools):   # bins past P·E (floor) are cut away
            text += "[" + ", ".join(["..."] + [f":{self._extent_py(u)}" for u, *_ in pools]) + "]"
        if n == 0:
            text += ".squeeze(0)"
        elif n > 2:
            text += f".unflatten(0, ({', '.join(shape[: n - 1])}))"
        at = [self.axes.index(v) for v in variables]
        perm = sorted(range(len(at)), key=lambda j: at[j])
        if perm != list(range(len(perm))):
            text += f".permute({', '.join(map(str, perm))})"
        grid = ", ".join(self._extent_py(self.axes[j]) if j in at else "1" for j in range(self.rank))
        return f"{text}.reshape({grid}{',' if self.rank == 1 else ''})  # the mean over bins of {body}: avg_pool{d}d"

    def _scaled(self, scale, text: str) -> str:
        """``text`` (a tensor in dtype) times the constant ``scale`` (a number or a size expression)."""
        return text if scale == 1 else f"({self._expr(scale)} * {text})"

    def _sum(self, e: sp.Sum, scale=sp.S.One) -> str:
        """``scale``·Σ body, ``scale`` a constant (numbers and sizes only). The constant multiplies one
        operand before the sum, never the sum itself: Σ q·k over a head in float16 overflows (65504) where
        Σ (q/√d)·k does not, as torch's scaled_dot_product_attention scales before q·kᵀ. Constant
        factors of the body join ``scale``; the operand scaled is the one spanning fewest axes (the
        smaller tensor), the first such in SymPy's order on a tie."""
        body = e.function
        absent = [l for l in e.limits
                  if l[0] not in body.free_symbols and self._sizes_only(l[1]) and self._sizes_only(l[2])]
        if absent:   # Σ over a variable the body does not read: the body times that variable's count of terms
            # (a count from the sizes alone; one whose range reads an index is refused below, as before)
            count = sp.Mul(*[hi - lo + 1 for _, lo, hi in absent])
            rest = [l for l in e.limits if l not in absent]
            return self._sum(sp.Sum(body, *rest), scale * count) if rest else self._expr(scale * count * body)
        if isinstance(body, sp.Mul):
            consts = [a for a in body.args if self._sizes_only(a)]
            if consts and len(consts) < len(body.args):
                scale = scale * sp.Mul(*consts)
                body = sp.Mul(*[a for a in body.args if not self._sizes_only(a)], evaluate=False) \
                    if len(body.args) - len(consts) > 1 else next(a for a in body.args if not self._sizes_only(a))
        for var, lo, hi in e.limits:
            if (sp.sympify(lo).free_symbols | sp.sympify(hi).free_symbols) & set(self.axes):
                raise EvosymError(f"code generation: the range of {var} depends on an index ({lo}..{hi})")
            if not nonnegative(hi - lo + 1):   # SymPy sums a negative count backwards (Σ_{a=0}^{-2} f = −f(−1))
                raise EvosymError(f"code generation: the sum over {var} from {lo} to {hi} may have a negative number "
                                  f"of terms ({hi - lo + 1}), which SymPy sums backwards; bound it so that "
                                  f"{hi - lo + 1} ≥ 0 for every admissible size")
        for var, lo, hi in e.limits:
            self._arange(var, f"{self._expr(hi - lo + 1)}", self._expr(lo) if lo != 0 else 0)
            self.ranges[var] = (sp.sympify(lo), sp.expand(hi - lo + 1), f"{self._expr(hi - lo + 1)}")
            if lo == 0:
                self.sum_extent[var] = self._expr(hi + 1)
        dims = tuple(sorted(self.axes.index(l[0]) for l in e.limits))
        tmp = self._tmp()
        if isinstance(body, sp.Mul) and len(body.args) >= 2 and self.rank <= 52:
            # a sum of products is a contraction: einsum never materialises the product over all axes
            letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[:self.rank]
            reads = [self._expr(f) for f in body.args]
            axes = set(self.axes)
            at = min(range(len(body.args)), key=lambda k: (len(body.args[k].free_symbols & axes), k))
            if all(r in self.whole for r in reads):
                # whole tensors in their own memory order: einsum picks the matrix products, no grid views
                subs = ["".join(letters[k] for k in self.whole[r][1]) for r in reads]
                present = [k for k in range(self.rank) if k not in dims and any(letters[k] in s for s in subs)]
                spec = ",".join(subs) + "->" + "".join(letters[k] for k in present)
                if scale != 1:   # the scaled operand, once: a new whole tensor (the read itself may be shared)
                    whole = self._tmp()
                    self.prog.statements.append(f"{whole} = {self._scaled(scale, self.whole[reads[at]][0])}"
                                                f"  # {scale}·{body.args[at]}: scaled before the sum")
                    self.whole[whole] = (whole, self.whole[reads[at]][1])
                    reads = reads[:at] + [whole] + reads[at + 1:]
                self.prog.statements.append(self._matmul(tmp, reads, subs, present, letters) or
                                            f"{tmp} = torch.einsum({spec!r}, {', '.join(self.whole[r][0] for r in reads)})")
                for k in range(self.rank):
                    if k not in present:
                        self.prog.statements.append(f"{tmp} = {tmp}.unsqueeze({k})")
                return tmp
            factors = [f"_as_grid({self._expr(f)}, {self.rank}, dtype, device)" for f in body.args]
            factors[at] = self._scaled(scale, factors[at])
            kept = "".join(letters[k] for k in range(self.rank) if k not in dims)
            spec = ",".join([letters] * len(factors)) + "->" + kept
            self.prog.statements.append(f"{tmp} = torch.einsum({spec!r}, {', '.join(factors)})")
            for k in dims:
                self.prog.statements.append(f"{tmp} = {tmp}.unsqueeze({k})")
            return tmp
        lengths = [(self.ranges[l[0]][1], self.ranges[l[0]][2]) for l in e.limits]
        mean = scale != 1 and sp.simplify(scale * sp.Mul(*[n for n, _ in lengths])) == 1   # Σ/(its number of terms)
        if mean:
            pooled = self._pooled(body, e.limits)
            if pooled is not None:
                self.prog.statements.append(f"{tmp} = {pooled}")
                return tmp
        body_txt = self._expr(body)
        inner = f"_as_grid({body_txt}, {self.rank}, dtype, device)"
        value = self._scaled(scale, inner)
        if mean:
            total = f"{inner}.mean(dim={dims}, keepdim=True)"   # a mean, no scaled copy
        else:
            total = f"{value}.sum(dim={dims}, keepdim=True)"
        if body_txt in self.views and not any(n.is_number and n != 1 for n, _ in lengths):
            # a sum of a view over axes of length 1 (a 1×1 pool) is the view itself: no copy when they are
            conds = list(dict.fromkeys(f"{py} == 1" for n, py in lengths if n != 1))
            unit = value                      # a constant scale other than 1: one product, no sum
            if scale != 1 and not sp.sympify(scale).is_number:
                conds.append(f"{self._expr(scale)} == 1")
                unit = inner
            if unit is inner:
                self.views.add(tmp)
            if not conds:
                self.prog.statements.append(f"{tmp} = {unit}  # a sum over axes of length 1")
                return tmp
            self.prog.statements.append(f"{tmp} = {unit} if {' and '.join(conds)} else {total}"
                                        f"  # a sum over axes of length 1 is its operand: no copy")
            return tmp
        self.prog.statements.append(f"{tmp} = {total}")
        return tmp
