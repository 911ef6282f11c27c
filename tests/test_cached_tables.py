"""What a generated module keeps between calls (``_evosym_tables``: masks computed from the sizes alone;
``_evosym_gathers``: flat indices of reads at sizes-only positions) and the tiled SDPA call's layout.

A cached entry must never be used where it was not computed: another size, dtype or device, or an entry made in
inference mode reused by a call that records autograd (PyTorch refuses to save an inference tensor for backward).
"""

from __future__ import annotations

import re

import pytest
import sympy as sp
import torch
import torch.nn.functional as F

from evosym import catalogue
from evosym.codegen.check import load_source
from evosym.codegen.plan import make_plan
from evosym.codegen.render import render_torch, template_function
from evosym.codegen.torchexpr import GridCompiler
from evosym.ir.symbols import InRange

SIZES = dict(N=2, d=2, M=2, S=1)


@pytest.fixture(scope="module")
def swin():
    cp = catalogue.checked("swin_attention")
    plan = make_plan(cp)
    src = render_torch(plan, cp.operator.torch_binding)
    mod = load_source(src, "swin_attention", cp)
    return src, mod, getattr(mod, plan.func_name), cp.operator


def _args(op, tiles, dtype, seed=0, grad=False):
    g = torch.Generator().manual_seed(seed)
    by_name = {str(s): s for s, _ in op.sizes}
    env = {by_name[k]: v for k, v in {"B": 2, "T_h": tiles[0], "T_w": tiles[1], **SIZES}.items()}
    shapes = op.valid_shapes_at(env)
    out = [torch.randn(shapes[t.name], generator=g, dtype=torch.float64).to(dtype)
           for t in op.tensors if t.name == op.value or t.role == "parameter"]
    return [a.requires_grad_() for a in out] if grad else out


def _reference(op, args):
    names = [t.name for t in op.tensors if t.name == op.value or t.role == "parameter"]
    return op.torch_reference(dict(zip(names, args)), SIZES)


def test_the_shift_mask_is_a_table_computed_on_a_miss_only(swin):
    src, mod, fn, op = swin
    body = src.split("def _logit_bias(")[1].split("\ndef ")[0]   # (β's program, which the SDPA path calls)
    assert "_logit_bias(" in src.split("def _sdpa(")[1].split("\ndef ")[0]
    assert 'at = globals().setdefault("_evosym_tables", {})' in src.split("def _table(")[1].split("\ndef ")[0]
    compares = [line for line in body.splitlines() if "% (M * T_h)" in line]   # computed by make() on a miss only
    assert compares and all(" = _table((" in line and "% (M * T_h)" in _made(line) for line in compares)


def test_tables_and_gathers_are_keyed_by_sizes_and_dtype(swin):
    src, mod, fn, op = swin
    mod.__dict__.pop("_evosym_tables", None)
    mod.__dict__.pop("_evosym_gathers", None)
    for tiles, dtype in (((2, 3), torch.float64), ((3, 2), torch.float64), ((2, 3), torch.float32),
                         ((2, 2), torch.float64), ((2, 3), torch.float64)):   # (S = 1: two tiles per axis at least)
        args = _args(op, tiles, dtype, seed=sum(tiles))
        want = _reference(op, [a.double() for a in args])
        tol = 1e-10 if dtype == torch.float64 else 1e-4
        torch.testing.assert_close(fn(*args, **SIZES).double(), want, rtol=tol, atol=tol)
        torch.testing.assert_close(fn(*args, **SIZES, path="generic").double(), want, rtol=tol, atol=tol)
    # one entry per (sizes, dtype): four distinct keys, the repeated call reused its entry
    assert len(mod._evosym_tables) == 4 and len(mod._evosym_gathers) == 4


@pytest.mark.parametrize("path", ["auto", "generic"])
def test_an_entry_made_in_inference_mode_is_not_reused_under_autograd(swin, path):
    src, mod, fn, op = swin
    mod.__dict__.pop("_evosym_tables", None)
    mod.__dict__.pop("_evosym_gathers", None)
    args = _args(op, (2, 2), torch.float64, seed=3)
    with torch.inference_mode():
        first = fn(*args, **SIZES, path=path)
    args = [a.clone().requires_grad_() for a in args]
    y = fn(*args, **SIZES, path=path)
    torch.testing.assert_close(y, first.clone())
    grads = torch.autograd.grad(y.square().sum(), args)
    want = torch.autograd.grad(_reference(op, args).square().sum(), args)
    for g, w in zip(grads, want):
        torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-10)
    with torch.no_grad():   # no_grad makes ordinary tensors: the autograd entries serve it
        torch.testing.assert_close(fn(*args, **SIZES, path=path), y.detach())


def test_the_tiled_sdpa_call_takes_four_axes(swin, monkeypatch):
    """(b, tile·head, position, channel): with five axes SDPA runs its unfused math path."""
    src, mod, fn, op = swin
    seen = []
    real = F.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, **kw):
        seen.append((q.dim(), k.dim(), v.dim(), attn_mask.dim()))
        return real(q, k, v, attn_mask=attn_mask, **kw)
    monkeypatch.setattr(mod.F, "scaled_dot_product_attention", spy)
    args = _args(op, (2, 3), torch.float64, seed=5)
    torch.testing.assert_close(fn(*args, **SIZES), _reference(op, args), rtol=1e-10, atol=1e-10)
    assert seen == [(4, 4, 4, 4)]


def _made(line):
    """What a ``_table``/``_gather`` line computes on a miss: the code after its lambda's parameters."""
    return re.split(r"lambda [^:]*: |lambda: ", line, maxsplit=1)[1]


def _compile(expr, cache):
    i, j, n = sp.symbols("i j n", integer=True, nonnegative=True)
    W = sp.IndexedBase("W")
    gc = GridCompiler((i, j), {i: "n", j: "n"}, {"W": ("W", ["n"], (n,))}, {n: "n"}, prefix="z", cache_gathers=cache)
    return gc.compile(expr(i, j, n, W))


def test_only_sizes_only_masks_become_tables():
    mask = lambda i, j, n, W: InRange(i - j, 0, 1) * sp.KroneckerDelta(sp.Mod(i + 1, n), j)
    assert any("_table(" in s for s in _compile(mask, True).statements)
    assert not any("_table(" in s for s in _compile(mask, False).statements)   # a program run once
    affine = lambda i, j, n, W: 2 * i + j                                    # no bracket: not worth a table
    assert not any("_table(" in s for s in _compile(affine, True).statements)
    reads = lambda i, j, n, W: InRange(i - j, 0, 1) * W[j]                           # reads a tensor: the bracket
    prog = _compile(reads, True)                                                     # alone is the table
    tables = [s for s in prog.statements if "_table(" in s]
    assert len(tables) == 1 and "W" not in _made(tables[0])
    nested = lambda i, j, n, W: InRange(i, 0, 1) * sp.KroneckerDelta(i, j) + InRange(j, 0, 1)
    assert sum(s.count("_table(") for s in _compile(nested, True).statements) == 1   # the outermost only


def test_a_table_equals_the_uncached_program():
    expr = lambda i, j, n, W: InRange(sp.Mod(i - 1, n), 0, 1) * sp.KroneckerDelta(sp.floor(i / 2), sp.floor(j / 2))
    cached, plain = _compile(expr, True), _compile(expr, False)
    for size in (1, 3, 4, 7):
        out = []
        for prog in (cached, plain):
            env = {"torch": torch, "dtype": torch.float64, "device": torch.device("cpu"), "n": size}
            exec("\n".join(template_function(h) for h in ("_as_grid", "_traced", "_table")), env)  # noqa: S102 - the helpers
            for _ in range(2):   # the second run reads the table
                exec("\n".join(prog.statements), env)
            out.append(env[prog.result].expand(size, size))
        torch.testing.assert_close(out[0], out[1], rtol=0, atol=0)


def _run_twice(prog, size, dtype, W):
    """``prog``'s result at n = ``size``, run twice in one scope (the second run reads any table the first made)."""
    env = {"torch": torch, "dtype": dtype, "device": torch.device("cpu"), "n": size, "W": W}
    exec("\n".join(template_function(h) for h in ("_as_grid", "_traced", "_table")), env)  # noqa: S102 - the modules' helpers
    for _ in range(2):
        exec("\n".join(prog.statements), env)  # noqa: S102 - the compiler's own output
    return env[prog.result], env.get("_evosym_tables", {})


def _uncached(expr):
    i, j, n = sp.symbols("i j n", integer=True, nonnegative=True)
    W = sp.IndexedBase("W")
    gc = GridCompiler((i, j), {i: "n", j: "n"}, {"W": ("W", ["n"], (n,))}, {n: "n"}, prefix="z")
    gc._table_worthy = lambda e: False
    return gc.compile(expr(i, j, n, W))


K_ = sp.Symbol("k", integer=True, nonnegative=True)
COORDINATES = {   # non-integer functions of one grid axis: tables in any program
    "slow net": lambda i, j, n, W: sp.sin(W[j] * (-1 + 2 * i / (n + 1)) + W[i]),
    "the axis also read as a value": lambda i, j, n, W: sp.sin(i / (n + 2)) * W[j] + i * W[j],
    "two axes, one table each": lambda i, j, n, W: i / (n + 3) + j / (n + 1) + W[j],
    "a transcendental of one axis": lambda i, j, n, W: sp.exp(-sp.Rational(1, 2) * i) * W[j] + j,
    "inside a sum's operand": lambda i, j, n, W: sp.Sum(W[K_] * sp.cos(1 + i / (n + 1)), (K_, 0, n - 1)) + W[j],
}


@pytest.mark.parametrize("name", sorted(COORDINATES))
def test_a_coordinate_is_a_table_equal_to_the_uncached_program(name):
    expr = COORDINATES[name]
    cached, plain = _compile(expr, False), _uncached(expr)
    tables = [s for s in cached.statements if "_table(" in s]
    assert tables and not any("_table(" in s for s in plain.statements)
    for s in tables:   # self-contained: an axis in a table is an arange inside it, never a name it defines
        assert " = " not in _made(s)
    keys = set()
    for size in (2, 3, 5):
        for dtype in (torch.float64, torch.float32):
            W = torch.randn(size, generator=torch.Generator().manual_seed(size), dtype=torch.float64).to(dtype)
            got, at = _run_twice(cached, size, dtype, W)
            want, _ = _run_twice(plain, size, dtype, W)
            assert got.dtype == want.dtype == dtype
            torch.testing.assert_close(got, want, rtol=0, atol=0)
            keys |= set(at)
    assert len(keys) == 6 * len(tables)   # one entry per table, size and dtype


@pytest.mark.parametrize("expr", [lambda i, j, n, W: 2 * i + j + W[j],                  # integer: an index, not a table
                                  lambda i, j, n, W: (i + j) / (n + 1) * W[j],            # two axes in one expression
                                  lambda i, j, n, W: W[i] / (n + 1) + W[j]])              # reads a tensor
def test_integer_two_axis_and_reading_expressions_are_not_coordinate_tables(expr):
    assert not any("_table(" in s for s in _compile(expr, False).statements)


def test_hyperzzw_codes_coordinates_are_tables_that_serve_autograd_after_inference_mode():
    cp = catalogue.checked("hyperzzw_code")
    plan = make_plan(cp)
    src = render_torch(plan, cp.operator.torch_binding)
    assert src.count(" = _table((") == 4   # the two slow nets' row and column coordinates
    mod = load_source(src, "hyperzzw_code", cp)
    fn, op = getattr(mod, plan.func_name), cp.operator
    sizes = dict(C=2, D=3, R=1, P=2)
    by_name = {str(s): s for s, _ in op.sizes}
    for P, dtype in ((2, torch.float64), (1, torch.float64), (2, torch.float32), (3, torch.float64)):
        sz = {**sizes, "P": P}
        shapes = op.valid_shapes_at({by_name[k]: v for k, v in {"B": 2, **sz}.items()})
        g = torch.Generator().manual_seed(P)
        args = [torch.randn(shapes[t.name], generator=g, dtype=torch.float64).to(dtype) for t in op.tensors]
        names = [t.name for t in op.tensors]
        with torch.inference_mode():
            first = fn(*args, **sz)
        args = [a.clone().requires_grad_() for a in args]
        y = fn(*args, **sz)
        want = op.torch_reference(dict(zip(names, args)), sz)
        tol = 1e-10 if dtype == torch.float64 else 1e-4
        torch.testing.assert_close(y, want, rtol=tol, atol=tol)
        torch.testing.assert_close(first, y.detach(), rtol=0, atol=0)
        grads = torch.autograd.grad(y.square().sum(), args)
        for got, w in zip(grads, torch.autograd.grad(want.square().sum(), args)):
            torch.testing.assert_close(got, w, rtol=tol, atol=tol)
    # the global net's two tables × (P = 2, 1, 3 in float64; P = 2 in float32) and the local net's two (they read R
    # alone, not P) × (float64, float32), each × (inference mode, autograd): no entry shared where a key differs
    assert len(mod._evosym_tables) == (2 * 4 + 2 * 2) * 2


@pytest.mark.parametrize("expr", [lambda i, j, n, W: W[sp.Mod(i + 1, n)] + j,
                                  lambda i, j, n, W: sp.floor(i / 2) + W[j] / (n + 1),
                                  lambda i, j, n, W: sp.Max(i - 1, 0) * W[j],
                                  lambda i, j, n, W: sp.Abs(i - 1) / (n + 1) * W[j],
                                  lambda i, j, n, W: W[sp.Min(i + 2 ** j, n - 1)],      # 2**j: no sign, no integer
                                  lambda i, j, n, W: 2 ** i * W[j] + i ** 2 * j])         # proof, but integer
def test_integer_operations_never_become_coordinate_tables(expr):
    """%, ⌊·⌋, max and |·| of an axis print as integer tensors (indices): SymPy cannot always call them integers
    (i mod n with n possibly 0), and a table converts to the dtype."""
    prog = _compile(expr, False)
    assert not any("_table(" in s for s in prog.statements)
    W = torch.randn(4, dtype=torch.float64)
    got, _ = _run_twice(prog, 4, torch.float64, W)
    want, _ = _run_twice(_uncached(expr), 4, torch.float64, W)
    torch.testing.assert_close(got, want, rtol=0, atol=0)


def _module(name):
    cp = catalogue.checked(name)
    plan = make_plan(cp)
    mod = load_source(render_torch(plan, cp.operator.torch_binding), name, cp)
    return mod, getattr(mod, plan.func_name), cp.operator


def _inputs(mod, op, sizes, seed):
    """Random float64 inputs of ``op`` at ``sizes`` and the sizes its function takes (the others come from shapes)."""
    by_name = {str(s): s for s, _ in op.sizes}
    shapes = op.valid_shapes_at({by_name[k]: v for k, v in sizes.items()})
    g = torch.Generator().manual_seed(seed)
    return ([torch.randn(shapes[t.name], generator=g, dtype=torch.float64) for t in op.tensors],
            {k: sizes[k] for k in mod.SIZES})


TRACED = {"swin_attention": dict(B=2, T_h=2, T_w=2, **SIZES), "hyperzzw_code": dict(B=2, C=2, D=3, R=1, P=2),
          "neighborhood_attention": dict(B=2, N=2, d=2, H=5, W=6, R=1)}


@pytest.mark.parametrize("name", sorted(TRACED))
@pytest.mark.parametrize("mode", ["FakeTensorMode", "make_fx", "torch.device('meta')", "meta tensors", "functionalize",
                                  "vmap"])
def test_nothing_made_under_a_tracing_mode_is_kept_or_reused(name, mode):
    """A call under FakeTensorMode, make_fx, a device context, on meta tensors or under a torch.func transform makes no
    ordinary tensor: were it kept, the next real call would read a fake, meta or wrapped table (before: a FakeTensor
    came back as the output of the real call after; a functionalized call's wrappers were kept and later outputs had
    no storage)."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.proxy_tensor import make_fx
    mod, fn, op = _module(name)
    sizes = TRACED[name]
    args, call = _inputs(mod, op, sizes, seed=7)
    for _ in range(2):   # the second round: after entries exist (hits must not leak into the traced call either)
        if mode == "FakeTensorMode":
            with FakeTensorMode() as fake:
                out = fn(*[fake.from_tensor(a) for a in args], **call)
            assert type(out) is not torch.Tensor
        elif mode in ("functionalize", "vmap"):   # torch.func: its tensors are wrappers (functionalize's were kept)
            names = [t.name for t in op.tensors]
            want = op.torch_reference(dict(zip(names, args)), sizes)
            if mode == "functionalize":
                got = torch.func.functionalize(lambda *a: fn(*a, **call))(*args)
            else:
                got = torch.func.vmap(lambda a0: fn(a0, *args[1:], **call))(args[0][None])[0]
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
        elif mode == "make_fx":
            graph = make_fx(lambda *a: fn(*a, **call))(*args)
            torch.testing.assert_close(graph(*args), op.torch_reference(dict(zip([t.name for t in op.tensors], args)),
                                                                         sizes), rtol=1e-10, atol=1e-10)
        elif mode == "meta tensors":   # (no mode: a gather's "every read inside" test asked a meta tensor for its
            out = fn(*[a.to("meta") for a in args], **call)   # value, a raw RuntimeError; an adversarial pass)
            assert out.device.type == "meta" and out.shape == args[0].shape
        else:
            with torch.device("meta"):
                out = fn(*[a.to("meta") for a in args], **call)
            assert out.device.type == "meta"
        for cache in ("_evosym_tables", "_evosym_gathers"):
            assert all(type(v) is torch.Tensor and v.device.type == "cpu"
                       and not torch._C._functorch.is_functorch_wrapped_tensor(v)
                       for entry in vars(mod).get(cache, {}).values() for v in (entry if isinstance(entry, tuple) else
                                                                                  (entry,)) if isinstance(v, torch.Tensor))
        y = fn(*args, **call)
        assert type(y) is torch.Tensor
        want = op.torch_reference(dict(zip([t.name for t in op.tensors], args)), sizes)
        torch.testing.assert_close(y, want, rtol=1e-10, atol=1e-10)
    assert vars(mod).get("_evosym_tables") or vars(mod).get("_evosym_gathers")   # the real calls kept theirs


def test_an_integer_power_in_a_delta_stays_exact_in_float16():
    """δ(2^j, i + 2040) in float16: as a float16 table 2049 rounds to 2048 and the delta sums to 2 (found by the
    adversarial pass); the power stays an integer tensor."""
    expr = lambda i, j, n, W: sp.KroneckerDelta(2 ** j, i + 2040) * W[j]
    for cache in (False, True):   # with cached gathers the whole delta is a mask table: compared in integers
        prog = _compile(expr, cache)
        assert all("_table(" not in s or ") == (" in _made(s) for s in prog.statements)   # the delta, not 2**j
        assert any("_table(" in s for s in prog.statements) == cache
        got, _ = _run_twice(prog, 12, torch.float16, torch.ones(12, dtype=torch.float16))
        assert float(got.expand(12, 12).sum()) == 1.0   # j = 11, i = 8 only


def test_a_result_that_is_a_table_is_handed_on_as_a_copy():
    """A program whose whole value is a table returns a copy: the caller's in-place op cannot change the table."""
    prog = _compile(lambda i, j, n, W: -1 + 2 * i / (n - 1), False)
    assert any("_table(" in s for s in prog.statements) and ".clone()" in prog.statements[-1]
    env = {"torch": torch, "dtype": torch.float64, "device": torch.device("cpu"), "n": 5}
    exec("\n".join(template_function(h) for h in ("_as_grid", "_traced", "_table")), env)  # noqa: S102 - the helpers
    for k in range(3):
        exec("\n".join(prog.statements), env)  # noqa: S102 - the compiler's own output
        y = env[prog.result]
        assert y.flatten().tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0], k
        y.mul_(0)


def test_exp_of_an_axis_is_computed_in_the_working_dtype_whatever_the_default():
    """exp(i) of an integer axis was torch.exp of an integer tensor, in torch's default dtype: kept as a table made under
    the default float32, a float64 call read float32 values after the default changed."""
    prog = _compile(lambda i, j, n, W: sp.exp(i) * W[j], False)
    exact = torch.exp(torch.arange(4, dtype=torch.float64))
    default = torch.get_default_dtype()
    try:
        for dflt in (torch.float32, torch.float64):
            torch.set_default_dtype(dflt)
            got, _ = _run_twice(prog, 4, torch.float64, torch.ones(4, dtype=torch.float64))
            torch.testing.assert_close(got.expand(4, 4)[:, 0], exact, rtol=0, atol=0)
    finally:
        torch.set_default_dtype(default)


def test_no_generated_function_deletes_a_local_a_closure_reads():
    """``del`` of a local that a lambda closes over (DELETE_DEREF) stops torch.compile(fullgraph=True) and torch.export
    (the tables' and gathers' lambdas read the grid axes; the SDPA lowering deletes its q, k, v: Swin's tap axis is v).
    The lambdas bind what they read as defaults instead."""
    import dis
    import glob
    import types
    from pathlib import Path
    found = []
    for path in sorted(glob.glob(str(Path(__file__).resolve().parents[1] / "codegen" / "torch" / "*.py"))):
        stack = [compile(Path(path).read_text(), path, "exec")]
        while stack:
            code = stack.pop()
            found += [(Path(path).name, code.co_name, i.argval) for i in dis.get_instructions(code)
                      if i.opname == "DELETE_DEREF"]
            stack += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    assert found == []


@pytest.mark.parametrize("name", ["swin_attention", "neighborhood_attention", "hyperzzw_code"])
def test_modules_with_tables_compile_to_one_graph(name, monkeypatch):
    """torch.compile(fullgraph=True): the tables and gathers are computed in the graph (none kept), equal to eager."""
    import sys
    mod, fn, op = _module(name)
    monkeypatch.setitem(sys.modules, mod.__name__, mod)   # dynamo looks the function's module up
    args, call = _inputs(mod, op, TRACED[name], seed=3)
    torch._dynamo.reset()
    compiled = torch.compile(lambda *a: fn(*a, **call), fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(*args), fn(*args, **call), rtol=1e-12, atol=1e-12)
