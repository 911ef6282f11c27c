"""The generated kernels as a differentiable torch operation (``torch.autograd.Function``).

``evolution_aggregate(name, x, kt, sizes)`` computes y[b, g·O_g + o', p] = Σ_c' Σ_u kt[…]·x̃[…]
with the operator's generated kernels: nvcc-built CUDA kernels for CUDA tensors, the same source
built for the host (emulated launch) for CPU tensors. Inputs are validated (types, dtypes,
devices, contiguity, shapes against the operator's sizes) with clear errors, and no
configuration is silently skipped: the kernels refuse what they cannot launch. The library talks
to torch only through raw pointers, so it never includes torch headers and builds in seconds.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass, field

import torch

from ..codegen.torchexpr import py_name
from ..errors import EvosymError
from ..ir.symbols import size_value
from .build import Library, build

_LOCK = threading.Lock()
_KERNELS: dict = {}
ERRORS = {1001: "more output elements than a 1-D CUDA grid can launch (refused: nothing is skipped)"}


@dataclass
class Kernels:
    """One operator's generated kernel source and what is needed to call it."""

    name: str
    ident: str
    source: str
    sizes: tuple                     # SymPy size symbols, in the order the kernels read them
    dims: int
    channel_map: tuple               # SymPy (groups, O_g, C_g, share)
    lengths_in: tuple
    lengths_out: tuple
    taps: tuple
    batch: object
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

    def library(self, device: torch.device):
        if device.type == "cpu":
            target, arch = "host", "host"
        elif device.type == "cuda":
            major, minor = torch.cuda.get_device_capability(device)
            target, arch = "cuda", f"sm_{major}{minor}"
        else:
            raise EvosymError(f"{self.name}: no generated kernels for device {device} (cpu or cuda)")
        with _LOCK:
            if (target, arch) not in self.libraries:
                lib = build(self.source, target, None if target == "host" else arch)
                cdll = ctypes.CDLL(str(lib.path))
                for kind in ("forward", "backward_input", "backward_kernel"):
                    for sfx in ("f32", "f64"):
                        fn = getattr(cdll, f"evo_{self.ident}_{kind}_{sfx}")
                        fn.argtypes = [ctypes.c_void_p] * 3 + [ctypes.POINTER(ctypes.c_longlong)] * 2 + [ctypes.c_void_p]
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
    from ..codegen.cuda import render_cuda
    from ..codegen.plan import make_plan
    mod = catalogue.load(name)
    cp = mod.proof().check()
    plan = make_plan(cp)
    op, form = cp.operator, cp.evolution
    k = Kernels(name=op.name, ident=py_name(op.name), source=render_cuda(cp, plan), sizes=tuple(s for s, _ in op.sizes),
                dims=plan.dims, channel_map=plan.channel_map, lengths_in=tuple(a.length for a in form.omega.axes),
                lengths_out=tuple(op.output.shape[op.lhs_indices.index(p)] for p in op.position),
                taps=tuple(a.kernel for a in form.omega.axes), batch=op.output.shape[op.lhs_indices.index(op.batch)])
    with _LOCK:
        if name != op.name:   # an operator file: its generated module asks for the kernels by operator name
            _KERNELS[op.name] = k
        return _KERNELS.setdefault(name, k)


def library_info(name: str, device) -> Library:
    """Build (or load) the kernels of ``name`` for ``device``; the Library says how long it took."""
    return kernels_for(name).library(torch.device(device))[0]


def _check(k: Kernels, x, kt, sizes) -> dict:
    if not isinstance(x, torch.Tensor) or not isinstance(kt, torch.Tensor):
        raise TypeError(f"{k.name}: x and the kernel tensor must be torch.Tensors")
    if x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{k.name}: the generated kernels take float32 or float64, not {x.dtype}")
    if kt.dtype != x.dtype or kt.device != x.device:
        raise ValueError(f"{k.name}: the kernel tensor is {kt.dtype} on {kt.device} but x is {x.dtype} on {x.device}")
    if not x.is_contiguous():
        raise ValueError(f"{k.name}: x must be contiguous (call .contiguous())")
    if len(sizes) != len(k.sizes) or not all(isinstance(v, int) and v >= 0 for v in sizes):
        raise ValueError(f"{k.name}: sizes must be {len(k.sizes)} integers ≥ 0 in the order "
                         f"{', '.join(map(str, k.sizes))}, not {sizes!r}")
    ext = k.extents(tuple(sizes))
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


def _call(k: Kernels, kind: str, a, b, out, sizes, layout):
    lib = k.library(out.device)[1]
    fn = getattr(lib, f"evo_{k.ident}_{kind}_{'f32' if out.dtype == torch.float32 else 'f64'}")
    zv = (ctypes.c_longlong * len(sizes))(*sizes)
    stream = None
    if out.device.type == "cuda":
        with torch.cuda.device(out.device):
            stream = torch.cuda.current_stream(out.device).cuda_stream
            rc = fn(a.data_ptr(), b.data_ptr(), out.data_ptr(), zv, layout, stream)
    else:
        rc = fn(a.data_ptr(), b.data_ptr(), out.data_ptr(), zv, layout, stream)
    if rc != 0:
        raise EvosymError(f"{k.name}: {kind} kernel failed: {ERRORS.get(rc, f'CUDA error {rc}')}")


class _Aggregate(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, kt, kernels, sizes):
        ext = _check(kernels, x, kt, sizes)
        y = torch.empty((ext["B"], ext["groups"] * ext["og"]) + ext["out"], dtype=x.dtype, device=x.device)
        _call(kernels, "forward", x, kt, y, sizes, _layout(kt))
        ctx.save_for_backward(x, kt)
        ctx.kernels, ctx.sizes = kernels, sizes
        return y

    @staticmethod
    def backward(ctx, dy):
        x, kt = ctx.saved_tensors
        k, sizes = ctx.kernels, ctx.sizes
        dy = dy.contiguous()
        dx = dkt = None
        if ctx.needs_input_grad[0]:
            dx = torch.empty_like(x)
            _call(k, "backward_input", kt, dy, dx, sizes, _layout(kt))
        if ctx.needs_input_grad[1]:
            dkt = torch.empty(kt.shape, dtype=kt.dtype, device=kt.device)
            _call(k, "backward_kernel", x, dy, dkt, sizes, _layout(kt))
        return dx, dkt, None, None


def evolution_aggregate(name: str, x: torch.Tensor, kt: torch.Tensor, sizes) -> torch.Tensor:
    """y = the operator's aggregation of x with the kernel tensor ``kt`` (differentiable in both)."""
    return _Aggregate.apply(x, kt, kernels_for(name), tuple(int(v) for v in sizes))
