"""Mutants of the checker's conclusion and of its process boundary (holes 5, 7, 8, 10, 13, 14, 25, 26 and 36): the
limit operator free of α, the limit's peak one point, the sharpness a parameter's entry, no size even or odd, the matcher looking through definitions, the
reference check's tolerance, dyadic inputs and honest label, and operator files run in a child process. Each disables one fix and runs a
hostile example through :func:`.trust_mutants.trial`: killed when the example gets through the mutated
checker (PROVED) while the real one refuses it, for the reasons given in :mod:`.trust_mutants`.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from dataclasses import replace
from unittest import mock

import numpy as np
import sympy as sp

from .. import Definition, Derivation, Global, Operator, SoftmaxLimit, TensorDecl, Window, WindowAxis, index, size
from ..errors import MatchError
from ..ir import evolution as EV
from ..proof import limit as LIM
from ..proof import premises as PR
from ..proof import reference as R
from ..proof.rules import limits as RL
from .registry import OPERATORS, Outcome, load, mutant
from .trust_mutants import CATEGORY, accepted, trial

B, N, C, O = size("B"), size("N"), size("C"), size("O")
b, n, o, c, q = (index(s) for s in "b n o c q".split())
X, W = sp.IndexedBase("x"), sp.IndexedBase("W")


def _tokens(traditional, *, reference, reference_name="", definitions=(), grid=None) -> Operator:
    """y[b, n, o] = ``traditional`` over tokens x[b, n, c] and a weight W[o, c]."""
    xt, wt = TensorDecl("x", (B, N, C), "input"), TensorDecl("W", (O, C), "parameter")
    yt = TensorDecl("y", (B, N, O), "output")
    return Operator(name="hostile", summary="", output=yt, lhs_indices=(b, n, o), traditional=traditional,
                    tensors=(xt, wt), batch=b, out_channel=o, position=(n,), definitions=tuple(definitions),
                    sizes=((B, ""), (N, ""), (C, ""), (O, "")), reference=reference, reference_name=reference_name,
                    grid=grid or ({B: 1, N: 3, C: 4, O: 2}, {B: 2, N: 2, C: 3, O: 3}))


def _pointwise(op):
    """Σ_c k·W[o, c]·x[b, n, c] to its Evolution form (Ω = {n}): a complete, valid derivation."""
    d = Derivation(op)
    d.apply("introduce-delta", targets=[(n, q, 0, N - 1)], within=c)
    d.apply("name-kernel", name="K", channel=c, position=(q,), indices=(o, c, n, q))
    d.conclude(omega=Window((WindowAxis(1, 1, 1, 0, N),)), channel=c, neighbour=(q,))
    return d.proof().check()


# -- 5. the limit operator free of α -------------------------------------------------------------------

def diverging_bias_proof():
    """Cordonnier's attention with the bias α·b_O, and a reference and a target that agree at every finite α:
    β = α·b_O has no limit as α → ∞, so the limit operator is not the convolution the limit section claims."""
    mod = load("cordonnier_attention")
    m, op = mod.module, mod.operator

    def reference(arrays, sizes):
        return m.reference(arrays, sizes) + (arrays["alpha"][0] - 1) * arrays["bO"][None, :, None, None]

    def target(t, sizes):
        import torch.nn.functional as F
        return F.conv2d(t["x"], m.conv_weight(t["WO"], sizes), t["alpha"][0] * t["bO"], padding=sizes["R"])
    bad = replace(op, traditional=op.traditional.xreplace({m.bo[m.o]: m.alpha[0] * m.bo[m.o]}), reference=reference,
                  limit=replace(op.limit, target_reference=target))
    d = Derivation(bad)
    m.derive(d)
    return d.proof().check(grid=op.grid[:1])


@contextlib.contextmanager
def _alpha_an_input():
    """The limit check of old: α an ordinary input of the limit operator (drawn like any entry, readable by the
    evaluation and the target), and no symbolic check that K∞, β and v are free of it."""
    with mock.patch.object(LIM, "sharpness_read", lambda *a, **k: None), \
            mock.patch.object(LIM, "_sharpness_entries", lambda *a, **k: []):
        yield


@mutant(CATEGORY, "hole 5: the limit operator may still read α (a bias α·b_O that diverges as α → ∞)")
def limit_keeps_alpha():
    return trial("the limit operator's freedom from α", diverging_bias_proof, _alpha_an_input)


# -- 25. the limit's peak is one point, and the finite-α check compares something -------------------------------

def _well_proof(n, sizes, well, peak, grid, pick, negated=False, **limit):
    """y = Σ_m A[i, m]·x[b, o, m] over n keys, A the softmax of −α·well(m) (one row for every i), its limit claimed
    one-hot at ``peak``: a hostile limit (holes 25, 26 and 36). ``pick(sizes)``: the key the target reads.
    ``negated``: the sharpness is s[0] with s := −α, a definition (α ≥ 0, so s never grows)."""
    i, m, m2 = index("i"), index("m"), index("m_2")
    alpha = TensorDecl("alpha", (1,), "parameter", domain="nonnegative")
    s = Definition("s", (index("k"),), -alpha[0], shape=(1,))
    a, sign, extra = (s[0], -1.0, (s,)) if negated else (alpha[0], 1.0, ())
    logit = Definition("logit", (i, m), -a * well(m), shape=(n, n))
    norm = Definition("Z", (i,), sp.Sum(sp.exp(logit[i, m2]), (m2, 0, n - 1)), shape=(n,))
    attn = Definition("attn", (i, m), sp.exp(logit[i, m]) / norm[i], shape=(n, n))
    at = lambda sz: {s: sp.Integer(sz[str(s)]) for s, _ in sizes}

    def reference(arrays, sz):
        keys = int(n.xreplace(at(sz)))
        w = np.exp(-sign * float(arrays["alpha"][0]) * np.array([float(well(sp.Integer(k)).xreplace(at(sz)))
                                                            for k in range(keys)]))
        return np.repeat(np.einsum("m,bom->bo", w / w.sum(), arrays["x"].astype(float))[:, :, None], keys, axis=2)

    def target(t, sz):
        return t["x"][:, :, [pick(sz)]].expand_as(t["x"])
    op = Operator(name="hostile", summary="", output=TensorDecl("y", (B, C, n), "output"), lhs_indices=(b, o, i),
                  traditional=sp.Sum(attn[i, m] * X[b, o, m], (m, 0, n - 1)),
                  tensors=(TensorDecl("x", (B, C, n), "input"), alpha), batch=b, out_channel=o, position=(i,),
                  definitions=(*extra, logit, norm, attn), sizes=((B, ""), (C, ""), *sizes), grid=grid, reference=reference,
                  limit=SoftmaxLimit(weights="attn", sharpness=a, keys=(m,), minimiser=(peak(m),), target="x",
                                     target_reference=target, **limit))
    d = Derivation(op)
    d.apply("introduce-delta", targets=[(o, c, 0, C - 1)], within=m)
    d.apply("name-kernel", name="K", channel=c, position=(m,), indices=(o, c, i, m))
    d.conclude(omega=Global((n,)), channel=c, neighbour=(m,))
    return d.proof().check()


def reflected_peak_proof():
    """A softmax of −α·(2m − L + 1)² (deepest at the centre (L − 1)/2), claimed one-hot at q* = L − 1 − m with no α
    to compare the bound at (an adversarial pass, 2026-12-07): the well is "free of m" and q* inside [0, L − 1] for
    this q*, the grid's odd lengths agree (the target reads the reflection's fixed point), and at L = 2 the limit is ½
    on both keys where the claim δ(m, L − 1 − m) is 0."""
    L = size("L")
    return _well_proof(L, ((L, ""),), lambda m: (2 * m - L + 1) ** 2, lambda m: L - 1 - m,
                       ({B: 1, C: 1, L: 1}, {B: 2, C: 2, L: 3}, {B: 1, C: 1, L: 5}), lambda sz: sz["L"] // 2,
                       errors=(), alphas=())


@contextlib.contextmanager
def _peak_anywhere():
    """The limit check of old: a peak may read the keys (or α), and no α at all is a passed error-bound check."""
    with mock.patch.object(RL, "peak_reads", lambda *a: []), mock.patch.object(LIM, "_error_values", lambda spec: ""):
        yield


@mutant(CATEGORY, "hole 25: the limit's peak reading the key (q* = L − 1 − q: lim A = 0 where the true limit is ½) "
                  "with no sharpness to compare the bound at")
def limit_peak_reads_the_key():
    return trial("the peak's being one point and the error values' check", reflected_peak_proof, _peak_anywhere)


# -- 36. the sharpness is a parameter's entry -------------------------------------------------------------------

def negated_sharpness_proof():
    """The centre well −s·(2m − L + 1)² claimed one-hot at the centre as s → ∞, with s := −α a definition and α ≥ 0
    (an adversarial pass, 2026-12-07): every limit step holds in s, but s never grows; as α → ∞ the weights go to the
    farthest keys, ½ on m = 0 and L − 1, where the claim is δ(m, (L − 1)/2)."""
    L = size("L")
    return _well_proof(L, ((L, ""),), lambda m: (2 * m - L + 1) ** 2, lambda m: (L - 1) / 2,
                       ({B: 1, C: 1, L: 1}, {B: 2, C: 2, L: 3}), lambda sz: sz["L"] // 2, negated=True)


@contextlib.contextmanager
def _any_sharpness():
    """The limit check of old: any expression the logits read may be the sharpness (a definition, a constant)."""
    with mock.patch.object(RL, "sharpness_problem", lambda *a: None), \
            mock.patch.object(LIM, "sharpness_problem", lambda *a: None):
        yield


@mutant(CATEGORY, "hole 36: a limit in a definition s := −α of the parameter (s never grows: the weights go to the "
                  "farthest keys) PROVED one-hot at the centre")
def limit_in_a_definition():
    return trial("the sharpness's being a parameter's entry", negated_sharpness_proof, _any_sharpness)


# -- 26. no size is declared even or odd -------------------------------------------------------------------------

def even_peak_proof():
    """A softmax over 2R keys deepest at R/6, R declared even (an adversarial pass, 2026-12-07): SymPy's assumptions
    call R/6 an integer for an even R, so the peak's "integer-valued" obligation held and both limit steps were
    general; the grid's R = 6, 12 put R/6 on a key, but at R = 2 the limit is one-hot on m = 0 where the claim
    δ(m, R/6) is 0 at every key."""
    R = sp.Symbol("R", integer=True, positive=True, even=True)
    return _well_proof(2 * R, ((R, ""),), lambda m: (m - R / 6) ** 2, lambda m: R / 6,
                       ({B: 1, C: 1, R: 6}, {B: 2, C: 2, R: 12}), lambda sz: sz["R"] // 6)


@contextlib.contextmanager
def _parity_allowed():
    """The premise of old: a size may be declared even or odd (SymPy reasons with it, wrongly)."""
    with mock.patch.object(PR, "_PARITY", ()), mock.patch.object(PR, "_STATED", PR._STATED + ("even", "odd")):
        yield


@mutant(CATEGORY, "hole 26: a size declared even, from which SymPy's assumptions conclude R/6 an integer (a limit "
                  "at the peak R/6, false at R = 2)")
def sizes_declared_even():
    return trial("the premise that no size is declared even or odd", even_peak_proof, _parity_allowed)


# -- 7. the matcher looks through definitions -------------------------------------------------------------

def renamed_square_proof():
    """y = Σ_c Σ_q W[o, c]·z[b, q, c]·x[b, q, c] with z := x: every step is valid, but K = W·z is v itself, so
    x² · W would be an Evolution form."""
    m, c2 = index("m"), index("c_2")
    z = Definition("z", (b, m, c2), X[b, m, c2])

    def reference(a, sizes):
        s = np.einsum("oc,bqc->bo", a["W"], a["x"] * a["x"])
        return np.repeat(s[:, None, :], a["x"].shape[1], axis=1).astype(np.float64)
    op = _tokens(sp.Sum(W[o, c] * sp.IndexedBase("z")[b, q, c] * X[b, q, c], (q, 0, N - 1), (c, 0, C - 1)),
                 reference=reference, reference_name="x² · W", definitions=(z,),
                 grid=({B: 1, N: 2, C: 2, O: 1}, {B: 2, N: 3, C: 1, O: 2}))
    d = Derivation(op)
    d.apply("name-kernel", name="K", channel=c, position=(q,), indices=(b, o, c, n, q))
    d.conclude(omega=Global((N,)), channel=c, neighbour=(q,))
    return d.proof().check()


def _direct_reads_only(kernel, value, channel, value_name, input_names, definitions, out_channel=None):
    """The matcher of old: K refused only when it reads v at c directly, not through a definition."""
    if any(str(r.base.label) == value_name and r.has(channel) for r in kernel.atoms(sp.Indexed)):
        raise MatchError("the kernel reads the value tensor at the aggregated channel: not an Evolution form")


@mutant(CATEGORY, "hole 7: the matcher not looking through definitions (K = W·z with z := x, a square)")
def matcher_sees_direct_reads_only():
    return trial("the matcher's look through definitions", renamed_square_proof,
                 lambda: mock.patch.object(EV, "_refuse_value_at_channel", _direct_reads_only))


# -- 8. the reference check ----------------------------------------------------------------------------------

def slightly_off_reference_proof():
    """y = (10⁶/3)·Σ_c W[o, c]·x[b, n, c] (compared within rounding) against a reference off by 10⁻¹³
    relative: some 450 units of roundoff, far more than any rounding of this form."""
    k = sp.Rational(10 ** 6, 3)
    return _pointwise(_tokens(sp.Sum(k * W[o, c] * X[b, n, c], (c, 0, C - 1)),
                              reference=lambda a, s: (a["x"] @ a["W"].T) * (1e6 / 3) * (1 + 1e-13)))


@mutant(CATEGORY, "hole 8: the reference compared within 1e-12 relative (a reference 450 ulps off passes)")
def reference_tolerance_loose():
    return trial("the reference check's rounding tolerance", slightly_off_reference_proof,
                 lambda: mock.patch.object(R, "ULPS", 1e-12 / R.U))


def rounding_reference_proof():
    """The linear layer against a reference that rounds its input to integers: integer inputs cannot tell."""
    lin = load("linear")
    op = replace(lin.operator, reference=lambda a, s: np.round(a["x"]) @ a["W"].T + a["bias"])
    return replace(lin.proof(), operator=op).check()


@mutant(CATEGORY, "hole 8: the reference run on integer inputs only (a reference that rounds its input passes)")
def reference_integer_inputs_only():
    integer = R.draw
    return trial("the reference check's dyadic inputs", rounding_reference_proof,
                 lambda: mock.patch.object(R, "draw", lambda op, shapes, rng, kind: integer(op, shapes, rng, "integer")))


def own_formula_reference_proof():
    """The linear layer whose "reference" is its own formula, called torch.nn.functional.linear by the file."""
    lin = load("linear")
    op = replace(lin.operator, reference=lambda a, s: np.einsum("oc,bnc->bno", a["W"], a["x"]) + a["bias"],
                 reference_name="torch.nn.functional.linear")
    return replace(lin.proof(), operator=op).check()


@mutant(CATEGORY, "hole 8: the reference labelled as the library it is named after (the file's own formula)")
def reference_named_as_the_library():
    """Killed when, without the fix, the verdict says the form equals torch.nn.functional.linear (nothing
    checked that: the file's reference is the form itself), while the checker says only what the file calls it."""
    claim = "equals torch.nn.functional.linear"

    def label():
        cp = own_formula_reference_proof()
        ref = next(ch for ch in cp.checks if ch.name.startswith("reference"))
        return cp, f"{ref.name}: {ref.message}"
    real_cp, real = label()
    if claim in real or "user-supplied" not in real:
        return Outcome(False, "nothing", f"the real checker asserts the file's claim ({real[:200]}): the fix is missing")
    with mock.patch.object(R, "check_name", lambda op: f"reference ({op.reference_name})"), \
            mock.patch.object(R, "claimed", lambda op, verb="": f"{op.reference_name} {verb}".rstrip()):
        cp, got = label()
    if not (accepted(cp) and claim in got):
        return Outcome(False, "nothing", f"the label is honest even without the fix: {got[:200]}")
    return Outcome(True, "the reference check's honest label",
                   f"without the fix: PROVED, '{got[:90]}…'; the checker: '{real[:140]}…'")


# -- 10. operator files run in a child process --------------------------------------------------------------

HOSTILE_FILE = OPERATORS / "_hostile_patch_ok.py"
IN_PROCESS = ("import sys\nfrom evosym import catalogue\n"
              "cp = catalogue.load(sys.argv[1]).proof().check()\nprint('PROVED' if cp.ok else 'NOT PROVED')\n")


def prove_in_process() -> str:
    """The mutant path: load, derive and check the file in one process (a fresh Python, so the file's patch
    cannot reach the self-test's own checker). Its last line of output."""
    run = subprocess.run([sys.executable, "-c", IN_PROCESS, str(HOSTILE_FILE)], capture_output=True, text=True,
                         timeout=120)
    lines = run.stdout.strip().splitlines()
    return lines[-1] if run.returncode == 0 and lines else f"exit {run.returncode}: {run.stderr.strip()[-200:]}"


def prove_isolated() -> tuple[int, str]:
    """``evosym prove FILE --summary`` as a user runs it (its own process): the file derived in a child
    process, what it hands back checked in the command's."""
    run = subprocess.run([sys.executable, "-m", "evosym", "prove", str(HOSTILE_FILE), "--summary"], capture_output=True,
                         text=True, timeout=300)
    return run.returncode, " ".join((run.stdout + run.stderr).split())


@mutant(CATEGORY, "hole 10: the operator file run in the checker's process (it patches CheckedProof.ok at import)")
def prove_in_the_files_process():
    rc, real = prove_isolated()
    if rc == 0 or real.startswith("PROVED"):
        return Outcome(False, "nothing", f"evosym prove accepts the hostile file (exit {rc}: {real[:200]}): "
                                         "the fix is missing")
    got = prove_in_process()
    if got != "PROVED":
        return Outcome(False, "nothing", f"the hostile file is refused even in its own process ({got[:200]})")
    return Outcome(True, "the child process of evosym prove",
                   f"in the file's process: PROVED; evosym prove: exit {rc}, {real[:200]}")


# -- 13. the operator files' process confined -----------------------------------------------------------------

WRITER = ("import os\n"
          "from evosym.selftest.operators.textbook_conv1d import OPERATOR, derive  # noqa: F401\n"
          "try:\n"
          "    open(os.environ['EVOSYM_SELFTEST_VICTIM'], 'a').write('written by the operator file\\n')\n"
          "except OSError:\n"
          "    pass\n")
UNCONFINED = ("import sys, evosym.isolation.spawn as s\n"
              "s._START = s._START.replace('import runpy;', 'import evosym.isolation.landlock as L, "
              "evosym.isolation.sockets as S, evosym.isolation.processes as P; L.confine = lambda p: 0; "
              "S.deny_sockets = P.deny_processes = lambda: False; import runpy;')\n"
              "from evosym.cli.main import main\nsys.exit(main(sys.argv[1:]))\n")


def _victim_changed(start: list[str], command: list[str]) -> tuple[bool, str]:
    """``python START COMMAND writer.py`` on :data:`WRITER`: whether the file it appends to changed, and the output."""
    import os
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        victim, src = os.path.join(folder, "victim.py"), os.path.join(folder, "writer.py")
        with open(victim, "w") as f:
            f.write("original\n")
        with open(src, "w") as f:
            f.write(WRITER)
        run = subprocess.run([sys.executable, *start, *command, src], capture_output=True, text=True, timeout=300,
                             env={**os.environ, "EVOSYM_SELFTEST_VICTIM": victim})
        with open(victim) as f:
            return f.read() != "original\n", " ".join((run.stdout[:200] + run.stderr).split())


def _write_trial(command: list[str], mutant_start: list[str], by: str, labels: tuple[str, str], no_landlock: str):
    """Killed when the operator file that writes outside (:data:`WRITER`) changes its victim through the mutant
    (``python MUTANT_START COMMAND FILE``) and not through ``evosym COMMAND FILE``; ``labels``: (the mutant's, the
    real run's) names in the outcome."""
    from ..isolation.landlock import abi
    if not abi():
        return Outcome(False, "nothing", no_landlock)
    changed, real = _victim_changed(["-m", "evosym"], command)
    if changed:
        return Outcome(False, "nothing", f"evosym {command[0]} let the operator file write outside ({real[:200]}): the "
                                         "fix is missing")
    changed, got = _victim_changed(mutant_start, command)
    if not changed:
        return Outcome(False, "nothing", f"the file could not write even through the mutant ({got[:200]})")
    return Outcome(True, by, f"{labels[0]}: the file outside changed; {labels[1]}: unchanged ({real[:120]})")


@mutant(CATEGORY, "hole 13: the operator files' process unconfined (it can write what the checker reads later)")
def operator_file_unconfined():
    return _write_trial(["prove", "--summary"], ["-c", UNCONFINED], "the Landlock confinement of the worker",
                        ("unconfined", "confined"), "this kernel has no Landlock: the confinement cannot be tested here")


SPAWNER = ("import os, subprocess, sys\n"
           "from evosym.selftest.operators.textbook_conv1d import OPERATOR, derive  # noqa: F401\n"
           "try:\n"
           "    subprocess.Popen(['sleep', os.environ['EVOSYM_SELFTEST_MARK']], start_new_session=True)\n"
           "except OSError:\n"
           "    pass\n")
SPAWNING = ("import sys, evosym.isolation.spawn as s\n"
            "s._START = s._START.replace('import runpy;', 'import evosym.isolation.processes as P; "
            "P.deny_processes = lambda: False; import runpy;')\n"
            "from evosym.cli.main import main\nsys.exit(main(sys.argv[1:]))\n")


def _outlived(start: list[str]) -> tuple[bool, str]:
    """``python START prove --summary spawner.py`` on :data:`SPAWNER`: whether the process it detached still runs once
    the command has ended (then killed), and the output."""
    import os
    import random
    import signal
    import tempfile
    mark = str(3600 + random.SystemRandom().randrange(1 << 30))   # sleep's argument: this trial's process
    with tempfile.TemporaryDirectory() as folder:
        src = os.path.join(folder, "spawner.py")
        with open(src, "w") as f:
            f.write(SPAWNER)
        run = subprocess.run([sys.executable, *start, "prove", "--summary", src], capture_output=True, text=True,
                             timeout=300, env={**os.environ, "EVOSYM_SELFTEST_MARK": mark})
    found = False
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if args[:2] == [b"sleep", mark.encode()]:
            found = True
            with contextlib.suppress(OSError):
                os.kill(int(pid), signal.SIGKILL)
    return found, " ".join((run.stdout[:200] + run.stderr).split())


@mutant(CATEGORY, "hole 13: the operator files' process may start processes (a detached one outlives the run)")
def operator_file_starts_processes():
    from ..isolation.seccomp import machine
    if machine() is None:
        return Outcome(False, "nothing", "no seccomp filter is written for this machine: the fork cannot be refused "
                                         "here")
    outlived, real = _outlived(["-m", "evosym"])
    if outlived:
        return Outcome(False, "nothing", f"evosym prove let the operator file start a process that outlived it "
                                         f"({real[:200]}): the fix is missing")
    outlived, got = _outlived(["-c", SPAWNING])
    if not outlived:
        return Outcome(False, "nothing", f"no process outlived the run even through the mutant ({got[:200]})")
    return Outcome(True, "the seccomp filter refusing fork and clone in the worker",
                   f"processes allowed: the detached process outlived the run; confined: none ({real[:120]})")


# -- 14. the operator file never imported by code generation -------------------------------------------------

IMPORTED = ("import sys, pathlib, evosym.catalogue as c\n"   # the pre-fix path: the file imported after the verdict
            "c._with_data = lambda path, cp, data: (c._load_file(pathlib.Path(path)), cp)[1]\n"
            "from evosym.cli.main import main\nsys.exit(main(sys.argv[1:]))\n")


@mutant(CATEGORY, "hole 14: code generation imports the operator file after the verdict (for its binding and "
                  "references), unconfined")
def generation_imports_the_file():
    return _write_trial(["codegen"], ["-c", IMPORTED], "the plain data handed back and the confined reference process",
                        ("imported", "evosym codegen"), "this kernel has no Landlock: the file writes from the child "
                        "too, so the import cannot be told apart here")
