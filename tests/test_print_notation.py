"""Printed proofs read well: dilation d and Kronecker δ apart, window sizes in parentheses, the kernel in
closed tap form, upright multi-letter names in LaTeX, rule statements typeset as math, a precondition
proved false marked ✗ (never an unknown one), and LaTeX fragments for a paper's appendix."""

from __future__ import annotations

import dataclasses
import re

import pytest
import sympy as sp

from evosym.cli.main import main
from evosym.errors import EvosymError
from evosym.printers import render, render_latex, render_markdown, render_text
from evosym.printers.expr import latex, symbol_names, text
from evosym.printers.outline import obligation_status
from evosym.printers.tex import statement_tex
from evosym.proof.rules import RULES
from evosym.proof.rules.base import Obligation

try:
    from .snapshot import checked
except ImportError:  # tests/ is not a package
    from snapshot import checked


@pytest.fixture(scope="module")
def conv2d():
    return checked("conv2d")


def test_dilation_is_d_and_the_kronecker_delta_stays_delta(conv2d):
    out = render_text(conv2d)
    assert "δ_h" not in out and "δ_w" not in out                  # the dilation is no longer written δ
    assert "d_h   dilation along h" in out and "-P_h + d_h·u + i·s_h" in out
    assert "δ(m, -P_h + d_h·u + i·s_h)" in out                      # the Kronecker delta keeps δ
    tex = render_latex(conv2d) + render_markdown(conv2d)
    assert r"\delta_{h}" not in tex and "d_{h}" in tex and r"\delta_{m,\, " in tex


def _proof(omega, traditional=0, sizes=(), steps=()):
    """What symbol_names reads of a checked proof: its Ω, the operator's form, sizes and indices, the steps."""
    from types import SimpleNamespace as NS
    op = NS(traditional=traditional, size_symbols=lambda: tuple(sizes), lhs_indices=(), tensors=())
    return NS(proof=NS(omega=omega), operator=op, steps=tuple(NS(before=b, after=a) for b, a in steps))


def test_dilation_renaming_comes_from_the_window_and_never_clashes():
    import evosym.ir.neighbourhood as nb
    d, dd, K, P, s, L = sp.symbols("delta_h d_h K P s L", integer=True, positive=True)
    axis = nb.WindowAxis(K, s, d, P, L)
    assert symbol_names(_proof(nb.Window((axis,))), "text") == {"delta_h": "d_h"}
    assert symbol_names(_proof(nb.Window((axis,))), "latex") == {"delta_h": "d_{h}"}
    taken = nb.WindowAxis(K, s, d, dd, L)                            # d_h already names the padding
    assert symbol_names(_proof(nb.Window((taken,))), "text") == {}
    # d_h taken anywhere in the proof: a size, a variable of the traditional form, one a step sums over
    u = sp.Symbol("u", integer=True)
    assert symbol_names(_proof(nb.Window((axis,)), sizes=(dd,)), "text") == {}
    assert symbol_names(_proof(nb.Window((axis,)), traditional=K * dd), "latex") == {}
    assert symbol_names(_proof(nb.Window((axis,)), steps=[(K, sp.Sum(u, (dd, 0, K)))]), "text") == {}
    assert symbol_names(_proof(None), "text") == {}
    assert text(d) == "δ_h" and text(d, symbols={"delta_h": "d_h"}) == "d_h"


def test_window_sizes_are_parenthesised():
    out = render_text(checked("local_attention"))
    assert "window (2·R + 1)×(2·R + 1) (stride, dilation, padding)" in out
    assert "2*R + 1×" not in out


def test_closed_tap_form_where_it_exists(conv2d):
    out = render_text(conv2d)
    assert ("K[o, c, i, j, -P_h + d_h·u_1 + i·s_h, -P_w + d_w·u_2 + j·s_w] = δ(⌊c/C_g⌋, ⌊o/O_g⌋)·"
            "W[o, -C_g·⌊o/O_g⌋ + c, u_1, u_2]") in out
    assert "checked against K at the 6 grid shapes" in " ".join(out.split())
    assert "In tap form" in render_markdown(conv2d) and "In tap form" in render_latex(conv2d)
    # a reflected border keeps a sum over the taps inside K: no closed tap form is printed
    assert "tap form" not in render_text(checked("conv2d_reflect"))
    # a global Ω has no taps
    assert "tap form" not in render_text(checked("linear"))


def test_multi_letter_names_are_upright_in_latex(conv2d):
    assert latex(sp.IndexedBase("bias")[sp.Symbol("o")]) == r"\mathrm{bias}\left[o\right]"
    assert latex(sp.Symbol("x_pad")) == r"x_{\mathrm{pad}}" and latex(sp.Symbol("fast_bias")) == r"\mathrm{fast\_bias}"
    assert latex(sp.Symbol("C_g")) == "C_{g}" and latex(sp.Symbol("alpha")) == r"\alpha"   # letters stay italic
    # a name prints as its letters, never as what SymPy makes of its ending (an accent, |x|, ‖x‖, ℏ, a prime):
    # a bar would read as a mean, |x| as an absolute value (a tensor's latex= display name gives an accent)
    for name in ("Zbar", "xabs", "xnorm", "xdot", "xhat", "xvec", "xprime", "hbar", "ell", "alphahat"):
        assert latex(sp.Symbol(name)) == r"\mathrm{%s}" % name, name
    assert latex(sp.Symbol("xhat_1")) == r"\mathrm{xhat\_1}" and latex(sp.Symbol("K_xbar")) == r"K_{\mathrm{xbar}}"
    for name in ("σabs", "K1abs", "i2prime", "s2bar", "W1bm", "x1dot"):   # endings after a digit or a Greek letter
        assert latex(sp.Symbol(name)) == r"\mathrm{%s}" % name, name
    assert latex(sp.Symbol("K_1abs")) == r"K_{\mathrm{1abs}}" and latex(sp.Symbol("σ1")) == "σ_{1}"
    assert latex(sp.Symbol("lamda")) == r"\lambda" and latex(sp.Symbol("Sigma_2")) == r"\Sigma_{2}"
    tex = render_latex(conv2d)
    assert r"\mathrm{bias}\left[o\right]" in tex and r"H_{\mathrm{in}}" in tex and "H_{in}" not in tex


def test_rule_statements_are_typeset_as_math():
    s = statement_tex(RULES["introduce-delta"].statement())
    assert s.startswith("Introduce a Kronecker delta: for an integer-valued $e$, if $f$ vanishes unless ")
    assert r"$f(e) = \sum _{m=\mathrm{lo}}^{\mathrm{hi}} \delta _{m,e} f(m)$" in s
    assert r"\_" not in s and r"\{" not in s                         # no formula left as escaped text
    s = statement_tex(RULES["congruence-to-remainder"].statement())
    assert "for $m$ in $[0, L - 1]$ and an integer $a$, $[a - m" in s   # an interval is one formula
    for rule in RULES.values():                                        # every statement: balanced math
        s = statement_tex(rule.statement())
        assert s.count("$") % 2 == 0 and s.isascii(), rule.name
        for formula in s.split("$")[1::2]:
            assert formula.count("{") == formula.count("}"), (rule.name, formula)


def test_a_refuted_precondition_is_marked_false_an_unknown_one_open(conv2d):
    @dataclasses.dataclass(frozen=True)
    class Refuted(Obligation):
        refuted: bool = True

    assert obligation_status(Obligation("x", True, "how")) == "proved"
    assert obligation_status(Obligation("x", False, "not proved")) == "unknown"
    assert obligation_status(Refuted("x", False, "shown false")) == "refuted"
    assert obligation_status(Refuted("x", True, "proved")) == "proved"
    step = conv2d.steps[2]
    obs = (Refuted("{} is a fresh variable", False, "already used", (sp.Symbol("i"),)),
           Obligation("{} is integer-valued", False, "SymPy cannot show it", (sp.Symbol("t"),)))
    cp = dataclasses.replace(conv2d, steps=conv2d.steps[:2] + (dataclasses.replace(step, obligations=obs),)
                             + conv2d.steps[3:])
    out = render_text(cp)
    assert "✗ i is a fresh variable  (already used)" in out and "? t is integer-valued  (SymPy cannot show it)" in out
    assert "- ✗ $i$ is a fresh variable" in render_markdown(cp)
    tex = render_latex(cp)
    assert r"\item $\times$ $i$ is a fresh variable" in tex and r"\item ? $t$ is integer-valued" in tex


def test_latex_fragment_has_no_preamble(conv2d):
    frag = render(conv2d, "latex", fragment=True)
    assert "\\documentclass" not in frag and "\\begin{document}" not in frag and "\\usepackage" not in frag.replace(
        "% \\usepackage", "")
    assert frag.startswith("% evosym proof (a LaTeX fragment") and "\\section*{Proof: conv2d}" in frag
    assert "\\providecommand{\\evoeq}" in frag
    assert render_latex(conv2d).count("\\section*{Proof: conv2d}") == 1
    with pytest.raises(EvosymError, match="--fragment applies to --format latex only"):
        render(conv2d, "text", fragment=True)


def test_cli_fragment_switch(capsys):
    assert main(["prove", "linear", "--format", "latex", "--fragment"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("% evosym proof") and "\\documentclass" not in out
    assert main(["prove", "linear", "--fragment"]) == 2
    assert "--fragment applies to --format latex only" in capsys.readouterr().err


def test_printing_is_deterministic(conv2d):
    assert render_text(conv2d) == render_text(conv2d)
    assert re.search(r"in tap form", render_text(conv2d))


def test_a_precondition_decided_false_prints_a_cross_end_to_end():
    """avg_pool2d's introduce-delta with the read pinned by u, a variable already bound: the rule's own decided
    check says so, the step fails, and the printer marks that precondition ✗ (the others ✓), in every format."""
    import dataclasses

    from evosym.catalogue import load
    from evosym.printers.markdown import render_markdown
    from evosym.printers.text import render_text
    from evosym.proof.certificate import _step_verdict
    mod = load("avg_pool2d")
    proof = mod.proof()
    steps = list(proof.steps)
    k = next(i for i, s in enumerate(steps) if s.rule == "introduce-delta")
    args = dict(steps[k].args)
    targets = list(args["targets"])
    targets[1] = (targets[1][0], mod.module.u, targets[1][2], targets[1][3])
    args["targets"] = tuple(targets)
    steps[k] = dataclasses.replace(steps[k], args=tuple(args.items()))
    cp = dataclasses.replace(proof, steps=tuple(steps)).check()
    assert not cp.ok
    text = render_text(cp)
    assert "✗ u is a fresh variable  (already used)" in text
    assert "✓ c is a fresh variable" in text and "? " not in text.split("Step 3.")[1].split("Step 4.")[0]
    assert "✗" in render_markdown(cp)
    verdicts = _step_verdict(cp.steps[k])["obligations"]
    assert [o.get("refuted", False) for o in verdicts if "fresh" in o["text"]] == [False, True, False]
