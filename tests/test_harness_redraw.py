"""The weights the harness draws for a candidate run in its own process: wrong candidates that tried to keep the
harness from seeing them at random weights (an adversarial pass, 2026-12-06; tests/data/candidates/redraw_cheats.py),
and what the report says was drawn."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
import torch

from evosym.testing import assert_equivalent

sys.path.insert(0, str(Path(__file__).parent / "data" / "candidates"))

KW = dict(trials=1, dtypes=(torch.float64, torch.float32))


def _fails(spec, operator, *needles, **kw):
    with pytest.raises(AssertionError) as info:
        assert_equivalent(spec, operator, **{**KW, **kw})
    for needle in needles:
        assert needle in str(info.value), str(info.value)


@pytest.mark.parametrize("name", ["as_bool", "as_int"])
def test_weights_handed_back_in_another_dtype_are_not_taken_for_the_drawn_ones(name):
    """All True (or truncated to 0) equals the drawn values cast to that dtype: compared as the drawn floats, not."""
    _fails(f"redraw_cheats:{name}", "conv2d", "did not take the weights the harness drew", "weight")


@pytest.mark.parametrize("name", ["tied_rows", "swapped_reads"])
def test_a_multihead_attention_must_hold_the_drawn_rows_its_binding_names(name):
    """W_K is in_proj_weight[E:2E] of the drawn value, not any rows of it (a copy of the query rows), and W_Q is
    rows 0:E (not the key rows, read so to match a forward that swaps them)."""
    _fails(f"redraw_cheats:{name}", "mhsa", "did not take the weights the harness drew", "m.in_proj_")


def test_a_parametrized_weight_is_not_reported_drawn():
    """'weight' is read through a parametrization, no parameter the harness drew: it passes at the weight it keeps,
    and the report names only the bias as drawn."""
    report = assert_equivalent("redraw_cheats:parametrized", "conv2d", **KW)
    assert report.redrawn == ["bias"]


@pytest.mark.parametrize("where", ["in its own process", "the command line"])
def test_decoy_parameters_are_not_reported_drawn(where, capsys, monkeypatch):
    """Frozen real weights and trainable decoys named with look-alike letters: nothing the operator's weights are
    read from was drawn, so none is named (and the command line shows names in ASCII: no look-alike passes)."""
    if where == "in its own process":
        assert assert_equivalent("redraw_cheats:decoys", "conv2d", **KW).redrawn == []
        return
    from evosym.cli.main import main
    monkeypatch.chdir(Path(__file__).parent / "data" / "candidates")
    rc = main(["check", "--candidate", "redraw_cheats:decoys", "conv2d"])
    out = capsys.readouterr().out
    assert rc == 0 and out.rstrip().endswith("at its own weights only (no weight read from a parameter drawn at "
                                             "random)"), out


def test_names_shown_on_the_command_line_are_ascii():
    from evosym.cli.commands import _shown_names
    assert _shown_names(["w\u0435ight", "b\x1bias"]) == "w\\u0435ight, b\\x1bias"


def test_a_usage_error_in_answer_to_the_redraw_is_the_candidates_failure():
    """Out of protocol: never an EvosymError (which the command line reports as the user's usage error, exit 2)."""
    _fails("redraw_cheats:usage_reply", "conv2d", "usage error")


def test_a_long_parameter_costs_the_checking_process_no_scan():
    """A binding's rows are compared where the binding names them: an in_proj_bias of 2²² entries listed by the
    process costs one comparison, not a search over its offsets."""
    from evosym.testing.adapters import Drawn
    drawn = {"m.in_proj_weight": torch.randn(24, 8), "m.in_proj_bias": torch.randn(1 << 22)}
    start = time.perf_counter()
    m = Drawn(drawn)
    rows = m.in_proj_weight[m.embed_dim:2 * m.embed_dim]
    assert torch.equal(rows, drawn["m.in_proj_weight"][8:16]) and m.used == {"m.in_proj_weight"}
    assert time.perf_counter() - start < 1.0


def test_a_module_that_cannot_be_copied_is_a_clear_usage_error():
    """torch.nn.utils.weight_norm (deprecated) holds a tensor computed from its parameters: deepcopy refuses it, and
    the harness (which compares copies) says so and names the replacement, never a raw RuntimeError."""
    import warnings

    from torch import nn

    from evosym.errors import EvosymError
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = torch.nn.utils.weight_norm(nn.Conv2d(4, 6, 3, padding=1))
    for random_weights in (True, False):
        with pytest.raises(EvosymError, match="cannot be copied .*parametrizations.weight_norm"):
            assert_equivalent(m, "conv2d", random_weights=random_weights, **KW)


def test_a_lazy_module_not_yet_run_is_a_clear_usage_error():
    """nn.LazyConv2d reads in_channels = 0 before its first forward (its weights have no shape): the harness says to
    run it once first, in process, inside another module, and in the candidate's own process; once run, it checks."""
    from torch import nn

    from evosym.errors import EvosymError
    for candidate in (nn.LazyConv2d(4, 3), nn.Sequential(nn.LazyConv2d(4, 3)), "layers:lazy_conv"):
        sizes = None if isinstance(candidate, nn.LazyConv2d) else dict(G=1, C_g=3, O_g=4, K_h=3, K_w=3)
        with pytest.raises(EvosymError, match=r"holds lazy parameters whose shapes do not exist yet \((0\.)?weight, "
                                              r"(0\.)?bias\): run it once on an input first"):
            assert_equivalent(candidate, "conv2d", sizes=sizes, **KW)
    m = nn.LazyConv2d(4, 3)
    m(torch.zeros(1, 3, 5, 5))
    assert assert_equivalent(m, "conv2d", **KW).redrawn == ["weight", "bias"]


GCN = dict(N=3, C=2, O=2)


@pytest.mark.parametrize("where", ["in process", "contained"])
def test_a_parameter_the_operator_declares_non_negative_is_drawn_non_negative(where):
    """gcn's adjacency A ≥ 0 (its degrees 1 + Σ A then have a root): redrawn symmetric about 0, the operator was not
    finite at the redrawn weights and the harness said "please report this" for every gcn layer (a sweep of the
    generated modules, 2026-12-07). Now drawn as magnitudes, found by the weights' attribute path."""
    import layers
    candidate = layers.TinyGcn() if where == "in process" else "layers:TinyGcn"
    report = assert_equivalent(candidate, "gcn", sizes=GCN, **KW)
    assert report.redrawn == ["adjacency", "weight", "bias"]


def test_the_paths_of_non_negative_parameters_and_weights_outside_the_domain():
    from torch import nn

    import layers
    from evosym.errors import EvosymError
    from evosym.testing.redraw import drawn_values, nonnegative_paths
    from evosym.testing.setup import proven
    p = proven("gcn")
    assert nonnegative_paths(p.operator, p.plan, None) == {"adjacency"}
    assert nonnegative_paths(p.operator, p.plan, {"A": "graph.adj", "W": "lin"}) == {"graph.adj"}
    assert nonnegative_paths(p.operator, p.plan, {"A": lambda m: m.adjacency}) == set()   # (no path: checked as read)
    plain, magnitudes = drawn_values([((3, 3), torch.float64)] * 2, 5), drawn_values([((3, 3), torch.float64)] * 2, 5,
                                                                                     [False, True])
    assert bool((plain[0] < 0).any()) and torch.equal(magnitudes[0], plain[0])           # the same stream, only flagged
    assert torch.equal(magnitudes[1], plain[1].abs())                                    # entries turned to magnitudes
    # a candidate whose own adjacency is negative: a usage error naming the premise, not "please report this"
    m = layers.TinyGcn()
    with torch.no_grad():
        m.adjacency.sub_(2)
    with pytest.raises(EvosymError, match=r"weight A holds 9 negative entries: gcn declares A non-negative"):
        assert_equivalent(m, "gcn", sizes=GCN, **KW)
    # a mapping through a function the redraw cannot follow: the redrawn values are checked as read
    m = nn.Module()
    m.inner = layers.TinyGcn()
    m.forward = m.inner.forward
    with pytest.raises(EvosymError, match="negative entries: .* random_weights=False"):
        assert_equivalent(m, "gcn", sizes=GCN, weights={"A": lambda c: c.inner.adjacency * 1, "W": "inner.weight",
                                                         "bias": "inner.bias"}, **KW)
    assert assert_equivalent(m, "gcn", sizes=GCN, weights={"A": "inner.adjacency", "W": "inner.weight",
                                                           "bias": "inner.bias"}, **KW).redrawn == [
        "inner.adjacency", "inner.weight", "inner.bias"]


def test_in_process_the_report_names_the_parameters_the_weights_are_read_from():
    """Decoys beside frozen weights: none; a plain module: its weight and bias; nn.MultiheadAttention through its
    binding: the packed projection and the output projection; a weight computed by a function of parameters
    (g·v/‖v‖): every parameter redrawn (which of them it reads cannot be told)."""
    from torch import nn

    import redraw_cheats
    assert assert_equivalent(redraw_cheats.decoys(), "conv2d", **KW).redrawn == []
    torch.manual_seed(0)
    assert assert_equivalent(nn.Conv2d(4, 6, 3, padding=1), "conv2d", **KW).redrawn == ["weight", "bias"]
    mha = nn.MultiheadAttention(8, 2, batch_first=True).eval()
    assert assert_equivalent(mha, "mhsa", **KW).redrawn == ["m.in_proj_weight", "m.in_proj_bias", "m.out_proj.weight",
                                                            "m.out_proj.bias"]   # (called through the adapter's m)

    class Normed(nn.Module):
        def __init__(self):
            super().__init__()
            self.g, self.v = nn.Parameter(torch.rand(6, 1, 1, 1) + 0.5), nn.Parameter(torch.randn(6, 4, 3, 3))
            self.b = nn.Parameter(torch.zeros(6))

        def weight(self):
            return self.g * self.v / self.v.flatten(1).norm(dim=1).view(-1, 1, 1, 1)

        def forward(self, x):
            return torch.nn.functional.conv2d(x, self.weight(), self.b, padding=1)

    sizes = dict(G=1, C_g=4, O_g=6, K_h=3, K_w=3, s_h=1, s_w=1, delta_h=1, delta_w=1, P_h=1, P_w=1)
    report = assert_equivalent(Normed(), "conv2d", sizes=sizes, weights={"weight": lambda m: m.weight(), "bias": "b"},
                               **KW)
    assert report.redrawn == ["g", "v", "b"]
