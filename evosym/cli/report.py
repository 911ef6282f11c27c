"""Command results as plain data: what ``--format json`` prints and ``--junit`` is written from.

Each ``*_document`` function turns what a command computed (checked proofs, numeric check reports,
candidate verdicts, self-test rows, benchmark rows, properties and costs) into a dict of strings,
numbers, booleans, ``None``, lists and dicts, under a top-level object
``{"schema": "evosym-<command>/<version>", "evosym": <version>, …}``. :func:`dumps` writes it
deterministically: keys sorted, two-space indentation, ASCII only (every non-ASCII character as a
``\\uXXXX`` escape, so a terminal that cannot print UTF-8 never alters it), and no NaN or infinity
(a value that is not finite is the string ``"nan"``, ``"inf"`` or ``"-inf"``; a quantity that was not
measured is ``null``). The schemas, and which fields may differ between two runs, are in
:mod:`evosym.cli.schemas` and ``docs/json.md``.

The text output of every command is left exactly as it was: it is not rendered from these dicts.
"""

from __future__ import annotations

import json
import math
import re

from .. import __version__

VERSION = 1   # the version of every schema below; see docs/json.md for the version policy


def schema_name(command: str) -> str:
    """``evosym-<command>/<version>``, e.g. ``evosym-prove/1``."""
    return f"evosym-{command}/{VERSION}"


def document(command: str, **fields) -> dict:
    """The top-level object of one command's JSON output."""
    return {"schema": schema_name(command), "evosym": __version__, **fields}


def _clean(value):
    """``value`` with every non-finite float as a string and tuples as lists (JSON has neither NaN nor tuples)."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    raise TypeError(f"not plain data: {type(value).__name__}")


def dumps(doc: dict) -> str:
    """The JSON text of a document: sorted keys, indented, ASCII, no NaN; ends with a newline."""
    return json.dumps(_clean(doc), sort_keys=True, indent=2, ensure_ascii=True, allow_nan=False) + "\n"


def measured(value) -> float | None:
    """A measured float, or None when it was not measured (NaN) or is not a number."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def size_values(text: str) -> dict | None:
    """``"B=1, C=4"`` as ``{"B": 1, "C": 4}``; None when the text is not of that form."""
    out = {}
    if not text.strip():
        return out
    for part in text.split(","):
        key, eq, value = part.strip().partition("=")
        if not eq or not key:
            return None
        try:
            out[key.strip()] = int(value.strip())
        except ValueError:
            return None
    return out


# -- prove ----------------------------------------------------------------------------------------

def counterexample(cx) -> dict | None:
    """Where two sides differ: sizes, output index, both values (as printed), and any detail."""
    if cx is None:
        return None
    return {"sizes": cx.sizes, "size_values": size_values(cx.sizes), "index": cx.index, "left": cx.left,
            "right": cx.right, "detail": cx.detail}


def _how(check) -> str:
    """A step's label in words: proved symbolically, or checked only at the listed sizes."""
    shapes = list(check.bounded_shapes)
    if check.general:
        return f"proved symbolically (all sizes); also compared exactly at {len(shapes)} grid shapes"
    return f"checked at sizes {'; '.join(shapes)}" if shapes else "checked at no sizes"


def step(number: int, s) -> dict:
    c = s.check
    return {"number": number, "rule": s.rule, "arguments": s.args_text(), "ok": bool(c.ok), "label": c.label,
            "checked": _how(c), "replay": c.replay, "bounded_shapes": list(c.bounded_shapes), "message": c.message,
            "counterexample": counterexample(c.counterexample)}


def check_result(c) -> dict:
    """A whole-proof check (premises, Evolution form, support of K, reference, limit checks)."""
    return {"name": c.name, "ok": bool(c.ok), "label": c.label, "message": c.message,
            "counterexample": counterexample(c.counterexample), "measured": measured(c.measured)}


def _step_counts(steps) -> dict:
    general = sum(bool(s.check.general) for s in steps)
    return {"total": len(steps), "general": general, "bounded": len(steps) - general}


def _show(op):
    from ..printers.expr import text
    names = op.display_names("text") if hasattr(op, "display_names") else None

    def show(expr):
        return text(expr, names)
    return show


def evolution(form, op) -> dict | None:
    if form is None:
        return None
    show = _show(op)
    body = getattr(getattr(form, "kernel_definition", None), "body", None)
    return {"omega": form.omega.describe(show), "kernel": show(form.kernel),
            "kernel_definition": show(body) if body is not None else None, "value": show(form.value),
            "bias": show(form.bias) if form.bias != 0 else None}


def limit(report) -> dict | None:
    if report is None:
        return None
    return {"ok": bool(report.ok), "step_counts": _step_counts(report.steps),
            "steps": [step(k, s) for k, s in enumerate(report.steps, 1)],
            "target": check_result(report.target), "bound": check_result(report.bound),
            "rows": [{"alpha": a, "measured": m, "bound": b} for a, m, b in report.rows],
            "needed": [{"error": e, "alpha_bound": a, "alpha_measured": m} for e, a, m in report.needed]}


def proof(cp) -> dict:
    """One checked proof: verdict, step counts (general/bounded), every step's label and check, the
    whole-proof checks with their counterexamples, the Evolution form, the grid shapes."""
    op = cp.operator
    return {"operator": op.name, "summary": getattr(op, "summary", "") or "", "ok": bool(cp.ok),
            "verdict": "proved" if cp.ok else "failed", "domain": domain(op), "step_counts": _step_counts(cp.steps),
            "steps": [step(k, s) for k, s in enumerate(cp.steps, 1)],
            "checks": [check_result(c) for c in cp.checks], "evolution": evolution(cp.evolution, op),
            "shapes": list(cp.shapes), "limit": limit(cp.limit), "failures": list(cp.failures()),
            "seconds": measured(cp.seconds)}


def domain(op) -> dict:
    """The domain "for all sizes" ranges over: the sizes grouped by their bound ("≥ 1", with further assumptions in
    ``note``) and the operator's constraints (``2*P <= K``), as the printed proof states them."""
    import sympy as sp

    from ..proof.premises import size_domains
    return {"sizes": [{"names": [str(s) for s in syms], "bound": bound, "note": note}
                      for syms, bound, note in size_domains(op)],
            "constraints": [sp.sstr(c) for c in op.constraints]}


def prove_document(checked, *, search: bool = False, error: str | None = None) -> dict:
    failed = [cp.operator.name for cp in checked if not cp.ok]
    return document("prove", ok=not failed and error is None and bool(checked), search=bool(search),
                    operators=[proof(cp) for cp in checked], failed=failed, error=error)


# -- check ----------------------------------------------------------------------------------------

_STATUS = {"✓": "passed", "✗": "failed", "-": "skipped"}


def comparison(line: str) -> dict:
    """One line of a shape's check ('✓ float64 auto: …', '✗ …', '- gradients … not compared')."""
    mark, _, rest = line.partition(" ")
    if mark in _STATUS:
        return {"status": _STATUS[mark], "text": rest}
    return {"status": "note", "text": line}


def check_report(report, seconds: float | None = None) -> dict:
    """One operator's numeric check: the lowering, paths, notes, and per shape its seed and comparisons."""
    shapes = [{"sizes": s.sizes, "size_values": size_values(s.sizes), "seed": int(s.seed), "ok": bool(s.ok),
               "comparisons": [comparison(line) for line in s.lines]} for s in report.shapes]
    return {"operator": report.name, "ok": bool(report.ok), "verdict": "passed" if report.ok else "failed",
            "device": report.device, "lowering": report.plan.path, "lowering_reason": report.plan.reason,
            "paths": list(report.paths), "notes": list(report.notes), "shapes": shapes,
            "failed_shapes": sum(not s.ok for s in report.shapes), "seconds": measured(seconds)}


def check_document(reports, *, device: str, seed: int, kernels=()) -> dict:
    """``reports``: [(CheckReport, seconds)]."""
    failed = [r.name for r, _ in reports if not r.ok]
    return document("check", ok=not failed, device=device, seed=int(seed), kernels=sorted(set(kernels or ())),
                    operators=[check_report(r, t) for r, t in reports], failed=failed)


# -- check --candidate ----------------------------------------------------------------------------

_WORST = re.compile(r"worst output index (\[[^\]]*\]): candidate (\S+), operator (\S+) \(\|diff\| (\S+) > tol (\S+)\); "
                    r"(\d+) of (\d+) entries differ")
_WHERE = re.compile(r"configuration: (.*), (\w+), seed (\d+)$")


def _number(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def candidate_failure(message: str) -> dict:
    """The harness's failure message as fields: headline, configuration (sizes, dtype, seed), the worst
    output index with both values, how many entries differ, causes and diagnoses; ``message`` whole too.
    Fields the message does not state are null (or empty lists)."""
    lines = [line.strip() for line in message.splitlines()]
    out = {"message": message, "headline": lines[0] if lines else "", "configuration": None, "sizes": None,
           "dtype": None, "seed": None, "index": None, "candidate": None, "operator": None, "abs_diff": None,
           "tolerance": None, "entries_differ": None, "entries": None, "causes": [], "diagnoses": []}
    for line in lines[1:]:
        where = _WHERE.search(line)
        if where and out["configuration"] is None:
            out["configuration"] = where.group(1)
            out["sizes"] = size_values(where.group(1))
            out["dtype"], out["seed"] = where.group(2), int(where.group(3))
            continue
        worst = _WORST.search(line)
        if worst:
            out["index"] = json.loads(worst.group(1))
            out["candidate"], out["operator"] = _number(worst.group(2)), _number(worst.group(3))
            out["abs_diff"], out["tolerance"] = _number(worst.group(4)), _number(worst.group(5))
            out["entries_differ"], out["entries"] = int(worst.group(6)), int(worst.group(7))
        elif line.startswith("cause: "):
            out["causes"].append(line[len("cause: "):])
        elif line.startswith("diagnosis: "):
            out["diagnoses"].append(line[len("diagnosis: "):])
    return out


def candidate_document(*, candidate: str, operator: str, seed: int, gradients: bool, planned: int, report=None,
                       failure: str | None = None) -> dict:
    """``evosym check --candidate``: the verdict, the comparisons that ran (configuration, dtype, max |diff|) and the
    candidate's parameters also compared drawn at random when equivalent, else the failure with its counterexample."""
    comparisons = []
    if report is not None:
        for config, dtype, diff in report.trials:
            comparisons.append({"configuration": config, "sizes": size_values(config), "dtype": dtype,
                                "max_abs_diff": measured(diff)})
    ok = failure is None and report is not None
    return document("check-candidate", ok=ok, verdict="equivalent" if ok else "not equivalent",
                    candidate=candidate, operator=(report.operator if report is not None else operator),
                    seed=int(seed), gradients=bool(gradients), planned=int(planned),
                    sizes=(dict(report.sizes) if report is not None else None), comparisons=comparisons,
                    redrawn=[str(n) for n in report.redrawn] if report is not None else [],
                    gradients_compared=_gradients_compared(report),
                    failure=candidate_failure(failure) if failure is not None else None)


def _gradients_compared(report):
    """What gradients a passing check compared (``Report.gradients``), or None (no verdict, or not asked for)."""
    seen = getattr(report, "gradients", None)
    if not isinstance(seen, dict):
        return None
    return {"dtypes": [str(d) for d in seen["dtypes"]], "inputs": [str(n) for n in seen["inputs"]],
            "parameters": [str(n) for n in seen["parameters"]],
            "parameters_not_compared": None if seen["not compared"] is None else str(seen["not compared"])}


# -- selftest -------------------------------------------------------------------------------------

def selftest_document(rows, categories=()) -> dict:
    """``rows``: [(Mutant, Outcome, seconds)] from :func:`evosym.selftest.run.run`."""
    from ..selftest.registry import CATEGORIES
    by = {}
    for m, o, _ in rows:
        by.setdefault(m.category, []).append(o)
    cats = [{"name": cat, "mutants": len(by[cat]), "killed": sum(bool(o.killed) for o in by[cat]),
             "kill_rate": sum(bool(o.killed) for o in by[cat]) / len(by[cat])} for cat in CATEGORIES if cat in by]
    killed = sum(bool(o.killed) for _, o, _ in rows)
    survivors = [m.name for m, o, _ in rows if not o.killed]
    return document("selftest", ok=not survivors, selected=sorted(set(categories or ())), categories=cats,
                    total={"mutants": len(rows), "killed": killed, "kill_rate": killed / len(rows) if rows else None},
                    mutants=[{"name": m.name, "category": m.category, "description": m.description,
                              "killed": bool(o.killed), "by": o.by, "detail": o.detail, "seconds": measured(t)}
                             for m, o, t in rows],
                    survivors=survivors)


# -- bench ----------------------------------------------------------------------------------------

def bench_row(r) -> dict:
    return {"operator": r.name, "sizes": r.sizes, "size_values": size_values(r.sizes), "lowering": r.path,
            "device": r.device, "generated_ms": measured(r.generated_ms), "generic_ms": measured(r.generic_ms),
            "traditional_ms": measured(r.traditional_ms), "ratio": measured(r.ratio),
            "generic_ratio": measured(r.generic_ratio), "generated_mb": measured(r.generated_mb),
            "traditional_mb": measured(r.traditional_mb)}


def bench_document(rows, *, device: str, repeat: int, generic: bool, torch_version: str, threads: int) -> dict:
    return document("bench", device=device, repeat=int(repeat), generic=bool(generic), torch=torch_version,
                    threads=int(threads), operators=[bench_row(r) for r in rows])


def bench_kernels_document(report) -> dict:
    """``evosym bench NAME --kernels``: the rows (what, ms, note) and the closing lines."""
    return document("bench-kernels", operator=report.name, sizes=report.sizes, size_values=size_values(report.sizes),
                    device=report.device, rows=[{"what": w, "ms": measured(ms), "note": note} for w, ms, note in report.rows],
                    lines=[line for line in report.lines])


def bench_against_row(report, r) -> dict:
    return {"implementation": r.label, "kind": r.kind, "note": r.note, "tolerance": r.tolerance, "check": r.check,
            "status": r.status, "message": r.message, "max_abs_diff": measured(r.max_abs_diff),
            "forward_ms": measured(r.forward_ms), "forward_ratio": measured(report.time_ratio(r)),
            "forward_mb": measured(r.forward_mb), "forward_memory_ratio": measured(report.memory_ratio(r)),
            "backward_ms": measured(r.backward_ms), "backward_ratio": measured(report.time_ratio(r, True)),
            "backward_mb": measured(r.backward_mb), "backward_memory_ratio": measured(report.memory_ratio(r, True)),
            "compile_s": measured(r.compile_s), "compile_backward_s": measured(r.compile_backward_s)}


def bench_against_document(reports, *, device: str, repeat: int, backward: bool, compile: bool, torch_version: str,
                           threads: int) -> dict:
    """``evosym bench [NAME] --against``: per operator, one row per implementation (evosym's default path, the
    traditional reference, the alternatives); ratios are time ÷ evosym's time and evosym's peak ÷ the peak."""
    ops = [{"operator": r.name, "sizes": r.sizes, "size_values": size_values(r.sizes), "device": r.device,
            "load_before": [float(v) for v in r.load_before], "load_after": [float(v) for v in r.load_after],
            "failed": list(r.failed), "notes": list(r.notes), "rows": [bench_against_row(r, row) for row in r.rows],
            "roofline": r.roofline.as_json() if r.roofline is not None else None}
           for r in reports]
    return document("bench-against", device=device, repeat=int(repeat), backward=bool(backward), compile=bool(compile),
                    torch=torch_version, threads=int(threads), ok=not any(r.failed for r in reports), operators=ops)


# -- table and info -------------------------------------------------------------------------------

PROPERTY_KEYS = {"kernel": "kernel", "space": "space", "channels": "channels", "Ω": "omega", "border": "border"}


def _props(props) -> list[dict]:
    return [{"name": p.name, "key": PROPERTY_KEYS.get(p.name, p.name), "value": p.value, "how": p.how}
            for p in props.items]


def _cost(c) -> dict:
    from ..printers.expr import text
    return {"parameters": text(c.parameters), "multiply_adds": text(c.macs),
            "kernel_entries": text(c.kernel_entries) if c.kernel_entries is not None else None}


def table_document(checked) -> dict:
    """``evosym table``: per operator the derived properties (the table's columns) and symbolic costs."""
    from ..analysis.report import cost_of, properties_of
    rows = []
    for cp in checked:
        props = properties_of(cp)
        rows.append({"operator": cp.operator.name, "proved": bool(cp.ok),
                     "properties": {PROPERTY_KEYS.get(p.name, p.name): p.value for p in props.items},
                     "cost": _cost(cost_of(cp))})
    return document("table", operators=rows)


def info_document(cp) -> dict:
    """``evosym info NAME``: the proof's status, every property with how it was derived and confirmed,
    the symbolic costs and, for an operator with a limit, the limit's verdict and the α each error needs."""
    from ..analysis.report import cost_of, properties_of
    from ..printers.expr import text
    op = cp.operator
    lim = None
    if cp.limit is not None and op.limit is not None:
        spec = op.limit
        lim = {"ok": bool(cp.limit.ok), "verdict": "proved" if cp.limit.ok else "failed",
               "sharpness": text(spec.sharpness, op.display_names("text")), "target": str(spec.target),
               "weight_map": str(spec.weight_map), "step_counts": _step_counts(cp.limit.steps),
               "needed": [{"error": e, "alpha_bound": a, "alpha_measured": m} for e, a, m in cp.limit.needed]}
    return document("info", operator=op.name, summary=getattr(op, "summary", "") or "",
                    proof={"ok": bool(cp.ok), "verdict": "proved" if cp.ok else "failed",
                           "step_counts": _step_counts(cp.steps), "shapes": len(cp.shapes),
                           "checks": [{"name": c.name, "ok": bool(c.ok), "label": c.label} for c in cp.checks]},
                    properties=_props(properties_of(cp)), cost=_cost(cost_of(cp)), limit=lim)


# Fields that may differ between two runs of the same command with the same arguments (timings,
# measurements and build-cache notes); everything else is byte-identical. Paths are (key, …) from a
# top-level object, "*" standing for every element of a list.
RUN_DEPENDENT = {
    "evosym-prove/1": (("operators", "*", "seconds"),),
    "evosym-check/1": (("operators", "*", "seconds"), ("operators", "*", "notes")),
    "evosym-check-candidate/1": (),
    "evosym-selftest/1": (("mutants", "*", "seconds"),),
    "evosym-bench/1": (("operators", "*", "generated_ms"), ("operators", "*", "generic_ms"),
                       ("operators", "*", "traditional_ms"), ("operators", "*", "ratio"),
                       ("operators", "*", "generic_ratio"), ("operators", "*", "generated_mb"),
                       ("operators", "*", "traditional_mb"), ("threads",)),
    "evosym-bench-kernels/1": (("rows", "*", "ms"), ("rows", "*", "note"), ("lines",)),
    "evosym-bench-against/1": tuple(("operators", "*", "rows", "*", key) for key in (
        "max_abs_diff", "forward_ms", "forward_ratio", "forward_mb", "forward_memory_ratio", "backward_ms",
        "backward_ratio", "backward_mb", "backward_memory_ratio", "compile_s", "compile_backward_s", "message",
        "status", "check")) + (("operators", "*", "load_before"), ("operators", "*", "load_after"),
                               ("operators", "*", "failed"), ("operators", "*", "roofline"), ("ok",), ("threads",)),
    "evosym-table/1": (),
    "evosym-info/1": (),
}


def without_run_dependent(doc: dict) -> dict:
    """A copy of ``doc`` with its run-dependent fields (:data:`RUN_DEPENDENT`) set to None."""
    doc = json.loads(json.dumps(_clean(doc)))

    def drop(node, path):
        if not path:
            return
        key, rest = path[0], path[1:]
        if key == "*":
            for item in node if isinstance(node, list) else ():
                drop(item, rest)
        elif isinstance(node, dict) and key in node:
            if rest:
                drop(node[key], rest)
            else:
                node[key] = None
    for path in RUN_DEPENDENT.get(doc.get("schema"), ()):
        drop(doc, path)
    return doc


__all__ = ["VERSION", "bench_against_document", "bench_document", "bench_kernels_document", "candidate_document",
           "check_document", "document", "dumps", "info_document", "prove_document", "schema_name", "selftest_document", "table_document",
           "without_run_dependent"]
