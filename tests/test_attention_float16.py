"""Generated attention in float16: the constant 1/√d multiplies an operand before q·k, as torch's
scaled_dot_product_attention scales q before q·kᵀ. Computed after the contraction, q·k overflows float16
(65504) where q·k/√d does not, and the softmax of ±inf logits is NaN where PyTorch's float16 result is
finite. The modules are generated here from the current code generator (not the committed files)."""

from __future__ import annotations

import importlib.util
import math
import re

import pytest
import torch
import torch.nn.functional as F

from evosym.codegen.generate import generate

F16_MAX = float(torch.finfo(torch.float16).max)   # 65504
UNIT = 2.0 ** -11                                  # float16's unit roundoff


def _fresh(name, tmp_path):
    """The module ``name`` as the code generator writes it now."""
    gen = generate(name)
    path = tmp_path / gen.filename
    path.write_text(gen.source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"fresh_f16_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _head_dots(q, k, N, d):
    """max |q·k| per head over every query/key pair: q, k are (L, N·d) tokens, float64."""
    qh, kh = q.view(-1, N, d).transpose(0, 1), k.view(-1, N, d).transpose(0, 1)
    return float((qh @ kh.transpose(1, 2)).abs().max())


def _within_pytorchs_float16_error(ours16, torch16, ref64):
    """ours (float16) is finite and no further from the float64 reference than twice PyTorch's own float16
    result, plus one float16 rounding of the output's magnitude."""
    assert torch.isfinite(torch16).all(), "the chosen values are beyond PyTorch's float16 range too"
    assert torch.isfinite(ours16).all(), "NaN/inf in float16 where PyTorch's float16 result is finite"
    theirs = float((torch16.double() - ref64).abs().max())
    ours = float((ours16.double() - ref64).abs().max())
    assert ours <= 2 * theirs + 2 * UNIT * float(ref64.abs().max()), (ours, theirs)


def test_mhsa_in_float16_with_head_dots_beyond_float16_matches_pytorch(tmp_path):
    module = _fresh("mhsa", tmp_path)
    N, d = 2, 16
    E = N * d
    torch.manual_seed(0)
    m = torch.nn.MultiheadAttention(E, N, batch_first=True).eval()
    with torch.no_grad():   # q = k = v = the tokens: the logits are the tokens' own dot products
        m.in_proj_weight.copy_(torch.eye(E).repeat(3, 1))
        m.in_proj_bias.zero_()
    layer = module.MhsaEvolution.from_torch(m)
    x = 60 * torch.randn(1, E, 3, 3)
    tokens = x.flatten(2).transpose(1, 2)          # (1, L, E)
    dots = _head_dots(tokens[0].double(), tokens[0].double(), N, d)
    assert dots > F16_MAX > dots / math.sqrt(d), dots   # q·k overflows float16, q·k/√d does not
    with torch.no_grad():
        ref64 = m.double()(*(tokens.double(),) * 3, need_weights=False)[0]
        torch16 = m.half()(*(tokens.half(),) * 3, need_weights=False)[0]
        ours16 = layer.half()(x.half()).flatten(2).transpose(1, 2)
    _within_pytorchs_float16_error(ours16, torch16, ref64)


def _windowed_sdpa(x, R, N, d):
    """Local attention by PyTorch itself: each query attends (F.scaled_dot_product_attention) to its K×K
    window of keys and values, zero-padded at the borders (the padded keys take part in the softmax);
    q = k = v = x."""
    B, C, H, W = x.shape
    K = 2 * R + 1
    win = F.unfold(x, K, padding=R).view(B, N, d, K * K, H * W)          # (B, N, d, K², L)
    keys = win.permute(0, 1, 4, 3, 2).reshape(B * N * H * W, K * K, d)
    query = x.view(B, N, d, H * W).permute(0, 1, 3, 2).reshape(B * N * H * W, 1, d)
    out = F.scaled_dot_product_attention(query, keys, keys)               # (B·N·L, 1, d)
    return out.view(B, N, H * W, d).permute(0, 1, 3, 2).reshape(B, C, H, W)


def test_local_attention_in_float16_with_head_dots_beyond_float16_matches_pytorch(tmp_path):
    module = _fresh("local_attention", tmp_path)
    N, d, R = 2, 16, 1
    torch.manual_seed(1)
    layer = module.LocalAttentionEvolution(N=N, d=d, R=R)
    with torch.no_grad():   # identity projections: q = k = v = x, as in the PyTorch reference
        for w in (layer.query_weight, layer.key_weight, layer.value_weight):
            w.copy_(torch.eye(N * d))
    x = 60 * torch.randn(1, N * d, 4, 5)
    tokens = x[0].flatten(1).t().double()
    dots = _head_dots(tokens, tokens, N, d)   # every query's dot with itself is in its own window
    assert dots > F16_MAX > dots / math.sqrt(d), dots
    with torch.no_grad():
        ref64 = _windowed_sdpa(x.double(), R, N, d)
        assert torch.allclose(layer.double()(x.double(), path="generic"), ref64, rtol=1e-10, atol=1e-9)
        torch16 = _windowed_sdpa(x.half(), R, N, d)
        ours16 = layer.half()(x.half())
    _within_pytorchs_float16_error(ours16, torch16, ref64)


@pytest.mark.parametrize("name", ["gqa_attention", "mhsa_causal"])
def test_the_scale_is_applied_before_the_head_contraction(name, tmp_path):
    """The generic code never scales a finished dot product: 1/√d sits inside the einsum's operands."""
    source = generate(name).source
    # the operand is a broadcast grid or, where the read is provably in bounds, a view of the key definition
    assert re.search(r"\(d \*\* \(-1 / 2\)\) \* (_as_grid\(|def_key\[)", source), "1/√d is not pushed onto an operand"
    assert not any("einsum" not in line and re.search(r"\(d \*\* \(-1 / 2\)\) \* d\d", line)   # a finished temporary dN
                   for line in source.splitlines())
