"""Candidates whose forward is right and whose backward is not, in one place each: the weight's or the bias's
gradient, or the input's in float32 only (tests/test_harness_gradients.py)."""

import torch
import torch.nn.functional as F


class _Conv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b, fault):
        ctx.save_for_backward(x, w)
        ctx.fault = fault
        return F.conv2d(x, w, b, padding=1)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        gx = torch.nn.grad.conv2d_input(x.shape, w, g, padding=1)
        gw = torch.nn.grad.conv2d_weight(x, w.shape, g, padding=1)
        gb = g.sum((0, 2, 3))
        single = g.dtype == torch.float32
        if ctx.fault == "weight zero":
            gw = torch.zeros_like(gw)
        elif ctx.fault == "weight 1e-6 off":
            gw = gw * (1 + 1e-6)
        elif ctx.fault == "bias zero":
            gb = torch.zeros_like(gb)
        elif ctx.fault == "input negated in float32" and single:
            gx = -gx
        elif ctx.fault == "weight 1% off in float32" and single:
            gw = gw * 1.01
        elif ctx.fault == "weight zero in a first layer" and not ctx.needs_input_grad[0]:
            gw = torch.zeros_like(gw)
        elif ctx.fault == "weight negated in training" and ctx.needs_input_grad[0]:
            gw = -gw
        elif ctx.fault == "weight zero for a strided output gradient" and not g.is_contiguous():
            gw = torch.zeros_like(gw)
        elif ctx.fault == "input negated for a non-contiguous input" and not x.is_contiguous():
            gx = -gx
        elif ctx.fault == "weight zero for a non-contiguous input" and not x.is_contiguous():
            gw = torch.zeros_like(gw)
        elif ctx.fault == "weight zero on wide inputs in float32" and single and x.numel() > 2000:
            gw, gb = torch.zeros_like(gw), torch.zeros_like(gb)
        return gx, gw, gb, None


class Conv(torch.nn.Module):
    """conv2d, 3 → 4 channels, 3×3, padding 1; its backward wrong as ``fault`` says (None: right)."""

    fault = None

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(4, 3, 3, 3) * 0.2)
        self.bias = torch.nn.Parameter(torch.randn(4) * 0.1)

    def forward(self, x):
        return _Conv.apply(x, self.weight, self.bias, self.fault)


def faulty(fault):
    return type("Faulty", (Conv,), {"fault": fault})


WeightZero, WeightOff, BiasZero = faulty("weight zero"), faulty("weight 1e-6 off"), faulty("bias zero")
InputNegated32, WeightOff32 = faulty("input negated in float32"), faulty("weight 1% off in float32")
FirstLayer, Training = faulty("weight zero in a first layer"), faulty("weight negated in training")
Wide32 = faulty("weight zero on wide inputs in float32")
StridedGrad = faulty("weight zero for a strided output gradient")
LaidOutInput, LaidOutWeight = faulty("input negated for a non-contiguous input"), faulty("weight zero for a non-contiguous input")


def conv():
    return torch.nn.Conv2d(3, 4, 3, padding=1)


def normed():
    """A weight computed from two parameters (g·v/‖v‖): its gradient reaches both."""
    return torch.nn.utils.parametrizations.weight_norm(torch.nn.Conv2d(3, 4, 3, padding=1))


def attention():
    return torch.nn.MultiheadAttention(16, 4, batch_first=True)


class _ZeroIn32(torch.autograd.Function):
    """The identity whose backward is zero in float32."""

    @staticmethod
    def forward(ctx, b):
        return b.view_as(b)

    @staticmethod
    def backward(ctx, g):
        return torch.zeros_like(g) if g.dtype == torch.float32 else g


class FrozenHuge(torch.nn.Linear):
    """A linear layer whose frozen weight is 1e8 times torch's (its input's gradient that large) and whose bias's
    float32 gradient is zero: the bias's float32 bound must not be the input gradient's."""

    def __init__(self):
        super().__init__(7, 5)
        with torch.no_grad():
            self.weight.mul_(1e8)
        self.weight.requires_grad_(False)

    def forward(self, x):
        return F.linear(x, self.weight, _ZeroIn32.apply(self.bias))


class _KnowsTheProbe(torch.autograd.Function):
    """A linear map right only for the output gradient the harness once always drew (randn seeded with 1)."""

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        return F.linear(x, w, b)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        probe = torch.randn(g.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64).to(g.dtype)
        gx, gw, gb = g @ w, g.reshape(-1, g.shape[-1]).T @ x.reshape(-1, x.shape[-1]), g.reshape(-1, g.shape[-1]).sum(0)
        return (gx, gw, gb) if torch.equal(g, probe) else (-gx, torch.zeros_like(gw), torch.zeros_like(gb))


class KnowsTheProbe(torch.nn.Linear):
    def __init__(self):
        super().__init__(7, 5)

    def forward(self, x):
        return _KnowsTheProbe.apply(x, self.weight, self.bias)


# -- a weight read detached from the parameter it is: the layer never trains (an adversarial pass) ----------------
class DetachedReads(torch.nn.Conv2d):
    """Its weight and bias trainable parameters, every read of them (the harness's too) detached."""

    def __init__(self):
        super().__init__(3, 4, 3, padding=1)

    def __getattr__(self, name):
        value = super().__getattr__(name)
        return value.detach() if name in ("weight", "bias") else value


class _Exposed(torch.nn.Module):
    """conv2d 3 → 4, 3×3, padding 1 over a parameter ``_w`` it exposes as ``weight`` (:meth:`read`)."""

    def __init__(self):
        super().__init__()
        base = torch.nn.Conv2d(3, 4, 3, padding=1)
        self._w, self.bias = base.weight, base.bias

    @property
    def weight(self):
        return self.read()

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, padding=1)


class DataRead(_Exposed):
    def read(self):
        return self._w.data


class FreshLeafRead(_Exposed):
    def read(self):
        return self._w.detach().requires_grad_()


class PackedDetached(_Exposed):
    """The weight rows 2–5 of a parameter of 8 rows, read detached."""

    def __init__(self):
        super().__init__()
        self._w = torch.nn.Parameter(torch.randn(8, 3, 3, 3) / 9)

    def read(self):
        return self._w.detach()[2:6]


class PackedLive(PackedDetached):
    """The same rows read through autograd: right."""

    def read(self):
        return self._w[2:6]


class CopyRead(_Exposed):
    """Its weight read as a detached copy in memory of its own, in the forward too: never trains."""

    def read(self):
        return self._w.detach().clone()


class _DetachedCopy(torch.nn.Module):
    def forward(self, w):
        return w.detach().clone()


def parametrized_copy():
    """nn.Conv2d with a parametrization that hands its forward a detached copy of the weight."""
    import torch.nn.utils.parametrize as parametrize
    m = torch.nn.Conv2d(3, 4, 3, padding=1)
    parametrize.register_parametrization(m, "weight", _DetachedCopy())
    return m


class Recreated(torch.nn.Conv2d):
    """Replaces its parameters by fresh detached copies at every call: the ones an optimiser holds never train, and
    the harness compares none of them (the report says so)."""

    def __init__(self):
        super().__init__(3, 4, 3, padding=1)

    def forward(self, x):
        self.weight = torch.nn.Parameter(self.weight.detach().clone())
        self.bias = torch.nn.Parameter(self.bias.detach().clone())
        return super().forward(x)


class HiddenWeight(torch.nn.Conv2d):
    """Lists only its bias among its parameters; its weight's gradient is zero in float32 (an adversarial pass)."""

    def __init__(self):
        super().__init__(3, 4, 3, padding=1)

    def named_parameters(self, *args, **kwargs):
        return ((name, prm) for name, prm in super().named_parameters(*args, **kwargs) if not name.endswith("weight"))

    def parameters(self, recurse=True):
        return (prm for _, prm in self.named_parameters())

    def forward(self, x):
        return F.conv2d(x, _ZeroIn32.apply(self.weight), self.bias, padding=1)
