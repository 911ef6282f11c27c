"""The traditional form against the operator file's own numeric reference (user code), exactly or
within float64 rounding.

Proof steps only show that the traditional form equals the Evolution form; this check anchors the
traditional form itself to an independent implementation. That implementation is *user-supplied*:
evosym runs the file's ``reference`` and reports what the file calls it, never that it is the library
it is called after (a "reference" that evaluates the operator's own formula would agree with anything).

Three parts, so that the user code can run in another process:

- :func:`reference_inputs` (pure): per grid shape, two rounds of random inputs: integers in [−3, 3],
  and dyadic rationals k/4 in [−3, 3] (exact in float64). Integers alone cannot tell x from round(x).
- :func:`run_reference` (user code): the reference on those inputs, a float64 array or a one-line error.
- :func:`check_reference` (pure): the recorded outputs against the exact values of the traditional form.

How outputs are compared. When the traditional form uses only ring operations (+, −, ×, dyadic
constants, reads, guards, Σ: a polynomial in the entries), every value on these inputs is a dyadic
rational that float64 holds exactly, and any +/−/× evaluation order is exact: the comparison is exact.
Otherwise (a division, √, exp …) float64 rounds, and an entry must lie within ``ULPS`` units of
roundoff of the largest entry of the output at that shape and round, ``ULPS·u·max|y|``: rounding errors
are of the order of u times the magnitudes accumulated, and for these operators those are of the
order of the largest output (the 29 catalogue references need at most ``MEASURED`` such ulps; a
test keeps the margin). A reference that declares that it rounds (``reference_rounds``: an FFT) has a
normwise error (Higham, *Accuracy and Stability of Numerical Algorithms*, §24.1: ‖ŷ − y‖₂ ≲ c·log₂n·u·‖y‖₂),
so its entries are compared within ``ULPS·u·‖y‖₂·(1 + log₂ n)``, n the number of output entries.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from fractions import Fraction

import mpmath
import numpy as np
import sympy as sp
from sympy.logic.boolalg import BooleanAtom

from ..errors import EvosymError
from ..ir.operator import Operator, format_sizes
from ..ir.symbols import InRange
from ..ir.tensors import in_domain
from . import poly as P
from .bounded import ExpressionFailure, env_of, evaluate_everywhere, index_text, output_points
from .evaluate import Evaluator
from .step import Counterexample

U = 2.0 ** -53          # float64's unit roundoff
ULPS = 16               # the tolerance, in units of u·(the output's magnitude)
MEASURED = 6.9          # the most any catalogue reference needs (cordonnier_attention, 5 seeds; tests keep ULPS ≥ 2×)
ROUNDS = ("integer", "dyadic")
ROUND_TEXT = {"integer": "integer inputs in [−3, 3]", "dyadic": "dyadic inputs k/4 in [−3, 3]"}


@dataclass(frozen=True)
class CheckResult:
    """A named whole-proof check (Evolution match, support of K, reference), with its label.

    ``measured``: for a check within a tolerance, the largest error seen in the tolerance's units."""

    name: str
    ok: bool
    label: str
    message: str
    counterexample: Counterexample | None = None
    measured: float | None = None


def check_name(op: Operator) -> str:
    """The check's name: the reference is the file's, called what the file calls it."""
    return f"reference (user-supplied, called {op.reference_name!r})" if op.reference_name else "reference (user-supplied)"


def claimed(op: Operator, verb: str = "") -> str:
    """"the file's reference, which it calls '…'" (followed by ``verb``): what the file says, never asserted."""
    if not op.reference_name:
        return f"the file's reference {verb}".rstrip()
    return f"the file's reference, which it calls {op.reference_name!r}" + (f", {verb}" if verb else "")


# -- inputs and the user code --------------------------------------------------------------------

def draw(op: Operator, shapes: dict, rng, kind: str) -> dict[str, np.ndarray]:
    """Random entries for every declared tensor: integers in [−3, 3] (int64) or k/4 in [−3, 3] (float64,
    exact), |·| for non-negative tensors."""
    out = {}
    for t in op.tensors:
        if kind == "integer":
            out[t.name] = in_domain(t, rng.integers(-3, 4, size=shapes[t.name]).astype(np.int64))
        else:
            out[t.name] = in_domain(t, rng.integers(-12, 13, size=shapes[t.name]) / 4.0)
    return out


def reference_inputs(op: Operator, grid, seed: int = 0) -> list[list[dict[str, np.ndarray]]]:
    """Per grid shape, per round (integer, dyadic), the input arrays: deterministic in (tensors, shapes,
    grid, seed). Each round has its own generator, so the integer round is the same as before rounds."""
    rngs = {"integer": np.random.default_rng(seed), "dyadic": np.random.default_rng([seed, 1])}
    return [[draw(op, op.shapes_at(env_of(config)), rngs[r], r) for r in ROUNDS] for config in grid]


def error_text(exc: BaseException) -> str:
    """``"ValueError: …"`` on one line (at most 300 characters)."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= 300 else text[:297] + "..."


def as_float64(out) -> np.ndarray:
    """A reference's result as a float64 array; complex values with an imaginary part are refused
    rather than silently dropped."""
    arr = np.asarray(out)
    if np.iscomplexobj(arr):
        if np.any(arr.imag != 0):
            raise TypeError("the reference returned complex values")
        arr = arr.real
    return np.array(arr, dtype=np.float64)


def run_reference(op: Operator, grid, seed: int = 0) -> list[list[np.ndarray | str]]:
    """Run ``op.reference`` (user code) on :func:`reference_inputs`: per shape, per round, a float64 array
    or a one-line error text if it raised."""
    if op.reference is None:
        raise EvosymError(f"operator {op.name} has no reference implementation")
    out = []
    for config, rounds in zip(grid, reference_inputs(op, grid, seed)):
        sizes = {str(k): v for k, v in env_of(config).items()}
        row = []
        for arrays in rounds:
            try:
                row.append(as_float64(op.reference({k: v.copy() for k, v in arrays.items()}, dict(sizes))))
            except Exception as exc:  # a broken reference fails the check; it never crashes the proof
                row.append(error_text(exc))
        out.append(row)
    return out


def run_and_check_reference(op: Operator, grid=None, definitions=None, seed: int = 0) -> CheckResult:
    """The library path: run the file's reference here (user code), then :func:`check_reference`."""
    grid = tuple(op.grid if grid is None else grid)
    defs = {d.name: d for d in op.definitions} if definitions is None else definitions
    return check_reference(op, grid, defs, run_reference(op, grid, seed), seed)


# -- the check (pure) ----------------------------------------------------------------------------

def ring_only(expr, definitions) -> str | None:
    """None when ``expr`` (through its definitions) is a polynomial in the entries with dyadic
    constants, which float64 evaluates exactly on dyadic inputs; else the first operation that is not."""
    seen: set = set()

    def visit(e):
        if isinstance(e, (BooleanAtom, sp.Symbol)) or e.is_Integer:
            return None
        if e.is_Rational:
            q = int(e.q)
            return None if q & (q - 1) == 0 else f"the constant {e}"
        if e.is_Number or e.is_NumberSymbol:
            return f"the constant {e}"
        if isinstance(e, sp.Indexed):
            name = str(e.base.label)
            if name in definitions and name not in seen:
                seen.add(name)
                return visit(definitions[name].body)
            return None
        if isinstance(e, (sp.KroneckerDelta, InRange, sp.floor, sp.ceiling, sp.Mod, sp.core.relational.Relational,
                          sp.And, sp.Or, sp.Not)):
            return None   # guards and index arithmetic: integers
        if isinstance(e, sp.Piecewise):
            return next((w for w in (visit(v) for v, _ in e.args) if w), None)
        if isinstance(e, sp.Sum):
            return visit(e.function)
        if isinstance(e, sp.Pow) and not (e.exp.is_Integer and e.exp >= 0):   # said in words: no raw SymPy in messages
            return "a division by an expression" if e.exp.is_Integer else "a power with a non-integer exponent"
        if isinstance(e, (sp.Add, sp.Mul, sp.Pow, sp.Abs, sp.Max, sp.Min)):
            return next((w for w in map(visit, e.args) if w), None)
        return f"{type(e).__name__}"
    return visit(sp.sympify(expr))


def leaf_of(arrays):
    def leaf(name, idx):
        v = arrays[name][idx]
        return int(v) if float(v).is_integer() else Fraction(float(v))
    return leaf


DIGITS = 40
_MPMATH = {"exp": "exp", "log": "log", "sqrt": "sqrt", "sin": "sin", "cos": "cos", "tanh": "tanh", "erf": "erf"}


class ExactNumbers:
    """Exact values (an int, a Fraction, or a polynomial in numeric atoms such as e^(3/2) and 1/Z) as
    numbers: rationals stay exact Fractions, the rest is evaluated to 40 digits with every distinct
    atom evaluated once (an attention output shares its exponentials across entries)."""

    def __init__(self):
        self.atoms: dict = {}

    def __call__(self, v):
        if isinstance(v, (int, Fraction)):
            return Fraction(v)
        if not isinstance(v, P.Poly):
            return mpmath.mpf(v)
        with mpmath.workdps(DIGITS):
            z = self._key(P.key_of(v))
            if isinstance(z, mpmath.mpc):
                if abs(z.imag) > abs(z) * mpmath.mpf(10) ** (5 - DIGITS):
                    raise ValueError(f"the exact value {P.to_sympy(v)} is not real")
                z = z.real
            return +z

    def _key(self, key):
        return mpmath.fsum(mpmath.mpf(c.numerator) / c.denominator * mpmath.fprod(self._atom(a) for a in m)
                           for m, c in key)

    def _atom(self, a):
        hit = self.atoms.get(a)
        if hit is None:
            hit = self.atoms[a] = self._evaluate(a)
        return hit

    def _evaluate(self, a):
        tag, name, payload = a
        if tag in ("T", "S"):
            raise ValueError(f"the value is symbolic: it mentions {P.atom_to_sympy(a)}")
        if tag == "Z":                      # ζ_L^r = e^{2πi·r/L}
            return mpmath.expjpi(mpmath.mpf(2 * payload) / name)
        if tag == "F" and (name in ("inv", "pow") or name in _MPMATH):
            args = [self._key(k) for k in payload]
            if name == "inv":
                return 1 / args[0]
            if name == "pow":
                return args[0] ** args[1]
            return getattr(mpmath, _MPMATH[name])(*args)
        return _sympy_number(a, mpmath.mp.prec)


@functools.lru_cache(maxsize=1 << 14)
def _sympy_number(a, prec: int):
    """An atom that SymPy evaluates (a number such as √2 or e^(3/2), or another function) to DIGITS digits, at
    the working precision ``prec`` (part of the key): a pure function of the atom, kept across checks, since
    reading the atom back into SymPy and evaluating it costs far more than the rest of its use."""
    e = P.atom_to_sympy(a).evalf(DIGITS + 5)
    re, im = e.as_real_imag()
    re, im = mpmath.mpf(str(sp.Float(re, DIGITS + 5))), mpmath.mpf(str(sp.Float(im, DIGITS + 5)))
    return re if im == 0 else mpmath.mpc(re, im)


def abs_error(ref: float, exact) -> float:
    """|ref − exact|: exact for a Fraction, to 40 digits otherwise."""
    if isinstance(exact, Fraction):
        return float(abs(Fraction(ref) - exact))
    with mpmath.workdps(DIGITS):
        return float(abs(mpmath.mpf(ref) - exact))


def check_reference(op: Operator, grid, definitions, outputs, seed: int = 0) -> CheckResult:
    """Compare ``outputs`` (as :func:`run_reference` returns them) with the exact values of
    ``op.traditional`` on :func:`reference_inputs`; runs no user code."""
    grid = tuple(grid)
    defs = definitions
    name = check_name(op)
    fail = lambda msg, ce=None: CheckResult(name, False, "bounded", msg, ce)  # noqa: E731
    if len(outputs) != len(grid) or any(not isinstance(o, (list, tuple)) or len(o) != len(ROUNDS) for o in outputs):
        return fail(f"the recorded outputs of {claimed(op)} do not match the grid: {len(grid)} shapes × "
                    f"{len(ROUNDS)} rounds expected")
    why_not_ring = ring_only(op.traditional, defs)
    exact_mode = why_not_ring is None and not op.reference_rounds
    number = ExactNumbers()
    worst, wide = 0.0, 0
    for config, rounds_in, rounds_out in zip(grid, reference_inputs(op, grid, seed), outputs):
        env = env_of(config)
        shapes = op.shapes_at(env)
        points = output_points(op, env)
        for rnd, arrays, ref in zip(ROUNDS, rounds_in, rounds_out):
            where = f"at {format_sizes(env)} ({ROUND_TEXT[rnd]}, seed {seed})"
            if isinstance(ref, str):
                return fail(f"{claimed(op, 'raised')} {ref} {where}")
            ref = np.asarray(ref)
            if ref.shape != shapes[op.output.name]:
                return fail(f"{claimed(op, 'returned')} the shape {ref.shape}, not the declared "
                            f"{shapes[op.output.name]}, {where}")
            if ref.dtype != np.float64:
                return fail(f"{claimed(op, 'returned')} {ref.dtype} values, not float64, {where}")
            bad = [pt for pt in points if not math.isfinite(ref[pt])]
            if bad:
                return fail(f"{claimed(op, 'returned')} {ref[bad[0]]} at {index_text(op, bad[0])} {where}: "
                            "not a finite number")
            ev = Evaluator(shapes, defs, leaf=leaf_of(arrays), sizes=op.size_symbols())
            try:
                ours = [number(v) for v in evaluate_everywhere(op, ev, op.traditional, env, points)]
            except ExpressionFailure as f:
                return fail("the traditional form is ill-formed", f.counterexample)
            except ValueError as exc:
                return fail(f"the traditional form has no real value {where}: {exc}")
            try:
                scale, unit = _scale(op, ours)
                bad, needed = mismatch(points, ours, ref, exact_mode, scale)
            except OverflowError:
                return fail(f"the traditional form's values exceed the range of float64 {where}: no float64 "
                            "reference can be compared with them")
            worst = max(worst, needed)
            wide += unheld(ours) if exact_mode else 0
            if bad is not None:
                pt, v, r, err, exact = bad
                how = "exactly" if exact else f"within {ULPS}·u·{unit} = {ULPS * U * scale:.3g}"
                return fail(f"the traditional form differs from {claimed(op)} (compared {how})",
                            Counterexample(format_sizes(env), index_text(op, pt), f"traditional form = {show_number(v)}",
                                           f"the file's reference = {r!r}",
                                           f"difference {err:.3g} = {err / (U * scale) if scale else math.inf:.3g}·u·"
                                           f"{unit}; {ROUND_TEXT[rnd]} (|·| for non-negative tensors), seed {seed}"))
    return CheckResult(name, True, "bounded", _how(op, exact_mode, why_not_ring, seed, len(grid), wide),
                       measured=None if exact_mode else worst)


def mismatch(points, ours, ref, exact_mode: bool, scale: float):
    """(the first (point, exact value, reference value, error, compared exactly?) where the float64 ``ref``
    is not the exact ``ours``, or None; the largest error met, in units of u·scale). A value is compared
    exactly in ``exact_mode`` when float64 holds it; otherwise within ULPS·u·scale."""
    worst = 0.0
    for pt, v in zip(points, ours):
        r = float(ref[pt])
        exact = exact_mode and held(v)
        err = abs_error(r, v) if math.isfinite(r) else math.inf
        if not exact and scale:
            worst = max(worst, err / (U * scale))
        if (err != 0) if exact else not err <= ULPS * U * scale:
            return (pt, v, r, err, exact), worst
    return None, worst


def held(v) -> bool:
    """Whether float64 holds the exact value ``v`` (a rational of at most 53 significant bits)."""
    return isinstance(v, Fraction) and Fraction(float(v)) == v


def unheld(values) -> int:
    """How many exact ``values`` float64 cannot hold: in exact mode those are compared within the rounding
    tolerance (:func:`mismatch`), and the check must say so."""
    return sum(1 for v in values if not held(v))


def exact_text(exact_mode: bool, unheld_count: int, tolerance: str) -> str:
    """How the values were compared: "exactly", or exactly except the entries float64 cannot hold."""
    if not exact_mode:
        return f"within {tolerance}"
    if not unheld_count:
        return "exactly"
    return (f"exactly where float64 holds the exact value, and within {tolerance} at the {unheld_count} entries it "
            "cannot hold (more than 53 significant bits)")


def _scale(op, values) -> tuple[float, str]:
    """The magnitude a rounding error is measured against, and its name."""
    mags = [abs(float(v)) for v in values]
    if op.reference_rounds:
        return math.sqrt(sum(m * m for m in mags)) * (1 + math.log2(len(mags))), "‖y‖₂·(1 + log₂ n)"
    return max(mags, default=0.0), "max|y|"


def show_number(v) -> str:
    """An exact value for a message: a rational as itself (and its float), anything else as a float."""
    if isinstance(v, Fraction):
        return str(v) if v.denominator == 1 else f"{v} ≈ {float(v)!r}"
    return f"{float(v)!r}"


def _how(op, exact_mode, why_not_ring, seed, shapes, wide=0) -> str:
    if exact_mode and wide:
        how = (exact_text(True, wide, f"{ULPS}·u·max|y|") + " (the form is a polynomial in the entries: its values "
               "are dyadic, float64 holds them where they fit in 53 bits)")
    elif exact_mode:
        how = "exactly (the form is a polynomial in the entries: float64 is exact on these inputs)"
    elif op.reference_rounds:   # (the margin used is CheckResult.measured, not printed: it depends on the CPU)
        how = (f"within {ULPS}·u·‖y‖₂·(1 + log₂ n) at each shape and round (the reference rounds: a floating-point "
               f"FFT's error is normwise), the traditional form exact")
    else:
        how = (f"within {ULPS}·u·max|y| at each shape and round (float64 rounds: the form uses {why_not_ring})")
    return (f"traditional form equals {claimed(op)}, {how}, on random integer and dyadic (k/4) inputs (seed {seed}) "
            f"at {shapes} shapes; that the reference computes what it is called is the file's claim")
