"""JUnit XML for CI dashboards (``evosym check --junit FILE``, ``evosym selftest --junit FILE``).

One ``<testsuite>`` per command run inside a ``<testsuites>`` root; one ``<testcase>`` per checked
shape of an operator (``evosym check``), per candidate check (``check --candidate``) or per mutant
(``evosym selftest``); a failed one holds a ``<failure message=…>`` with the details as its text.
The file carries no timestamp or host name; ``time`` attributes are the only run-dependent values.
It is built from the same plain data as ``--format json`` (:mod:`evosym.cli.report`) and written with
:func:`evosym.files.write_atomic` (atomic, refuses to overwrite without ``--force``).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from .. import __version__

# characters XML 1.0 cannot hold (control characters other than tab, newline, carriage return)
_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _INVALID.sub("?", str(text))


@dataclass
class Case:
    classname: str
    name: str
    failure: str | None = None     # the failure's one-line message; None: passed
    details: str = ""              # the failure's full text
    seconds: float | None = None
    skipped: str | None = None


@dataclass
class Suite:
    name: str
    cases: list = field(default_factory=list)
    properties: dict = field(default_factory=dict)

    @property
    def failures(self) -> int:
        return sum(c.failure is not None for c in self.cases)


def _time(seconds) -> str | None:
    return None if seconds is None else f"{float(seconds):.3f}"


def xml(suite: Suite) -> str:
    """The JUnit XML text of one suite (UTF-8 declaration, ``\\n`` newlines, ends with a newline)."""
    total = _time(sum(c.seconds for c in suite.cases if c.seconds is not None)) if any(
        c.seconds is not None for c in suite.cases) else None
    skipped = sum(c.skipped is not None and c.failure is None for c in suite.cases)
    counts = {"tests": str(len(suite.cases)), "failures": str(suite.failures), "errors": "0", "skipped": str(skipped)}
    root = ET.Element("testsuites", {"name": "evosym", **counts, **({"time": total} if total else {})})
    el = ET.SubElement(root, "testsuite", {"name": _xml_text(suite.name), **counts, **({"time": total} if total else {})})
    props = ET.SubElement(el, "properties")
    for key, value in sorted({"evosym": __version__, **suite.properties}.items()):
        ET.SubElement(props, "property", {"name": _xml_text(key), "value": _xml_text(value)})
    for c in suite.cases:
        attrs = {"classname": _xml_text(c.classname), "name": _xml_text(c.name)}
        if c.seconds is not None:
            attrs["time"] = _time(c.seconds)
        case = ET.SubElement(el, "testcase", attrs)
        if c.failure is not None:
            fail = ET.SubElement(case, "failure", {"message": _xml_text(c.failure), "type": "AssertionError"})
            fail.text = _xml_text(c.details or c.failure)
        elif c.skipped is not None:
            ET.SubElement(case, "skipped", {"message": _xml_text(c.skipped)})
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _first(text: str) -> str:
    return text.splitlines()[0] if text else ""


def check_suite(doc: dict) -> Suite:
    """From an ``evosym-check/1`` document: one case per checked shape of each operator (an operator
    that checked no shape is one failed case)."""
    suite = Suite("evosym check", properties={"device": doc["device"], "seed": str(doc["seed"])})
    for op in doc["operators"]:
        classname = f"evosym.check.{op['operator']}"
        if not op["shapes"]:
            suite.cases.append(Case(classname, "no shapes", "no shape was checked", seconds=op["seconds"]))
        for s in op["shapes"]:
            bad = [c["text"] for c in s["comparisons"] if c["status"] == "failed"]
            name = f"seed {s['seed']}: {s['sizes']}"
            details = "\n".join([f"{op['operator']} on {op['device']}, lowering {op['lowering']}, {name}"]
                                + [f"{'✓' if c['status'] == 'passed' else '✗' if c['status'] == 'failed' else '-'} "
                                   f"{c['text']}" for c in s["comparisons"]])
            failure = None if s["ok"] else (bad[0] if bad else "failed")
            suite.cases.append(Case(classname, name, failure, details if failure else ""))
    return suite


def candidate_suite(doc: dict) -> Suite:
    """From an ``evosym-check-candidate/1`` document: one case, the candidate against the operator."""
    suite = Suite("evosym check --candidate", properties={"seed": str(doc["seed"])})
    fail = doc["failure"]
    name = f"{doc['candidate']} vs {doc['operator']}"
    if fail is None and not doc["ok"]:
        suite.cases.append(Case("evosym.check.candidate", name, "no verdict", "no verdict"))
    elif fail is None:
        suite.cases.append(Case("evosym.check.candidate", name))
    else:
        suite.cases.append(Case("evosym.check.candidate", name, _first(fail["message"]), fail["message"]))
    return suite


def selftest_suite(doc: dict) -> Suite:
    """From an ``evosym-selftest/1`` document: one case per mutant; a survivor is a failure."""
    suite = Suite("evosym selftest")
    for m in doc["mutants"]:
        failure = None if m["killed"] else f"mutant survived ({m['by']})"
        details = f"[{m['category']}] {m['name']}: {m['description']} — by {m['by']}" + (
            f": {m['detail']}" if m["detail"] else "")
        suite.cases.append(Case(f"evosym.selftest.{m['category']}", m["name"], failure, details if failure else "",
                                seconds=m["seconds"]))
    return suite


__all__ = ["Case", "Suite", "candidate_suite", "check_suite", "selftest_suite", "xml"]
