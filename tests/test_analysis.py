"""Kernel properties are derived (and confirmed), and costs agree with counts at concrete sizes."""

from __future__ import annotations

from pathlib import Path

import pytest
import sympy as sp
import torch
from torch.utils.flop_counter import FlopCounterMode

from cli_helpers import run_cli
from conftest import checked
from evosym import catalogue
from evosym.analysis.cost import cost
from evosym.analysis.report import properties_of
from evosym.ir.symbols import size_value

ROOT = Path(__file__).resolve().parent.parent


def props(name):
    return properties_of(checked(name))


@pytest.mark.parametrize("name, expected", [
    ("conv1d", {"kernel": "static", "space": "shared across space", "channels": "grouped (contiguous blocks)"}),
    ("conv2d", {"kernel": "static", "space": "shared across space", "channels": "grouped (contiguous blocks)",
                "border": "zero padding (window clipped to the input)"}),
    ("depthwise_conv2d", {"kernel": "static", "channels": "depthwise (output channel o reads input channel ⌊o/M⌋)"}),
    ("linear", {"kernel": "static", "channels": "full mixing, separable (spatial map ⊗ channel map)",
                "border": "none (the window stays inside the input)", "Ω": "local window, |Ω| ≤ 1"}),
    ("pointwise_conv2d", {"channels": "grouped (contiguous blocks), separable (spatial map ⊗ channel map)"}),
    ("involution", {"kernel": "dynamic, from a local pool at p", "space": "position-specific",
                    "channels": "depthwise (output channel o reads input channel o), one kernel shared by each block "
                                "of C_g channels", "border": "zero padding (window clipped to the input)"}),
    ("idynamic_dwconv", {"kernel": "dynamic, from a local pool at p", "space": "position-specific",
                         "channels": "depthwise (output channel o reads input channel o), one kernel shared by each "
                                     "block of C_g channels", "border": "zero padding (window clipped to the input)"}),
    ("squeeze_excitation", {"kernel": "dynamic, from a global pool", "space": "shared across space",
                            "channels": "depthwise (output channel o reads input channel o), separable (spatial map ⊗ "
                                        "channel map)", "Ω": "local window, |Ω| ≤ 1",
                            "border": "none (the window stays inside the input)"}),
    ("dynamic_dwconv", {"kernel": "dynamic, from a global pool", "space": "shared across space",
                        "channels": "depthwise (output channel o reads input channel o)",
                        "border": "zero padding (window clipped to the input)"}),
    ("local_attention", {"kernel": "dynamic, from pairs (p, q) and a local pool at p", "space": "position-specific",
                         "channels": "full mixing, separable per output channel (a spatial map shared by each block "
                                     "of d output channels ⊗ channel map)",
                         "Ω": "local window, |Ω| ≤ (2·R + 1)^2", "border": "zero padding (window clipped to the input)"}),
    ("acmix_attention", {"kernel": "dynamic, from pairs (p, q) and a local pool at p", "space": "position-specific",
                         "channels": "full mixing, separable per output channel (a spatial map shared by each block "
                                     "of d output channels ⊗ channel map)",
                         "Ω": "local window, |Ω| ≤ (2·R + 1)^2",
                         "border": "reflect padding (a tap outside reads its mirror image, the edge not repeated)"}),
    ("acmix", {"kernel": "dynamic, from pairs (p, q) and a local pool at p", "space": "position-specific",
               "channels": "full mixing", "Ω": "local window, |Ω| ≤ (2·R + 1)^2",
               "border": "reflect padding and zero padding in different terms of K (a tap outside reads its mirror "
                         "image, the edge not repeated; the other terms' windows are clipped to the input)"}),
    ("neighborhood_attention", {"kernel": "dynamic, from pairs (p, q) and a local pool at p", "space": "position-specific",
                                "channels": "full mixing, separable per output channel (a spatial map shared by each "
                                            "block of d output channels ⊗ channel map)",
                                "Ω": "local window, |Ω| ≤ (2·R + 1)^2",
                                "border": "clamped window (the window shifts to stay inside the input; every position "
                                          "sees all K taps)"}),
    ("swin_attention", {"kernel": "dynamic, from pairs (p, q) and a local pool at p", "space": "position-specific",
                        "channels": "full mixing, separable per output channel (a spatial map shared by each block of d "
                                    "output channels ⊗ channel map)", "Ω": "local window, |Ω| ≤ M^2",
                        "border": "fixed windows (non-overlapping tiles; no padding, shifted and wrapping around the "
                                  "input)"}),
    ("shifted_pointwise_conv2d", {"kernel": "static", "space": "shared across space", "channels": "full mixing",
                                  "Ω": "local window, |Ω| ≤ (2·R + 1)^2", "border": "zero padding (window clipped to the input)"}),
    ("avg_pool2d", {"kernel": "static", "space": "shared across space",
                    "channels": "depthwise (output channel o reads input channel o), separable (spatial map ⊗ channel "
                                "map), one kernel shared by all channels"}),
    ("conv2d_replicate", {"kernel": "static", "channels": "grouped (contiguous blocks)",
                          "space": "shared across space away from the border (position-specific where the window "
                                   "leaves the input)",
                          "border": "replicate padding (a tap outside the input reads the nearest edge)"}),
    ("conv2d_reflect", {"kernel": "static", "space": "shared across space away from the border (position-specific "
                                                     "where the window leaves the input)",
                        "border": "reflect padding (a tap outside reads its mirror image, the edge not repeated)"}),
    ("conv2d_circular", {"kernel": "static", "space": "shared across space", "channels": "grouped (contiguous blocks)",
                         "Ω": "local window, |Ω| ≤ K_h·K_w", "border": "circular padding (a tap outside wraps around)"}),
    ("fourier_conv1d", {"kernel": "static", "space": "shared across space", "channels": "full mixing",
                        "Ω": "local window, |Ω| ≤ K", "border": "circular padding (a tap outside wraps around)"}),
    ("mhsa", {"kernel": "dynamic, from pairs (p, q) and a global pool and a local pool at p", "space": "position-specific",
              "channels": "full mixing, a sum of N separable terms (spatial map of a block of d channels ⊗ channel map)",
              "Ω": "global, |Ω| = H·W", "border": "none (global)"}),
    ("cordonnier_attention", {"kernel": "static", "space": "position-specific", "channels": "full mixing",
                              "Ω": "global, |Ω| = H·W", "border": "none (global)"}),
    ("hyperzzw", {"kernel": "dynamic, from positions set by the tap, the same for every p", "space": "shared across space",
                  "channels": "depthwise (output channel o reads input channel o)",   # both branches' δ(c, o), factored
                  "Ω": "local window, |Ω| ≤ P_h·P_w·(2·R + 1)^2",
                  "border": "zero padding (window clipped to the input)"}),
    ("hyperzzw_code", {"kernel": "dynamic, from a global pool and other samples of the batch and positions set by both "
                                 "p and q", "space": "position-specific", "channels": "depthwise",
                       "Ω": "index set, |Ω| ≤ P·(2·R + 1) + 2·R·(2·R + 1)",
                       "border": "none (an index set: Ω(p) is the listed positions inside the input)"}),
    ("gcn", {"kernel": "static", "space": "position-specific", "channels": "full mixing, separable (spatial map ⊗ channel map)",
             "Ω": "global, |Ω| = N", "border": "none (global)",
             "support": "1-hop: K(p, q) = 0 unless A[p, q] ≠ 0 or p = q"}),
    ("spectral_graph_conv", {"kernel": "static", "space": "position-specific", "Ω": "global, |Ω| = N",
                             "channels": "depthwise (output channel o reads input channel o), separable (spatial map ⊗ "
                                         "channel map), one kernel shared by all channels"}),
    ("token_mixing", {"kernel": "static", "space": "position-specific", "Ω": "global, |Ω| = N",
                      "channels": "depthwise (output channel o reads input channel o), separable (spatial map ⊗ "
                                  "channel map), one kernel shared by all channels", "border": "none (global)"}),
    (str(ROOT / "evosym/selftest/operators/gated_conv1d.py"),
     {"kernel": "dynamic, from the centre pixel", "space": "position-specific", "channels": "full mixing"}),
    (str(ROOT / "evosym/selftest/operators/locally_connected1d.py"), {"kernel": "static", "space": "position-specific"}),
    (str(ROOT / "tests/data/operators/pool_gated_conv1d.py"),
     {"kernel": "dynamic, from a global pool", "space": "shared across space"}),
])
def test_properties_are_derived_as_the_spec_says(name, expected):
    p = props(name)
    for key, value in expected.items():
        assert p.get(key) == value, (key, p.get(key))
    assert all("INCONSISTENT" not in item.how and "NOT confirmed" not in item.how for item in p.items)
    assert all("confirmed at" in item.how for item in p.items if item.name in ("kernel", "space", "channels"))


def test_a_batch_averaged_context_shows_in_the_kernel_property(tmp_path):
    """Mutant: HyperZ·Z·W's paper form with the local context averaged over the batch (as the released
    code does) still proves, but sample b's kernel now reads the other samples: the property must say so."""
    src = (ROOT / "derivations/hyperzzw.py").read_text()
    src = src.replace("from . import _hyperkernel", "from evosym.derivations import _hyperkernel")
    src = src.replace("from ._conv import", "from evosym.derivations._conv import")
    src = src.replace("z_bar[b, c, u, v] * w_l[c, u, v]", "sp.Sum(z_bar[a2, c, u, v], (a2, 0, B - 1)) / B * w_l[c, u, v]")
    src = src.replace("local_branch_torch(t, sizes[\"R\"])", "local_branch_torch(t, sizes[\"R\"], batch_mean=True)")
    src = src.replace("B, C, D, R = size(", "a2 = index(\"a_2\")\nB, C, D, R = size(")
    assert src.count("batch_mean=True)") == 1 and src.count("(a2, 0, B - 1)") == 1 and src.count("a2 = index(") == 1
    path = tmp_path / "hyperzzw_batch_mean.py"
    path.write_text(src.replace('name="hyperzzw"', 'name="hyperzzw_batch_mean"'))
    assert "other samples of the batch" in props(str(path)).get("kernel")
    assert "other samples" not in props("hyperzzw").get("kernel")


def test_a_gcn_that_mixes_every_node_is_not_1_hop(tmp_path):
    """Mutant: Â + 1/N (a uniform mixing of all nodes added to the propagation) stays static, global and
    separable, but its kernel reaches pairs that are not neighbours: the support property must say so."""
    src = (ROOT / "derivations/gcn.py").read_text().replace("from ._conv import", "from evosym.derivations._conv import")
    src = src.replace("(A[p, q] + sp.KroneckerDelta(p, q)) / (sp.sqrt(degree[p]) * sp.sqrt(degree[q])),",
                      "(A[p, q] + sp.KroneckerDelta(p, q)) / (sp.sqrt(degree[p]) * sp.sqrt(degree[q])) + 1 / N,")
    src = src.replace("return (s[:, None] * a * s[None, :]) @", "return (s[:, None] * a * s[None, :] + 1 / a.shape[0]) @")
    assert src.count("1 / N,") == 1 and src.count("1 / a.shape[0]") == 1
    path = tmp_path / "gcn_dense.py"
    path.write_text(src.replace('name="gcn"', 'name="gcn_dense"'))
    p = props(str(path))
    assert p.get("support") == "not 1-hop: K reaches pairs with A[p, q] = 0"
    assert p.get("channels") == "full mixing, separable (spatial map ⊗ channel map)"
    assert "support" not in {i.name for i in props("spectral_graph_conv").items}   # no adjacency: it does not apply


def test_a_per_channel_token_mixing_kernel_is_not_shared_by_all_channels(tmp_path):
    """Mutant: token mixing with a weight per channel (W[o, n, m]) stays static, global and depthwise,
    but is no longer one kernel shared by all channels."""
    src = (ROOT / "derivations/token_mixing.py").read_text()
    src = src.replace('W = TensorDecl("W", (N, N)', 'W = TensorDecl("W", (C, N, N)').replace(
        "sp.Sum(W[n, m] * x[b, m, o]", "sp.Sum(W[o, n, m] * x[b, m, o]").replace(
        "from ._conv import _numpy_reference", "from derivations._conv import _numpy_reference").replace(
        'return F.linear(t["x"].transpose(1, 2), t["W"], t["bias"]).transpose(1, 2)',
        'return __import__("torch").einsum("onm,bmo->bno", t["W"], t["x"]) + t["bias"][None, :, None]')
    path = tmp_path / "token_mixing_per_channel.py"
    path.write_text(src.replace('name="token_mixing"', 'name="token_mixing_per_channel"'))
    p = props(str(path))
    assert p.get("channels") == "depthwise (output channel o reads input channel o)"
    assert (p.get("kernel"), p.get("space")) == ("static", "position-specific")


def test_the_border_policy_is_read_off_the_index_map(tmp_path):
    """Mutants of conv2d_reflect's padding map: the mirror with the edge repeated is named symmetric
    padding, and a map that is no padding at all (a shift by one) is reported as unnamed."""
    src = (ROOT / "derivations/conv2d_reflect.py").read_text().replace("from ._conv import", "from derivations._conv import")
    src = src.replace('name="conv2d_reflect"', 'name="conv2d_border_mutant"')   # an operator file's name is its own
    symmetric = "lambda m, L: sp.Min(sp.Max(m, -m - 1), 2 * L - 1 - m)"
    for name, body, want in (("symmetric", symmetric, "symmetric padding (a tap outside reads its mirror image, the edge repeated)"),
                             ("shifted", "lambda m, L: sp.Min(sp.Max(m + 1, 0), L - 1)", "an index map at the border (no named padding)")):
        path = tmp_path / f"conv2d_{name}.py"
        path.write_text(src.replace('padding_mode="reflect")', 'padding_mode="reflect")\n'
                                    f'import sympy as sp\n_F.read = lambda qs: tuple(({body})(m, L) for m, L in zip(qs, _F.L))\n'
                                    '_F.mode = "reflect"', 1))
        assert border_of(str(path)) == want


def border_of(path):
    """The border property of an operator file whose proof may not check (its reference is PyTorch's reflect)."""
    from evosym.analysis.border import border
    from evosym.analysis.properties import Property
    cp = catalogue.load(path).proof().check()
    return border(cp.operator, cp.evolution, Property).value


def test_a_sum_of_separable_terms_is_confirmed_not_assumed(monkeypatch):
    """The head structure is derived symbolically, then confirmed by vanishing minors: a recogniser
    that claimed one term per two heads (rank N/2 instead of N) is refuted by the minors."""
    from evosym.analysis import properties as props_mod
    real = props_mod.head_sum

    def halved(expr, c, o, sizes):
        found = real(expr, c, o, sizes)
        return None if found is None else (found[0], found[1] / 2) + found[2:]
    assert "a sum of N separable terms" in props("mhsa").get("channels")
    monkeypatch.setattr(props_mod, "head_sum", halved)
    assert props_mod.analyse(checked("mhsa")).get("channels") == "full mixing"   # analysed afresh, not the cached card


def test_changing_the_kernel_source_changes_the_table():
    """The centre-pixel gate made a global-pool gate: the kernel's source and its sharing change."""
    centre = props(str(ROOT / "evosym/selftest/operators/gated_conv1d.py"))
    pooled = props(str(ROOT / "tests/data/operators/pool_gated_conv1d.py"))
    assert (centre.get("kernel"), centre.get("space")) != (pooled.get("kernel"), pooled.get("space"))


CONVS = ["conv1d", "conv2d", "conv2d_same", "conv2d_reflect", "conv2d_replicate", "conv2d_circular", "conv3d", "depthwise_conv2d", "pointwise_conv2d", "linear", "involution",
         "dynamic_dwconv", "idynamic_dwconv", "squeeze_excitation", "local_attention", "neighborhood_attention", "swin_attention", "shifted_pointwise_conv2d", "token_mixing", "mhsa", "gcn", "spectral_graph_conv",
         "cordonnier_attention"]


@pytest.mark.parametrize("name", CONVS + ["fourier_conv1d", "acmix_attention", "acmix", "hyperzzw", "hyperzzw_code"])   # (not FLOP-counted: FFTs; ACmix's
# attention is elementwise products and sums, which the counter skips, and its conv_p, which we count as a bias-like map)
def test_parameter_count_matches_the_torch_module(name):
    op = catalogue.load(name).operator
    c = cost(checked(name))
    for config in op.grid:
        env = {k: int(v) for k, v in config.items()}
        module = _torch_module(op, env)
        assert size_value(c.parameters, env) == sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", CONVS)
def test_multiply_adds_match_pytorchs_flop_counter(name):
    op = catalogue.load(name).operator
    c = cost(checked(name))
    for config in op.grid:
        env = {k: int(v) for k, v in config.items()}
        shapes = op.shapes_at(env)
        t = {x.name: torch.randn(shapes[x.name], dtype=torch.float64) for x in op.tensors}
        with FlopCounterMode(display=False) as counter:
            (_mhsa_with_weights if name == "mhsa" else op.torch_reference)(t, {str(k): v for k, v in env.items()})
        assert 2 * size_value(c.macs, env) == counter.get_total_flops(), env


def _mhsa_with_weights(t, sizes):
    """MHSA through ``multi_head_attention_forward`` with need_weights=True: the same arithmetic, but
    the attention is explicit bmm calls (the counter does not count the CPU fused-attention kernel)."""
    import torch.nn.functional as F
    tokens = t["x"].flatten(2).permute(2, 0, 1)
    ch = tokens.shape[-1]
    return F.multi_head_attention_forward(
        tokens, tokens, tokens, ch, sizes["N"], torch.cat([t["WQ"], t["WK"], t["WV"]]),
        torch.cat([t["bQ"], t["bK"], t["bV"]]), None, None, False, 0.0, t["WO"], t["bO"],
        training=False, need_weights=True)[0]


def _torch_module(op, env):
    """The traditional torch module at these sizes, built from the binding's size expressions."""
    names = {str(k): v for k, v in env.items()}
    if op.name == "linear":
        return torch.nn.Linear(names["C"], names["O"])
    if op.name == "token_mixing":   # nn.Linear over the tokens
        return torch.nn.Linear(names["N"], names["N"])
    if op.name in ("involution", "idynamic_dwconv"):   # 1×1 conv, BN, ReLU, 1×1 conv with bias (I-D-DW: both biased)
        C, D, span = names["G"] * names["C_g"], names["D"], names["G"] * (2 * names["R"] + 1) ** 2
        return torch.nn.Sequential(torch.nn.Conv2d(C, D, 1, bias=op.name == "idynamic_dwconv"), torch.nn.BatchNorm2d(D),
                                   torch.nn.ReLU(), torch.nn.Conv2d(D, span, 1))
    if op.name == "squeeze_excitation":   # torchvision SqueezeExcitation: fc1, fc2 (1×1 convs with bias)
        C, D = names["C"], names["D"]
        return torch.nn.Sequential(torch.nn.Conv2d(C, D, 1), torch.nn.ReLU(), torch.nn.Conv2d(D, C, 1))
    if op.name in ("local_attention", "neighborhood_attention", "swin_attention"):   # q, k, v 1×1 convs, no bias (+ rpb)
        C = names["N"] * names["d"]
        K = names["M"] if op.name == "swin_attention" else 2 * names["R"] + 1
        rpb = [torch.nn.Parameter(torch.zeros(names["N"], 2 * K - 1, 2 * K - 1))] if op.name != "local_attention" else []
        return torch.nn.ModuleList([torch.nn.Conv2d(C, C, 1, bias=False) for _ in range(3)] + [torch.nn.ParameterList(rpb)])
    if op.name == "gcn":   # adjacency (N × N, a parameter of the operator: graph libraries pass it as an input), weight, bias
        return torch.nn.ParameterList([torch.zeros(names["N"], names["N"]), torch.zeros(names["C"], names["O"]),
                                       torch.zeros(names["O"])])
    if op.name == "spectral_graph_conv":   # the eigenbasis U (N × N) and the filter g (N)
        return torch.nn.ParameterList([torch.zeros(names["N"], names["N"]), torch.zeros(names["N"])])
    if op.name == "shifted_pointwise_conv2d":   # the K×K convolution it decomposes (no bias)
        return torch.nn.Conv2d(names["C"], names["O"], 2 * names["R"] + 1, bias=False)
    if op.name == "fourier_conv1d":   # the convolution it computes: nn.Conv1d(C, O, K, padding_mode='circular')
        return torch.nn.Conv1d(names["C"], names["O"], names["K"], padding_mode="circular")
    if op.name == "acmix":   # the official module's parameters: conv1-3, conv_p, fc (no bias), dep_conv (bias deleted), rates
        C, d, N = names["C"], names["d"], names["N"]
        dep = torch.nn.Conv2d(9 * d, N * d, 3, groups=d, padding=1, bias=False)
        return torch.nn.ModuleList([torch.nn.Conv2d(C, N * d, 1) for _ in range(3)] + [
            torch.nn.Conv2d(2, d, 1), torch.nn.Conv2d(3 * N, 9, 1, bias=False), dep,
            torch.nn.ParameterList([torch.zeros(1), torch.zeros(1)])])
    if op.name == "acmix_attention":   # q, k, v: 1×1 convs C → N·d with bias; conv_p: 1×1 conv 2 → d with bias
        C, O = names["C"], names["N"] * names["d"]
        return torch.nn.ModuleList([torch.nn.Conv2d(C, O, 1) for _ in range(3)] + [torch.nn.Conv2d(2, names["d"], 1)])
    if op.name == "cordonnier_attention":   # the output projection over the K² concatenated heads, and α
        return torch.nn.ModuleList([torch.nn.Linear((2 * names["R"] + 1) ** 2 * names["C"], names["O"]),
                                    torch.nn.ParameterList([torch.zeros(1)])])
    if op.name.startswith("hyperzzw"):   # two slow nets (Linear2d 2 → D, output_linear D → C) and fast_bias
        F, C = names["D"], names["C"]
        return torch.nn.ModuleList([torch.nn.Conv2d(2, F, 1), torch.nn.Conv2d(F, C, 1), torch.nn.Conv2d(2, F, 1),
                                    torch.nn.Conv2d(F, C, 1), torch.nn.ParameterList([torch.zeros(1)])])
    if op.name == "mhsa":   # nn.MultiheadAttention: in-projection (3C × C, bias) and output projection (bias)
        return torch.nn.MultiheadAttention(names["N"] * names["d"], names["N"])
    if op.name == "dynamic_dwconv":   # DynamicDWConv: the same generator to C·K² values, plus a per-channel bias
        C, D, span = names["C"], names["D"], names["C"] * (2 * names["R"] + 1) ** 2
        return torch.nn.ModuleList([torch.nn.Conv2d(C, D, 1, bias=False), torch.nn.BatchNorm2d(D), torch.nn.ReLU(),
                                    torch.nn.Conv2d(D, span, 1), torch.nn.ParameterList([torch.zeros(C)])])
    dims = len(op.position)
    cls = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}[dims]
    if op.name == "depthwise_conv2d":
        C, M = names["C"], names["M"]
        return cls(C, C * M, (names["K_h"], names["K_w"]), groups=C)
    G, Cg, Og = names["G"], names["C_g"], names["O_g"]
    axes = ["", ] if dims == 1 else (["h", "w"] if dims == 2 else ["d", "h", "w"])
    ks = tuple(names.get(f"K_{a}" if a else "K", 1) for a in axes)
    return cls(G * Cg, G * Og, ks, groups=G, padding="same" if op.name.endswith("_same") else 0)


@pytest.fixture(scope="module")
def table_output():
    """(exit code, stdout) of ``evosym table``, run once for this module: two tests read it."""
    import contextlib
    import io
    from evosym.cli.main import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(["table"])
        except SystemExit as exc:
            rc = exc.code
    return rc, out.getvalue()


def test_table_and_info_commands(capsys, table_output):
    rc, out = table_output
    assert rc == 0
    rows = [line for line in out.splitlines() if line.startswith("| ")][1:]
    assert len(rows) == len(catalogue.catalogue_names())
    assert all(row.replace("\\|", "").count("|") == 10 for row in rows), "a cell broke the table (unescaped |)"
    rc, out, err = run_cli(capsys, "info", "linear")
    assert rc == 0 and "proof: PROVED" in out and "separable" in out and "multiply-adds   B·C·N·O" in out
    rc, out, err = run_cli(capsys, "info", "nope")
    assert rc == 2 and "unknown operator" in err


def test_symbolic_costs_are_expressions_in_the_sizes():
    c = cost(catalogue.checked("conv2d"))
    assert isinstance(c.macs, sp.Expr) and {"B", "G", "C_g", "O_g", "K_h", "K_w"} <= {str(s) for s in c.macs.free_symbols}


def test_docs_table_is_current(table_output):
    """docs/properties.md ends with `evosym table`; regenerate it when the catalogue changes."""
    rc, out = table_output
    assert rc == 0
    doc = (ROOT / "docs" / "properties.md").read_text(encoding="utf-8")
    assert doc.endswith(out), "docs/properties.md is stale: replace its table with the output of `evosym table`"
