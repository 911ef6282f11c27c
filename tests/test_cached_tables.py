"""What a generated module keeps between calls (``_evosym_tables``: masks computed from the sizes alone;
``_evosym_gathers``: flat indices of reads at sizes-only positions) and the tiled SDPA call's layout.

A cached entry must never be used where it was not computed: another size, dtype or device, or an entry made in
inference mode reused by a call that records autograd (PyTorch refuses to save an inference tensor for backward).
"""

from __future__ import annotations

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
    body = src.split("def _sdpa(")[1].split("\ndef ")[0]
    assert 'at = globals().setdefault("_evosym_tables", {})' in src.split("def _table(")[1].split("\ndef ")[0]
    compares = [line for line in body.splitlines() if "% (M * T_h)" in line]   # computed by make() on a miss only
    assert compares and all(" = _table((" in line and "% (M * T_h)" in line.split("lambda: ", 1)[1] for line in compares)


def test_tables_and_gathers_are_keyed_by_sizes_and_dtype(swin):
    src, mod, fn, op = swin
    mod.__dict__.pop("_evosym_tables", None)
    mod.__dict__.pop("_evosym_gathers", None)
    for tiles, dtype in (((2, 3), torch.float64), ((3, 2), torch.float64), ((2, 3), torch.float32),
                         ((1, 1), torch.float64), ((2, 3), torch.float64)):
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
    assert len(tables) == 1 and "W" not in tables[0].split("lambda: ", 1)[1]
    nested = lambda i, j, n, W: InRange(i, 0, 1) * sp.KroneckerDelta(i, j) + InRange(j, 0, 1)
    assert sum(s.count("_table(") for s in _compile(nested, True).statements) == 1   # the outermost only


def test_a_table_equals_the_uncached_program():
    expr = lambda i, j, n, W: InRange(sp.Mod(i - 1, n), 0, 1) * sp.KroneckerDelta(sp.floor(i / 2), sp.floor(j / 2))
    cached, plain = _compile(expr, True), _compile(expr, False)
    for size in (1, 3, 4, 7):
        out = []
        for prog in (cached, plain):
            env = {"torch": torch, "dtype": torch.float64, "device": torch.device("cpu"), "n": size}
            exec(template_function("_as_grid") + "\n" + template_function("_table"), env)  # noqa: S102 - the helpers
            for _ in range(2):   # the second run reads the table
                exec("\n".join(prog.statements), env)
            out.append(env[prog.result].expand(size, size))
        torch.testing.assert_close(out[0], out[1], rtol=0, atol=0)


def _run_twice(prog, size, dtype, W):
    """``prog``'s result at n = ``size``, run twice in one scope (the second run reads any table the first made)."""
    env = {"torch": torch, "dtype": dtype, "device": torch.device("cpu"), "n": size, "W": W}
    exec(template_function("_as_grid") + "\n" + template_function("_table"), env)  # noqa: S102 - the modules' helpers
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
        assert " = " not in s.split("lambda: ", 1)[1]
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
                                  lambda i, j, n, W: sp.Abs(i - 1) / (n + 1) * W[j]])
def test_integer_operations_never_become_coordinate_tables(expr):
    """%, ⌊·⌋, max and |·| of an axis print as integer tensors (indices): SymPy cannot always call them integers
    (i mod n with n possibly 0), and a table converts to the dtype."""
    prog = _compile(expr, False)
    assert not any("_table(" in s for s in prog.statements)
    W = torch.randn(4, dtype=torch.float64)
    got, _ = _run_twice(prog, 4, torch.float64, W)
    want, _ = _run_twice(_uncached(expr), 4, torch.float64, W)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
