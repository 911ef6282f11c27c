"""The small provers behind "general" labels never claim what is false."""

from __future__ import annotations

import itertools
import random

import sympy as sp

from evosym.ir.symbols import index, size
from evosym.proof.symbolic import in_range, nonnegative, range_of


def test_known_cases():
    G, O_g, H = size("G"), size("O_g"), size("H")
    P = size("P", zero=True)
    assert nonnegative(G * O_g - 1)
    assert not nonnegative(G * O_g - 2)       # false at G = O_g = 1
    assert nonnegative(H - 1) and nonnegative(P) and not nonnegative(P - 1)
    assert not nonnegative(index("i"))        # an index has no sign assumption


def test_nonnegative_is_sound_on_random_polynomials():
    syms = [size("a"), size("b"), size("p", zero=True)]
    rng = random.Random(3)
    claimed = 0
    for _ in range(400):
        terms = [rng.randint(-3, 3) * syms[rng.randrange(3)] ** rng.randint(0, 2) * syms[rng.randrange(3)] ** rng.randint(0, 1)
                 for _ in range(rng.randint(1, 4))]
        e = sp.Add(*terms) + rng.randint(-4, 4)
        if nonnegative(e):
            claimed += 1
            for a, b, p in itertools.product(range(1, 5), range(1, 5), range(0, 4)):
                assert e.subs({syms[0]: a, syms[1]: b, syms[2]: p}) >= 0, e
    assert claimed > 20  # the prover is not vacuous


def test_quotients_are_nonnegative_only_over_a_positive_denominator():
    H, s, R = size("H"), size("s"), size("R")
    P = size("P", zero=True)
    i = index("i")
    claims = {sp.floor((H - 1) / s): True, (H - 1) / s: True, (H + P) / (s * R): True, sp.floor(P / (s + 1)): True,
              (H - 2) / s: False, sp.floor((H - 2) / s): False, H / (s - 1): False, (H - 1) / (P - 1): False,
              H / P: False, i / s: False, (H - 1) / s - 1: False}
    for e, proved in claims.items():
        assert nonnegative(e) is proved, e
    for e in [e for e, proved in claims.items() if proved]:   # what is claimed holds at every small size
        for h, s_, r, p in itertools.product(range(1, 5), range(1, 4), range(1, 3), range(0, 3)):
            assert e.subs({H: h, s: s_, R: r, P: p}) >= 0, e


def test_floor_lemma():
    o, G, O_g = index("o"), size("G"), size("O_g")
    ranges = {o: (0, G * O_g - 1)}
    assert range_of(sp.floor(o / O_g), ranges) == (0, G - 1)
    assert in_range(sp.floor(o / O_g), 0, G - 1, ranges)[0]
    assert not in_range(sp.floor(o / O_g), 0, G - 2, ranges)[0]
    assert range_of(sp.floor(o / O_g), {o: (0, G * O_g)}) is None   # not of the form M·k − 1
    # the lemma itself, exhaustively at small sizes
    for g, k in itertools.product(range(1, 5), range(1, 5)):
        assert {a // k for a in range(g * k)} == set(range(g))


def test_a_remainder_lies_in_zero_to_modulus_minus_one():
    """Circular padding's read (m mod L) is inside the input for any integer m; an index symbol as the
    modulus has no sign, so nothing is claimed for it."""
    L, m, k = size("L"), index("m"), index("k")
    assert in_range(sp.Mod(m - 3, L), 0, L - 1, {})[0]
    assert not in_range(sp.Mod(m, L), 0, L - 2, {})[0]
    assert range_of(sp.Mod(m, k), {}) is None or not in_range(sp.Mod(m, k), 0, k - 1, {})[0]


def test_rounded_terms_are_bounded_by_their_arguments():
    """c·⌊a⌋ and c·⌈a⌉ terms are replaced by the bound their coefficient's sign asks for: the centred padding
    K − 1 − ⌊(K − 1)/2⌋ of a 'same' window is proved ≥ 0; what is false is never proved."""
    K, L, s = size("K"), size("L"), size("s")
    half = sp.Rational(1, 2)
    claims = {K - sp.floor(K / 2 - half) - 1: True, K / 2 - sp.floor(K / 2): True, K - 2 * sp.floor(K / 2): True,
              2 * sp.floor(K / 2) - K + 1: True, sp.ceiling(K / 2) - K / 2: True, 2 * sp.ceiling(K / 2) - K: True,
              L - sp.floor((L - 1) / s) - 1: True, K * sp.floor(K / 2): True,
              sp.floor(K / 2) - K / 2: False, K / 2 - sp.floor(K / 2 - half) - 1: False,
              K - 2 * sp.floor(K / 2) - 1: False, 2 * sp.floor(K / 2) - K: False,
              sp.ceiling(K / 2) - K / 2 - half: False, 2 * sp.ceiling(K / 2) - K - 1: False,
              sp.floor(K * L / 2) - 1: False, L - sp.floor(L / s) - 1: False, sp.floor(L / s) - sp.ceiling(L / s): False}
    for e, proved in claims.items():
        assert nonnegative(e) is proved, e
    z, r = sp.Symbol("z"), sp.Symbol("r", real=True)   # ⌈z⌉ − z at z = 1/2 + 3i/2 is 1/2 + i/2: no sign
    for e, proved in ((sp.ceiling(z) - z, False), (sp.floor(z) + 1 - z, False), (sp.ceiling(z * sp.I) - z * sp.I, False),
                      (sp.ceiling(r) - r, True), (sp.floor(r) + 1 - r, True)):
        assert nonnegative(e) is proved, e
    for e, proved in claims.items():   # each claim checked by value: the true ones hold, the false ones fail somewhere
        values = [e.subs({K: k, L: l_, s: s_}) for k, l_, s_ in itertools.product(range(1, 8), range(1, 6), range(1, 4))]
        assert all(v >= 0 for v in values) if proved else any(v < 0 for v in values), e


def test_rounded_terms_are_sound_on_random_sums():
    a, b = size("a"), size("b")
    p = size("p", zero=True)
    syms = [a, b, p]
    rng = random.Random(11)
    claimed = 0
    for _ in range(300):
        terms = []
        for _ in range(rng.randint(1, 4)):
            arg = (rng.randint(-2, 2) * syms[rng.randrange(3)] + rng.randint(-3, 3)) / rng.randint(1, 3)
            kind = rng.choice([sp.floor, sp.ceiling, lambda t: t])
            terms.append(rng.randint(-3, 3) * kind(arg))
        e = sp.Add(*terms) + rng.randint(-2, 2)
        if nonnegative(e):
            claimed += 1
            for x, y, z in itertools.product(range(1, 6), range(1, 6), range(0, 5)):
                assert e.subs({a: x, b: y, p: z}) >= 0, e
    assert claimed > 20   # the bound proves something


def test_rounded_terms_with_size_coefficients_and_divisors():
    """c·s·⌊a⌋ with s a product of sizes (positive: its sign is c's) and ⌊n/d⌋ with d a size: a strided read's last
    index s·⌊(H − 1)/s⌋ is proved ≤ H − 1; an index coefficient (no sign) proves nothing; false claims never."""
    H, K, s = size("H"), size("K"), size("s")
    i = sp.Symbol("i", integer=True)
    claims = {H - 1 - s * sp.floor((H - 1) / s): True, H - 1 - 2 * s * sp.floor((H - 1) / (2 * s)): True,
              s * sp.floor((H + s - 1) / s) - H: True, K * s * sp.ceiling(H / (K * s)) - H: True,
              H - 2 - s * sp.floor((H - 1) / s): False, H - 1 - s * K * sp.floor((H - 1) / s): False,
              s * sp.floor((H + s - 2) / s) - H: False, H - s * sp.ceiling(H / s): False}
    for e, proved in claims.items():
        assert nonnegative(e) is proved, e
        values = [e.subs({H: h, K: k, s: s_}) for h, k, s_ in itertools.product(range(1, 9), range(1, 4), range(1, 5))]
        assert all(v >= 0 for v in values) if proved else any(v < 0 for v in values), e
    assert not nonnegative(H - 1 - i * sp.floor((H - 1) / s)) and not nonnegative(H - 1 - sp.floor(i / s) * s)
    a, b = size("a"), size("b")
    rng = random.Random(12)
    claimed = 0
    for _ in range(300):   # random sums of size-scaled floors and ceilings of size ratios: every claim true by value
        terms = []
        for _ in range(rng.randint(1, 3)):
            arg = (rng.randint(-2, 2) * rng.choice([a, b]) + rng.randint(-3, 3)) / rng.choice([1, 2, a, b])
            kind = rng.choice([sp.floor, sp.ceiling, lambda t: t])
            terms.append(rng.randint(-2, 2) * rng.choice([1, a, b, a * b]) * kind(arg))
        e = sp.Add(*terms) + rng.randint(-2, 2) * rng.choice([1, a])
        if nonnegative(e):
            claimed += 1
            for x, y in itertools.product(range(1, 7), range(1, 7)):
                assert e.subs({a: x, b: y}) >= 0, e
    assert claimed > 20


def test_the_shifted_sizes_take_no_name_of_the_users():
    """Each positive size s is written 1 + a fresh non-negative symbol: named ``_s_m1`` it was the user's own size of
    that name (or the shift of another positive symbol named s), and a false claim was proved (an adversarial pass)."""
    s, m = size("s"), size("_s_m1", zero=True)
    other = sp.Symbol("s", integer=True, positive=True, odd=True)
    for e in (s - 1 - m, s - other, other - s):
        assert not nonnegative(e), e
    assert nonnegative(s - 1) and nonnegative(s + m - 1)
