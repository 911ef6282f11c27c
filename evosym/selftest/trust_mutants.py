"""Mutants of the checker itself: each disables exactly one fix of a hole through which the checker once
printed PROVED for a false claim, and runs a hostile example of that hole.

A mutant is killed when the hostile example gets through the mutated checker (it reports PROVED, or it
labels general a step that a witness refutes) while the real checker refuses it: so the self-test shows
that each fix is what stands between the hostile input and a false PROVED. If the real checker accepts
the example, the fix is missing and the mutant survives; if the mutated one refuses it too, the mutation
disabled nothing that matters and the mutant survives. Every mutation is a ``unittest.mock.patch`` (or,
for the process boundary, another code path) inside a ``with``: it is undone whatever happens.

This module holds the holes in the premises, the evaluator and the rules (1–4, 6, 9, 11, 12), with small operators
written here; :mod:`.trust_conclusion_mutants` those in the conclusion's checks and the process boundary
(5, 7, 8, 10). The holes are numbered as in ``tests/test_premises.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Callable
from unittest import mock

import sympy as sp

from .. import Definition, Derivation, InRange, Operator, TensorDecl, Window, WindowAxis, index, size
from ..proof import premises as PR
from ..proof import symbolic as SY
from ..proof.evaluate import Evaluator
from ..proof.rules import softmax as SM
from ..proof.rules.fourier import CongruenceToRemainder
from ..proof.rules.groups import SplitChannelsIntoGroups
from ..proof.rules.sums import ReindexSum
from .registry import Outcome, mutant

CATEGORY = "checker-premise"

B, C, L, K = size("B"), size("C"), size("L"), size("K")
P = size("P", zero=True)
b, o, i, c, q, u, v, m = (index(s) for s in "b o i c q u v m".split())
X, W = sp.IndexedBase("x"), sp.IndexedBase("W")
IDENTITY = Window((WindowAxis(1, 1, 1, 0, L),))


# -- the judgement -----------------------------------------------------------------------------------

def accepted(cp, step: int | None = None, level: str = "general") -> str | None:
    """What gets through in the checked proof ``cp``: "PROVED", or "step k (rule) ok and labelled general" for the
    hostile step ``step`` (0-based) when it is ok and labelled general; None when it is refused. ``level``: "ok" also
    counts the step ok and labelled bounded (a comparison at the grid shapes that a witness refutes at those
    shapes); "general-only" counts the general label alone, not PROVED (a proof PROVED with the step bounded says
    only what holds: checked at the grid shapes)."""
    if cp.ok and level != "general-only":
        return "PROVED"
    if step is not None and step < len(cp.steps) and cp.steps[step].check.ok and (cp.steps[step].check.general
                                                                                  or level == "ok"):
        return f"step {step + 1} ({cp.steps[step].rule}) ok and labelled " + \
            ("general" if cp.steps[step].check.general else "bounded")
    return None


def refusal(cp, step: int | None = None) -> str:
    """The real checker's reason, on one line: about the hostile step when there is one, else its first failure."""
    failures = cp.failures()
    if cp.limit is not None:   # the limit section's failures (not among CheckedProof.failures)
        target = cp.limit.target
        failures += [f"limit step {k + 1} ({s.rule}): {s.check.message}" for k, s in enumerate(cp.limit.steps)
                     if not s.check.ok] + ([] if target.ok else [f"{target.name}: {target.message}"])
    if step is not None and step < len(cp.steps) and (cp.steps[step].check.ok or not cp.steps[step].check.message):
        s = cp.steps[step]
        premise = next((f"; {ch.message}" for ch in cp.checks if ch.name == PR.NAME and not ch.ok), "")
        why = f"step {step + 1} ({s.rule}) not general: {s.check.replay}{premise}"
    elif step is not None and step < len(cp.steps):
        why = f"step {step + 1} ({cp.steps[step].rule}): {cp.steps[step].check.message}"
    else:
        why = failures[0] if failures else "no failure recorded"
    return " ".join(why.split("\n")[0].split())[:300]


def trial(fix: str, hostile: Callable, mutation: Callable, *, step: int | None = None,
          witness: Callable | None = None, level: str = "general") -> Outcome:
    """Check ``hostile()`` (a checked proof, rebuilt each call) with the real checker, then under
    ``mutation()`` (a context manager disabling ``fix``). For a step verdict, ``witness(cp)`` (run under the
    mutation) must say why the label is false, else the mutant survives; ``level`` as in :func:`accepted`."""
    real = hostile()
    if accepted(real, step, level):
        return Outcome(False, "nothing", f"the real checker accepts the hostile example ({accepted(real, step, level)}): "
                                         f"the fix ({fix}) is missing")
    with mutation():
        cp = hostile()
        got = accepted(cp, step, level)
        why_false = witness(cp) if got and got != "PROVED" and witness is not None else None
    if not got:
        return Outcome(False, "nothing", f"the hostile example is refused even without {fix}: the mutation disables "
                                         f"nothing that matters ({refusal(cp, step)})")
    if got != "PROVED" and not why_false:
        return Outcome(False, "nothing", f"without {fix}: {got}, but no witness shows the label false")
    false = f" although {why_false}" if why_false else ""
    return Outcome(True, fix, f"without the fix: {got}{false}; the checker: {refusal(real, step)}")


def _witness_shape(grid):
    """A witness: the hostile step fails at ``grid`` (shapes inside the sizes' domains, off the operator's grid)."""
    def witness(cp):
        again = cp.proof.check(grid=grid, reference=False)
        bad = [k for k, s in enumerate(again.steps) if not s.check.ok]
        return f"it fails at {again.shapes[0]} ({again.steps[bad[0]].check.message})" if bad else None
    return witness


# -- the toy operators ---------------------------------------------------------------------------------

def toy(traditional, *, definitions=(), grid) -> Operator:
    """y[b, o, i] = ``traditional`` over x[b, c, i] and W[c, u], with sizes B, C, L, K ≥ 1 and P ≥ 0."""
    x, w = TensorDecl("x", (B, C, L), "input"), TensorDecl("W", (C, K), "parameter")
    return Operator(name="hostile", summary="", output=TensorDecl("y", (B, C, L), "output"), lhs_indices=(b, o, i),
                    traditional=traditional, tensors=(x, w), batch=b, out_channel=o, position=(i,),
                    definitions=tuple(definitions), sizes=tuple((s, "") for s in (B, C, L, K, P)), grid=tuple(grid))


def x_pad(shape=None) -> Definition:
    """The zero-padded input (optionally with a declared shape)."""
    return Definition("x_pad", (b, c, q), InRange(q, 0, L - 1) * X[b, c, q], shape=shape)


def identity_proof(op, *, omega=IDENTITY):
    """y = x_pad[b, o, i] to Σ_c Σ_q δ(o, c)·δ(i, q)·x[b, c, q]: a complete derivation of the identity."""
    d = Derivation(op)
    d.apply("unfold-definition", name="x_pad")
    d.apply("introduce-delta", targets=[(o, c, 0, C - 1), (i, q, 0, L - 1)])
    d.apply("name-kernel", name="Kn", channel=c, position=(q,), indices=(o, c, i, q))
    d.conclude(omega=omega, channel=c, neighbour=(q,))
    return d.proof()


def _checked(build):
    return lambda: build().check(reference=False)


# -- 1. binders typed by their range -----------------------------------------------------------------

def positive_binder_proof():
    """y = x_pad[b, o, −P] rewritten with a fresh variable m declared positive over [0, L − 1]: SymPy folds
    δ(m, −P) to 0 at construction, so the step compares 0 with 0 on a grid without P = 0."""
    op = toy(x_pad()[b, o, -P], definitions=[x_pad()], grid=({B: 1, C: 2, L: 3, K: 1, P: 1}, {B: 1, C: 1, L: 2, K: 1, P: 2}))
    pos = sp.Symbol("m", integer=True, positive=True)
    d = Derivation(op)
    d.apply("unfold-definition", name="x_pad")
    d.apply("introduce-delta", targets=[(-P, pos, 0, L - 1)])
    d.conclude(omega=IDENTITY, channel=c, neighbour=(pos,))
    return d.proof()


@mutant(CATEGORY, "hole 1: binders' assumptions not checked against their range (a positive m folds δ(m, −P) to 0)")
def binder_assumptions_unchecked():
    return trial("the binder premise", _checked(positive_binder_proof),
                 lambda: mock.patch.object(PR, "binder_problem", lambda *a, **k: None),
                 step=1, witness=_witness_shape(({B: 1, C: 1, L: 2, K: 1, P: 0},)))


# -- 2. the grid inside the sizes' domains ---------------------------------------------------------------

def grid_outside_domain_proof():
    """The identity with Ω declared one off for every padding P ≥ 0 (window origin P + 1), on a grid that
    tests only P = −1, outside P's domain, where the shifted window happens to be right."""
    op = toy(x_pad()[b, o, i], definitions=[x_pad()],
             grid=({B: 1, C: 2, L: 3, K: 1, P: -1}, {B: 1, C: 1, L: 4, K: 2, P: -1}))
    return identity_proof(op, omega=Window((WindowAxis(1, 1, 1, P + 1, L),)))


@mutant(CATEGORY, "hole 2: grid shapes outside the sizes' domains (Ω wrong for every P ≥ 0, tested at P = −1 only)")
def grid_outside_domains():
    return trial("the grid premise", _checked(grid_outside_domain_proof),
                 lambda: mock.patch.object(PR, "_grid", lambda op, grid, sizes: []))


# -- 3. closed definitions ---------------------------------------------------------------------------------

D_OPEN = Definition("D", (b, c, q), X[b, c, q] * u)   # u: the caller's loop variable, not a parameter


def open_definition_proof():
    """Σ_u W[o, u]·D[b, o, i] with D's body reading the caller's u: factor-out sees D[b, o, i] free of u and
    moves it out of the sum over u."""
    op = toy(sp.Sum(W[o, u] * D_OPEN[b, o, i], (u, 0, K - 1)), definitions=[D_OPEN],
             grid=({B: 1, C: 2, L: 3, K: 2, P: 1}, {B: 2, C: 1, L: 4, K: 3, P: 0}))
    d = Derivation(op)
    d.apply("factor-out", factor=D_OPEN[b, o, i], over=[u])
    d.conclude(omega=IDENTITY, channel=c, neighbour=(q,))
    return d.proof()


def _inlined_differs(cp):
    """With D's body read where D is read, the two sides of the step differ (at K = 2)."""
    s = cp.proof.steps[0]
    read = {D_OPEN[b, o, i]: D_OPEN.body.xreplace({c: o, q: i})}
    diff = sp.expand((s.before.xreplace(read) - s.after.xreplace(read)).xreplace({K: 2}).doit())
    return f"with D's body in place the sides differ by {diff} at K = 2" if diff != 0 else None


@mutant(CATEGORY, "hole 3: definitions not closed (D's body reads the caller's u; factor-out moves D out of Σ_u)")
def open_definitions():
    return trial("the closed-definitions premise", _checked(open_definition_proof),
                 lambda: mock.patch.object(PR, "free_names", lambda expr: set()), step=0, witness=_inlined_differs)


# -- 4. reads inside a definition's declared shape ---------------------------------------------------------

def short_shape_proof():
    """The identity through a definition declared one short, shape (B, C, L − 1), yet read at i = L − 1:
    code that allocates the declared shape never computes that row."""
    small = Definition("x_pad", (b, c, q), X[b, c, q], shape=(B, C, L - 1))
    return identity_proof(toy(small[b, o, i], definitions=[small],
                              grid=({B: 1, C: 2, L: 3, K: 2, P: 1}, {B: 2, C: 1, L: 4, K: 3, P: 0})))


@mutant(CATEGORY, "hole 4: reads of a definition outside its declared shape (x_pad declared one row short)")
def reads_outside_shapes():
    inside = staticmethod(lambda name, vals, shape, plain, body: body())   # the body, wherever it is read
    return trial("the shape check of definition reads", _checked(short_shape_proof),
                 lambda: mock.patch.object(Evaluator, "_outside", inside))


# -- 6. integrality obligations -------------------------------------------------------------------------------

def without_obligation(rule_class, words: str):
    """``rule_class`` whose applications drop the obligation mentioning ``words`` (when there is one)."""
    original = rule_class.apply

    def apply(self, *args, **kwargs):
        app = original(self, *args, **kwargs)
        return dataclasses.replace(app, obligations=tuple(ob for ob in app.obligations if words not in ob.text))
    return mock.patch.object(rule_class, "apply", apply)


def without_integrality(rule_class, words: str):
    """``rule_class`` without its integrality obligation (:func:`without_obligation`), nor the check that every sum's
    bounds are integers (a rational shift or period leaves a half bound in the result: either refuses it alone)."""
    stack = contextlib.ExitStack()
    stack.enter_context(without_obligation(rule_class, words))
    stack.enter_context(mock.patch.object(SY, "_integer_bounds", lambda lo, hi: True))
    return stack


def half_shift_proof():
    """Σ_u u²·x_pad reindexed by u = v + K/2: a bijection of the integers only for even K (the grid's). (The
    summand reads no tensor at u: W[o, v + K/2] would also be a read at a non-integer index, refused on its own.)"""
    op = toy(sp.Sum(u ** 2 * x_pad()[b, o, i], (u, 0, K - 1)), definitions=[x_pad()],
             grid=({B: 1, C: 2, L: 3, K: 2, P: 0}, {B: 1, C: 1, L: 4, K: 4, P: 0}))
    d = Derivation(op)
    d.apply("reindex-sum", var=u, new=v, expr_of_new=v + K / 2)
    d.conclude(omega=IDENTITY, channel=c, neighbour=(q,))
    return d.proof()


def half_block_proof():
    """Σ_{c < C/2} split into groups of C/2 channels: blocks of integers only for even C (the grid's)."""
    op = toy(sp.Sum(W[c, 0] * X[b, c, i], (c, 0, C / 2 - 1)),
             grid=({B: 1, C: 2, L: 2, K: 1, P: 0}, {B: 1, C: 4, L: 2, K: 1, P: 0}))
    d = Derivation(op)
    d.apply("split-channels-into-groups", var=c, new=m, group=0, groups=2, block=C / 2)
    d.conclude(omega=IDENTITY, channel=c, neighbour=(q,))
    return d.proof()


def half_period_proof():
    """A congruence mod L/2 solved in one period: a period of integers only for even L (the grid's)."""
    op = toy(sp.Sum(sp.KroneckerDelta(sp.Mod(i - m, L / 2), 0) * X[b, o, m], (m, 0, L / 2 - 1)),
             grid=({B: 1, C: 1, L: 2, K: 1, P: 0}, {B: 1, C: 1, L: 4, K: 1, P: 0}))
    d = Derivation(op)
    d.apply("congruence-to-remainder", var=m)
    d.conclude(omega=IDENTITY, channel=c, neighbour=(q,))
    return d.proof()


@mutant(CATEGORY, "hole 6: reindex-sum without its integrality obligation nor integer sum bounds (shift by K/2, "
                  "general on even K only)")
def reindex_by_half_size():
    return trial("reindex-sum's obligation that the shift is an integer", _checked(half_shift_proof),
                 lambda: without_integrality(ReindexSum, "integer-valued"), step=0,
                 witness=_witness_shape(({B: 1, C: 1, L: 2, K: 3, P: 0},)))


@mutant(CATEGORY, "hole 6: split-channels-into-groups without its integrality obligation nor integer sum bounds "
                  "(blocks of C/2 channels)")
def split_into_half_blocks():
    return trial("split-channels-into-groups' obligation that the block is a positive integer", _checked(half_block_proof),
                 lambda: without_integrality(SplitChannelsIntoGroups, "positive integer"), step=0,
                 witness=_witness_shape(({B: 1, C: 3, L: 2, K: 1, P: 0},)))


@mutant(CATEGORY, "hole 6: congruence-to-remainder without its integrality obligation nor integer sum bounds "
                  "(period L/2)")
def congruence_with_half_period():
    return trial("congruence-to-remainder's obligation that the period is a positive integer", _checked(half_period_proof),
                 lambda: without_integrality(CongruenceToRemainder, "positive integer"), step=0,
                 witness=_witness_shape(({B: 1, C: 1, L: 3, K: 1, P: 0},)))


# -- 9. sums that run backwards --------------------------------------------------------------------------------

def backwards_sum_proof():
    """Σ_{u=K−1}^{0} W[o, u]·x_pad: introduce-delta proves its range obligation K − 1 ≤ u ≤ 0 from the backwards
    range, and read as empty both sides compare equal at K ≥ 3 (by SymPy's reading they differ)."""
    op = toy(sp.Sum(W[o, u] * x_pad()[b, o, i], (u, K - 1, 0)), definitions=[x_pad()],
             grid=({B: 1, C: 1, L: 2, K: 3, P: 0}, {B: 1, C: 2, L: 2, K: 4, P: 0}))
    d = Derivation(op)
    d.apply("introduce-delta", targets=[(u, q, K - 1, 0)], within=u)
    d.conclude(omega=IDENTITY, channel=c, neighbour=(q,))
    return d.proof()


def read_as_empty():
    """The evaluator reading Σ_{u=lo}^{hi} with hi < lo − 1 as the empty sum (the upper bound raised to lo − 1)."""
    original = Evaluator._sum_limit

    def sum_limit(self, body, fbody, limit):
        var, lo, hi = limit
        return original(self, body, fbody, (var, lo, sp.Max(hi, lo - 1)))
    return mock.patch.object(Evaluator, "_sum_limit", sum_limit)


def _sympy_differs(cp):
    s = cp.proof.steps[0]
    diff = sp.expand(s.before.xreplace({K: 4}).doit() - s.after.xreplace({K: 4}).doit())
    return f"by SymPy's reading of a backwards sum the sides differ by {diff} at K = 4" if diff != 0 else None


@mutant(CATEGORY, "hole 9: a backwards sum Σ_{u=K−1}^{0} read as empty (a step on it compared equal at the grid "
                  "shapes)")
def backwards_sums_read_empty():
    # (its general label is also refused by the obligation that every range is well-formed, hole 15: the step is
    # bounded either way, and the evaluator's refusal is what fails it at the grid shapes)
    return trial("the evaluator's refusal of backwards sums", _checked(backwards_sum_proof), read_as_empty, step=0,
                 witness=_sympy_differs, level="ok")



# -- 11. a masked softmax whose row can be empty -----------------------------------------------------------------

def hidden_row_proof():
    """y = x[b, o, i]·Σ_m A[b, o, i, m] with the masked softmax A := E/Z, E := [m ≤ i − P]·exp(x[b, o, m]),
    Z := Σ_{m'} E: for P ≥ 1 every key of row 0 is hidden, Z = 0 there and Σ_m A is not 1; the grid tests P = 0
    only. The producer is untrusted, so the step is recorded as if the rule had taken it (with the visible-key
    search switched off while the derivation runs); the checker replays it."""
    ell = Definition("ell", (b, c, i, m), X[b, c, m], shape=(B, C, L, L))
    e = Definition("E", (b, c, i, m), InRange(m, 0, i - P) * sp.exp(ell[b, c, i, m]), shape=(B, C, L, L))
    z = Definition("Z", (b, c, i), sp.Sum(e[b, c, i, q], (q, 0, L - 1)), shape=(B, C, L))
    a = Definition("attn", (b, c, i, m), e[b, c, i, m] / z[b, c, i], shape=(B, C, L, L))
    op = toy(X[b, o, i] * sp.Sum(a[b, o, i, m], (m, 0, L - 1)), definitions=[ell, e, z, a],
             grid=({B: 1, C: 1, L: 2, K: 1, P: 0}, {B: 1, C: 2, L: 3, K: 1, P: 0}))
    with any_key_visible():
        d = Derivation(op)
        d.apply("softmax-sums-to-one", name="attn", over=[m])
        d.conclude(omega=IDENTITY, channel=c, neighbour=(q,))
    return d.proof()


def any_key_visible():
    """softmax-sums-to-one with its Z > 0 obligation dropped: the first key of the range is taken as visible,
    unproved."""
    return mock.patch.object(SM, "visible_key", lambda guards, limits, ranges: ({l[0]: l[1] for l in limits}, []))


@mutant(CATEGORY, "hole 11: softmax-sums-to-one without its Z > 0 obligation (a mask [m ≤ i − P] hides row 0 once P ≥ 1)")
def masked_softmax_row_may_be_empty():
    return trial("softmax-sums-to-one's obligation that Z > 0 (a key every row shows)", _checked(hidden_row_proof),
                 any_key_visible, step=0, witness=_witness_shape(({B: 1, C: 1, L: 2, K: 1, P: 1},)))


# -- 12. two declarations of one name ------------------------------------------------------------------------------

def twin_names_proof():
    """y = Σ_m A[b, i, m]·(x[b, c, m] + β[c]) with A := E/Z, E := [m ≤ i]·V[b, m]·exp(q[b, i]·q[b, m]), and two
    tensors named V: a parameter, whose first entry may be 0 (row 0 of A is then 0/0, not a weight summing to one),
    and a leading-indicator input declared after it. The softmax rule reads V's declaration by name, finds the
    input's premise and moves β out of the sum for both readings of the statement."""
    qd, bd = TensorDecl("q", (B, L), "input"), TensorDecl("beta", (C,), "parameter")
    twins = (TensorDecl("V", (B, L), "parameter"), TensorDecl("V", (B, L), "input", domain="leading_indicator"))
    Q, V, beta = sp.IndexedBase("q"), sp.IndexedBase("V"), sp.IndexedBase("beta")
    m2, m3, c1 = (index(s) for s in ("m_2", "m_3", "c_1"))
    ell = Definition("ell", (b, i, m), Q[b, i] * Q[b, m], shape=(B, L, L))
    e = Definition("E", (b, i, m), InRange(m, 0, i) * V[b, m] * sp.exp(ell[b, i, m]), shape=(B, L, L))
    z = Definition("Z", (b, i), sp.Sum(e[b, i, m2], (m2, 0, L - 1)), shape=(B, L))
    a = Definition("A", (b, i, m), e[b, i, m] / z[b, i])
    val = Definition("val", (b, c, m), X[b, c, m] + beta[c], shape=(B, C, L))
    op = Operator(name="hostile", summary="", output=TensorDecl("y", (B, C, L), "output"), lhs_indices=(b, c, i),
                  traditional=sp.Sum(a[b, i, m] * val[b, c, m], (m, 0, L - 1)),
                  tensors=(twins[0], TensorDecl("x", (B, C, L), "input"), qd, twins[1], bd), batch=b, out_channel=c,
                  position=(i,), definitions=(ell, e, z, a, val), sizes=((B, ""), (C, ""), (L, "")),
                  grid=({B: 2, C: 1, L: 3}, {B: 1, C: 2, L: 2}))
    d = Derivation(op)
    d.apply("unfold-definition", name="val")
    d.apply("split-sum", over=m, rename=[(m, m3)])
    d.apply("factor-out", factor=beta[c], over=[m3])
    d.apply("softmax-sums-to-one", name="A", over=[m3])
    d.apply("introduce-delta", targets=[(c, c1, 0, C - 1)], within=m)
    d.apply("name-kernel", name="K", channel=c1, position=(m,), indices=(b, c, c1, i, m))
    d.conclude(omega=Window((WindowAxis(L, 1, 1, L - 1, L),)), channel=c1, neighbour=(m,))
    return d.proof()


def names_unchecked():
    """The premises without the check that every tensor and definition has its own name."""
    return mock.patch.object(PR, "_unique_names", lambda op, steps: [])


@mutant(CATEGORY, "hole 12: a name declared twice (a parameter V and a leading-indicator input V): the softmax rule "
                  "reads the input's premise for both")
def twin_names():
    return trial("the unique-names premise", _checked(twin_names_proof), names_unchecked)
