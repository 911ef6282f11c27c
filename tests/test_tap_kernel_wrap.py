"""Tap kernels of wrapping windows that overlap themselves (two taps read one position mod L): the tap kernel must
carry each tap's own weight, so that the aggregation over taps gives K back; the verification compares that sum, not
each tap alone (review finding: a circular convolution with stride and dilation as sizes counted such positions
once per tap, and the pointwise comparison K̂(p, u) = K(p, q(u)) did not see it)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sympy as sp
import torch
import torch.nn.functional as F

from evosym import catalogue
from evosym.codegen.check import check_operator, load_source
from evosym.codegen.plan import make_plan
from evosym.codegen.render import render_torch
from evosym.errors import EvosymError
from evosym.facts import taps as T

FILE = str(Path(__file__).resolve().parent / "data/operators/circular_conv1d_strided.py")


def _brute(x, w, s, d, P):
    L, (O, C, K) = x.shape[-1], w.shape
    L_out = (L + 2 * P - d * (K - 1) - 1) // s + 1
    y = torch.zeros(x.shape[0], O, L_out, dtype=x.dtype)
    for i in range(L_out):
        for u in range(K):
            y[:, :, i] += torch.einsum("oc,bc->bo", w[:, :, u], x[:, :, (s * i + d * u - P) % L])
    return y


@pytest.mark.parametrize("L, K, P, s, d", [(4, 3, 2, 2, 2), (4, 3, 2, 1, 2), (4, 3, 1, 1, 2), (3, 4, 1, 1, 1),
                                           (5, 3, 1, 2, 2), (2, 3, 2, 1, 2)])
def test_an_overlapping_circular_window_counts_each_tap_once(L, K, P, s, d):
    cp = catalogue.checked(FILE)
    plan = make_plan(cp)
    fn = getattr(load_source(render_torch(plan, cp.operator.torch_binding), cp.operator.name, cp), plan.func_name)
    g = torch.Generator().manual_seed(L + 10 * K + 100 * d)
    x = torch.randn(2, 2, L, dtype=torch.float64, generator=g)
    w = torch.randn(3, 2, K, dtype=torch.float64, generator=g)
    want = _brute(x, w, s, d, P)
    for path in ("auto", "generic"):
        got = fn(x, w, C=2, O=3, K=K, P=P, s=s, delta=d, path=path)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    if P <= L:   # what F.pad(mode="circular") takes
        torch.testing.assert_close(want, F.conv1d(F.pad(x, (P, P), mode="circular"), w, stride=s, dilation=d))


def test_the_file_checks_at_its_grid_which_holds_an_overlap():
    report = check_operator(FILE, variants=1)
    assert report.ok, report.text()


def test_a_tap_kernel_that_counts_a_position_per_tap_is_refused(monkeypatch):
    """With the remainders kept (the unwrapping disabled), the deltas collapse to K at the tap's position for every
    tap: summed over two taps that read one position it is twice K there, and the verification says so."""
    monkeypatch.setattr(T, "_is_tap", lambda node, axis, p: False)
    cp = catalogue.checked(FILE)
    with pytest.raises(EvosymError, match="summed over the taps: the window overlaps itself"):
        T.tap_kernel(cp.operator, cp.evolution, {d.name: d for d in cp.operator.definitions})


def test_the_tap_position_allows_a_dilation_that_is_a_size():
    s, d, P, p, u = sp.symbols("s delta P p u", integer=True)
    from evosym.ir.neighbourhood import WindowAxis
    axis = WindowAxis(sp.Symbol("K", integer=True, positive=True), s, d, P, sp.Symbol("L", integer=True, positive=True),
                      wrap=True)
    assert T._is_tap(axis.position(p, u).args[0] if isinstance(axis.position(p, u), sp.Mod) else axis.position(p, u), axis, p)
    assert not T._is_tap(s * p + d * u + u - P, axis, p)   # (δ + 1)·u is not the tap position
    assert not T._is_tap(s * p + d * u * u - P, axis, p)
