"""Every division a step holds is by a value proved non-zero, and every partial function is read where it is
defined, or the step is not labelled general.

A rule's identity is computed in SymPy's arithmetic of fractions: ``a·Σ_∅ f = Σ_∅ a·f`` and ``x/x = 1`` are
identities there, yet at a size where a divisor is 0 one side is undefined and the other a number. So an identity
between expressions that divide holds for all sizes only where no divisor vanishes: an operator that averages over
a bin [⌊i·L/L_o⌋, ⌈(i+1)·L/L_o⌉) is undefined at L = 0, and a proof that widens L's domain to include 0 must not
print "valid for all sizes". Likewise a function with poles (log 0, tan π/2, Γ(0)) or a restricted domain (the
Möbius function of a non-integer). :func:`divisor_obligations` gives an unproved obligation for each divisor (the
base of a power whose exponent may be negative, the modulus of a remainder) and each such application in a step's
expressions, or in the definitions they read (at each read, with the definition's own sums held to well-formed
ranges), that the small prover here does not show defined at every value of the indices in their ranges and every
size in its domain; such a step is checked at the grid shapes (where the evaluator refuses a division by 0 and a
pole).

The prover shows ``d > 0`` (or ``−d > 0``, or a product or integer power of non-zero factors) from: positive numbers
and sizes; sums of non-negative terms one of which is positive; products and powers of positive values; exp of a
real value; a sum whose range is non-empty with a positive summand; a count Σ_w [a ≤ w + c ≤ b] whose window meets
the summed range (lo ≤ hi, a ≤ b, a ≤ hi + c and lo + c ≤ b); a sum of non-negative terms with a key that passes
every bracket (:func:`.softmax.visible_key`) or an indicator's premise (:func:`.softmax.visible_by_premise`); reads
of definitions through their bodies (a definition that reads itself is not looked into: not proved); integer values
whose range starts at 1 (:mod:`..ranged`). Nothing is proved of an expression that holds a float (SymPy rounds
their arithmetic, also where a definition's body is read at an index). A guard δ(0, a mod b) around a Möbius
function of a/b makes it an integer there: the checker's products are 0 where a guard is, without reading the
factors after it (the evaluator's strong zero).

The same walk gives each read of a tensor or a definition its obligation to lie inside the shape (proved by
:class:`.inshape.ShapeProver`): a shaped definition may be read outside its shape only where its body's top-level
guards vanish there, an unshaped one only at integer indices; a definition's body is walked as the evaluator
compiles it (unevaluated), its sums renamed apart from the indices ranged around the read.
"""

from __future__ import annotations

import sympy as sp
from sympy.core.function import AppliedUndef

from ...ir.looks import fresh
from ...ir.symbols import INTEGER_ONLY, InRange
from ...ir.tensors import INDICATORS
from ..signs import number_sign, proved_nonnegative, proved_positive
from ..ranged import at_least, nonnegative_over, slacks, too_large
from ..tree import bound_variables
from . import softmax
from .base import Context, Obligation, range_obligations
from .inshape import ShapeProver, condition_hypotheses, guard_hypotheses
from .softmax import real_valued, visible_by_premise

MAX_DEPTH = 24       # reads of definitions followed inside one another before the prover gives up (not proved)
MAX_VISITS = 20_000  # nodes one walk or one proof visits before it gives up (not proved): a budget, not a verdict
MAX_NESTING = 60     # proofs inside one another (a read of a read of …) before it gives up (not proved)
MAX_MEMO = 50_000    # expressions kept by the process-wide memos below before they start again
_EVALUATED: dict = {}   # an expression read unevaluated → evaluated (:func:`_evaluated`)
_BODIES: dict = {}      # (body, parameters, read, ranges, evaluate) → the body at the read (:meth:`Prover._body`)

# functions with a value at every argument the checker evaluates (an undefined function is opaque: its own atom)
TOTAL = (sp.exp, sp.sin, sp.cos, sp.sinh, sp.cosh, sp.Abs, sp.KroneckerDelta, InRange, sp.conjugate, sp.re, sp.im,
         sp.sign)
# and those the evaluator computes of rational arguments only (⌊√2⌋ is refused there: exact integer arithmetic)
RATIONAL_TOTAL = (sp.floor, sp.ceiling, sp.frac)
# and those with a value at every real argument (tanh has poles at iπ/2 + iπk, atan at ±i)
REAL_TOTAL = (sp.tanh, sp.erf, sp.erfc, sp.atan, sp.asinh)
# numbers whose sign the prover's rules may show from their parts where the float bound cannot (exp(−1000) > 0)
_STRUCTURED = (sp.Add, sp.Mul, sp.Pow, sp.exp, sp.cosh, sp.Abs, sp.Max, sp.Min)


def divisor_obligations(exprs, ranges: dict, ctx: Context) -> tuple:
    """An unproved obligation for each divisor, partial function and unread definition of ``exprs`` (pairs of an
    expression and the known ranges of its free variables, added to ``ranges``) not proved defined; none where every
    one is proved."""
    prover = Prover(ctx)
    found: dict = {}
    for e, known in exprs:
        for kind, item, where, facts in prover.walk(e, {**ranges, **known}):
            item = _evaluated(item) if kind != "range" else item
            if (kind, item) in found:
                continue
            if kind == "divides" and not prover.nonzero(item, where):
                found[kind, item] = Obligation(
                    "{} ≠ 0 wherever it divides, for every size in its domain", False,
                    "not proved symbolically (a division by 0 is undefined: checked at the grid shapes)", (item,))
            elif kind == "function" and not prover.defined(item, where, facts):
                found[kind, item] = Obligation(
                    "{} is defined wherever it is read, for every size in its domain", False,
                    "not proved symbolically (a pole or an argument outside the function's domain is undefined: "
                    "checked at the grid shapes)", (item,))
            elif kind == "reads" and prover._shape(item) is None and not prover.shapes.integral(item, where, facts[1]):
                found[kind, item] = Obligation(
                    "the read {} is at integer indices, for every size in its domain", False,
                    "not proved symbolically (a definition has no value between its integer entries: checked at the "
                    "grid shapes)", (item,))
            elif kind == "reads" and prover._shape(item) is not None and \
                    not prover.shapes.inside(item, prover._shape(item), where, *facts):
                found[kind, item] = Obligation(
                    "the read {} lies inside {}'s shape {}, for every size in its domain", False,
                    "not proved symbolically (a read outside a shape has no value: checked at the grid shapes)",
                    (item, item.base.label, sp.Tuple(*prover._shape(item))))
            elif kind == "unread":
                found[kind, item] = Obligation(
                    "{} is defined wherever it is read, for every size in its domain", False,
                    "not looked into (a definition that reads itself, reads nested deeper than "
                    f"{MAX_DEPTH}, or an expression larger than the walk's budget): checked at the grid shapes", (item,))
            elif kind == "range":
                for ob in item:
                    found.setdefault(("range", ob.args), ob)
    return tuple(found.values())


def nonzero(e, ranges: dict, ctx: Context) -> bool:
    """True only if ``e ≠ 0`` at every value of the indices in ``ranges`` and every size in its domain."""
    return Prover(ctx).nonzero(sp.sympify(e), ranges)


class Prover:
    """The walk and the proofs of one obligation check: ``ctx``'s definitions, tensors and constraints, with its
    answers kept (a definition read at many places is proved once per read and ranges) and a budget of visits."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.slacks = slacks(ctx.constraints, ctx.sizes)
        self.shapes = ShapeProver(self.slacks)
        self.memo: dict = {}
        self.visits = 0
        self.nesting = 0   # proofs in progress inside one another (|x| of a read of a definition that reads |…|)

    def _spend(self) -> bool:
        self.visits += 1
        return self.visits <= MAX_VISITS

    def _body(self, read, ranges=None, evaluate: bool = True):
        """The body of the definition ``read`` reads, at its indices, without capture: a summation variable of the
        body that the indices, the indices ranged around the read or their bounds hold is renamed first (primed
        apart from every name there, its assumptions kept, so an obligation prints it as a name). With
        ``evaluate=False`` the indices are put in without SymPy's simplification (T[N]·(T[N] − T[N]) is not 0: the
        evaluator compiles the body as written, and reads T[N] there)."""
        d = self.ctx.definitions[str(read.base.label)]
        key = (d.body, tuple(d.params), read, frozenset((ranges or {}).items()), evaluate)
        if key not in _BODIES:
            _keep(_BODIES, key, self._at(d, read, ranges, evaluate))
        return _BODIES[key]

    @staticmethod
    def _at(d, read, ranges, evaluate: bool):
        """:meth:`_body` computed."""
        reads = set().union(*(sp.sympify(i).free_symbols for i in read.indices))
        for v, (lo, hi) in (ranges or {}).items():
            reads |= {v} | sp.sympify(lo).free_symbols | sp.sympify(hi).free_symbols
        clash = [v for v in dict.fromkeys(bound_variables(d.body)) if v in reads]
        body = d.body
        if clash:
            taken = {str(x) for x in d.body.free_symbols | reads | set(bound_variables(d.body))}
            rename = {}
            for v in clash:
                rename[v] = sp.Symbol(fresh(str(v), taken), **v.assumptions0)
                taken.add(str(rename[v]))
            body = body.xreplace(rename)
        with sp.evaluate(evaluate):
            return body.xreplace(dict(zip(d.params, read.indices)))

    def _defines(self, e) -> bool:
        return isinstance(e, sp.Indexed) and str(e.base.label) in self.ctx.definitions

    # -- the walk ---------------------------------------------------------------------------------------------------

    def walk(self, expr, ranges: dict) -> list[tuple]:
        """(kind, item, ranges where it is read, divisibility guards around it) for each division ("divides": its
        divisor), partial function ("function"), definition read not looked into ("unread") and set of ill-formed
        ranges in a definition's body ("range": their obligations) in ``expr`` and the definitions it reads.

        A guard δ(0, a mod b) of a product around an application says that b divides a there."""
        out: list = []

        def go(e, known, path, facts, hyps):
            if not self._spend():
                out.append(("unread", e, known, facts))
                return
            if isinstance(e, sp.Sum):
                inner = dict(known)
                for var, lo, hi in reversed(e.limits):   # outermost first
                    go(lo, inner, path, facts, hyps)
                    go(hi, inner, path, facts, hyps)
                    inner[var] = (lo, hi)
                    facts = tuple(q for q in facts if not q.has(var))   # a guard's fact is of the variable it read
                    hyps = tuple(h for h in hyps if not h.has(var))
                go(e.function, inner, path, facts, hyps)
                return
            outer = hyps, facts   # a guard's own arguments are read before the product's other guards protect anything
            if isinstance(e, sp.Mul):
                facts = facts + tuple(q for q in map(_divides, e.args) if q is not None)
                hyps = hyps + tuple(h for g in e.args for h in guard_hypotheses(g))
            if isinstance(e, sp.Indexed) and (self._shape(e) is not None or self._defines(e)):
                out.append(("reads", e, known, (hyps + self._vanishes_outside(e), facts)))
            if isinstance(e, sp.Pow) and not proved_nonnegative(e.exp):   # 1/d, and d^n with n of either sign
                out.append(("divides", e.base, known, facts))
            elif isinstance(e, sp.Mod):
                out.append(("divides", e.args[1], known, facts))
            elif isinstance(e, (sp.Function, sp.Max, sp.Min)) and not isinstance(e, (AppliedUndef, *TOTAL)):
                out.append(("function", e, known, facts))
                if isinstance(e, sp.Piecewise):   # a branch is read only where its condition holds
                    for branch, cond in e.args:
                        go(cond, known, path, facts, hyps)
                        go(branch, known, path, facts, hyps + condition_hypotheses(cond))
                    return
            elif self._defines(e):
                name = str(e.base.label)
                if name in path or len(path) >= MAX_DEPTH:
                    out.append(("unread", e, known, facts))
                else:
                    body = self._body(e, known, evaluate=False)
                    ranges_ok = range_obligations([(_evaluated(body), {})], known)   # its own sums: well-formed
                    if ranges_ok:
                        out.append(("range", ranges_ok, known, facts))
                    go(body, known, path | {name}, facts, hyps)
            if isinstance(e, sp.Basic):
                for a in e.args:
                    if isinstance(a, (InRange, sp.KroneckerDelta)):
                        go(a, known, path, outer[1], outer[0])
                    else:
                        go(a, known, path, facts, hyps)
        go(sp.sympify(expr), dict(ranges), frozenset(), (), ())
        return out

    def _vanishes_outside(self, read) -> tuple:
        """For a read of a definition with a shape, the hypotheses of its body's guards there: the evaluator reads
        such a definition outside its shape where its body is 0 (a zero-padded projection), so a read is defined
        where those guards place it inside (none where its parameters carry assumptions: no read outside then)."""
        d = self.ctx.definitions.get(str(read.base.label))
        if d is None or not all(p.assumptions0 == INTEGER_ONLY for p in d.params):
            return ()
        return tuple(h for g in sp.Mul.make_args(self._body(read)) for h in guard_hypotheses(g))

    def _shape(self, read):
        """The shape a read's indices must lie in: its tensor's, or its definition's where it declares one."""
        name = str(read.base.label)
        if name in self.ctx.definitions:
            return self.ctx.definitions[name].shape
        decl = self.ctx.tensors.get(name)
        return None if decl is None else decl.shape

    # -- the proofs -------------------------------------------------------------------------------------------------

    def defined(self, f, ranges: dict, facts=()) -> bool:
        """A partial function proved defined where it is read: log of a non-zero value, the Möbius function of a
        positive integer (an integer by its symbols, or one an integer away from a quotient a/b that a guard around it
        says is an integer), max, min, the step and the real functions of real values (Max(i, 0) has no value)."""
        if isinstance(f, sp.log) and len(f.args) == 1:
            return self.nonzero(f.args[0], ranges)
        if isinstance(f, (*REAL_TOTAL, sp.Max, sp.Min, sp.Heaviside)):   # (no order off the real line; the step's
            args = f.args[:1] if isinstance(f, sp.Heaviside) else f.args   # second argument is its value at 0)
            return all(real_valued(a, self.ctx) for a in args)
        if isinstance(f, RATIONAL_TOTAL):
            return f.args[0].is_rational is True
        if isinstance(f, sp.Piecewise):   # defined where a condition holds: everywhere when the last is True
            return f.args[-1].cond == sp.true
        if isinstance(f, sp.mobius):
            n = f.args[0]
            integer = n.is_integer is True or any(sp.cancel(n - q).is_integer is True for q in facts)
            return integer and self.positive(n, ranges)
        return False

    def nonzero(self, e, ranges: dict) -> bool:
        if self.positive(e, ranges) or self.positive(-e, ranges):
            return True
        if isinstance(e, sp.Mul):
            return all(self.nonzero(f, ranges) for f in e.args)
        if isinstance(e, sp.Pow) and e.exp.is_Integer and e.exp > 0:
            return self.nonzero(e.base, ranges)
        return False

    def positive(self, e, ranges: dict, path=frozenset()) -> bool:
        """True only if ``e > 0`` (a real number) at every value of the indices in ``ranges`` and every size."""
        return self._kept("positive", e, ranges, path)

    def nonnegative(self, e, ranges: dict, path=frozenset()) -> bool:
        """True only if ``e ≥ 0`` (a real number) at every value of the indices in ``ranges`` and every size."""
        return self._kept("nonnegative", e, ranges, path)

    def _kept(self, kind, e, ranges, path) -> bool:
        e = sp.sympify(e)
        key = (kind, e, frozenset(ranges.items()), path)
        if key not in self.memo:
            self.memo[key] = False   # (while it is being proved: a cycle proves nothing)
            if self._spend() and len(path) <= MAX_DEPTH and self.nesting < MAX_NESTING and not too_large(e) \
                    and not e.has(sp.Float):   # (SymPy rounds the arithmetic of floats: 0.75·345 at 10 bits)
                self.nesting += 1
                try:
                    self.memo[key] = (self._positive if kind == "positive" else self._nonnegative)(e, ranges, path)
                finally:
                    self.nesting -= 1
        return self.memo[key]

    def _read(self, e, path):
        """(the body a definition read stands for, the path with it), or None where it reads itself."""
        name = str(e.base.label)
        return None if name in path else (self._body(e), path | {name})

    def _positive(self, e, ranges, path) -> bool:
        if e.is_number:   # (its sign by its float bound, never SymPy's: −(log r + log(1/r)), 0, is positive to it)
            sign = number_sign(e)
            if sign == 1 or not isinstance(e, _STRUCTURED):
                return sign == 1
        if isinstance(e, sp.Symbol):
            return e.is_positive is True or (e.is_integer is True and at_least(e, 1, ranges, self.slacks))
        if isinstance(e, sp.Add):
            if not e.is_number and e.is_integer is True and at_least(e, 1, ranges, self.slacks):
                return True
            return all(self.nonnegative(a, ranges, path) for a in e.args) and \
                any(self.positive(a, ranges, path) for a in e.args)
        if isinstance(e, sp.Mul):
            return all(self.positive(a, ranges, path) for a in e.args)
        if isinstance(e, sp.Pow):
            return self.positive(e.base, ranges, path) and real_valued(e.exp, self.ctx)
        if isinstance(e, (sp.exp, sp.cosh)):
            return real_valued(e.args[0], self.ctx)
        if isinstance(e, sp.Abs):
            return self.nonzero(e.args[0], ranges) and real_valued(e.args[0], self.ctx)
        if isinstance(e, sp.Max):
            return any(self.positive(a, ranges, path) for a in e.args) and \
                all(real_valued(a, self.ctx) for a in e.args)
        if isinstance(e, sp.Min):
            return all(self.positive(a, ranges, path) for a in e.args)
        if self._defines(e):
            read = self._read(e, path)
            return read is not None and self.positive(read[0], ranges, read[1])
        if isinstance(e, sp.Sum):
            return self._positive_sum(e, ranges, path)
        if not e.is_number and e.is_integer is True:
            return at_least(e, 1, ranges, self.slacks)
        return False

    def _nonnegative(self, e, ranges, path) -> bool:
        if e.is_number and number_sign(e) in (0, 1):
            return True
        if self.positive(e, ranges, path):
            return True
        if isinstance(e, (InRange, sp.KroneckerDelta)):
            return True
        if self._defines(e):
            read = self._read(e, path)
            return read is not None and self.nonnegative(read[0], ranges, read[1])
        if isinstance(e, sp.Indexed):
            decl = self.ctx.tensors.get(str(e.base.label))
            return decl is not None and (decl.domain == "nonnegative" or decl.domain in INDICATORS)
        if isinstance(e, (sp.Add, sp.Mul)):
            return all(self.nonnegative(a, ranges, path) for a in e.args)
        if isinstance(e, sp.Pow):
            if e.exp.is_Integer and e.exp.is_even and e.exp > 0:
                return real_valued(e.base, self.ctx)
            return proved_positive(e.exp) and self.nonnegative(e.base, ranges, path) and \
                real_valued(e.exp, self.ctx)
        if isinstance(e, (sp.exp, sp.Abs)):
            return real_valued(e.args[0], self.ctx)
        if isinstance(e, sp.Sum):   # a backwards range (hi < lo − 1) sums with the sign turned: not proved
            return self._well_formed(e, ranges) and self.nonnegative(e.function, _within(e, ranges), path)
        if not e.is_number and e.is_integer is True:
            return at_least(e, 0, ranges, self.slacks)
        return False

    def _positive_sum(self, e: sp.Sum, ranges: dict, path) -> bool:
        """Σ > 0: every term ≥ 0 and one proved > 0 (a non-empty range of positive terms, a key passing every
        bracket, an indicator's premise, or a window of a count meeting the range)."""
        if not self._well_formed(e, ranges):
            return False
        inner = _within(e, ranges)
        f = e.function
        while self._defines(f):   # a summand that reads a definition (E[…] := G·exp(ℓ)) is its body there
            read = self._read(f, path)
            if read is None:
                return False
            f, path = read
        if not self.nonnegative(f, inner, path):
            return False
        nonempty = all(nonnegative_over(hi - lo, {**ranges, **{v: r for v, r in inner.items() if v != var}},
                                        self.slacks) for var, lo, hi in e.limits)
        if nonempty and self.positive(f, inner, path):
            return True
        factors = sp.Mul.make_args(f)
        guards = [g for g in factors if isinstance(g, InRange) or self._indicator_read(g)]
        rest = sp.Mul(*[g for g in factors if g not in guards])
        if not guards or not self.positive(rest, inner, path):
            return False
        limits = [(var, lo, hi) for var, lo, hi in reversed(e.limits)]
        if all(isinstance(g, InRange) for g in guards):
            if len(limits) == 1 and len(guards) == 1 and self._window_meets(guards[0], limits[0], ranges):
                return True
            return softmax.visible_key(guards, limits, ranges) is not None   # (the softmax rule's lemma, one copy)
        return visible_by_premise(guards, limits, ranges, self.ctx) is not None

    def _well_formed(self, e: sp.Sum, ranges: dict) -> bool:
        """Every range of the sum proved hi ≥ lo − 1 (SymPy reads a backwards one as minus the sum between)."""
        inner = dict(ranges)
        for var, lo, hi in reversed(e.limits):
            if not nonnegative_over(hi - lo + 1, inner, self.slacks):
                return False
            inner[var] = (lo, hi)
        return True

    def _indicator_read(self, g) -> bool:
        decl = self.ctx.tensors.get(str(g.base.label)) if isinstance(g, sp.Indexed) else None
        return decl is not None and decl.domain in INDICATORS and decl.role == "input"

    def _window_meets(self, g: InRange, limit, ranges: dict) -> bool:
        """Σ_{w=lo}^{hi} [a ≤ w + c ≤ b] ≥ 1: the keys w with max(lo, a − c) ≤ w ≤ min(hi, b − c) exist when lo ≤ hi,
        a ≤ b, a ≤ hi + c and lo + c ≤ b (c free of w), for every value of the indices in ``ranges``."""
        w, lo, hi = limit
        t, a, b = g.args
        c = sp.expand(t - w)
        if c.has(w) or a.has(w) or b.has(w) or not all(x.is_integer for x in (t, a, b, lo, hi)):
            return False
        return all(nonnegative_over(x, ranges, self.slacks) for x in (hi - lo, b - a, hi + c - a, b - c - lo))


def _within(e: sp.Sum, ranges: dict) -> dict:
    """``ranges`` with the sum's own variables ranging over its limits."""
    inner = dict(ranges)
    for var, lo, hi in reversed(e.limits):
        inner[var] = (lo, hi)
    return inner


def _evaluated(e):
    """``e`` with SymPy's simplification applied again (the walk reads definition bodies unevaluated); kept per
    expression (a function of its structure and its symbols' assumptions alone)."""
    if not isinstance(e, sp.Basic) or not e.args:
        return e
    done = _EVALUATED.get(e)
    if done is None:
        done = e.func(*[_evaluated(a) for a in e.args])
        _keep(_EVALUATED, e, done)
    return done


def _keep(memo: dict, key, value) -> None:
    """``memo[key] = value``, the memo started again past :data:`MAX_MEMO` entries."""
    if len(memo) > MAX_MEMO:
        memo.clear()
    memo[key] = value


def _divides(g):
    """a/b for a guard δ(0, a mod b) (b divides a: a/b is an integer where the guard is 1), else None."""
    if isinstance(g, sp.KroneckerDelta) and len(g.args) == 2:
        x, y = g.args
        m = y if x == 0 else x if y == 0 else None
        if isinstance(m, sp.Mod):
            return m.args[0] / m.args[1]
    return None
