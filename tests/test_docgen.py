"""The generated documentation: current in the repository, honest pictures, a tutorial that runs.

``test_committed_docs_are_current`` is the CI gate of ``evosym docs --check``: it regenerates every
generated page (proofs, numeric checks, pictures, the tutorial's commands) and compares them with
``docs/``. The tutorial is also run from the committed page itself, without the generator.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from evosym.cli.main import main
from evosym.docgen import site
from evosym.docgen.connectivity import connectivity
from evosym.docgen.pages import MARK
from evosym.docgen.rules_page import rules_page
from evosym.docgen.svg import render_svg
from evosym.docgen.tutorial import shown
from evosym.errors import EvosymError
from evosym.proof.rules import RULES

try:
    from .conftest import STARTED, Early, checked, niced, numeric_report
except ImportError:  # tests/ is not a package
    from conftest import STARTED, Early, checked, niced, numeric_report

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def generated():
    return site.generate_docs(report=numeric_report)   # the numeric checks tests/test_codegen_check.py ran


def test_committed_docs_are_current(generated):
    problems = site.compare(generated, DOCS)
    assert not problems, "generated docs are out of date; run 'evosym docs --force':\n" + "\n".join(problems)


def test_every_catalogue_operator_has_a_page_and_a_picture(generated):
    from evosym import catalogue
    for name in catalogue.catalogue_names():
        page = generated[f"operators/{name}.md"]
        assert page.startswith(MARK)
        for section in ("## At a glance", "## Kernel properties", "## Cost", "### Proof", "## Evolution form",
                        "## Generated code", "## Numeric check"):
            assert section in page or section.replace("### Proof", "## Proof:") in page, (name, section)
        assert "PASSED" in page and "FAILED" not in page, name
        assert f"]({name}.svg)" in page
        ET.fromstring(generated[f"operators/{name}.svg"])          # well-formed XML
        assert f"[`{name}`](operators/{name}.md)" in generated["catalogue.md"]


def test_pages_link_only_to_files_that_exist(generated):
    for rel, text in generated.items():
        if not rel.endswith(".md"):
            continue
        base = (DOCS / rel).parent
        for link in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
            if "://" in link:
                continue
            assert (base / link).resolve().exists(), f"{rel} links to missing {link}"


def test_generation_is_deterministic(generated):
    again = render_svg(connectivity(checked("involution")), ["caption"])
    assert again == render_svg(connectivity(checked("involution")), ["caption"])
    proc = subprocess.run([sys.executable, "-c", "from evosym.docgen.rules_page import rules_page; "
                           "from evosym import catalogue; "
                           "print(rules_page([catalogue.load(n).proof().check() for n in ('conv1d', 'avg_pool2d')]))"],
                          capture_output=True, text=True, env={"PYTHONHASHSEED": "123", "PATH": ""}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == rules_page([checked("conv1d"), checked("avg_pool2d")]) + "\n"


# ---- the connectivity picture says what the kernel says ---------------------------------------

def _shift(field, by):
    return {(c, q[:-1] + (q[-1] + by,)): letter for (c, q), letter in field.items()}


def test_static_shared_kernel_slides_with_the_same_values():
    c = connectivity(checked("conv2d"))
    assert not c.dynamic and not any(c.reads)
    p, p2 = c.outputs[:2]
    assert _shift(c.fields[0], p2[-1] - p[-1]) == c.fields[1]
    assert len(c.legend) == 2 * 3 * 3 and c.legend[0][1].startswith("W[")   # C_g·K_h·K_w distinct weights
    assert {ch for ch, _ in c.fields[0]} == {0, 1}                           # dense in channels


def test_depthwise_kernel_reads_one_channel():
    c = connectivity(checked("depthwise_conv2d"))
    assert {ch for ch, _ in c.fields[0]} == {c.out_channel}


def test_dynamic_position_specific_kernel_gets_new_values_and_shows_its_inputs():
    c = connectivity(checked("involution"))
    assert c.dynamic and c.legend == ()
    assert not set(c.fields[0].values()) & set(c.fields[1].values()), "involution's kernel differs per position"
    p = c.outputs[0]
    # stride 1: the kernel at p is generated from the input pixel p, in every channel
    assert {q for _, q in c.reads[0]} == {p} and {ch for ch, _ in c.reads[0]} == set(range(c.channels))
    svg = render_svg(c, ["kernel: dynamic"])
    assert "#fdd0a2" in svg and 'stroke-dasharray="3,2"' in svg


def test_a_border_pixel_is_drawn_where_the_border_policy_matters():
    """NATTEN's clamped window: its corner pixel sees a whole K×K window, the SASA window (zero padding) a clipped
    one; a global Ω (mhsa) has no border to draw."""
    nat, sasa = connectivity(checked("neighborhood_attention")), connectivity(checked("local_attention"))
    for c in (nat, sasa):
        assert c.border and c.outputs[-1] == (0, 0) and len(c.outputs) == 3
    full = len({q for ch, q in nat.fields[0] if ch == 0})
    assert len({q for ch, q in nat.fields[2] if ch == 0}) == full                 # clamped: every tap inside
    assert len({q for ch, q in sasa.fields[2] if ch == 0}) < full                # zero padding: clipped
    svg = render_svg(nat, [])
    assert "feeds y[o, p″] (border)" in svg and "the border pixel p″ = (0, 0)" in svg
    assert not connectivity(checked("mhsa")).border


def _header_spans(svg: str):
    """(x, estimated right end) of the bold column headers above the panels."""
    from evosym.docgen.svg import CHAR_W
    return [(int(x), int(x) + len(s) * CHAR_W[12])
            for x, s in re.findall(r'<text x="(\d+)" y="46" [^>]*font-weight="bold"[^>]*>([^<]*)</text>', svg)]


@pytest.mark.parametrize("name", ["mhsa", "neighborhood_attention", "conv1d"])
def test_column_headers_do_not_overlap(name):
    spans = _header_spans(render_svg(connectivity(checked(name)), []))
    assert len(spans) >= 2
    assert all(right < nxt for (_, right), (nxt, _) in zip(spans, spans[1:])), spans


def test_long_cell_labels_shrink_to_fit():
    import dataclasses
    c = connectivity(checked("conv2d"))
    field = {k: "a123" for k in c.fields[0]}
    svg = render_svg(dataclasses.replace(c, fields=(field,) + c.fields[1:]), [])
    sizes = {int(s) for s in re.findall(r'font-size="(\d+)"[^>]*>a123<', svg)}
    assert sizes and max(sizes) * 0.6 * 4 <= 20                                   # four characters in a 20 px cell


def test_average_pool_kernel_is_one_value():
    c = connectivity(checked("avg_pool2d"))
    assert len(c.legend) == 1 and c.legend[0][1] == "1/4"


def test_bad_figure_sizes_are_refused_clearly():
    import dataclasses

    from evosym.docgen.connectivity import figure_sizes
    op = checked("conv1d").operator
    with pytest.raises(EvosymError, match="do not give"):
        figure_sizes(dataclasses.replace(op, figure={op.sizes[0][0]: 1}))


# ---- rules reference ------------------------------------------------------------------------------

def test_rules_reference_comes_from_the_rules(generated):
    page = generated["rules.md"]
    for name, rule in RULES.items():
        assert f"## {name}" in page and rule.statement() in page
        for pre in rule.preconditions:
            assert f"- {pre}" in page
    steps = sum(len(checked(n).steps) for n in __import__("evosym").catalogue.catalogue_names())
    counts = [int(m) for m in re.findall(r"^\| \[`[^`]+`\]\(#[^)]+\) \| .* \| (\d+) \|$", page, re.M)]
    assert sum(counts) == steps


# ---- the tutorial runs, from the committed page ---------------------------------------------------

def _blocks(page: str):
    """(kind, payload) in order: ("file", (name, text)) or ("console", (command, shown output))."""
    out = []
    for m in re.finditer(r"(?:<!-- file: (\S+) -->\n```python\n(.*?)```|```console\n\$ ([^\n]*)\n(.*?)```)", page, re.S):
        if m.group(1):
            out.append(("file", (m.group(1), m.group(2))))
        else:
            out.append(("console", (m.group(3), m.group(4).rstrip("\n"))))
    return out


def _run_tutorial(page: str, folder: Path, nice: bool = False, early=None, env=None) -> list:
    """Each console block of ``page`` run in ``folder`` in order, after the files written before it, up to the
    first that fails: [(command, shown output, exit code, its output)]. ``env``: the commands' environment
    (by default this process's)."""
    ran = []
    for kind, payload in _blocks(page):
        if kind == "file":
            name, text = payload
            (folder / name).write_text(text, encoding="utf-8")
            continue
        if early is not None and early.stopped:
            break
        command, expected = payload
        argv = command.split()
        cmd = [sys.executable, "-m", "evosym", *argv[1:]] if argv[0] == "evosym" else [sys.executable, *argv[1:]]
        with subprocess.Popen(cmd, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                              preexec_fn=niced if nice else None) as proc:
            if early is not None:
                early.current = proc
            try:
                output, _ = proc.communicate(timeout=600)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
        ran.append((command, expected, proc.returncode, output))
        if proc.returncode != 0:
            break
    return ran


def start_early(items, tmp_path_factory):
    """tests/conftest.py: the committed tutorial runs when collection ends (niced, in a thread), when its test
    is selected; the test reads what it printed."""
    if not any(item.originalname == "test_tutorial_runs_as_written" for item in items):
        return None
    page = (DOCS / "tutorial.md").read_text(encoding="utf-8")
    folder = tmp_path_factory.mktemp("tutorial")
    env = dict(os.environ)   # the session's, not that of a test running meanwhile (monkeypatch.setenv)
    return Early(lambda early: _run_tutorial(page, folder, nice=True, early=early, env=env), page=page, folder=folder)


def test_tutorial_runs_as_written(tmp_path):
    page = (DOCS / "tutorial.md").read_text(encoding="utf-8")
    blocks = _blocks(page)
    assert [k for k, _ in blocks].count("console") >= 5
    early = STARTED.pop("test_docgen", None)
    if early is not None and early.page == page:   # the same page, run when the session started
        ran, folder = early.outcome(), early.folder
    else:
        ran, folder = _run_tutorial(page, tmp_path), tmp_path
    assert len(ran) == [k for k, _ in blocks].count("console") or ran[-1][2] != 0
    for command, expected, returncode, output in ran:
        assert returncode == 0, f"{command} failed:\n{output[-2000:]}"
        # the page shows a long output's end after "…", or the whole of it ("run-all": --show-derive's function)
        full = expected.split("\n", 1)[0] != "…"
        got = output.rstrip("\n") if full else shown(output)
        assert got == expected, f"the output of {command!r} differs from the tutorial"
    assert (folder / "causal_conv1d.py").is_file(), "the tutorial's codegen step wrote no module"


# ---- the command ---------------------------------------------------------------------------------

FAKE = {"catalogue.md": MARK + "\nindex\n", "operators/a.md": MARK + "\npage\n", "operators/a.svg": "<svg/>\n"}


@pytest.fixture
def fake_docs(monkeypatch):
    monkeypatch.setattr(site, "generate_docs", lambda progress=None: dict(FAKE))


def test_docs_command_writes_checks_and_never_overwrites_without_force(fake_docs, tmp_path, capsys):
    out = tmp_path / "docs"
    out.mkdir()
    (out / "handwritten.md").write_text("mine\n")
    assert main(["docs", "--output", str(out), "--check"]) == 1
    assert "missing" in capsys.readouterr().out
    assert main(["docs", "--output", str(out)]) == 0
    assert (out / "operators" / "a.md").read_text() == FAKE["operators/a.md"]
    assert main(["docs", "--output", str(out), "--check"]) == 0
    (out / "catalogue.md").write_text("edited by hand\n")
    assert main(["docs", "--output", str(out)]) == 2                      # refused: would overwrite
    assert (out / "catalogue.md").read_text() == "edited by hand\n"
    assert "use --force" in capsys.readouterr().err
    assert main(["docs", "--output", str(out), "--check"]) == 1
    assert "stale" in capsys.readouterr().out
    assert main(["docs", "--output", str(out), "--force"]) == 0
    assert (out / "catalogue.md").read_text() == FAKE["catalogue.md"]
    (out / "operators" / "gone.md").write_text(MARK + "\nold operator\n")
    (out / "operators" / "notes.md").write_text("hand-written, no marker\n")
    assert main(["docs", "--output", str(out), "--check"]) == 1
    report = capsys.readouterr().out
    assert "leftover" in report and "gone.md" in report and "notes.md" not in report
    assert (out / "handwritten.md").read_text() == "mine\n"


def test_docs_command_bad_input(tmp_path, capsys):
    assert main(["docs", "--output", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["docs", "--output", str(tmp_path), "--check", "--force"]) == 2
