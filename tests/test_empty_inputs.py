"""Empty inputs (issue 27): an empty batch gives the declared output with batch 0 on every path (as PyTorch's
layers do), and any other empty axis is refused with an evosym ValueError that names it where PyTorch refuses it.

The modules are generated from the template now (``fresh``), not read from codegen/torch: the committed files
equal them once regenerated (tests/test_codegen_golden.py checks that).
"""

from __future__ import annotations

import pytest
import torch

from evosym import catalogue
from evosym.codegen.check import _tensors, bind, load_source
from evosym.codegen.generate import committed_dir, generate
from evosym.codegen.plan import make_plan

F64 = torch.float64
_FRESH: dict = {}


def fresh(name):
    """The module generated now from the template for catalogue operator ``name`` (its kernel artifact registered
    in memory), imported once per process."""
    if name not in _FRESH:
        cp = catalogue.checked(name)
        _FRESH[name] = load_source(generate(name, "torch").source, name, checked=cp)
    return _FRESH[name]


@pytest.fixture
def fresh_coverage(monkeypatch):
    """evosym.coverage's routes run the freshly generated modules (the committed ones may predate the template)."""
    from evosym.coverage import modules

    class Fresh(dict):
        def __contains__(self, name):
            return True

        def __getitem__(self, name):
            return fresh(name)

    monkeypatch.setattr(modules, "_LOADED", Fresh())


NAMES = sorted(p.stem for p in committed_dir().glob("*.py"))


def _cases(op, plan):
    """(label, sizes) of the grid's first shape with one size read from the input set to 0: the batch first."""
    runtime = {n for n, _ in plan.runtime_sizes}
    batch = plan.out_shape[0]
    sizes = [s for s, _ in op.sizes if str(s) in runtime]
    for s in sorted(sizes, key=lambda s: str(s) != batch):
        env = dict(op.grid[0])
        env[s] = 0
        yield str(s), str(s) == batch, env


@pytest.mark.parametrize("name", NAMES)
def test_empty_axes_against_pytorch(name):
    """Every committed operator: batch 0 gives the declared empty output on every path (never a raw torch error),
    equal in shape to the reference's where it gives one; an empty non-batch axis is an evosym ValueError naming
    the condition, never a result where the reference (PyTorch, or the official code in torch ops) refuses."""
    cp = catalogue.checked(name)
    op, plan = cp.operator, make_plan(cp)
    gen = fresh(name)
    fn = getattr(gen, plan.func_name)
    for label, is_batch, env in _cases(op, plan):
        t = _tensors(op, env, F64, "cpu", torch.Generator().manual_seed(0))
        sizes = {str(k): int(v) for k, v in env.items()}
        try:
            ref, ref_error = op.torch_reference(t, sizes), None
        except (RuntimeError, ValueError, IndexError) as exc:
            ref, ref_error = None, exc
        want = tuple(op.shapes_at(env)[op.output.name])
        for path in gen.PATHS:
            where = f"{name} with {label} = 0, x of shape {tuple(t[op.value].shape)}, path {path}"
            if is_batch:
                y = bind(fn, plan, op, t, env, path)()
                assert tuple(y.shape) == want and y.dtype == F64, where
                if ref is not None:
                    assert y.shape == ref.shape, where
                continue
            try:
                y = bind(fn, plan, op, t, env, path)()
            except ValueError as exc:
                assert "length 0 on axis" in str(exc) or "the proof holds only where" in str(exc), f"{where}: {exc}"
                continue
            assert ref_error is None, f"{where}: computed {tuple(y.shape)} where the reference refuses ({ref_error})"
            assert y.shape == ref.shape, where


@pytest.mark.parametrize("path", ["auto", "generic"])
@pytest.mark.parametrize("shape", [(0, 2, 4, 4), (0, 2, 1, 1), (0, 2, 5, 3)])
def test_dynamic_dwconv_takes_an_empty_batch(path, shape):
    """The default path (a per-sample grouped conv, groups = B·C) used to raise torch's 'non-positive groups'."""
    layer = fresh("dynamic_dwconv").DynamicDwconvEvolution(C=2, D=1, R=1, dtype=F64)
    x = torch.zeros(shape, dtype=F64, requires_grad=True)
    y = layer(x, path=path)
    assert y.shape == shape
    y.sum().backward()   # a backward runs, as through PyTorch's layers, with zero gradients
    assert x.grad.shape == shape
    assert all(p.grad is not None and not p.grad.any() for p in layer.parameters())


@pytest.mark.parametrize("name, shape, make", [
    ("conv2d", (0, 3, 5, 4), lambda: torch.nn.Conv2d(3, 2, 3, padding=1)),
    ("squeeze_excitation", (0, 2, 3, 3), None),
    ("linear", (0, 4, 5), lambda: torch.nn.Linear(5, 3)),
    ("avg_pool2d", (0, 2, 4, 4), lambda: torch.nn.AvgPool2d(2)),
])
def test_empty_batch_equals_pytorch_layers(name, shape, make):
    gen = fresh(name)
    cls = next(getattr(gen, n) for n in gen.__all__ if not n.endswith("_evolution"))
    x = torch.zeros(shape, dtype=F64)
    if make is None:
        layer = cls(C=2, D=1, dtype=F64)
        assert layer(x).shape == shape
        return
    ref = make().double()
    layer = cls.from_torch(ref)
    for path in ("auto", "generic"):
        assert layer(x, path=path).shape == ref(x).shape


@pytest.mark.parametrize("dims, shape", [(1, (1, 2, 0)), (2, (1, 2, 0, 4)), (2, (1, 2, 5, 0)), (3, (1, 2, 3, 0, 4)),
                                         (2, (2, 0, 3)), (1, (2, 0))])
def test_adaptive_pooling_of_an_empty_axis_is_refused_as_pytorch_does(dims, shape, fresh_coverage):
    """Adaptive average pooling used to return zeros for an empty axis; PyTorch refuses it."""
    from evosym.coverage import pooling
    fn = f"adaptive_avg_pool{dims}d"
    x = torch.zeros(shape, dtype=F64)
    with pytest.raises(RuntimeError):
        getattr(torch.nn.functional, fn)(x, 2)
    for path in ("auto", "generic"):
        with pytest.raises(ValueError, match=r"length 0 on axis \d \(a position axis\): only the batch may be empty"):
            pooling.pool(fn, x, 2, path=path)
    with pytest.raises(ValueError, match=r"keeps the input's length where it is None.*no positive length"):
        pooling.pool(fn, x, (None,) * dims)


@pytest.mark.parametrize("dims, out", [(1, 3), (2, (2, 3)), (3, (1, 2, 2))])
def test_adaptive_pooling_of_an_empty_batch_equals_pytorch(dims, out, fresh_coverage):
    from evosym.coverage import pooling
    fn = f"adaptive_avg_pool{dims}d"
    x = torch.zeros((0, 2) + (4,) * dims, dtype=F64)
    want = getattr(torch.nn.functional, fn)(x, out)
    for path in ("auto", "generic"):
        assert pooling.pool(fn, x, out, path=path).shape == want.shape
