"""Candidates that try to fool evosym.testing.assert_equivalent (each must be NOT EQUIVALENT).

All are 3 → 3 channel 3×3 convolutions with padding 1 (conv2d, sizes read from nn.Conv2d), exact
except for the one way each cheats.
"""

import torch
from torch import nn


class Exact(nn.Conv2d):
    def __init__(self):
        torch.manual_seed(3)
        super().__init__(3, 3, 3, padding=1)


# -- sizes ------------------------------------------------------------------------------------------
class WrongAbove12(Exact):
    """Correct while H, W ≤ 12."""

    def forward(self, x):
        y = super().forward(x)
        return y * 1.001 if max(x.shape[-2:]) > 12 else y


class WrongAboveArea(Exact):
    """Correct while H·W ≤ 150."""

    def forward(self, x):
        y = super().forward(x)
        return y + 1e-3 if x.shape[-1] * x.shape[-2] > 150 else y


# -- caching ----------------------------------------------------------------------------------------
class ClassCache(Exact):
    """Caches its output per input shape in a class attribute (shared by every copy, every dtype)."""

    store = {}

    def forward(self, x):
        key = tuple(x.shape)
        if key not in type(self).store:
            type(self).store[key] = super().forward(x)
        return type(self).store[key]


class InstanceCache(Exact):
    """Caches per shape on the instance: the float32 copy starts empty, the second input gets the first's output."""

    def forward(self, x):
        cache = self.__dict__.setdefault("_cache", {})
        key = (tuple(x.shape), x.dtype)
        if key not in cache:
            cache[key] = super().forward(x).detach()
        return cache[key]


class CacheByChecksum(Exact):
    """Caches by a weak key (shape and the first entry): a different input with the same first entry hits."""

    def forward(self, x):
        cache = self.__dict__.setdefault("_cache", {})
        key = (tuple(x.shape), x.dtype, round(float(x.detach().flatten()[0]), 0))
        if key not in cache:
            cache[key] = super().forward(x).detach().clone()
        return cache[key]


# -- grad mode --------------------------------------------------------------------------------------
class WrongUnderGrad(Exact):
    def forward(self, x):
        y = super().forward(x)
        return y * 1.01 if torch.is_grad_enabled() else y


class WrongWhenRequiresGrad(Exact):
    def forward(self, x):
        y = super().forward(x)
        return y - 0.01 if x.requires_grad else y


class WrongUnderNoGrad(Exact):
    def forward(self, x):
        y = super().forward(x)
        return y if torch.is_grad_enabled() else y + 0.5


# -- the caller's input -----------------------------------------------------------------------------
class ZeroesInput(Exact):
    def forward(self, x):
        y = super().forward(x).clone()
        with torch.no_grad():
            x.zero_()
        return y


class ShiftsInput(Exact):
    def forward(self, x):
        y = super().forward(x).clone()
        with torch.no_grad():
            x.add_(1)
        return y


class ScalesInputFirst(Exact):
    """Computes correctly from a doubled input it wrote into the caller's tensor."""

    def forward(self, x):
        with torch.no_grad():
            x.mul_(2)
        return nn.functional.conv2d(x / 2, self.weight, self.bias, padding=1)


# -- dtype --------------------------------------------------------------------------------------------
class AlwaysFloat64(Exact):
    def forward(self, x):
        return nn.functional.conv2d(x.double(), self.weight.double(), self.bias.double(), padding=1)


class AlwaysFloat16(Exact):
    def forward(self, x):
        return super().forward(x).to(torch.float16)


# -- nonfinite ----------------------------------------------------------------------------------------
class OneNaN(Exact):
    def forward(self, x):
        y = super().forward(x).clone()
        y.view(-1)[0] = float("nan")
        return y


class AllNaN(Exact):
    def forward(self, x):
        return torch.full_like(super().forward(x), float("nan"))


class SomeInf(Exact):
    def forward(self, x):
        y = super().forward(x).clone()
        y[..., -1] = float("inf")
        return y


# -- trivial outputs ----------------------------------------------------------------------------------
class Zeros(Exact):
    def forward(self, x):
        return torch.zeros_like(super().forward(x))


class Constant(Exact):
    def forward(self, x):
        return torch.full_like(super().forward(x), 2.5)


class ReturnsInput(Exact):
    def forward(self, x):
        return x


class ReturnsInputCopy(Exact):
    def forward(self, x):
        return x.clone()


# -- nondeterminism -----------------------------------------------------------------------------------
class Noisy(Exact):
    def forward(self, x):
        return super().forward(x) + 1e-3 * torch.randn_like(x[:, :3])


class WrongEveryThirdCall(Exact):
    def forward(self, x):
        self.__dict__["_n"] = self.__dict__.get("_n", 0) + 1
        y = super().forward(x)
        return y * 1.01 if self.__dict__["_n"] % 3 == 0 else y


class WrongEverySecondCall(Exact):
    def forward(self, x):
        self.__dict__["_n"] = self.__dict__.get("_n", 0) + 1
        y = super().forward(x)
        return y * 1.01 if self.__dict__["_n"] % 2 == 0 else y


# -- the harness itself -------------------------------------------------------------------------------
PATCHED = []   # (object, attribute, original): the tests restore them


def _patch(obj, attr, value):
    PATCHED.append((obj, attr, getattr(obj, attr)))
    setattr(obj, attr, value)


def restore():
    while PATCHED:
        obj, attr, value = PATCHED.pop()
        setattr(obj, attr, value)


class PatchesCompare(Zeros):
    """Replaces the harness's per-trial comparison with a no-op while it is constructed (outputs zeros)."""

    def __init__(self):
        super().__init__()
        import evosym.testing.equivalence as eq
        _patch(eq, "_compare", lambda *a, **k: None)


class PatchesFakeSuccess(Zeros):
    """Makes every comparison 'succeed' and draws no trial at all (outputs zeros)."""

    def __init__(self):
        super().__init__()
        import evosym.testing.domain as dom
        import evosym.testing.equivalence as eq
        _patch(eq, "_compare", lambda *a, **k: ("fake", "float64", 0.0))
        _patch(dom, "kinds", lambda trials: [])
        _patch(eq, "kinds", lambda trials: [])


class PatchesEntryPoint(Zeros):
    """Replaces assert_equivalent itself by one that compares nothing (outputs zeros)."""

    def __init__(self):
        super().__init__()
        import evosym.testing as t
        import evosym.testing.equivalence as eq

        def fake(candidate, operator, **kw):
            return eq.Report(operator, {}, [])
        _patch(eq, "assert_equivalent", fake)
        _patch(t, "assert_equivalent", fake)


def patches_compare():
    return PatchesCompare()


def patches_entry_point():
    return PatchesEntryPoint()


class Renamed(nn.Module):
    """A correct convolution whose parameters live under other names (for --weights)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(4)
        self.conv = nn.Module()
        self.conv.kernel = nn.Parameter(torch.randn(3, 3, 3, 3))
        self.shift = nn.Parameter(torch.randn(3))

    def forward(self, x):
        return nn.functional.conv2d(x, self.conv.kernel, self.shift, padding=1)


SIZES = dict(G=1, C_g=3, O_g=3, K_h=3, K_w=3, s_h=1, s_w=1, delta_h=1, delta_w=1, P_h=1, P_w=1)


# -- sizes, layouts and modes the harness must reach (an adversarial pass found each one passing) ------------------
class TiledWithoutHalo(Exact):
    """Convolves tiles of 32 columns each on its own (the halo between tiles forgotten): right while W ≤ 32."""

    tile = 32

    def forward(self, x):
        return torch.cat([nn.functional.conv2d(x[..., s:s + self.tile], self.weight, self.bias, padding=1)
                          for s in range(0, x.shape[-1], self.tile)], -1)


class BiasForThreeSamples(Exact):
    """Processes the batch in chunks of 3 and drops the bias after the first chunk: right while B ≤ 3."""

    def forward(self, x):
        y = [nn.functional.conv2d(x[:3], self.weight, self.bias, padding=1)]
        if x.shape[0] > 3:
            y.append(nn.functional.conv2d(x[3:], self.weight, None, padding=1))
        return torch.cat(y)


class IgnoresStrides(Exact):
    """Reads the input's storage as if it were contiguous (a custom kernel that ignores strides)."""

    def forward(self, x):
        raw = torch.as_strided(x, x.shape, torch.empty(x.shape).stride(), x.storage_offset())
        return super().forward(raw)


class WrongForAFirstLayer(Exact):
    """Wrong with autograd enabled on an input that does not require grad (a network's first layer in training)."""

    def forward(self, x):
        y = super().forward(x)
        return y * 1.5 if torch.is_grad_enabled() and not x.requires_grad else y


class Saturates(Exact):
    """A fixed-point fast path: outputs clamped to ±10."""

    def forward(self, x):
        return super().forward(x).clamp(-10, 10)


class ReusesItsOutput(Exact):
    """Returns one preallocated output tensor, written again by every call."""

    def forward(self, x):
        y = super().forward(x).detach()
        buf = self.__dict__.get("_buf")
        if buf is None or buf.shape != y.shape or buf.dtype != y.dtype:
            buf = self.__dict__["_buf"] = torch.empty(y.shape, dtype=y.dtype)
        return buf.copy_(y)


class TiledBy128(TiledWithoutHalo):
    """Tiles of 128 columns, the halo between tiles forgotten: right while W ≤ 128."""

    tile = 128


class BiasForEightSamples(Exact):
    """Micro-batches of 8, the bias added to the first only: right while B ≤ 8."""

    def forward(self, x):
        return torch.cat([nn.functional.conv2d(x[s:s + 8], self.weight, self.bias if s == 0 else None, padding=1)
                          for s in range(0, x.shape[0], 8)])


class SkipsZeros(Exact):
    """A "sparse" path where more than 30% of the input is exactly 0 (after a ReLU), which drops the bias."""

    def forward(self, x):
        if float((x == 0).float().mean()) > 0.3:
            return nn.functional.conv2d(x, self.weight, None, padding=1)
        return super().forward(x)


# -- the output's own operations ------------------------------------------------------------------------
class _Liar(torch.Tensor):
    """A tensor subclass that says every difference is 0 and every comparison holds."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        out = super().__torch_function__(func, types, args, kwargs or {})
        name = getattr(func, "__name__", "")
        if name in ("__sub__", "sub", "__rsub__") and isinstance(out, torch.Tensor):
            return torch.zeros_like(out.as_subclass(torch.Tensor)).as_subclass(_Liar)
        return True if name in ("equal", "allclose") else out


class LyingTensor(Exact):
    """Garbage, returned as a tensor subclass whose comparisons forge agreement."""

    def forward(self, x):
        return (super().forward(x) * 0 + 42).as_subclass(_Liar)


# -- the forward where the gradient calls run it (an adversarial pass: only their gradients were compared) ----------
class WrongOnLeaves(Exact):
    """Wrong when its input is a leaf requiring grad (as gradcheck and an optimised input hand it over)."""

    def forward(self, x):
        y = super().forward(x)
        return y + 0.5 if x.is_leaf and x.requires_grad else y


class WrongWithoutGradFn(Exact):
    """Wrong when its input requiring grad has no grad_fn (a leaf, told apart another way)."""

    def forward(self, x):
        y = super().forward(x)
        return y * 1.5 if x.requires_grad and x.grad_fn is None else y


class WrongOnStridedInTraining(Exact):
    """Wrong on a non-contiguous input with grad mode on (a training 'fast path'); its bias added twice, detached:
    every gradient right."""

    def forward(self, x):
        y = super().forward(x)
        return y + self.bias.detach().view(1, -1, 1, 1) if torch.is_grad_enabled() and not x.is_contiguous() else y


class WrongOnChannelsLastInTraining(Exact):
    """Wrong on a channels_last input requiring grad only."""

    def forward(self, x):
        y = super().forward(x)
        return y * 2 if x.requires_grad and x.is_contiguous(memory_format=torch.channels_last) and \
            not x.is_contiguous() else y


class WrongOnTorchMemory(Exact):
    """Wrong on a contiguous input not requiring grad whose storage torch allocated (resizable): right only on a
    numpy array's memory, as the protocol's arrays arrived in a contained candidate's process (an adversarial pass)."""

    def forward(self, x):
        y = super().forward(x)
        return y + 1.0 if not x.requires_grad and x.is_contiguous() and x.untyped_storage().resizable() else y
