"""Every catalogue operator proves; proofs do not depend on the delta shortcut of the evaluator."""

from __future__ import annotations

import pytest

from evosym.proof.bounded import env_of

from evosym import catalogue

NAMES = catalogue.catalogue_names()


def test_catalogue_has_the_convolution_family():
    assert {"conv1d", "conv2d", "conv3d", "depthwise_conv2d", "pointwise_conv2d", "linear"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_operator_proves(name, checked_proof):
    cp = checked_proof(name)
    assert cp.ok, "\n".join(cp.failures())
    assert cp.evolution is not None
    assert {c.name for c in cp.checks} >= {"Evolution form", "support of K"}
    assert any(c.name.startswith("reference") and c.ok for c in cp.checks), "no independent reference check"
    bounded = [s.rule for s in cp.steps if not s.check.general]
    assert bounded == BOUNDED.get(name, []), bounded


# steps labelled bounded on purpose: none (reflect padding's read and NATTEN's clamped window, bounded until 2026-12-06,
# are proved under their operators' declared constraints P < L, R < H, W and K ≤ H, W)
BOUNDED: dict = {}


@pytest.mark.parametrize("name", NAMES)
def test_full_unrolling_agrees(name):
    """The same proof checked with every sum unrolled term by term (no delta shortcut)."""
    mod = catalogue.load(name)
    cp = mod.proof().check(grid=mod.operator.grid[:1], delta_shortcut=False, reference=False)
    assert cp.ok, "\n".join(cp.failures())


@pytest.mark.parametrize("name", NAMES)
def test_grids_cover_the_hard_cases(name):
    """Bounded checks are only as good as their shapes: strides, odd and non-square sizes, groups."""
    op = catalogue.load(name).operator
    values = {str(k): [] for k, _ in op.sizes}
    for g in op.grid:
        for k, v in g.items():
            values[str(k)].append(v)
    for k, vs in values.items():
        if k.startswith(("s_", "delta")) or k in ("s", "delta"):
            assert max(vs) > 1, f"{name}: {k} is never > 1 in the grid"
        if k.startswith("P"):
            assert max(vs) > 0, f"{name}: {k} is never > 0"
    if "G" in values:
        assert max(values["G"]) > 1
    assert any(v % 2 == 1 for k, vs in values.items() if k.endswith("_in") or k in ("L", "N", "H", "W") for v in vs) \
        or any(n % 2 == 1 for g in op.grid for t in op.tensors if t.role == "input"   # (sizes derived: H = k·P_h)
               for n in op.shapes_at(env_of(g))[t.name][2:]), f"{name}: no odd input length in the grid"


def test_acmix_adds_the_paths_without_reordering_channels():
    """The official module adds head-major attention channels to head-dim-major conv channels as they are;
    a reference that reorders the conv path to head-major first disagrees with the proved form."""
    from dataclasses import replace
    from evosym.derivations import acmix as M
    from evosym.derivations._conv import _numpy_reference
    from evosym.proof.reference import run_and_check_reference
    op = M.OPERATOR

    def reordered(t, sizes):
        att = M.AT.torch_reference({**t, **M._split(t)}, sizes)
        conv = M.torch_reference({**t, "rate1": 0 * t["rate1"], "rate2": 0 * t["rate2"] + 1}, sizes)
        bsz, o_, ho, wo = conv.shape
        n_, d_ = sizes["N"], sizes["d"]   # channel e·N + n → n·d + e
        conv = conv.view(bsz, d_, n_, ho, wo).transpose(1, 2).reshape(bsz, o_, ho, wo)
        return t["rate1"] * att + t["rate2"] * conv
    shape = {**op.grid[0], M.N: 2, M.Dh: 2}   # N, d ≥ 2: the two channel orders differ
    assert run_and_check_reference(op, grid=[shape]).ok
    assert not run_and_check_reference(replace(op, reference=_numpy_reference(reordered)), grid=[shape]).ok
