"""The prover's speed paths give exactly the slow paths' values, errors and verdicts.

Each fast path is compared with the computation it stands for, including the inputs where it must refuse and
hand over to the slow path:

- the integer arithmetic written out as one function (:func:`evaluate._arithmetic_source`: its type tests inline)
  against the general closures, at ints, Fractions, floats, polynomials, unbound symbols, divisions by zero and
  negative values;
- a sum's terms added as ints as they come, against :func:`poly.total` of the list of its terms;
- a sum whose summand's leading factors are free of its variable (:meth:`Evaluator._leading_constants`: a zero
  among them ends the sum after one look) against the same evaluator without it, at zero and nonzero guards,
  guards that raise, empty and ill-formed ranges, guards after a factor that reads the variable, without sizes;
- a definition's indices taken as ints at once (``defined``) against the values and errors of reading it one
  index at a time: integral Fractions, non-integers, and the first bad index reported first;
- :func:`poly.total`'s int branch against folding :func:`poly.add` from 0;
- :meth:`Evaluator.compile_keyed` (environments built keyed) against :meth:`Evaluator.compile`, and the support
  check built on it against the plain loop it replaces, on true and false neighbourhoods;
- an :class:`IndexSet`'s condition compiled once (:func:`neighbourhood._compiled_condition`) against SymPy deciding
  every point, and refused (SymPy alone) for Floats, truth-valued symbols and functions, with SymPy's errors kept.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import random
from fractions import Fraction
from unittest import mock

import pytest
import sympy as sp

from evosym import InRange, catalogue, index, size
from evosym.errors import IllFormedAccess
from evosym.ir import neighbourhood as NB
from evosym.ir.operator import format_sizes
from evosym.ir.symbols import size_value
from evosym.ir.tensors import Definition
from evosym.proof import poly as P
from evosym.proof import support as S
from evosym.proof.bounded import ExpressionFailure, env_of, evaluate_everywhere, output_points
from evosym.proof.evaluate import Evaluator
from evosym.proof.reference import CheckResult
from evosym.proof.step import Counterexample

N, M = size("N"), size("M")
i, j, t, u = (index(n) for n in "ijtu")
X, D = sp.IndexedBase("x"), sp.IndexedBase("D")
SHAPES = {"x": (6,)}


def result(fn, env):
    """("value", v) or ("error", type, message) of ``fn(env)``."""
    try:
        return ("value", fn(dict(env)))
    except Exception as exc:   # the error itself is what is compared
        return ("error", type(exc).__name__, str(exc))


class NoHoist(Evaluator):
    """The evaluator without the leading-factor shortcut: every term of every sum evaluated."""

    def _leading_constants(self, body, var):
        return ()


# -- integer arithmetic as one function --------------------------------------------------------------------------

ARITHMETIC = [
    2 * i - j + 3,
    sp.Mod(i - 7, j),
    sp.floor((i - 1) / j) + sp.ceiling(i / 3),
    sp.Max(i, j, 0) * sp.Min(i, -j),
    sp.KroneckerDelta(i, j + 1) + InRange(i, 0, j - 1),
    sp.Abs(i - j) ** 2,
    sp.KroneckerDelta(i, j),   # a polynomial argument: 0 on the fast path's ints, refused by the general closures
]


@pytest.mark.parametrize("expr", ARITHMETIC, ids=str)
def test_arithmetic_agrees_with_the_general_closures(expr):
    ev = Evaluator(SHAPES)
    fast, general = ev._fn(expr), ev._general(expr)
    assert fast is not general   # the fast path is the one compiled
    ki, kj = ev._key(i), ev._key(j)
    envs = [{ki: a, kj: b} for a in range(-4, 5) for b in range(-3, 4)]   # j = 0: Mod and ⌊·/j⌋ divide by zero
    envs += [{ki: Fraction(7, 2), kj: 2}, {ki: 3.0, kj: 2}, {ki: True, kj: 1}, {ki: 10 ** 30, kj: -(10 ** 20)},
             {ki: 5}, {}, {ki: P.Poly.atom(("S", "z", ())), kj: 1}]
    for env in envs:
        assert result(fast, env) == result(general, env), env


def test_arithmetic_returns_ints_only_where_every_symbol_is_an_int():
    ev = Evaluator(SHAPES)
    fn = ev._fn(sp.floor(i / 2))
    assert fn({ev._key(i): 7}) == 3 and type(fn({ev._key(i): 7})) is int
    assert fn({ev._key(i): Fraction(7)}) == 3                 # the general path: a Fraction binding
    with pytest.raises(IllFormedAccess):
        fn({ev._key(i): P.Poly.atom(("S", "z", ()))})          # symbolic: refused by the general path


# -- a sum's leading factors free of its variable ----------------------------------------------------------------

SUMS = [
    sp.Sum(sp.KroneckerDelta(i, 2) * X[t], (t, 0, N - 1)),                       # a zero guard ends the sum
    sp.Sum(InRange(i, 0, 3) * InRange(j, 1, 2) * X[t + i], (t, 0, N - 1)),      # two guards, then a read
    sp.Sum(InRange(t, 1, 3) * sp.KroneckerDelta(i, 2) * X[t], (t, 0, N - 1)),   # a guard on t comes first
    sp.Sum(sp.KroneckerDelta(i, 2) * X[t] * X[i], (t, j, N - 1)),               # the range from a bound index
    sp.Sum(sp.KroneckerDelta(i, 2) * X[t], (t, 0, j - 1)),                       # j = 0: the empty sum
    sp.Sum(sp.KroneckerDelta(i, 2) * X[t], (t, 0, j - 2)),                       # j = 0: an ill-formed range
    sp.Sum(sp.KroneckerDelta(i / 2, 1) * X[t], (t, 0, N - 1)),                   # a Fraction in the guard
    sp.Sum(InRange(i, 0, 9) * X[i - 3] * X[t], (t, 0, N - 1)),                  # i < 3: a read out of range
    sp.Sum(sp.KroneckerDelta(X[i], 0) * X[t], (t, 0, N - 1)),                    # a symbolic guard: refused
    sp.Sum(sp.Sum(sp.KroneckerDelta(i, 1) * X[t] * X[u], (t, 0, u)), (u, 0, j)),  # inner ranges from u
    sp.Sum(sp.KroneckerDelta(i, j) * sp.Sum(X[t] * InRange(i, 0, 1), (t, 0, N - 1)), (u, 0, N - 1)),
]


@pytest.mark.parametrize("expr", SUMS, ids=str)
@pytest.mark.parametrize("sizes", [True, False], ids=["sizes", "no-sizes"])
def test_a_sum_with_leading_constant_factors_agrees_with_every_term(expr, sizes):
    kw = {"sizes": (N,)} if sizes else {}
    fast, slow = Evaluator(SHAPES, **kw).compile(expr), NoHoist(SHAPES, **kw).compile(expr)
    for a, b in itertools.product(range(-1, 5), range(0, 4)):
        env = {N: 6, i: a, j: b}
        assert result(fast, env) == result(slow, env), env


def test_the_shortcut_is_taken_and_keeps_errors_of_terms_it_skips():
    zero_guard = sp.Sum(sp.KroneckerDelta(i, 2) * X[t], (t, 0, N - 1))
    ev = Evaluator(SHAPES, sizes=(N,))
    assert ev._leading_constants(zero_guard.function, t)          # the guard is hoisted
    assert ev._leading_constants((InRange(t, 0, 1) * X[i]), t) == ()  # a factor on t first: nothing
    assert ev._leading_constants(X[t], t) == ()                    # not a product
    reads = []
    leaf = lambda name, idx: reads.append(idx) or P.Poly.atom(("T", name, idx))  # noqa: E731
    assert Evaluator(SHAPES, leaf=leaf, sizes=(N,)).compile(zero_guard)({N: 6, i: 0}) == 0
    assert reads == []
    # a read out of range in a term the guard does not protect is still found
    bad = sp.Sum(sp.KroneckerDelta(i, 2) * X[t], (t, 0, N))
    assert result(Evaluator(SHAPES, sizes=(N,)).compile(bad), {N: 6, i: 2})[0] == "error"
    assert result(Evaluator(SHAPES, sizes=(N,)).compile(bad), {N: 6, i: 0}) == ("value", 0)
    assert result(NoHoist(SHAPES, sizes=(N,)).compile(bad), {N: 6, i: 0}) == ("value", 0)


TERMS = [
    t - 2,                                                    # ints only: added as they come
    sp.KroneckerDelta(t, 2) * X[t] + t,                       # ints, then a polynomial, then ints
    t / 3 + X[0] * sp.KroneckerDelta(t, i),                   # Fractions (and a polynomial at t = i)
    sp.Piecewise((X[t], sp.Eq(t, 0)), (t, True)),             # a polynomial first
    sp.Piecewise((sp.Float(0.5), sp.Eq(t, i)), (t, True)),    # a float among ints
]


@pytest.mark.parametrize("body", TERMS, ids=str)
def test_a_sum_is_the_total_of_its_terms(body):
    ev = Evaluator(SHAPES, sizes=(N,))
    whole, term = ev.compile(sp.Sum(body, (t, 0, N - 1))), Evaluator(SHAPES, sizes=(N,)).compile(body)
    for n, a in itertools.product(range(0, 7), range(-1, 4)):
        got = whole({N: n, i: a})
        want = plain_total([term({N: n, i: a, t: v}) for v in range(n)])
        assert got == want and type(got) is type(want), (n, a)


# -- a definition's indices --------------------------------------------------------------------------------------

def _definition(shape=None):
    p, q = index("p"), index("q")
    return Definition("D", (p, q), X[p] * (q + 1), shape=shape)


@pytest.mark.parametrize("shape", [None, (N, 3)], ids=["no-shape", "shape"])
def test_definition_reads_agree_with_their_bodies_and_report_the_first_bad_index(shape):
    d = _definition(shape)
    ev = Evaluator(SHAPES, {"D": d}, sizes=(N,))
    read = ev.compile(D[i, j])
    for a, b in itertools.product(range(6), range(3)):
        assert read({N: 6, i: a, j: b}) == ev.compile(d.instantiate((a, b)))({N: 6})
    half = ev.compile(D[i / 2, j])                         # an integral Fraction is an index; 1/2 is not
    assert half({N: 6, i: 4, j: 1}) == read({N: 6, i: 2, j: 1})
    assert result(half, {N: 6, i: 3, j: 1}) == ("error", "IllFormedAccess", "index 0 of D is not an integer: 3/2")
    # index 0 is not an integer and index 1 is unbound: index 0 is the one reported, as one index at a time does
    assert result(half, {N: 6, i: 3}) == ("error", "IllFormedAccess", "index 0 of D is not an integer: 3/2")
    assert result(half, {N: 6, i: 4})[2].startswith("index 1 of D mentions j")
    # index 0 is not an integer and evaluating index 1 raises (a read past x's shape): index 0 is reported first
    assert result(ev.compile(D[i / 2, X[7]]), {N: 6, i: 3}) == ("error", "IllFormedAccess",
                                                              "index 0 of D is not an integer: 3/2")
    assert result(ev.compile(D[i / 2, X[7]]), {N: 6, i: 2})[2].startswith("read of x[7")
    symbolic = ev.compile(D[X[0], j])
    assert result(symbolic, {N: 6, j: 0})[2].startswith("index 0 of D depends on tensor entries")


# -- poly.total --------------------------------------------------------------------------------------------------

def plain_total(values):
    """:func:`poly.total` as it was before its int branch: the slow path."""
    const, out = 0, None
    for v in values:
        if isinstance(v, P.Poly):
            if out is None:
                out = P._terms(const).copy()
            for m, c in v.terms.items():
                out[m] = out.get(m, 0) + c
        elif out is None:
            const = const + v
        elif v != 0:
            out[()] = out.get((), 0) + P.exact(v)
    return const if out is None else P._normal(out)


def test_total_equals_its_plain_loop_and_the_fold_of_add():
    rng = random.Random(7)
    atoms = [P.Poly.atom(("T", "x", (k,))) for k in range(3)]
    exact = [0, 1, -3, 10 ** 25, Fraction(1, 3), Fraction(-2, 3), Fraction(4, 2), True, *atoms,
             P.add(atoms[0], 2), P.mul(atoms[1], Fraction(1, 2)), P.neg(atoms[2])]
    for pool in (exact, exact + [0.5, -0.25, 0.0]):   # floats (numeric mode): the plain loop's types too
        for _ in range(400):
            values = [rng.choice(pool) for _ in range(rng.randrange(0, 7))]
            got, want = P.total(values), plain_total(values)
            assert got == want and type(got) is type(want), values
            if pool is exact:
                assert got == functools.reduce(P.add, values, 0), values   # equal (an int may be an integral Fraction)
    assert P.total([]) == 0 and P.total([atoms[0], -1, 1, P.neg(atoms[0])]) == 0


# -- compile_keyed and the support check -------------------------------------------------------------------------

def test_compile_keyed_agrees_with_compile():
    expr = sp.Sum(InRange(i + t - 1, 0, N - 1) * X[i + t - 1], (t, 0, 2)) + j
    ev = Evaluator(SHAPES, sizes=(N,))
    fn, key = ev.compile_keyed(expr)
    public = ev.compile(expr)
    for a, b in itertools.product(range(-1, 8), range(2)):
        env = {N: 6, i: a, j: b}
        assert result(fn, {key(s): v for s, v in env.items()}) == result(public, env)


@pytest.mark.parametrize("name", ["conv1d", "avg_pool1d_ceil_exclude_pad"])
def test_evaluate_everywhere_agrees_with_compile_at_each_point(name):
    op, form, defs, grid = _form(name)
    for config in grid:
        env = env_of(config)
        points = output_points(op, env)
        exprs = [op.traditional, op.traditional.xreplace({op.lhs_indices[-1]: op.lhs_indices[-1] + 1})]  # 2nd: reads past x
        for expr in exprs:
            plain = Evaluator(op.shapes_at(env), defs, sizes=op.size_symbols()).compile(expr)
            want = []
            for pt in points:
                got = result(plain, {**env, **dict(zip(op.lhs_indices, pt))})
                want.append(got)
                if got[0] == "error":
                    break
            ev = Evaluator(op.shapes_at(env), defs, sizes=op.size_symbols())
            try:
                values = [("value", v) for v in evaluate_everywhere(op, ev, expr, env, points)]
            except ExpressionFailure as f:
                values = want[:-1] + [("error", "IllFormedAccess", f.counterexample.detail)]
                assert f.counterexample.index.endswith(", ".join(f"{s}={v}" for s, v in
                                                                 zip(op.lhs_indices, points[len(want) - 1])) + "]")
            assert values == want


def plain_support(op, form, definitions, grid):
    """The support check as it was written before environments were built keyed: the slow path."""
    ranges = {s: hi for s, _, hi in op.lhs_ranges()}
    for config in grid:
        env = env_of(config)
        kfn = Evaluator(op.shapes_at(env), definitions, sizes=op.size_symbols()).compile(form.kernel)

        def rng(hi):
            return range(size_value(hi, env) + 1)
        bs = rng(ranges[form.batch]) if form.kernel.has(form.batch) else [0]
        outs, chans = rng(ranges[form.out_channel]), rng(form.channel_hi)
        qs = list(itertools.product(*[rng(h) for h in form.neighbour_hi]))
        for pt in itertools.product(*[rng(ranges[p]) for p in form.position]):
            try:
                omega = set(form.omega.points(pt, env))
            except ValueError as exc:
                return CheckResult(S.NAME, False, "bounded", str(exc))
            local = dict(env)
            local.update(zip(form.position, pt))
            support = set()
            try:
                for q in qs:
                    local.update(zip(form.neighbour, q))
                    if any(not P.is_zero(kfn({**local, form.batch: b, form.out_channel: o, form.channel: c}))
                           for b in bs for o in outs for c in chans):
                        support.add(q)
            except IllFormedAccess as exc:
                return CheckResult(S.NAME, False, "bounded", "K is ill-formed",
                                   Counterexample(format_sizes(env), f"p={pt}", "", "", str(exc)))
            if support != omega:
                return CheckResult(S.NAME, False, "bounded", "the support of K is not the declared Ω(p)",
                                   Counterexample(format_sizes(env), f"p={pt}", f"supp K = {sorted(support)}",
                                                  f"Ω(p) = {sorted(omega)}",
                                                  f"in supp K only: {sorted(support - omega)}; in Ω(p) only: {sorted(omega - support)}"))
    return CheckResult(S.NAME, True, "bounded", f"supp K(·,·,p,·) = Ω(p) at every output position, at {len(grid)} shapes")


@functools.lru_cache(maxsize=None)
def _form(name):
    proof = catalogue.load(name).proof()
    return proof.operator, proof.match(), proof.definitions(), tuple(proof.operator.grid)


@pytest.mark.parametrize("name", ["conv1d", "conv1d_circular", "avg_pool1d_ceil_exclude_pad"])
def test_support_check_agrees_with_the_plain_loop(name):
    op, form, defs, grid = _form(name)
    fast = S.check_support(op, form, defs, grid)
    assert fast.ok and fast == plain_support(op, form, defs, grid)
    q = form.neighbour[0]
    mutants = [
        form.kernel * InRange(q, 1, 10 ** 6),                    # leaves out q = 0: the support is smaller than Ω
        form.kernel.xreplace({q: q / 2}),                        # odd q: a non-integer index, K is ill-formed
        form.kernel.xreplace({form.channel: form.channel + 1}),  # shifted channel: may read past the shape
        form.kernel * sp.KroneckerDelta(form.channel, 0) * InRange(form.out_channel, 1, 10 ** 6),   # o and c apart
    ]
    for kernel in mutants:
        wrong = dataclasses.replace(form, kernel=kernel)
        got, want = S.check_support(op, wrong, defs, grid), plain_support(op, wrong, defs, grid)
        assert got == want
        assert not got.ok


def test_support_check_with_the_plain_evaluation_path_is_the_same():
    """The keyed environments are only a faster way in: forcing every evaluation through compile() gives the same."""
    op, form, defs, grid = _form("conv1d_same")
    fast = S.check_support(op, form, defs, grid)

    def through_compile(self, expr):
        public = self.compile(expr)
        symbols = {}

        def key(s):
            symbols.setdefault(self._key(s), s)
            return self._key(s)
        return (lambda env: public({symbols[k]: v for k, v in env.items()})), key
    with mock.patch.object(Evaluator, "compile_keyed", through_compile):
        assert S.check_support(op, form, defs, grid) == fast


# -- an IndexSet's condition -------------------------------------------------------------------------------------

p_, m_, n_ = index("p"), index("m"), index("n")
L_ = size("L")
CONDITIONS = [
    sp.Eq(sp.Mod(p_ + 1, m_ + 1), 0),                                                    # Dirichlet: m + 1 | p + 1
    sp.And(sp.floor(p_ * L_ / 3) <= m_, m_ <= sp.ceiling((p_ + 1) * L_ / 3) - 1),         # adaptive pooling bins
    sp.Or(sp.Abs(m_ - p_) <= 1, sp.Eq(sp.Max(m_, n_), 2 * p_)),
    sp.Not(sp.And(m_ / 2 < p_ / 3, sp.Min(m_, n_) >= -1 + p_)),
    sp.Eq(sp.Mod(m_, p_), 0),                                     # p = 0: Mod(m, 0) is nan in SymPy, an error here
    sp.Lt(m_ ** 2 - 3 * n_, p_ - 4),
    sp.Ne(m_ * p_ ** -1, 1),                                      # p = 0: 1/0
    sp.true,
]


def slow_points(omega, p, env):
    with mock.patch.object(NB, "_compiled_condition", lambda condition: None):
        return omega.points(p, env)


def outcome_points(fn, *args):
    try:
        return ("value", fn(*args))
    except Exception as exc:
        return ("error", type(exc).__name__)


@pytest.mark.parametrize("condition", CONDITIONS, ids=str)
def test_index_set_points_agree_with_sympy(condition):
    omega = NB.IndexSet((p_,), (m_, n_), condition, (L_, L_ - 1))
    assert NB._compiled_condition(sp.sympify(condition)) is not None
    for length, p in itertools.product((1, 3, 5), range(-2, 5)):
        env = {L_: length}
        assert outcome_points(omega.points, (p,), env) == outcome_points(slow_points, omega, (p,), env), (length, p)


@pytest.mark.parametrize("condition", [m_ < sp.Float(0.5) * p_, sp.And(sp.Symbol("b"), m_ < p_), sp.Eq(sp.exp(m_), p_),
                                       sp.Eq(X[m_], p_)], ids=str)
def test_index_set_conditions_outside_plain_arithmetic_are_left_to_sympy(condition):
    assert NB._compiled_condition(condition) is None
    omega = NB.IndexSet((p_,), (m_,), condition, (L_,))
    for p in range(3):
        assert outcome_points(omega.points, (p,), {L_: 4}) == outcome_points(slow_points, omega, (p,), {L_: 4})


def test_index_set_with_an_unbound_symbol_raises_as_sympy_does():
    omega = NB.IndexSet((p_,), (m_,), m_ < p_ + n_, (L_,))     # n is bound by nothing
    fast, slow = outcome_points(omega.points, (1,), {L_: 3}), outcome_points(slow_points, omega, (1,), {L_: 3})
    assert fast == slow and fast[0] == "error"


def test_index_set_fast_decisions_are_bools_only():
    fn, key = NB._compiled_condition(sp.Eq(sp.Mod(p_ + 1, m_ + 1), 0))
    assert NB._decided(fn, {key(p_): 3, key(m_): 1}) is True
    assert NB._decided(fn, {key(p_): 3, key(m_): 2}) is False
    assert NB._decided(fn, {key(p_): 3, key(m_): -1}) is None    # modulo 0: SymPy decides
    assert NB._decided(fn, {key(p_): 3}) is None                # m unbound: SymPy decides (and raises)
    assert NB._decided(lambda env: sp.true, {}) is None and NB._decided(lambda env: 1, {}) is None
    assert NB._decided(lambda env: False, {}) is False
