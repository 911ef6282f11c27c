"""Names a reader could take one for the other are refused (the premise "every name stands for one thing"): a proof
printed a kernel size ``sigma`` beside a stride ``σ`` as ⌊(L − σ)/σ⌋ and said PROVED. Two names of one scope that
print alike (Greek names and letters, digits and subscripts, fullwidth and mathematical letters, Greek capitals drawn
as Latin ones), tensors whose names or display names print alike, a scalar parameter displayed as a size, and letters
outside the Latin and Greek alphabets; what prints apart stays allowed."""

from __future__ import annotations

import pytest
import sympy as sp

from evosym import Definition, Derivation, InRange, TensorDecl, index, size
from evosym.printers import render
from evosym.proof.certificate import certificate, derivation, dumps, loads, verify
from evosym.ir.looks import foreign_letters, latex_look, look
from evosym.printers.expr import symbol_names

from test_checker_names_ranges import GRID, SIZES, Wt, _finish, _op, _refused, i, m, o, p

# pairs of names that print alike: Greek names and letters, digits and subscripts, SymPy's capitals, Greek letters a
# terminal shows as Latin ones (ν v, κ k, χ x, υ u), compatibility forms (Roman numeral Ⅽ)
ALIKE = [("sigma", "σ"), ("S1", "S_1"), ("S1", "S__1"), ("Alpha", "A"), ("lamda", "lambda"), ("varphi", "phi"),
         ("\u039a", "K"), ("\u039f", "O"), ("Sigma", "\u03a3"), ("C", "\u216d"), ("nu", "v"), ("\u03ba", "k"),
         ("chi", "x"), ("\u03c5", "u"), ("SIGMA", "sigma")]
# letters outside the Latin and Greek alphabets: Cyrillic, Hebrew, the lunate sigmas ϲ Ϲ and yot ϳ of the Greek
# block, fullwidth and mathematical letters (each could stand beside the letter it copies)
FOREIGN = ["\u0421", "x\u0430", "\u05d0", "\u2135", "K\u0456", "\u03f2", "\u03f9", "\u03f3", "\uff33", "\U0001d412"]


def _with_sizes(*names, **kw):
    """The toy operator with more sizes (those not among its own), each 1 at every grid shape."""
    extra = tuple((size(n), "extra") for n in names if n not in {str(s) for s, _ in SIZES})
    return _op(kw.pop("extra", 0), sizes=SIZES + extra, grid=tuple({**g, **{s: 1 for s, _ in extra}} for g in GRID),
               **kw)


@pytest.mark.parametrize("first, second", ALIKE)
def test_two_sizes_that_print_alike_are_refused(first, second):
    _refused(_finish(Derivation(_with_sizes(first, second))), "print alike", first)


@pytest.mark.parametrize("first, second", ALIKE + [("\u0174", "W\u0302"), ("\uff33", "S"), ("\U0001d412", "S"),
                                                   ("W*", "W\u2217"), ("W'", "W\u2032")])
def test_the_look_of_names_that_print_alike_is_one(first, second):
    assert look(first) == look(second)


@pytest.mark.parametrize("first, second", [("x", "x\u0303"), ("alpha", "a"), ("C", "c"), ("K_h", "K_w"), ("W", "\u0174"),
                                           ("S1", "S2"), ("W", "W*"), ("W", "W\u207a"), ("W", "W\u2020"), ("W*", "W+"),
                                           ("rho", "p"), ("omega", "w"), ("gamma", "y")])
def test_names_that_print_apart_have_their_own_looks(first, second):
    assert look(first) != look(second)


@pytest.mark.parametrize("name", FOREIGN)
def test_a_letter_outside_latin_and_greek_is_refused(name):
    """Cyrillic С (U+0421) beside nothing alike: still refused, since it could be any of Unicode's look-alikes."""
    assert foreign_letters(name)
    _refused(_finish(Derivation(_with_sizes(name))), "outside the Latin and Greek alphabets")


@pytest.mark.parametrize("param, sizes", [("\u039f", ()), ("L_1", ("L1",)), ("sigma", ("\u03c3",))])
def test_a_definition_parameter_alike_a_size_is_refused(param, sizes):
    """A definition's scope is its parameters and the sizes: a parameter written Ο (Greek) beside the size O, L_1
    beside a size L1, sigma beside a size σ."""
    L = size("L")
    G = Definition("G", (index(param),), index(param) * 0 + Wt[0, 0])
    d = Derivation(_with_sizes(*sizes, extra=sp.IndexedBase("G")[i + L], definitions=(G,)))
    d.apply("introduce-delta", targets=[(i + L, m, 0, L - 1)])
    _refused(_finish(d), "print alike")


def test_a_definition_parameter_may_print_alike_a_variable_elsewhere():
    """Names of two scopes are read apart: G's parameter ρ beside the operator's p."""
    L = size("L")
    G = Definition("G", (index("\u03c1"),), index("\u03c1") * 0 + Wt[0, 0])
    d = Derivation(_op(sp.IndexedBase("G")[i + L] + sp.Sum(Wt[0, 0] * 0, (p, 0, 1)), definitions=(G,)))
    d.apply("introduce-delta", targets=[(i + L, m, 0, L - 1)])
    cp = _finish(d)
    assert not [r for r in cp.checks if not r.ok and "print alike" in r.message], render(cp, "text")


@pytest.mark.parametrize("tensor, words", [
    (TensorDecl("V2", (size("L"),), "parameter", text="W"), "the tensors V2 and W print alike"),
    (TensorDecl("V2", (size("L"),), "parameter", latex=r"\mathrm{W}"), "the tensors (in LaTeX) V2 and W print alike"),
    (TensorDecl("V2", (size("L"),), "parameter", latex=r"\mathbf{W}"), "the tensors (in LaTeX) V2 and W print alike"),
    (TensorDecl("V2", (size("L"),), "parameter", text="\u03c7"), "the tensors V2 and x print alike"),
    (TensorDecl("\u03a5", (size("L"),), "parameter", text="y"), "the tensors y and \u03a5 print alike"),
    (TensorDecl("V2", (size("L"),), "parameter", text="x\u0430"), "outside the Latin and Greek alphabets"),
    (TensorDecl("V2", (size("L"),), "parameter", text="\uff37"), "outside the Latin and Greek alphabets"),
    (TensorDecl("t", (1,), "parameter", text="L"), "the names L and t[0] print alike"),
    (TensorDecl("t", (1,), "parameter", latex=r"\mathrm{L}"), "the names L and t[0] print alike"),
    (TensorDecl("t", (1,), "parameter", latex=r"\sigma", text="s"), "print alike"),
    (TensorDecl("Omega", (size("L"),), "parameter"), "printed beginning with \u03a9, which is the neighbourhood"),
    (TensorDecl("V2", (size("L"),), "parameter", latex=r"\Omega"), "printed beginning with \u03a9, which is the neighbourhood"),
])
def test_tensors_that_print_alike_are_refused(tensor, words):
    _refused(_finish(Derivation(_with_sizes("sigma", tensors=(tensor,)))), words)


@pytest.mark.parametrize("tensor", [
    TensorDecl("W2", (size("L"),), "parameter", text="W\u0303", latex=r"\tilde{W}"),   # an accent prints apart
    TensorDecl("t", (1,), "parameter", text="τ", latex=r"\tau"),                       # a scalar apart from the sizes
    TensorDecl("L2", (size("L"),), "parameter", text="\u0174"),                        # Ŵ, precomposed: Latin
    TensorDecl("W2", (size("L"),), "parameter", text="W\u2081", latex="W^{(1)}"),         # a layer's label
    TensorDecl("W2", (size("L"),), "parameter", text="h\u209c", latex="h_{t-1}"),         # an index's arithmetic
    TensorDecl("W2", (size("L"),), "parameter", text="W\u1d52", latex="W^{o}_{g}"),       # a superscript label
    TensorDecl("W2", (size("L"),), "parameter", latex="W^{l+1}"),                          # a layer's index
    TensorDecl("x__a", (size("L"),), "parameter"),                                          # x^{a}: a label
])
def test_tensors_that_print_apart_are_allowed(tensor):
    cp = _finish(Derivation(_op(0, tensors=(tensor,))))
    assert cp.ok, render(cp, "text")


def test_latex_looks():
    assert latex_look(r"W^{\mathrm{dw}}") == latex_look(r"W^{dw}") == look("W_dw")
    assert latex_look(r"\sigma") == look("sigma") and latex_look(r"x^{\prime}") == look("x'")
    assert latex_look(r"\tilde{x}") != look("x") and latex_look(r"\mathcal{L}") != look("L")
    # commands that print alike: \ast and *, \overline and \bar, \widehat and \hat, \widetilde and \tilde
    assert latex_look(r"W^{\ast}") == latex_look("W^{*}") != latex_look("W")
    for wide, narrow in (("overline", "bar"), ("widehat", "hat"), ("widetilde", "tilde")):
        assert latex_look(rf"\{wide}{{W}}") == latex_look(rf"\{narrow}{{W}}") != latex_look("W")


@pytest.mark.parametrize("first, second", [(("W\u0304", r"\bar{W}"), ("W\u0305", r"\overline{W}")),
                                           (("W\u0302", r"\hat{W}"), ("W\u0302\u0302"[:2], r"\widehat{W}"))])
def test_display_names_that_render_alike_are_refused(first, second):
    """Two tensors displayed \\bar{W} and \\overline{W} (both W̄ in LaTeX), \\hat{W} and \\widehat{W}."""
    tensors = tuple(TensorDecl(f"V{k}", (size("L"),), "parameter", text=t, latex=x)
                    for k, (t, x) in enumerate((first, second)))
    _refused(_finish(Derivation(_op(0, tensors=tensors))), "the tensors (in LaTeX) V0 and V1 print alike")


@pytest.mark.parametrize("text, latex", [("1", None), (None, "1"), ("K\u00b2", None), (None, "K^{2}"), (None, "K^2"),
                                         ("a+b", None), (None, "K/2"), (None, r"W^{\top}"), (None, r"\infty"),
                                         ("2W", None), (None, "W(1)"), (None, r"\partial"), ("K\u00b9\u2070", None),
                                         ("W\u1d40", None), (None, "W^{-1}"), (None, "W^{T}"), ("W*", None),
                                         ("W\u207a", None), ("W\u2020", None), (None, r"W^{\ast}"), (None, "W^{+}"),
                                         (None, r"W^{\dagger}")])
def test_a_display_name_that_reads_as_a_number_or_an_expression_is_refused(text, latex):
    """A scalar parameter a displayed 1 printed y = 1/K·Σ … (a·avgpool read as avgpool); K^{2} read as a power; Wᵀ,
    W^{-1}, W*, W⁺, W† as a transpose, an inverse, a conjugate, a pseudo-inverse, an adjoint."""
    tensor = TensorDecl("a", (1,), "parameter", text=text, latex=latex)
    _refused(_finish(Derivation(_op(0, tensors=(tensor,)))), "the tensor a: its", "does not read as a name")


@pytest.mark.parametrize("name, words", [
    ("Omega", "printed beginning with \u03a9, which is the neighbourhood \u03a9"), ("\u03a9", "the neighbourhood"),
    ("Omega_i", "the neighbourhood"), ("\u03a9'", "the neighbourhood"), ("Omega_L", "the neighbourhood"),
    ("Sigma", "which is a sum \u03a3"), ("\u03a3", "a sum"), ("Sigma_h", "a sum"),
    ("exp", "printed as the function or notation exp"), ("mod", "notation mod"), ("log", "function"),
    ("max", "function"), ("_1", "does not begin with a letter"), ("_", "does not begin with a letter"),
    ("_x", "does not begin with a letter"), ("pi", "the constant \u03c0"), ("\u03c0", "the constant"),
    ("Pi", "a product \u03a0"), ("K__2", "superscript '2' (after __) prints as a power"),
    ("W__T", "superscript 'T'"), ("x__1", "superscript '1'"),
])
def test_a_name_printed_as_notation_is_refused(name, words):
    """A size Omega printed (B, C, Ω) and Ω(i) = … ∩ [0, Ω); Omega_i printed Ω(i) = {Ω_i·i + u …}; a size Σ printed
    1/Σ·Σ_{u=0}^{Σ−1}; a dilation exp printed exp (K − 1) in LaTeX; a stride _1 printed x[b, o, _1 i + u], a
    subscript on the comma."""
    _refused(_finish(Derivation(_with_sizes(name))), words)


@pytest.mark.parametrize("name", ["delta", "\u03b4", "Sigma", "\u03a3", "Omega_f"])
def test_a_function_printed_as_the_proofs_notation_is_refused(name):
    """An undefined function δ printed K = δ(o, i)·δ(c, o)/K: one factor opaque, the other the Kronecker delta."""
    f = sp.Function(name)
    cp = _finish(Derivation(_op(InRange(i, -2, -1) * f(i, o))))   # (a term no output position reaches)
    _refused(cp, f"{name} ", "in every printed proof")


def test_an_index_printed_as_the_imaginary_unit_is_refused():
    """A DFT's output index i printed e^(2πi·i·k/L): refused where a root of unity reads it, allowed elsewhere (i is
    the catalogue's usual position; a root of unity of another index beside it prints apart)."""
    L = size("L")
    root = InRange(i, -2, -1) * sp.exp(2 * sp.pi * sp.I * i / L) * Wt[0, 0]
    _refused(_finish(Derivation(_op(root))), "the name i prints as the imaginary unit i in a root of unity")
    assert _finish(Derivation(_op(0))).ok
    other = _finish(Derivation(_op(InRange(i, -2, -1) * sp.exp(2 * sp.pi * sp.I * o / L) * Wt[0, 0])))
    assert not [r for r in other.checks if "imaginary unit" in r.message]


@pytest.mark.parametrize("tensor", [TensorDecl("delta", (size("L"),), "parameter"),
                                    TensorDecl("V2", (size("L"),), "parameter", text="\u03b4"),
                                    TensorDecl("V2", (size("L"),), "parameter", latex=r"\delta")])
def test_a_tensor_printed_as_the_kronecker_delta_is_refused(tensor):
    """A definition named δ (name-kernel's name=) printed δ[o, c, i, m] := Σ δ(c, o)·…"""
    _refused(_finish(Derivation(_op(0, tensors=(tensor,)))), "prints as \u03b4, which is the Kronecker delta")


def test_the_search_names_new_variables_apart_from_every_name_it_sees():
    """The search's fresh variables: not m beside a scalar displayed m, not m_1 beside a size m1."""
    from evosym.search.engine import Search
    op = _with_sizes("m1", tensors=(TensorDecl("g", (1,), "parameter", text="m", latex="m"),))
    search = Search.__new__(Search)
    search.d, search.op = Derivation(op), op
    assert str(search.fresh("m")) == "m_2" and str(search.fresh("q")) == "q"


def test_a_scalar_displayed_as_a_definition_parameter_is_refused():
    """A scalar parameter g displayed t beside a definition's parameter t printed xs[b, c, t] := t·x[b, c, t]."""
    t = index("t")
    G = Definition("G", (t,), t * 0 + Wt[0, 0])
    L = size("L")
    d = Derivation(_op(sp.IndexedBase("G")[i + L], definitions=(G,),
                       tensors=(TensorDecl("g", (1,), "parameter", text="t", latex="t"),)))
    d.apply("introduce-delta", targets=[(i + L, m, 0, L - 1)])
    _refused(_finish(d), "the names g[0] and t print alike")


def test_a_dilation_prints_as_d_only_where_no_name_looks_like_it():
    """delta_1 beside a size d1, or a scalar parameter displayed d beside delta: the dilation keeps δ."""
    import evosym.ir.neighbourhood as nb
    from types import SimpleNamespace as NS
    d1, dl, dd, K, L = sp.symbols("delta_1 delta d1 K L", integer=True, positive=True)

    def names(axis, sizes=(), tensors=()):
        op = NS(traditional=0, size_symbols=lambda: tuple(sizes), lhs_indices=(), tensors=tuple(tensors))
        return symbol_names(NS(proof=NS(omega=nb.Window((axis,))), operator=op, steps=()), "text")
    assert names(nb.WindowAxis(K, 1, d1, 0, L)) == {"delta_1": "d_1"}
    assert names(nb.WindowAxis(K, 1, d1, 0, L), sizes=(dd,)) == {}
    assert names(nb.WindowAxis(K, 1, dl, 0, L)) == {"delta": "d"}
    assert names(nb.WindowAxis(K, 1, dl, 0, L), tensors=(TensorDecl("g", (1,), "parameter", text="d"),)) == {}


def test_the_offsets_of_a_printed_window_are_none_of_its_names():
    """Ω(i) of a window whose stride is named u, and one whose padding is u_1: the offsets are primed."""
    from evosym import Window, WindowAxis
    from evosym.printers.expr import TextExprPrinter
    u, u1, K, L = size("u"), size("u_1"), size("K"), size("L")
    text = Window((WindowAxis(K, u, 1, 0, L),)).text((i,), TextExprPrinter())
    assert text == "{i·u + u' : 0 ≤ u' ≤ K - 1} ∩ [0, L)", text
    two = Window((WindowAxis(K, 1, 1, u1, L), WindowAxis(K, 1, 1, 0, L))).text((i, m), TextExprPrinter())
    assert "u_1'" in two and "u_2 :" not in two and "0 ≤ u_2 ≤" in two, two


def test_a_certificate_with_names_edited_to_print_alike_does_not_verify():
    """verify re-checks the premise: a certificate of a proof with sizes K and T verifies; T renamed Κ (Greek) does
    not."""
    extra = ((size("K"), "extra"), (size("T"), "extra"))
    grid = tuple({**g, size("K"): 1, size("T"): 2} for g in GRID)
    cp = _finish(Derivation(_op(0, sizes=SIZES + extra, grid=grid)))
    assert cp.ok, render(cp, "text")
    text = dumps(certificate(cp, derivation(cp.proof)))
    assert verify(loads(text)).ok
    edited = text.replace('"T"', '"\\u039a"')
    assert edited != text
    v = verify(loads(edited))
    assert not v.ok
    assert [r.message for r in v.checked.checks if not r.ok] == [
        "every name stands for one thing: the names K and \u039a print alike (as K): a printed statement would not say "
        "which is which; rename one"]


def test_a_proof_printed_with_names_alike_says_not_proved(tmp_path):
    """End to end: the example's sizes renamed sigma (kernel) and σ (stride); prove prints NOT PROVED, exit 1."""
    import subprocess
    import sys
    from pathlib import Path
    src = (Path(__file__).parents[1] / "docs" / "examples" / "my_avg_pool1d.py").read_text()
    src = src.replace('("B", "C", "L", "K", "s")', '("B", "C", "L", "sigma", "σ")')
    src = src.replace('sizes["K"]', 'sizes["sigma"]').replace('sizes["s"]', 'sizes["σ"]')
    (tmp_path / "alike.py").write_text(src, encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "evosym", "prove", str(tmp_path / "alike.py")], capture_output=True,
                       text=True, encoding="utf-8", timeout=600, cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "the names sigma and σ print alike (as σ)" in r.stdout and "NOT PROVED" in r.stdout


# names that print as an expression: a size 'K-1' beside K printed 1/K-1·Σ …, a tensor 'W[0]' printed W[0][o, c]
EXPRESSIONS = ["K-1", "L+1", "K*2", "K/2", "K(1)", "K,1", "K 1", "K.1", "K=1", "K<1", "K|1", "K^2", "K{1}", "K\\1",
               "K\u00b2", "K!"]


@pytest.mark.parametrize("name", EXPRESSIONS)
def test_a_size_named_as_an_expression_is_refused(name):
    _refused(_finish(Derivation(_with_sizes(name))), "does not read as a name")


@pytest.mark.parametrize("name", ["W[0]", "W+b", "W 1", "W^T", "W\u00b2"])
def test_a_tensor_named_as_an_expression_is_refused(name):
    _refused(_finish(Derivation(_with_sizes(tensors=(TensorDecl(name, (size("L"),), "parameter"),)))),
             "does not read as a name")


@pytest.mark.parametrize("name", ["K'", "K\u2081", "K\u1d62\u2099", "K_1", "Kh''", "\u2113", "\u0174"])
def test_names_with_primes_subscripts_and_accents_are_allowed(name):
    cp = _finish(Derivation(_with_sizes(name)))
    assert cp.ok, render(cp, "text")
