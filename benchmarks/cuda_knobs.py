"""Tuning the generated CUDA kernels' knob on a GPU: EVO_MAX_CHUNK (channels per thread sharing a kernel).

Each variant is the operator's generated CUDA source with the macro set (every value is
correct; only speed differs), built with nvcc for this GPU and timed in one process with CUDA
events, interleaved: the forward kernel (with its achieved bandwidth as a fraction of the GPU's
peak for the bytes the aggregation must move) and both backward kernels. Every variant's output is
compared with the first variant's before timing.

    PYTHONPATH=. python benchmarks/cuda_knobs.py [NAME] [--size B=64 ...] [--chunks 2,4,8,16]
"""

from __future__ import annotations

import argparse
import dataclasses
import re

import torch

from evosym.codegen.bench import prepare
from evosym.codegen.bench_kernels import _aggregation_inputs, _events_ms, backward_calls, peak_bandwidth
from evosym.runtime import aggregate as agg


def variant_source(source: str, **knobs: int) -> str:
    """``source`` with each EVO_<KNOB> macro's default replaced."""
    for knob, value in knobs.items():
        source, n = re.subn(rf"#define EVO_{knob.upper()} \d+", f"#define EVO_{knob.upper()} {value}", source)
        if n != 1:
            raise SystemExit(f"the generated source has no EVO_{knob.upper()} knob")
    return source


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name", nargs="?", default="involution")
    ap.add_argument("--size", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--chunks", default="2,4,8,16")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("needs a CUDA GPU")
    sizes = dict(s.split("=", 1) for s in args.size) or None
    st = prepare(args.name, "cuda", {k: int(v) for k, v in sizes.items()} if sizes else None)
    base = agg.kernels_for(args.name)
    with torch.no_grad():
        kt, x, order = _aggregation_inputs(st)
    dy = torch.randn(tuple(int(n) for n in st.op.shapes_at(st.env)[st.op.output.name]), device="cuda")
    peak, how = peak_bandwidth(x.device)
    nbytes = (x.numel() + kt.numel() + dy.numel()) * x.element_size()
    print(f"{args.name} on {torch.cuda.get_device_name()} at {order}; {nbytes / 1e6:.0f} MB required; peak {peak / 1e9:.0f} GB/s ({how})")
    variants, fns, first = [], [], None
    for ch in args.chunks.split(","):
        src = variant_source(base.source, max_chunk=int(ch))
        k = dataclasses.replace(base, source=src, libraries={})
        agg._KERNELS[args.name] = k     # evolution_aggregate finds kernels by name: every call sets its own
        lib = k.library(x.device)[0]
        y = agg.evolution_aggregate(args.name, x, kt, order)
        first = y if first is None else first
        torch.testing.assert_close(y, first, rtol=1e-5, atol=1e-5)   # a knob changes speed, never values
        back_input, back_kernel = backward_calls(args.name, x, kt, order, dy)

        def bound(f, k=k):
            def call():
                agg._KERNELS[args.name] = k
                return f()
            return call
        variants.append((ch, lib.seconds))
        fns += [bound(lambda: agg.evolution_aggregate(args.name, x, kt, order)),
                bound(back_input), bound(back_kernel)]
    ms = _events_ms(fns, args.rounds)
    print("| max chunk | build s | forward ms | GB/s | % of peak | back input ms | back kernel ms |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for i, (ch, secs) in enumerate(variants):
        f, bi, bk = ms[3 * i: 3 * i + 3]
        gbs = nbytes / (f * 1e-3)
        print(f"| {ch} | {secs:.1f} | {f:.4f} | {gbs / 1e9:.0f} | {gbs / peak:.0%} | {bi:.4f} | {bk:.4f} |")


if __name__ == "__main__":
    main()
