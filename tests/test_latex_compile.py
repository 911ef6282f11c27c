"""The LaTeX documents compile with pdflatex, and are pure ASCII without the [U+XXXX] fallback."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from evosym.printers import latex_document, render_latex

try:
    from .snapshot import all_checked, checked, failing_conv2d
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from snapshot import all_checked, checked, failing_conv2d

PDFLATEX = shutil.which("pdflatex")
needs_pdflatex = pytest.mark.skipif(PDFLATEX is None, reason="pdflatex is not installed (install TeX Live to run this test)")


@pytest.fixture(scope="module")
def documents():
    """The LaTeX documents under test, by name (proofs checked once, shared with other modules)."""
    catalogue = all_checked()
    failing = failing_conv2d()
    assert not failing.ok
    return {
        "conv2d": render_latex(checked("conv2d")),
        "failing-conv2d": render_latex(failing),
        "catalogue": latex_document(list(catalogue)),
    }


def _compile(tex: str, workdir: Path) -> tuple[subprocess.CompletedProcess, Path]:
    src = workdir / "proof.tex"
    src.write_text(tex, encoding="ascii")
    proc = subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", src.name],
                          cwd=workdir, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    return proc, workdir / "proof.pdf"


def _log_tail(workdir: Path, proc: subprocess.CompletedProcess) -> str:
    log = workdir / "proof.log"
    text = log.read_text(errors="replace") if log.is_file() else proc.stdout.decode(errors="replace")
    errors = [line for line in text.splitlines() if line.startswith("!")]
    return "\n".join(errors[:5]) + "\n...\n" + "\n".join(text.splitlines()[-25:])


@needs_pdflatex
@pytest.mark.parametrize("name", ["conv2d", "failing-conv2d", "catalogue"])
def test_latex_compiles(documents, name, tmp_path):
    proc, pdf = _compile(documents[name], tmp_path)
    assert proc.returncode == 0, f"pdflatex failed on the {name} document:\n{_log_tail(tmp_path, proc)}"
    assert pdf.is_file(), f"pdflatex wrote no PDF for {name}"
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    assert len(data) > 10_000, f"suspiciously small PDF for {name}: {len(data)} bytes"
    log = (tmp_path / "proof.log").read_text(errors="replace")
    assert "Undefined control sequence" not in log
    assert "Missing character" not in log


@needs_pdflatex
@pytest.mark.parametrize("name", ["conv2d", "failing-conv2d", "catalogue"])
def test_latex_nothing_runs_off_the_page(documents, name, tmp_path):
    """Every line fits the page: wide equations are scaled by \\evoeq, long verbatim lines must be wrapped."""
    proc, _ = _compile(documents[name], tmp_path)
    assert proc.returncode == 0
    log = (tmp_path / "proof.log").read_text(errors="replace")
    wide = [(float(m.group(1)), m.group(2)) for m in
            re.finditer(r"Overfull \\hbox \((\d+(?:\.\d+)?)pt too wide\)[^\n]*\n(.*)", log)]
    too_wide = [(pt, line[:100]) for pt, line in wide if pt > 20]
    assert not too_wide, f"{len(too_wide)} lines run off the page in the {name} PDF, e.g. {too_wide[:3]}"


@pytest.mark.parametrize("name", ["conv2d", "failing-conv2d", "catalogue"])
def test_latex_is_ascii_without_fallback(documents, name):
    tex = documents[name]
    bad = sorted({ch for ch in tex if ord(ch) > 127})
    assert not bad, f"non-ASCII characters in the {name} LaTeX: {bad}"
    assert "[U+" not in tex, f"[U+XXXX] fallback in the {name} LaTeX (add the character to evosym/printers/tex.py)"


def test_each_catalogue_document_is_ascii():
    for cp in all_checked():
        tex = render_latex(cp)
        assert tex.isascii() and "[U+" not in tex, cp.operator.name
        assert tex.startswith("\\documentclass") and tex.rstrip().endswith("\\end{document}")
        assert "KroneckerDelta" not in tex and "floor(" not in tex, cp.operator.name


def test_catalogue_document_has_a_section_per_operator(documents):
    tex = documents["catalogue"]
    names = [cp.operator.name for cp in all_checked()]
    sections = [line for line in tex.splitlines() if line.startswith("\\section*{Proof: ")]
    assert sections == [f"\\section*{{Proof: {n.replace('_', chr(92) + '_')}}}" for n in names]
    assert tex.count("\\begin{document}") == 1 and tex.count("\\end{document}") == 1
    assert tex.count("\\clearpage") == len(names) - 1


def test_failing_document_shows_the_failure(documents):
    tex = documents["failing-conv2d"]
    assert "FAILED" in tex and "\\textbf{NOT PROVED" in tex
    assert "\\begin{verbatim}\nsizes:" in tex


@needs_pdflatex
@pytest.mark.parametrize("text", [
    "plain: 100% & {x}_y ~ ^ # | < > \\ ≤ Σ δ ⌊c/C_g⌋ — “quoted” …",
    "a dollar before math: costs $<5",
    "a dollar before a symbol: $≤ b",
])
def test_escaped_text_compiles(text, tmp_path):
    """tex_escape makes any plain text (rule statements, messages) safe for pdflatex."""
    from evosym.printers.tex import tex_escape

    body = tex_escape(text)
    assert body.isascii()
    doc = "\\documentclass{article}\n\\usepackage{amsmath,amssymb}\n\\begin{document}\n" + body + "\n\\end{document}\n"
    proc, pdf = _compile(doc, tmp_path)
    assert proc.returncode == 0, f"tex_escape({text!r}) = {body!r} does not compile:\n{_log_tail(tmp_path, proc)}"


# -- fragments: the proofs without a preamble, for a paper's appendix -------------------------------

MINIMAL = ("\\documentclass{article}\n\\usepackage{amsmath,amssymb,graphicx}\n\\begin{document}\n"
           "\\section{Appendix}\nText of the paper.\n\\input{proof-fragment}\n\\end{document}\n")


@needs_pdflatex
def test_fragment_compiles_inside_a_minimal_document(tmp_path):
    """``--fragment`` output, \\input into a document that loads only amsmath, amssymb and graphicx, compiles."""
    from evosym.printers import latex_fragment, render

    frag = render(checked("conv2d"), "latex", fragment=True)
    assert "\\documentclass" not in frag and "\\begin{document}" not in frag and frag.isascii()
    both = latex_fragment([checked("conv1d"), failing_conv2d()])     # several proofs, one of them failing
    (tmp_path / "proof-fragment.tex").write_text(frag + both, encoding="ascii")
    proc, pdf = _compile(MINIMAL, tmp_path)
    assert proc.returncode == 0, f"pdflatex failed on the fragment:\n{_log_tail(tmp_path, proc)}"
    assert pdf.read_bytes().startswith(b"%PDF")
    log = (tmp_path / "proof.log").read_text(errors="replace")
    assert "Undefined control sequence" not in log and "Missing character" not in log


@needs_pdflatex
def test_long_size_and_tensor_descriptions_wrap_inside_the_page(tmp_path):
    """The sizes' and tensors' descriptions are paragraph columns: a description of several lines (an operator
    file's own words) wraps instead of running off the page."""
    import dataclasses

    from evosym.catalogue import load

    mod = load("conv2d")
    proof = mod.proof()
    op = proof.operator
    words = "a description long enough to need several lines of the page, " * 8
    op = dataclasses.replace(op, tensors=tuple(dataclasses.replace(t, description=words) for t in op.tensors),
                             sizes=tuple((s, words) for s, _ in op.sizes))
    cp = dataclasses.replace(proof, operator=op).check()
    from evosym.printers import latex_fragment
    for tex, where in ((render_latex(cp), "landscape document"), (None, "fragment in a portrait article")):
        source = tex
        if tex is None:   # \input into the narrower line of a plain article: the log counts the fragment's lines
            source = latex_fragment([cp])
            (tmp_path / "proof-fragment.tex").write_text(source, encoding="ascii")
            tex = MINIMAL
        proc, _ = _compile(tex, tmp_path)
        assert proc.returncode == 0, _log_tail(tmp_path, proc)
        lines = source.splitlines()
        tables = [(a + 1, b + 1) for a, b in zip(
            [k for k, line in enumerate(lines) if line.startswith("\\begin{tabular}")],
            [k for k, line in enumerate(lines) if line.startswith("\\end{tabular}")])]
        assert len(tables) == 2, where
        log = (tmp_path / "proof.log").read_text(errors="replace")
        wide = [(float(m.group(1)), int(m.group(2)), int(m.group(3))) for m in
                re.finditer(r"Overfull \\hbox \((\d+(?:\.\d+)?)pt too wide\) in \w+ at lines (\d+)--(\d+)", log)]
        in_tables = [w for w, a, b in wide if w > 20 and any(a <= hi and lo <= b for lo, hi in tables)]
        assert not in_tables, (where, in_tables)


def _text_named_file(tmp_path, latex: str) -> Path:
    """An operator file whose input is displayed ``latex`` (y = x, proved in one conclusion)."""
    path = tmp_path / "text_named.py"
    path.write_text(
        "from evosym import Definition, InRange, Operator, TensorDecl, Window, WindowAxis, index, size\n"
        "B, C, L = size('B'), size('C'), size('L')\n"
        "b, o, i, c, q = (index(s) for s in 'b o i c q'.split())\n"
        f"x = TensorDecl('x', (B, C, L), 'input', latex={latex!r})\n"
        "xp = Definition('x_pad', (b, c, q), InRange(q, 0, L - 1) * x[b, c, q])\n"
        "OPERATOR = Operator(name='text_named', summary='y = x', output=TensorDecl('y', (B, C, L), 'output'),\n"
        "    lhs_indices=(b, o, i), traditional=xp[b, o, i], tensors=(x,), batch=b, out_channel=o, position=(i,),\n"
        "    definitions=(xp,), sizes=((B, ''), (C, ''), (L, '')), grid=({B: 1, C: 1, L: 2}, {B: 2, C: 2, L: 3}))\n"
        "def derive(d):\n"
        "    d.apply('unfold-definition', name='x_pad')\n"
        "    d.apply('introduce-delta', targets=[(o, c, 0, C - 1), (i, q, 0, L - 1)])\n"
        "    d.apply('name-kernel', name='Kn', channel=c, position=(q,), indices=(o, c, i, q))\n"
        "    d.conclude(omega=Window((WindowAxis(1, 1, 1, 0, L),)), channel=c, neighbour=(q,))\n", encoding="utf-8")
    return path


@needs_pdflatex
@pytest.mark.parametrize("latex", [r"x_{\text{in}}", r"x^{\text{in}}_{t}", r"\mathbf{x}_{\text{in 2}}"])
def test_a_display_name_with_text_compiles(tmp_path, capsys, latex):
    """\\text{…} of words and digits (papers write W_{\\text{in}}) is a display name; the document compiles."""
    from cli_helpers import run_cli
    out = tmp_path / "out"
    out.mkdir()
    rc, _, err = run_cli(capsys, "prove", str(_text_named_file(tmp_path, latex)), "--format", "latex",
                         "--output", str(out / "proof.tex"))
    assert rc == 0, err
    tex = (out / "proof.tex").read_text(encoding="ascii")
    assert latex in tex
    proc, pdf = _compile(tex, out)
    assert proc.returncode == 0 and pdf.is_file(), _log_tail(out, proc)


@pytest.mark.parametrize("latex", [r"x_{\text{a_b}}", r"x_{\text{\input{f}}}", r"x_\text b", r"\textbf{x}"])
def test_text_of_anything_but_words_and_digits_is_refused(tmp_path, capsys, latex):
    from cli_helpers import run_cli
    rc, out, err = run_cli(capsys, "prove", str(_text_named_file(tmp_path, latex)))
    assert rc == 2 and out == "" and "Traceback" not in err and "internal error" not in err, (rc, err)
    assert "latex" in err.lower() and "display name" in err, err
