"""Proof certificates: `prove --certificates` writes the catalogue's, `verify` re-checks them in a process
that imports no operator file, tampering is refused, and the bytes do not depend on the run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import pytest
import sympy as sp

from evosym import catalogue
from evosym.proof.certificate import CertificateError, decode_value, loads, verify
from cli_helpers import run_cli

try:
    from .conftest import STARTED, Started
except ImportError:  # tests/ is not a package
    from conftest import STARTED, Started

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = ("evosym.derivations", "evosym.printers", "evosym.codegen", "evosym.cli", "evosym.catalogue",
             "evosym.runtime", "evosym.isolation", "evosym.analysis", "evosym.docgen", "evosym.testing",
             "evosym.selftest", "evosym.templates", "torch")


def _env(**extra):
    env = dict(os.environ, PYTHONUTF8="1", **extra)
    env.pop("EVOSYM_DEBUG", None)
    return env


@pytest.fixture(scope="module")
def certificates(catalogue_certificates):
    """The whole catalogue's certificates (tests/conftest.py: one `prove --all --certificates DIR` per session)."""
    folder, stdout, _, seconds = catalogue_certificates
    print(f"prove --all --certificates: {seconds:.1f} s")
    return folder, stdout, seconds


VERIFY_SCRIPT = """
import json, sys
from evosym.verify import main
rc = main(sys.argv[1:])
print(json.dumps({"rc": rc, "modules": sorted(sys.modules)}))
"""


def _verify_command(paths) -> list[str]:
    return [sys.executable, "-c", VERIFY_SCRIPT, *map(str, paths)]


def verification_for(items):
    """What tests/conftest.py starts as soon as the session's `prove --all` has written the certificates, when
    the test that verifies them is selected: that verification, in its own fresh process (with the
    environment the suite started with)."""
    if not any(item.originalname == "test_every_catalogue_certificate_verifies_in_a_process_without_user_code"
               for item in items):
        return None
    env = _env()

    def start(folder):
        return Started(_verify_command(sorted(Path(folder).glob("*.json"))), env=env, nice=5)
    return start


def _verify_in_fresh_process(paths):
    """(the verify script's JSON line, the lines before it, stderr) of ``evosym.verify`` on ``paths`` in a fresh
    process: the one tests/conftest.py started when the certificates were written, if it verifies these paths,
    else one started now."""
    run = STARTED.get("certificates")
    early = None
    if run is not None and run.chain is not None:
        run.chain.join()
        early, run.followed = run.followed, None
    if early is not None and early.args == _verify_command(paths):
        r = early.result(1200, text=True)
    else:
        if early is not None:
            early.kill()
        r = subprocess.run(_verify_command(paths), capture_output=True, text=True, env=_env(), timeout=1200)
    *lines, last = r.stdout.strip().splitlines()
    return json.loads(last), lines, r.stderr


def test_every_catalogue_certificate_verifies_in_a_process_without_user_code(certificates):
    folder, summary, _ = certificates
    paths = sorted(folder.glob("*.json"))
    count = len(catalogue.catalogue_names())
    assert len(paths) == len(summary.strip().splitlines()) == count
    start = time.perf_counter()
    result, lines, err = _verify_in_fresh_process(paths)
    print(f"verify ({count} certificates): {time.perf_counter() - start:.1f} s")
    assert result["rc"] == 0, "\n".join(lines) + err
    assert len(lines) == count and all(line.startswith("VERIFIED") for line in lines), lines
    mods = result["modules"]
    loaded = [m for m in mods if m.startswith(FORBIDDEN) or m.startswith("evosym_user_")]
    assert loaded == [], loaded
    assert set(_trusted_base(mods)) == set(documented_trusted_base()), \
        "docs/proofs.md's trusted-base table is not the set of modules verify imports:\n" + _table(mods)


def _trusted_base(mods) -> list[str]:
    """The evosym modules among ``mods`` that have a file (evosym/ir and evosym/proof are namespace packages)."""
    return sorted(m for m in mods if (m == "evosym" or m.startswith("evosym.")) and _file_of(m).is_file())


def _file_of(module: str) -> Path:
    rel = Path(*module.split("."))
    pkg = ROOT / rel / "__init__.py"
    return pkg if pkg.is_file() else (ROOT / rel).with_suffix(".py")


def _table(mods) -> str:
    rows = [(str(_file_of(m).relative_to(ROOT)), len(_file_of(m).read_text(encoding="utf-8").splitlines()))
            for m in _trusted_base(mods)]
    return "\n".join(f"| `{path}` | {n} |" for path, n in rows) + f"\n| total | {sum(n for _, n in rows)} |"


def documented_trusted_base() -> list[str]:
    text = (ROOT / "docs" / "proofs.md").read_text(encoding="utf-8")
    section = text.split("## The trusted base", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(evosym/[^`]+\.py)` \| (\d+) \|$", section, re.M)
    for path, n in rows:   # the line counts are kept true too
        assert len((ROOT / path).read_text(encoding="utf-8").splitlines()) == int(n), f"{path}: update its line count"
    total = re.search(r"^\| total \| (\d+) \|$", section, re.M)
    assert total and int(total.group(1)) == sum(int(n) for _, n in rows), "update the trusted base's total"
    return [p[:-len("/__init__.py")].replace("/", ".") if p.endswith("__init__.py") else p[:-3].replace("/", ".")
            for p, _ in rows]


def test_certificates_are_byte_identical_across_runs_and_hash_seeds(certificates, tmp_path):
    folder, _, _ = certificates
    names = ["conv1d", "mhsa", "cordonnier_attention", "hyperzzw_code"]
    r = subprocess.run([sys.executable, "-m", "evosym", "prove", *names[:1], "--summary", "--certificate",
                        str(tmp_path / "conv1d.json")], capture_output=True, text=True, env=_env(PYTHONHASHSEED="977"),
                       timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for name in names[1:]:
        r = subprocess.run([sys.executable, "-m", "evosym", "prove", name, "--summary", "--certificate",
                            str(tmp_path / f"{name}.json")], capture_output=True, text=True,
                           env=_env(PYTHONHASHSEED="random", LC_ALL="C"), timeout=600, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    for name in names:
        assert (tmp_path / f"{name}.json").read_bytes() == (folder / f"{name}.json").read_bytes(), name


# -- tampering ------------------------------------------------------------------------------------

def _doc(certificates, name="conv1d"):
    folder, _, _ = certificates
    return loads((folder / f"{name}.json").read_text(encoding="utf-8"))


def _replace_first(tree, old, new):
    """``tree`` (a codec tree) with the first integer ``old`` replaced by ``new``; (tree, replaced?)."""
    if isinstance(tree, list):
        if tree == ["Integer", old]:
            return ["Integer", new], True
        out, done = [], False
        for t in tree:
            if not done:
                t, done = _replace_first(t, old, new)
            out.append(t)
        return out, done
    return tree, False


def _refused(doc) -> str:
    """The reason a tampered certificate is refused (it must be)."""
    try:
        v = verify(doc)
    except CertificateError as exc:
        return str(exc)
    assert not v.ok, "a tampered certificate verified"
    return "; ".join(v.differences) or "; ".join(v.checked.failures())


@pytest.mark.parametrize("step", [0, 2, 4])
def test_a_changed_step_is_refused(certificates, step):
    doc = _doc(certificates)
    s = doc["proof"]["steps"][step]
    s["after"], done = _replace_first(s["after"], "-1", "-2")
    assert done
    if step + 1 < len(doc["proof"]["steps"]):
        doc["proof"]["steps"][step + 1]["before"] = s["after"]
    assert "verdicts.steps" in _refused(doc)


@pytest.mark.parametrize("where", [(0, 1), (1, 3), (3, 0)])
def test_a_changed_grid_value_is_refused(certificates, where):
    doc = _doc(certificates)
    shape, size = where
    doc["operator"]["grid"][shape][size][1] += 1
    assert "verdicts" in _refused(doc)


@pytest.mark.parametrize("step, k", [(0, 0), (2, 1), (4, 0)])
def test_a_dropped_obligation_is_refused(certificates, step, k):
    doc = _doc(certificates)
    obligations = doc["verdicts"]["steps"][step]["obligations"]
    if not obligations:
        pytest.skip("no obligation at this step")
    del obligations[k % len(obligations)]
    assert f"verdicts.steps[{step}].obligations" in _refused(doc)


@pytest.mark.parametrize("edit", [
    lambda d: d["verdicts"]["steps"][1].update(general=not d["verdicts"]["steps"][1]["general"]),
    lambda d: d["verdicts"]["checks"][0].update(message="matched (trust me)"),
    lambda d: d["verdicts"].update(ok=not d["verdicts"]["ok"]),
    lambda d: d["verdicts"]["shapes"].pop(),
    lambda d: d["outputs"]["reference"][0][0]["float64"].__setitem__(0, (1.5).hex()),
])
def test_a_changed_verdict_or_recorded_output_is_refused(certificates, edit):
    doc = _doc(certificates)
    edit(doc)
    assert _refused(doc)


@pytest.mark.parametrize("tree, words", [
    (["eval", ["Integer", "1"]], "unknown expression kind 'eval'"),
    (["Symbol", "x", {"positive": "yes"}], "non-boolean"),
    (["Symbol", "x", {"integer": True, "irrational": True}], "inconsistent"),
    (["Function", "os.system"], "unknown expression kind"),
    (["Undef", "__import__('os')"], "malformed undefined function"),
    ("x", "not an encoded expression"),
    # powers a checker would compute in C for ever (no time limit interrupts that): the exponent, the number's size,
    # and powers SymPy combines when it builds them (nested, or multiplied)
    (["Pow", ["Integer", "3"], ["Integer", "1" + "0" * 30]], "beyond ±65536"),
    (["Pow", ["Symbol", "x", {}], ["Integer", "-100000"]], "beyond ±65536"),
    (["Pow", ["Integer", "9" * 3000], ["Integer", "400"]], "more than 1048576 bits"),
    (["Pow", ["Pow", ["Symbol", "x", {"positive": True}], ["Integer", "4096"]], ["Integer", "4096"]], "beyond ±65536"),
    (["Mul", ["Pow", ["Symbol", "x", {}], ["Integer", "60000"]], ["Pow", ["Symbol", "x", {}], ["Integer", "60000"]]],
     "beyond ±65536"),
    (["floor", ["Float", 0, "1", 2 ** 33, 1, 53]], "malformed float"),   # 1 GB of integer from 60 bytes
    # a number SymPy would factorise at construction (for ever: 600 s under the default limit)
    (["mobius", ["Integer", "9" * 3991]], "mobius of a number of 3991 digits"),
    (["mobius", ["Integer", str(2 ** 64 + 1)]], "above 2^64"),
])
def test_malformed_expressions_are_refused_without_running_anything(certificates, tree, words):
    doc = _doc(certificates)
    doc["operator"]["traditional"] = tree
    with pytest.raises(CertificateError, match=re.escape(words)):
        verify(doc)


def test_the_time_limit_is_never_taken_for_a_malformed_expression(monkeypatch):
    """The decoder's refusal of what SymPy cannot build must let the time limit's own signal through: a slow
    construct (a factorisation) stopped by --time-limit said "mobius cannot be built from its arguments:
    TimeLimitExceeded"."""
    from evosym.errors import TimeLimitExceeded
    from evosym.proof import codec

    def slow(*args):
        raise TimeLimitExceeded("verify did not finish within 10 s")
    monkeypatch.setitem(codec.CONSTRUCTORS, "mobius", slow)
    with pytest.raises(TimeLimitExceeded):
        codec.decode(["mobius", ["Integer", "7"]])
    with pytest.raises(CertificateError, match="malformed rule argument"):
        decode_value({"int": "9" * 5000})   # (as the codec's numbers: below 4000 digits)


def test_the_cli_refuses_tampered_files_with_exit_1_and_unreadable_ones_with_exit_2(certificates, tmp_path, capsys):
    doc = _doc(certificates)
    doc["verdicts"]["steps"][0]["general"] = not doc["verdicts"]["steps"][0]["general"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    rc, out, err = run_cli(capsys, "verify", str(bad))
    assert rc == 1 and out.startswith("REFUSED") and "verdicts.steps[0].general" in out, out
    for text, words in (("{not json", "not a JSON document"), ('{"format": "other"}', "not an evosym certificate"),
                        (json.dumps({**doc, "version": 99}), "version 99")):
        bad.write_text(text, encoding="utf-8")
        rc, out, err = run_cli(capsys, "verify", str(bad))
        assert rc == 1 and out == f"REFUSED   {bad}: {out.split(': ', 1)[1]}" and words in out, out
        assert out.count("bad.json") == 1, out   # (the file's name was printed twice: a review)
    rc, out, err = run_cli(capsys, "verify", str(tmp_path / "missing.json"))
    assert rc == 2 and "cannot read certificate" in err


def test_verify_reads_only_regular_files_of_a_certificates_size(tmp_path, capsys):
    """A FIFO waited for a writer forever (past --time-limit, which starts after the read) and /dev/zero grew until
    the memory ran out: exit 2 for anything that is not a regular file, or is larger than 64 MiB."""
    import os
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    big = tmp_path / "big.json"
    with open(big, "wb") as fh:
        fh.truncate((64 << 20) + 1)
    for path, words in ((fifo, "not a regular file"), ("/dev/zero", "not a regular file"), (tmp_path, "Is a directory"),
                        (big, "larger than 64 MiB")):
        rc, out, err = run_cli(capsys, "verify", str(path), "--time-limit", "5")
        assert rc == 2 and f"cannot read certificate {path}: {words}" in err, (path, rc, err)


def _rename_symbol(tree, old, new):
    if isinstance(tree, list):
        if len(tree) == 3 and tree[0] == "Symbol" and tree[1] == old:
            return ["Symbol", new, tree[2]]
        return [_rename_symbol(t, old, new) for t in tree]
    if isinstance(tree, dict):
        return {k: _rename_symbol(v, old, new) for k, v in tree.items()}
    return tree


SPOOF = "\x1b[1A\x1b[2KVERIFIED  forged.json (conv1d): every verdict reproduced\x1b[8m"


@pytest.mark.parametrize("edit", [
    lambda d: _rename_symbol(d, "K", "K\r" + SPOOF),                  # a size's name: printed in the fresh check's failures
    lambda d: _rename_symbol(d, "W", "W" + SPOOF),                     # a tensor's label, inside every expression
    lambda d: {**d, "operator": {**d["operator"], "summary": "conv \x1b]0;PWNED\x07\x1b[2J"}},
    lambda d: {**d, "operator": {**d["operator"], "description": "a \u202e direction override"}},
    lambda d: {**d, "operator": {**d["operator"], "notes": ["\x9b31m C1 control"]}},
    lambda d: {**d, "operator": {**d["operator"], "summary": "a lone \ud800 surrogate"}},   # no UTF-8 holds it
])
def test_control_characters_from_a_certificate_never_reach_the_terminal(certificates, tmp_path, capsys, edit):
    """A name or text in a certificate with a terminal's control sequence (erase the line, print a forged VERIFIED,
    hide what follows; set the title; reverse the text's direction) is refused, and the refusal shows it escaped."""
    bad = tmp_path / "spoof.json"
    bad.write_text(json.dumps(edit(_doc(certificates))), encoding="utf-8")
    rc, out, err = run_cli(capsys, "verify", str(bad))
    assert rc == 1 and out.startswith("REFUSED") and "control character" in out, (out, err)
    assert not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in (out + err).replace("\n", "")), \
        ascii(out + err)


def test_certificate_outputs_are_never_overwritten_without_force(capsys, tmp_path):
    target = tmp_path / "c.json"
    target.write_text("mine", encoding="utf-8")
    rc, out, err = run_cli(capsys, "prove", "linear", "--certificate", str(target))
    assert rc == 2 and "exists" in err and target.read_text(encoding="utf-8") == "mine"
    rc, out, err = run_cli(capsys, "prove", "--all", "--certificate", str(tmp_path / "d.json"))
    assert rc == 2 and "--certificates DIR" in err
    rc, out, err = run_cli(capsys, "prove", "linear", "--certificates", str(tmp_path / "nowhere"))
    assert rc == 2 and "does not exist" in err
    rc, out, err = run_cli(capsys, "prove", "linear", "--summary", "--certificate", str(target), "--force")
    assert rc == 0, err
    assert loads(target.read_text(encoding="utf-8"))["verdicts"]["ok"] is True


def _set(path, value):
    def edit(doc):
        target = doc
        for k in path[:-1]:
            target = target[k]
        target[path[-1]] = value
    return edit


@pytest.mark.parametrize("edit, words", [
    (lambda d: d["proof"]["steps"][0]["args"].__setitem__(0, ["bogus", d["proof"]["steps"][0]["args"][0][1]]),
     "verdicts.steps"),
    (_set(("operator", "value"), "zz"), "cannot process it"),
    (_set(("operator", "lhs_indices"), []), "cannot process it"),
    (_set(("operator", "grid", 0, 0, 1), 10 ** 12), "bounded checks need sizes ≤ 1000"),
    (_set(("operator", "grid", 0, 0, 1), 10 ** 400), "bounded checks need sizes ≤ 1000"),
    (_set(("operator", "grid", 0, 0, 1), 3000), "bounded checks need sizes ≤ 1000"),
    (_set(("operator", "notes"), {}), "a list of notes expected"),
    (_set(("operator", "reference_rounds"), None), "is not a boolean"),
    (_set(("outputs", "reference", 0, 0, "shape"), [1.5]), "is not a list of lengths"),
    (_set(("operator", "name"), "../escaped"), "must be an identifier"),
    (lambda d: d["operator"].pop("grid"), "the field 'grid' is missing"),
    (lambda d: d["proof"]["steps"][0].pop("rule"), "the field 'rule' is missing"),
])
def test_malformed_or_oversized_certificates_are_refused_quickly_never_a_crash(certificates, tmp_path, capsys, edit,
                                                                                words):
    doc = _doc(certificates)
    edit(doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    start = time.perf_counter()
    rc, out, err = run_cli(capsys, "verify", str(path))
    assert time.perf_counter() - start < 60
    assert rc == 1 and out.startswith("REFUSED") and words in out, (rc, out, err)
    assert "internal error" not in err and "Traceback" not in err


def test_verify_has_a_time_limit(certificates, capsys):
    folder, _, _ = certificates
    rc, out, err = run_cli(capsys, "verify", str(folder / "acmix.json"), "--time-limit", "0.2")
    assert rc == 1 and "REFUSED" in out and "did not finish within 0.2 s" in out, out


@pytest.mark.parametrize("edit, words", [
    (lambda d: _rename_symbol(d, "K", "K|<b>x</b>$"), "identifier"),            # a size: Markdown math, a table cell
    (lambda d: _rename_symbol(d, "u", "u```"), "identifier"),                    # a bound index: closes a code fence
    (lambda d: {**d, "operator": {**d["operator"], "tensors": [
        {**d["operator"]["tensors"][0], "latex": "x$ <img src=q onerror=alert(1)> | cell $"}]
        + d["operator"]["tensors"][1:]}}, "LaTeX display name"),
    (lambda d: {**d, "operator": {**d["operator"], "tensors": [
        {**d["operator"]["tensors"][0], "latex": "x\\input{/etc/hostname}"}] + d["operator"]["tensors"][1:]}},
     "LaTeX display name"),                                                      # a document would read the file
    (lambda d: {**d, "operator": {**d["operator"], "tensors": [
        {**d["operator"]["tensors"][0], "latex": "^^5cinput{x}"}] + d["operator"]["tensors"][1:]}}, "LaTeX display name"),
    (lambda d: {**d, "operator": {**d["operator"], "tensors": [
        {**d["operator"]["tensors"][0], "name": "x<b>"}] + d["operator"]["tensors"][1:]}}, "identifier"),
])
def test_names_that_would_print_as_markup_are_refused(certificates, edit, words):
    """Symbols are named by identifiers and display names hold LaTeX of a fixed set of math commands: a name is
    printed inside Markdown math, LaTeX documents and tables, where `$`, `|`, `<`, a fence or \\input would act."""
    assert words in _refused(edit(_doc(certificates)))


def test_verify_prints_a_certificates_keys_and_paths_escaped(certificates, tmp_path, capsys):
    """A recorded verdict under a key with an escape sequence and a newline, in a file whose name holds them too:
    every line of the output is evosym's (a REFUSED line, then its differences), nothing raw."""
    doc = _doc(certificates)
    doc["verdicts"]["\x1b[1A\x1b[2K\rVERIFIED  x.json (conv1d): reproduced\nVERIFIED  y"] = 1
    bad = tmp_path / "c\x1b[2K\nVERIFIED  \u202e.json"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    rc, out, err = run_cli(capsys, "verify", str(bad))
    assert rc == 1, (out, err)
    lines = out.splitlines()
    assert lines[0].startswith("REFUSED   ") and all(ln.startswith("  ") for ln in lines[1:]), lines
    assert not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in out.replace("\n", "")), ascii(out)
    assert "\\x1b" in out and "\\n" in out



@pytest.mark.parametrize("assumptions", [dict(positive=True, integer=True), dict(nonnegative=True, integer=True),
                                         dict(integer=True, positive=True), dict(prime=True, integer=True)])
def test_a_symbol_encodes_whatever_order_its_assumptions_were_written_in(assumptions):
    """``Symbol("L", positive=True, integer=True)`` was refused as "built unevaluated": SymPy's srepr writes the
    assumptions in the order they were passed, the decoded symbol in sorted order."""
    from evosym.proof.codec import decode, encode_checked
    L = sp.Symbol("L", **assumptions)
    for e in (L, L - 1, sp.floor(L / 2) * sp.Symbol("x") + L ** 2):
        assert decode(encode_checked(e)) == e


@pytest.mark.parametrize("make", [lambda L: sp.Add(L, L, evaluate=False),
                                  lambda L: sp.Mul(2, sp.Add(L, 1), evaluate=False),
                                  lambda L: sp.Add(L, 0, evaluate=False)])
def test_an_unevaluated_expression_is_still_refused(make):
    from evosym.proof.codec import CodecError, encode_checked
    with pytest.raises(CodecError, match="does not survive an exact round trip"):
        encode_checked(make(sp.Symbol("L", positive=True, integer=True)))
