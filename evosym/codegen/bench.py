"""Benchmarks of generated code against the traditional implementation, as ratios in one process.

For each operator at a realistic size (``Operator.bench``), the generated module (its default
lowering, and the generic lowering for information) and the traditional implementation (the
operator's torch reference: ``F.conv2d``, ``F.linear`` …) run interleaved in the same process;
the median time per call and the ratio generated/traditional are reported, with the peak memory of
one call (``peak_memory``: on the CPU the most bytes held at once, from the profiler's allocation
events; until 2026-12-04 the CPU column summed every allocation of the call, an upper bound).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch

from .. import catalogue
from ..errors import EvosymError
from ..ir.operator import format_sizes
from ..ir.tensors import in_domain
from ..isolation.references import References
from .check import bind, load_source
from .peak_memory import peak_memory_mb
from .plan import make_plan
from .render import render_torch


@dataclass(frozen=True)
class BenchRow:
    name: str
    sizes: str
    path: str
    generated_ms: float
    generic_ms: float
    traditional_ms: float
    generated_mb: float
    traditional_mb: float
    device: str

    @property
    def ratio(self) -> float:
        return self.generated_ms / self.traditional_ms

    @property
    def generic_ratio(self) -> float:
        return self.generic_ms / self.traditional_ms


def _time_ms(fns, repeat, device) -> list[float]:
    """Median ms per call of each function: calls interleaved, and the order rotated every round so
    that no function always runs first (the first call of a round is measurably slower here)."""
    samples = [[] for _ in fns]
    for f in fns:  # warm up
        for _ in range(2):
            f()
    for r in range(repeat):
        order = list(range(len(fns)))
        order = order[r % len(fns):] + order[:r % len(fns)]
        for k in order:
            f = fns[k]
            if device == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            f()
            if device == "cuda":
                torch.cuda.synchronize()
            samples[k].append((time.perf_counter() - t) * 1e3)
    return [statistics.median(s) for s in samples]


@dataclass
class Setup:
    """An operator ready to time: its plan, generated function, sizes and random inputs on the device."""

    op: object
    plan: object
    gen: object
    fn: object
    env: dict
    t: dict


def prepare(name: str, device: str, sizes=None) -> Setup:
    """The operator at its benchmark sizes, ``sizes`` (Symbol or name → int) overriding some of them."""
    if device == "cuda" and not torch.cuda.is_available():
        raise EvosymError("--device cuda: CUDA is not available on this machine")
    cp = catalogue.checked(name)
    op = cp.operator
    bench = dict(op.bench or {})
    if sizes:
        by_name = {str(k): k for k, _ in op.sizes}
        unknown = sorted(str(k) for k in sizes if str(k) not in by_name)
        if unknown:
            raise EvosymError(f"{op.name} has no size {', '.join(unknown)} (sizes: {', '.join(sorted(by_name))})")
        bench.update({by_name[str(k)]: v for k, v in sizes.items()})
    if not bench or op.torch_reference is None:
        raise EvosymError(f"{op.name} has no benchmark size or no torch reference")
    plan = make_plan(cp)
    gen = load_source(render_torch(plan, op.torch_binding), op.name, cp)
    env = {k: int(v) for k, v in bench.items()}
    try:
        shapes = op.valid_shapes_at(env)
    except ValueError as exc:
        raise EvosymError(f"{op.name} at {format_sizes(env)}: {exc}") from None
    g = torch.Generator().manual_seed(0)
    fn = getattr(gen, plan.func_name)
    try:   # sizes outside the proof's domain (K > L …): the module's own refusal, as a user error
        t = {x.name: in_domain(x, torch.randn(shapes[x.name], generator=g)).to(device) for x in op.tensors}
        with torch.no_grad():
            bind(fn, plan, op, t, env, "auto")()
    except ValueError as exc:
        raise EvosymError(f"{op.name} at {format_sizes(env)}: {exc}") from None
    except (MemoryError, RuntimeError) as exc:   # sizes whose tensors this machine cannot hold
        if not isinstance(exc, MemoryError) and "alloc" not in str(exc).lower():
            raise
        raise EvosymError(f"{op.name} at {format_sizes(env)}: its tensors do not fit in this machine's memory "
                          f"({str(exc).splitlines()[0][:200]})") from None
    return Setup(op, plan, gen, fn, env, t)


def bench_operator(name: str, *, device: str = "cpu", repeat: int = 10, generic: bool = True, sizes=None) -> BenchRow:
    """One row: ``sizes`` (Symbol or name → int) overrides some of the operator's benchmark sizes."""
    st = prepare(name, device, sizes)
    op, plan, fn, env, t = st.op, st.plan, st.fn, st.env, st.t
    sizes = {str(k): v for k, v in env.items()}
    apart = getattr(op.torch_reference, "__self__", None)
    if isinstance(apart, References):   # an operator file's reference, in its confined process: timed there
        return _bench_apart(op, plan, fn, t, env, sizes, apart, repeat, device, generic)
    with torch.no_grad():
        fns = [bind(fn, plan, op, t, env, "auto"), lambda: op.torch_reference(t, sizes)]
        times = _time_ms(fns, repeat, device)
        # the generic path is timed in a pass of its own: interleaving a call 100× slower perturbs the
        # timing of the fast ones (measured here: depthwise 1.15× interleaved, 1.00× alone)
        generic_ms = float("nan")
        if generic:
            generic_ms, ref_again = _time_ms([bind(fn, plan, op, t, env, "generic"), fns[1]], max(3, repeat // 4), device)
            generic_ms *= times[1] / ref_again   # expressed against the main pass's traditional time
        mem_gen, mem_ref = peak_memory_mb(fns[0], device), peak_memory_mb(fns[1], device)
    return BenchRow(op.name, format_sizes(env), plan.path, times[0], generic_ms, times[1], mem_gen, mem_ref, device)


def _bench_apart(op, plan, fn, t, env, sizes, refs, repeat, device, generic) -> BenchRow:
    """The row of an operator file, whose reference runs in its confined process: timed there on the same inputs (the
    median of ``repeat`` calls after one warm-up; the transfer of the inputs is not timed), its memory not measured."""
    with torch.no_grad():
        ours = bind(fn, plan, op, t, env, "auto")
        mine = _time_ms([ours], repeat, device)[0]
        theirs = statistics.median(refs.time_ms(t, sizes, repeat))
        generic_ms = _time_ms([bind(fn, plan, op, t, env, "generic")], max(3, repeat // 4), device)[0] if generic else \
            float("nan")
        mem = peak_memory_mb(ours, device)
    return BenchRow(op.name, format_sizes(env), plan.path, mine, generic_ms, theirs, mem, float("nan"), device)


def table(rows) -> str:
    """A Markdown table of benchmark rows."""
    head = ("| operator | sizes | lowering | generated ms | traditional ms | ratio | generic ms | generic ratio "
            "| generated MB | traditional MB |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    lines = [head]
    for r in rows:
        lines.append(f"| {r.name} | {r.sizes} | {r.path} | {r.generated_ms:.2f} | {r.traditional_ms:.2f} | "
                     f"{r.ratio:.2f}× | {r.generic_ms:.1f} | {r.generic_ratio:.1f}× | {r.generated_mb:.1f} | "
                     f"{r.traditional_mb:.1f} |")
    return "\n".join(lines)


__all__ = ["BenchRow", "bench_operator", "table"]
