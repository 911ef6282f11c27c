"""The torch printer of index expressions: sizes stay Python numbers, integer tensors are divided in the
working dtype. Each printed expression is executed and compared with SymPy's value."""

from __future__ import annotations

import sympy as sp
import torch

from evosym.codegen.render import template_function
from evosym.codegen.torchexpr import GridCompiler
from evosym.ir.symbols import index, size
from test_codegen_runtime import load

H, R = size("H"), size("R")
i = index("i")


def _run(expr, extent=5, dtype=torch.float64, **values):
    gc = GridCompiler((i,), {i: extent}, {}, {H: "H", R: "R"})
    prog = gc.compile(expr)
    scope = {"torch": torch, "dtype": dtype, "device": torch.device("cpu"), "_as_grid": load("involution")._as_grid,
             **values}
    exec(template_function("_traced") + "\n" + template_function("_table"), scope)  # noqa: S102 - the helpers
    exec("\n".join(prog.statements), scope)  # noqa: S102 - the compiler's own output
    return prog, scope[prog.result]


def test_min_and_max_of_sizes_are_python_ints():
    gc = GridCompiler((), {}, {}, {H: "H", R: "R"})
    text = gc.scalar(sp.Min(H - 2 * R, R + 1))
    assert "torch" not in text and "device" not in text, text   # usable before any tensor exists
    assert eval(text, {"H": 9, "R": 2}) == 3 and eval(text, {"H": 9, "R": 4}) == 1  # noqa: S307
    assert eval(gc.scalar(sp.Max(H - 2 * R, 0)), {"H": 3, "R": 2}) == 0  # noqa: S307


def test_min_with_an_index_is_still_a_tensor():
    prog, value = _run(sp.Min(i, H - 3), H=6)
    assert value.flatten().tolist() == [0, 1, 2, 3, 3]


def test_one_over_an_integer_index_is_in_the_working_dtype():
    prog, value = _run(1 / (i + 3), H=6)
    assert value.dtype == torch.float64, "divided in float32 (torch's default) instead of dtype"
    want = torch.tensor([1 / (k + 3) for k in range(5)], dtype=torch.float64)
    assert torch.equal(value.flatten(), want)


def test_an_index_clamped_by_a_size_keeps_the_size_a_number():
    prog, value = _run(sp.Min(H - 2 * R - 1, sp.Max(0, i - R)), H=6, R=1)
    text = "\n".join(prog.statements)
    assert "torch.as_tensor((H" not in text and "torch.as_tensor(0" not in text, text
    assert value.flatten().tolist() == [min(6 - 2 - 1, max(0, k - 1)) for k in range(5)]


def _run_reads(expr, dtype, **tensors):
    """Compile ``expr`` over the grid (i,) with tensors A[I, K] and B[K] (sizes I, K) and run it."""
    I, K = size("I"), size("K")
    shapes = {"A": (("I", "K"), (I, K)), "B": (("K",), (K,))}
    gc = GridCompiler((i,), {i: "I"}, {n: (n, *shapes[n]) for n in tensors}, {I: "I", K: "K"})
    prog = gc.compile(expr)
    first = next(iter(tensors.values()))
    scope = {"torch": torch, "dtype": dtype, "device": torch.device("cpu"), "_as_grid": load("involution")._as_grid,
             "I": first.shape[0], "K": tensors["A"].shape[1] if "A" in tensors else first.shape[0], **tensors}
    exec("\n".join(prog.statements), scope)  # noqa: S102 - the compiler's own output
    return "\n".join(prog.statements), scope[prog.result].flatten()


def test_a_constant_times_a_sum_scales_an_operand_before_the_sum():
    """c·Σ_k f: c multiplies an operand before the reduction (as scaled_dot_product_attention scales q before
    q·kᵀ), so a sum beyond float16's range (65504) whose scaled value is in range is finite: 8·100·100 = 80000
    overflows, 80000/16 = 5000 does not. Three lowerings: whole tensors (a matrix product), reads on a grid
    (einsum) and a plain sum."""
    k, K = index("k"), size("K")
    A, B = sp.IndexedBase("A"), sp.IndexedBase("B")
    a, b = torch.full((3, 8), 100.0), torch.full((8,), 100.0)
    cases = [(sp.Sum(A[i, k] * B[k], (k, 0, K - 1)) / 16, dict(A=a, B=b), 5000.0),
             (sp.Sum(A[i, k] * B[K - 1 - k], (k, 0, K - 1)) / 16, dict(A=a, B=b), 5000.0),
             (sp.Sum(sp.Rational(1, 2) * A[i, k] * B[k], (k, 0, K - 1)) / 8, dict(A=a, B=b), 5000.0),
             (sp.Sum(A[i, k], (k, 0, K - 1)) * sp.Rational(1, 16) / size("I"), dict(A=100 * a), 80000 / 16 / 3)]
    for expr, tensors, want in cases:
        for dtype in (torch.float16, torch.float64):
            text, value = _run_reads(expr, dtype, **{n: t.to(dtype) for n, t in tensors.items()})
            assert value.dtype == dtype and value.shape == (3,), text
            assert torch.isfinite(value).all(), f"{expr} overflowed {dtype}:\n{text}"
            tol = 2 ** -10 * want if dtype == torch.float16 else 1e-12 * want   # float16: one rounding of the result
            assert (value.double() - want).abs().max() <= tol, (expr, dtype, value, text)


def test_a_sum_divided_by_its_number_of_terms_is_a_mean():
    """Σ_k A[i, k] / K is ``.mean`` over k (no scaled copy of the operand; float16 accumulates in float32, so a sum
    beyond 65504 whose mean is in range stays finite); any other scale keeps the scaled sum."""
    k, K = index("k"), size("K")
    A = sp.IndexedBase("A")
    a = torch.full((3, 8), 10000.0)
    text, value = _run_reads(sp.Sum(A[i, k], (k, 0, K - 1)) / K, torch.float16, A=a.half())
    assert ".mean(dim=" in text and torch.isfinite(value).all() and (value.double() - 10000).abs().max() <= 10
    text, value = _run_reads(sp.Sum(A[i, k], (k, 0, K - 1)) / (2 * K), torch.float64, A=a.double())
    assert ".mean(" not in text and ".sum(dim=" in text and (value - 5000).abs().max() < 1e-9
    b = torch.arange(24.0, dtype=torch.float64).reshape(3, 8)
    text, value = _run_reads(sp.Sum(A[i, k], (k, 0, K - 1)) / K, torch.float64, A=b)
    torch.testing.assert_close(value, b.mean(1), rtol=1e-15, atol=0)


def test_a_delta_of_two_grid_axes_is_an_identity_matrix_on_the_grid():
    """δ(a, b) of two grid axes prints as torch.eye viewed onto the grid (of unequal lengths, in either argument
    order, with an axis between them and beside another factor); its values are SymPy's at every grid point."""
    a, b, c = index("a"), index("b"), index("c")
    A, Bn, Cn = size("A"), size("B"), size("C")
    for expr in (sp.KroneckerDelta(a, c), sp.KroneckerDelta(c, a), (b + 1) * sp.KroneckerDelta(a, c) + sp.KroneckerDelta(b, a)):
        gc = GridCompiler((a, b, c), {a: "A", b: "B", c: "C"}, {}, {A: "A", Bn: "B", Cn: "C"})
        prog = gc.compile(expr)
        text = "\n".join(prog.statements)
        assert "torch.eye(" in text and "==" not in text, text
        scope = {"torch": torch, "dtype": torch.float64, "device": torch.device("cpu"), "A": 4, "B": 2, "C": 3,
                 "_as_grid": load("involution")._as_grid}
        exec(text, scope)  # noqa: S102 - the compiler's own output
        got = scope[prog.result].expand(4, 2, 3)
        want = torch.tensor([[[float(expr.subs({a: x, b: y, c: z})) for z in range(3)] for y in range(2)] for x in range(4)],
                            dtype=torch.float64)
        assert torch.equal(got, want), expr


def _run_channel_map(expr, axes, extents, tensors, sizes, grad=True):
    """Compile ``expr`` over the grid ``axes`` (python extents ``extents``) with ``tensors`` (name -> (torch tensor,
    SymPy shape)) and run it in float64, recording gradients or not: the program's text and its value on the grid."""
    names = {str(s): s for s in sizes}
    gc = GridCompiler(axes, dict(zip(axes, extents)),
                      {n: (n, tuple(str(d) for d in shape), shape) for n, (_, shape) in tensors.items()},
                      {s: str(s) for s in sizes})
    prog = gc.compile(expr)
    scope = {"torch": torch, "F": torch.nn.functional, "dtype": torch.float64, "device": torch.device("cpu"),
             "_as_grid": load("involution")._as_grid, **{n: t for n, (t, _) in tensors.items()}}
    exec(template_function("_traced") + "\n" + template_function("_plus_bias"), scope)  # noqa: S102 - the helpers
    first = {str(d): n for n, (t, shape) in tensors.items() for d, n in zip(shape, t.shape)}
    scope.update({k: first.get(k, 1) for k in names})   # (a size no tensor has: unused)
    with torch.set_grad_enabled(grad):
        exec("\n".join(prog.statements), scope)  # noqa: S102 - the compiler's own output
    return "\n".join(prog.statements), scope[prog.result]


def test_a_bias_beside_a_channel_map_is_added_into_the_product():
    """b[o] + Σ_e M[o, e]·T[…, e, …] with the channel axis first, after a batch axis or last: the module's _plus_bias
    adds b into the product's memory where no gradient is recorded (not a second tensor of the product's size), and
    as ``+`` where one is (matmul's own backward); values equal the plain product plus b both ways and gradients too
    (float64). Not fused: a product that is read twice, a vector along another axis."""
    b, o, p, e = index("b"), index("o"), index("p"), index("e")
    Bs, O, E, P = size("B"), size("O"), size("E"), size("P")
    M, T, Bv, Q = (sp.IndexedBase(n) for n in ("M", "T", "bias", "Q"))
    g = torch.Generator().manual_seed(0)
    w, bias, q = (torch.randn(*s, generator=g, dtype=torch.float64, requires_grad=True) for s in ((5, 3), (5,), (4,)))
    sizes = (Bs, O, E, P)
    t3 = torch.randn(2, 3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    cases = [  # (expr, grid axes, extents, T and its shape, fused, the value in torch)
        (Bv[o] + sp.Sum(M[o, e] * T[b, e, p], (e, 0, E - 1)), (b, o, p), ("B", "O", "P"), (t3, (Bs, E, P)), True,
         lambda t: w @ t + bias[:, None]),
        (Bv[o] + sp.Sum(M[o, e] * T[e, p], (e, 0, E - 1)), (o, p), ("O", "P"),
         (torch.randn(3, 4, generator=g, dtype=torch.float64, requires_grad=True), (E, P)), True,
         lambda t: w @ t + bias[:, None]),
        (Bv[o] + sp.Sum(M[o, e] * T[b, p, e], (e, 0, E - 1)), (b, p, o), ("B", "P", "O"),
         (torch.randn(2, 4, 3, generator=g, dtype=torch.float64, requires_grad=True), (Bs, P, E)), True,
         lambda t: t @ w.t() + bias),
        ((Bv[o] + sp.Sum(M[o, e] * T[b, e, p], (e, 0, E - 1))) * sp.Sum(M[o, e] * T[b, e, p], (e, 0, E - 1)),
         (b, o, p), ("B", "O", "P"), (t3, (Bs, E, P)), False, lambda t: (w @ t + bias[:, None]) * (w @ t)),
        (Q[p] + sp.Sum(M[o, e] * T[b, e, p], (e, 0, E - 1)), (b, o, p), ("B", "O", "P"), (t3, (Bs, E, P)), False,
         lambda t: w @ t + q),
    ]
    for expr, axes, extents, t, fused, want in cases:
        tensors = {"M": (w, (O, E)), "bias": (bias, (O,)), "Q": (q, (P,)), "T": t}
        ref = want(t[0])
        for grad in (True, False):
            text, got = _run_channel_map(expr, axes, extents, tensors, sizes, grad=grad)
            assert ("_plus_bias(" in text) == fused, (expr, text)
            torch.testing.assert_close(got.reshape(ref.shape), ref, rtol=1e-13, atol=1e-13, msg=text)
        inputs = [w, bias, q, t[0]]
        got = _run_channel_map(expr, axes, extents, tensors, sizes, grad=True)[1]
        for gg, gr in zip(torch.autograd.grad(got.sum(), inputs, allow_unused=True),
                          torch.autograd.grad(ref.sum(), inputs, allow_unused=True)):
            assert (gg is None and gr is None) or torch.allclose(gg, gr, rtol=1e-12, atol=1e-12), text


def test_plus_bias_adds_in_place_only_where_nothing_records():
    """The generated ``_plus_bias``: into the product's memory under no_grad and in inference mode; a new tensor
    where a gradient is recorded for either operand, for two dtypes (``+`` promotes: autocast's bfloat16 product and a
    float32 bias), under forward-mode AD and inside a torch.func transform."""
    scope = {"torch": torch}
    exec(template_function("_traced") + "\n" + template_function("_plus_bias"), scope)  # noqa: S102 - the helpers
    plus = scope["_plus_bias"]
    bias = torch.randn(5, 1, dtype=torch.float64)
    fresh = lambda dtype=torch.float64: torch.randn(2, 5, 4, dtype=dtype)   # noqa: E731
    for mode in (torch.no_grad, torch.inference_mode):
        with mode():
            prod = fresh()
            want = prod + bias
            got = plus(prod, bias)
            assert got.data_ptr() == prod.data_ptr() and torch.equal(got, want)
    prod = fresh()
    assert plus(prod, bias).data_ptr() == prod.data_ptr()    # nothing requires grad: nothing records
    for prod, b in ((fresh().requires_grad_(), bias), (fresh(), bias.clone().requires_grad_()),
                    (fresh(torch.bfloat16), bias.float())):
        before = prod.detach().clone()
        got = plus(prod, b)
        assert got.data_ptr() != prod.data_ptr() and torch.equal(prod.detach(), before) and got.dtype == (prod + b).dtype
    import torch.autograd.forward_ad as fwad
    with fwad.dual_level():
        prod = fresh()
        assert plus(prod, fwad.make_dual(bias, torch.ones_like(bias))).data_ptr() != prod.data_ptr()
    out = torch.func.vmap(lambda b_: plus(torch.ones(5, 4, dtype=torch.float64), b_))(torch.randn(3, 5, 1, dtype=torch.float64))
    assert out.shape == (3, 5, 4)
