"""The proof search (evosym.search): catalogue operators proved with their derive removed, the found
proof printed as a derive function that reproduces it, d.auto() after hand steps, honest failures,
and the search's guesses re-checked (a wrong guess is a failure, never a proof)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sympy as sp

from evosym import catalogue
from evosym.proof.derivation import Derivation
from evosym.search import SearchFailed, SearchingDerivation, derive_source
from evosym.search import aggregation
from cli_helpers import run_cli

CASES = Path(__file__).resolve().parent / "data" / "search_cases"
NOT_SEARCHED = {"dirichlet_conv": "no divisor tactics", "mobius_inversion": "no divisor tactics",
                "mobius_inversion_converse": "no divisor tactics",
                "mhsa_causal": "Ω from a guard [m ≤ i], not from a sum's range",
                "gqa_causal": "Ω from a guard [m ≤ i], not from a sum's range",
                "mhsa_causal_key_padding": "Ω from a guard [m ≤ i], not from a sum's range"}   # typed derive only
SEARCHED = [n for n in catalogue.catalogue_names() if n not in NOT_SEARCHED]

_found: dict = {}


def searched(name: str):
    """(derivation found by search, seconds), once per session."""
    if name not in _found:
        d = SearchingDerivation(catalogue.load(name).operator)
        start = time.perf_counter()
        d.auto()
        _found[name] = (d, time.perf_counter() - start)
    return _found[name]


@pytest.mark.parametrize("name", SEARCHED)
def test_catalogue_operator_proves_without_its_derive(name):
    d, seconds = searched(name)
    cp = d.proof().check(reference=False)   # the reference checks the traditional form, not the derivation
    assert cp.ok, cp.failures()
    hand = catalogue.load(name).proof()
    assert cp.evolution is not None
    # the search finds the form in at most a few steps more than the hand-written proof
    assert len(cp.steps) <= len(hand.steps) + 2, (len(cp.steps), len(hand.steps))
    assert seconds < 30, seconds


FILES = Path(__file__).resolve().parent / "data" / "search"


@pytest.mark.parametrize("name", ["linear", "conv2d", "local_attention", "hyperzzw_code", "mhsa", "swin_attention",
                                  "fourier_conv1d", str(FILES / "cumulative_mean1d.py"),
                                  str(FILES / "upsample_nearest2d.py")])
def test_printed_derive_reproduces_the_proof(name):
    """--show-derive's function, run on a plain Derivation, takes exactly the steps the search took."""
    d, _ = searched(name)
    src = derive_source(d.steps, d._conclusion, d.operator.size_symbols())
    namespace: dict = {}
    exec(compile(src, f"<derive of {name}>", "exec"), namespace)
    again = Derivation(d.operator)
    namespace["derive"](again)
    assert [(s.rule, s.args) for s in again.steps] == [(s.rule, s.args) for s in d.steps]
    assert [s.after for s in again.steps] == [s.after for s in d.steps]
    assert again._conclusion == d._conclusion
    assert derive_source(d.steps, d._conclusion, d.operator.size_symbols()) == src   # deterministic


def test_auto_after_hand_steps_and_without_derive():
    mod = catalogue.load(str(CASES / "shift_then_auto.py"))
    proof = mod.proof()
    assert proof.steps[0].rule == "unfold-definition" and len(proof.steps) > 2
    cp = proof.check()
    assert cp.ok, cp.failures()


def test_non_linear_operator_fails_honestly():
    with pytest.raises(SearchFailed) as exc:
        catalogue.load(str(CASES / "square.py")).proof()
    text = str(exc.value)
    assert text.startswith(f"{CASES / 'square.py'}: proof search for square_map found no Evolution form: the term ")
    assert "is not linear in the value tensor x" in text and "0 step(s) far (none)" in text
    assert "the closest expression reached is x[b, o, i]**2" in text


def test_cli_search_failure_is_a_failed_proof(capsys):
    rc, out, err = run_cli(capsys, "prove", str(CASES / "square.py"), "--summary")
    assert rc == 1 and out == ""
    assert err.startswith("evosym: proof failed: ") and "proof search for square_map found no Evolution form" in err


@pytest.mark.parametrize("wrong", [
    lambda pins, axes, positions, q, lengths, op: catalogue.load("linear").operator and __import__(
        "evosym").Global(tuple(lengths)),                                                  # every position
    lambda pins, axes, positions, q, lengths, op: __import__("evosym").Window(tuple(
        __import__("evosym").WindowAxis(3, 1, 1, 1, n) for n in lengths)),                 # a window too wide
])
def test_a_wrong_guess_of_omega_is_a_search_failure(monkeypatch, wrong):
    monkeypatch.setattr(aggregation, "infer_neighbourhood", wrong)
    with pytest.raises(SearchFailed, match="the kernel's support is not the inferred Ω"):
        SearchingDerivation(catalogue.load("conv1d").operator).auto()


def test_a_wrong_step_from_the_search_is_caught_by_the_checker(monkeypatch):
    """The search is untrusted: a proof it hands over with a tampered step fails the check."""
    d, _ = searched("involution")
    steps = list(d.steps)
    k = next(i for i, s in enumerate(steps) if s.rule == "introduce-delta")
    bad = steps[k].after.xreplace({sp.Symbol("R", integer=True, positive=True): 2})
    steps[k] = type(steps[k])(**{**steps[k].__dict__, "after": bad})
    from evosym.proof.proof import Proof
    proof = d.proof()
    cp = Proof(proof.operator, tuple(steps), proof.omega, proof.channel, proof.neighbour).check(reference=False)
    assert not cp.ok


def test_cli_show_derive_and_search(capsys):
    rc, out, err = run_cli(capsys, "prove", "linear", "--search", "--show-derive")
    assert rc == 0, err
    assert out.startswith("# linear: 2 steps, checked\n")
    assert "def derive(d):" in out and "d.apply('introduce-delta'" in out and "d.conclude(omega=Window(" in out
    rc, out, err = run_cli(capsys, "prove", str(CASES / "shift_then_auto.py"), "--summary")
    assert rc == 0, err
    assert out.startswith("PROVED  shift_auto"), out


# -- findings of an adversarial review: each a small conv1d file written here ---------------------
_CONV1D = '''
import sympy as sp
from evosym import Operator, TensorDecl, index, size
B, C, O, L, K = size("B"), size("C"), size("O"), size("L"), size("K")
b, o, c, i = index("b"), index("o"), index("c"), index("i")
u = {tap}
x = TensorDecl({value!r}, (B, C, L + K - 1), "input", "input")
W = TensorDecl("W", (O, C, K), "parameter", "weight")
y = TensorDecl("y", (B, O, L), "output", "out")
OPERATOR = Operator(name="conv_case", summary="s", output=y, lhs_indices=(b, o, i),
    traditional={form}, tensors=(x, W), batch=b, out_channel=o, position=(i,){extra},
    sizes=((B, "b"), (C, "c"), (O, "o"), (L, "l"), (K, "k")),
    grid=({{B: 1, C: 2, O: 2, L: 4, K: 3}}, {{B: 2, C: 1, O: 1, L: 3, K: 2}}))
{derive}
'''
_PLAIN = "sp.Sum(W[o, c, u] * x[b, c, i + u], (u, 0, K - 1), (c, 0, C - 1))"


def _conv_file(tmp_path, *, tap='index("u")', value="x", form=_PLAIN, extra="", derive=""):
    path = tmp_path / "conv_case.py"
    path.write_text(_CONV1D.format(tap=tap, value=value, form=form, extra=extra, derive=derive), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("case", [
    dict(value="in", extra=', value="in"'),                                      # a Python keyword as a tensor
    dict(tap='index("lambda")'), dict(tap='index("u\u2081")'), dict(tap='index("IndexSet")'),
    dict(tap='sp.Symbol("u", integer=True, nonnegative=True)'),                  # assumptions other than index()'s
    dict(form="sp.Function('g')(o) * " + _PLAIN),                                 # an undefined function
    dict(form="sp.Heaviside(o) * " + _PLAIN),
])
def test_printed_derive_of_unusual_names_reproduces_the_proof(tmp_path, case):
    d = SearchingDerivation(catalogue.load(_conv_file(tmp_path, **case)).operator)
    d.auto()
    src = derive_source(d.steps, d._conclusion, d.operator.size_symbols())
    namespace: dict = {}
    exec(compile(src, "<derive>", "exec"), namespace)
    again = Derivation(d.operator)
    namespace["derive"](again)
    assert [s.after for s in again.steps] == [s.after for s in d.steps] and again._conclusion == d._conclusion


@pytest.mark.parametrize("case, message", [
    (dict(value="inp"), "the value tensor 'x' is not one of the operator's tensors (inp, W); name it with Operator(value=…)"),
    (dict(derive="def derive(d):\n    d.auto()\n    d.auto()"), "d.auto() after d.conclude(…): the derivation is already concluded"),
    (dict(form=_PLAIN + " + sp.Sum(W[o, c, K - 1 - u] * x[b, c, i + u], (u, 0, K - 1), (c, 0, C - 1))"),
     "the expression binds c, u in more than one sum"),
])
def test_files_the_search_cannot_take_are_usage_errors(capsys, tmp_path, case, message):
    rc, out, err = run_cli(capsys, "prove", _conv_file(tmp_path, **case), "--summary")
    assert rc == 2 and out == "" and message in err, (rc, err)


@pytest.mark.parametrize("form, message", [
    ("x[b, o, i + 1] - x[b, o, i]", "is read outside every sum while another term mentions the same indices"),
    ("sp.Sum(sp.Piecewise((W[o, c, u] * x[b, c, i + u], sp.Eq(u, 0)), (2 * W[o, c, u] * x[b, c, i + u], True)), "
     "(u, 0, K - 1), (c, 0, C - 1))", "inside Piecewise("),
])
def test_honest_failures_name_what_is_not_in_the_form(capsys, tmp_path, form, message):
    rc, out, err = run_cli(capsys, "prove", _conv_file(tmp_path, form=form, extra=', value="x"'), "--summary")
    assert rc == 1 and message in err, (rc, err)


@pytest.mark.parametrize("flags", [("--summary",), ("--format", "latex"), ("--format", "json")])
def test_show_derive_takes_no_other_format(capsys, flags):
    rc, out, err = run_cli(capsys, "prove", "linear", "--show-derive", *flags)
    assert rc == 2 and "--show-derive prints the derive(d) function as Python; it does not take" in err
