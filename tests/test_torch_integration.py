"""evosym's ops follow torch's conventions: opcheck, compiled training, dynamic shapes, torch.export.

- Every custom op (``evosym::aggregate``, its two backward passes, ``correlate``, ``attend``,
  ``attention`` and its backward) passes ``torch.library.opcheck`` (schema, fake implementation,
  autograd registration, ``aot_dispatch_dynamic``), also with non-contiguous inputs, which the ops
  accept (they are made contiguous inside: a compiled backward may pass any layout); and so does each
  op that every committed kernel module calls, with the module's own arguments.
- Every committed module with a kernel artifact (CASES must name them all) trains under
  ``torch.compile(fullgraph=True)`` from non-contiguous float64 inputs, all modules in one graph (one
  compile; on a failure each module alone, to name it): the default inductor backend for one module per
  op and kernel layout (INDUCTOR; every module with EVOSYM_INDUCTOR_ALL=1), "aot_eager" for the rest
  (inductor's C++ compiles cost seconds per kernel on CI); outputs and gradients equal eager's, and
  the graph calls each module's compiled kernels.
- With ``dynamic=True`` three input shapes (batch and lengths) run on one graph: sizes are ``SymInt``
  and stay symbolic (a clamped window's start is printed as index.clamp(max=size), not a tensor of the size).
- ``torch.export`` with one dynamic batch (``Dim("B")``) over every module keeps the evosym ops in the
  graph and round-trips through ``torch.export.save``/``load``.

Modules whose CUDA kernels are their only kernels (clamped or tiled windows) run them through the host
build of the CUDA source (``host_backend("emulated")``, ``path="kernels"``); the rest take "auto", which
must itself choose the CPU kernels.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import shutil
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch._inductor.compile_fx import compile_fx
from torch.utils._python_dispatch import TorchDispatchMode

from evosym.runtime.aggregate import _aggregate, _backward_input, _backward_kernel, _correlate, host_backend
from evosym.runtime.attend import _attend
from evosym.runtime.attention import _attention

CXX = shutil.which(os.environ.get("CXX") or "c++") is not None
pytestmark = pytest.mark.skipif(not CXX, reason="no C++ compiler: the CPU kernels are not built here")
INV = (2, 2, 2, 2, 5, 6, 1, 1)      # involution: B, G, C_g, D, H, W, R, s
LOCAL = [2, 4, 2, 4, 5, 1]          # local_attention: B, N, d, H, W, R


def _strided(t):
    """The same values in a non-contiguous layout (last two axes stored transposed)."""
    out = t.detach().transpose(-1, -2).contiguous().transpose(-1, -2)
    assert not out.is_contiguous() or t.dim() < 2 or min(t.shape[-2:]) == 1
    return out.requires_grad_(t.requires_grad)


def _involution_operands(dtype=torch.float64):
    key = _committed("involution")._key()
    gen = torch.Generator().manual_seed(0)
    B, G, Cg, D, H, W, R, s = INV
    x = torch.randn(B, G * Cg, H, W, generator=gen, dtype=dtype, requires_grad=True)
    kt = torch.randn(B, G, 1, 1, 2 * R + 1, 2 * R + 1, H, W, generator=gen, dtype=dtype, requires_grad=True)
    return key, x, kt


@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_every_op_passes_opcheck(layout):
    fix = _strided if layout == "strided" else (lambda t: t)
    key, x, kt = _involution_operands()
    x = fix(x)
    dy = fix(torch.randn(2, 4, 5, 6, dtype=torch.float64))
    torch.library.opcheck(_aggregate, (key, x, kt, list(INV), "cpu"))
    torch.library.opcheck(_backward_input, (key, kt, dy, list(INV), "cpu"))
    torch.library.opcheck(_backward_kernel, (key, x, dy, kt, list(INV), "cpu"))
    lkey = _committed("local_attention")._key()
    gen = torch.Generator().manual_seed(1)
    a, b, v = (fix(torch.randn(2, 8, 4, 5, generator=gen, dtype=torch.float64, requires_grad=True)) for _ in range(3))
    torch.library.opcheck(_correlate, (lkey, a, b, LOCAL, "cpu"))
    torch.library.opcheck(_attend, (lkey, a, b, LOCAL, "cpu"))
    torch.library.opcheck(_attention, (lkey, a, b, v, None, LOCAL, "emulated"))


def committed_dir() -> Path:
    """codegen/torch: the committed generated modules (read as a user would, without the code generator)."""
    return Path(__file__).resolve().parent.parent / "codegen" / "torch"


def _committed(name):
    """The committed module ``name``, loaded once per test session (its kernels are then built or loaded once)."""
    if f"integration_{name}" in sys.modules:
        return sys.modules[f"integration_{name}"]
    spec = importlib.util.spec_from_file_location(f"integration_{name}", committed_dir() / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# ---- every committed module that runs evosym's kernels ------------------------------------------------------------
# The modules with a manifest next to them (their default path, or their CUDA path, runs compiled kernels), at tiny
# sizes, each with three input shapes: batch 2, 3, 5 and new lengths (hyperzzw's are fixed by its sizes, so only its
# batch changes). In the first shape every free length differs from every other and from the channel counts, so
# torch's duck sizing ties no two of them together and the one graph must hold for all three shapes on its own.
BATCH = (2, 3, 5)
LENGTHS = {1: ((9,), (11,), (13,)), 2: ((8, 10), (10, 8), (12, 14)), 3: ((5, 8, 10), (7, 10, 8), (9, 12, 14))}


def _shapes(channels, dims=2, fixed=None):
    return tuple((b, channels) + (fixed or lengths) for b, lengths in zip(BATCH, LENGTHS[dims]))


CASES = {
    "hyperzzw": ("HyperzzwEvolution", dict(C=3, D=4, R=1, P_h=2, P_w=2), _shapes(3, fixed=(6, 6))),
    "idynamic_dwconv": ("IdynamicDwconvEvolution", dict(G=2, C_g=2, D=2, R=1), _shapes(4)),
    "involution": ("InvolutionEvolution", dict(G=2, C_g=2, D=2, R=1, s=1), _shapes(4)),
    "local_attention": ("LocalAttentionEvolution", dict(N=2, d=2, R=1), _shapes(4)),
    "neighborhood_attention": ("NeighborhoodAttentionEvolution", dict(N=2, d=2, R=1), _shapes(4)),
}


def test_every_module_with_an_artifact_is_covered():
    """A new kernel module must be added to CASES: none is left out of the checks below without a word."""
    committed = {p.name[:-len(".manifest.json")] for p in committed_dir().glob("*.manifest.json")}
    assert committed == set(CASES)


def _kernel_devices(name):
    return _committed(name).KERNELS


HOST_CUDA = {"neighborhood_attention"}   # a clamped window: the CUDA kernels' own inverse maps, through the host build


def _group(name):
    """"cpu": the module's "auto" path runs the CPU kernels; "emulated": its CUDA kernels, checked here through their
    host build (a module with CUDA kernels only, or a clamped window, whose CUDA kernels take their own inverse maps;
    its CPU kernels are checked in tests/test_cpu_clamped_windows.py)."""
    return "cpu" if "cpu" in _kernel_devices(name) and name not in HOST_CUDA else "emulated"


GROUPS = {g: tuple(n for n in sorted(CASES) if _group(n) == g) for g in ("cpu", "emulated")}
PATH = {"cpu": "auto", "emulated": "kernels"}   # "auto" must itself choose the kernels on the CPU


def _backend(group):
    return host_backend("emulated") if group == "emulated" else contextlib.nullcontext()


def _layers(names, dtype=torch.float64):
    layers = {}
    for name in names:
        cls, kwargs, _ = CASES[name]
        torch.manual_seed(0)
        layers[name] = getattr(_committed(name), cls)(**kwargs).to(dtype)
    return layers


def _inputs(names, which=0, dtype=torch.float64, requires_grad=False):
    gen = torch.Generator().manual_seed(which)
    return [torch.randn(CASES[n][2][which], generator=gen, dtype=dtype).requires_grad_(requires_grad) for n in names]


def _kernel_ops(nodes) -> dict:
    """{operator name: evosym ops} of the graph nodes that call evosym's ops (their first argument is the key)."""
    found = {}
    for node in nodes:
        if "evosym" in str(node.target) and node.args and isinstance(node.args[0], str):
            found.setdefault(node.args[0].split("@")[0], set()).add(str(node.target))
    return found


def _name_the_failures(check, names, error):
    """After a shared check failed: the same check per module, to say which modules fail and why."""
    failures = []
    for name in names:
        try:
            check((name,))
        except Exception as exc:   # noqa: BLE001 (reported below, with the module's name)
            failures.append(f"{name}: {type(exc).__name__}: {str(exc)[:400]}")
    raise AssertionError("failed together; alone: " + ("; ".join(failures) or f"none fails alone ({error})")) from error


def _shared(check, names):
    """Run ``check`` once over all ``names`` (one compile), naming the failing modules when it fails."""
    try:
        check(names)
    except Exception as exc:   # noqa: BLE001
        _name_the_failures(check, names, exc)


class _Recorder(TorchDispatchMode):
    """The evosym ops called under it, with their arguments."""

    def __init__(self):
        super().__init__()
        self.calls = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func.namespace == "evosym":
            self.calls.setdefault(func, (args, kwargs))
        return func(*args, **kwargs)


def _fresh(value, grad):
    if isinstance(value, torch.Tensor):
        return value.detach().clone().requires_grad_(grad and value.is_floating_point())
    return value


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_op_a_module_calls_passes_opcheck(name):
    """opcheck on each evosym op that the module's forward and backward call, with the module's own arguments."""
    group = _group(name)
    layer = _layers([name])[name]
    x = _strided(_inputs([name], requires_grad=True)[0])
    recorder = _Recorder()
    with _backend(group), recorder:
        layer(x, path=PATH[group]).square().sum().backward()
    ops = {str(op) for op in recorder.calls}
    assert "evosym.aggregate.default" in ops or "evosym.attention.default" in ops, f"{name}: no kernel ran ({ops})"
    for op, (args, kwargs) in recorder.calls.items():
        grad = op._schema.name != "evosym::attention_backward"   # the fused backward has no derivative of its own
        torch.library.opcheck(op, tuple(_fresh(a, grad) for a in args), {k: _fresh(v, grad) for k, v in kwargs.items()})


# Inductor turns every graph into C++ kernels, each a compile of several seconds on CI's 2 cores. What it adds over
# "aot_eager" (the same dynamo graph, joint forward/backward graph, fake implementations and autograd formulas) is its
# own choice of strides and fusions around evosym's ops, so it runs one module per op and kernel layout: the aggregate
# with a generated per-sample kernel (involution), and the fused attention on the CPU (local_attention) and through
# the host build of the CUDA source (a clamped window); a static broadcast kernel, in 1-D and 2-D, is
# test_static_kernels_written_on_request_train_under_torch_compile's. EVOSYM_INDUCTOR_ALL=1 trains every module
# through inductor.
INDUCTOR = frozenset(CASES) if os.environ.get("EVOSYM_INDUCTOR_ALL") == "1" else frozenset({
    "involution", "local_attention", "neighborhood_attention"})
TRAINING = [(group, backend) for group in sorted(GROUPS) for backend in ("inductor", "aot_eager")
            if any((n in INDUCTOR) == (backend == "inductor") for n in GROUPS[group])]


def _compile_recording(graphs, backend):
    """A torch.compile backend recording each graph dynamo hands it, then compiling it with ``backend``: "inductor"
    (``compile_fx``: what torch.compile's default, backend="inductor", runs) or "aot_eager"."""
    compile_graph = compile_fx if backend == "inductor" else torch._dynamo.lookup_backend("aot_eager")

    def record(gm, example_inputs):
        graphs.append(gm)
        return compile_graph(gm, example_inputs)
    return record


def _train_check(group, backend):
    def check(names):
        layers = _layers(names)
        xs = [_strided(x) for x in _inputs(names, requires_grad=True)]

        def step(*inputs):
            return tuple(layers[n](x, path=PATH[group]) for n, x in zip(names, inputs))

        def loss_and_grads(fn):
            with _backend(group):
                ys = fn(*xs)
                leaves = xs + [p for n in names for p in layers[n].parameters()]
                loss = sum((y * torch.linspace(-1, 2, y.numel(), dtype=y.dtype).view(y.shape)).square().sum() for y in ys)
                return ys, torch.autograd.grad(loss, leaves)

        y0, g0 = loss_and_grads(step)
        torch._dynamo.reset()
        graphs = []
        y, g = loss_and_grads(torch.compile(step, fullgraph=True, backend=_compile_recording(graphs, backend)))
        assert len(graphs) == 1, f"{len(graphs)} graphs"
        ran = _kernel_ops(graphs[0].graph.nodes)
        assert set(ran) == set(names), f"compiled kernels ran for {sorted(ran)}, not {sorted(names)}"
        for n, a, b in zip(names, y, y0):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=lambda m: f"{n}: {m}")
        for a, b in zip(g, g0):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    return check


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_static_kernels_written_on_request_train_under_torch_compile(tmp_path, capsys, backend):
    """A static kernel broadcast over the batch and positions, in 1-D and 2-D with even and odd taps: the true
    convolutions' 'same' modes, whose default path is a native convolution, written with ``--kernels``
    (path="kernels") and trained in one compiled graph from non-contiguous inputs: outputs and gradients (inputs and
    filters) equal eager's, which equal the native default path's, in float64."""
    from cli_helpers import run_cli
    cases = {"convolve_same": ("ConvolveSameEvolution", dict(C=3, K=4), (2, 3, 9)),
             "convolve2d_same": ("Convolve2dSameEvolution", dict(C=3, K_h=2, K_w=3), (2, 3, 8, 10))}
    layers, xs = {}, {}
    for name, (cls, sizes, shape) in cases.items():
        rc, _, err = run_cli(capsys, "codegen", name, "--output", str(tmp_path), "--kernels")
        assert rc == 0 and (tmp_path / f"{name}.manifest.json").is_file(), err
        spec = importlib.util.spec_from_file_location(f"on_request_{backend}_{name}", tmp_path / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module   # (dynamo imports the module its frames belong to)
        spec.loader.exec_module(module)
        assert module.KERNELS == () and module.LOWERING == "native-conv"
        torch.manual_seed(len(shape))
        layers[name] = getattr(module, cls)(**sizes, dtype=torch.float64)
        xs[name] = _strided(torch.randn(shape, dtype=torch.float64)).requires_grad_()

    def step(path):
        return tuple(layers[n](xs[n], path=path) for n in cases)

    def loss_and_grads(fn, path):
        ys = fn(path)
        leaves = list(xs.values()) + [p for n in cases for p in layers[n].parameters()]
        loss = sum((y * torch.linspace(-1, 2, y.numel(), dtype=y.dtype).view(y.shape)).square().sum() for y in ys)
        return ys, torch.autograd.grad(loss, leaves)

    native = loss_and_grads(step, "auto")
    eager = loss_and_grads(step, "kernels")
    torch._dynamo.reset()
    graphs = []
    compiled = loss_and_grads(torch.compile(step, fullgraph=True, backend=_compile_recording(graphs, backend)),
                              "kernels")
    assert len(graphs) == 1 and set(_kernel_ops(graphs[0].graph.nodes)) == set(cases)
    for got in (eager, compiled):
        for a, b in zip(got[0] + got[1], native[0] + native[1]):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("group, backend", TRAINING)
def test_every_kernel_module_trains_under_torch_compile(group, backend):
    """One graph holding every module of the group, forward and backward from non-contiguous inputs, in float64:
    outputs and the gradients of inputs and parameters equal eager's (a compiled graph runs the same kernels; only
    inductor's fusion of the torch ops around them may reorder float64 roundings)."""
    names = tuple(n for n in GROUPS[group] if (n in INDUCTOR) == (backend == "inductor"))
    _shared(_train_check(group, backend), names)


def _dynamic_check(group):
    def check(names):
        from torch._dynamo.testing import EagerAndRecordGraphs
        layers = _layers(names)

        def step(*inputs):
            return tuple(layers[n](x, path=PATH[group]) for n, x in zip(names, inputs))

        torch._dynamo.reset()
        counter = EagerAndRecordGraphs()
        compiled = torch.compile(step, fullgraph=True, dynamic=True, backend=counter)
        with _backend(group), torch.no_grad():
            for which in range(3):
                xs = _inputs(names, which)
                for n, a, b in zip(names, compiled(*xs), step(*xs)):
                    torch.testing.assert_close(a, b, rtol=0, atol=0, msg=lambda m: f"{n}, shape {which}: {m}")
        assert len(counter.graphs) == 1, f"{len(counter.graphs)} graphs for three input shapes"
        ran = _kernel_ops(counter.graphs[0].graph.nodes)
        assert set(ran) == set(names), f"compiled kernels ran for {sorted(ran)}, not {sorted(names)}"
    return check


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_new_batch_and_spatial_sizes_reuse_one_compiled_graph(group):
    """dynamic=True: three input shapes run on one graph (the ops take SymInt sizes), equal to eager."""
    _shared(_dynamic_check(group), GROUPS[group])


class _Together(nn.Module):
    def __init__(self, layers, path):
        super().__init__()
        self.layers = nn.ModuleDict(layers)
        self.path = path

    def forward(self, xs):
        return tuple(layer(x, path=self.path) for layer, x in zip(self.layers.values(), xs))


def _export_check(group):
    def check(names):
        together = _Together(_layers(names), PATH[group])
        batch = torch.export.Dim("B", min=1, max=64)
        with _backend(group):
            ep = torch.export.export(together, (tuple(_inputs(names)),), dynamic_shapes=(tuple({0: batch} for _ in names),))
        ran = _kernel_ops(ep.graph.nodes)
        assert set(ran) == set(names), f"the exported graph calls kernels for {sorted(ran)}, not {sorted(names)}"
        buf = io.BytesIO()
        torch.export.save(ep, buf)
        buf.seek(0)
        loaded = torch.export.load(buf).module()
        for b in (1, 3):
            xs = [torch.randn((b,) + tuple(x.shape[1:]), dtype=x.dtype) for x in _inputs(names)]
            with _backend(group):
                want = together(xs)
            for n, a, w in zip(names, loaded(tuple(xs)), want):   # the loaded program runs without the backend block
                torch.testing.assert_close(a, w, rtol=0, atol=0, msg=lambda m: f"{n}, batch {b}: {m}")
    return check


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_export_with_a_dynamic_batch_round_trips(group):
    """torch.export with one dynamic batch Dim over every module: the evosym ops stay in the graph, and the saved
    and loaded program equals eager at other batch sizes."""
    _shared(_export_check(group), GROUPS[group])
