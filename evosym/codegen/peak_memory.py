"""Peak memory of one call, on the CPU and on CUDA, for the benchmarks (``evosym bench``, ``--against``).

On CUDA the allocator's own peak; on the CPU, where PyTorch keeps no peak, the profiler's allocation events
(allocations positive, frees negative) replayed in time order: the most bytes held at once during the call. (A
sum of the allocations would count a temporary freed before the next one as if both were held.) What the CPU
profiler cannot see is not counted: allocations made by other threads than the caller's (ATen's operators allocate
their outputs and temporaries on the calling thread), and the frees of blocks allocated before the call (their size
is unknown to it), so a call that frees tensors it did not allocate is reported as if it still held them.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile

import torch


@contextlib.contextmanager
def quiet_profiler():
    """Runs the body with the torch profiler's own lines ("USDT: … profiler_start", its warning about a block
    allocated before profiling) kept off the terminal: file descriptor 2 goes to a temporary file meanwhile, and
    every other line written there is passed on."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            rest = [line for line in caught.read().decode(errors="replace").splitlines(keepends=True)
                    if not line.startswith("USDT:") and "Memory block of unknown size" not in line]
            if rest:
                sys.stderr.write("".join(rest))


def cuda_peak_mb(fn) -> float:
    """The most MiB ``fn()`` held allocated at once on the GPU, above what was allocated before it."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2 ** 20


def _allocations(nodes, out):
    """(time ns, bytes) of every CPU allocation (> 0) and free (< 0) in the profiler's event tree."""
    for node in nodes:
        extra = node.extra_fields
        if type(extra).__name__ == "_ExtraFields_Allocation" and extra.device.type == "cpu":
            out.append((node.start_time_ns, int(extra.alloc_size)))
        _allocations(node.children, out)
    return out


def peak_cpu_bytes(fn) -> int:
    """The most bytes ``fn()`` held allocated at once on the CPU, above what was allocated before it: the
    profiler's memory events (allocations positive, frees negative) sorted by time, the maximum of their
    running sum (0 if it never allocates)."""
    from torch.profiler import ProfilerActivity, profile
    with quiet_profiler(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted(_allocations(prof.profiler.kineto_results.experimental_event_tree(), []))
    running = peak = 0
    for _, size in events:
        running += size
        peak = max(peak, running)
    return peak


def peak_memory_mb(fn, device: str) -> float:
    """Peak MiB held during one call of ``fn``: CUDA's max_memory_allocated, or :func:`peak_cpu_bytes`."""
    return cuda_peak_mb(fn) if device == "cuda" else peak_cpu_bytes(fn) / 2 ** 20
