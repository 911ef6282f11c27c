"""The bounded checks' newer fast paths give the plain path's values and verdicts, and still refuse false steps.

Each fast path is compared with the plain computation it replaces:

- index arithmetic with ⌊x⌋, ⌈x⌉ of rationals (⌊o/G⌋, ⌊s·(K − 1)/2⌋), |·|, Kronecker deltas and brackets compiled into
  one Python expression on ints (n/d as ``n // d``) against the general closures (exact Fractions), at
  negative values, negative and huge denominators, integers far beyond 64 bits and divisions by zero;
- :func:`poly.mul`'s shortcuts (a monomial times a monomial, an int times a polynomial) against the plain
  double loop with :func:`poly._normal`, on int, Fraction and root-of-unity coefficients;
- the cached ``Poly.key`` and hash, SymPy's values at numeric arguments remembered per argument (1/2 and 0.5 kept
  apart), and number atoms read back without parsing;
- whole proofs (a grouped, "same"-padded convolution: ⌊o/O_g⌋ and ⌊δ(K − 1)/2⌋ in its indices) evaluated both
  ways, and wrong steps in them refused both ways.
"""

from __future__ import annotations

import dataclasses
import random
from contextlib import contextmanager
from fractions import Fraction
from unittest import mock

import mpmath
import pytest
import sympy as sp

from evosym import InRange, catalogue, index, size
from evosym.errors import IllFormedAccess
from evosym.proof import evaluate as E
from evosym.proof import poly as P
from evosym.proof import reference as R
from evosym.proof.bounded import ExpressionFailure, env_of, evaluate_everywhere, output_points
from evosym.proof.evaluate import Evaluator

G, K, L, S = size("G"), size("K"), size("L"), size("S")
i, o, u = (index(n) for n in "iou")
X = sp.IndexedBase("x")


@contextmanager
def plain_path():
    """The evaluator without its fast index arithmetic and without remembered sums: general closures only."""
    with mock.patch.object(E, "_integer_arithmetic", lambda e: False), \
            mock.patch.object(Evaluator, "_memoised", lambda self, e, fn: fn):
        yield


def outcome(expr, env, **kw):
    """(value, None) or (None, error text) of ``expr`` at ``env`` with a fresh evaluator."""
    return outcomes(expr, [env], **kw)[0]


def outcomes(expr, envs, **kw):
    """:func:`outcome` at each of ``envs``, with one evaluator."""
    fn = Evaluator({"x": (50,)}, **kw).compile(expr)
    out = []
    for env in envs:
        try:
            out.append((fn(dict(env)), None))
        except (IllFormedAccess, ZeroDivisionError) as exc:
            out.append((None, f"{type(exc).__name__}: {exc}"))
    return out


INDEX_EXPRESSIONS = [
    sp.floor(o / G),
    sp.ceiling(o / G),
    S * u + i - sp.floor(S * (K - 1) / 2),
    -G * sp.floor(o / G) + o,
    sp.floor((2 * i + 1) / 3) + sp.ceiling(sp.Rational(-5, 7) * i + u / G),
    sp.floor(sp.floor(i / G) / (K - 2)) * sp.Mod(i, L),
    sp.floor(1 / (1 / i + 1)) - sp.ceiling(u / (1 / i - 1)),      # a zero inside a denominator's denominator
    sp.floor(i / G ** 2 - u / (K * G)) + sp.Max(i, sp.floor(u / 2)),
    sp.KroneckerDelta(sp.floor(i / G), sp.floor(o / G)) * (i + 1),
    InRange(S * u + i - sp.floor(S * (K - 1) / 2), 0, L - 1),
    sp.ceiling((10 ** 30 * i + 7) / (3 * K)) - sp.floor(-(10 ** 30) * u / G),
    L - sp.Abs(-L + sp.Abs(-K + i * S + u) + 1) - 1,                 # reflect padding
]


def test_the_predicate_takes_floors_of_rationals_but_no_bare_quotient():
    for e in INDEX_EXPRESSIONS:
        assert E._integer_arithmetic(e), e
    for e in (i / 2, o / G + 1, sp.Rational(1, 2) * sp.floor(i / 2), sp.KroneckerDelta(i / 2, u), InRange(i / 2, 0, L),
              sp.floor(X[i] / 2), sp.floor(sp.sqrt(i)), sp.Max(i / 2, u), sp.Mod(i / 2, L), sp.floor(i) ** -1, sp.Abs(i / 2)):
        assert not E._integer_arithmetic(e), e


def test_index_arithmetic_agrees_with_the_general_closures_everywhere():
    """Values (ints, equal to the exact Fractions of the general path) and errors are the same at every point of a
    grid with negative, zero and huge values: a division by zero fails both ways with the same message."""
    values = [-7, -3, -1, 0, 1, 2, 3, 5, 10 ** 25 + 3, -(10 ** 40) - 1]
    rng = random.Random(5)
    points = [dict(zip((G, K, L, S, i, o, u), (rng.choice(values) for _ in range(7)))) for _ in range(400)]
    points += [{G: 0, K: 2, L: 3, S: 1, i: 1, o: 2, u: 0}, {G: -1, K: 1, L: 1, S: 0, i: 0, o: 0, u: 0}]
    for e in INDEX_EXPRESSIONS:
        fast = outcomes(e, points, sizes=(G, K, L, S))
        with plain_path():
            slow = outcomes(e, points, sizes=(G, K, L, S))
        for env, f, s in zip(points, fast, slow):
            assert f == s, (e, env, f, s)
            if f[0] is not None:
                assert type(f[0]) is int and f[0] == s[0]
        assert sum(f[0] is None for f in fast) < len(points) // 2, e   # mostly values, not errors


def test_the_compiled_expression_is_what_runs_and_a_fraction_never_escapes():
    e = S * u + i - sp.floor(S * (K - 1) / 2)
    ev = Evaluator({}, sizes=(K, S))
    calls = []
    general = ev._general

    def spy(expr):
        fn = general(expr)
        return lambda env: calls.append(expr) or fn(env)
    with mock.patch.object(ev, "_general", spy):
        fn = ev.compile(e)
        assert fn({S: 3, K: 4, u: 1, i: 2}) == 3 + 2 - 4 and not calls          # ⌊9/2⌋ = 4, all on ints
        assert fn({S: 3, K: -4, u: 1, i: 2}) == 3 + 2 + 8 and not calls         # ⌊−15/2⌋ = −8 (rounds down)
        unbound = fn({S: 3, K: 4, i: 2})                                         # u unbound: the general closures
        assert calls[0] == e and isinstance(unbound, P.Poly)
        assert P.to_sympy(unbound) == 3 * sp.Symbol("u") - 2


@pytest.mark.parametrize("expr, env", [
    (sp.floor(1 / (1 / i + 1)), {i: 0}),
    (sp.floor(1 / (1 / i + 1)) + sp.ceiling(u / (1 / i - 1)), {i: 0, u: 3}),
    (sp.floor(sp.Pow(1 / G, 0, evaluate=False) + i), {G: 0, i: 1}),    # an exponent 0 must not hide 1/0
    (sp.ceiling(o / (G - 2)), {G: 2, o: 3}),
    (sp.KroneckerDelta(sp.floor(o / G), 1), {G: 0, o: 1}),
    (sp.Mod(i, L) + sp.floor(i / 2), {i: 3, L: 0}),
])
def test_a_division_by_zero_is_refused_as_before(expr, env):
    fast = outcome(expr, env)
    with plain_path():
        slow = outcome(expr, env)
    assert fast[0] is None and fast == slow, (fast, slow)


def test_reads_at_floored_indices_are_checked_as_before():
    """An index ⌊u/2⌋ + i reads inside the shape (the compiled path) and outside it (refused both ways)."""
    e = sp.Sum(X[sp.floor(u / 2) + i], (u, 0, L - 1))
    for env in ({L: 6, i: 3}, {L: 6, i: 48}, {L: 7, i: -1}):
        fast = outcome(e, env, sizes=(L,))
        with plain_path():
            slow = outcome(e, env, sizes=(L,))
        assert fast == slow


# -- poly.mul against the plain double loop -------------------------------------------------------------------------------

def plain_mul(a, b):
    """poly.mul as it was: every pair of terms, then _normal (and roots of unity reduced when two meet)."""
    if not isinstance(a, P.Poly) and not isinstance(b, P.Poly):
        return a * b
    if not isinstance(a, P.Poly):
        a, b = b, a
    if not isinstance(b, P.Poly):
        return 0 if b == 0 else P._normal({m: c * b for m, c in a.terms.items()})
    out, roots = {}, False
    for m1, c1 in a.terms.items():
        for m2, c2 in b.terms.items():
            roots = roots or bool(m1 and m2 and m1[-1][0] == "Z" and m2[-1][0] == "Z")
            m = P._merge(m1, m2)
            out[m] = out.get(m, 0) + c1 * c2
    return P._normal(P._reduce_roots(out) if roots else out)


def random_value(rng):
    atoms = [("T", "x", (k,)) for k in range(3)] + [("T", "W", (0, 1)), ("S", "n", ())]
    kind = rng.randrange(6)
    coef = lambda: rng.choice([rng.randint(-3, 3) or 1, Fraction(rng.randint(-9, 9) or 1, rng.choice([2, 3, 4])),  # noqa: E731
                               10 ** 30 + rng.randint(0, 9), Fraction(2, 1) * rng.choice([Fraction(1, 2), 3])])
    if kind == 0:
        return coef()
    if kind == 1:   # one atom
        return P.mul(P.Poly.atom(rng.choice(atoms)), coef())
    if kind == 2:   # a root of unity times an entry
        return P.mul(P.root_of_unity(rng.randrange(6), 6), P.Poly.atom(rng.choice(atoms)))
    if kind == 3:   # an opaque atom (its arguments compare by <, never <=)
        return P.opaque("exp", P.total([P.Poly.atom(rng.choice(atoms)), coef()]))
    terms = [plain_mul(P.Poly.atom(rng.choice(atoms)), P.Poly.atom(rng.choice(atoms))) for _ in range(rng.randint(1, 4))]
    return P.total([plain_mul(t, coef()) for t in terms] + [coef()])


def test_mul_equals_the_plain_product():
    rng = random.Random(3)
    for _ in range(3000):
        a, b = random_value(rng), random_value(rng)
        fast, slow = P.mul(a, b), plain_mul(a, b)
        assert fast == slow and P.key_of(fast) == P.key_of(slow), (a, b)
        assert all(type(c) is int or (type(c) is Fraction and c.denominator != 1) for c in P._terms(fast).values())
        assert all(c != 0 for c in P._terms(fast).values())
        assert not (isinstance(fast, P.Poly) and list(fast.terms) == [()])   # a constant is a plain number


def test_mul_of_fractions_that_multiply_to_an_integer_is_an_int():
    half = P.mul(P.Poly.atom(("T", "x", (0,))), Fraction(1, 2))
    two = P.mul(P.Poly.atom(("T", "W", (0,))), Fraction(2))
    assert P.mul(half, two).terms == {(("T", "W", (0,)), ("T", "x", (0,))): 1}
    assert type(next(iter(P.mul(half, 2).terms.values()))) is int
    assert P.mul(half, 1) is half   # an int 1 gives the (never mutated) value itself


def test_cached_key_and_hash_are_the_computed_ones():
    rng = random.Random(9)
    for _ in range(200):
        v = random_value(rng)
        if isinstance(v, P.Poly):
            assert v.key() == tuple(sorted(v.terms.items())) and hash(v) == hash(tuple(sorted(v.terms.items())))
            assert P.key_of(v) is v.key()


# -- SymPy's numbers: remembered per argument, read back without parsing ----------------------------------------------

def test_function_values_are_remembered_per_type_and_value():
    """exp(1/2) (exact argument) and exp(0.5) (a float) are different atoms, as SymPy has them, even from the same
    compiled expression; each is SymPy's own value."""
    table = {0: Fraction(1, 2), 1: 0.5, 2: Fraction(1, 2), 3: 2}
    ev = Evaluator({"x": (4,)}, leaf=lambda name, idx: table[idx[0]])
    fn = ev.compile(sp.exp(X[i]))
    got = [fn({i: k}) for k in range(4)]
    assert got[0] == got[2] == P.number(sp.exp(sp.Rational(1, 2)))
    assert got[1] == P.number(sp.exp(sp.Float(0.5))) and got[1] != got[0]
    assert got[3] == P.number(sp.exp(2))
    assert all(P.atom_to_sympy(next(iter(v.terms))[0]) == sp.sympify(next(iter(v.terms))[0][1]) for v in got)


def test_number_atoms_evaluate_to_their_value():
    v = P.number(sp.exp(sp.Rational(3, 2)))
    with mpmath.workdps(R.DIGITS):
        want = mpmath.exp(mpmath.mpf(3) / 2)
        assert abs(R.ExactNumbers()(v) - want) < mpmath.mpf(10) ** (-R.DIGITS + 2)
        assert R.ExactNumbers()(P.mul(v, v)) - mpmath.exp(3) < mpmath.mpf(10) ** (-R.DIGITS + 2)
    text = next(iter(v.terms))[0][1]
    P._NUMBERS.clear()   # not kept: parsed from its text, the same number
    assert P.atom_to_sympy(next(iter(v.terms))[0]) == sp.exp(sp.Rational(3, 2)) == sp.sympify(text)


# -- whole proofs: the same values, and wrong steps refused ----------------------------------------------------------------

NAME = "conv2d_same"   # ⌊o/O_g⌋, ⌊δ(K − 1)/2⌋ and Kronecker deltas of them in every index


def _values(proof, config):
    op = proof.operator
    env = env_of(config)
    ev = Evaluator(op.shapes_at(env), proof.definitions(), sizes=op.size_symbols())
    points = output_points(op, env)
    out = []
    for e in [op.traditional] + [s.after for s in proof.steps]:
        try:
            out.append(evaluate_everywhere(op, ev, e, env, points))
        except ExpressionFailure as f:
            out.append(f.counterexample)
    return out


def test_a_proof_evaluates_to_the_same_values_both_ways():
    proof = catalogue.load(NAME).proof()
    config = proof.operator.grid[0]
    fast = _values(proof, config)
    with plain_path():
        slow = _values(proof, config)
    assert fast == slow
    assert [P.key_of(v) for vs in fast for v in vs] == [P.key_of(v) for vs in slow for v in vs]


@pytest.mark.parametrize("what, mutate", [
    ("group of the channel", lambda e: e.xreplace({sp.floor(index("o") / size("O_g")): sp.ceiling(index("o") / size("O_g"))})),
    ("padding rounded up", lambda e: e.replace(lambda x: isinstance(x, sp.floor) and x.has(size("K_h")),
                                               lambda x: sp.ceiling(x.args[0]))),
    ("a delta shifted by one", lambda e: e.replace(lambda x: isinstance(x, sp.KroneckerDelta) and x.has(index("m")),
                                                   lambda x: sp.KroneckerDelta(x.args[0] + 1, x.args[1]))),
])
def test_a_false_step_is_still_refused(what, mutate):
    proof = catalogue.load(NAME).proof()
    last = proof.steps[-1]
    defs = tuple(dataclasses.replace(d, body=mutate(d.body)) for d in last.defines)
    after = mutate(last.after)
    assert after != last.after or defs != last.defines, what
    wrong = dataclasses.replace(proof, steps=proof.steps[:-1] + (dataclasses.replace(last, after=after, defines=defs),))
    grid = proof.operator.grid[:2]
    verdicts = [wrong._bounded(grid, True)[-1]]
    with plain_path():
        verdicts.append(wrong._bounded(grid, True)[-1])
    assert verdicts[0][0] is not None and verdicts[0] == verdicts[1], what
    assert proof._bounded(grid, True)[-1] == (None, "")


def test_the_integer_fast_path_runs_only_on_int_bindings():
    """A float or a polynomial that a floor division, a delta or a bracket would turn into an int takes the general
    path (review finding): 49.0·(1/49) is not 1, and a delta of two unbound polynomials is ill-formed."""
    import sympy as sp
    from evosym.ir.symbols import InRange, index
    from evosym.proof import poly as P
    from evosym.proof.evaluate import Evaluator, IllFormedAccess
    i, j = index("i"), index("j")
    ev = Evaluator({})
    assert ev.compile(sp.KroneckerDelta(sp.floor(i / 49), 1))({i: 49.0}) == 0
    assert ev.compile(InRange(sp.floor(i / 49), 1, 1))({i: 49.0}) == 0
    assert ev.compile(sp.KroneckerDelta(sp.Mod(i, 3), 3))({i: -1e-20}) == 0
    assert ev.compile(sp.KroneckerDelta(sp.floor(i / 49), 1))({i: 49}) == 1   # ints: the fast path, exact
    a = P.Poly.atom(("S", "a", ()))
    with pytest.raises(IllFormedAccess):
        ev.compile(sp.KroneckerDelta(i, j))({i: a, j: a})


def test_a_constant_too_long_for_python_source_uses_the_general_path():
    import sympy as sp
    from evosym.ir.symbols import InRange, index
    from evosym.proof.evaluate import Evaluator
    i = index("i")
    huge = sp.Integer(10) ** 5000
    ev = Evaluator({})
    assert ev.compile(sp.KroneckerDelta(i, huge))({i: 3}) == 0
    assert ev.compile(InRange(i, 0, huge))({i: 3}) == 1
