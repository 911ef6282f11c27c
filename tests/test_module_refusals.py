"""Generated modules against the official code (issue 27) and their refusals (issue 26).

Every test runs a committed generated module (codegen/torch) in float64 at small shapes: it either
equals the traditional torch module, or refuses with an evosym message that names what is wrong.
"""

from __future__ import annotations

import atexit
import dataclasses
import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import sympy as sp
import torch

from evosym import catalogue
from evosym.codegen.domain import domain_checks
from evosym.codegen.generate import committed_dir, generate
from evosym.codegen.torchexpr import GridCompiler, py_name

F64 = torch.float64


_GENERATED = {}


def load(name):
    """The module of ``name`` generated now (the committed codegen/torch file once regenerated: the golden tests
    compare them), imported from a folder that also holds its kernel artifact (written with ``--kernels``: the
    committed folder has artifacts only where the default path runs the kernels)."""
    if name not in _GENERATED:
        folder = Path(tempfile.mkdtemp(prefix=f"evosym-refusals-{name}-"))
        atexit.register(shutil.rmtree, folder, True)
        gen = generate(name, "torch")
        for file, text in gen.files(kernels=True).items():
            (folder / file).write_text(text, encoding="utf-8")
        _GENERATED[name] = folder
    spec = importlib.util.spec_from_file_location(f"refusals_{name}", _GENERATED[name] / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def kernels_build(name) -> bool:
    """Whether evosym's CPU kernels for ``name`` build here (a C++ compiler): else kernel paths are skipped."""
    try:
        import torch

        from evosym.codegen.artifact import kernels_for
        kernels_for(name).library(torch.device("cpu"))
        return True
    except Exception:
        return False


CONV2D = dict(G=1, C_g=2, O_g=3, K_h=3, s_h=1, delta_h=1, P_h=1, K_w=3, s_w=1, delta_w=1, P_w=1)


# -- 1. nn.MultiheadAttention plugs into from_torch ----------------------------------------------------------------

@pytest.mark.parametrize("batch_first, bias", [(True, True), (False, True), (True, False)])
def test_mhsa_from_multihead_attention_equals_it(batch_first, bias):
    """Also bias=False, taken as zero biases (derivations/_mha_binding.py)."""
    torch.manual_seed(0)
    mha = torch.nn.MultiheadAttention(6, 2, batch_first=batch_first, bias=bias, dtype=F64).eval()
    layer = load("mhsa").MhsaEvolution.from_torch(mha)
    assert layer.q_weight.dtype == F64 and (layer.N, layer.d) == (2, 3)
    x = torch.randn(2, 6, 3, 4, dtype=F64)
    tokens = x.flatten(2).transpose(1, 2) if batch_first else x.flatten(2).permute(2, 0, 1)
    out = mha(tokens, tokens, tokens, need_weights=False)[0]
    want = (out.transpose(1, 2) if batch_first else out.permute(1, 2, 0)).reshape(x.shape)
    for path in ("auto", "generic"):
        torch.testing.assert_close(layer(x, path=path), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("make, words", [
    (lambda: torch.nn.MultiheadAttention(6, 2, kdim=4, vdim=4), "share the embedding size"),
    (lambda: torch.nn.MultiheadAttention(6, 2, add_bias_kv=True), "no extra key/value bias"),
    (lambda: torch.nn.MultiheadAttention(6, 2, add_zero_attn=True), "no zero attention"),
    (lambda: torch.nn.MultiheadAttention(6, 2, dropout=0.1), "dropout 0.1 is active in training mode"),
    (lambda: torch.nn.Linear(6, 6), "expected a torch.nn.MultiheadAttention"),
])
def test_mhsa_from_torch_refuses_what_it_cannot_represent(make, words):
    with pytest.raises((ValueError, TypeError), match=words) as info:
        load("mhsa").MhsaEvolution.from_torch(make())
    assert "weight" not in str(info.value) or "expected" in str(info.value)   # never an AttributeError on m.weight


def test_mhsa_dropout_in_eval_mode_is_accepted():
    mha = torch.nn.MultiheadAttention(6, 2, dropout=0.1).eval()
    assert load("mhsa").MhsaEvolution.from_torch(mha).N == 2


# -- 2. Swin: shift 0, and inputs no larger than the window -------------------------------------------------------

def _swin_tensors(layer, x):
    return {"x": x, "Wq": layer.query_weight, "Wk": layer.key_weight, "Wv": layer.value_weight, "rpb": layer.rpb}


@pytest.mark.parametrize("S, shape", [(0, (2, 4, 4, 6)), (1, (1, 4, 4, 6)), (0, (1, 4, 2, 2))])
def test_swin_shift_zero_is_accepted_and_equals_swin(S, shape):
    torch.manual_seed(1)
    layer = load("swin_attention").SwinAttentionEvolution(N=2, d=2, M=2, S=S, dtype=F64)
    x = torch.randn(shape, dtype=F64)
    ref = catalogue.load("swin_attention").operator.torch_reference
    with torch.no_grad():
        want = ref(_swin_tensors(layer, x), {"N": 2, "d": 2, "M": 2, "S": S})
        torch.testing.assert_close(layer(x, path="generic"), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape, axis", [((1, 4, 2, 4), "T_h"), ((1, 4, 4, 2), "T_w"), ((1, 4, 2, 2), "T_h"),
                                         ((4, 2, 6), "T_h")])
def test_swin_refuses_a_shift_on_an_input_no_larger_than_the_window(shape, axis):
    # Swin's block turns the shift off there: the operator declares S = 0 or T_h, T_w ≥ 2, and the layer and the
    # functional form both refuse (the harness draws no such input: a layer refusing one would be a false failure)
    gen = load("swin_attention")
    layer = gen.SwinAttentionEvolution(N=2, d=2, M=2, S=1, dtype=F64)
    x = torch.randn(shape, dtype=F64)
    args = (x, layer.query_weight, layer.key_weight, layer.value_weight, layer.rpb)
    for path in ("auto", "generic"):
        for run in (lambda: layer(x, path=path), lambda: gen.swin_attention_evolution(*args, N=2, d=2, M=2, S=1, path=path)):
            with pytest.raises(ValueError, match=rf"the proof holds only where S·\({axis} - 2\) ≥ 0 .*got S = 1, {axis} = 1"):
                run()
    assert [str(c) for c in catalogue.load("swin_attention").operator.constraints[1:]] == ["S*(T_h - 2) >= 0",
                                                                                          "S*(T_w - 2) >= 0"]


def test_swin_module_equals_the_operator_wherever_the_harness_draws():
    # SwinAttentionEvolution(M=2, S=1) once refused a 2×2 input the operator's domain allowed: `evosym check` failed
    # evosym's own layer; the domain now holds that input out, and every size the harness draws is computed
    from evosym.testing import assert_equivalent
    gen = load("swin_attention")
    sizes = dict(N=1, d=2, M=2, S=1)
    report = assert_equivalent(gen.SwinAttentionEvolution(**sizes), "swin_attention", sizes=sizes, trials=6)
    drawn = {shape for shape, _, _ in report.trials}
    assert len(report.trials) == 12 and "B=1, M=2, N=1, S=1, T_h=2, T_w=2, d=2" in drawn   # the smallest input: 4×4
    assert not any("T_h=1," in shape or "T_w=1," in shape for shape in drawn)


def test_sizes_follow_their_declared_domain():
    cls = load("swin_attention").SwinAttentionEvolution
    with pytest.raises(ValueError, match="S .* must be an integer ≥ 0"):
        cls(N=1, d=1, M=2, S=-1)
    with pytest.raises(ValueError, match="M .* must be an integer ≥ 1"):
        cls(N=1, d=1, M=0, S=0)
    fn = load("swin_attention").swin_attention_evolution   # the functional form checks them too
    layer = cls(N=1, d=1, M=2, S=0)
    with pytest.raises(ValueError, match="N .* must be an integer ≥ 1"):
        fn(torch.randn(1, 1, 2, 2), layer.query_weight, layer.key_weight, layer.value_weight, layer.rpb,
           N=0, d=1, M=2, S=0)


# -- 3. the functional forms without a bias, on every path --------------------------------------------------------

@pytest.mark.parametrize("name, shape, kw, conv", [
    ("conv1d", (2, 3, 7), dict(G=1, C_g=3, O_g=2, K=3, s=2, delta=1, P=1), lambda x, w: torch.nn.functional.conv1d(x, w, stride=2, padding=1)),
    ("conv2d", (1, 2, 5, 4), CONV2D, lambda x, w: torch.nn.functional.conv2d(x, w, padding=1)),
    ("conv3d", (1, 2, 3, 4, 3), dict(G=1, C_g=2, O_g=2, K_d=2, s_d=1, delta_d=1, P_d=0, K_h=2, s_h=1, delta_h=1, P_h=1,
                                     K_w=1, s_w=1, delta_w=1, P_w=0), lambda x, w: torch.nn.functional.conv3d(x, w, padding=(0, 1, 0))),
])
def test_conv_functional_forms_take_bias_none_on_every_path(name, shape, kw, conv):
    torch.manual_seed(2)
    gen = load(name)
    fn = getattr(gen, f"{name}_evolution")
    layer = getattr(gen, gen.__all__[0])(**kw, dtype=F64)
    x = torch.randn(shape, dtype=F64)
    want = conv(x, layer.weight.detach())
    paths = ("auto", "generic") + (("kernels",) if kernels_build(name) else ())
    for path in paths:
        torch.testing.assert_close(fn(x, layer.weight.detach(), None, **kw, path=path), want, rtol=1e-12, atol=1e-12)
    with pytest.raises(TypeError, match="weight .* is required"):
        fn(x, None, None, **kw)


# -- 3b. PyTorch's padding strings in the functional forms ------------------------------------------------------------

CONV1D_WINDOW = dict(G=1, C_g=3, O_g=2, K=3, s=2, delta=1)
CONV2D_WINDOW = dict(G=2, C_g=1, O_g=2, K_h=3, s_h=1, delta_h=2, K_w=2, s_w=1, delta_w=1)
CONV3D_WINDOW = dict(G=1, C_g=2, O_g=2, K_d=2, s_d=1, delta_d=1, K_h=3, s_h=2, delta_h=1, K_w=1, s_w=1, delta_w=1)
PADDING_CASES = [
    ("conv1d", (2, 3, 9), CONV1D_WINDOW, ("P",), dict(stride=2)),
    ("conv2d", (2, 2, 8, 5), CONV2D_WINDOW, ("P_h", "P_w"), dict(dilation=(2, 1), groups=2)),
    ("conv3d", (1, 2, 4, 7, 3), CONV3D_WINDOW, ("P_d", "P_h", "P_w"), dict(stride=(1, 2, 1))),
]


@pytest.mark.parametrize("name, shape, kw, pads, options", PADDING_CASES, ids=[c[0] for c in PADDING_CASES])
def test_conv_functional_forms_take_padding_valid_as_torch_does(name, shape, kw, pads, options):
    """padding='valid' (no padding) on every padding size equals F.conv*d(padding='valid'), on every path."""
    torch.manual_seed(4)
    gen = load(name)
    fn = getattr(gen, f"{name}_evolution")
    layer = getattr(gen, gen.__all__[0])(**kw, **{P: 0 for P in pads}, dtype=F64)
    w, b = layer.weight.detach(), layer.bias.detach()
    x = torch.randn(shape, dtype=F64)
    want = getattr(torch.nn.functional, name)(x, w, b, padding="valid", **options)
    paths = ("auto", "generic") + (("kernels",) if kernels_build(name) else ())
    for path in paths:
        got = fn(x, w, b, **kw, **{P: "valid" for P in pads}, path=path)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fn(x[0], w, b, **kw, **{P: "valid" for P in pads}), want[0], rtol=1e-12, atol=1e-12)


def test_padding_same_is_taken_where_it_is_one_padding_size():
    """'same' at stride 1 with δ·(K − 1) even pads (δ·(K − 1))/2 on both sides: F.conv2d(padding='same')."""
    torch.manual_seed(5)
    gen = load("conv2d")
    kw = dict(G=1, C_g=2, O_g=3, K_h=3, s_h=1, delta_h=2, K_w=5, s_w=1, delta_w=1)
    layer = gen.Conv2dEvolution(**kw, P_h=0, P_w=0, dtype=F64)
    x = torch.randn(2, 2, 7, 6, dtype=F64)
    want = torch.nn.functional.conv2d(x, layer.weight.detach(), layer.bias.detach(), padding="same", dilation=(2, 1))
    got = gen.conv2d_evolution(x, layer.weight.detach(), layer.bias.detach(), **kw, P_h="same", P_w="same")
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("change, words", [
    (dict(K_w=4, P_w="same"), r"P_w='same' with kernel size 4 and dilation 1 pads 1 before and 2 after, .*the operator "
                              r"conv2d_same implements padding='same'"),
    (dict(s_h=2, P_h="same"), r"P_h='same' needs stride 1 on its axis .*not stride 2"),
    (dict(P_h="full"), r"P_h must be an integer ≥ 0 or PyTorch's padding string 'valid' \(no padding\) or 'same', "
                       r"not 'full'"),
    (dict(P_w="VALID"), r"not 'VALID'"),
    (dict(P_h=1.0), r"P_h \(zero padding along h\) must be an integer"),
])
def test_other_padding_values_are_refused_clearly(change, words):
    gen = load("conv2d")
    kw = {**CONV2D, **change}
    layer = gen.Conv2dEvolution(**{**CONV2D, "K_w": kw["K_w"]}, dtype=F64)
    x = torch.randn(1, 2, 6, 6, dtype=F64)
    with pytest.raises(ValueError, match=words):
        gen.conv2d_evolution(x, layer.weight.detach(), None, **kw)


def test_padding_strings_are_offered_only_for_padding_sizes():
    """A size that also sets the window (involution's radius R: kernel 2R + 1, padding R) takes no padding string;
    a pooling's padding does (avg_pool2d: 'valid' is P = 0)."""
    assert "_padding_string" not in (committed_dir() / "involution.py").read_text(encoding="utf-8")
    gen = load("avg_pool2d")
    x = torch.randn(2, 3, 7, 6, dtype=F64)
    got = gen.avg_pool2d_evolution(x, K_h=3, s_h=2, P_h="valid", K_w=2, s_w=1, P_w="valid")
    torch.testing.assert_close(got, torch.nn.functional.avg_pool2d(x, (3, 2), stride=(2, 1)), rtol=1e-12, atol=1e-12)


# -- 4. the domain where the proof holds -----------------------------------------------------------------------------

def test_acmix_refuses_a_reflection_radius_not_below_the_input():
    torch.manual_seed(3)
    layer = load("acmix").AcmixEvolution(C=2, N=1, d=2, R=3, s=1, dtype=F64)
    for path in ("auto", "generic", "kernels"):   # refused before any kernel is built
        with pytest.raises(ValueError, match=r"the proof holds only where R < W \(a constraint the operator declares\); "
                                             r"got R = 3, W = 3"):
            layer(torch.randn(1, 2, 5, 3, dtype=F64), path=path)   # ReflectionPad2d(3) raises here too
    with pytest.raises(ValueError, match="R < H"):
        layer(torch.randn(1, 2, 3, 5, dtype=F64), path="generic")
    assert layer(torch.randn(1, 2, 5, 4, dtype=F64), path="generic").shape == (1, 2, 5, 4)


def test_reflect_conv_refuses_padding_not_below_the_input_on_every_path():
    gen = load("conv2d_reflect")
    layer = gen.Conv2dReflectEvolution(G=1, C_g=2, O_g=3, K_h=5, s_h=1, P_h=2, K_w=3, s_w=1, P_w=1, dtype=F64)
    x = torch.randn(1, 2, 2, 4, dtype=F64)   # 2P ≤ K − 1 holds; P < H_in does not
    for path in ("auto", "generic"):
        with pytest.raises(ValueError, match="the proof holds only where P_h < H_in"):
            layer(x, path=path)


def _pyx(op):
    return GridCompiler((), {}, {}, {s: py_name(s) for s, _ in op.sizes}).scalar


def test_domain_checks_are_read_from_the_operator_not_written_per_operator():
    op = catalogue.load("acmix_attention").operator
    conds = [c for c, _ in domain_checks(op, _pyx(op))]
    assert "R < H" in conds and "R < W" in conds and "H >= 2" in conds   # declared
    # derived from the reads and divisions, and left out where a declared constraint implies them (W ≥ 2 says
    # W − 1 ≠ 0); without the constraints, each is checked
    assert "(-R) > -(H)" not in conds and "(W - 1) != 0" not in conds
    bare = dataclasses.replace(op, constraints=())
    conds = [c for c, _ in domain_checks(bare, _pyx(bare))]
    assert "(-R) > -(H)" in conds and "(-R) > -(W)" in conds and "(W - 1) != 0" in conds
    assert domain_checks(catalogue.load("conv2d").operator, _pyx(catalogue.load("conv2d").operator)) == []
    swin = catalogue.load("swin_attention").operator     # a declared constraint becomes a check as well
    sizes = dict((str(s), s) for s in swin.size_symbols())
    constrained = dataclasses.replace(swin, constraints=(sp.StrictLessThan(sizes["S"], sizes["M"]),))
    (cond, message), = domain_checks(constrained, _pyx(constrained))
    assert cond == "S < M" and "S < M" in message and "{S}" in message


# -- 6. refusals: path values, kernels that do not exist, sizes beyond the kernels, double backward ----------------

@pytest.mark.parametrize("name", ["conv2d", "involution", "mhsa"])
@pytest.mark.parametrize("path", ["kernel", None, "GENERIC", ""])
def test_unknown_path_values_are_refused(name, path):
    gen = load(name)
    assert gen.PATHS == ("auto", "generic", "kernels")
    with pytest.raises(ValueError, match=r"path must be one of 'auto', 'generic' or 'kernels', not "):
        _call(gen, name, path)


def _call(gen, name, path):
    if name == "conv2d":
        layer = gen.Conv2dEvolution(**CONV2D)
        return layer(torch.randn(1, 2, 4, 4), path=path)
    if name == "involution":
        layer = gen.InvolutionEvolution(G=1, C_g=2, D=1, R=1, s=1)
        return layer(torch.randn(1, 2, 4, 4), path=path)
    layer = gen.MhsaEvolution(N=1, d=2)
    return layer(torch.randn(1, 2, 2, 2), path=path)


def test_mhsa_kernels_path_says_what_is_wrong():
    layer = load("mhsa").MhsaEvolution(N=2, d=3, dtype=F64)
    with pytest.raises(ValueError, match=r"no kernels for this operator: its Ω is every input position") as info:
        layer(torch.randn(1, 6, 2, 3, dtype=F64), path="kernels")
    assert "CUDA" not in str(info.value)


def test_oversized_sizes_are_refused_before_any_allocation():
    gen = load("conv1d")
    with pytest.raises(ValueError, match=r"K .* must be an integer ≥ 1 and < 2\^31"):
        gen.Conv1dEvolution(G=1, C_g=1, O_g=1, K=2 ** 31, s=1, delta=1, P=0)
    layer = gen.Conv1dEvolution(G=1, C_g=1, O_g=1, K=1, s=1, delta=1, P=0)
    x = torch.zeros(1, 1, 1).expand(1, 1, 2 ** 31)   # 2^31 positions, one stored number
    with pytest.raises(ValueError, match=r"sizes below 2\^31, but L_in = 2147483648"):
        layer(x, path="kernels")
    with pytest.raises(ValueError, match="must be an integer ≥ 1 and < 2"):   # the functional form too
        gen.conv1d_evolution(x[..., :3], layer.weight, None, G=1, C_g=1, O_g=1, K=2 ** 40, s=1, delta=1, P=0)


def test_double_backward_on_every_path():
    """gradgradcheck on the generic path and on the generated kernels (when they build: with or without a compiler
    the answer is the same, a second derivative)."""
    torch.manual_seed(4)
    gen = load("conv2d")
    x = torch.randn(1, 2, 4, 3, dtype=F64, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, dtype=F64, requires_grad=True)
    paths = ["generic"] + (["kernels"] if kernels_build("conv2d") else [])
    for path in paths:
        assert torch.autograd.gradgradcheck(lambda x, w: gen.conv2d_evolution(x, w, None, **CONV2D, path=path), (x, w),
                                            fast_mode=True)
    att = load("local_attention")
    layer = att.LocalAttentionEvolution(N=1, d=2, R=1, dtype=F64)
    ws = [p.detach().requires_grad_() for p in (layer.query_weight, layer.key_weight, layer.value_weight)]
    xa = torch.randn(1, 2, 2, 3, dtype=F64, requires_grad=True)
    paths = ["generic"] + (["kernels"] if kernels_build("local_attention") else [])
    for path in paths:
        assert torch.autograd.gradgradcheck(
            lambda x, *w: att.local_attention_evolution(x, *w, N=1, d=2, R=1, path=path), (xa, *ws), fast_mode=True)


def test_double_backward_through_the_fused_attention_kernels():
    """The fused attention (CUDA kernels; here their emulated host build) recomputes its backward as separate,
    twice differentiable kernel calls under create_graph."""
    from evosym.runtime.aggregate import host_backend
    if not kernels_build("local_attention"):
        pytest.skip("no C++ compiler: the emulated CUDA source cannot be built")
    att = load("local_attention")
    torch.manual_seed(5)
    layer = att.LocalAttentionEvolution(N=1, d=2, R=1, dtype=F64)
    ws = [p.detach().requires_grad_() for p in (layer.query_weight, layer.key_weight, layer.value_weight)]
    x = torch.randn(1, 2, 3, 3, dtype=F64, requires_grad=True)
    with host_backend("emulated"):
        assert torch.autograd.gradgradcheck(
            lambda x, *w: att.local_attention_evolution(x, *w, N=1, d=2, R=1, path="kernels"), (x, *ws), fast_mode=True)


# -- the banner of a module generated from an operator file ---------------------------------------------------------

def test_banner_names_the_operator_file_as_given(monkeypatch):
    root = committed_dir().parent.parent
    monkeypatch.chdir(root)
    path = "tests/data/operators/shift1d.py"
    gen = generate(path)
    assert f"# Regenerate: evosym codegen {path} --target torch" in gen.source.splitlines()[2]
    assert generate("conv1d").source.splitlines()[2].startswith("# Regenerate: evosym codegen conv1d ")


# -- 5. a generator-based module from its official layout (template support; the binding belongs in the operator) --

_SCALE = "(m[1].weight / torch.sqrt(m[1].running_var + m[1].eps))"
INVOLUTION_SEQUENTIAL = {   # what derivations/involution.py can declare as its torch_binding
    "module": "torch.nn.Sequential",
    "arguments": ["R", "s"],   # the generator does not carry the window: its radius and stride are given
    "requires": [
        ("len(m) == 4 and isinstance(m[0], torch.nn.Conv2d) and isinstance(m[1], torch.nn.BatchNorm2d) and "
         "isinstance(m[2], torch.nn.ReLU) and isinstance(m[3], torch.nn.Conv2d)",
         "the generator is Sequential(Conv2d, BatchNorm2d, ReLU, Conv2d)"),
        ("m[0].kernel_size == (1, 1) and m[3].kernel_size == (1, 1) and m[0].groups == 1 and m[3].groups == 1 "
         "and m[0].stride == (1, 1) and m[3].stride == (1, 1)", "both convolutions are 1×1, stride 1, groups 1"),
        ("m[0].bias is None and m[3].bias is not None", "the reduction has no bias and the span has one"),
        ("not m[1].training", "the BatchNorm is in eval mode (its batch statistics would make K depend on the batch: "
         "call .eval())"),
        ("m[1].affine and m[1].running_var is not None", "the BatchNorm is affine and tracks running statistics"),
        ("m[3].out_channels % (2 * R + 1) ** 2 == 0 and m[0].in_channels % (m[3].out_channels // (2 * R + 1) ** 2) == 0",
         "the span's outputs are G·K² kernel values, G dividing the channels"),
    ],
    "sizes": {"G": "m[3].out_channels // (2 * R + 1) ** 2",
              "C_g": "m[0].in_channels // (m[3].out_channels // (2 * R + 1) ** 2)",
              "D": "m[0].out_channels", "R": "R", "s": "s"},
    "tensors": {"W1": "m[0].weight[:, :, 0, 0]", "gamma": _SCALE, "beta": f"m[1].bias - m[1].running_mean * {_SCALE}",
                "W2": "m[3].weight[:, :, 0, 0]", "b2": "m[3].bias"},
}


def _official_involution(gen, x, K, G):
    """Involution's official forward (d-li14/involution) at stride 1: kernels from the generator, unfold, sum."""
    B, C, H, W = x.shape
    weight = gen(x).view(B, G, 1, K * K, H, W)
    patches = torch.nn.functional.unfold(x, K, padding=(K - 1) // 2).view(B, G, C // G, K * K, H, W)
    return (weight * patches).sum(dim=3).view(B, C, H, W)


def test_involution_from_its_official_generator_layout():
    from evosym.codegen.check import load_source
    from evosym.codegen.plan import make_plan
    from evosym.codegen.render import render_torch
    cp = catalogue.checked("involution")
    source = render_torch(make_plan(cp), INVOLUTION_SEQUENTIAL)
    cls = load_source(source, "involution").InvolutionEvolution
    torch.manual_seed(6)
    gen = torch.nn.Sequential(torch.nn.Conv2d(4, 3, 1, bias=False), torch.nn.BatchNorm2d(3), torch.nn.ReLU(),
                              torch.nn.Conv2d(3, 2 * 9, 1)).double()
    with torch.no_grad():   # running statistics and an affine map that are not the identity
        gen[1].running_mean.uniform_(-0.5, 0.5), gen[1].running_var.uniform_(0.5, 2.0)
        gen[1].weight.uniform_(0.5, 1.5), gen[1].bias.uniform_(-0.5, 0.5)
    with pytest.raises(ValueError, match="the BatchNorm is in eval mode"):
        cls.from_torch(gen, R=1, s=1)
    gen.eval()
    layer = cls.from_torch(gen, R=1, s=1)
    assert (layer.G, layer.C_g, layer.D) == (2, 2, 3)
    x = torch.randn(2, 4, 5, 6, dtype=F64)
    torch.testing.assert_close(layer(x, path="generic"), _official_involution(gen, x, 3, 2), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=r"Sequential\(Conv2d, BatchNorm2d, ReLU, Conv2d\)"):
        cls.from_torch(torch.nn.Sequential(torch.nn.Conv2d(4, 3, 1, bias=False), torch.nn.ReLU()), R=1, s=1)


@pytest.mark.parametrize("name, args, sizes, at", [
    ("conv2d", lambda: (torch.randn(1, 2, 5, 5, dtype=F64), [[[[0.0]]]] * 2, None),
     dict(G=1, C_g=2, O_g=2, K_h=1, K_w=1, s_h=1, s_w=1, delta_h=1, delta_w=1, P_h=0, P_w=0), 1),
    ("gqa_cross_attention", lambda: (torch.randn(1, 4, 3, dtype=F64), torch.randn(1, 5, 2, dtype=F64),
                                     torch.randn(1, 5, 2, dtype=F64)) + tuple(
        torch.zeros(s, dtype=F64) for s in ((4, 4), (4,), (2, 5), (2,), (2, 5), (2,), (4, 4), (4,))),
     dict(N_kv=1, G=2, d=2, C_k=5, C_v=5), 5),
])
def test_a_parameter_that_is_not_a_tensor_is_a_type_error(name, args, sizes, at):
    """A list (or any non-tensor) passed as a parameter is a TypeError naming it, as for the inputs (review finding:
    an AttributeError from reading its shape)."""
    fn = getattr(load(name), f"{name}_evolution")
    values = list(args())
    values[at] = [[0.0] * 2] * 2
    with pytest.raises(TypeError, match=r"must be a torch\.Tensor, not list"):
        fn(*values, **sizes)


class _StandardisedConv2d(torch.nn.Conv2d):   # weight standardisation in forward (timm's StdConv2d)
    def forward(self, x):
        w = (self.weight - self.weight.mean((1, 2, 3), keepdim=True)) / self.weight.std((1, 2, 3), keepdim=True)
        return torch.nn.functional.conv2d(x, w, self.bias, self.stride, self.padding)


class _ConvForward(torch.nn.Conv2d):          # what forward calls, redefined
    def _conv_forward(self, x, w, b):
        return super()._conv_forward(x, 2 * w, b)


class _Pool(torch.nn.AvgPool2d):
    def forward(self, x):
        return 2 * super().forward(x)


class _Attention(torch.nn.MultiheadAttention):
    def forward(self, *args, **kwargs):
        y, w = super().forward(*args, **kwargs)
        return 0.5 * y, w


class _Named(torch.nn.Conv2d):                # a subclass that only adds an attribute computes as Conv2d
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tag = "mine"


def _hooked(m, pre=False):
    (m.register_forward_pre_hook(lambda mod, args: (2 * args[0],)) if pre
     else m.register_forward_hook(lambda mod, args, out: 2 * out))
    return m


def _instance_forward(m):
    m.forward = lambda x: 2 * torch.nn.Conv2d.forward(m, x)
    return m


def _set_on(m, name):
    original = getattr(m, name)
    setattr(m, name, lambda *a, **k: 2 * original(*a, **k) if original is not None else 2 * m.forward(*a, **k))
    return m


def _backward_hooked(m):
    m.register_full_backward_hook(lambda mod, gin, gout: (2 * gin[0],))
    return m


def _weight_hooked(m):
    m.weight.register_hook(lambda g: 0 * g)
    return m


class _TracedParameter(torch.nn.Parameter):   # a tensor subclass: its __torch_function__ sees every operation
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return super().__torch_function__(func, types, args, kwargs or {})


def _subclass_weight(m):
    m.weight = _TracedParameter(m.weight.detach().clone())
    return m


def _drop_connect(m):
    import torch.nn.utils.parametrize as parametrize
    parametrize.register_parametrization(m, "weight", torch.nn.Dropout(0.5))
    return m.train()


@pytest.mark.parametrize("make, words", [
    (lambda: _StandardisedConv2d(2, 3, 3), "redefines forward of torch.nn.modules.conv.Conv2d"),
    (lambda: _ConvForward(2, 3, 3), "redefines _conv_forward"),
    (lambda: torch.ao.nn.qat.Conv2d(2, 3, 3, qconfig=torch.ao.quantization.get_default_qat_qconfig()),
     "torch.ao.nn.qat.modules.conv.Conv2d, which redefines"),
    (lambda: _hooked(torch.nn.Conv2d(2, 3, 3)), "has hooks"),
    (lambda: _hooked(torch.nn.Conv2d(2, 3, 3), pre=True), "has hooks"),
    (lambda: _instance_forward(torch.nn.Conv2d(2, 3, 3)), "has forward set on it"),
    (lambda: _set_on(torch.nn.Conv2d(2, 3, 3), "_conv_forward"), "_conv_forward set on it"),
    (lambda: _set_on(torch.nn.Conv2d(2, 3, 3), "_call_impl"), "_call_impl set on it"),
    (lambda: _set_on(torch.nn.Conv2d(2, 3, 3), "_compiled_call_impl"), "_compiled_call_impl set on it"),
    (lambda: _backward_hooked(torch.nn.Conv2d(2, 3, 3)), "has hooks"),
    (lambda: _weight_hooked(torch.nn.Conv2d(2, 3, 3)), "has hooks"),
    (lambda: _subclass_weight(torch.nn.Conv2d(2, 3, 3)), "holds a _TracedParameter"),
    (lambda: _drop_connect(torch.nn.Conv2d(2, 3, 3)), "parametrized weight changes from one read to the next"),
], ids=["subclass-forward", "subclass-conv-forward", "qat", "hook", "pre-hook", "instance-forward", "instance-conv-forward",
        "instance-call-impl", "instance-compiled", "backward-hook", "weight-hook", "tensor-subclass", "drop-connect"])
def test_from_torch_refuses_a_layer_that_computes_otherwise(make, words):
    """from_torch copies weights: a torch layer whose forward is not its torch class's (a subclass redefining forward
    or what it calls, fake-quantised QAT weights, forward hooks, a forward set on the instance) computed otherwise
    than the copy (standardised weights: off by 13 on an adversarial pass) and is refused, saying why; the same
    module without it is taken and equal."""
    from evosym.coverage import conv as C
    m = make().double()
    with pytest.raises(ValueError, match=words):
        load("conv2d").Conv2dEvolution.from_torch(m)
    with pytest.raises(ValueError, match=words):
        C.from_torch(m)
    plain = torch.nn.Conv2d(2, 3, 3, dtype=F64)
    state = m.state_dict()
    plain.load_state_dict({"weight": state.get("weight", state.get("parametrizations.weight.original")),
                           "bias": state["bias"]})
    x = torch.randn(1, 2, 5, 5, dtype=F64)
    torch.testing.assert_close(load("conv2d").Conv2dEvolution.from_torch(plain)(x), plain(x), rtol=1e-12, atol=1e-12)


def test_from_torch_refuses_pooling_and_attention_layers_that_compute_otherwise():
    """The same rule for every binding: a pooling subclass, an nn.MultiheadAttention subclass (also through the
    routed multihead_attention, with appended keys too), a global forward hook."""
    from evosym.coverage import attention as at
    from evosym.coverage import pooling as P
    with pytest.raises(ValueError, match="redefines forward of torch.nn.modules.pooling.AvgPool2d"):
        P.from_torch(_Pool(2))
    x = torch.randn(2, 3, 4, dtype=F64)
    for kw in ({}, {"add_bias_kv": True}):
        m = _Attention(4, 2, batch_first=True, dtype=F64, **kw).eval()
        with pytest.raises(ValueError, match="redefines forward of torch.nn.modules.activation.MultiheadAttention"):
            at.multihead_attention(m, x, x, x, need_weights=False)
    with pytest.raises(ValueError, match="redefines forward"):
        load("mhsa").MhsaEvolution.from_torch(_Attention(4, 2, dtype=F64))
    handle = torch.nn.modules.module.register_module_forward_hook(lambda mod, args, out: out)
    try:
        with pytest.raises(ValueError, match="global module hooks"):
            load("conv2d").Conv2dEvolution.from_torch(torch.nn.Conv2d(2, 3, 3))
    finally:
        handle.remove()
    forward = torch.nn.Conv2d.forward   # torch's own method replaced in this process
    torch.nn.Conv2d.forward = lambda self, x: 2 * forward(self, x)
    try:
        with pytest.raises(ValueError, match="runs Conv2d.forward from outside torch"):
            load("conv2d").Conv2dEvolution.from_torch(torch.nn.Conv2d(2, 3, 3))
    finally:
        torch.nn.Conv2d.forward = forward


def test_from_torch_takes_a_subclass_that_computes_as_its_class_and_a_parametrized_weight():
    """A subclass that only adds attributes, and a weight computed by torch.nn.utils.parametrize (read as the layer
    reads it): taken, and equal to the layer."""
    import torch.nn.utils.parametrize as parametrize

    class Half(torch.nn.Module):
        def forward(self, w):
            return 0.5 * w
    x = torch.randn(1, 2, 5, 5, dtype=F64)
    spectral = torch.nn.utils.parametrizations.spectral_norm(torch.nn.Conv2d(2, 3, 3, dtype=F64)).eval()
    weight_norm = torch.nn.utils.parametrizations.weight_norm(torch.nn.Conv2d(2, 3, 3, dtype=F64))
    for m in (_Named(2, 3, 3, dtype=F64), torch.nn.Conv2d(2, 3, 3, dtype=F64), spectral, weight_norm):
        if type(m) is torch.nn.Conv2d:
            parametrize.register_parametrization(m, "weight", Half())
        torch.testing.assert_close(load("conv2d").Conv2dEvolution.from_torch(m)(x), m(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, role", [("conv2d", "x"), ("mhsa", "x"), ("conv2d", "weight"),
                                        ("mhsa_key_padding", "mask"), ("linear", "x")])
@pytest.mark.parametrize("kind", ["nested", "sparse"])
def test_nested_and_sparse_tensors_are_refused_clearly(name, role, kind):
    """A nested tensor as an input was an internal RuntimeError (NestedTensorImpl has no sizes); a sparse one
    reached the native call. Both are refused by name with a ValueError, as PyTorch's layers refuse them."""
    from evosym.coverage.modules import generated, module_class
    if kind == "nested" and role == "weight":
        pytest.skip("an nn.Parameter cannot hold a nested tensor")
    mod = generated(name)
    sizes = {"conv2d": dict(G=1, C_g=2, O_g=2, K_h=1, s_h=1, delta_h=1, P_h=0, K_w=1, s_w=1, delta_w=1, P_w=0),
             "mhsa": dict(N=2, d=2), "mhsa_key_padding": dict(N=2, d=2), "linear": dict(C=4, O=3)}[name]
    layer = module_class(mod)(**sizes)
    shape = {"conv2d": (1, 2, 3, 3), "mhsa": (1, 4, 2, 3), "mhsa_key_padding": (1, 4, 5), "linear": (1, 5, 4)}[name]
    odd = (lambda t: torch.nested.nested_tensor([t[0], t[0]])) if kind == "nested" else (lambda t: t.to_sparse())
    args = [torch.randn(*shape)] + ([torch.ones(1, 5)] if name == "mhsa_key_padding" else [])
    if role == "x":
        args[0] = odd(args[0])
    elif role == "mask":
        args[1] = odd(args[1])
    else:
        layer.weight = torch.nn.Parameter(odd(layer.weight.detach()))
    with pytest.raises(ValueError, match="must be a dense tensor"):
        layer(*args)


@pytest.mark.parametrize("kind", ["nested", "jagged", "sparse_csr", "mkldnn"])
@pytest.mark.parametrize("name", ["linear", "mhsa", "conv2d", "dirichlet_conv"])
def test_unbatched_and_divisor_inputs_of_other_layouts_are_refused_clearly(name, kind):
    """The second adversarial pass: an unbatched nested/sparse/mkldnn x reached unsqueeze (a raw error) before the
    checks, and dirichlet_conv's own checks had no layout test at all (raw errors on both paths)."""
    from evosym.coverage.modules import generated, module_class
    sizes = {"linear": dict(C=4, O=3), "mhsa": dict(N=2, d=2), "dirichlet_conv": dict(C=4, N=6),
             "conv2d": dict(G=1, C_g=4, O_g=2, K_h=1, s_h=1, delta_h=1, P_h=0, K_w=1, s_w=1, delta_w=1, P_w=0)}[name]
    layer = module_class(generated(name))(**sizes)
    unbatched = {"linear": (6, 4), "mhsa": (4, 3, 3), "conv2d": (4, 3, 3), "dirichlet_conv": (2, 4, 6)}[name]
    dense = torch.randn(*unbatched)
    odd = {"nested": lambda t: torch.nested.nested_tensor([t, t]) if name == "dirichlet_conv" else
           torch.nested.nested_tensor(list(t)),
           "jagged": lambda t: torch.nested.nested_tensor(list(t), layout=torch.jagged),
           "sparse_csr": lambda t: t.to_sparse_csr() if t.dim() == 2 else t.to_sparse(),
           "mkldnn": lambda t: t.to_mkldnn()}[kind](dense)
    for path in ("auto", "generic"):
        with pytest.raises(ValueError, match="must be a dense tensor"):
            layer(odd, path=path)
