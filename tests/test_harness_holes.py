"""assert_equivalent against candidates that fooled it: a copy only when the last axis is strided (B1), a bug hidden by
constant or zero weights (B2), a wrong scale or sign in a half precision (B3), and arguments checked up front (C4).
Each in process and, where it matters, in the candidate's own process ("MODULE:ATTR")."""

from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from evosym.errors import EvosymError
from evosym.testing import assert_equivalent
from evosym.testing.layouts import LAYOUTS, laid_out
from evosym.testing.redraw import redraw
from evosym.testing.setup import proven


def _row_major(shape):
    s, out = 1, []
    for n in reversed(shape):
        out.append(s)
        s *= n
    return tuple(reversed(out))


class StrideConv2d(nn.Conv2d):
    """Copies only when the last axis is not unit-stride, then reads the storage row-major."""

    def forward(self, x):
        if x.stride(-1) != 1:
            x = x.contiguous()
        x = x.as_strided(x.shape, _row_major(x.shape), x.storage_offset())
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class StrideConv1d(nn.Conv1d):
    def forward(self, x):
        if x.stride(-1) != 1:
            x = x.contiguous()
        x = x.as_strided(x.shape, _row_major(x.shape), x.storage_offset())
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class ChannelsLastBug(nn.Conv2d):
    """A channels_last fast path that reads the buffer as (B, C, H, W)."""

    def forward(self, x):
        if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
            x = x.permute(0, 2, 3, 1).contiguous().view(x.shape)
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class LayoutAware(nn.Conv2d):
    """Honest: any layout, made contiguous when it is not."""

    def forward(self, x):
        x = x if x.is_contiguous() else x.contiguous()
        x = x.as_strided(x.shape, _row_major(x.shape), x.storage_offset())
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


def _fails(candidate, operator, *needles, **kw):
    with pytest.raises(AssertionError) as info:
        assert_equivalent(candidate, operator, **kw)
    for needle in needles:
        assert needle in str(info.value), str(info.value)
    return str(info.value)


# ---- B1: layouts whose last axis is unit-stride

def test_layouts_keep_values_and_are_not_contiguous():
    x = torch.randn(2, 3, 5, 4, dtype=torch.float64)
    for layout in LAYOUTS:
        v = laid_out(x, layout)
        assert torch.equal(v, x) and not v.is_contiguous(), layout
    assert laid_out(x, "sliced").stride(-1) == 1
    assert laid_out(x, "permuted").is_contiguous(memory_format=torch.channels_last)
    assert laid_out(torch.randn(3, 4), "permuted").t().is_contiguous()
    assert laid_out(torch.randn(7), "sliced").stride(-1) == 2


@pytest.mark.parametrize("candidate, operator, layout", [
    (StrideConv2d(4, 6, 3, padding=1, groups=2), "conv2d", "along an earlier axis"),
    (StrideConv1d(4, 6, 3, padding=1), "conv1d", "along an earlier axis"),
    (ChannelsLastBug(3, 4, 3, padding=1), "conv2d", "channels_last"),
])
def test_unit_stride_layouts_catch_a_storage_reader(candidate, operator, layout):
    _fails(candidate, operator, "wrong only on non-contiguous inputs", layout, trials=1, dtypes=(torch.float64,))


def test_a_layout_aware_candidate_passes():
    assert_equivalent(LayoutAware(4, 6, 3, padding=1, groups=2), "conv2d", trials=1, dtypes=(torch.float64,))


def test_unit_stride_layouts_in_the_candidates_process(tmp_path, monkeypatch):
    (tmp_path / "stridecand.py").write_text(inspect.getsource(_row_major) + "\nimport torch\nimport torch.nn.functional "
                                            "as F\nfrom torch import nn\n\n" + inspect.getsource(StrideConv2d)
                                            + "\n\ndef make():\n    return StrideConv2d(4, 6, 3, padding=1, groups=2)\n")
    monkeypatch.chdir(tmp_path)
    _fails("stridecand:make", "conv2d", "wrong only on non-contiguous inputs", "along an earlier axis", trials=1,
           dtypes=(torch.float64,))


class ChunkBug(nn.Conv2d):
    """Reads the input's storage from its first entry with batch stride C·stride(1): right on any layout but a slice
    of a wider tensor (torch.chunk along the channels) or one that starts past offset 0 (a second pass)."""

    def forward(self, x):
        n, c, h, w = x.shape
        flat = torch.empty(0, dtype=x.dtype).set_(x.untyped_storage(), 0, (n, c, h, w),
                                                  (c * x.stride(1), x.stride(1), x.stride(2), x.stride(3)))
        if x.requires_grad:
            flat = flat + (x - x.detach())
        return F.conv2d(flat, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


def test_a_channel_slice_at_an_offset_catches_a_storage_reader():
    x = torch.randn(2, 3, 5, 4, dtype=torch.float64)
    v = laid_out(x, "sliced")
    assert v.storage_offset() > 0 and v.stride(0) != x.shape[1] * v.stride(1) and v.stride(-1) == 1
    _fails(ChunkBug(3, 4, 3, padding=1), "conv2d", "wrong only on non-contiguous inputs", "from an offset",
           trials=2, dtypes=(torch.float64,))


# ---- B2: weights redrawn at random

class FlippedConv2d(nn.Conv2d):
    """A true convolution (kernel flipped) and channel 0's bias everywhere: hidden by constant weights."""

    def forward(self, x):
        return F.conv2d(x, self.weight.flip(-1, -2), None, self.stride, self.padding, self.dilation,
                        self.groups) + self.bias[0]


class Zero(nn.Conv2d):
    """Ignores x: hidden by zero-initialised weights."""

    def forward(self, x):
        n, _, h, w = x.shape
        return torch.zeros(n, self.out_channels, h, w, dtype=x.dtype) + 0 * x.sum() * self.weight.sum()


class TransposedKernel(nn.Conv2d):
    """Reads the kernel transposed (K_h and K_w exchanged): hidden by a symmetric kernel."""

    def forward(self, x):
        return F.conv2d(x, self.weight.transpose(-1, -2), self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


def flipped():
    m = FlippedConv2d(4, 6, 3, padding=1, groups=2)
    with torch.no_grad():
        m.weight.fill_(0.1)
        m.bias.fill_(0.5)
    return m


def zero():
    m = Zero(4, 6, 3, padding=1, groups=2)
    nn.init.zeros_(m.weight)
    nn.init.zeros_(m.bias)
    return m


def symmetric():
    m = TransposedKernel(3, 4, 3, padding=1)
    with torch.no_grad():
        m.weight.copy_(m.weight + m.weight.transpose(-1, -2))
    return m


class WideFlip(nn.Conv2d):
    """Flips its kernel on inputs wider than 12 only: hidden at its own box-filter weights (a second pass)."""

    def forward(self, x):
        return F.conv2d(x, self.weight.flip(-1, -2) if x.shape[-1] > 12 else self.weight, self.bias, self.stride,
                        self.padding, self.dilation, self.groups)


class Clamped(nn.Conv2d):
    """Clamps its weights to PyTorch's initial range ±1/√fan_in: the redraw must reach past it (a second pass)."""

    def forward(self, x):
        b = self.weight[0].numel() ** -0.5
        return F.conv2d(x, self.weight.clamp(-b, b), self.bias, self.stride, self.padding, self.dilation, self.groups)


def wide_flip():
    m = WideFlip(2, 2, 3, padding=1)
    with torch.no_grad():
        m.weight.fill_(1 / 18)
    return m


def clamped():
    return Clamped(3, 4, 3, padding=1)


@pytest.mark.parametrize("make, trials", [(flipped, 1), (zero, 1), (symmetric, 1), (wide_flip, 4), (clamped, 1)])
def test_bugs_hidden_by_their_weights_fail_at_redrawn_weights(make, trials):
    _fails(make(), "conv2d", "at randomly drawn weights", "it agrees at its own weights", trials=trials,
           dtypes=(torch.float64,))


def test_the_opt_out_compares_at_the_candidates_weights_only():
    assert_equivalent(flipped(), "conv2d", trials=1, dtypes=(torch.float64,), random_weights=False)


class Scaled(nn.Conv2d):
    """A frozen scale (structure, requires_grad=False): kept by the redraw."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.scale = nn.Parameter(torch.ones(()), requires_grad=False)

    def forward(self, x):
        return super().forward(x) * self.scale


class WeightNormed(nn.Module):
    """A reparametrised weight (g·v/‖v‖), the operator's weight a function of it."""

    def __init__(self):
        super().__init__()
        self.v = nn.Parameter(torch.randn(6, 4, 3, 3))
        self.g = nn.Parameter(torch.ones(6, 1, 1, 1))
        self.b = nn.Parameter(torch.zeros(6))

    def weight(self):
        return self.g * self.v / self.v.flatten(1).norm(dim=1).view(-1, 1, 1, 1)

    def forward(self, x):
        return F.conv2d(x, self.weight(), self.b, padding=1)


SIZES = dict(G=1, C_g=4, O_g=6, K_h=3, K_w=3, s_h=1, s_w=1, delta_h=1, delta_w=1, P_h=1, P_w=1)


@pytest.mark.parametrize("candidate, kw", [
    (Scaled(4, 6, 3, padding=1, groups=2), {}),
    (WeightNormed(), {"sizes": SIZES, "weights": {"weight": lambda m: m.weight(), "bias": "b"}}),
])
def test_structured_parameters_pass_at_redrawn_weights(candidate, kw):
    assert_equivalent(candidate, "conv2d", trials=1, dtypes=(torch.float64,), gradients=True, **kw)


def test_weights_given_as_tensors_are_not_redrawn():
    m = nn.Conv2d(4, 6, 3, padding=1, groups=2)
    report = assert_equivalent(m, "conv2d", trials=1, dtypes=(torch.float64,), weights={"weight": m.weight.detach().clone()})
    assert report.redrawn == [] and len(report.trials) == 1


def test_redraw_is_seeded_and_keeps_frozen_parameters():
    a, b = Scaled(4, 6, 3, padding=1), Scaled(4, 6, 3, padding=1)
    assert len(redraw(a, 3)) == 2 and len(redraw(b, 3)) == 2 and redraw(lambda x: x, 3) == []
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias) and float(a.scale) == 1.0


def test_redrawn_weights_in_the_candidates_process(tmp_path, monkeypatch):
    (tmp_path / "constcand.py").write_text("import torch\nimport torch.nn.functional as F\nfrom torch import nn\n\n"
                                           + inspect.getsource(FlippedConv2d) + "\n\n" + inspect.getsource(flipped))
    monkeypatch.chdir(tmp_path)
    _fails("constcand:flipped", "conv2d", "at randomly drawn weights", trials=1, dtypes=(torch.float64,))
    assert_equivalent("constcand:flipped", "conv2d", trials=1, dtypes=(torch.float64,), random_weights=False)


# the harness draws the weights and hands them over: a candidate's process that keeps its own is caught
_KEEPS = {
    "assign skipped": "def _assign(self, head, data):\n    self.candidate, self.pending = self.pending, None\n"
                      "    return {'count': 2}, []\n\nsys.modules['__main__'].Side._assign = _assign\n",
    "assign reverted": "_own = sys.modules['__main__'].Side._assign\n\ndef _assign(self, head, data):\n"
                       "    kept = {k: v.detach().clone() for k, v in self.pending.state_dict().items()}\n"
                       "    reply = _own(self, head, data)\n    self.candidate.load_state_dict(kept)\n    return reply\n\n"
                       "sys.modules['__main__'].Side._assign = _assign\n",
    "values replaced": "def _assign(self, head, data):\n    return _own(self, head, {k: 0.1 + 0 * v for k, v in data.items()})"
                       "\n\n_own = sys.modules['__main__'].Side._assign\nsys.modules['__main__'].Side._assign = _assign\n",
    "redraw of its own": "def _assign(self, head, data):\n    torch.manual_seed(5)\n"
                         "    return _own(self, head, {k: torch.rand(v.shape).numpy() for k, v in data.items()})\n\n"
                         "_own = sys.modules['__main__'].Side._assign\nsys.modules['__main__'].Side._assign = _assign\n",
}


@pytest.mark.parametrize("how", sorted(_KEEPS))
def test_a_candidates_process_that_keeps_its_own_weights_is_caught(tmp_path, monkeypatch, how):
    """Its process replaces evosym's handling of the redraw (it can: the process is the candidate's): the weights
    read back are compared with those the harness drew, so the comparison at its own (constant) weights is not
    taken for one at random weights."""
    (tmp_path / "keeps.py").write_text("import sys\nimport torch\nimport torch.nn.functional as F\nfrom torch import nn"
                                       "\n\n" + inspect.getsource(FlippedConv2d) + "\n\n" + inspect.getsource(flipped)
                                       + "\n\n" + _KEEPS[how])
    monkeypatch.chdir(tmp_path)
    _fails("keeps:flipped", "conv2d", "did not take the weights the harness drew", "weight", trials=1,
           dtypes=(torch.float64,))


class Stashed(nn.Conv2d):
    """Computes with a copy of its initial weights kept aside (not a parameter): its parameters take the drawn
    values, its output does not follow them."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.kept = (self.weight.detach().clone(), self.bias.detach().clone())

    def forward(self, x):
        return F.conv2d(x, self.kept[0].to(x.dtype), self.kept[1].to(x.dtype), self.stride, self.padding, self.dilation, self.groups)


def stashed():
    torch.manual_seed(0)
    return Stashed(4, 6, 3, padding=1, groups=2)


@pytest.mark.parametrize("where", ["process", "own process"])
def test_a_candidate_computing_with_weights_kept_aside_fails_at_drawn_weights(tmp_path, monkeypatch, where):
    if where == "process":
        candidate = stashed()
    else:
        (tmp_path / "stash.py").write_text("import torch\nimport torch.nn.functional as F\nfrom torch import nn\n\n"
                                           + inspect.getsource(Stashed) + "\n\n" + inspect.getsource(stashed))
        monkeypatch.chdir(tmp_path)
        candidate = "stash:stashed"
    _fails(candidate, "conv2d", "at randomly drawn weights", trials=1, dtypes=(torch.float64,))


@pytest.mark.parametrize("keeps", [False, True])
def test_a_multihead_attention_in_its_own_process_is_redrawn_through_its_binding(tmp_path, monkeypatch, keeps):
    """The operator's weights are rows of in_proj_weight (the binding's expressions): each must be rows of the value
    drawn for it; a process that keeps its own weights is caught there too."""
    (tmp_path / "mha.py").write_text(
        "import sys\nimport torch\n\ndef make():\n    torch.manual_seed(0)\n"
        "    return torch.nn.MultiheadAttention(8, 2, batch_first=True).eval()\n"
        + ("\ndef _assign(self, head, data):\n    self.candidate, self.pending = self.pending, None\n"
           "    return {'count': 4}, []\n\nsys.modules['__main__'].Side._assign = _assign\n" if keeps else ""))
    monkeypatch.chdir(tmp_path)
    kw = dict(trials=1, dtypes=(torch.float64,))
    if keeps:
        _fails("mha:make", "mhsa", "did not take the weights the harness drew", "m.in_proj_weight", **kw)
    else:
        report = assert_equivalent("mha:make", "mhsa", **kw)
        assert report.redrawn == ["m.in_proj_weight", "m.in_proj_bias", "m.out_proj.weight", "m.out_proj.bias"]


def test_the_report_names_the_parameters_redrawn(tmp_path, monkeypatch):
    """In process and in its own process the same parameters, drawn the same; none for a candidate whose process
    lists none (it is compared at its own weights only, and the report says so), nor for weights given as tensors."""
    (tmp_path / "plain.py").write_text("import torch\n\ndef conv():\n    torch.manual_seed(0)\n"
                                       "    return torch.nn.Conv2d(4, 6, 3, padding=1, groups=2)\n")
    (tmp_path / "lists_none.py").write_text("import sys\nfrom plain import conv\n\n"
                                            "sys.modules['__main__'].trainable = lambda m: []\n")
    monkeypatch.chdir(tmp_path)
    kw = dict(trials=1, dtypes=(torch.float64, torch.float32))
    torch.manual_seed(0)
    local = assert_equivalent(nn.Conv2d(4, 6, 3, padding=1, groups=2), "conv2d", **kw)
    assert local.redrawn == assert_equivalent("plain:conv", "conv2d", **kw).redrawn == ["weight", "bias"]
    assert assert_equivalent("lists_none:conv", "conv2d", **kw).redrawn == []
    assert assert_equivalent("plain:conv", "conv2d", random_weights=False, **kw).redrawn == []


# ---- B3: half precisions compared against float64

class Times(nn.Conv2d):
    factor = 1.0

    def forward(self, x):
        return super().forward(x) * self.factor


class Generated(nn.Conv2d):
    """evosym's own generated form of conv2d, in the candidate's dtype."""

    def forward(self, x):
        return proven("conv2d").function(x, self.weight, self.bias, path="generic", **SIZES)


HALF = (torch.float16, torch.bfloat16)


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("factor", [2.0, -1.0, 1.2])
def test_a_wrong_scale_fails_in_half_precision(dtype, factor):
    torch.manual_seed(0)
    m = Times(4, 6, 3, padding=1, groups=2)
    m.factor = factor
    _fails(m, "conv2d", "the candidate differs", dtypes=(dtype,), trials=1, random_weights=False)


@pytest.mark.parametrize("candidate, kw", [
    (nn.Conv2d(4, 6, 3, padding=1, groups=2), {}),
    (nn.Conv2d(32, 8, 3, padding=1), {}),
    (nn.Conv1d(16, 4, 5, stride=2), {}),
    (nn.AvgPool2d(3, 2), {}),
    (Generated(4, 6, 3, padding=1), {"sizes": SIZES}),
])
def test_honest_half_precision_candidates_pass(candidate, kw):
    operator = {nn.Conv1d: "conv1d", nn.AvgPool2d: "avg_pool2d"}.get(type(candidate), "conv2d")
    assert_equivalent(candidate, operator, dtypes=HALF, trials=1, **kw)


def test_a_wrong_scale_fails_in_half_precision_in_the_candidates_process(tmp_path, monkeypatch):
    (tmp_path / "scaled.py").write_text("import torch\nclass S(torch.nn.Conv2d):\n    def forward(self, x):\n"
                                        "        return super().forward(x) * 1.2\n"
                                        "def make():\n    return S(4, 6, 3, padding=1, groups=2)\n")
    monkeypatch.chdir(tmp_path)
    _fails("scaled:make", "conv2d", "the candidate differs", dtypes=(torch.bfloat16,), trials=1)


# ---- C4: arguments checked up front

@pytest.mark.parametrize("kw, needle", [
    ({"seed": "abc"}, "seed must be an integer"),
    ({"seed": -1}, "seed must be an integer"),
    ({"seed": True}, "seed must be an integer"),
    ({"operator": None}, "operator must be a catalogue name"),
    ({"operator": 3}, "operator must be a catalogue name"),
    ({"trials": 1.5}, "trials must be a positive integer"),
    ({"trials": 0}, "trials must be a positive integer"),
    ({"trials": "4"}, "trials must be a positive integer"),
    ({"dtypes": torch.float32}, "dtypes=(torch.float32,)"),
    ({"dtypes": (torch.int32,)}, "floating-point torch dtypes"),
    ({"dtypes": ()}, "nothing to compare"),
    ({"gradients": "yes"}, "gradients must be True or False"),
    ({"random_weights": None}, "random_weights must be True or False"),
    ({"sizes": [1, 2]}, "sizes must be a dict"),
    ({"sizes": {"G": 1.5}}, "sizes must be integers: G=1.5"),
    ({"weights": "conv.weight"}, "weights must be a dict"),
])
@pytest.mark.parametrize("candidate", [nn.Conv1d(2, 3, 3), "nosuchmodule:make"])
def test_bad_arguments_are_usage_errors(candidate, kw, needle):
    kw = {"operator": "conv1d", **kw}
    with pytest.raises(EvosymError) as info:
        assert_equivalent(candidate, kw.pop("operator"), **kw)
    assert needle in str(info.value), str(info.value)


def test_no_candidate_is_a_usage_error():
    with pytest.raises(EvosymError, match="candidate must be"):
        assert_equivalent(None, "conv1d")
