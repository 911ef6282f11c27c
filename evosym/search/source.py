"""A found proof as Python: the ``derive`` function a user could paste into the operator file.

The printed function defines every symbol and tensor it mentions from its name and kind
(``index``, ``size``, ``sp.IndexedBase``), so it runs whatever names the file gave its Python
variables; it is deterministic (sorted definitions, SymPy's own printing).
"""

from __future__ import annotations

import keyword

import sympy as sp
from sympy.printing.str import StrPrinter

from ..ir.neighbourhood import Global, IndexSet, Window, WindowAxis
from ..ir.symbols import InRange, index, size

_READABLE = (sp.Symbol, sp.Indexed, sp.Integer, sp.Rational, sp.Add, sp.Mul, sp.Pow, sp.Sum, sp.KroneckerDelta,
             sp.floor, sp.ceiling, sp.Min, sp.Max, sp.Abs, sp.Mod, sp.exp, sp.conjugate, sp.Piecewise, InRange,
             sp.core.relational.Relational, sp.And, sp.Or, sp.Not, sp.core.numbers.ImaginaryUnit, sp.core.numbers.Pi,
             sp.core.numbers.Exp1, sp.logic.boolalg.BooleanTrue, sp.logic.boolalg.BooleanFalse)


class _Python(StrPrinter):
    """SymPy expressions as Python source over the names defined at the top of ``derive``: readable for
    what operators are made of, SymPy's own exact representation (``sp.sympify(srepr)``) for anything else."""

    printmethod = "_evosym_python"   # not the objects' own _sympystr (Indexed, InRange print as text)

    def __init__(self, names: dict):
        super().__init__()
        self.names = names

    def _print(self, e, **kwargs):
        if isinstance(e, sp.Basic) and not isinstance(e, _READABLE):
            return f"sp.sympify({sp.srepr(e)!r})"
        return super()._print(e, **kwargs)

    def _print_Symbol(self, s):
        return self.names[s] if s in self.names else f"sp.sympify({sp.srepr(s)!r})"

    def _print_Indexed(self, e):
        return f"{self.names[e.base]}[{', '.join(self._print(i) for i in e.indices)}]"

    def _call(self, name, e):
        return f"{name}({', '.join(self._print(a) for a in e.args)})"

    def _print_Function(self, e):
        if isinstance(e, InRange):
            return self._call("InRange", e)
        return self._call(f"sp.{type(e).__name__}", e)

    _print_KroneckerDelta = _print_Min = _print_Max = _print_Abs = _print_Mod = _print_exp = _print_Function
    _print_floor = _print_ceiling = _print_conjugate = _print_Function

    def _print_Piecewise(self, e):
        return f"sp.Piecewise({', '.join(f'({self._print(v)}, {self._print(c)})' for v, c in e.args)})"

    def _print_ImaginaryUnit(self, e):
        return "sp.I"

    def _print_Pi(self, e):
        return "sp.pi"

    def _print_Exp1(self, e):
        return "sp.E"

    def _print_BooleanTrue(self, e):
        return "sp.true"

    def _print_BooleanFalse(self, e):
        return "sp.false"

    def _print_Sum(self, e):
        limits = ", ".join(f"({', '.join(self._print(a) for a in lim)})" for lim in e.limits)
        return f"sp.Sum({self._print(e.function)}, {limits})"

    def _print_Relational(self, e):
        return f"sp.{type(e).__name__}({self._print(e.lhs)}, {self._print(e.rhs)})"

    def _print_And(self, e):
        return self._call("sp.And", e)

    def _print_Or(self, e):
        return self._call("sp.Or", e)

    def _print_Not(self, e):
        return self._call("sp.Not", e)

    def _print_Rational(self, e):
        return f"sp.Rational({e.p}, {e.q})"

    def _print_Half(self, e):
        return "sp.Rational(1, 2)"

    def _print_Pow(self, e, rational=False):
        if e.exp == sp.Rational(1, 2):
            return f"sp.sqrt({self._print(e.base)})"
        if e.exp == -sp.Rational(1, 2):
            return f"1/sp.sqrt({self._print(e.base)})"
        return super()._print_Pow(e, rational)


def derive_source(steps, conclusion, sizes) -> str:
    """``def derive(d): …`` for ``steps`` (the derivation's :class:`Step` list) and its conclusion
    (omega, channel, neighbour); ``sizes`` are the operator's size symbols."""
    symbols, bases = set(), set()

    def collect(v):
        if isinstance(v, (list, tuple)):
            for a in v:
                collect(a)
        elif isinstance(v, sp.Basic):
            reads = v.atoms(sp.Indexed)
            labels = {r.base.label for r in reads}
            symbols.update(a for a in v.atoms(sp.Symbol) if a not in labels or any(a in i.free_symbols for r in reads
                                                                                 for i in r.indices))
            bases.update(r.base for r in reads)
        elif isinstance(v, Window):
            for ax in v.axes:
                collect([ax.kernel, ax.stride, ax.dilation, ax.padding, ax.length])
        elif isinstance(v, (Global, IndexSet)):
            collect(list(v.input_lengths))
            if isinstance(v, IndexSet):
                collect([v.p_symbols, v.q_symbols, v.condition, v.bound])

    for st in steps:
        collect([a for _, a in st.args])
    collect(list(conclusion))
    size_set = set(sizes)
    names = {}
    lines = []
    for s in sorted(symbols, key=lambda s: (s not in size_set, str(s))):
        py = _identifier(str(s), names)
        names[s] = py
        lines.append(f"    {py} = {_symbol(s)}")
    for b in sorted(bases, key=lambda b: str(b.label)):
        py = _identifier(str(b.label), names)
        names[b] = py
        lines.append(f"    {py} = sp.IndexedBase({str(b.label)!r})")
    pr = _Python(names)
    body = [f"    d.apply({st.rule!r}{''.join(f', {k}={_arg(v, pr)}' for k, v in st.args)})" for st in steps]
    omega, channel, neighbour = conclusion
    body.append(f"    d.conclude(omega={_omega(omega, pr)}, channel={pr.doprint(channel)}, "
                f"neighbour={_tuple([pr.doprint(q) for q in neighbour])})")
    text = "\n".join(lines + body)
    used = [n for n in ("Global", "InRange", "IndexSet", "Window", "WindowAxis", "index", "size") if f"{n}(" in text]
    head = (["import sympy as sp", ""] if "sp." in text else []) + [f"from evosym import {', '.join(used)}", "", "",
            "def derive(d):", '    """The proof found by evosym\'s search (evosym prove --show-derive)."""']
    return "\n".join(head) + "\n" + text + "\n"


def _tuple(items) -> str:
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


_RESERVED = {"d", "sp", "index", "size", "InRange", "Window", "WindowAxis", "Global", "IndexSet"}


def _symbol(s: sp.Symbol) -> str:
    """How the printed derive creates ``s``: index(…) or size(…) when it is one, else SymPy's exact form."""
    name = str(s)
    for text, made in ((f"index({name!r})", index(name)), (f"size({name!r})", size(name)),
                       (f"size({name!r}, zero=True)", size(name, zero=True))):
        if s == made:
            return text
    return f"sp.sympify({sp.srepr(s)!r})"


def _identifier(name: str, taken: dict) -> str:
    """A plain ASCII Python identifier for ``name`` (keywords, reserved and non-ASCII names get a prefix)."""
    py = "".join(ch if (ch.isascii() and ch.isalnum()) or ch == "_" else "_" for ch in name)
    if not py.strip("_") or py[0].isdigit() or keyword.iskeyword(py) or py in _RESERVED or py in {"None", "True", "False"}:
        py = "v_" + py
    used = set(taken.values())
    out, k = py, 1
    while out in used:
        out, k = f"{py}_{k}", k + 1
    return out


def _arg(v, pr) -> str:
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, (list, tuple)):
        items = [_arg(a, pr) for a in v]
        return _tuple(items) if isinstance(v, tuple) else f"[{', '.join(items)}]"
    if isinstance(v, sp.Basic):
        return pr.doprint(v)
    return repr(v)


def _omega(omega, pr) -> str:
    if isinstance(omega, Window):
        return f"Window({_tuple([_window_axis(a, pr) for a in omega.axes])})"
    if isinstance(omega, Global):
        return f"Global({_tuple([pr.doprint(n) for n in omega.input_lengths])})"
    if isinstance(omega, IndexSet):
        return (f"IndexSet({_tuple([pr.doprint(p) for p in omega.p_symbols])}, "
                f"{_tuple([pr.doprint(q) for q in omega.q_symbols])}, {pr.doprint(omega.condition)}, "
                f"{_tuple([pr.doprint(n) for n in omega.input_lengths])}, bound={pr.doprint(omega.bound)})")
    raise ValueError(f"cannot print the neighbourhood {omega!r}")


def _window_axis(a: WindowAxis, pr) -> str:
    flags = "".join(f", {f}=True" for f in ("wrap", "clamp", "tiled") if getattr(a, f))
    return (f"WindowAxis({pr.doprint(a.kernel)}, {pr.doprint(a.stride)}, {pr.doprint(a.dilation)}, "
            f"{pr.doprint(a.padding)}, {pr.doprint(a.length)}{flags})")
