"""The search driver: tactics that propose ordinary rule applications, tried strictly first.

Each tactic reads the expression's structure and proposes the next rule instance with its
arguments: unfold what lies on the value path (renaming bound variables that would clash),
split sums over additions, let softmax weights sum to one, gather each read of the value tensor
into one nest of sums (move factors in, pin computed indices with Kronecker deltas, split
channels into groups, exchange sums until the aggregation variables are outermost, factor the
read out), merge aggregations of the same input, name the kernel and infer Ω. A first pass takes
only steps whose every precondition SymPy proves (general steps); a second pass also accepts
steps whose preconditions are left to the bounded checks. The search is untrusted: the result is
an ordinary derivation that :meth:`Proof.check` re-checks like any hand-written one.
"""

from __future__ import annotations

import time

import sympy as sp

from ..errors import EvosymError, OperatorFileError
from ..ir.looks import latex_look, look
from ..proof.derivation import Derivation
from ..proof.tree import bound_variables
from .aggregation import Aggregation
from .failure import SearchFailed, Stuck
from .nests import frequency_domain
from .unfolding import Unfolding
from .valuepath import degree

MAX_STEPS = 200


def complete(d: Derivation, *, seconds: float = 120.0) -> None:
    """Append to ``d`` the steps that reach the Evolution form, and its conclusion. A file that cannot be
    searched as written (no value tensor, sums that reuse a variable, already concluded) is an
    :class:`OperatorFileError`; a search that finds nothing is :class:`SearchFailed`."""
    if d._conclusion is not None:
        raise OperatorFileError(f"{d.operator.name}: d.auto() after d.conclude(…): the derivation is already concluded "
                           "(leave out one of them)")
    if d.steps and d.steps[-1].rule == "name-kernel":
        raise OperatorFileError(f"{d.operator.name}: d.auto() after name-kernel: the kernel is already named, so only "
                           "d.conclude(omega=…, channel=…, neighbour=…) is left (or leave out name-kernel and let "
                           "the search finish)")
    if d.operator.value not in {t.name for t in d.operator.tensors}:
        raise OperatorFileError(f"{d.operator.name}: the value tensor {d.operator.value!r} is not one of the operator's "
                           f"tensors ({', '.join(t.name for t in d.operator.tensors)}); name it with Operator(value=…)")
    duplicated = _rebound(d.expr)
    if duplicated:
        raise OperatorFileError(f"{d.operator.name}: the expression binds {', '.join(duplicated)} in more than one sum; "
                           "rules address a sum by the variable it binds, so give each sum its own variables")
    deadline = time.monotonic() + seconds
    failures = []
    for lenient in (False, True):
        s = Search(_fork(d), lenient, deadline)
        try:
            s.run()
            s.verify()
        except Stuck as exc:
            failures.append((s, str(exc)))
            continue
        d.expr, d.steps, d.definitions = s.d.expr, s.d.steps, s.d.definitions
        d._conclusion = s.d._conclusion
        return
    s, reason = failures[-1]
    raise SearchFailed(_report(d, s, reason))


def _report(start: Derivation, s: "Search", reason: str) -> str:
    done = len(s.d.steps) - len(start.steps)
    rules = ", ".join(st.rule for st in s.d.steps[len(start.steps):]) or "none"
    return (f"proof search for {start.operator.name} found no Evolution form: {reason}. It got {done} step(s) "
            f"far ({rules}); the closest expression reached is {s.d.expr}")


def _rebound(expr) -> list[str]:
    """Variables bound by more than one sum of ``expr``."""
    seen = bound_variables(expr)
    return sorted({str(v) for v in seen if seen.count(v) > 1})


def _fork(d: Derivation) -> Derivation:
    new = Derivation.__new__(Derivation)
    new.operator, new.expr, new.steps = d.operator, d.expr, list(d.steps)
    new.definitions, new._conclusion = dict(d.definitions), d._conclusion
    return new


class Search(Unfolding, Aggregation):
    """One attempt: the tactics in order on a fork of the derivation (see the module docstring)."""

    def __init__(self, d: Derivation, lenient: bool, deadline: float):
        op = d.operator
        self.d, self.lenient, self.deadline = d, lenient, deadline
        self.op, self.value = op, op.value
        self.shape = op.tensor(op.value).shape
        lhs = list(op.lhs_indices)
        if len(self.shape) != len(lhs):
            raise Stuck(f"the value tensor {op.value} has {len(self.shape)} axes and the output {len(lhs)}: the "
                         "search reads v's axes in the output's layout")
        self.batch_axis = lhs.index(op.batch)
        self.channel_axis = lhs.index(op.out_channel)
        self.position_axes = [lhs.index(p) for p in op.position]
        self.opaque = frozenset()   # definitions affine in v that stay folded inside K
        self.pins: list[dict] = []     # per aggregated term: axis → (pinned expression, tap ranges) or None

    # -- steps ---------------------------------------------------------------------------
    def apply(self, rule, **args):
        if time.monotonic() > self.deadline:
            raise Stuck("the time budget ran out")
        if len(self.d.steps) > MAX_STEPS:
            raise Stuck(f"more than {MAX_STEPS} steps")
        before = (self.d.expr, list(self.d.steps), dict(self.d.definitions))
        try:
            self.d.apply(rule, **args)
        except Exception as exc:   # a rule refusing the proposal: this tactic cannot go on
            self.d.expr, self.d.steps, self.d.definitions = before
            raise Stuck(f"{rule} refused ({exc})") from None
        twice = _rebound(self.d.expr)
        if twice:
            self.d.expr, self.d.steps, self.d.definitions = before
            raise Stuck(f"{rule} would bind {', '.join(twice)} in two sums")
        unproved = [o for o in self.d.steps[-1].obligations if not o.proved]
        if unproved and not self.lenient:
            self.d.expr, self.d.steps, self.d.definitions = before
            raise Stuck(f"{rule}: SymPy cannot prove that {unproved[0].render()[0]}")

    def fresh(self, base: str) -> sp.Symbol:
        """A new variable named after ``base`` that looks like none of the proof's names (``m_1`` beside a user's
        ``m1``, or ``m`` beside a scalar parameter displayed m, would fail the premise that names print apart)."""
        taken = {str(s) for s in bound_variables(self.d.expr)} | {str(s) for s in self.d.expr.free_symbols}
        taken |= {str(s) for s in self.op.size_symbols()} | {str(s) for s in self.op.lhs_indices}
        taken |= {t.text or t.latex for t in self.op.tensors if t.shape == (1,) and (t.text or t.latex)}
        shown = {look(n) for n in taken} | {latex_look(t.latex) for t in self.op.tensors if t.shape == (1,) and t.latex}
        k = 0
        while True:
            name = base if k == 0 else f"{base}_{k}"
            if name not in taken and look(name) not in shown:
                return sp.Symbol(name, integer=True)
            k += 1

    # -- the plan ------------------------------------------------------------------------
    def run(self):
        if frequency_domain(self.d.expr):
            self.transforms()
        self.unfold_value_path()
        self.split_additions()
        self.drop_softmax_terms()
        for term in sp.Add.make_args(self.d.expr):
            if degree(term, self.value, self.d.definitions, opaque=self.opaque) is None:
                raise Stuck(f"the term {term} is not linear in the value tensor {self.value} (it multiplies reads of "
                             f"{self.value} or puts them under a non-linear function), and an Evolution form is linear "
                             "in v")
        while (r := self.next_read()) is not None:
            self.aggregate(r)
        self.merge()
        self.name_kernel()
        self.conclude()

    def reads(self):
        return sorted((r for r in self.d.expr.atoms(sp.Indexed) if str(r.base.label) == self.value),
                      key=sp.default_sort_key)

    def verify(self):
        """The search's own test of its guess before handing it over: the form matches and supp K = Ω
        at the grid's shapes (the checker repeats both; this only makes a wrong guess a search failure)."""
        from ..proof.support import check_support
        proof = self.d.proof()
        try:
            form = proof.match()
        except EvosymError as exc:
            raise Stuck(f"the result is not an Evolution form ({exc})") from None
        if self.op.grid:
            res = check_support(self.op, form, proof.definitions(), self.op.grid)
            if not res.ok:
                raise Stuck(f"the kernel's support is not the inferred Ω ({res.message}"
                             + (f"; {res.counterexample.text()}" if res.counterexample else "") + ")")

    def _reads_v(self, e) -> bool:
        return any(str(r.base.label) == self.value for r in e.atoms(sp.Indexed)) or \
            degree(e, self.value, self.d.definitions, opaque=self.opaque) not in (0,)
