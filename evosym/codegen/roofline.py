"""How close a measured forward pass comes to this machine's roofline, measured in the same process.

The roofline bound of a call is max(FLOPs ÷ peak FLOP/s, bytes ÷ peak bandwidth): no implementation can be
faster. FLOPs are 2 × the operator's multiply-adds (:func:`evosym.analysis.cost.cost`, counted on the traditional
form at the benchmark's sizes: every window tap, a generator's convolutions included); bytes are the least
traffic any implementation has, reading the input and the parameters once and writing the output once. The
peaks are measured here, not taken from a data sheet: FLOP/s as the best of a few square ``torch.mm`` calls and
bandwidth as the best of a few copies of a tensor far larger than the caches (read + write), on the same device,
dtype and threads as the benchmark. The fraction (bound ÷ measured time) is an honest upper-bound-relative figure:
1 is unreachable in practice, and an operator whose count of multiply-adds includes taps outside the input
(padding) can only overstate it.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import sympy as sp
import torch


@dataclass(frozen=True)
class Peaks:
    gflops: float      # best torch.mm rate (2·n³ FLOPs per call)
    gbytes: float      # best copy rate (bytes read + written per second)
    how: str


@dataclass(frozen=True)
class Roofline:
    gflop: float       # the call's FLOPs (2 × multiply-adds), in 10⁹
    mbytes: float      # its least traffic, in 10⁶ bytes
    bound_ms: float    # max(compute time, memory time) at the peaks
    measured_ms: float
    bound_by: str      # "compute" or "memory"
    peaks: Peaks

    @property
    def fraction(self) -> float:
        return self.bound_ms / self.measured_ms if self.measured_ms > 0 else float("nan")

    def text(self) -> str:
        return (f"roofline (forward): 2·multiply-adds = {self.gflop:.3g} GFLOP, least traffic {self.mbytes:.3g} MB "
                f"(input, parameters and output once); this run's peaks {self.peaks.gflops:.1f} GFLOP/s and "
                f"{self.peaks.gbytes:.1f} GB/s ({self.peaks.how}): bound {self.bound_ms:.3g} ms ({self.bound_by}-bound), "
                f"evosym at {100 * self.fraction:.1f}% of the roofline")

    def as_json(self) -> dict:
        return {"gflop": self.gflop, "mbytes": self.mbytes, "bound_ms": self.bound_ms, "bound_by": self.bound_by,
                "fraction": self.fraction, "peak_gflops": self.peaks.gflops, "peak_gbytes_per_s": self.peaks.gbytes,
                "peaks_measured": self.peaks.how}


def _best_s(fn, sync, rounds: int) -> float:
    fn()
    sync()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


@functools.lru_cache(maxsize=None)
def peaks(device: str, dtype: torch.dtype, threads: int, n: int = 2048, copy_mib: int = 256, rounds: int = 5) -> Peaks:
    """This process's peak FLOP/s and bandwidth on ``device`` (measured once per device, dtype and thread count)."""
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    mm = _best_s(lambda: torch.mm(a, b, out=out), sync, rounds)
    elems = copy_mib * 2 ** 20 // torch.empty((), dtype=dtype).element_size()
    src = torch.ones(elems, device=device, dtype=dtype)
    dst = torch.empty_like(src)
    cp = _best_s(lambda: dst.copy_(src), sync, rounds)
    nbytes = 2 * src.numel() * src.element_size()
    return Peaks(2 * n ** 3 / mm / 1e9, nbytes / cp / 1e9,
                 f"best of {rounds}: torch.mm {n}×{n}, copy of {copy_mib} MiB, {dtype}, {threads} threads")


def roofline(macs: sp.Expr, env: dict, tensors: dict, output_numel: int, element_size: int, measured_ms: float,
             device: str, dtype: torch.dtype) -> Roofline:
    """The bound of one forward call: ``macs`` (SymPy, in the sizes) at ``env``; ``tensors`` the call's input and
    parameters (their sizes in bytes count once), ``output_numel`` the output's entries."""
    flops = 2 * float(sp.sympify(macs).subs(env))
    nbytes = sum(t.numel() * t.element_size() for t in tensors.values()) + output_numel * element_size
    pk = peaks(device, dtype, torch.get_num_threads())
    compute_ms, memory_ms = flops / (pk.gflops * 1e9) * 1e3, nbytes / (pk.gbytes * 1e9) * 1e3
    return Roofline(flops / 1e9, nbytes / 1e6, max(compute_ms, memory_ms), measured_ms,
                    "compute" if compute_ms >= memory_ms else "memory", pk)
