"""``--format json`` and ``--junit``: every command's document against its schema (evosym.cli.schemas),
byte-identical across runs apart from the documented run-dependent fields, JUnit files that parse with
the right counts of test cases and failures, failing runs included, and the exit codes unchanged.

Small operators only (linear, conv1d, avg_pool2d; conv2d for the candidates of tests/data/candidates)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch

from cli_helpers import one_line_error, run_cli
from evosym import __version__, catalogue
from evosym.cli.report import RUN_DEPENDENT, dumps, without_run_dependent
from evosym.cli.schemas import SCHEMAS, errors, validate

DATA = Path(__file__).resolve().parent / "data"


def document(out: str, schema: str) -> dict:
    """The one JSON document on standard output, valid against ``schema``."""
    assert out.endswith("}\n") and out.isascii(), out[-200:]
    doc = json.loads(out)
    assert doc["schema"] == schema and doc["evosym"] == __version__
    assert validate(doc) == [], validate(doc)[:10]
    assert dumps(doc) == out   # sorted keys, the same layout: what dumps writes
    return doc


def same_apart_from_timings(a: dict, b: dict) -> None:
    assert without_run_dependent(a) == without_run_dependent(b)


def junit(path: Path) -> tuple[ET.Element, list[ET.Element]]:
    """The <testsuite> of a JUnit file (exactly one) and its test cases; counts checked against the cases."""
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    cases = suite.findall("testcase")
    failed = [c for c in cases if c.find("failure") is not None]
    assert int(suite.get("tests")) == len(cases) == int(root.get("tests"))
    assert int(suite.get("failures")) == len(failed) == int(root.get("failures"))
    assert suite.get("errors") == "0"
    return suite, cases


def failures(cases) -> list[ET.Element]:
    return [c.find("failure") for c in cases if c.find("failure") is not None]


# -- the schemas and the writer -------------------------------------------------------------------------

def test_every_command_has_a_versioned_schema_and_a_list_of_run_dependent_fields():
    names = {"evosym-prove/1", "evosym-check/1", "evosym-check-candidate/1", "evosym-selftest/1", "evosym-bench/1",
             "evosym-bench-kernels/1", "evosym-bench-against/1", "evosym-table/1", "evosym-info/1"}
    assert set(SCHEMAS) == names == set(RUN_DEPENDENT)
    docs = (Path(__file__).resolve().parent.parent / "docs" / "json.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in docs for name in names)


def test_validator_and_writer():
    schema = SCHEMAS["evosym-info/1"]
    assert errors({"schema": "evosym-info/1"}, schema)   # missing keys
    assert errors(1.5, {"type": "integer"}) and not errors(2, {"type": "number"}) and errors(True, {"type": "integer"})
    assert validate({"schema": "evosym-nothing/9"}) == ["$.schema: unknown schema 'evosym-nothing/9'"]
    text = dumps({"b": float("nan"), "a": [float("inf"), -float("inf"), (1, 2)], "Σ": "Ω"})
    assert json.loads(text) == {"a": ["inf", "-inf", [1, 2]], "b": "nan", "Σ": "Ω"}
    assert text.isascii() and text.index('"a"') < text.index('"b"')


# -- prove ----------------------------------------------------------------------------------------------

def test_prove_json_schema_determinism_and_output_file(capsys, tmp_path):
    rc, out, err = run_cli(capsys, "prove", "linear", "--format", "json")
    assert rc == 0 and err == ""
    doc = document(out, "evosym-prove/1")
    assert doc["ok"] and doc["failed"] == [] and doc["error"] is None
    (op,) = doc["operators"]
    assert op["operator"] == "linear" and op["verdict"] == "proved"
    assert op["step_counts"] == {"total": len(op["steps"]), "general": len(op["steps"]), "bounded": 0}
    assert all(s["label"] == "general" and s["checked"].startswith("proved symbolically") for s in op["steps"])
    assert op["evolution"]["bias"] and len(op["shapes"]) == len(op["steps"][0]["bounded_shapes"])
    assert {c["name"] for c in op["checks"]} >= {"premises", "Evolution form", "support of K"}
    assert isinstance(op["seconds"], float)
    assert op["domain"] == {"sizes": [{"names": ["B", "N", "C", "O"], "bound": "≥ 1", "note": ""}],
                            "constraints": []}, op["domain"]
    rc, out, err = run_cli(capsys, "prove", "avg_pool1d_exclude_pad", "--format", "json")
    (pool,) = document(out, "evosym-prove/1")["operators"]
    assert pool["domain"] == {"sizes": [{"names": ["B", "C", "L_in", "K", "s"], "bound": "≥ 1", "note": ""},
                                        {"names": ["P"], "bound": "≥ 0", "note": ""}],
                              "constraints": ["2*P <= K"]}, pool["domain"]

    target = tmp_path / "proof.json"   # --output, and --summary does not change the document
    rc, out2, err = run_cli(capsys, "prove", "linear", "--format", "json", "--summary", "-o", str(target))
    assert rc == 0 and out2 == "" and f"wrote {target}" in err
    same_apart_from_timings(document(target.read_text(encoding="utf-8"), "evosym-prove/1"), doc)
    rc, out, err = run_cli(capsys, "prove", "linear", "--format", "json", "-o", str(target))
    assert "exists; use --force" in one_line_error(rc, out, err)
    rc, out, err = run_cli(capsys, "prove", "linear", "--format", "json", "--show-derive")
    assert "--show-derive" in one_line_error(rc, out, err)


def test_prove_json_failure_has_the_counterexample(capsys):
    rc, out, err = run_cli(capsys, "prove", str(DATA / "operators" / "wrong_range.py"), "--format", "json")
    assert rc == 1 and "proof failed: wrong_range" in err
    doc = document(out, "evosym-prove/1")
    assert not doc["ok"] and doc["failed"] == ["wrong_range"]
    (op,) = doc["operators"]
    assert op["verdict"] == "failed" and op["failures"]
    bad = [s for s in op["steps"] if not s["ok"]]
    assert bad and bad[0]["counterexample"] is not None
    cx = bad[0]["counterexample"]
    assert cx["size_values"] and cx["index"].startswith("y[") and cx["left"] != cx["right"]


def test_prove_json_is_identical_across_runs_and_hash_seeds(tmp_path):
    """Two processes, PYTHONHASHSEED 0 and 1, run side by side: the same document but for the timings."""
    procs = []
    for seed in ("0", "1"):
        env = dict(os.environ, PYTHONUTF8="1", PYTHONHASHSEED=seed)
        env.pop("EVOSYM_DEBUG", None)
        procs.append(subprocess.Popen([sys.executable, "-m", "evosym", "prove", "conv1d", "--format", "json"],
                                      cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e for _, e in outs]
    a, b = (document(o, "evosym-prove/1") for o, _ in outs)
    assert a["operators"][0]["step_counts"]["general"] == a["operators"][0]["step_counts"]["total"]
    same_apart_from_timings(a, b)
    a["operators"][0]["seconds"] = b["operators"][0]["seconds"] = 0.0
    assert dumps(a) == dumps(b)


# -- check ----------------------------------------------------------------------------------------------

def test_check_json_and_junit(capsys, tmp_path):
    target = tmp_path / "check.xml"
    rc, out, err = run_cli(capsys, "check", "linear", "--format", "json", "--junit", str(target))
    assert rc == 0 and f"wrote {target}" in err
    doc = document(out, "evosym-check/1")
    (op,) = doc["operators"]
    assert doc["ok"] and op["verdict"] == "passed" and op["lowering"] and op["failed_shapes"] == 0
    assert all(s["size_values"] and s["comparisons"] for s in op["shapes"])
    assert {c["status"] for s in op["shapes"] for c in s["comparisons"]} <= {"passed", "skipped"}
    suite, cases = junit(target)
    assert suite.get("name") == "evosym check" and len(cases) == len(op["shapes"]) and not failures(cases)
    assert all(c.get("classname") == "evosym.check.linear" for c in cases)

    rc, out2, err = run_cli(capsys, "check", "linear", "--format", "json", "--junit", str(target))
    assert "exists; use --force" in one_line_error(rc, out2, err)   # refused before any work
    rc, out2, err = run_cli(capsys, "check", "linear", "--format", "json", "--junit", str(target), "--force")
    assert rc == 0
    same_apart_from_timings(document(out2, "evosym-check/1"), doc)
    rc, out2, err = run_cli(capsys, "check", "linear", "--force")
    assert "--force only applies with --junit" in one_line_error(rc, out2, err)


def test_failing_check_json_and_junit(capsys, tmp_path, monkeypatch):
    """A reference that disagrees by one: exit 1, every shape failed in the document and in the JUnit file."""
    from evosym.codegen import check as check_module
    real = check_module.check_operator

    def wrong_reference(name, **kwargs):
        ref = catalogue.checked(name).operator.torch_reference
        return real(name, reference=lambda t, sizes: ref(t, sizes) + 1, **kwargs)

    monkeypatch.setattr(check_module, "check_operator", wrong_reference)
    target = tmp_path / "check.xml"
    rc, out, err = run_cli(capsys, "check", "linear", "--format", "json", "--junit", str(target))
    assert rc == 1 and "check failed: linear" in err
    doc = document(out, "evosym-check/1")
    (op,) = doc["operators"]
    assert not doc["ok"] and doc["failed"] == ["linear"] and op["failed_shapes"] == len(op["shapes"]) > 0
    first = next(c for c in op["shapes"][0]["comparisons"] if c["status"] == "failed")
    assert "reference" in first["text"] and "tol" in first["text"]
    suite, cases = junit(target)
    assert len(cases) == len(failures(cases)) == len(op["shapes"])
    assert failures(cases)[0].get("message") == first["text"]


# -- check --candidate -----------------------------------------------------------------------------------

@pytest.fixture
def candidates(monkeypatch):
    sys.modules.pop("layers", None)
    monkeypatch.chdir(DATA / "candidates")
    monkeypatch.syspath_prepend(str(DATA / "candidates"))
    yield
    sys.modules.pop("layers", None)


def test_candidate_json_and_junit(capsys, tmp_path, candidates):
    from layers import SIZES
    sizes = [a for k, v in SIZES.items() for a in ("--size", f"{k}={v}")]
    target = tmp_path / "candidate.xml"
    argv = ["check", "--candidate", "layers:TransposedKernel", "conv2d", *sizes, "--format", "json", "--junit", str(target)]
    torch.manual_seed(0)   # the candidate draws its weights from torch's global generator
    rc, out, err = run_cli(capsys, *argv)
    assert rc == 1
    doc = document(out, "evosym-check-candidate/1")
    assert not doc["ok"] and doc["verdict"] == "not equivalent" and doc["comparisons"] == []
    f = doc["failure"]
    assert f["seed"] == 0 and f["dtype"] == "float64" and f["sizes"]["K_h"] == 3
    assert len(f["index"]) == 4 and f["candidate"] != f["operator"] and f["abs_diff"] > f["tolerance"]
    assert any("transposed" in d for d in f["diagnoses"]) and f["message"].startswith("conv2d: ")
    suite, cases = junit(target)
    assert len(cases) == 1 and len(failures(cases)) == 1
    assert failures(cases)[0].get("message") == f["headline"] and "transposed" in failures(cases)[0].text

    torch.manual_seed(0)
    rc, out2, err = run_cli(capsys, *argv, "--force")   # the same document again
    assert rc == 1
    same_apart_from_timings(document(out2, "evosym-check-candidate/1"), doc)
    assert out2 == out

    rc, out, err = run_cli(capsys, "check", "--candidate", "layers:correct_conv", "conv2d", "--format", "json",
                           "--junit", str(target), "--force")
    assert rc == 0
    doc = document(out, "evosym-check-candidate/1")
    assert doc["ok"] and doc["failure"] is None and len(doc["comparisons"]) == doc["planned"] == 8
    assert {c["dtype"] for c in doc["comparisons"]} == {"float32", "float64"} and doc["sizes"]["G"] == 2
    assert doc["redrawn"] == ["weight", "bias"]
    suite, cases = junit(target)
    assert len(cases) == 1 and not failures(cases)
    rc, out2, err = run_cli(capsys, "check", "--candidate", "layers:correct_conv", "conv2d", "--format", "json")
    assert rc == 0 and out2 == out


# -- selftest ---------------------------------------------------------------------------------------------

def test_selftest_json_and_junit(capsys, tmp_path):
    target = tmp_path / "selftest.xml"
    rc, out, err = run_cli(capsys, "selftest", "--category", "numeric-checker", "--format", "json",
                           "--junit", str(target))
    assert rc == 0
    doc = document(out, "evosym-selftest/1")
    assert doc["ok"] and doc["selected"] == ["numeric-checker"] and doc["survivors"] == []
    assert doc["total"]["mutants"] == doc["total"]["killed"] == len(doc["mutants"]) >= 5
    assert doc["categories"] == [{"name": "numeric-checker", "mutants": len(doc["mutants"]),
                                  "killed": len(doc["mutants"]), "kill_rate": 1.0}]
    suite, cases = junit(target)
    assert len(cases) == len(doc["mutants"]) and not failures(cases)
    assert all(c.get("classname") == "evosym.selftest.numeric-checker" and c.get("time") for c in cases)


def test_selftest_with_a_survivor_fails_in_json_and_junit(capsys, tmp_path, monkeypatch):
    """Two stand-in mutants, one of which survives: exit 1, the survivor named in both outputs; the document
    is the same twice but for the timings."""
    from evosym.selftest import run as run_module
    from evosym.selftest.registry import Mutant, Outcome
    fakes = [Mutant("dies", "proof-step", "a mutant the checks kill", lambda: Outcome(True, "replay", "differs")),
             Mutant("lives", "proof-step", "a mutant nothing kills", lambda: Outcome(False, "nothing", "still checks"))]
    monkeypatch.setattr(run_module, "MUTANTS", fakes)
    docs = []
    for k in range(2):
        target = tmp_path / f"selftest{k}.xml"
        rc, out, err = run_cli(capsys, "selftest", "--format", "json", "--junit", str(target))
        assert rc == 1 and "1 mutant(s) survived: lives" in err
        docs.append(document(out, "evosym-selftest/1"))
        suite, cases = junit(target)
        assert [c.get("name") for c in cases] == ["dies", "lives"]
        (failure,) = failures(cases)
        assert failure.get("message") == "mutant survived (nothing)" and "a mutant nothing kills" in failure.text
    doc = docs[0]
    assert not doc["ok"] and doc["survivors"] == ["lives"] and doc["total"] == {"mutants": 2, "killed": 1, "kill_rate": 0.5}
    same_apart_from_timings(*docs)
    rc, out, err = run_cli(capsys, "selftest", "--junit", str(tmp_path / "selftest0.xml"))
    assert "exists; use --force" in one_line_error(rc, out, err)


# -- bench, table, info -------------------------------------------------------------------------------

def test_bench_json(capsys):
    rc, out, err = run_cli(capsys, "bench", "linear", "--repeat", "1", "--no-generic", "--size", "B=1", "--size", "N=16",
                           "--format", "json")
    assert rc == 0 and "measured linear" in err
    doc = document(out, "evosym-bench/1")
    (row,) = doc["operators"]
    assert doc["repeat"] == 1 and doc["generic"] is False and doc["device"] == "cpu"
    assert row["size_values"]["N"] == 16 and row["generic_ms"] is None and row["generated_ms"] > 0


def test_table_and_info_json(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(catalogue, "catalogue_names", lambda: ["avg_pool2d", "conv1d", "linear"])
    rc, out, err = run_cli(capsys, "table", "--format", "json")
    assert rc == 0
    doc = document(out, "evosym-table/1")
    assert [r["operator"] for r in doc["operators"]] == ["avg_pool2d", "conv1d", "linear"]
    assert all(r["proved"] and r["cost"]["parameters"] for r in doc["operators"])
    assert doc["operators"][2]["properties"]["kernel"] == "static"
    target = tmp_path / "table.json"
    rc, out2, err = run_cli(capsys, "table", "--format", "json", "--output", str(target))
    assert rc == 0 and target.read_text(encoding="utf-8") == out   # nothing run-dependent

    rc, out, err = run_cli(capsys, "info", "conv1d", "--format", "json")
    assert rc == 0
    doc = document(out, "evosym-info/1")
    assert doc["operator"] == "conv1d" and doc["proof"]["verdict"] == "proved" and doc["limit"] is None
    assert {p["key"] for p in doc["properties"]} == {"kernel", "space", "channels", "omega", "border", "causal"}
    rc, out2, err = run_cli(capsys, "info", "conv1d", "--format", "json")
    assert out2 == out
    rc, out, err = run_cli(capsys, "info", "conv1d")   # the text is still the text
    assert rc == 0 and out.startswith("conv1d: ")
