"""The one registry of backends: what each is called, its file suffix, how its kernels are built and run.

A *backend* is what ``evosym codegen --target`` renders: ``torch`` (the PyTorch module), ``cpu`` (C++
kernels with OpenMP) and ``cuda`` (CUDA kernels). A kernel backend offers the runtime one or more
*targets*, the ways its source is compiled and run: the CPU source builds as target ``cpu``; the CUDA
source as ``cuda`` (nvcc, on a GPU) and as ``host`` (the system C++ compiler with an emulated launch, on
the CPU; the ops call it ``emulated``). Codegen, the CLI's choices, the runtime's dispatch and the tests
all read this table: a new backend is one folder ``evosym/codegen/backends/<name>/`` (its renderer,
config and templates) plus one :func:`register` call or entry in :data:`BACKENDS` here.

Plain data, standard library only: this is the runtime's (the lowest layer's) module, copied next to
generated modules by ``evosym codegen --standalone``; the renderer is named as a module path and only
codegen imports it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import EvosymError

# the flags of each build (the CPU's: -ffp-contract=fast lets the compiler fuse multiply-adds, which ISO C++
# modes turn off; the numeric check's rounding bound covers either rounding)
HOST_FLAGS = ("-O3", "-std=c++17", "-shared", "-fPIC", "-fopenmp", "-x", "c++")
CPU_FLAGS = ("-O3", "-march=native", "-ffp-contract=fast", "-std=c++17", "-shared", "-fPIC", "-fopenmp", "-x", "c++")
CUDA_FLAGS = ("-O3", "-shared", "-Xcompiler", "-fPIC", "-std=c++17")


# the kinds of window a kernel backend may lower (Backend.windows; evosym.codegen.window_maps)
WINDOW_KINDS = frozenset({"affine", "clamp", "wrap", "tiled"})


@dataclass(frozen=True)
class Target:
    """One way the runtime builds a kernel backend's source into a library and runs it."""

    name: str                   # the build target (Library.target, part of the cache key): "cpu", "host", "cuda"
    runs_as: str                # what the ops' ``backend=`` argument calls it: "cpu", "emulated", "cuda"
    device: str                 # the torch device type its libraries run on
    compiler: str               # "cxx" ($CXX, else c++) or "nvcc"
    flags: tuple
    source_file: str            # the file name the source is compiled as (a .cu built by a C++ compiler: .cpp)
    label: str = ""             # how reports name its libraries ("{arch}": the architecture built for)
    arch: str = "fixed"         # "fixed": the architecture is the target's name; "sm": sm_XY of the device
    prelude: str = ""           # a runtime header force-included before the source (the host build's emulation)
    sanitizable: bool = True    # may be built with AddressSanitizer and UBSan (runtime/sanitize.py)
    native: bool = False        # built for this CPU (-march=native): its features belong in the cache key
    default: bool = False       # what CPU or GPU tensors run when no backend is named


@dataclass(frozen=True)
class Backend:
    """One backend: a code generator's output and, for kernel backends, how the runtime builds and calls it."""

    name: str                   # --target NAME, the artifact's source key
    suffix: str                 # the generated file's suffix
    label: str                  # how messages name it: "CPU", "CUDA", "PyTorch"
    summary: str                # what it generates, for the CLI's help
    codegen: str                # the module that renders it (``render(cp, plan, source=None)``); imported by codegen only
    kernels: bool = False       # renders kernel sources (part of a module's artifact), not a module
    required: bool = False      # a kernel backend every artifact has (its refusal: no kernels at all); any other
    #                             kernel backend may refuse an operator, the reason in the manifest's <name>_refusal
    windows: frozenset = WINDOW_KINDS   # the kinds of window its kernels lower: "affine" (s·p + δ·u − P clipped to the
    #                             input), "clamp" (NATTEN's start clamped inside the input), "wrap" (circular), "tiled" (Swin)
    abi: frozenset = frozenset()   # entry points beyond forward and both backward passes: "attend" (correlation and
    #                             softmax in one call), "attend_biased" (the same with β added to the logits; a source
    #                             rendered before it lacks it: the runtime then adds β itself), "threads" (set_threads),
    #                             "attention" (the fused attention)
    field: str = ""             # the runtime's Kernels attribute holding its source ("" : Kernels.more_sources[name])
    targets: tuple = ()         # the runtime targets that build its source

    @property
    def devices(self) -> tuple:
        """The device types its kernels run on natively (its default targets' devices)."""
        return tuple(dict.fromkeys(t.device for t in self.targets if t.default))


BACKENDS: dict = {}


def register(backend: Backend) -> Backend:
    """Add ``backend`` to the registry (its name, and its targets' names, must be new)."""
    taken = {t.name for b in BACKENDS.values() for t in b.targets} | {t.runs_as for b in BACKENDS.values() for t in b.targets}
    if backend.name in BACKENDS or any(t.name in taken or t.runs_as in taken for t in backend.targets):
        raise EvosymError(f"backend {backend.name!r} (or one of its targets) is registered already")
    BACKENDS[backend.name] = backend
    return backend


register(Backend("torch", ".py", "PyTorch", "a PyTorch module", "evosym.codegen.backends.torch"))
register(Backend("cuda", ".cu", "CUDA", "standalone CUDA kernels, forward and both backward passes",
                 "evosym.codegen.backends.cuda", kernels=True, required=True, abi=frozenset({"attention"}), field="source",
                 targets=(Target("cuda", "cuda", "cuda", "nvcc", CUDA_FLAGS, "kernels.cu", "CUDA kernels {arch}",
                                 arch="sm", sanitizable=False, default=True),
                          Target("host", "emulated", "cpu", "cxx", HOST_FLAGS, "kernels.cpp",
                                 "CUDA source, host build (emulated launch)", prelude="evosym_emulate.h"))))
register(Backend("cpu", ".cpp", "CPU", "the same as C++ with OpenMP", "evosym.codegen.backends.cpu", kernels=True,
                 windows=frozenset({"affine", "clamp", "wrap"}), abi=frozenset({"attend", "attend_biased", "threads"}),
                 field="cpu_source",
                 targets=(Target("cpu", "cpu", "cpu", "cxx", CPU_FLAGS, "kernels.cpp", "CPU kernels", native=True,
                                 default=True),)))


def names() -> tuple:
    """Every backend's name, in registration order (the CLI's --target choices)."""
    return tuple(BACKENDS)


def kernel_backends() -> tuple:
    """The kernel backends (records), required ones first (an artifact renders them in this order)."""
    kb = [b for b in BACKENDS.values() if b.kernels]
    return tuple(sorted(kb, key=lambda b: not b.required))


def get(name: str) -> Backend:
    """The backend ``name``, or a clear error listing the registered ones."""
    if not isinstance(name, str) or name not in BACKENDS:
        raise EvosymError(f"unknown target {name!r}; targets: {', '.join(BACKENDS)}")
    return BACKENDS[name]


def targets() -> tuple:
    """Every runtime target (records) of every kernel backend."""
    return tuple(t for b in BACKENDS.values() for t in b.targets)


def target(name: str) -> Target:
    """The runtime target called ``name`` (the build's name, e.g. "host", or the ops' name, e.g. "emulated")."""
    for t in targets():
        if name in (t.name, t.runs_as):
            return t
    raise EvosymError(f"unknown kernel target {name!r} ({', '.join(t.name for t in targets())})")


def owner(t: Target) -> Backend:
    """The kernel backend whose source the target ``t`` builds."""
    return next(b for b in BACKENDS.values() if t in b.targets)


def devices() -> tuple:
    """The device types some kernel backend runs on, sorted (the CLI's --device choices)."""
    return tuple(sorted({t.device for t in targets()}))


def runs_on(device_type: str) -> tuple:
    """The ops' backend names that run on ``device_type``, its default first (e.g. cpu: ("cpu", "emulated"))."""
    return tuple(t.runs_as for t in sorted(targets(), key=lambda t: not t.default) if t.device == device_type)


def target_for(device_type: str, override: str | None = None, what: str = "") -> Target:
    """The target that runs on ``device_type``: ``override`` (an ops' backend name such as "emulated") when
    given and it runs there, else the device's default; a clear error otherwise (``what`` prefixes it)."""
    here = [t for t in targets() if t.device == device_type]
    if not here:
        raise EvosymError(f"{what}no generated kernels for device {device_type} ({' or '.join(devices())})")
    if override is None:
        return next((t for t in here if t.default), here[0])
    for t in here:
        if override in (t.runs_as, t.name):
            return t
    raise EvosymError(f"{what}backend {override!r} does not run on {device_type} ({' or '.join(t.runs_as for t in here)})")


def abi(runs_as: str) -> frozenset:
    """The extra entry points of the source that the ops' backend ``runs_as`` runs (e.g. "emulated": the CUDA
    source's); empty for an unknown name (the op's own checks refuse it with the device it was given)."""
    for t in targets():
        if runs_as in (t.runs_as, t.name):   # the same names :func:`target` takes ("host" is "emulated")
            return owner(t).abi
    return frozenset()
