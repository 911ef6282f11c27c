"""The premises of a proof, checked before anything relies on them.

Every rule and every bounded check silently assumes three things, and each can be broken without any
rule noticing:

1. **Binders are plain integers typed by their range.** SymPy acts on a symbol's assumptions the moment
   an expression is built: with ``m`` declared positive, ``KroneckerDelta(m, -P)`` is 0 at construction,
   so the replay reproduces the fold, the bounded check compares two folded sides, and a false step looks
   general. So every variable bound by a sum, every output index and every definition parameter must be
   an integer symbol whose other assumptions follow from its range (nonnegative only when the lower bound
   is provably ≥ 0, positive only when ≥ 1, …; even, odd, prime … never): its ``assumptions0`` must be
   those of ``Symbol(name, integer=True, **implied)`` for some implied subset. A definition parameter
   may be nonnegative only when the definition declares a shape (reads are then checked to lie in it).
2. **The grid lies in the sizes' domains.** "Valid for all sizes" means for the declared domain of each
   size; a grid shape outside it (a positive size at 0, a negative padding) tests something else, and a
   grid key that is not a size would give a value to a bound variable. So every size is an integer
   symbol, every grid key a declared size, every size a grid key, and every grid value an integer that satisfies all of its
   size's assumptions and the operator's constraints; otherwise nothing is evaluated at all.
3. **Definitions and expressions are closed.** A definition body that reads a symbol other than its
   parameters and the sizes takes its value from wherever it is read, which hides a dependency from
   ``factor-out``, ``exchange-sums`` or ``name-kernel`` (they look at the free symbols of the read, not
   of the body). So every body mentions only its parameters and the sizes, and the traditional form and
   every step only the output indices and the sizes.
4. **Names are unique.** Rules find a tensor's declaration by its name (the softmax rule reads an input's
   domain, the premise it may use, that way), so two declarations of one name — among the tensors, the output,
   the operator's definitions and those the steps define — would let the premise of one stand for the other in
   a statement that lists both. Every name is declared once. And every name stands for one thing in its
   scope: the evaluator reads free symbols and functions by name, so two symbols of one name with other
   assumptions, a symbol and an undefined function, or an undefined function named as SymPy's (exp) or the
   evaluator's (inv, pow) would be read one for the other. And names print apart (:mod:`evosym.ir.looks`): a proof is read
   printed, and two names a reader could take one for the other make it read as a statement about another operator.

:func:`check_premises` returns the violations (each names its premise, the symbol and the value) and
the grid to check; :class:`Premises` fails the steps whose expressions break a premise and, when one of
the operator's own premises fails (its sizes, grid, definitions, form), labels no step general.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import numbers
from dataclasses import dataclass, replace

import sympy as sp
from sympy.core.function import AppliedUndef

from ..ir import looks
from ..ir.symbols import INTEGER_ONLY, free_variables, variables
from .reference import CheckResult
from .symbolic import le

NAME = "premises"
BINDERS = "bound variables are integers typed by their range"
SIZES = "sizes are integer symbols"
GRID = "the grid lies in the sizes' domains"
CLOSED = "definitions and expressions are closed"
NAMES = "every name stands for one thing"

# the assumptions a range [lo, hi] can imply, and when it implies each
_IMPLIED = {
    "nonnegative": lambda lo, hi: le(0, lo),
    "positive": lambda lo, hi: le(1, lo),
    "nonpositive": lambda lo, hi: le(hi, 0),
    "negative": lambda lo, hi: le(hi, -1),
    "nonzero": lambda lo, hi: le(1, lo) or le(hi, -1),
}
# the facts a message names first when a symbol carries or breaks several
_HEADLINE = ("positive", "nonnegative", "negative", "nonpositive", "nonzero", "zero", "even", "odd", "prime",
             "composite", "integer", "real", "finite", "commutative")


@dataclass(frozen=True)
class Violation:
    """A premise that fails: which, why (naming the symbol and the value), and the steps it concerns
    (0-based, of the derivation and of the limit section), which then fail; one that ``everywhere``
    underlies (the operator's own declarations) leaves no step general."""

    premise: str
    detail: str
    steps: tuple[int, ...] = ()
    limit_steps: tuple[int, ...] = ()
    everywhere: bool = True   # a premise of every step (sizes, grid, the operator's definitions and form)

    def __str__(self) -> str:
        return f"{self.premise}: {self.detail}"


@dataclass(frozen=True)
class Premises:
    """The outcome of :func:`check_premises`: the violations, and the grid to check (empty when a shape lies
    outside the sizes' domains: nothing is evaluated there, and the proof fails)."""

    violations: tuple[Violation, ...]
    grid: tuple
    shapes_checked: int

    @property
    def ok(self) -> bool:
        return not self.violations

    def result(self) -> CheckResult:
        if self.ok:
            return CheckResult(NAME, True, "general",
                               "every summation variable, output index and definition parameter is an integer whose "
                               "assumptions follow from its range; every definition reads only its parameters and the "
                               f"sizes; the {self.shapes_checked} grid shapes lie in the sizes' domains")
        rest = self.violations[1:]
        more = f" (and {len(rest)} more: {'; '.join(map(str, rest[:3]))}{' …' if len(rest) > 3 else ''})" if rest else ""
        return CheckResult(NAME, False, "general", str(self.violations[0]) + more)

    def relabel(self, steps, *, limit: bool = False) -> tuple:
        """The checked ``steps`` with each step a violation concerns failed, and none general when any premise
        fails everywhere (a rule's identity holds for all sizes only under the operator's premises)."""
        out = []
        everywhere = any(v.everywhere for v in self.violations)
        for k, s in enumerate(steps):
            own = [v for v in self.violations if k in (v.limit_steps if limit else v.steps)]
            c = s.check
            if own:
                why = f"premise failed: {own[0]}"
                c = replace(c, ok=False, general=False, message=f"{c.message}; {why}" if not c.ok and c.message else why)
            elif not self.grid:
                c = replace(c, ok=False, general=False, bounded_shapes=(),
                            message="not compared at any shape: the grid is outside the sizes' domains (see premises)")
            elif everywhere and c.general:
                c = replace(c, general=False, replay=c.replay + "; not general: a premise of the proof failed (see premises)")
            out.append(replace(s, check=c))
        return tuple(out)

    def with_limit(self, report):
        """(premises, report): the limit steps' binders checked too, and the limit steps relabelled."""
        found = _merge([(BINDERS, problem, f"limit step {k + 1} ({s.rule})", (), (k,), False)
                        for k, s in enumerate(report.steps) for e in (s.before, s.after)
                        for problem in _sum_binders(e, set(), set())])
        premises = Premises(self.violations + tuple(found), self.grid, self.shapes_checked)
        return premises, replace(report, steps=premises.relabel(report.steps, limit=True))


def _merge(found) -> list[Violation]:
    """One violation per (premise, problem), naming the first place it occurs, with every step it concerns."""
    merged: dict = {}
    for premise, problem, where, steps, limit_steps, everywhere in found:
        entry = merged.setdefault((premise, problem), [[], set(), set(), False])
        entry[0].append(where)
        entry[1].update(steps)
        entry[2].update(limit_steps)
        entry[3] = entry[3] or everywhere
    out = []
    for (premise, problem), (wheres, steps, limit_steps, everywhere) in merged.items():
        place = wheres[0] + (f" and {len(wheres) - 1} more places" if len(wheres) > 1 else "") if wheres[0] else ""
        out.append(Violation(premise, f"{problem}" + (f" (in {place})" if place else ""),
                             tuple(sorted(steps)), tuple(sorted(limit_steps)), everywhere))
    return out


# -- 1. binders ------------------------------------------------------------------------------------

def declared(s: sp.Symbol) -> str:
    """The assumptions ``s`` was declared with, as ``name=value`` (what SymPy derives from them is left out)."""
    orig = getattr(s, "_assumptions_orig", None)
    if orig is None:   # an older SymPy: the derived facts that differ from a plain integer's, headline ones first
        a = s.assumptions0
        keys = sorted((k for k in a if INTEGER_ONLY.get(k) != a[k]),
                      key=lambda k: (_HEADLINE.index(k) if k in _HEADLINE else len(_HEADLINE), k))
        orig = {k: a[k] for k in keys[:2]}
    return ", ".join(f"{k}={v}" for k, v in orig.items()) or "no assumptions"


def binder_problem(s, lo, hi, what: str) -> str | None:
    """Why ``s`` (``what`` names it: "the summation variable m") cannot bind [lo, hi], or None; with lo None
    no range implies anything."""
    if not isinstance(s, sp.Symbol):
        return f"{what} is not a symbol"
    if s.is_integer is not True:
        return f"{what} is not declared integer ({declared(s)})"
    if s.assumptions0 == INTEGER_ONLY:
        return None
    implied = []
    if lo is not None:
        for key, test in _IMPLIED.items():
            try:
                if test(sp.sympify(lo), sp.sympify(hi)):
                    implied.append(key)
            except Exception:   # an undecidable comparison proves nothing
                continue
    for n in range(1, len(implied) + 1):
        for subset in itertools.combinations(implied, n):
            try:
                if sp.Symbol(s.name, integer=True, **{k: True for k in subset}).assumptions0 == s.assumptions0:
                    return None
            except Exception:   # inconsistent assumptions (positive and negative)
                continue
    where = f"its range [{lo}, {hi}]" if lo is not None else "nothing (it has no declared range)"
    return (f"{what} is declared {declared(s)}, which {where} does not imply (allowed: integer=True, plus "
            "nonnegative when the lower bound is ≥ 0, positive when it is ≥ 1)")


def _sum_binders(expr, sizes: set, outputs: set, params=()) -> list[str]:
    """The problems of the variables bound by sums in ``expr`` (a definition's body where ``params`` are given: a sum
    binding its own parameter hides it, and substituting an argument for it leaves a sum over a number)."""
    out = []
    for node in sorted(sp.sympify(expr).atoms(sp.Sum), key=sp.default_sort_key):
        for lim in node.limits:
            var = lim[0]
            if len(lim) != 3:
                out.append(f"the sum over {var} has no range")
            elif var in sizes or var in outputs or var in params:
                out.append(f"a sum binds {var}, which is "
                           f"{'a size' if var in sizes else 'its own parameter' if var in params else 'an output index'}")
            else:
                why = binder_problem(var, lim[1], lim[2], f"the summation variable {var}")
                if why:
                    out.append(why)
    out += [f"a sum over {v} inside a sum over {v} hides the outer {v} (give the inner one another name)"
            for v in _shadowed(sp.sympify(expr))]
    return list(dict.fromkeys(out))


def _shadowed(expr, outer=frozenset()) -> list:
    """The variables a sum binds inside a sum (or an earlier limit of its own) that binds them already: the evaluator
    reads the inner one, and a rule that substitutes the outer variable rewrites both (Σ_k Σ_k was refused only
    after a step had run, by the replay's "binds k twice")."""
    if not isinstance(expr, sp.Basic) or not expr.has(sp.Sum):
        return []
    if not isinstance(expr, sp.Sum):
        return [v for a in expr.args for v in _shadowed(a, outer)]
    found, bound = [], set(outer)
    for var, *bounds in expr.limits:
        found += [v for b in bounds for v in _shadowed(b, frozenset(bound))]
        if var in bound:
            found.append(var)
        bound.add(var)
    return found + _shadowed(expr.function, frozenset(bound))


# -- 3. closure ------------------------------------------------------------------------------------

def free_names(expr) -> set:
    """The free symbols of ``expr`` that are variables (:func:`evosym.ir.symbols.free_variables`): the closure
    premise's reading (a self-test mutant replaces it)."""
    return free_variables(expr)


def _names(symbols) -> str:
    return ", ".join(sorted(map(str, symbols)))


def _definition(d, sizes: set, outputs: set, where: str, steps=()) -> list[tuple]:
    """Problems of a definition: (premise, problem, where, steps, limit steps, everywhere); one of the operator's
    own (no ``steps``) underlies every step."""
    out = []
    every = not steps
    if len(set(d.params)) != len(d.params):
        out.append((BINDERS, f"the definition {d.name} repeats a parameter ({_names(d.params)})", where, steps, (), every))
    extents = dict(zip(d.params, d.shape)) if d.shape is not None else {}
    for p in d.params:
        if p in sizes:
            out.append((BINDERS, f"the definition {d.name} has the size {p} as a parameter", where, steps, (), every))
            continue
        lo, hi = (sp.Integer(0), sp.sympify(extents[p]) - 1) if p in extents else (None, None)
        why = binder_problem(p, lo, hi, f"the parameter {p} of {d.name}" + ("" if extents else " (which declares no shape)"))
        if why:
            out.append((BINDERS, why, where, steps, (), every))
    stray = free_names(d.body) - set(d.params) - sizes
    if stray:
        out.append((CLOSED, f"the body of {d.name}[{', '.join(map(str, d.params))}] reads {_names(stray)}, which is "
                    "neither its parameter nor a size", where, steps, (), every))
    if d.shape is not None:
        loose = set().union(*[free_names(n) for n in d.shape]) - sizes
        if loose:
            out.append((CLOSED, f"the shape of {d.name} mentions {_names(loose)}, which is not a size", where, steps, (), every))
    out += [(BINDERS, f"in the body of {d.name}, {w}", where, steps, (), every) for w in _sum_binders(d.body, sizes, outputs, d.params)]
    return out


def _expression(expr, where: str, sizes: set, outputs: set, steps, every: bool) -> list[tuple]:
    out = [(BINDERS, w, where, steps, (), every) for w in _sum_binders(expr, sizes, outputs)]
    stray = free_names(expr) - sizes - outputs
    if stray:
        out.append((CLOSED, f"{_names(stray)} is free but neither an output index nor a size (an unbound variable)",
                    where, steps, (), every))
    return out


# -- 2. sizes and the grid -------------------------------------------------------------------------

def _grid(op, grid, sizes: set) -> list[Violation]:
    out = []
    for k, config in enumerate(grid, 1):
        bad = []
        if not hasattr(config, "items"):
            out.append(Violation(GRID, f"grid shape {k} is {config!r}, not a mapping from sizes to values"))
            continue
        for key, value in config.items():
            if key not in sizes:
                bad.append(f"grid shape {k} gives {key} = {value}, but {key} is not a declared size "
                           f"(sizes: {_names(sizes)})")
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                bad.append(f"grid shape {k} gives the size {key} the value {value!r}, which is not an integer")
                continue
            broken = [a for a, want in getattr(key, "assumptions0", {}).items() if getattr(sp.Integer(int(value)), "is_" + a, None) != want]
            if broken:
                broken.sort(key=lambda a: _HEADLINE.index(a) if a in _HEADLINE else len(_HEADLINE))
                a = broken[0]
                bad.append(f"grid shape {k} gives the size {key} the value {int(value)}, outside its domain "
                           f"({key} is declared {a}={key.assumptions0[a]}{_bound(key)})")
        missing = [s for s in dict.fromkeys(op.size_symbols()) if s not in config]
        if missing:   # a size without a value is not evaluated at all: its shapes are not integers
            bad.append(f"grid shape {k} gives no value to the size{'s' if len(missing) > 1 else ''} {_names(missing)}")
        if not bad:
            bad += _small(op, k, config)
        if not bad:
            values = {s: sp.Integer(int(v)) for s, v in config.items()}
            for c in op.constraints:
                got = sp.sympify(c).xreplace(values)
                if got is not sp.true:
                    bad.append(f"grid shape {k} ({_show(config)}) " + ("violates" if got is sp.false else "cannot decide")
                               + f" the constraint {c}")
        out += [Violation(GRID, b) for b in bad]
    return out


MAX_SIZE = 1000          # bounded checks unroll every sum with symbolic entries: they are for small shapes
MAX_ENTRIES = 100_000    # entries of all declared tensors at one grid shape (the catalogue needs at most 312)


def _small(op, k, config) -> list[str]:
    """Why grid shape ``k`` is too large for exact checks (a certificate could otherwise pin a CPU for days)."""
    big = [f"{s} = {v}" for s, v in config.items() if int(v) > MAX_SIZE]
    if big:
        return [f"grid shape {k} gives {', '.join(big)}: bounded checks need sizes ≤ {MAX_SIZE}"]
    try:
        shapes = op.shapes_at({s: int(v) for s, v in config.items()})
    except ValueError:
        return []   # a shape that is not an integer is reported when the shapes are computed
    entries = sum(abs(math.prod(shape)) for shape in shapes.values())
    if entries > MAX_ENTRIES:
        return [f"grid shape {k} ({_show(config)}) gives the tensors {entries} entries: bounded checks need at most "
                f"{MAX_ENTRIES}"]
    return []


def _show(config) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(((str(k), v) for k, v in config.items())))


def lower_bound(s: sp.Symbol) -> str:
    """The size's declared bound as text ("≥ 1", "≥ 0", "≤ -1", "≤ 0"), "" when it has none."""
    if s.is_positive:
        return "≥ 1"
    if s.is_nonnegative:
        return "≥ 0"
    if s.is_negative:
        return "≤ -1"
    if s.is_nonpositive:
        return "≤ 0"
    return ""


_STATED = ("positive", "nonnegative", "negative", "nonpositive", "prime", "composite")
# even=/odd= are refused: SymPy's assumptions conclude from them what is false ((R/6).is_integer is True for an even
# R, (R(R + 1)/6).is_integer for an odd one), and every rule and obligation asks them
_PARITY = ("even", "odd")


def _stated(s: sp.Symbol) -> bool:
    """Whether the size's assumptions are those of ``Symbol(name, integer=True, …)`` with a subset of the assumptions
    the proof states as its domain ("P ≥ 1 (prime)": :func:`lower_bound`, :func:`size_domains`). Others (zero=True,
    nonzero=True, …) would act in every rule and bounded check while the printed domain says something else: P
    declared zero prints as "P ≥ 0" and SymPy proves −P ≥ 0."""
    if s.assumptions0 == INTEGER_ONLY:
        return True
    for n in range(1, 4):
        for subset in itertools.combinations(_STATED, n):
            if len(set(subset) & set(_STATED[:4])) > 1:   # nonnegative and nonpositive: zero, which no bound states
                continue
            try:
                if sp.Symbol(s.name, integer=True, **{k: True for k in subset}).assumptions0 == s.assumptions0:
                    return True
            except Exception:   # inconsistent assumptions (positive and negative)
                continue
    return False


def _without_parity(s: sp.Symbol) -> sp.Symbol:
    """``s`` declared as written but for even= and odd= (so a refusal can name parity as the only fault)."""
    facts = {k: v for k, v in getattr(s, "_assumptions_orig", s.assumptions0).items() if k not in _PARITY}
    try:
        return sp.Symbol(s.name, **facts)
    except Exception:   # (inconsistent without them)
        return s


def _bound(s) -> str:
    b = lower_bound(s)
    return f": {s} {b}" if b else ""


def size_domains(op) -> tuple[tuple[tuple[sp.Symbol, ...], str, str], ...]:
    """The sizes grouped by their declared domain, in declaration order: ``(((B, C, L), "≥ 1", ""), ((P,), "≥ 0",
    ""))``; the last entry names further assumptions ("prime") or says that a size is not declared integer."""
    groups: dict[tuple, list] = {}
    for s in op.size_symbols():
        if s.is_integer is not True:
            key = ("", "not declared integer")
        else:
            key = (lower_bound(s), ", ".join(k for k in ("prime", "composite") if s.assumptions0.get(k) is True))
        groups.setdefault(key, []).append(s)
    return tuple((tuple(v), bound, note) for (bound, note), v in groups.items())


def _unique_names(op, steps) -> list[tuple]:
    """Names declared more than once among the tensors, the output, the definitions and the steps' definitions."""
    names = [t.name for t in op.tensors] + [op.output.name] + [d.name for d in op.definitions]
    names += [d.name for step in steps for d in step.defines]
    twice = sorted({n for n in names if names.count(n) > 1})
    return [(NAMES, f"the name {n} is declared {names.count(n)} times (tensors, output, definitions): a rule that "
                    f"reads {n}'s declaration would take one of them for all", "", (), (), True) for n in twice]


def _expressions_of(obj) -> list:
    """Every SymPy expression held by ``obj``: itself, or the fields of a dataclass (Ω's axes, a limit section),
    the items of a tuple or list, recursively."""
    if isinstance(obj, sp.Basic):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [e for x in obj for e in _expressions_of(x)]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [e for f in dataclasses.fields(obj) for e in _expressions_of(getattr(obj, f.name))]
    return []


def _labels_with_assumptions(expr) -> list[tuple]:
    """The tensors ``expr`` reads through a label other than their plain name: SymPy gives a label's assumptions to
    every entry it reads (``IndexedBase(Symbol("V", integer=True))[u]`` is an integer), which would prove a rule's
    precondition about values the tensor's declaration does not bound."""
    out = []
    for base in sorted(expr.atoms(sp.IndexedBase), key=sp.default_sort_key):
        label = base.label
        if not (isinstance(label, sp.Symbol) and label == sp.Symbol(label.name)):
            what = declared(label) if isinstance(label, sp.Symbol) else type(label).__name__
            out.append((NAMES, f"the tensor {label} is read through a label that carries assumptions ({what}): SymPy "
                               "would give them to every entry; a tensor's label is its plain name, its domain is "
                               "declared on the TensorDecl", "", (), (), True))
    return out


def _scopes(op, steps, conclusion) -> list[list]:
    """The scopes of names: the operator's expressions (the traditional form, the steps, the sizes, the shapes and
    constraints, the conclusion's Ω, channel and neighbour, the limit section), then each definition (its
    parameters, body and shape, and the sizes)."""
    sizes = list(op.size_symbols())
    scopes = [[op.traditional, *op.constraints, *sizes, *op.lhs_indices,
               *[x for t in (*op.tensors, op.output) for x in t.shape],
               *[x for step in steps for x in (step.before, step.after)], *_expressions_of(conclusion),
               *_expressions_of(op.limit)]]
    return scopes + [[d.body, *d.params, *(d.shape or ()), *sizes] for d in _definitions(op, steps)]


def _definitions(op, steps) -> list:
    return list(op.definitions) + [d for step in steps for d in step.defines]


def _read_scope(scope) -> tuple[list, set, set]:
    """A scope's expressions, the symbols they hold outside tensor labels (a label is in the tensors' namespace) and
    the names of their undefined functions."""
    exprs = [sp.sympify(e) for e in scope]
    return (exprs, {s for e in exprs for s in variables(e)},
            {type(f).__name__ for e in exprs for f in e.atoms(AppliedUndef)})


def _name_clashes(op, steps, conclusion=()) -> list[tuple]:
    """Names that stand for two things in one scope: two symbols (sizes, indices, bound or free variables) that
    differ in their assumptions, a symbol and an undefined function, or an undefined function named like one of
    SymPy's (exp, log, Max …) or the evaluator's quotient and power. The checker reads a free symbol and a function
    by its name, so it would take one for the other (u − u′ as 0, an undefined inv(w)·w as 1); and a statement
    prints names, so it would read as a claim about another operator (a size n beside an index n). A scope is
    one of :func:`_scopes`: a definition's parameter may share a name with a variable outside it. Tensors and
    definitions are read by name in their own namespace (:func:`_unique_names`): a size K beside a kernel K is no
    clash. A tensor's label is its plain name (:func:`_labels_with_assumptions`)."""
    found, functions, symbols = [], set(), set()
    for exprs, held_symbols, called in map(_read_scope, _scopes(op, steps, conclusion)):
        things: dict[str, set] = {}
        for s in held_symbols:
            things.setdefault(s.name, set()).add(s)
        functions |= called
        found += [x for e in exprs for x in _labels_with_assumptions(e)]
        symbols |= set(things)
        for name, what in sorted(things.items()):
            if len(what) > 1:
                kinds = "; ".join(sorted(f"a symbol ({declared(w)})" for w in what))
                found.append((NAMES, f"the name {name} stands for {len(what)} things: {kinds}; the checker reads a "
                                     "name as one thing", "", (), (), True))
    for name in sorted(functions):
        if name in symbols:
            found.append((NAMES, f"the name {name} stands for 2 things: a symbol and an undefined function; the "
                                 "checker reads a name as one thing", "", (), (), True))
        if name in ("inv", "pow") or callable(getattr(sp, name, None)):   # (a class, or a function: sqrt, root)
            found.append((NAMES, f"the undefined function {name} has the name of SymPy's {name}: printed, it reads as "
                                 "that function, which it is not (name it otherwise)", "", (), (), True))
    return list(dict.fromkeys(found))


def _printed_alike(op, steps, conclusion=()) -> list[tuple]:
    """Names a reader could take one for the other (:mod:`evosym.ir.looks`): two names of one scope that print alike
    (``sigma`` and ``σ``, ``x1`` and ``x_1``, ``Alpha`` and ``A``, ``nu`` and ``v``), two tensors or definitions whose
    names or display names print alike, a scalar parameter printed by a display name alike a symbol's (its read
    prints as the name alone), a display name that reads as a number or an expression, a name that reads as the
    proof's own notation (:func:`evosym.ir.looks.reserved`: beginning with Ω or Σ, π, a function word, a power's
    superscript, no letter first; δ for a function or a tensor; i in a root of unity), and a letter outside the Latin
    and Greek alphabets (Cyrillic С beside Latin C). A statement that prints them reads as one about another
    operator: a kernel size ``sigma`` beside a stride ``σ`` prints ⌊(L − σ)/σ⌋."""
    found = []

    def refuse(problem: str):
        found.append((NAMES, problem, "", (), (), True))

    def clashes(named: dict, what: str):
        seen: dict[str, list] = {}
        for name, shown in named.items():
            for each in shown:
                seen.setdefault(each, [])
                if name not in seen[each]:
                    seen[each].append(name)
        for each, names in sorted(seen.items()):
            if len(names) > 1:
                refuse(f"the {what} {' and '.join(sorted(names))} print alike (as {each}): a printed statement would "
                       "not say which is which; rename one")

    def one_name(name: str, what: str, shown=None):
        """The problems of one name alone: letters outside Latin and Greek, notation (``shown``: its look)."""
        if looks.foreign_letters(name):
            refuse(f"the {what} {name} has letters outside the Latin and Greek alphabets "
                   f"({looks.foreign_letters(name)}): printed, it could be taken for another name; write names in "
                   "Latin or Greek letters")
        why = looks.reserved(shown if shown is not None else name)
        if why:
            refuse(f"the {what} {name} is {why}; rename it")
        elif shown is None and what in ("name", "tensor") and looks.display_problem(name, None):
            refuse(f"the {what} {name!r} does not read as a name: printed, it reads as an expression or a power "
                   "(a letter first, then letters, digits, _ and primes); rename it")

    tensors = [*op.tensors, op.output, *_definitions(op, steps)]
    scalars = {f"{t.name}[0]": {looks.look(t.text) if t.text else None, looks.latex_look(t.latex) if t.latex else None}
               - {None} for t in op.tensors if t.shape == (1,) and (t.text or t.latex)}
    scopes = [_read_scope(scope) for scope in _scopes(op, steps, conclusion)]
    # the imaginary unit, which a printed root of unity shows as i: no name looks like it in such an exponent
    # (e^(2πi·i·k/L) for a DFT's index i)
    held = {n for exprs, _, _ in scopes for e in exprs for a in e.atoms(sp.exp) if a.args[0].has(sp.I)
            for n in map(str, variables(a.args[0])) if looks.look(n) in looks.CONSTANTS_HELD}
    for _, symbols, functions in scopes:
        names = {s.name for s in symbols}
        clashes({n: {looks.look(n)} for n in names | functions} | scalars, "names")
        for n in sorted(names | functions):
            one_name(n, "name")
            if n in held:
                refuse(f"the name {n} prints as {looks.CONSTANTS_HELD[looks.look(n)]} in a root of unity e^(2πi·…) "
                       "that reads it; rename it")
        for f in sorted(functions):
            if looks.look(f) in looks.RESERVED_FUNCTIONS:
                refuse(f"the undefined function {f} prints as {looks.look(f)}(…), which is "
                       f"{looks.RESERVED_FUNCTIONS[looks.look(f)]} in every printed proof; rename it")
            elif looks.look(f) in looks.FUNCTION_LETTERS or f.lower() in looks.FUNCTION_WORDS:
                shown = looks.FUNCTION_LETTERS.get(looks.look(f)) or f"the function {f.lower()}"
                refuse(f"the undefined function {f} prints as {looks.look(f)}(…), which reads as {shown} (the "
                       "checker takes it for an opaque function defined everywhere); rename it")
    clashes({t.name: {looks.look(t.text or t.name)} for t in tensors}, "tensors")
    clashes({t.name: {looks.latex_look(t.latex) if t.latex else looks.look(t.name)} for t in tensors},
            "tensors (in LaTeX)")
    for t in tensors:
        one_name(t.name, "tensor")
        if {looks.look(t.text or t.name), looks.latex_look(t.latex or t.name)} & set(looks.RESERVED_FUNCTIONS):
            refuse(f"the tensor {t.name} prints as δ, which is the Kronecker delta δ(a, b) in every printed proof; "
                   "rename it")
        if t.text:
            one_name(t.text, f"text display name of {t.name},")
        if t.latex:
            one_name(t.latex, f"LaTeX display name of {t.name},", looks.latex_look(t.latex))
        why = looks.display_problem(t.text, t.latex)
        if why:
            refuse(f"the tensor {t.name}: {why}")
    return list(dict.fromkeys(found))


# -- all together ----------------------------------------------------------------------------------

def check_premises(proof, grid) -> Premises:
    """Every premise of ``proof`` (see the module docstring) at the grid shapes ``grid``."""
    op = proof.operator
    sizes = set(op.size_symbols())
    outputs = set(op.lhs_indices)
    found: list[tuple] = []   # (premise, problem, where, steps, limit steps, everywhere)
    for s in op.size_symbols():
        if not isinstance(s, sp.Symbol) or s.is_integer is not True:
            what = declared(s) if isinstance(s, sp.Symbol) else type(s).__name__
            found.append((SIZES, f"the size {s} is not an integer symbol ({what})", "", (), (), True))
        elif any(k in getattr(s, "_assumptions_orig", {}) for k in _PARITY) and _stated(_without_parity(s)):
            found.append((SIZES, f"the size {s} is declared {declared(s)}: evosym does not reason with even= or odd= "
                                 "(SymPy's assumptions draw false conclusions from them: R/6 an integer for an even R); "
                                 f"declare a size {s}_half and write 2·{s}_half (or 2·{s}_half + 1) where {s} is read",
                          "", (), (), True))
        elif not _stated(s):
            found.append((SIZES, f"the size {s} is declared {declared(s)}, a domain the proof does not state "
                                 "(allowed: integer=True, plus one of positive, nonnegative, negative, nonpositive "
                                 "and any of prime, composite)", "", (), (), True))
    if len(outputs) != len(op.lhs_indices):
        found.append((BINDERS, f"the output indices {', '.join(map(str, op.lhs_indices))} repeat", "", (), (), True))
    for s, lo, hi in op.lhs_ranges():
        why = f"the output index {s} is a size" if s in sizes else binder_problem(s, lo, hi, f"the output index {s}")
        if why:
            found.append((BINDERS, why, "", (), (), True))
    for d in op.definitions:
        found += _definition(d, sizes, outputs, "")
    found += _expression(op.traditional, "the traditional form", sizes, outputs, (0,) if proof.steps else (), True)
    for k, step in enumerate(proof.steps):
        for side, e in (("before", step.before), ("after", step.after)):
            found += _expression(e, f"step {k + 1} ({step.rule}), {side}", sizes, outputs, (k,), False)
        for d in step.defines:
            found += _definition(d, sizes, outputs, f"step {k + 1} ({step.rule}), which defines {d.name}", (k,))
    conclusion = (proof.omega, proof.channel, proof.neighbour)
    found += (_unique_names(op, proof.steps) + _name_clashes(op, proof.steps, conclusion)
              + _printed_alike(op, proof.steps, conclusion))
    violations = _grid(op, grid, sizes)
    return Premises(tuple(_merge(found)) + tuple(violations), () if violations else tuple(grid), len(grid))
