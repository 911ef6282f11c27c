"""The schemas of ``--format json``, as JSON-Schema-like dicts, and a small validator for them.

Each schema is a subset of JSON Schema: ``type`` (a name or a list of names: object, array, string,
integer, number, boolean, null), ``properties`` with ``required`` (every listed key must be present;
keys not listed are allowed, so a minor addition does not break a consumer), ``items`` for arrays,
``enum`` and ``const``. ``docs/json.md`` describes every field; the tests validate every command's
output against these.
"""

from __future__ import annotations

from ..runtime import backends
from .report import schema_name


def _obj(required: dict, optional: dict | None = None) -> dict:
    return {"type": "object", "properties": {**required, **(optional or {})}, "required": sorted(required)}


def _arr(items) -> dict:
    return {"type": "array", "items": items}


S = {"type": "string"}
I = {"type": "integer"}
N = {"type": "number"}
B = {"type": "boolean"}
S_ = {"type": ["string", "null"]}
I_ = {"type": ["integer", "null"]}
N_ = {"type": ["number", "null"]}
SIZES = {"type": ["object", "null"]}      # {"B": 1, …} parsed from the sizes text; null if not of that form
NUM_OR_TEXT = {"type": ["number", "string", "null"]}   # a value; "nan"/"inf"/"-inf" when not finite


def _head(command: str) -> dict:
    return {"schema": {"type": "string", "const": schema_name(command)}, "evosym": S}


COUNTEREXAMPLE = {"type": ["object", "null"], "properties": {"sizes": S, "size_values": SIZES, "index": S, "left": S,
                                                             "right": S, "detail": S},
                  "required": ["detail", "index", "left", "right", "size_values", "sizes"]}
STEP_COUNTS = _obj({"total": I, "general": I, "bounded": I})
STEP = _obj({"number": I, "rule": S, "arguments": S, "ok": B, "label": {"type": "string", "enum": ["general", "bounded"]},
             "checked": S, "replay": S, "bounded_shapes": _arr(S), "message": S, "counterexample": COUNTEREXAMPLE})
CHECK = _obj({"name": S, "ok": B, "label": S, "message": S, "counterexample": COUNTEREXAMPLE, "measured": N_})
EVOLUTION = {"type": ["object", "null"], "properties": {"omega": S, "kernel": S, "kernel_definition": S_, "value": S,
                                                        "bias": S_},
             "required": ["bias", "kernel", "kernel_definition", "omega", "value"]}
LIMIT = {"type": ["object", "null"],
         "properties": {"ok": B, "step_counts": STEP_COUNTS, "steps": _arr(STEP), "target": CHECK, "bound": CHECK,
                        "rows": _arr(_obj({"alpha": NUM_OR_TEXT, "measured": NUM_OR_TEXT, "bound": NUM_OR_TEXT})),
                        "needed": _arr(_obj({"error": NUM_OR_TEXT, "alpha_bound": NUM_OR_TEXT,
                                             "alpha_measured": NUM_OR_TEXT}))},
         "required": ["bound", "needed", "ok", "rows", "step_counts", "steps", "target"]}
DOMAIN = _obj({"sizes": _arr(_obj({"names": _arr(S), "bound": S, "note": S})), "constraints": _arr(S)})
PROOF = _obj({"operator": S, "summary": S, "ok": B, "verdict": {"type": "string", "enum": ["proved", "failed"]},
              "domain": DOMAIN, "step_counts": STEP_COUNTS, "steps": _arr(STEP), "checks": _arr(CHECK),
              "evolution": EVOLUTION, "shapes": _arr(S), "limit": LIMIT, "failures": _arr(S), "seconds": N_})

PROVE = _obj({**_head("prove"), "ok": B, "search": B, "operators": _arr(PROOF), "failed": _arr(S), "error": S_})

COMPARISON = _obj({"status": {"type": "string", "enum": ["passed", "failed", "skipped", "note"]}, "text": S})
CHECK_SHAPE = _obj({"sizes": S, "size_values": SIZES, "seed": I, "ok": B, "comparisons": _arr(COMPARISON)})
CHECK_REPORT = _obj({"operator": S, "ok": B, "verdict": {"type": "string", "enum": ["passed", "failed"]}, "device": S,
                     "lowering": S, "lowering_reason": S, "paths": _arr(S), "notes": _arr(S),
                     "shapes": _arr(CHECK_SHAPE), "failed_shapes": I, "seconds": N_})
CHECK_DOC = _obj({**_head("check"), "ok": B, "device": {"type": "string", "enum": list(backends.devices())}, "seed": I,
                  "kernels": _arr(S), "operators": _arr(CHECK_REPORT), "failed": _arr(S)})

FAILURE = {"type": ["object", "null"],
           "properties": {"message": S, "headline": S, "configuration": S_, "sizes": SIZES, "dtype": S_, "seed": I_,
                          "index": {"type": ["array", "null"], "items": I}, "candidate": NUM_OR_TEXT,
                          "operator": NUM_OR_TEXT, "abs_diff": NUM_OR_TEXT, "tolerance": NUM_OR_TEXT,
                          "entries_differ": I_, "entries": I_, "causes": _arr(S), "diagnoses": _arr(S)},
           "required": ["abs_diff", "candidate", "causes", "configuration", "diagnoses", "dtype", "entries",
                        "entries_differ", "headline", "index", "message", "operator", "seed", "sizes", "tolerance"]}
CANDIDATE = _obj({**_head("check-candidate"), "ok": B,
                  "verdict": {"type": "string", "enum": ["equivalent", "not equivalent"]}, "candidate": S,
                  "operator": S, "seed": I, "gradients": B, "planned": I, "sizes": SIZES,
                  "comparisons": _arr(_obj({"configuration": S, "sizes": SIZES, "dtype": S, "max_abs_diff": N_})),
                  "redrawn": _arr(S),
                  "gradients_compared": {**_obj({"dtypes": _arr(S), "inputs": _arr(S), "parameters": _arr(S),
                                                 "parameters_not_compared": S_}), "type": ["object", "null"]},
                  "failure": FAILURE})

SELFTEST = _obj({**_head("selftest"), "ok": B, "selected": _arr(S),
                 "categories": _arr(_obj({"name": S, "mutants": I, "killed": I, "kill_rate": N})),
                 "total": _obj({"mutants": I, "killed": I, "kill_rate": N_}),
                 "mutants": _arr(_obj({"name": S, "category": S, "description": S, "killed": B, "by": S, "detail": S,
                                       "seconds": N_})),
                 "survivors": _arr(S)})

BENCH = _obj({**_head("bench"), "device": S, "repeat": I, "generic": B, "torch": S, "threads": I,
              "operators": _arr(_obj({"operator": S, "sizes": S, "size_values": SIZES, "lowering": S, "device": S,
                                      "generated_ms": N_, "generic_ms": N_, "traditional_ms": N_, "ratio": N_,
                                      "generic_ratio": N_, "generated_mb": N_, "traditional_mb": N_}))})
BENCH_KERNELS = _obj({**_head("bench-kernels"), "operator": S, "sizes": S, "size_values": SIZES, "device": S,
                      "rows": _arr(_obj({"what": S, "ms": N_, "note": S})), "lines": _arr(S)})

BENCH_AGAINST_ROW = _obj({"implementation": S, "kind": {"type": "string", "enum": ["evosym", "traditional", "alternative"]},
                          "note": S, "tolerance": S,
                          "check": {"type": "string", "enum": ["passed", "failed", "not checked", "reference", "not run"]},
                          "status": {"type": "string", "enum": ["ok", "error", "skipped"]}, "message": S,
                          "max_abs_diff": N_, "forward_ms": N_, "forward_ratio": N_, "forward_mb": N_,
                          "forward_memory_ratio": N_, "backward_ms": N_, "backward_ratio": N_, "backward_mb": N_,
                          "backward_memory_ratio": N_, "compile_s": N_, "compile_backward_s": N_})
ROOFLINE = {"type": ["object", "null"], "required": ["gflop", "mbytes", "bound_ms", "bound_by", "fraction", "peak_gflops",
                                                    "peak_gbytes_per_s", "peaks_measured"],
            "properties": {"gflop": N, "mbytes": N, "bound_ms": N, "bound_by": {"type": "string", "enum": ["compute", "memory"]},
                           "fraction": N_, "peak_gflops": N, "peak_gbytes_per_s": N, "peaks_measured": S}}
BENCH_AGAINST = _obj({**_head("bench-against"), "device": S, "repeat": I, "backward": B, "compile": B, "torch": S,
                      "threads": I, "ok": B,
                      "operators": _arr(_obj({"operator": S, "sizes": S, "size_values": SIZES, "device": S,
                                              "load_before": _arr(N), "load_after": _arr(N), "failed": _arr(S),
                                              "notes": _arr(S), "rows": _arr(BENCH_AGAINST_ROW),
                                              "roofline": ROOFLINE}))})

COST = _obj({"parameters": S, "multiply_adds": S, "kernel_entries": S_})
TABLE = _obj({**_head("table"), "operators": _arr(_obj({
    "operator": S, "proved": B, "cost": COST,
    "properties": _obj({"kernel": S, "space": S, "channels": S, "omega": S, "border": S, "causal": S})}))})
INFO = _obj({**_head("info"), "operator": S, "summary": S,
             "proof": _obj({"ok": B, "verdict": S, "step_counts": STEP_COUNTS, "shapes": I,
                            "checks": _arr(_obj({"name": S, "ok": B, "label": S}))}),
             "properties": _arr(_obj({"name": S, "key": S, "value": S, "how": S})), "cost": COST,
             "limit": {"type": ["object", "null"],
                       "properties": {"ok": B, "verdict": S, "sharpness": S, "target": S, "weight_map": S,
                                      "step_counts": STEP_COUNTS,
                                      "needed": _arr(_obj({"error": NUM_OR_TEXT, "alpha_bound": NUM_OR_TEXT,
                                                           "alpha_measured": NUM_OR_TEXT}))},
                       "required": ["needed", "ok", "sharpness", "step_counts", "target", "verdict", "weight_map"]}})

SCHEMAS = {schema_name(c): s for c, s in (("prove", PROVE), ("check", CHECK_DOC), ("check-candidate", CANDIDATE),
                                          ("selftest", SELFTEST), ("bench", BENCH), ("bench-kernels", BENCH_KERNELS),
                                          ("bench-against", BENCH_AGAINST),
                                          ("table", TABLE), ("info", INFO))}

_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _is(value, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[name])


def errors(value, schema: dict, where: str = "$") -> list[str]:
    """Every way ``value`` violates ``schema``, as 'path: problem' lines (empty: valid)."""
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_is(value, k) for k in kinds):
            return [f"{where}: expected {' or '.join(kinds)}, got {type(value).__name__}"]
    out = []
    if "const" in schema and value != schema["const"]:
        out.append(f"{where}: expected {schema['const']!r}, got {value!r}")
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                out.append(f"{where}: missing {key!r}")
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                out += errors(value[key], sub, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for k, item in enumerate(value):
            out += errors(item, schema["items"], f"{where}[{k}]")
    return out


def validate(doc: dict) -> list[str]:
    """Problems of a document against the schema it names (an unknown schema is one problem)."""
    name = doc.get("schema") if isinstance(doc, dict) else None
    if name not in SCHEMAS:
        return [f"$.schema: unknown schema {name!r}"]
    return errors(doc, SCHEMAS[name])


__all__ = ["SCHEMAS", "errors", "validate"]
