"""The generated kernels as a differentiable torch operation (a registered custom op).

``evolution_aggregate(name, x, kt, sizes)`` computes y[b, g·O_g + o', p] = Σ_c' Σ_u kt[…]·x̃[…]
with the operator's generated kernels, chosen by a *backend*:

- ``"cpu"`` (CPU tensors, the default): the CPU kernels (``evosym/runtime/include/evosym_cpu_window.h``,
  included by the generated source), built with ``-O3 -march=native`` and OpenMP, run on torch's
  thread count;
- ``"cuda"`` (CUDA tensors): the nvcc-built CUDA kernels;
- ``"emulated"`` (CPU tensors, on request): the CUDA source built for the host with an emulated
  launch — how CI checks the CUDA source without a GPU (``host_backend("emulated")``).

The operation is the custom op ``evosym::aggregate`` (``torch.library.custom_op``) with a fake
implementation (shapes, for tracing) and an autograd formula whose two backward passes are custom
ops as well, so it works under ``torch.compile`` (``fullgraph=True``) as one opaque node per pass.
Inputs are validated in the op itself (types, dtypes, devices, contiguity, shapes against the
operator's sizes) with clear errors — eagerly, and at trace time under ``torch.compile``. No
configuration is silently skipped: the kernels refuse what they cannot launch. The libraries
talk to torch only through raw pointers (``ctypes``; the GIL is released during the call), so
they never include torch headers and build in about a second.
"""

from __future__ import annotations

import contextlib
import ctypes
import operator

import torch

from . import backends
from .artifact import Kernels, kernels
from .build import Library
from .errors import EvosymError

ERRORS = {1001: "more output elements than a 1-D CUDA grid can launch (refused: nothing is skipped)",
          1002: "the fused attention needs a depthwise aggregation (O_g = C_g = 1)",
          1003: "the input does not fit the window (a clamped window longer than the input, or wrapped tiles "
                "that do not divide it)",
          1004: "the fused attention's logit bias options are invalid (a null bias with a bias mode, or a gradient "
                "for a bias that was not given)"}
BACKENDS = tuple(t.runs_as for t in backends.targets())   # the registry's: ("cpu", "cuda", "emulated")
_HOST = [backends.target_for("cpu").runs_as]   # the backend for CPU tensors: the CPU kernels, or the emulated CUDA source


@contextlib.contextmanager
def host_backend(which: str):
    """Within the block, CPU tensors run ``which``: "cpu" (the CPU kernels) or "emulated" (the CUDA source)."""
    host = backends.runs_on("cpu")
    if which not in host:
        raise EvosymError(f"unknown host backend {which!r} ({' or '.join(host)})")
    before = _HOST[0]
    _HOST[0] = which
    try:
        yield
    finally:
        _HOST[0] = before


def kernels_for(key: str) -> Kernels:
    """The registered artifact ``key`` (:func:`.artifact.kernels`): nothing is proved or generated here."""
    return kernels(key)


def library_info(key: str, device, backend: str | None = None) -> Library:
    """Build (or load) the kernels of ``key`` for ``device``; the Library says how long it took."""
    return kernels_for(key).library(torch.device(device), backend)[0]


def _integer(v) -> bool:
    """An int (not a bool), or a symbolic one while torch.compile traces with dynamic shapes."""
    return (isinstance(v, int) and not isinstance(v, bool)) or isinstance(v, torch.SymInt)


def int_sizes(name: str, sizes) -> list[int]:
    """``sizes`` as integers for the custom ops (which take SymInt[]): integers only (a float, a bool or a
    string is an error, never truncated; a symbolic size stays symbolic, so a new batch or spatial size
    does not recompile); their count and ranges are checked by the ops."""
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__"):
        raise TypeError(f"{name}: sizes must be a list or tuple of integers, not {type(sizes).__name__}")
    if torch.compiler.is_compiling():   # traced: symbolic sizes pass as they are (the op's fake checks them)
        return list(sizes)
    out = []
    for v in sizes:
        try:
            if isinstance(v, bool):
                raise TypeError
            out.append(operator.index(v))
        except TypeError:
            raise ValueError(f"{name}: sizes must be integers, not {v!r} in {sizes!r}") from None
    return out


def checked_extents(k: Kernels, sizes) -> dict:
    """``k.extents(sizes)`` once ``sizes`` are the operator's sizes, in its order, each an integer in its
    declared range (≥ 1, or ≥ 0 where the operator allows 0; the batch may be 0) and below 2³¹, and the
    lengths they give are positive."""
    if len(sizes) != len(k.sizes) or not all(_integer(v) for v in sizes):
        raise ValueError(f"{k.name}: sizes must be {len(k.sizes)} integers in the order "
                         f"{', '.join(map(str, k.sizes))}, not {sizes!r}")
    for name, low, v in zip(k.sizes, k.lows, sizes):   # below 2³¹: the kernels' 64-bit index arithmetic cannot overflow
        if not low <= v < 2 ** 31:
            raise ValueError(f"{k.name}: size {name} must be {'≥ 1' if low else '≥ 0'} and < 2^31, not {v}")
    try:
        ext = k.extents(tuple(sizes))
    except ValueError as exc:   # a length that is not an integer at these sizes
        raise ValueError(f"{k.name}: {exc}") from None
    for what in ("in", "out", "taps"):
        if any(n < 1 for n in ext[what]):
            raise ValueError(f"{k.name}: at sizes {', '.join(f'{s}={v}' for s, v in zip(k.sizes, sizes))} the "
                             f"{ {'in': 'input', 'out': 'output', 'taps': 'window'}[what]} lengths are {ext[what]}: "
                             "each must be ≥ 1")
    if ext["groups"] < 1 or min(ext["og"], ext["cg"]) < 1:
        raise ValueError(f"{k.name}: these sizes leave no channel group")
    return ext


def _runs_on(k: Kernels, t: torch.Tensor, backend: str) -> None:
    """The checks every pass shares (the forward's on x, the backward passes' on the kernel tensor): a dtype the
    generated kernels take, and a backend that runs on the tensor's device."""
    if t.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{k.name}: the generated kernels take float32 or float64, not {t.dtype}")
    if backend not in backends.runs_on(t.device.type):
        where = ", ".join(f"{' or '.join(backends.runs_on(d))} on {d}" for d in backends.devices())
        raise ValueError(f"{k.name}: backend {backend!r} cannot run on {t.device} ({where})")


def _check(k: Kernels, x, kt, sizes, backend: str) -> dict:
    if not isinstance(x, torch.Tensor) or not isinstance(kt, torch.Tensor):
        raise TypeError(f"{k.name}: x and the kernel tensor must be torch.Tensors")
    _runs_on(k, x, backend)
    if kt.dtype != x.dtype or kt.device != x.device:
        raise ValueError(f"{k.name}: the kernel tensor is {kt.dtype} on {kt.device} but x is {x.dtype} on {x.device}")
    ext = _kernel_tensor_checked(k, kt, sizes)
    want_x = (ext["B"], ext["groups"] * ext["cg"]) + ext["in"]
    if tuple(x.shape) != want_x:
        raise ValueError(f"{k.name}: x must have shape {want_x} at these sizes, not {tuple(x.shape)}")
    return ext


def _kernel_tensor_checked(k: Kernels, kt, sizes) -> dict:
    """The extents at ``sizes``, once the kernel tensor has their shape (any axis may be 1)."""
    ext = checked_extents(k, sizes)
    full = (ext["B"], ext["groups"] // ext["share"], ext["og"], ext["cg"]) + ext["taps"] + ext["out"]
    if kt.dim() != len(full) or any(n not in (1, f) for n, f in zip(kt.shape, full)):
        raise ValueError(f"{k.name}: the kernel tensor must have shape {full} (any axis may be 1), not {tuple(kt.shape)}")
    ext["full"] = full
    return ext


def _check_grad(k: Kernels, kt, dy, sizes, backend: str) -> dict:
    """The backward passes' operands checked as the forward's are (a public op may be called directly):
    the kernel tensor against the sizes, dy with the output's shape, one dtype and device."""
    if not isinstance(dy, torch.Tensor) or not isinstance(kt, torch.Tensor):
        raise TypeError(f"{k.name}: the kernel tensor and dy must be torch.Tensors")
    _runs_on(k, kt, backend)
    ext = _kernel_tensor_checked(k, kt, sizes)
    want_dy = (ext["B"], ext["groups"] * ext["og"]) + ext["out"]
    if tuple(dy.shape) != want_dy or dy.dtype != kt.dtype or dy.device != kt.device:
        raise ValueError(f"{k.name}: dy must be a {kt.dtype} tensor of shape {want_dy} on {kt.device}, not "
                         f"{dy.dtype} {tuple(dy.shape)} on {dy.device}")
    return ext


def _layout(kt: torch.Tensor):
    strides = [0 if n == 1 else s for n, s in zip(kt.shape, kt.stride())]
    vals = strides + list(kt.shape)
    return (ctypes.c_longlong * len(vals))(*vals)


def launch(k: Kernels, kind: str, tensors, sizes, backend: str, *extra) -> None:
    """Call the library function ``evo_<ident>_<kind>_<f32|f64>`` with the tensors' pointers, the sizes,
    ``extra`` arguments and the stream (CUDA: the current one; on the CPU kernels, torch's thread count
    first); a None tensor is a null pointer; a non-zero return is an error."""
    device, dtype = tensors[-1].device, tensors[-1].dtype
    spec = backends.target_for(device.type, backend, f"{k.name}: ")
    lib = k.library(device, backend)[1]
    fn = getattr(lib, f"evo_{k.ident}_{kind}_{'f32' if dtype == torch.float32 else 'f64'}")
    zv = (ctypes.c_longlong * len(sizes))(*sizes)
    k.agree(lib, tuple(sizes), zv)   # the manifest's lengths are the kernels' own, or nothing is launched
    pointers = [None if t is None else t.data_ptr() for t in tensors]
    if device.type == "cuda":
        with torch.cuda.device(device):
            rc = fn(*pointers, zv, *extra, torch.cuda.current_stream(device).cuda_stream)
    else:
        if "threads" in backends.owner(spec).abi:   # the CPU kernels: OpenMP on torch's thread count
            getattr(lib, f"evo_{k.ident}_set_threads")(torch.get_num_threads())
        rc = fn(*pointers, zv, *extra, None)
    if rc != 0:
        raise EvosymError(f"{k.name}: {kind} kernel failed: {ERRORS.get(rc, f'CUDA error {rc}')}")


def _call(k: Kernels, kind: str, a, b, out, sizes, layout, backend: str, bias=None, options=None):
    """One call of the aggregation's kernels (a, b, out; with ``bias``, attend_biased's a, b, β, out and options)."""
    if bias is None:
        launch(k, kind, (a, b, out), sizes, backend, layout)
    else:
        launch(k, kind, (a, b, bias, out), sizes, backend, layout, options)


# ---- the custom ops ----------------------------------------------------------------------

@torch.compiler.assume_constant_result
def _prepared(name: str) -> bool:
    """Fail before tracing reaches the op when ``name`` is not a registered artifact (run eagerly, also
    under torch.compile, where the result is a constant), or under a transform the kernels cannot serve."""
    untransformed(name)
    kernels_for(name)
    return True


def transformed() -> bool:
    """Forward-mode AD (a dual level) or a torch.func transform (grad, vmap, jvp, functionalize) is active: the kernels
    are custom ops without a forward-AD rule, whose absence PyTorch turns into a zero tangent without an error, and
    without functorch support. Under torch.compile the op is what is traced: False."""
    if torch.compiler.is_compiling():
        return False
    return torch._C._functorch.peek_interpreter_stack() is not None or torch.autograd.forward_ad._current_level >= 0


def untransformed(name: str) -> None:
    """Refuse the kernels where :func:`transformed`."""
    if transformed():
        raise EvosymError(f"{name}: evosym's generated kernels have no forward-mode AD rule and do not run under "
                          f"torch.func transforms (grad, vmap, jvp, functionalize); a generated module's path='auto' "
                          f"or 'generic' runs its generic path there")


@torch.library.custom_op("evosym::aggregate", mutates_args=())
def _aggregate(name: str, x: torch.Tensor, kt: torch.Tensor, sizes: list[int], backend: str) -> torch.Tensor:
    k = kernels_for(name)
    sizes = tuple(sizes)
    x = x.contiguous()   # any layout is accepted (as torch.compile's backward may pass one); the kernels read rows
    ext = _check(k, x, kt, sizes, backend)
    y = torch.empty((ext["B"], ext["groups"] * ext["og"]) + ext["out"], dtype=x.dtype, device=x.device)
    _call(k, "forward", x, kt, y, sizes, _layout(kt), backend)
    return y


@_aggregate.register_fake
def _aggregate_fake(name, x, kt, sizes, backend):
    ext = _check(kernels_for(name), x, kt, tuple(sizes), backend)
    return x.new_empty((ext["B"], ext["groups"] * ext["og"]) + ext["out"])


@torch.library.custom_op("evosym::aggregate_backward_input", mutates_args=())
def _backward_input(name: str, kt: torch.Tensor, dy: torch.Tensor, sizes: list[int], backend: str) -> torch.Tensor:
    k = kernels_for(name)
    ext = _check_grad(k, kt, dy, tuple(sizes), backend)
    dx = torch.empty((ext["B"], ext["groups"] * ext["cg"]) + ext["in"], dtype=dy.dtype, device=dy.device)
    _call(k, "backward_input", kt, dy.contiguous(), dx, tuple(sizes), _layout(kt), backend)
    return dx


@_backward_input.register_fake
def _backward_input_fake(name, kt, dy, sizes, backend):
    ext = kernels_for(name).extents(tuple(sizes))
    return dy.new_empty((ext["B"], ext["groups"] * ext["cg"]) + ext["in"])


@torch.library.custom_op("evosym::aggregate_backward_kernel", mutates_args=())
def _backward_kernel(name: str, x: torch.Tensor, dy: torch.Tensor, kt: torch.Tensor, sizes: list[int],
                     backend: str) -> torch.Tensor:
    k = kernels_for(name)
    ext = _check_grad(k, kt, dy, tuple(sizes), backend)
    want_x = (ext["B"], ext["groups"] * ext["cg"]) + ext["in"]
    if not isinstance(x, torch.Tensor) or tuple(x.shape) != want_x or x.dtype != kt.dtype or x.device != kt.device:
        raise ValueError(f"{k.name}: the kernel gradient's input must be a {kt.dtype} tensor of shape {want_x} on "
                         f"{kt.device}")
    dkt = torch.empty(kt.shape, dtype=kt.dtype, device=kt.device)   # contiguous, as the fake says
    _call(k, "backward_kernel", x.contiguous(), dy.contiguous(), dkt, tuple(sizes), _layout(kt), backend)
    return dkt


@_backward_kernel.register_fake
def _backward_kernel_fake(name, x, dy, kt, sizes, backend):
    return kt.new_empty(kt.shape)


def _setup_context(ctx, inputs, output):
    name, x, kt, sizes, backend = inputs
    ctx.save_for_backward(x, kt)
    ctx.name, ctx.sizes, ctx.backend = name, list(sizes), backend


def _backward(ctx, dy):
    x, kt = ctx.saved_tensors
    dx = dkt = None
    if ctx.needs_input_grad[1]:
        dx = _backward_input(ctx.name, kt, dy, ctx.sizes, ctx.backend)
    if ctx.needs_input_grad[2]:
        dkt = _backward_kernel(ctx.name, x, dy, kt, ctx.sizes, ctx.backend)
    return None, dx, dkt, None, None


_aggregate.register_autograd(_backward, setup_context=_setup_context)


# The two backward passes are bilinear too, so their own gradients are the same three ops again: derivatives
# of every order run on the generated kernels, as they run through torch's ops on the generic path (double
# backward must not depend on whether a compiler is installed).
#   dx = Aᵀ(kt)·dy:      ∂dy = A(kt)·g = aggregate(g, kt),   ∂kt = backward_kernel(x := g, dy)
#   dkt = dy ⋆ x̃:       ∂x = Aᵀ(G)·dy = backward_input(G, dy), ∂dy = A(G)·x = aggregate(x, G)

def _backward_input_context(ctx, inputs, output):
    name, kt, dy, sizes, backend = inputs
    ctx.save_for_backward(kt, dy)
    ctx.name, ctx.sizes, ctx.backend = name, list(sizes), backend


def _backward_input_backward(ctx, g):
    kt, dy = ctx.saved_tensors
    g = g.contiguous()
    dkt = _backward_kernel(ctx.name, g, dy, kt, ctx.sizes, ctx.backend) if ctx.needs_input_grad[1] else None
    ddy = _aggregate(ctx.name, g, kt, ctx.sizes, ctx.backend) if ctx.needs_input_grad[2] else None
    return None, dkt, ddy, None, None


_backward_input.register_autograd(_backward_input_backward, setup_context=_backward_input_context)


def _backward_kernel_context(ctx, inputs, output):
    name, x, dy, kt, sizes, backend = inputs
    ctx.save_for_backward(x, dy, kt)
    ctx.name, ctx.sizes, ctx.backend = name, list(sizes), backend


def _backward_kernel_backward(ctx, g):
    x, dy, kt = ctx.saved_tensors
    g = g.contiguous()
    dx = _backward_input(ctx.name, g, dy, ctx.sizes, ctx.backend) if ctx.needs_input_grad[1] else None
    ddy = _aggregate(ctx.name, x.contiguous(), g, ctx.sizes, ctx.backend) if ctx.needs_input_grad[2] else None
    return None, dx, ddy, None, None, None


_backward_kernel.register_autograd(_backward_kernel_backward, setup_context=_backward_kernel_context)


# ---- the windowed correlation (attention logits): the aggregation's kernel gradient as an op ----

def _kernel_shape(k: Kernels, a, b, sizes) -> tuple:
    """The kernel tensor's full shape, after checking a (B, C, L_out…) and b (B, C, L_in…)."""
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        raise TypeError(f"{k.name}: both operands of the windowed correlation must be torch.Tensors")
    if a.dtype != b.dtype or a.device != b.device:
        raise ValueError(f"{k.name}: correlation operands are {a.dtype} on {a.device} and {b.dtype} on {b.device}")
    ext = checked_extents(k, tuple(sizes))
    if ext["og"] != 1 or ext["cg"] != 1:
        raise EvosymError(f"{k.name}: the windowed correlation needs a depthwise aggregation (O_g = C_g = 1)")
    want_a = (ext["B"], ext["groups"]) + ext["out"]
    want_b = (ext["B"], ext["groups"]) + ext["in"]
    if tuple(a.shape) != want_a or tuple(b.shape) != want_b:
        raise ValueError(f"{k.name}: correlation operands must have shapes {want_a} and {want_b}, not "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    return (ext["B"], ext["groups"] // ext["share"], 1, 1) + ext["taps"] + ext["out"]


def correlation(name: str, a: torch.Tensor, b: torch.Tensor, sizes, backend: str, kind: str = "backward_kernel"):
    """A new kernel tensor from the kernels' ``kind`` call on (x = b, dy = a): the windowed correlation
    ("backward_kernel"), or the CPU kernels' correlation with its softmax ("attend")."""
    k = kernels_for(name)
    kt = torch.empty(_kernel_shape(k, a, b, sizes), dtype=a.dtype, device=a.device)
    _check(k, b, kt, tuple(sizes), backend)
    _call(k, kind, b.contiguous(), a.contiguous(), kt, tuple(sizes), _layout(kt), backend)
    return kt


def correlation_grads(ctx, dkt, a, b) -> tuple:
    """(∂a, ∂b) of the windowed correlation of ``a`` and ``b`` for the kernel-tensor gradient ``dkt`` (None where not
    needed): ∂a[c, p] = Σ_u dkt[g(c), u, p] · b̃[c, q(p, u)], the aggregation; ∂b its input gradient. (The caller
    reads ctx.saved_tensors once: a second read is an error under torch.utils.checkpoint without reentrancy.)"""
    dkt = dkt.contiguous()
    da = _aggregate(ctx.name, b.contiguous(), dkt, ctx.sizes, ctx.backend) if ctx.needs_input_grad[1] else None
    db = _backward_input(ctx.name, dkt, a, ctx.sizes, ctx.backend) if ctx.needs_input_grad[2] else None
    return da, db


@torch.library.custom_op("evosym::correlate", mutates_args=())
def _correlate(name: str, a: torch.Tensor, b: torch.Tensor, sizes: list[int], backend: str) -> torch.Tensor:
    return correlation(name, a, b, sizes, backend)


@_correlate.register_fake
def _correlate_fake(name, a, b, sizes, backend):
    return a.new_empty(_kernel_shape(kernels_for(name), a, b, sizes))


def _correlate_context(ctx, inputs, output):
    name, a, b, sizes, backend = inputs
    ctx.save_for_backward(a, b)
    ctx.name, ctx.sizes, ctx.backend = name, list(sizes), backend


def _correlate_backward(ctx, dkt):
    return (None, *correlation_grads(ctx, dkt, *ctx.saved_tensors), None, None)


_correlate.register_autograd(_correlate_backward, setup_context=_correlate_context)


def evolution_correlate(name: str, a: torch.Tensor, b: torch.Tensor, sizes, backend: str | None = None) -> torch.Tensor:
    """kt[b, g, 0, 0, u…, p…] = Σ_{c in kernel group g} a[b, c, p…] · b̃[b, c, s·p + δ·u − P] with the
    operator's generated kernels (its kernel gradient), differentiable in a and b: attention logits
    over the aggregation's own window without unfolding b."""
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        raise TypeError(f"{name}: the correlation operands must be torch.Tensors")
    _prepared(name)
    return _correlate(name, a, b, int_sizes(name, sizes), _backend(a, backend))


def evolution_aggregate(name: str, x: torch.Tensor, kt: torch.Tensor, sizes, backend: str | None = None) -> torch.Tensor:
    """y = the operator's aggregation of x with the kernel tensor ``kt`` (differentiable in both).

    ``backend``: None picks "cuda" for CUDA tensors and, for CPU tensors, "cpu" (the CPU kernels)
    unless a ``host_backend("emulated")`` block asks for the emulated CUDA source.
    """
    if not isinstance(x, torch.Tensor) or not isinstance(kt, torch.Tensor):
        raise TypeError(f"{name}: x and the kernel tensor must be torch.Tensors")
    _prepared(name)
    return _aggregate(name, x, kt, int_sizes(name, sizes), _backend(x, backend))


def _backend(t: torch.Tensor, backend: str | None) -> str:
    """An explicit backend, else "cuda" for CUDA tensors and the host backend (cpu or emulated) for CPU ones."""
    if backend is not None:
        return backend
    return _HOST[0] if t.device.type == "cpu" else backends.target_for(t.device.type).runs_as
