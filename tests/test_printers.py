"""The proof printers: golden files, the content of a proof, a failing proof, Markdown sanity.

Update the golden files after an intended change with
``EVOSYM_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_printers.py`` and read the diff.
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from evosym.printers import FORMATS, render, render_latex, render_markdown, render_text

try:
    from .snapshot import FAILING_STEP, all_checked, assert_snapshot, checked, failing_conv2d
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from snapshot import FAILING_STEP, all_checked, assert_snapshot, checked, failing_conv2d

SNAPSHOT_OPERATORS = ("linear", "conv1d", "conv2d")
EXTENSIONS = {"text": "txt", "markdown": "md", "latex": "tex"}


@pytest.fixture(scope="module")
def proofs():
    """CheckedProofs by operator name, checked once for the module."""
    return {name: checked(name) for name in SNAPSHOT_OPERATORS}


@pytest.fixture(scope="module")
def conv2d_text(proofs):
    return render_text(proofs["conv2d"])


@pytest.fixture(scope="module")
def failing():
    cp = failing_conv2d()
    assert not cp.ok, "the tampered conv2d proof was expected to fail its check"
    return cp


def _section(text: str, header: str, next_header: str) -> str:
    """The lines of ``text`` between a section header line and the next header line."""
    lines = text.splitlines()
    start = lines.index(header)
    end = lines.index(next_header, start + 1)
    return "\n".join(lines[start + 1:end])


def _last_paragraph(text: str) -> str:
    """The final paragraph (the verdict), its wrapped lines joined by spaces."""
    return " ".join(text.rstrip("\n").split("\n\n")[-1].split("\n"))


# -- 1. golden files ------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", SNAPSHOT_OPERATORS)
def test_snapshot(proofs, name, fmt):
    cp = proofs[name]
    assert cp.ok, f"{name} no longer proves:\n" + "\n".join(cp.failures())
    assert_snapshot(render(cp, fmt), f"{name}.{EXTENSIONS[fmt]}")


def test_snapshot_mismatch_shows_a_diff_and_how_to_update(tmp_path, monkeypatch):
    monkeypatch.delenv("EVOSYM_UPDATE_SNAPSHOTS", raising=False)
    golden = "".join(f"line {k}\n" for k in range(200))
    (tmp_path / "x.txt").write_bytes(golden.encode())
    assert_snapshot(golden, "x.txt", tmp_path)  # equal: passes
    changed = golden.replace("line 100\n", "line one hundred\n")
    with pytest.raises(AssertionError) as info:
        assert_snapshot(changed, "x.txt", tmp_path)
    msg = str(info.value)
    assert "-line 100" in msg and "+line one hundred" in msg
    assert "EVOSYM_UPDATE_SNAPSHOTS=1" in msg
    assert "line 0\n" not in msg  # a short diff, not the whole file
    with pytest.raises(AssertionError, match="bytes"):
        assert_snapshot(golden.rstrip("\n"), "x.txt", tmp_path)  # only the final newline differs
    with pytest.raises(AssertionError, match="missing"):
        assert_snapshot(golden, "absent.txt", tmp_path)
    monkeypatch.setenv("EVOSYM_UPDATE_SNAPSHOTS", "1")
    assert_snapshot(changed, "x.txt", tmp_path)  # update mode rewrites and passes
    assert (tmp_path / "x.txt").read_bytes() == changed.encode()


def test_the_three_formats_show_the_same_steps(proofs):
    """Step numbers, rule names and labels agree between text, Markdown and LaTeX."""
    for name, cp in proofs.items():
        expected = [(k, s.rule, s.check.label) for k, s in enumerate(cp.steps, 1)]
        text = [(int(n), r, lab) for n, r, lab in
                re.findall(r"^Step (\d+)\. ([\w-]+)\(.*\)  \[(\w+)\]$", render_text(cp), re.M)]
        md = [(int(n), r, lab) for n, r, lab in
              re.findall(r"^\*\*Step (\d+)\. `([\w-]+)`\*\* \((\w+)\)$", render_markdown(cp), re.M)]
        tex = [(int(n), r, lab) for n, r, lab in
               re.findall(r"^\\paragraph\{Step (\d+): \\texttt\{([\w-]+)\} \((\w+)\)\.\}", render_latex(cp), re.M)]
        assert text == expected, name
        assert md == expected, name
        assert tex == expected, name


# -- 2. the content of the conv2d proof -----------------------------------------------------------

def test_conv2d_steps_numbered_in_order(conv2d_text):
    numbers = [int(n) for n in re.findall(r"^Step (\d+)\.", conv2d_text, re.M)]
    assert numbers == [1, 2, 3, 4, 5, 6]


def test_conv2d_step_headers_carry_a_label(conv2d_text, proofs):
    headers = [line for line in conv2d_text.splitlines() if line.startswith("Step ")]
    assert len(headers) == 6
    for line, step in zip(headers, proofs["conv2d"].steps):
        m = re.fullmatch(r"Step \d+\. ([\w-]+)\((.*)\)  \[(general|bounded)\]", line)
        assert m, f"step header without a [general]/[bounded] label: {line!r}"
        assert m.group(1) == step.rule
        assert m.group(3) == step.check.label


def test_conv2d_rules_in_order(conv2d_text):
    rules = re.findall(r"^Step \d+\. ([\w-]+)\(", conv2d_text, re.M)
    assert rules == ["unfold-definition", "split-channels-into-groups", "introduce-delta", "exchange-sums",
                     "factor-out", "name-kernel"]


def test_conv2d_verdict_counts_general_and_bounded(conv2d_text, proofs):
    cp = proofs["conv2d"]
    verdict = _last_paragraph(conv2d_text)
    m = re.match(r"PROVED\. (\d+) steps: (\d+) general \(.*?\), (\d+) bounded \(", verdict)
    assert m, f"verdict does not state the counts: {verdict!r}"
    n, general, bounded = map(int, m.groups())
    assert n == 6 and general + bounded == 6
    labels = re.findall(r"^Step \d+\. .*  \[(general|bounded)\]$", conv2d_text, re.M)
    assert general == labels.count("general") == sum(s.check.general for s in cp.steps)
    assert bounded == labels.count("bounded")
    assert "at the 6 grid shapes" in verdict and "at all 6 grid shapes" in verdict
    assert "support of K" in verdict and "torch.nn.functional.conv2d" in verdict
    assert "NOT PROVED" not in conv2d_text and "FAILED" not in conv2d_text


def test_conv2d_grid_of_shapes(conv2d_text, proofs):
    grid = _section(conv2d_text, "Grid of shapes for bounded checks (6)", "").splitlines()
    assert [line.split(".")[0].strip() for line in grid] == ["1", "2", "3", "4", "5", "6"]
    assert [line.split(". ", 1)[1] for line in grid] == list(proofs["conv2d"].shapes)
    body = "\n".join(grid)
    for size in ("s_h=2", "delta_h=2", "G=2", "G=3", "s_w=3", "delta_w=2"):
        assert re.search(rf"(?<![\w]){size}(?![\w])", body), f"{size} missing from the grid:\n{body}"


def test_conv2d_evolution_form_block(conv2d_text):
    block = _section(conv2d_text, "Evolution form", "Checks of the conclusion")
    assert "Ω(i, j)" in block
    assert "K[o, c, i, j, m, n]" in block
    assert "y[b, o, i, j] = Σ_{c=0}^{C_g·G - 1} Σ_{(m, n) ∈ Ω(i, j)} K[o, c, i, j, m, n]·x[b, c, m, n] + bias[o]" in block
    assert "  Ω(i, j) = {" in block and "∩ [0, H_in) × [0, W_in)" in block
    assert "v = x[b, c, m, n]" in block


def test_conv2d_checks_of_the_conclusion(conv2d_text):
    block = _section(conv2d_text, "Checks of the conclusion", "")
    assert "✓ Evolution form [general]" in block
    assert "✓ support of K [bounded]" in block
    assert "✓ reference (user-supplied, called 'torch.nn.functional.conv2d') [bounded]" in block
    assert "✗" not in block


def test_bounded_step_is_labelled_and_counted(proofs):
    """A step checked only on the grid (a precondition not proved symbolically) says so everywhere."""
    cp = proofs["conv2d"]
    k = 4  # 1-based
    step = cp.steps[k - 1]
    check = dataclasses.replace(step.check, general=False,
                                replay="rule replayed; precondition not proved symbolically: (test)")
    steps = cp.steps[:k - 1] + (dataclasses.replace(step, check=check),) + cp.steps[k:]
    bounded = dataclasses.replace(cp, steps=steps)
    assert bounded.ok
    text = render_text(bounded)
    assert re.search(rf"^Step {k}\. {step.rule}\(.*\)  \[bounded\]$", text, re.M)
    assert len(re.findall(r"^Step \d+\. .*  \[general\]$", text, re.M)) == 5
    assert "bounded: compared exactly at the 6 grid shapes: equal" in text
    assert _last_paragraph(text).startswith("PROVED. 6 steps: 5 general (")
    assert ", 1 bounded (checked exactly only at the grid shapes)" in _last_paragraph(text)
    assert f"**Step {k}. `{step.rule}`** (bounded)" in render_markdown(bounded)
    assert f"\\paragraph{{Step {k}: \\texttt{{{step.rule}}} (bounded).}}" in render_latex(bounded)


def test_text_title_is_underlined(proofs):
    """The '=' rule under the title is as long as the title (at most 100 characters)."""
    for name, cp in proofs.items():
        title, rule = render_text(cp).splitlines()[:2]
        assert set(rule) == {"="}
        assert len(rule) == min(100, len(title)), f"{name}: title {len(title)} chars, underline {len(rule)}"


# -- 3. a failing proof prints honestly ----------------------------------------------------------

def test_failing_proof_text(failing):
    text = render_text(failing)
    for needle in ("FAILED", "NOT PROVED", "Counterexample", "sizes:", "output index:"):
        assert needle in text, needle
    assert "\nPROVED" not in text
    step = text.split(f"\nStep {FAILING_STEP}. ", 1)[1].split("\nStep ", 1)[0]
    assert step.splitlines()[0].endswith("[failed]")
    assert "Check: FAILED:" in step and "Counterexample:" in step
    assert "bias[0]" in step  # the two sides differ by the bias that was dropped
    assert _last_paragraph(text).startswith("NOT PROVED")
    assert "[general]" in text.split(f"\nStep {FAILING_STEP}. ")[0]  # steps before it still pass


def test_failing_proof_markdown(failing):
    md = render_markdown(failing)
    assert f"**Step {FAILING_STEP}. `introduce-delta`** (failed)" in md
    assert "Check: FAILED:" in md
    assert "sizes:" in md and "output index:" in md
    assert "**NOT PROVED" in md
    assert md.count("```") % 2 == 0 and md.count("```") >= 2


def test_failing_proof_latex(failing):
    tex = render_latex(failing)
    assert f"\\paragraph{{Step {FAILING_STEP}: \\texttt{{introduce-delta}} (failed).}}" in tex
    assert "\\emph{Check:} FAILED:" in tex
    assert "\\begin{verbatim}\nsizes:" in tex and "output index:" in tex
    assert "\\textbf{NOT PROVED" in tex
    assert tex.isascii()


def test_failing_proof_latex_counterexample_keeps_every_character(failing):
    """Non-ASCII in a counterexample (e.g. the minus sign in 'left − right') must not become '?'."""
    tex = render_latex(failing)
    blocks = re.findall(r"\\begin\{verbatim\}\n(.*?)\n\\end\{verbatim\}", tex, re.S)
    assert blocks, "no counterexample block in the LaTeX"
    assert "bias[0]" in "\n".join(blocks)
    for block in blocks:
        assert "?" not in block, f"characters lost in the LaTeX counterexample:\n{block}"


# -- 6. Markdown sanity ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["linear", "conv1d", "conv2d", "failing-conv2d"])
def test_markdown_math_is_balanced_and_rendered(proofs, failing, name):
    cp = failing if name == "failing-conv2d" else proofs[name]
    md = render_markdown(cp)
    assert md.count("$$") % 2 == 0
    single = md.replace("$$", "")
    assert single.count("$") % 2 == 0, "unbalanced inline $...$"
    for k, line in enumerate(md.splitlines(), 1):
        assert "KroneckerDelta" not in line, f"line {k}: {line}"
        assert "floor(" not in line, f"line {k}: {line}"
        assert "ceiling(" not in line, f"line {k}: {line}"
    assert r"\delta_{" in md  # every operator here has a Kronecker delta in its proof
    if name != "linear":  # the convolutions' group index floor(o/O_g) prints as a floor
        assert r"\lfloor" in md


def test_markdown_whole_catalogue_sanity():
    for cp in all_checked():
        md = render_markdown(cp)
        assert md.count("$$") % 2 == 0, cp.operator.name
        assert "KroneckerDelta" not in md and "floor(" not in md, cp.operator.name
        text = render_text(cp)
        assert "KroneckerDelta" not in text and "floor(" not in text, cp.operator.name


def test_text_uses_unicode_notation(conv2d_text):
    assert "δ(⌊c/C_g⌋, ⌊o/O_g⌋)" in conv2d_text
    assert "KroneckerDelta" not in conv2d_text and "floor(" not in conv2d_text
    assert "Σ_{c=0}^{C_g·G - 1}" in conv2d_text


@pytest.mark.parametrize("text, want", [
    ("a summary ending in a backslash\\", "a summary ending in a backslash\\\\"),   # would escape the closing *
    ("costs $5 and $x^2$", "costs \\$5 and \\$x^2\\$"),                             # math
    ("<img src=x onerror=alert(1)> &lt;", "\\<img src=x onerror=alert(1)> \\&lt;"),  # raw HTML, entities
    ("[click](javascript:x) [ref]: http://x", "[click\\](javascript:x) [ref\\]: http://x"),   # links, definitions
    ("`code` ~~struck~~ *em* _em_ a|b", "\\`code\\` \\~\\~struck\\~\\~ \\*em\\* \\_em\\_ a\\|b"),
    ("# a heading", "\\# a heading"), ("> a quote", "\\> a quote"), ("- a list", "\\- a list"),
    ("1. a list", "1\\. a list"), ("===", "\\==="),
    ("x_q, W_{q}, Δ_h and x[b, c]", "x_q, W\\_{q}, Δ_h and x[b, c]"),               # intraword _ and indices stay
])
def test_markdown_escapes_what_an_operator_file_writes(text, want):
    """An operator file's words (summary, description, sizes' and tensors' meanings, notes) reach Markdown as plain
    words: nothing in them sets a heading, a link, HTML, math or emphasis, nor breaks a table or the emphasis around
    the summary."""
    from evosym.printers.markdown import md_text
    assert md_text(text) == want


def test_a_hostile_description_reaches_markdown_escaped():
    cp = checked("linear")
    op = dataclasses.replace(cp.operator, summary="ends in \\", description="# Forged $\\href{x}{y}$ <b>")
    md = render_markdown(dataclasses.replace(cp, proof=dataclasses.replace(cp.proof, operator=op)))
    assert "*ends in \\\\*" in md and "\\# Forged \\$\\\\href{x}{y}\\$ \\<b>" in md


def test_markdown_inline_and_block_whitespace():
    """Inline (a cell, a note, the summary in *…*): whitespace runs and newlines are one space, the ends stripped
    (a space inside the emphasis, a newline ending the cell or quote); a block keeps paragraphs, lines unindented (four
    spaces would start a code block)."""
    from evosym.printers.markdown import md_text
    assert md_text(" * leading and trailing *\n\n# more ") == "\\* leading and trailing \\* # more"   # (mid-line: no heading)
    assert md_text("first\n\n    code?\n\t# heading?", block=True) == "first\n\ncode?\n\\# heading?"


@pytest.mark.parametrize("text, want", [("K", "`K`"), ("K` <b>x", "``K` <b>x``"), ("`a``", "``` `a`` ```")])
def test_markdown_code_spans_cannot_be_closed_by_their_text(text, want):
    from evosym.printers.markdown import md_code
    assert md_code(text) == want


def test_a_symbol_made_in_a_derivation_prints_as_inert_latex():
    """A symbol no operator declares (one made in a derive step: names are checked only where declared) prints as
    its letters and digits, upright: never a $, |, < or a command of its own."""
    import sympy as sp
    from evosym.printers.expr import LatexExprPrinter
    text = LatexExprPrinter()._print(sp.Symbol("a$<b>|\\input{x}") + sp.Symbol("C_g"))
    assert text == "C_{g} + \\mathrm{a??b???input?x?}", text


def test_the_checks_names_and_messages_from_an_operator_file_are_escaped():
    """A check's name carries the operator file's reference_name, its message the reference's error: plain words."""
    from evosym.printers.markdown import _checks
    line = _checks([(False, "reference ([x](http://e) <img>)", "bounded", "raised `boom` $x$", None)])[0]
    assert line == "- ✗ **reference ([x\\](http://e) \\<img>)** (bounded): raised \\`boom\\` \\$x\\$", line


def test_line_and_paragraph_separators_are_control_characters():
    from evosym.proof.codec import escaped, is_control
    assert is_control("\u2028") and is_control("\u2029") and escaped("a\u2028b") == "a\\u2028b"
