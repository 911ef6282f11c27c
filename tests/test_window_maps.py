"""The index maps of wrapping, clamped and tiled windows that the CUDA kernels' input gradient uses
(evosym/codegen/window_maps.py): at every small size, the inverse enumeration finds exactly the
(p, u) pairs whose tap reads each input position, each once. Checked at sizes, not proved; the
emulated numeric checks (tests/test_cuda_codegen.py) run the printed C of the same maps."""

from __future__ import annotations

import itertools

import pytest

from evosym.codegen import window_maps
from evosym.codegen.window_maps import fits, forward_pairs, inverse_pairs
from evosym.ir.neighbourhood import WindowAxis

KINDS = {"zero padding": {}, "circular": {"wrap": True}, "clamped": {"clamp": True}, "tiled": {"tiled": True},
         "tiled, wrapping": {"tiled": True, "wrap": True}}


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
