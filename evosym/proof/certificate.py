"""Proof certificates: a proof and its verdicts as plain, exact, versioned data, and their re-check.

A *derivation* is what an operator file hands over (from a child process, see
:mod:`evosym.isolation`): the operator (tensors, sizes with their domains, definitions, the
traditional form, the grid), every step (rule, arguments, before, after), the conclusion, and
the arrays its user-supplied references returned. A *certificate* is a derivation plus the
verdicts of :meth:`Proof.check`: every step's replay, obligations and bounded comparison, the
Evolution-form match, the support and reference checks, the limit section.

:func:`verify` decodes a certificate with :mod:`.codec` (no code named by the data is run),
checks the proof again from scratch, and requires the recomputed verdicts to equal the recorded
ones: a changed step, grid value or obligation is refused. Nothing here imports a printer, code
generation, the CLI, the catalogue or an operator file: this module and what it imports are the
trusted base (listed in docs/proofs.md).

Schema (``FORMAT``, ``VERSION``): ``{"format", "version", "sympy", "operator", "proof",
"outputs", "verdicts"?}``; expressions are :mod:`.codec` trees, arrays are ``{"shape", "float64":
[float.hex …]}`` or ``{"error": text}``, floats in verdicts are 12-digit decimal strings.
"""

from __future__ import annotations

import json
import numbers
import re
from dataclasses import dataclass

import numpy as np
import sympy as sp

from ..errors import EvosymError
from ..ir.limit import SoftmaxLimit
from ..ir.neighbourhood import Global, IndexSet, Neighbourhood, Window, WindowAxis
from ..ir.operator import Operator
from ..ir.tensors import Definition, TensorDecl
from .codec import NAME, CodecError, control_character, decode, encode_checked, latex_name
from .proof import CheckedProof, Proof
from .rules.base import Obligation
from .step import Counterexample, Step

FORMAT = "evosym-certificate"
VERSION = 1


class CertificateError(EvosymError):
    """A certificate that is malformed, of another version, or whose verdicts do not reproduce."""


# -- values ---------------------------------------------------------------------------------
def _e(x):
    return encode_checked(x)


def _str(x, what="text", keep="\n\t") -> str:
    if not isinstance(x, str):
        raise CertificateError(f"malformed certificate: {what} must be a string, not {type(x).__name__}")
    bad = control_character(x, keep)
    if bad:
        raise CertificateError(f"{what} {_clip(x)!r} holds the control character {bad!r}, which a terminal would act "
                               "on (escape sequences, carriage returns and direction overrides are refused in any text "
                               "evosym prints)")
    return x


def _clip(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def _line(x, what="text") -> str:
    """A text printed as (part of) one line: a summary, a description, a name; no newline either (it could print a
    line of its own, a forged verdict)."""
    return _str(x, what, "\t")


def _opt_line(x, what="text"):
    return None if x is None else _line(x, what)


def _name(x, what) -> str:
    """A tensor's or definition's name: an identifier (it is printed in math, LaTeX and Markdown alike)."""
    if not NAME.fullmatch(_line(x, what)):
        raise CertificateError(f"{what} must be an identifier (letters, digits, _ and primes after them), not {x!r}")
    return x


def _latex(x, what):
    """A display name in LaTeX, or None: only the LaTeX :func:`~evosym.proof.codec.latex_name` takes."""
    if x is not None and not latex_name(_line(x, what)):
        raise CertificateError(f"{what} {x!r} is not a LaTeX display name evosym prints: letters, digits, _, ^, "
                               "balanced {…}, math commands such as \\hat, \\mathrm or Greek letters, and \\text{…} "
                               "of words and digits only (a document compiles what it prints: no \\input, no $, |, "
                               "<, & or %)")
    return x


def _named_symbols(op) -> None:
    """Every symbol the operator declares or uses (sizes, indices, tensors, bound summation variables) is named by an
    identifier: a name such as ``B|<b>$`` would print as markup in Markdown math and LaTeX."""
    exprs = [op.traditional, op.batch, op.out_channel, *op.lhs_indices, *op.position, *op.constraints,
             *(s for s, _ in op.sizes), *(e for t in (op.output, *op.tensors) for e in (t.shape or ())),
             *(e for d in op.definitions for e in (d.body, *d.params, *(d.shape or ())))]
    for e in exprs:
        for sym in sp.sympify(e).atoms(sp.Symbol):
            if not NAME.fullmatch(sym.name):
                raise CertificateError(f"the symbol {sym.name!r} must be named by an identifier (letters, digits, _ "
                                       "and primes after them)")


def encode_value(v):
    """A rule argument as data: expressions, strings, numbers, lists, tuples and dicts of them."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        return {"bool": v}
    if isinstance(v, int):
        return {"int": str(v)}
    if isinstance(v, float):
        return {"float": v.hex()}
    if isinstance(v, list):
        return {"list": [encode_value(x) for x in v]}
    if isinstance(v, tuple):
        return {"tuple": [encode_value(x) for x in v]}
    if isinstance(v, dict):
        return {"dict": [[encode_value(k), encode_value(x)] for k, x in v.items()]}
    if isinstance(v, sp.Basic):
        return {"expr": _e(v)}
    raise CodecError(f"a rule argument of type {type(v).__name__} ({v!r:.80}) cannot be carried by a certificate")


def decode_value(d):
    if d is None or isinstance(d, str):
        return d
    if not isinstance(d, dict) or len(d) != 1:
        raise CertificateError(f"malformed rule argument: {str(d)[:80]}")
    (kind, x), = d.items()
    if kind == "bool" and isinstance(x, bool):
        return x
    if kind == "int" and isinstance(x, str) and x.lstrip("-").isdigit() and len(x) < 4000:   # (as the codec's numbers)
        return int(x)
    if kind == "float" and isinstance(x, str):
        return float.fromhex(x)
    if kind in ("list", "tuple") and isinstance(x, list):
        items = [decode_value(y) for y in x]
        return items if kind == "list" else tuple(items)
    if kind == "dict" and isinstance(x, list):
        return {decode_value(k): decode_value(y) for k, y in x}
    if kind == "expr":
        return decode(x)
    raise CertificateError(f"malformed rule argument: {str(d)[:80]}")


def _exprs(xs) -> list:
    return [_e(x) for x in xs]


def _dexprs(xs) -> tuple:
    return tuple(decode(x) for x in _list(xs, "a list of expressions"))


def _list(x, what="a list") -> list:
    if not isinstance(x, list):
        raise CertificateError(f"malformed certificate: {what} expected, not {type(x).__name__}")
    return x


# -- the operator ---------------------------------------------------------------------------
_TENSOR_TEXT = ("description", "latex", "text", "torch_name")


def _tensor(t: TensorDecl) -> dict:
    return {"name": t.name, "shape": _exprs(t.shape), "role": t.role, "domain": t.domain,
            **{k: getattr(t, k) for k in _TENSOR_TEXT}}


def _dtensor(d) -> TensorDecl:
    try:
        return TensorDecl(_name(d["name"], "a tensor's name"), _dexprs(d["shape"]), _str(d["role"], "a tensor's role"),
                          **{k: (_latex if k == "latex" else _opt_line)(d.get(k), f"a tensor's {k}") for k in _TENSOR_TEXT},
                          domain=_str(d["domain"], "a tensor's domain"))
    except ValueError as exc:
        raise CertificateError(f"malformed tensor: {exc}") from None


def _definition(x: Definition) -> dict:
    return {"name": x.name, "params": _exprs(x.params), "body": _e(x.body), "description": x.description,
            "latex": x.latex, "text": x.text, "shape": None if x.shape is None else _exprs(x.shape)}


def _ddefinition(d) -> Definition:
    try:
        return Definition(_name(d["name"], "a definition's name"), _dexprs(d["params"]), decode(d["body"]),
                          _line(d["description"], "a definition's description"), _latex(d["latex"], "a definition's latex"),
                          _opt_line(d["text"], "a definition's text"), None if d["shape"] is None else _dexprs(d["shape"]))
    except ValueError as exc:
        raise CertificateError(f"malformed definition: {exc}") from None


def _limit(spec: SoftmaxLimit | None):
    if spec is None:
        return None
    return {"weights": spec.weights, "sharpness": _e(spec.sharpness), "keys": _exprs(spec.keys),
            "minimiser": _exprs(spec.minimiser), "target": spec.target, "weight_map": spec.weight_map,
            "errors": [float(x).hex() for x in spec.errors], "alphas": [float(x).hex() for x in spec.alphas]}


def _dlimit(d):
    if d is None:
        return None
    return SoftmaxLimit(_str(d["weights"]), decode(d["sharpness"]), _dexprs(d["keys"]), _dexprs(d["minimiser"]),
                        _str(d["target"]), target_reference=None, weight_map=_str(d["weight_map"]),
                        errors=tuple(float.fromhex(_str(x)) for x in d["errors"]),
                        alphas=tuple(float.fromhex(_str(x)) for x in d["alphas"]))


def _grid_value(n: int, size, value) -> int:
    """A grid value as the integer it is; anything else refused (``int()`` would make 1.9 a 1 and True a 1, and the
    premises would then check a grid the operator never declared)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise EvosymError(f"grid shape {n} gives the size {size} the value {value!r}, which is not an integer")
    return int(value)


def encode_operator(op: Operator) -> dict:
    return {
        "name": op.name, "summary": op.summary, "description": op.description, "citation": op.citation,
        "notes": list(op.notes), "output": _tensor(op.output), "tensors": [_tensor(t) for t in op.tensors],
        "lhs_indices": _exprs(op.lhs_indices), "traditional": _e(op.traditional), "batch": _e(op.batch),
        "out_channel": _e(op.out_channel), "position": _exprs(op.position), "value": op.value,
        "definitions": [_definition(x) for x in op.definitions],
        "sizes": [[_e(s), what] for s, what in op.sizes],
        "grid": [[[_e(k), _grid_value(n, k, v)] for k, v in sorted(g.items(), key=lambda kv: str(kv[0]))]
                 for n, g in enumerate(op.grid, 1)],
        "constraints": _exprs(op.constraints), "reference_name": op.reference_name,
        "reference_rounds": bool(op.reference_rounds), "limit": _limit(op.limit),
    }


def decode_operator(d) -> Operator:
    name = _str(d["name"], "the operator's name")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):   # it names files (--certificates DIR/NAME.json)
        raise CertificateError(f"the operator's name must be an identifier, not {name!r}")
    grid = []
    for g in _list(d["grid"], "a list of grid shapes"):
        point = {}
        for k, v in _list(g, "a grid shape"):
            if not isinstance(v, int) or isinstance(v, bool):
                raise CertificateError(f"malformed grid value {v!r}: sizes are integers")
            point[decode(k)] = v
        grid.append(point)
    op = Operator(
        name=name, summary=_line(d["summary"], "the operator's summary"), output=_dtensor(d["output"]),
        lhs_indices=_dexprs(d["lhs_indices"]), traditional=decode(d["traditional"]),
        tensors=tuple(_dtensor(t) for t in d["tensors"]), batch=decode(d["batch"]), out_channel=decode(d["out_channel"]),
        position=_dexprs(d["position"]), value=_str(d["value"], "the operator's value"),
        definitions=tuple(_ddefinition(x) for x in _list(d["definitions"], "a list of definitions")),
        sizes=tuple((decode(s), _line(what, "a size's description")) for s, what in _list(d["sizes"], "a list of sizes")), grid=tuple(grid),
        constraints=_dexprs(d["constraints"]), reference=None,
        reference_name=_line(d["reference_name"], "the reference's name"),
        reference_rounds=_bool(d["reference_rounds"]), limit=_dlimit(d["limit"]),
        description=_str(d["description"], "the operator's description"),
        citation=_str(d["citation"], "the operator's citation"),
        notes=tuple(_str(n, "a note") for n in _list(d["notes"], "a list of notes")))
    _named_symbols(op)
    return op


# -- neighbourhoods, steps, the proof ---------------------------------------------------------
_AXIS = ("kernel", "stride", "dilation", "padding", "length")


def encode_omega(omega: Neighbourhood) -> dict:
    if type(omega) is Window:
        return {"kind": "window", "axes": [{**{f: _e(getattr(a, f)) for f in _AXIS}, "wrap": a.wrap, "clamp": a.clamp,
                                            "tiled": a.tiled} for a in omega.axes]}
    if type(omega) is Global:
        return {"kind": "global", "lengths": _exprs(omega.input_lengths)}
    if type(omega) is IndexSet:
        return {"kind": "set", "p": _exprs(omega.p_symbols), "q": _exprs(omega.q_symbols), "condition": _e(omega.condition),
                "lengths": _exprs(omega.input_lengths), "bound": None if omega.bound is None else _e(omega.bound)}
    raise CodecError(f"the neighbourhood {type(omega).__name__} is not one of Window, Global, IndexSet: "
                     "certificates carry only those")


def decode_omega(d) -> Neighbourhood:
    kind = d["kind"]
    try:
        if kind == "window":
            return Window(tuple(WindowAxis(*(decode(a[f]) for f in _AXIS), wrap=_bool(a["wrap"]), clamp=_bool(a["clamp"]),
                                           tiled=_bool(a["tiled"])) for a in d["axes"]))
        if kind == "global":
            return Global(_dexprs(d["lengths"]))
        if kind == "set":
            return IndexSet(_dexprs(d["p"]), _dexprs(d["q"]), decode(d["condition"]), _dexprs(d["lengths"]),
                            None if d["bound"] is None else decode(d["bound"]))
    except ValueError as exc:
        raise CertificateError(f"malformed neighbourhood: {exc}") from None
    raise CertificateError(f"unknown neighbourhood kind {kind!r}")


def _bool(x) -> bool:
    if not isinstance(x, bool):
        raise CertificateError(f"malformed certificate: {x!r} is not a boolean")
    return x


def encode_proof(proof: Proof) -> dict:
    return {"steps": [{"rule": s.rule, "args": [[k, encode_value(v)] for k, v in s.args], "before": _e(s.before),
                       "after": _e(s.after), "defines": [_definition(x) for x in s.defines]} for s in proof.steps],
            "omega": encode_omega(proof.omega), "channel": _e(proof.channel), "neighbour": _exprs(proof.neighbour)}


def decode_proof(d, op: Operator) -> Proof:
    """The proof as the derivation claims it; statements and obligations are left to the checker's replay."""
    steps = tuple(Step(rule=_str(s["rule"]), statement="", args=tuple((_str(k), decode_value(v)) for k, v in s["args"]),
                       before=decode(s["before"]), after=decode(s["after"]),
                       defines=tuple(_ddefinition(x) for x in _list(s["defines"], "a list of definitions")))
                  for s in _list(d["steps"], "a list of steps"))
    return Proof(op, steps, decode_omega(d["omega"]), decode(d["channel"]), _dexprs(d["neighbour"]))


# -- arrays that user-supplied references returned -------------------------------------------
def encode_array(a) -> dict:
    if isinstance(a, str):
        return {"error": a}
    a = np.asarray(a, dtype=np.float64)
    return {"shape": list(a.shape), "float64": [float(x).hex() for x in a.ravel()]}


def decode_array(d):
    if "error" in d:
        return _str(d["error"])
    shape = _list(d["shape"], "an array's shape")
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise CertificateError(f"malformed array: shape {str(shape)[:80]} is not a list of lengths")
    data = [float.fromhex(_str(x)) for x in _list(d["float64"], "an array's values")]
    if int(np.prod(shape)) != len(data):
        raise CertificateError(f"malformed array: shape {shape} holds {int(np.prod(shape))} values, not {len(data)}")
    return np.array(data, dtype=np.float64).reshape(shape)


def encode_outputs(reference, limit) -> dict:
    return {"reference": None if reference is None else [[encode_array(a) for a in rounds] for rounds in reference],
            "limit": None if limit is None else [encode_array(a) for a in limit]}


def decode_outputs(d, op: Operator):
    ref = None if d["reference"] is None else [[decode_array(a) for a in _list(rounds, "a list of rounds")]
                                               for rounds in _list(d["reference"], "a list of reference outputs")]
    lim = None if d["limit"] is None else [decode_array(a) for a in _list(d["limit"], "a list of limit outputs")]
    if (lim is None) != (op.limit is None):   # the checker never runs a reference itself: both or neither
        raise CertificateError("malformed certificate: the limit target's outputs are " +
                               ("missing" if lim is None else "given for an operator without a limit"))
    return ref, lim


# -- verdicts -------------------------------------------------------------------------------
def _ce(c: Counterexample | None):
    return None if c is None else {"sizes": c.sizes, "index": c.index, "left": c.left, "right": c.right, "detail": c.detail}


def _obligation(o: Obligation) -> dict:
    out = {"text": o.text, "proved": bool(o.proved), "how": o.how, "args": _exprs(o.args), "how_args": _exprs(o.how_args)}
    if o.refuted:   # only where it is (certificates of proofs with none are unchanged)
        out["refuted"] = True
    return out


def _step_verdict(s: Step, *, exprs: bool = False) -> dict:
    c = s.check
    out = {"rule": s.rule, "statement": s.statement, "ok": c.ok, "general": c.general, "replay": c.replay,
           "message": c.message, "shapes": list(c.bounded_shapes), "counterexample": _ce(c.counterexample),
           "obligations": [_obligation(o) for o in s.obligations]}
    if exprs:
        out.update(args=[[k, encode_value(v)] for k, v in s.args], before=_e(s.before), after=_e(s.after))
    return out


def _check(c) -> dict:
    return {"name": c.name, "ok": c.ok, "label": c.label, "message": c.message, "counterexample": _ce(c.counterexample)}


def _g(x: float) -> str:
    return f"{x:.12g}"


def encode_verdicts(cp: CheckedProof) -> dict:
    lim = cp.limit
    return {
        "ok": cp.ok, "shapes": list(cp.shapes), "steps": [_step_verdict(s) for s in cp.steps],
        "evolution": cp.evolution is not None, "checks": [_check(c) for c in cp.checks],
        "limit": None if lim is None else {
            "steps": [_step_verdict(s, exprs=True) for s in lim.steps], "target": _check(lim.target),
            "bound": _check(lim.bound), "dims": lim.dims, "rows": [[_g(x) for x in r] for r in lim.rows],
            "needed": [[_g(x) for x in r] for r in lim.needed]},
    }


# -- whole documents ------------------------------------------------------------------------
def derivation(proof: Proof, reference_outputs=None, limit_outputs=None) -> dict:
    """What a producer hands over: the operator, the steps, and what its references returned."""
    return {"format": FORMAT, "version": VERSION, "sympy": sp.__version__, "operator": encode_operator(proof.operator),
            "proof": encode_proof(proof), "outputs": encode_outputs(reference_outputs, limit_outputs)}


def certificate(cp: CheckedProof, data: dict) -> dict:
    """The derivation ``data`` with the verdicts of its check ``cp``."""
    return {**data, "verdicts": encode_verdicts(cp)}


def dumps(doc: dict) -> str:
    """The canonical text of a certificate: sorted keys, ASCII, one trailing newline (byte-identical runs)."""
    return json.dumps(doc, sort_keys=True, ensure_ascii=True, separators=(",", ":")) + "\n"


def loads(text: str, source: str | None = "certificate") -> dict:
    """The certificate document in ``text``; its errors name ``source`` (None: the caller names it)."""
    said = f"{source}: " if source else ""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise CertificateError(f"{said}not a JSON document ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CertificateError(f"{said}not an evosym certificate (no \"format\": \"{FORMAT}\")")
    if doc.get("version") != VERSION:
        raise CertificateError(f"{said}certificate version {doc.get('version')!r}; this evosym reads version {VERSION}")
    return doc


def check_derivation(doc: dict, *, grid=None) -> CheckedProof:
    """Decode a derivation and check it (no user code runs: recorded arrays stand for the references)."""
    try:
        op = decode_operator(doc["operator"])
        proof = decode_proof(doc["proof"], op)
        ref, lim = decode_outputs(doc["outputs"], op)
    except CertificateError:
        raise
    except CodecError as exc:
        raise CertificateError(f"malformed certificate: {exc}") from None
    except KeyError as exc:
        raise CertificateError(f"malformed certificate: the field {str(exc.args[0])[:80]!r} is missing") from None
    except RecursionError:
        raise CertificateError("malformed certificate: its data is nested too deeply to decode") from None
    except (TypeError, ValueError, IndexError, AttributeError) as exc:
        raise CertificateError(f"malformed certificate: a field does not have the form the format gives it "
                               f"({type(exc).__name__}: {str(exc)[:200]})") from None
    try:
        return proof.check(grid, reference_outputs=ref, limit_outputs=lim)
    except (TypeError, AttributeError, ValueError, IndexError, KeyError, RecursionError) as exc:
        # data that decodes but that no operator declaration could produce (a shape that is not a tuple …)
        raise CertificateError(f"malformed certificate: the checker cannot process it ({type(exc).__name__}: "
                               f"{str(exc)[:200]})") from None


@dataclass(frozen=True)
class Verification:
    """The outcome of :func:`verify`: the fresh check, and where the recorded verdicts differ from it."""

    checked: CheckedProof
    differences: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.differences and self.checked.ok


def verify(doc: dict) -> Verification:
    """Check a certificate from scratch and compare every recorded verdict with the recomputed one."""
    if "verdicts" not in doc:
        raise CertificateError("the document has no verdicts: it is a derivation, not a certificate")
    cp = check_derivation(doc)
    fresh = json.loads(dumps(encode_verdicts(cp)))
    return Verification(cp, tuple(_differences(doc["verdicts"], fresh, "verdicts")))


def _differences(recorded, fresh, path) -> list[str]:
    if isinstance(recorded, dict) and isinstance(fresh, dict):
        out = []
        for k in sorted(set(recorded) | set(fresh)):
            if k not in fresh or k not in recorded:
                out.append(f"{path}.{k}: {'not recomputed' if k not in fresh else 'missing from the certificate'}")
            else:
                out += _differences(recorded[k], fresh[k], f"{path}.{k}")
        return out
    if isinstance(recorded, list) and isinstance(fresh, list):
        if len(recorded) != len(fresh):
            return [f"{path}: {len(recorded)} entries recorded, {len(fresh)} recomputed"]
        return [d for k, (a, b) in enumerate(zip(recorded, fresh)) for d in _differences(a, b, f"{path}[{k}]")]
    if recorded != fresh or type(recorded) is not type(fresh):
        return [f"{path}: recorded {str(recorded)[:100]!r}, recomputed {str(fresh)[:100]!r}"]
    return []
