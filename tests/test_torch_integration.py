"""evosym's ops follow torch's conventions: opcheck, inductor training, dynamic shapes, torch.export.

- Every custom op (``evosym::aggregate``, its two backward passes, ``correlate``, ``attend``,
  ``attention`` and its backward) passes ``torch.library.opcheck`` (schema, fake implementation,
  autograd registration, ``aot_dispatch_dynamic``), also with non-contiguous inputs, which the ops
  accept (they are made contiguous inside: a compiled backward may pass any layout).
- A committed module that runs evosym's kernels trains under ``torch.compile(fullgraph=True)`` with
  the default inductor backend (forward and backward equal eager); with ``dynamic=True`` three input
  shapes (batch and spatial) run on one compiled graph: sizes are ``SymInt`` and stay symbolic.
- ``torch.export`` with a dynamic batch (``Dim("B")``) keeps the evosym op in the graph and
  round-trips through ``torch.export.save``/``load``.
"""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
import sys

import pytest
import torch

from evosym.codegen.artifact import kernels_for
from evosym.codegen.generate import committed_dir
from evosym.runtime.aggregate import _aggregate, _backward_input, _backward_kernel, _correlate
from evosym.runtime.attend import _attend
from evosym.runtime.attention import _attention

CXX = shutil.which(os.environ.get("CXX") or "c++") is not None
pytestmark = pytest.mark.skipif(not CXX, reason="no C++ compiler: the CPU kernels are not built here")
INV = (2, 2, 2, 2, 5, 6, 1, 1)      # involution: B, G, C_g, D, H, W, R, s
LOCAL = [2, 4, 2, 4, 5, 1]          # local_attention: B, N, d, H, W, R


def _strided(t):
    """The same values in a non-contiguous layout (last two axes stored transposed)."""
    out = t.transpose(-1, -2).contiguous().transpose(-1, -2)
    assert not out.is_contiguous() or t.dim() < 2 or min(t.shape[-2:]) == 1
    return out.requires_grad_(t.requires_grad)


def _involution_operands(dtype=torch.float64):
    key = kernels_for("involution").key
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
    lkey = kernels_for("local_attention").key
    gen = torch.Generator().manual_seed(1)
    a, b, v = (fix(torch.randn(2, 8, 4, 5, generator=gen, dtype=torch.float64, requires_grad=True)) for _ in range(3))
    torch.library.opcheck(_correlate, (lkey, a, b, LOCAL, "cpu"))
    torch.library.opcheck(_attend, (lkey, a, b, LOCAL, "cpu"))
    torch.library.opcheck(_attention, (lkey, a, b, v, None, LOCAL, "emulated"))


def _committed(name):
    spec = importlib.util.spec_from_file_location(f"integration_{name}", committed_dir() / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


MODULES = {"involution": ("InvolutionEvolution", dict(G=2, C_g=2, D=2, R=1, s=1), (2, 4, 6, 5)),
           "local_attention": ("LocalAttentionEvolution", dict(N=2, d=2, R=1), (2, 4, 5, 6))}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_module_on_evosym_kernels_trains_under_inductor(name):
    cls, kwargs, shape = MODULES[name]
    module = _committed(name)
    torch.manual_seed(0)
    layer = getattr(module, cls)(**kwargs)
    x = torch.randn(*shape, requires_grad=True)
    y0 = layer(x)
    g0 = torch.autograd.grad(y0.square().sum(), [x, *layer.parameters()])
    torch._dynamo.reset()
    compiled = torch.compile(layer, fullgraph=True)   # the default backend: inductor
    y = compiled(x)
    g = torch.autograd.grad(y.square().sum(), [x, *layer.parameters()])
    torch.testing.assert_close(y, y0, rtol=1e-5, atol=1e-5)
    for a, b in zip(g, g0):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_new_batch_and_spatial_sizes_reuse_one_compiled_graph():
    from torch._dynamo.testing import EagerAndRecordGraphs
    cls, kwargs, _ = MODULES["involution"]
    layer = getattr(_committed("involution"), cls)(**kwargs).double()
    torch._dynamo.reset()
    counter = EagerAndRecordGraphs()
    compiled = torch.compile(layer, fullgraph=True, dynamic=True, backend=counter)
    for shape in ((2, 4, 6, 5), (3, 4, 7, 9), (5, 4, 4, 6)):
        x = torch.randn(*shape, dtype=torch.float64)
        torch.testing.assert_close(compiled(x), layer(x), rtol=0, atol=0)
    assert len(counter.graphs) == 1, f"{len(counter.graphs)} graphs for three input shapes"
    assert any("evosym" in str(n.target) for n in counter.graphs[0].graph.nodes)


def test_export_with_a_dynamic_batch_round_trips():
    cls, kwargs, shape = MODULES["involution"]
    torch.manual_seed(0)
    layer = getattr(_committed("involution"), cls)(**kwargs)
    batch = torch.export.Dim("B", min=1, max=64)
    ep = torch.export.export(layer, (torch.randn(*shape),), dynamic_shapes=({0: batch},))
    assert any("evosym.aggregate" in str(n.target) for n in ep.graph.nodes)
    buf = io.BytesIO()
    torch.export.save(ep, buf)
    buf.seek(0)
    loaded = torch.export.load(buf)
    for b in (1, 3, 7):
        x = torch.randn((b,) + shape[1:])
        torch.testing.assert_close(loaded.module()(x), layer(x), rtol=0, atol=0)
