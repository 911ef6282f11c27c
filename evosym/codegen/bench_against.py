"""``evosym bench NAME --against``: evosym's default generated module against what a user would write.

One process, one operator at a time: evosym's default path (``path="auto"``), the operator's traditional
torch reference and every alternative of :mod:`evosym.codegen.alternatives` are built on the same random
tensors, each alternative checked against the reference's output first (a disagreement is an error row
and is never timed), then all timed interleaved with the order rotated every round (``bench._time_ms``):
the forward pass under ``no_grad`` and, with ``backward``, forward + backward, where every floating input
(x and the parameters, and the parameters an alternative owns) requires a gradient and the gradient of
the output's sum w.r.t. all of them is computed (``torch.autograd.grad``, so nothing accumulates from one
call to the next). ``torch.compile`` alternatives are compiled by their first call, whose time is
reported apart and never part of the median.

Peak memory of one call: on CUDA ``max_memory_allocated`` above what was allocated before the call; on
the CPU, where PyTorch keeps no peak, :func:`.peak_memory.peak_cpu_bytes` replays the profiler's allocation and free
events (``profile_memory=True``) in time order and takes the maximum of their running sum, which is the
true peak of the bytes the call held at once (the output included), not the sum of its allocations.
Ratios: alternative time ÷ evosym time ("×evosym": below 1, the alternative is faster) and evosym peak ÷
alternative peak (above 1, evosym needs more memory).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field

import torch

from .. import catalogue
from ..analysis.report import cost_of
from ..errors import EvosymError
from ..ir.operator import format_sizes
from .alternatives import Alternative, Built, alternatives_for, operators_with_alternatives
from .bench import _time_ms, prepare
from .peak_memory import peak_memory_mb
from .roofline import Roofline, roofline
from .check import bind

NAN = float("nan")


# -- rows and report ----------------------------------------------------------------------------------

@dataclass
class Row:
    """One implementation: its check against the reference, forward and forward+backward time and peak."""

    label: str
    kind: str                  # "evosym", "traditional" or "alternative"
    note: str = ""
    tolerance: str = ""
    check: str = "passed"      # "passed", "failed", "not checked", "reference", "not run"
    status: str = "ok"         # "ok"; "error": failed to run or disagrees (not timed); "skipped": not available here
    message: str = ""
    max_abs_diff: float = NAN
    forward_ms: float = NAN
    forward_mb: float = NAN
    backward_ms: float = NAN   # forward + backward
    backward_mb: float = NAN
    compile_s: float = NAN     # first forward call of a compiled alternative (not in the medians)
    compile_backward_s: float = NAN


def _ratio(a: float, b: float) -> float:
    return a / b if b and math.isfinite(a) and math.isfinite(b) else NAN


@dataclass
class AgainstReport:
    name: str
    sizes: str
    device: str
    repeat: int
    backward: bool
    rows: list
    threads: int
    load_before: tuple
    load_after: tuple = ()
    notes: list = field(default_factory=list)
    roofline: Roofline | None = None   # evosym's forward against this machine's roofline (measured in this run)

    @property
    def evosym(self) -> Row:
        return self.rows[0]

    def time_ratio(self, row: Row, backward: bool = False) -> float:
        """Row time ÷ evosym time (×evosym)."""
        key = "backward_ms" if backward else "forward_ms"
        return _ratio(getattr(row, key), getattr(self.evosym, key))

    def memory_ratio(self, row: Row, backward: bool = False) -> float:
        """Evosym peak ÷ row peak."""
        key = "backward_mb" if backward else "forward_mb"
        return _ratio(getattr(self.evosym, key), getattr(row, key))

    @property
    def failed(self) -> list[str]:
        return [r.label for r in self.rows if r.status == "error"]

    def text(self) -> str:
        def num(v, fmt, unit=""):
            return format(v, fmt) + unit if math.isfinite(v) else "—"
        load = " ".join(f"{v:.2f}" for v in self.load_before)
        after = " ".join(f"{v:.2f}" for v in self.load_after)
        lines = [f"{self.name} at {self.sizes} on {self.device}: evosym's default generated module against what a "
                 "user would write",
                 f"torch {torch.__version__}, {self.threads} threads; load average {load} before, {after} after "
                 f"(1, 5, 15 min); median of {self.repeat} interleaved rounds, order rotated",
                 "×evosym = time ÷ evosym's time (below 1: faster than evosym); evosym÷ = evosym's peak memory ÷ "
                 "this peak (above 1: evosym needs more)"]
        head = "| implementation | check | fwd ms | ×evosym | fwd peak MB | evosym÷ |"
        rule = "|---|---|---:|---:|---:|---:|"
        if self.backward:
            head += " fwd+bwd ms | ×evosym | fwd+bwd peak MB | evosym÷ |"
            rule += "---:|---:|---:|---:|"
        lines += ["", head, rule]
        for r in self.rows:
            check = r.check if r.status != "error" else "✗ " + r.check
            if r.status == "skipped":
                check = "skipped"
            if r.check == "passed" and math.isfinite(r.max_abs_diff):
                check += f" (max Δ {r.max_abs_diff:.1e})"
            cells = [r.label, check, num(r.forward_ms, ".2f"), num(self.time_ratio(r), ".2f", "×"),
                     num(r.forward_mb, ".2f"), num(self.memory_ratio(r), ".2f")]
            if self.backward:
                cells += [num(r.backward_ms, ".2f"), num(self.time_ratio(r, True), ".2f", "×"),
                          num(r.backward_mb, ".2f"), num(self.memory_ratio(r, True), ".2f")]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        for r in self.rows:
            bits = [r.note] if r.note else []
            if r.tolerance and r.kind != "traditional" and r.check != "not checked":
                bits.append(f"check: {r.tolerance}")
            if math.isfinite(r.compile_s):
                bits.append(f"compiled in {r.compile_s:.1f} s (forward)"
                            + (f", {r.compile_backward_s:.1f} s (forward+backward)"
                               if math.isfinite(r.compile_backward_s) else "") + ", not timed")
            if r.message:
                bits.append(("error: " if r.status == "error" else "skipped: " if r.status == "skipped" else "")
                            + r.message)
            if bits:
                lines.append(f"  {r.label}: " + "; ".join(bits))
        lines += [f"  {n}" for n in self.notes]
        if self.roofline is not None:
            lines.append("  " + self.roofline.text())
        return "\n".join(lines)


# -- the benchmark ------------------------------------------------------------------------------------

def _sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def _candidates(st, sizes: dict, compile: bool) -> list[tuple[Alternative, str]]:
    """evosym's default path, the traditional reference, then the registered alternatives (with their kind)."""
    op, plan = st.op, st.plan
    evo = Alternative(f"evosym ({plan.path})", lambda t, s, o: Built(bind(st.fn, plan, op, t, st.env, "auto")),
                      rtol=1e-3, atol=1e-4, note='generated module, path="auto"')
    ref = Alternative("traditional reference", lambda t, s, o: Built(lambda: op.torch_reference(t, s)),
                      note=op.reference_name or "the operator's torch reference")
    return [(evo, "evosym"), (ref, "traditional")] + [(a, "alternative") for a in alternatives_for(op.name, compile=compile)]


def _first_call(fn, device) -> tuple:
    t = time.perf_counter()
    out = fn()
    _sync(device)
    return out, time.perf_counter() - t


def bench_against(name: str, *, device: str = "cpu", repeat: int = 7, backward: bool = False, sizes=None,
                  compile: bool = False) -> AgainstReport:
    """evosym's default path against the reference and every alternative of ``name`` (see the module doc)."""
    if not known(name):
        raise EvosymError(no_alternative_message(name))
    load_before = os.getloadavg()
    st = prepare(name, device, sizes)
    op = st.op
    sz = {str(k): v for k, v in st.env.items()}
    report = AgainstReport(op.name, format_sizes(st.env), device, repeat, backward, [], torch.get_num_threads(),
                           load_before)
    cands = _candidates(st, sz, compile)
    live = []   # (row, alternative) that passed their check
    with torch.no_grad():
        ref = op.torch_reference(st.t, sz)
        calls, evosym_out = [], None
        for alt, kind in cands:
            row = Row(alt.label, kind, alt.note, alt.tolerance if kind != "traditional" else "")
            report.rows.append(row)
            try:
                built = alt.make(st.t, sz, op)
                out, first = _first_call(built.call, device)
            except Exception as exc:   # an alternative this torch or machine cannot build: reported, not a traceback
                row.status, row.check, row.message = ("skipped" if alt.optional else "error"), "not run", _first_line(exc)
                continue
            if alt.compiled:
                row.compile_s = first
            ok, row.max_abs_diff, why = alt.agrees(out, ref)
            if kind == "traditional":
                row.check = "reference"
            elif not alt.check:
                row.check = "not checked"
            elif not ok:
                row.status, row.check, row.message = "error", "failed", f"disagrees with the reference: {why}"
                continue
            live.append((row, alt))
            calls.append(built.call)
            if kind == "evosym" and isinstance(out, torch.Tensor):
                evosym_out = out
        out = None
        for (row, _), ms in zip(live, _time_ms(calls, repeat, device) if calls else ()):
            row.forward_ms = ms
        for (row, _), fn in zip(live, calls):
            row.forward_mb = peak_memory_mb(fn, device)
        if evosym_out is not None and math.isfinite(report.evosym.forward_ms):
            report.roofline = roofline(cost_of(catalogue.checked(name)).macs, st.env, st.t, evosym_out.numel(),
                                       evosym_out.element_size(), report.evosym.forward_ms, device, evosym_out.dtype)
    if backward:
        _backward(report, st, sz, live, repeat, device)
    report.load_after = os.getloadavg()
    if not any(kind == "alternative" for _, kind in cands):
        report.notes.append(f"{op.name} has no registered alternative (operators with one: "
                            f"{', '.join(operators_with_alternatives())}): compared with its traditional implementation")
    if any(a.compiled for a, _ in cands):
        report.notes.append("torch.compile: the first call compiles (its time is printed, not timed); the medians "
                            "are of compiled calls")
    report.notes.append("peak memory: " + ("torch.cuda.max_memory_allocated during one call" if device == "cuda" else
                                           "the maximum of the running sum of the profiler's CPU allocation and free "
                                           "events in time order, during one call (the output included)"))
    return report


def _backward(report, st, sz, live, repeat, device):
    """Forward + backward of every live row, on inputs and parameters that require gradients."""
    op = st.op
    tg = {k: v.detach().clone().requires_grad_(v.is_floating_point()) for k, v in st.t.items()}
    steps, rows = [], []
    for row, alt in live:
        try:
            built = alt.make(tg, sz, op)
            leaves = [v for v in tg.values() if v.requires_grad] + [p for p in built.params if p.requires_grad]

            def step(call=built.call, leaves=leaves):
                return torch.autograd.grad(call().sum(), leaves, allow_unused=True)
            _, first = _first_call(step, device)
        except Exception as exc:
            row.message = (row.message + "; " if row.message else "") + "backward: " + _first_line(exc)
            if not alt.optional:
                row.status = "error"
            continue
        if alt.compiled:
            row.compile_backward_s = first
        steps.append(step)
        rows.append(row)
    for row, ms in zip(rows, _time_ms(steps, repeat, device) if steps else ()):
        row.backward_ms = ms
    for row, step in zip(rows, steps):
        row.backward_mb = peak_memory_mb(step, device)


def known(name: str) -> bool:
    """A catalogue operator or an operator file: what ``bench --against`` takes (without a registered alternative,
    the comparison is with the operator's traditional implementation alone)."""
    from pathlib import Path

    from .. import catalogue
    return name in catalogue.catalogue_names() or (name.endswith(".py") and Path(name).is_file())


def no_alternative_message(name: str) -> str:
    """Why ``name`` cannot be benched --against: it is neither a catalogue operator nor an operator file."""
    have = ", ".join(operators_with_alternatives())
    return (f"unknown operator {name!r} for bench --against (a catalogue name or an operator file); operators with "
            f"registered alternatives: {have}")


__all__ = ["AgainstReport", "Row", "bench_against", "known", "no_alternative_message"]
