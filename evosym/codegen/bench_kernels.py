"""Timing evosym's generated kernels against the alternatives, and their memory bandwidth.

On the CPU (``bench_kernels(name, "cpu")``, :func:`bench_cpu_kernels`) it times, in one process with
interleaved rounds on torch's thread count: the whole operator through the generated CPU kernels, the
generic path and the traditional implementation; the aggregation alone (the forward kernel on a given
kernel tensor) against the unfold-based aggregation (as the official involution code computes it) and
against ``F.conv{1,2,3}d`` with a static depthwise kernel of the same window on the same input (a
native convolution: the practical floor); and each backward pass against the forward.

On a GPU ``bench_kernels(name, "cuda")`` times, in one process with interleaved rounds and CUDA events:
the whole operator through the generated kernels (``path="kernels"``), through the generated
generic path (unfold + einsum), and the traditional implementation (the official unfold-based
code for involution); then the aggregation alone (the forward kernel on a given kernel tensor)
with the bytes it must move (x, the kernel tensor and y, each once) as a fraction of the GPU's
peak bandwidth, and both backward kernels against the forward. Peak bandwidth is the memory
clock × bus width when torch reports them, else nvidia-smi's, else a table of known GPUs; a
device-to-device copy is measured as the achievable reference.
"""

from __future__ import annotations

import statistics
import subprocess
from dataclasses import dataclass, field

import torch

from ..errors import EvosymError
from ..ir.operator import format_sizes
from ..runtime.aggregate import evolution_aggregate
from .artifact import kernels_for
from .bench import prepare
from .check import bind
from .torchexpr import py_name

KNOWN_PEAK = {"H100 80GB HBM3": 3.35e12, "H100 PCIe": 2.0e12, "H100 NVL": 3.9e12, "H200": 4.8e12, "A100-SXM4-80GB": 2.04e12}


@dataclass
class KernelBench:
    name: str
    sizes: str
    device: str
    rows: list = field(default_factory=list)   # (what, ms, note)
    lines: list = field(default_factory=list)

    def text(self) -> str:
        out = [f"{self.name} on {self.device} ({self.sizes})", "| what | ms | note |", "|---|---:|---|"]
        out += [f"| {w} | {ms:.4f} | {note} |" for w, ms, note in self.rows]
        return "\n".join(out + self.lines)


def _events_ms(fns, rounds=7, iters=20) -> list[float]:
    """Median ms per call over interleaved rounds, each round timed with CUDA events."""
    for f in fns:
        for _ in range(3):
            f()
    samples = [[] for _ in fns]
    for r in range(rounds):
        order = list(range(len(fns)))
        order = order[r % len(fns):] + order[:r % len(fns)]
        for k in order:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize()
            start.record()
            for _ in range(iters):
                fns[k]()
            end.record()
            torch.cuda.synchronize()
            samples[k].append(start.elapsed_time(end) / iters)
    return [statistics.median(s) for s in samples]


def peak_bandwidth(device) -> tuple[float, str]:
    """(bytes/s, how it was found) for the GPU's memory."""
    props = torch.cuda.get_device_properties(device)
    clock, width = getattr(props, "memory_clock_rate", 0), getattr(props, "memory_bus_width", 0)
    if clock and width:
        return 2 * clock * 1e3 * width / 8, f"torch: {clock / 1e3:.0f} MHz × {width} bit × 2"
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=clocks.max.memory", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=30).stdout.split()
        mhz = float(out[0]) if out else 0.0
    except (OSError, subprocess.SubprocessError, ValueError):
        mhz = 0.0
    for key, bw in KNOWN_PEAK.items():
        if key in props.name:
            return bw, f"datasheet value for {key}" + (f" (nvidia-smi max memory clock {mhz:.0f} MHz)" if mhz else "")
    raise EvosymError(f"peak bandwidth of {props.name} unknown: add it to KNOWN_PEAK")


def _window(plan, env) -> tuple[tuple, dict]:
    """(kernel lengths, F.unfold / F.conv keyword arguments: dilation, padding, stride) at the sizes ``env``."""
    names = {py_name(s): v for s, v in env.items()}
    ev = lambda e: eval(e, {}, names)  # noqa: E731,S307 - expressions generated from sizes
    K = tuple(ev(k) for k in plan.window["kernel"])
    return K, {key: tuple(ev(v) for v in plan.window[key]) for key in ("dilation", "padding", "stride")}


def _unfold_aggregate(plan, x, kt, env):
    """The unfold-based aggregation (as official involution code does it) on the same kernel tensor, for
    2-D zero-padded windows of one kernel per channel block; None for other forms (F.unfold cannot clamp,
    wrap or tile a window: the generic path's timing stands for those)."""
    import torch.nn.functional as F
    if plan.dims != 2 or plan.kernel_unsqueeze != [2, 3] or not plan.affine_window:
        return None
    K, args = _window(plan, env)
    args["kernel_size"] = K
    B, C = x.shape[:2]
    groups = kt.shape[1]
    H, W = kt.shape[-2:]

    def run():
        cols = F.unfold(x, **args).view(B, groups, C // groups, K[0] * K[1], H, W)
        return (kt.reshape(B, groups, 1, K[0] * K[1], H, W) * cols).sum(dim=3).view(B, C, H, W)
    return run


def _aggregation_inputs(st):
    """The materialised kernel tensor (b, kernel group, o', c', u…, p…), the contiguous input and the
    operator's sizes in the kernels' order, at the benchmark sizes."""
    op, plan, gen, env, t = st.op, st.plan, st.gen, st.env, st.t
    args = {py_name(s): env[s] for s, _ in op.sizes if s in env}
    L_out = tuple(int(v) for v in op.shapes_at(env)[op.output.name][2:])
    kt = gen._kernel_tensor(t[op.value], *[t[ir] for ir, _, _, _ in plan.params],
                            **{k: v for k, v in args.items() if k in plan.size_names}, L_out=L_out)
    for axis in plan.kernel_unsqueeze:
        kt = kt.unsqueeze(axis)
    return kt.contiguous(), t[op.value].contiguous(), tuple(env[s] for s in plan.size_order)


def _depthwise_floor(plan, x, env):
    """F.conv{d}d with a static depthwise kernel of the same window (kernel, stride, dilation, padding) on x."""
    import torch.nn.functional as F
    K, args = _window(plan, env)
    C = x.shape[1]
    w = torch.randn((C, 1) + K, dtype=x.dtype, device=x.device)
    conv = getattr(F, f"conv{plan.dims}d")
    args["groups"] = C
    return (lambda: conv(x, w, **args)), "×".join(map(str, K))


def backward_calls(name: str, x, kt, order, dy):
    """(input-gradient call, kernel-gradient call) of the aggregation: one graph per gradient, so that
    each call runs only its own backward kernel."""
    xg, kg = x.clone().requires_grad_(True), kt.clone().requires_grad_(True)
    y_x = evolution_aggregate(name, xg, kt, order)
    y_k = evolution_aggregate(name, x, kg, order)
    return (lambda: torch.autograd.grad(y_x, [xg], dy, retain_graph=True),
            lambda: torch.autograd.grad(y_k, [kg], dy, retain_graph=True))


def bench_cpu_kernels(name: str, *, sizes=None, rounds: int = 15) -> KernelBench:
    """The generated CPU kernels against the unfold-based aggregation, a native depthwise convolution of
    the same window, the generic path and the traditional implementation; backward passes vs forward."""
    from .bench import _time_ms
    st = prepare(name, "cpu", sizes)
    op, plan, fn, env, t = st.op, st.plan, st.fn, st.env, st.t
    named = {str(k): v for k, v in env.items()}
    lib = kernels_for(name).library(torch.device("cpu"))[0]   # registered under the operator's name, too
    report = KernelBench(op.name, format_sizes(env), f"CPU, {torch.get_num_threads()} threads, torch {torch.__version__}")
    report.lines.append(f"kernel library: {'loaded from cache' if lib.cached else f'built in {lib.seconds:.2f} s'} "
                        f"(-march=native, OpenMP); median of {rounds} interleaved rounds")
    with torch.no_grad():
        kt, x, order = _aggregation_inputs(st)
        agg = lambda: evolution_aggregate(op.name, x, kt, order)  # noqa: E731
        y = agg()
        unfold = _unfold_aggregate(plan, x, kt, env)
        floor, window = _depthwise_floor(plan, x, env)
        a_ms, f_ms = _time_ms([agg, floor], rounds, "cpu")
        report.rows.append(("aggregation forward, generated CPU kernel", a_ms, "on the materialised kernel tensor"))
        report.rows.append((f"native depthwise F.conv{plan.dims}d {window}, same x and window (static kernel)", f_ms,
                            f"kernel / native = {a_ms / f_ms:.2f}×"))
        if unfold:   # in a pass of its own: interleaving a call 40× slower perturbs the fast ones
            torch.testing.assert_close(unfold(), y, rtol=1e-3, atol=1e-3)   # the same aggregation (float32 sums)
            u_ms, a2_ms = _time_ms([unfold, agg], max(3, rounds // 3), "cpu")
            report.rows.append(("aggregation, unfold-based (F.unfold, multiply, sum)", u_ms,
                                f"{u_ms / a2_ms:.1f}× the generated kernel (timed alongside: {a2_ms:.3f} ms)"))
        whole = [bind(fn, plan, op, t, env, "kernels"), bind(fn, plan, op, t, env, "generic"),
                 lambda: op.torch_reference(t, named), floor]
        if plan.path != "generic-window":   # the default path is not the kernels: time it too
            whole.append(bind(fn, plan, op, t, env, "auto"))
        w_ms = _time_ms(whole, max(3, rounds // 3), "cpu")
        report.rows += [("operator, generated module with the CPU kernels (path kernels)", w_ms[0],
                         "kernel generation in torch + the kernel" +
                         (f"; {w_ms[0] / w_ms[3]:.2f}× the native depthwise conv" if plan.path == "generic-window" else "")),
                        ("operator, generated generic path (unfold + einsum)", w_ms[1], f"{w_ms[1] / w_ms[0]:.1f}× the kernels"),
                        (f"operator, traditional ({op.reference_name})", w_ms[2], f"{w_ms[2] / w_ms[0]:.1f}× the kernels")]
        if plan.path != "generic-window":
            report.rows.append((f"operator, generated module, default path ({plan.path})", w_ms[4],
                                f"kernel generation included; {w_ms[4] / w_ms[3]:.2f}× the native depthwise conv "
                                f"(timed alongside: {w_ms[3]:.3f} ms), {w_ms[4] / w_ms[2]:.2f}× the traditional"))
    bi, bk, fw = _time_ms([*backward_calls(op.name, x, kt, order, torch.randn_like(y)), agg], rounds, "cpu")
    report.rows.append(("aggregation backward, input gradient", bi, f"{bi / fw:.2f}× the forward (timed alongside: {fw:.3f} ms)"))
    report.rows.append(("aggregation backward, kernel gradient", bk, f"{bk / fw:.2f}× the forward"))
    return report


def bench_kernels(name: str, *, device: str = "cuda", sizes=None, rounds: int = 7) -> KernelBench:
    if device == "cpu":
        return bench_cpu_kernels(name, sizes=sizes, rounds=max(rounds, 15))
    if device != "cuda" or not torch.cuda.is_available():
        raise EvosymError("kernel benchmarks need --device cpu, or --device cuda and a GPU (torch.cuda.is_available())")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    st = prepare(name, device, sizes)
    op, plan, fn, env, t = st.op, st.plan, st.fn, st.env, st.t
    named = {str(k): v for k, v in env.items()}
    lib = kernels_for(name).library(torch.device(device))[0]   # registered under the operator's name, too
    report = KernelBench(op.name, format_sizes(env), torch.cuda.get_device_name(device))
    report.lines.append(f"kernel library: {'loaded from cache' if lib.cached else f'built in {lib.seconds:.2f} s'} "
                        f"({lib.arch})")
    with torch.no_grad():
        whole = [bind(fn, plan, op, t, env, "kernels"), bind(fn, plan, op, t, env, "generic"),
                 lambda: op.torch_reference(t, named)]
        ms = _events_ms(whole, rounds)
        report.rows += [("operator, generated CUDA kernels", ms[0], "kernel generation in torch + fused aggregation"),
                        ("operator, generated generic path", ms[1], f"unfold + einsum: {ms[1] / ms[0]:.1f}× the kernels"),
                        (f"operator, traditional ({op.reference_name})", ms[2], f"{ms[2] / ms[0]:.1f}× the kernels")]
        kt, x, order = _aggregation_inputs(st)   # the aggregation alone, on a materialised kernel tensor
        agg = lambda: evolution_aggregate(op.name, x, kt, order)  # noqa: E731
        y = agg()
        copy_src = torch.empty(x.numel() + kt.numel() + y.numel(), device=device)
        copy_dst = torch.empty_like(copy_src)
        unfold = _unfold_aggregate(plan, x, kt, env)
        fns = [agg, lambda: copy_dst.copy_(copy_src)] + ([unfold] if unfold else [])
        timed = _events_ms(fns, rounds)
        a_ms, copy_ms = timed[:2]
        if unfold:
            torch.testing.assert_close(unfold(), y, rtol=1e-3, atol=1e-3)   # the same aggregation (float32 sums)
            report.rows.append(("aggregation, unfold-based (F.unfold, multiply, sum)", timed[2],
                                f"{timed[2] / a_ms:.1f}× the forward kernel"))
        nbytes = (x.numel() + kt.numel() + y.numel()) * x.element_size()
        peak, how = peak_bandwidth(device)
        achieved = nbytes / (a_ms * 1e-3)
        report.rows.append(("aggregation forward kernel", a_ms,
                            f"{nbytes / 1e6:.0f} MB required, {achieved / 1e9:.0f} GB/s = {achieved / peak:.0%} of peak "
                            f"{peak / 1e9:.0f} GB/s ({how}); a copy of the same bytes reaches "
                            f"{2 * nbytes / (copy_ms * 1e-3) / 1e9:.0f} GB/s (read + write)"))
    bi, bk = _events_ms(list(backward_calls(op.name, x, kt, order, torch.randn_like(y))), rounds)
    report.rows.append(("aggregation backward, input gradient", bi, f"{bi / a_ms:.2f}× the forward"))
    report.rows.append(("aggregation backward, kernel gradient", bk, f"{bk / a_ms:.2f}× the forward"))
    if plan.attention:
        _attention_rows(report, plan, op.name, order, env, device, rounds)
    return report


def _attention_rows(report, plan, name, order, env, device, rounds) -> None:
    """The fused attention (``evosym::attention``) against the same computation as attend + aggregate
    (correlation kernel, [+ β,] torch.softmax, aggregation kernel) and, for zero-padded windows, as an
    unfold-based softmax attention, on random operands of the benchmark's shapes (β: a random logit
    bias given once for the batch, as the relative position bias is); forward, and forward + backward."""
    import torch.nn.functional as F

    from ..runtime.aggregate import _backend
    from ..runtime.attention import evolution_attention, unfused_attention
    ext = kernels_for(name).extents(order)
    B, C, heads = ext["B"], ext["groups"], ext["groups"] // ext["share"]
    operands = [torch.randn((B, C) + shape, device=device) for shape in (ext["out"], ext["in"], ext["in"])]
    biased = bool(plan.attention["bias_program"])
    if biased:
        operands.append(torch.randn((1, heads) + ext["taps"] + ext["out"], device=device))
    backend = _backend(operands[0], None)
    fns = {"fused": lambda a, b, v, *beta: evolution_attention(name, a, b, v, order, bias=(beta or [None])[0]),
           ("correlate + β + softmax + aggregate" if biased else "attend + aggregate"):
               lambda a, b, v, *beta: unfused_attention(name, a, b, v, list(order), backend, (beta or [None])[0])}
    if plan.dims == 2 and plan.affine_window and not plan.attention["bias_program"]:   # F.unfold zero-pads
        K, args = _window(plan, env)
        args["kernel_size"] = K
        taps, n_out = K[0] * K[1], ext["out"][0] * ext["out"][1]

        def unfold(a, b, v):
            kw = F.unfold(b, **args).view(B, heads, C // heads, taps, n_out)
            vw = F.unfold(v, **args).view(B, heads, C // heads, taps, n_out)
            w = torch.softmax((a.reshape(B, heads, C // heads, 1, n_out) * kw).sum(2), dim=2)
            return (w.unsqueeze(2) * vw).sum(3).reshape((B, C) + ext["out"])
        fns["unfold-based"] = unfold
    labels = list(fns)
    with torch.no_grad():
        y = fns["fused"](*operands)
        for label in labels[1:]:
            torch.testing.assert_close(fns[label](*operands), y, rtol=1e-3, atol=1e-3)   # the same attention
        ms = _events_ms([lambda f=fns[k]: f(*operands) for k in labels], rounds)
    nbytes = (sum(o.numel() for o in operands) + y.numel()) * y.element_size()
    peak, how = peak_bandwidth(device)
    report.rows.append(("attention forward, fused kernel (logits, online softmax, aggregation)", ms[0],
                        f"{nbytes / 1e6:.0f} MB required ({', '.join('abvβ'[:len(operands)])}, y once): "
                        f"{nbytes / (ms[0] * 1e-3) / peak:.0%} of peak ({how})"))
    report.rows += [(f"attention forward, {k}", m, f"{m / ms[0]:.1f}× the fused kernel") for k, m in zip(labels[1:], ms[1:])]
    dy = torch.randn_like(y)
    leaves = {k: [o.clone().requires_grad_(True) for o in operands] for k in labels}
    ms = _events_ms([lambda k=k: torch.autograd.grad(fns[k](*leaves[k]), leaves[k], dy) for k in labels], rounds)
    report.rows.append(("attention forward + backward, fused kernels", ms[0],
                        f"{', '.join('d' + n for n in 'abvβ'[:len(operands)])} from the saved log-sum-exp"))
    report.rows += [(f"attention forward + backward, {k}", m, f"{m / ms[0]:.1f}× the fused kernels")
                    for k, m in zip(labels[1:], ms[1:])]
