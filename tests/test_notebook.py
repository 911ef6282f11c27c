"""Proofs, properties and costs render in Jupyter (``_repr_latex_`` / ``_repr_markdown_``)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

import evosym.printers.notebook  # noqa: F401  (registers a checked proof's rich display, as evosym does in IPython)
from evosym.analysis.cost import cost
from evosym.analysis.properties import analyse

try:
    from .conftest import checked
    from .snapshot import failing_conv2d
except ImportError:  # tests/ is not a package
    from conftest import checked
    from snapshot import failing_conv2d

PDFLATEX = shutil.which("pdflatex")


def _objects():
    cp = checked("depthwise_conv2d")
    return {"proof": cp, "properties": analyse(cp), "cost": cost(cp)}


def test_reprs_are_display_math_and_markdown():
    objs = _objects()
    for name, obj in objs.items():
        tex, md = obj._repr_latex_(), obj._repr_markdown_()
        assert tex.startswith("$$\\begin{aligned}") and tex.endswith("\\end{aligned}$$"), name
        assert tex.count("{") == tex.count("}"), name
        assert md.strip(), name
    cp = objs["proof"]
    tex = cp._repr_latex_()
    assert tex.count("&=") == len(cp.steps) + 1                # traditional form, then one line per step
    for k, s in enumerate(cp.steps, 1):
        assert f"{k}. {s.rule}" in tex.replace("\\", "")
    assert "PROVED" in tex
    assert cp._repr_markdown_().startswith("### Proof: `depthwise_conv2d`")
    assert "| channels | depthwise" in objs["properties"]._repr_markdown_()
    assert "| parameters | $C K_{h} K_{w} M + C M$ |" in objs["cost"]._repr_markdown_()


def test_failed_proof_says_so_in_the_notebook():
    tex = failing_conv2d()._repr_latex_()
    assert "NOT PROVED" in tex and "FAILED" in tex


@pytest.mark.skipif(PDFLATEX is None, reason="pdflatex is not installed (install TeX Live to run this test)")
def test_latex_reprs_compile(tmp_path):
    body = "\n\n".join(obj._repr_latex_() for obj in _objects().values())
    src = tmp_path / "repr.tex"
    src.write_text("\\documentclass{article}\n\\usepackage[a3paper,landscape,margin=1cm]{geometry}\n"
                   "\\usepackage{amsmath,amssymb}\n\\begin{document}\n" + body + "\n\\end{document}\n", encoding="utf-8")
    proc = subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", src.name],
                          cwd=tmp_path, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stdout.decode(errors="replace")[-3000:]
    assert (tmp_path / "repr.pdf").read_bytes().startswith(b"%PDF")


def test_connectivity_picture_renders_as_svg_in_a_notebook():
    """``connectivity(cp)`` is the object a notebook shows as SVG (a frontend prefers a proof's Markdown to SVG, so
    the picture is its own object); its SVG is the one ``evosym docs`` draws, without the caption."""
    import xml.etree.ElementTree as ET

    from evosym.docgen.svg import render_svg
    from evosym.docgen.connectivity import connectivity

    cp = checked("depthwise_conv2d")
    pic = connectivity(cp)
    svg = pic._repr_svg_()
    assert svg.startswith("<svg xmlns=\"http://www.w3.org/2000/svg\"")
    assert svg == render_svg(pic, [])
    ET.fromstring(svg)                                          # well-formed
    assert "depthwise_conv2d: the kernel K(o, c, p, q)" in svg


def test_evosym_registers_the_proofs_display_in_ipython_and_the_trusted_core_imports_no_printer():
    """In IPython, ``import evosym`` registers the printers' display of a checked proof; elsewhere a proof
    imports no printer (evosym.proof is the trusted core) and has no rich display until they are imported."""
    import sys

    code = ("import sys{pre}\nimport evosym\nfrom evosym.proof.proof import DISPLAY\n"
            "print(sorted(DISPLAY), any(m.startswith('evosym.printers') for m in sys.modules))")
    for pre, want in (("\nimport IPython", "['latex', 'markdown'] True"), ("", "[] False")):
        out = subprocess.run([sys.executable, "-c", code.format(pre=pre)], capture_output=True, text=True, timeout=120)
        if pre and "No module named 'IPython'" in out.stderr:
            continue   # IPython not installed: nothing to register
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == want
