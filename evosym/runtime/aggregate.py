"""The generated kernels as a differentiable torch operation (a registered custom op).

``evolution_aggregate(name, x, kt, sizes)`` computes y[b, g·O_g + o', p] = Σ_c' Σ_u kt[…]·x̃[…]
with the operator's generated kernels, chosen by a *backend*:

- ``"cpu"`` (CPU tensors, the default): the CPU kernels (``cpu/kernels.cpp.j2``), built with
  ``-O3 -march=native`` and OpenMP, run on torch's thread count;
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
import threading
from dataclasses import dataclass, field

import torch

from ..codegen.torchexpr import py_name
from ..errors import EvosymError
from ..ir.symbols import check_size, size_value
from .build import Library, build

_LOCK = threading.RLock()
_KERNELS: dict = {}
ERRORS = {1001: "more output elements than a 1-D CUDA grid can launch (refused: nothing is skipped)",
          1002: "the fused attention needs a depthwise aggregation (O_g = C_g = 1)",
          1003: "the input does not fit the window (a clamped window longer than the input, or wrapped tiles "
                "that do not divide it)",
          1004: "the fused attention's logit bias options are invalid (a null bias with a bias mode, or a gradient "
                "for a bias that was not given)"}
BACKENDS = ("cpu", "emulated", "cuda")
_HOST = ["cpu"]   # the backend for CPU tensors: the CPU kernels, or the emulated CUDA source


@contextlib.contextmanager
def host_backend(which: str):
    """Within the block, CPU tensors run ``which``: "cpu" (the CPU kernels) or "emulated" (the CUDA source)."""
    if which not in ("cpu", "emulated"):
        raise EvosymError(f"unknown host backend {which!r} (cpu or emulated)")
    before = _HOST[0]
    _HOST[0] = which
    try:
        yield
    finally:
        _HOST[0] = before


@dataclass
class Kernels:
    """One operator's generated kernel sources and what is needed to call them."""

    name: str
    ident: str
    source: str                      # the CUDA source (nvcc, or the host build with an emulated launch)
    sizes: tuple                     # SymPy size symbols, in the order the kernels read them
    dims: int
    channel_map: tuple               # SymPy (groups, O_g, C_g, share)
    lengths_in: tuple
    lengths_out: tuple
    taps: tuple
    batch: object
    cpu_source: str = ""             # the CPU kernels' C++ source
    cpu_refusal: str = ""            # why there is none (a window the CPU target does not lower)
    attention: bool = False          # the CUDA source also has the fused attention (runtime/attention.py)
    libraries: dict = field(default_factory=dict)   # (target, arch) -> (Library, ctypes.CDLL)

    def extents(self, sizes: tuple) -> dict:
        env = dict(zip(self.sizes, sizes))
        val = lambda e: size_value(e, env)  # noqa: E731
        groups, og, cg, share = (val(e) for e in self.channel_map)
        if share < 1 or groups % share:
            raise EvosymError(f"{self.name}: {groups} channel groups do not split into kernel groups of {share}")
        return {"B": val(self.batch), "groups": groups, "og": og, "cg": cg, "share": share,
                "in": tuple(val(e) for e in self.lengths_in), "out": tuple(val(e) for e in self.lengths_out),
                "taps": tuple(val(e) for e in self.taps)}

    def library(self, device: torch.device, backend: str | None = None):
        """(Library, CDLL) for ``device``: CUDA kernels on a GPU; on the CPU the CPU kernels, or the
        emulated CUDA source with ``backend="emulated"``."""
        if device.type == "cpu":
            backend = backend or "cpu"
            if backend not in ("cpu", "emulated"):
                raise EvosymError(f"{self.name}: backend {backend!r} does not run on the CPU (cpu or emulated)")
            target, arch = ("cpu", "cpu") if backend == "cpu" else ("host", "host")
        elif device.type == "cuda":
            major, minor = torch.cuda.get_device_capability(device)
            target, arch = "cuda", f"sm_{major}{minor}"
        else:
            raise EvosymError(f"{self.name}: no generated kernels for device {device} (cpu or cuda)")
        if target == "cpu" and not self.cpu_source:
            raise EvosymError(self.cpu_refusal or f"{self.name}: no CPU kernels")
        with _LOCK:
            if (target, arch) not in self.libraries:
                source = self.cpu_source if target == "cpu" else self.source
                lib = build(source, target, None if target != "cuda" else arch)
                cdll = ctypes.CDLL(str(lib.path))
                # (kind, tensor pointers, i64 arrays: the sizes, then the kernel tensor's layout where there is one)
                kinds = [(k, 3, 2) for k in ("forward", "backward_input", "backward_kernel")]
                if target == "cpu":
                    kinds.append(("attend", 3, 2))
                    getattr(cdll, f"evo_{self.ident}_set_threads").argtypes = [ctypes.c_int]
                elif self.attention:
                    kinds += [("attention_forward", 6, 2), ("attention_backward", 11, 2)]   # β, ∂β may be null
                for kind, pointers, arrays in kinds:
                    for sfx in ("f32", "f64"):
                        fn = getattr(cdll, f"evo_{self.ident}_{kind}_{sfx}")
                        fn.argtypes = [ctypes.c_void_p] * pointers + [ctypes.POINTER(ctypes.c_longlong)] * arrays + [ctypes.c_void_p]
                        fn.restype = ctypes.c_int
                self.libraries[(target, arch)] = (lib, cdll)
            return self.libraries[(target, arch)]


def kernels_for(name: str) -> Kernels:
    """The generated kernels of a catalogue operator or operator file (proof checked once per process).

    Loading an operator file also registers its kernels under the operator's name, which is how
    its generated module (``path="kernels"``) finds them in this process.
    """
    with _LOCK:
        if name in _KERNELS:
            return _KERNELS[name]
    from .. import catalogue
    from ..codegen.cpu import render_cpu
    from ..codegen.cuda import render_cuda
    from ..codegen.plan import make_plan
    cp = catalogue.checked(name)
    plan = make_plan(cp)
    op, form = cp.operator, cp.evolution
    try:
        cpu_source, cpu_refusal = render_cpu(cp, plan), ""
    except EvosymError as exc:   # e.g. a clamped or wrapping window: CUDA kernels only
        cpu_source, cpu_refusal = "", str(exc)
    k = Kernels(name=op.name, ident=py_name(op.name), source=render_cuda(cp, plan), sizes=tuple(s for s, _ in op.sizes),
                dims=plan.dims, channel_map=plan.channel_map, lengths_in=tuple(a.length for a in form.omega.axes),
                lengths_out=tuple(op.output.shape[op.lhs_indices.index(p)] for p in op.position),
                taps=tuple(a.kernel for a in form.omega.axes), batch=op.output.shape[op.lhs_indices.index(op.batch)],
                cpu_source=cpu_source, cpu_refusal=cpu_refusal, attention=plan.attention is not None)
    with _LOCK:
        if name != op.name:   # an operator file: its generated module asks for the kernels by operator name
            _KERNELS[op.name] = k
        return _KERNELS.setdefault(name, k)


def library_info(name: str, device, backend: str | None = None) -> Library:
    """Build (or load) the kernels of ``name`` for ``device``; the Library says how long it took."""
    return kernels_for(name).library(torch.device(device), backend)[0]


def int_sizes(name: str, sizes) -> list[int]:
    """``sizes`` as Python ints for the custom ops (which take list[int]): integers only (a float, a bool
    or a string is an error, never truncated); their count and ranges are checked by the ops."""
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__"):
        raise TypeError(f"{name}: sizes must be a list or tuple of integers, not {type(sizes).__name__}")
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
    if len(sizes) != len(k.sizes) or not all(isinstance(v, int) and not isinstance(v, bool) for v in sizes):
        raise ValueError(f"{k.name}: sizes must be {len(k.sizes)} integers in the order "
                         f"{', '.join(map(str, k.sizes))}, not {sizes!r}")
    for sym, v in zip(k.sizes, sizes):   # below 2³¹: the kernels' 64-bit index arithmetic cannot overflow
        try:
            check_size(sym, v, zero=sym == k.batch, below_2_31=True)
        except ValueError as exc:
            raise ValueError(f"{k.name}: {exc}") from None
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


def _check(k: Kernels, x, kt, sizes, backend: str) -> dict:
    if not isinstance(x, torch.Tensor) or not isinstance(kt, torch.Tensor):
        raise TypeError(f"{k.name}: x and the kernel tensor must be torch.Tensors")
    if x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{k.name}: the generated kernels take float32 or float64, not {x.dtype}")
    if kt.dtype != x.dtype or kt.device != x.device:
        raise ValueError(f"{k.name}: the kernel tensor is {kt.dtype} on {kt.device} but x is {x.dtype} on {x.device}")
    if backend not in BACKENDS or (backend == "cuda") != (x.device.type == "cuda"):
        raise ValueError(f"{k.name}: backend {backend!r} cannot run on {x.device} (cpu or emulated on the CPU, "
                         f"cuda on a GPU)")
    if not x.is_contiguous():
        raise ValueError(f"{k.name}: x must be contiguous (call .contiguous())")
    ext = checked_extents(k, sizes)
    want_x = (ext["B"], ext["groups"] * ext["cg"]) + ext["in"]
    if tuple(x.shape) != want_x:
        raise ValueError(f"{k.name}: x must have shape {want_x} at these sizes, not {tuple(x.shape)}")
    full = (ext["B"], ext["groups"] // ext["share"], ext["og"], ext["cg"]) + ext["taps"] + ext["out"]
    if kt.dim() != len(full) or any(n not in (1, f) for n, f in zip(kt.shape, full)):
        raise ValueError(f"{k.name}: the kernel tensor must have shape {full} (any axis may be 1), not {tuple(kt.shape)}")
    ext["full"] = full
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
    lib = k.library(device, None if backend == "cuda" else backend)[1]
    fn = getattr(lib, f"evo_{k.ident}_{kind}_{'f32' if dtype == torch.float32 else 'f64'}")
    zv = (ctypes.c_longlong * len(sizes))(*sizes)
    pointers = [None if t is None else t.data_ptr() for t in tensors]
    if device.type == "cuda":
        with torch.cuda.device(device):
            rc = fn(*pointers, zv, *extra, torch.cuda.current_stream(device).cuda_stream)
    else:
        if backend == "cpu":
            getattr(lib, f"evo_{k.ident}_set_threads")(torch.get_num_threads())
        rc = fn(*pointers, zv, *extra, None)
    if rc != 0:
        raise EvosymError(f"{k.name}: {kind} kernel failed: {ERRORS.get(rc, f'CUDA error {rc}')}")


def _call(k: Kernels, kind: str, a, b, out, sizes, layout, backend: str):
    launch(k, kind, (a, b, out), sizes, backend, layout)


# ---- the custom ops ----------------------------------------------------------------------

def _kernels_real(name: str) -> Kernels:
    """kernels_for outside fake-tensor mode: the first use proves the operator with real tensors
    (a fake implementation may be the first to ask, while torch.compile traces)."""
    try:
        from torch._subclasses.fake_tensor import unset_fake_temporarily
    except ImportError:  # pragma: no cover - older torch
        return kernels_for(name)
    with unset_fake_temporarily():
        return kernels_for(name)


@torch.compiler.assume_constant_result
def _prepared(name: str) -> bool:
    """Prove the operator and render its kernels before tracing reaches the op (run once, eagerly,
    also under torch.compile, where the result is a constant)."""
    kernels_for(name)
    return True


@torch.library.custom_op("evosym::aggregate", mutates_args=())
def _aggregate(name: str, x: torch.Tensor, kt: torch.Tensor, sizes: list[int], backend: str) -> torch.Tensor:
    k = kernels_for(name)
    sizes = tuple(sizes)
    ext = _check(k, x, kt, sizes, backend)
    y = torch.empty((ext["B"], ext["groups"] * ext["og"]) + ext["out"], dtype=x.dtype, device=x.device)
    _call(k, "forward", x, kt, y, sizes, _layout(kt), backend)
    return y


@_aggregate.register_fake
def _aggregate_fake(name, x, kt, sizes, backend):
    ext = _check(_kernels_real(name), x, kt, tuple(sizes), backend)
    return x.new_empty((ext["B"], ext["groups"] * ext["og"]) + ext["out"])


@torch.library.custom_op("evosym::aggregate_backward_input", mutates_args=())
def _backward_input(name: str, kt: torch.Tensor, dy: torch.Tensor, sizes: list[int], backend: str) -> torch.Tensor:
    k = kernels_for(name)
    ext = k.extents(tuple(sizes))
    dx = torch.empty((ext["B"], ext["groups"] * ext["cg"]) + ext["in"], dtype=dy.dtype, device=dy.device)
    _call(k, "backward_input", kt, dy.contiguous(), dx, tuple(sizes), _layout(kt), backend)
    return dx


@_backward_input.register_fake
def _backward_input_fake(name, kt, dy, sizes, backend):
    ext = _kernels_real(name).extents(tuple(sizes))
    return dy.new_empty((ext["B"], ext["groups"] * ext["cg"]) + ext["in"])


@torch.library.custom_op("evosym::aggregate_backward_kernel", mutates_args=())
def _backward_kernel(name: str, x: torch.Tensor, dy: torch.Tensor, kt: torch.Tensor, sizes: list[int],
                     backend: str) -> torch.Tensor:
    k = kernels_for(name)
    dkt = torch.empty(kt.shape, dtype=kt.dtype, device=kt.device)
    _call(k, "backward_kernel", x, dy.contiguous(), dkt, tuple(sizes), _layout(kt), backend)
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


def correlation_grads(ctx, dkt) -> tuple:
    """(∂a, ∂b) of the windowed correlation for the kernel-tensor gradient ``dkt`` (None where not needed):
    ∂a[c, p] = Σ_u dkt[g(c), u, p] · b̃[c, q(p, u)], the aggregation; ∂b its input gradient."""
    a, b = ctx.saved_tensors[:2]
    dkt = dkt.contiguous()
    da = _aggregate(ctx.name, b.contiguous(), dkt, ctx.sizes, ctx.backend) if ctx.needs_input_grad[1] else None
    db = _backward_input(ctx.name, dkt, a, ctx.sizes, ctx.backend) if ctx.needs_input_grad[2] else None
    return da, db


@torch.library.custom_op("evosym::correlate", mutates_args=())
def _correlate(name: str, a: torch.Tensor, b: torch.Tensor, sizes: list[int], backend: str) -> torch.Tensor:
    return correlation(name, a, b, sizes, backend)


@_correlate.register_fake
def _correlate_fake(name, a, b, sizes, backend):
    return a.new_empty(_kernel_shape(_kernels_real(name), a, b, sizes))


def _correlate_context(ctx, inputs, output):
    name, a, b, sizes, backend = inputs
    ctx.save_for_backward(a, b)
    ctx.name, ctx.sizes, ctx.backend = name, list(sizes), backend


def _correlate_backward(ctx, dkt):
    return (None, *correlation_grads(ctx, dkt), None, None)


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
    return "cuda" if t.device.type == "cuda" else _HOST[0]
