"""The index maps of wrapping, clamped and tiled windows that the CUDA kernels' input gradient uses
(evosym/codegen/window_maps.py): at every small size, the inverse enumeration finds exactly the
(p, u) pairs whose tap reads each input position, each once; and so does the C that SymPy prints
for them at symbolic sizes, compiled for the host and run in the loops the CUDA template writes
(stride and dilation included, which the catalogue's clamped and tiled operators fix at 1). Checked
at sizes, not proved; the emulated numeric checks (tests/test_cuda_codegen.py) run the kernels
themselves."""

from __future__ import annotations

import itertools
import os
import shutil

import pytest
import sympy as sp

from evosym.codegen import window_maps
from evosym.codegen.window_maps import fits
from evosym.ir.neighbourhood import WindowAxis

KINDS = {"zero padding": {}, "circular": {"wrap": True}, "clamped": {"clamp": True}, "tiled": {"tiled": True},
         "tiled, wrapping": {"tiled": True, "wrap": True}}


def forward_pairs(a: WindowAxis, env: dict, length_out: int) -> dict:
    """At concrete sizes: input position -> the set of (p, u) whose tap reads it (the definition)."""
    val = lambda e: int(sp.sympify(e).xreplace(env))  # noqa: E731
    L, K = val(a.length), val(a.kernel)
    out: dict = {}
    for p in range(length_out):
        lo, hi = (max(0, val(e)) if k == 0 else min(K - 1, val(e)) for k, e in enumerate(window_maps.tap_range(a, p)))
        for u in range(lo, hi + 1):
            q = val(a.offset(p, u))
            out.setdefault(q % L if a.wrap else q, set()).add((p, u))
    return out


def inverse_pairs(a: WindowAxis, env: dict, length_out: int) -> dict:
    """At concrete sizes: input position -> the (p, u) the inverse enumeration of window_maps' docstring
    finds (a list, so that finding one twice shows)."""
    val = lambda e: int(sp.sympify(e).xreplace(env))  # noqa: E731
    L, K, d = val(a.length), val(a.kernel), val(a.dilation)
    out: dict = {}
    for q in range(L):
        m_lo, m_hi = (val(e) for e in window_maps.copy_range(a, q, length_out))
        for m in range(m_lo, m_hi + 1):
            t = q + m * L
            first, last = (val(e) for e in window_maps.position_range(a, t, length_out))
            for p in range(max(0, first), min(length_out - 1, last) + 1):
                off = t - val(a.start(p))
                if off >= 0 and off % d == 0 and off // d < K:
                    out.setdefault(q, []).append((p, off // d))
    return out


def _axes(kind):
    """Every small window axis of ``kind`` the kernels accept, with its output length."""
    flags = KINDS[kind]
    for L, K, s, d, P in itertools.product(range(1, 8), range(1, 5), range(1, 4), range(1, 3), range(0, 5)):
        if flags.get("tiled") and (s, d) != (1, 1):
            continue
        a = WindowAxis(K, s, d, P, L, **flags)
        cond = fits(a)
        if cond is not None and not bool(cond):
            continue
        if flags.get("tiled"):
            n = L
        else:
            n = (L + 2 * P - d * (K - 1) - 1) // s + 1
        if n >= 1:
            yield a, n


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_inverse_finds_every_tap_reading_a_position_exactly_once(kind):
    count = 0
    for a, n in _axes(kind):
        inverse = inverse_pairs(a, {}, n)
        assert all(len(v) == len(set(v)) for v in inverse.values()), (a, n)
        assert {q: set(v) for q, v in inverse.items()} == forward_pairs(a, {}, n), (a, n)
        count += 1
    assert count > 50   # the sizes above reach many windows of this kind


@pytest.mark.parametrize("kind, shift", [("clamped", 1), ("tiled", -1), ("circular", 1)])
def test_a_wrong_inverse_range_is_noticed(monkeypatch, kind, shift):
    """The comparison above can fail: a position range one off must break it at some size."""
    right = window_maps.position_range
    monkeypatch.setattr(window_maps, "position_range",
                        lambda a, t, n: tuple(e + shift for e in right(a, t, n)))
    assert any({q: set(v) for q, v in inverse_pairs(a, {}, n).items()} != forward_pairs(a, {}, n)
               for a, n in _axes(kind))


def test_window_conditions():
    assert fits(WindowAxis(3, 1, 1, 1, 2, clamp=True)) == False   # noqa: E712 (SymPy booleans)
    assert fits(WindowAxis(3, 1, 1, 1, 3, clamp=True)) == True   # noqa: E712
    assert fits(WindowAxis(2, 1, 1, 1, 5, tiled=True, wrap=True)) == False   # noqa: E712
    assert fits(WindowAxis(3, 1, 1, 1, 5)) is None


# -- the same maps as printed C ----------------------------------------------------------------------------

HOST = shutil.which(os.environ.get("CXX", "c++")) is not None
SIZES = dict(zip("LKsdPN", sp.symbols("L K s d P N", integer=True, positive=True)))

PROGRAM = r"""
#include "evosym_emulate.h"
#include <algorithm>
#include <vector>
typedef long long i64;
struct evo_sizes { i64 L, K, s, d, P, N; };
%(helpers)s
static i64 evo_start_0(const evo_sizes& z, i64 p0) { return %(start)s; }
static i64 evo_q_0(const evo_sizes& z, i64 p0, i64 u0) { return %(offset)s; }
static i64 evo_tap_lo_0(const evo_sizes& z, i64 p0) { return %(tap_lo)s; }
static i64 evo_tap_hi_0(const evo_sizes& z, i64 p0) { return %(tap_hi)s; }
static i64 evo_first_0(const evo_sizes& z, i64 t0) { return evo_max(0, %(first)s); }
static i64 evo_last_0(const evo_sizes& z, i64 t0) { return evo_min(z.N - 1, %(last)s); }
static i64 evo_copy_lo_0(const evo_sizes& z, i64 q0) { return %(copy_lo)s; }
static i64 evo_copy_hi_0(const evo_sizes& z, i64 q0) { return %(copy_hi)s; }

// (q, p, u) of every tap, from the forward's loops and from the input gradient's, as the CUDA template
// writes them: the number of taps when both agree, -1 when they differ, -2 when a tap reads outside
extern "C" int evo_compare(i64 L, i64 K, i64 s, i64 d, i64 P, i64 N) {
    const evo_sizes z{L, K, s, d, P, N};
    std::vector<std::vector<i64>> fwd, inv;
    for (i64 p0 = 0; p0 < N; ++p0)
        for (i64 u0 = evo_max(0, evo_tap_lo_0(z, p0)); u0 <= evo_min(K - 1, evo_tap_hi_0(z, p0)); ++u0) {
            const i64 q0 = evo_q_0(z, p0, u0);
            if (q0 < 0 || q0 >= L) return -2;
            fwd.push_back({q0, p0, u0});
        }
    for (i64 q0 = 0; q0 < L; ++q0)
        for (i64 m0 = evo_copy_lo_0(z, q0); m0 <= evo_copy_hi_0(z, q0); ++m0)
        for (i64 p0 = evo_first_0(z, q0 + m0 * L); p0 <= evo_last_0(z, q0 + m0 * L); ++p0) {
            const i64 d0 = q0 + m0 * L - evo_start_0(z, p0);
            if (d0 < 0 || evo_rem(d0, d) != 0) continue;
            const i64 u0 = evo_div(d0, d);
            if (u0 >= K) continue;
            inv.push_back({q0, p0, u0});
        }
    std::sort(fwd.begin(), fwd.end());
    std::sort(inv.begin(), inv.end());
    return fwd == inv ? (int)fwd.size() : -1;
}
"""


def _printed(kind, mutate=None):
    """evo_compare of PROGRAM for the axis of ``kind`` at symbolic sizes (the C the CUDA kernels get)."""
    import ctypes

    from evosym.codegen.kernel_context import _general_axis
    from evosym.runtime.build import build
    S = SIZES
    flags = KINDS[kind]
    one = flags.get("tiled")
    a = WindowAxis(S["K"], 1 if one else S["s"], 1 if one else S["d"], S["P"] - 1, S["L"], **flags)   # P ≥ 0
    names = {sym: f"z.{n}" for n, sym in S.items()}
    axis = _general_axis(type("Op", (), {"name": "test"}), 0, a, S["N"], names, "CUDA")
    helpers = '#include "evosym_index.h"'   # the kernels' own integer helpers (the runtime's header)
    pieces = dict(helpers=helpers, start=axis.start, offset=axis.offset, tap_lo=axis.tap_lo, tap_hi=axis.tap_hi,
                  first=axis.first, last=axis.last, copy_lo=axis.copy_lo, copy_hi=axis.copy_hi)
    compare = ctypes.CDLL(str(build(PROGRAM % (mutate or (lambda d: d))(pieces), "host").path)).evo_compare
    compare.argtypes, compare.restype = [ctypes.c_longlong] * 6, ctypes.c_int
    return compare


@pytest.mark.skipif(not HOST, reason="no C++ compiler")
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_printed_c_of_the_maps_agrees_at_every_small_size(kind):
    """The C the CUDA kernels get for symbolic sizes (stride and dilation included, which the catalogue's
    clamped and tiled operators fix at 1), compiled for the host: at every small size the input gradient's
    loops find exactly the forward's taps, and no tap reads outside the input."""
    compare = _printed(kind)
    count = 0
    for concrete, n in _axes(kind):
        L, K, s, d, P = (int(getattr(concrete, f)) for f in ("length", "kernel", "stride", "dilation", "padding"))
        got = compare(L, K, s, d, P + 1, n)
        assert got >= 0, f"{kind}: L={L} K={K} s={s} δ={d} P={P} L_out={n}: " + \
            ("a tap reads outside the input" if got == -2 else "the input gradient's taps differ from the forward's")
        assert got == sum(len(v) for v in forward_pairs(concrete, {}, n).values())
        count += 1
    assert count > 50


@pytest.mark.skipif(not HOST, reason="no C++ compiler")
def test_a_wrong_printed_range_is_noticed():
    """The comparison above can fail: the clamped window's first position printed one too high."""
    compare = _printed("clamped", lambda d: dict(d, first=f"({d['first']}) + 1"))
    assert any(compare(L, K, s, d, P + 1, n) == -1 for concrete, n in _axes("clamped")
               for L, K, s, d, P in [tuple(int(getattr(concrete, f)) for f in ("length", "kernel", "stride",
                                                                                   "dilation", "padding"))])
