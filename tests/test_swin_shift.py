"""Swin shifts its windows by less than a window (S < M, ⌊M/2⌋ in its shifted blocks): the operator
declares it, and the generated module refuses a shift of a window or more with the condition (its constructor
at once, its functional form for every input), where it would otherwise compute masks Swin never builds. A shift
of 0 (W-MSA) is taken. The module is generated from the template now (test_empty_inputs.fresh)."""

from __future__ import annotations

import pytest
import torch

from test_empty_inputs import fresh as load


@pytest.mark.parametrize("shift", [3, 4, 7])
def test_a_shift_of_a_window_or_more_is_refused(shift):
    gen = load("swin_attention")
    with pytest.raises(ValueError, match=rf"S ≤ M - 1 .*got M = 3, S = {shift}"):
        gen.SwinAttentionEvolution(N=1, d=2, M=3, S=shift)
    w = torch.randn(2, 2, dtype=torch.float64)
    rpb = torch.randn(1, 5, 5, dtype=torch.float64)
    for path in ("auto", "generic"):
        with pytest.raises(ValueError, match=r"S ≤ M - 1"):
            gen.swin_attention_evolution(torch.randn(1, 2, 6, 6, dtype=torch.float64), w, w, w, rpb, N=1, d=2, M=3,
                                         S=shift, path=path)


@pytest.mark.parametrize("shift", [0, 1, 2])
def test_shifts_below_the_window_are_swins(shift):
    from evosym import catalogue
    op = catalogue.load("swin_attention").operator
    torch.manual_seed(shift)
    layer = load("swin_attention").SwinAttentionEvolution(N=2, d=2, M=3, S=shift).double()
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_()
    x = torch.randn(2, 4, 6, 9, dtype=torch.float64)
    tensors = {"x": x, "Wq": layer.query_weight, "Wk": layer.key_weight, "Wv": layer.value_weight, "rpb": layer.rpb}
    want = op.torch_reference(tensors, {"B": 2, "N": 2, "d": 2, "M": 3, "T_h": 2, "T_w": 3, "S": shift})
    with torch.no_grad():
        for path in ("auto", "generic"):
            torch.testing.assert_close(layer(x, path=path), want, rtol=1e-10, atol=1e-10)
