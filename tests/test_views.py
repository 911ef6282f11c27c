"""Reads compiled as views (evosym.codegen.torchexpr.GridCompiler._view_read): an affine read that is
provably inside its tensor for every admissible size becomes slicing, unflatten and permute of the tensor
(no gather, no mask, nothing copied); any other read keeps the clamped gather and its mask. Each case is
compared with a direct evaluation of the expression (reads outside the tensor are 0) at several sizes,
including the smallest, and with the gather that the compiler emits when views are switched off."""

from __future__ import annotations

import itertools

import pytest
import sympy as sp
import torch
import torch.nn.functional as F

from evosym.codegen.render import template_function
from evosym.codegen.torchexpr import GridCompiler
from evosym.errors import EvosymError
from evosym.ir.padding import circular, reflect, replicate
from evosym.ir.symbols import InRange, index, size


B, C, H, K, G, S, R = (size(n) for n in ("B", "C", "H", "K", "G", "s", "R"))
Z = size("z", zero=True)   # a size that may be 0
SIZES = {n: str(n) for n in (B, C, H, K, G, S, R, Z)}
b, c, i, j, g, u, v, a = (index(n) for n in ("b", "c", "i", "j", "g", "u", "v", "a"))
A = sp.IndexedBase("A")


def _compile(expr, axes, shape, views=True):
    """The program of ``expr`` on the grid ``axes`` (SymPy lengths) reading A of SymPy ``shape``, compiled
    as _materialise compiles a definition (bounds given); ``views=False``: the gather (views switched off)."""
    pyx = GridCompiler((), {}, {}, SIZES).scalar
    extent = {x: pyx(n) for x, n in axes}
    tensors = {"A": ("A", [pyx(n) for n in shape], tuple(shape))}
    gc = GridCompiler(tuple(x for x, _ in axes), extent, tensors, SIZES, prefix="t", bounds=dict(axes))
    if not views:
        gc._view_read = lambda *args: None
    prog = gc.compile(expr)
    return prog, "\n".join(prog.statements)


def _template_helper(name):
    """A helper function of the generated modules, taken from the template's text."""
    scope = {"F": F, "torch": torch}
    exec(template_function(name), scope)  # noqa: S102 - the template's own helper
    return scope[name]


def _execute(prog, tensor, values):
    scope = {"torch": torch, "F": F, "dtype": tensor.dtype, "device": tensor.device, "A": tensor,
             "_as_grid": _template_helper("_as_grid"),
             "_pad_axes": _template_helper("_pad_axes"), "_unfold": _template_helper("_unfold"),
             **{str(k): n for k, n in values.items()}}
    exec("\n".join(prog.statements), scope)  # noqa: S102 - the compiler's own output
    return scope[prog.result]


def _direct(expr, axes, tensor, values):
    """``expr`` evaluated point by point: sizes substituted, sums expanded, reads outside A are 0."""
    sub = _sub(values)
    lengths = [int(sp.sympify(n).xreplace(sub)) for _, n in axes]
    out = torch.zeros(lengths, dtype=tensor.dtype)
    for point in itertools.product(*(range(n) for n in lengths)):
        e = sp.sympify(expr).xreplace(sub).xreplace({x: sp.Integer(p) for (x, _), p in zip(axes, point)}).doit()
        reads = {}
        for r in e.atoms(sp.Indexed):
            at = [int(t) for t in r.indices]
            inside = all(0 <= t < n for t, n in zip(at, tensor.shape))
            reads[r] = sp.Float(float(tensor[tuple(at)])) if inside else sp.Integer(0)
        out[point] = float(e.xreplace(reads))
    return out


def _sub(values):
    """Size values given by name (``dict(B=2, s=1)``) as a substitution of the size symbols."""
    return {**{size(k): sp.Integer(n) for k, n in values.items()}, **{size(k, zero=True): sp.Integer(n) for k, n in values.items()}}


# (expression, grid axes with their lengths, A's shape, size values to try)
VIEWS = {
    "whole axes": (A[b, c], [(b, B), (c, C)], (B, C), [dict(B=1, C=1), dict(B=2, C=3)]),
    "transposed": (A[c, b], [(b, B), (c, C)], (C, B), [dict(B=1, C=2), dict(B=3, C=2)]),
    "transposed with an offset": (A[c + 1, b], [(b, B), (c, C)], (C + 2, B), [dict(B=1, C=1), dict(B=2, C=3)]),
    "offset slice": (A[b, i + R], [(b, B), (i, H)], (B, H + 2 * R), [dict(B=1, H=1, R=1), dict(B=2, H=4, R=2)]),
    "constant index": (A[b, R], [(b, B)], (B, 2 * R + 1), [dict(B=1, R=1), dict(B=3, R=2)]),
    # the constant 0 (SymPy splits the term 0 as (0, 0): these were gathered): a slow net's omega[f, 0]
    "constant index 0": (A[b, 0], [(b, B)], (B, 2), [dict(B=1), dict(B=3)]),
    "constant index 0 first": (A[0, c], [(c, C)], (K, C), [dict(C=1, K=1), dict(C=3, K=2)]),
    "constant index 0 beside a merged index": (A[g * K + a, 0, u], [(g, G), (a, K), (u, K)], (G * K, 1, K),
                                               [dict(G=1, K=1), dict(G=2, K=3)]),
    "coefficient 2": (A[2 * i + 1], [(i, H)], (2 * H,), [dict(H=1), dict(H=4)]),
    "a size as the step": (A[S * i], [(i, H)], (H * S,), [dict(H=1, s=1), dict(H=3, s=2), dict(H=2, s=3)]),
    # over a strided output length ⌊(H − 1)/s⌋ + 1: s·⌊(H − 1)/s⌋ ≤ H − 1 (nonnegative's size coefficients)
    "a step over a strided output length": (A[b, S * i, S * j], [(b, B), (i, sp.floor((H - 1) / S) + 1),
                                                                  (j, sp.floor((K - 1) / S) + 1)], (B, H, K),
                                            [dict(B=1, H=1, K=1, s=1), dict(B=2, H=7, K=8, s=2), dict(B=1, H=5, K=3, s=3)]),
    "strided unflatten (a pool)": (sp.Sum(A[b, a + i * S], (a, 0, S - 1)) / S ** 2, [(b, B), (i, H)], (B, H * S),
                                   [dict(B=1, H=1, s=1), dict(B=2, H=3, s=1), dict(B=2, H=3, s=2), dict(B=1, H=2, s=3)]),
    "merged channel index": (A[b, g * (2 * R + 1) ** 2 + u * (2 * R + 1) + v, i],
                             [(b, B), (g, G), (u, 2 * R + 1), (v, 2 * R + 1), (i, H)], (B, G * (2 * R + 1) ** 2, H),
                             [dict(B=1, G=1, R=1, H=1), dict(B=2, G=2, R=1, H=3)]),
    "merged channel index, axes out of order": (A[g * K + u, b], [(b, B), (u, K), (g, G)], (G * K + 1, B),
                                                [dict(B=2, G=1, K=1), dict(B=2, G=3, K=2)]),
    # overlapping windows (a convolution's reads): unfold
    "overlapping windows": (A[i + u], [(i, H), (u, K)], (H + K - 1,), [dict(H=2, K=1), dict(H=3, K=2)]),
    "not a mixed radix": (A[g * 2 + u], [(g, G), (u, K)], (2 * G + K,), [dict(G=2, K=1), dict(G=2, K=3)]),
    "strided windows": (A[b, S * i + u], [(b, B), (i, H), (u, K)], (B, S * (H - 1) + K),
                        [dict(B=1, H=1, K=1, s=1), dict(B=2, H=3, K=2, s=2), dict(B=1, H=4, K=3, s=3)]),
    "dilated windows, taps first": (A[2 * u + i, c], [(u, K), (c, C), (i, H)], (H + 2 * K - 2, C),
                                    [dict(K=1, C=1, H=1), dict(K=3, C=2, H=4)]),
    "windows on two axes with heads": (A[b, g * K + a, i + v, j + u], [(b, B), (g, G), (a, K), (i, H), (j, H), (u, K), (v, K)],
                                       (B, G * K, H + K - 1, H + K - 1), [dict(B=1, G=1, H=1, K=1), dict(B=2, G=2, H=3, K=2)]),
    # reads through F.pad's index maps: the tensor padded by that mode once, then a view
    "reflect": (A[reflect(i + u - R, H)], [(i, H), (u, 2 * R + 1)], (H,), [dict(H=2, R=1), dict(H=5, R=2), dict(H=4, R=3)]),
    "reflect, strided, 2-D, batch": (A[b, reflect(S * i + u - R, H), reflect(S * j + v - R, H)],
                                     [(b, B), (i, sp.floor((H - 1) / S) + 1), (j, sp.floor((H - 1) / S) + 1),
                                      (u, 2 * R + 1), (v, 2 * R + 1)], (B, H, H),
                                     [dict(B=1, H=2, R=1, s=1), dict(B=2, H=5, R=2, s=2), dict(B=1, H=7, R=3, s=3)]),
    "replicate": (A[c, replicate(i + u - R, H)], [(c, C), (i, H), (u, 2 * R + 1)], (C, H),
                  [dict(C=1, H=1, R=1), dict(C=2, H=2, R=3), dict(C=2, H=5, R=1)]),
    "circular, one wrap at most": (A[circular(i + u - R, H + R)], [(i, H), (u, 2 * R + 1)], (H + R,),
                                   [dict(H=1, R=1), dict(H=3, R=2)]),
}

GATHERS = {   # reads that may leave the tensor for some admissible sizes (or are not views): clamped and masked
    "axis shorter than H·s": (A[a + i * S], [(i, H), (a, S)], (H * S - 1,), [dict(H=1, s=2), dict(H=3, s=2), dict(H=2, s=1)]),
    "negative offset": (A[b, i - 1], [(b, B), (i, H)], (B, H), [dict(B=1, H=1), dict(B=2, H=4)]),
    "offset past the end": (A[i + 1], [(i, H)], (H,), [dict(H=1), dict(H=3)]),
    "coefficient 2 past the end": (A[2 * i + 1], [(i, H)], (2 * H - 1,), [dict(H=1), dict(H=4)]),
    "coefficient 2 that may fit": (A[2 * i], [(i, H)], (H + 1,), [dict(H=1), dict(H=2), dict(H=5)]),
    "symbolic offset larger than the padding": (A[i + R], [(i, H)], (H + 1,), [dict(H=3, R=1), dict(H=3, R=2)]),
    "windows whose step may be 0": (A[Z * i + u], [(i, H), (u, K)], (Z * (H - 1) + K,),
                                    [dict(z=0, H=3, K=2), dict(z=1, H=3, K=2), dict(z=2, H=2, K=3)]),
    "windows whose dilation may be 0": (A[i + Z * u], [(i, H), (u, K)], (H + Z * (K - 1),),
                                        [dict(z=0, H=3, K=2), dict(z=2, H=2, K=3)]),
    "overlapping windows past the end": (A[i + u], [(i, H), (u, K)], (H,), [dict(H=1, K=2), dict(H=3, K=2)]),
    "a size index that may be past the end": (A[i, R], [(i, H)], (H, K), [dict(H=2, R=1, K=3), dict(H=3, R=2, K=2)]),
}

NOT_PADDED = {   # reads through an index map that F.pad cannot give as one padding: gathered as before
    "circular, may wrap twice": (A[circular(i + u - R, H)], [(i, H), (u, 2 * R + 1)], (H,), [dict(H=1, R=1), dict(H=2, R=2)]),
    "two modes on one read": (A[reflect(i + u - R, H), replicate(j + v - R, H)],
                              [(i, H), (j, H), (u, 2 * R + 1), (v, 2 * R + 1)], (H, H), [dict(H=3, R=1)]),
    "a map of another length": (A[reflect(i + u - R, H + 1)], [(i, H), (u, 2 * R + 1)], (H,), [dict(H=3, R=1)]),
}

NOT_VIEWS = {   # inside the tensor but not a view of it (a copy is needed): read as before
    "diagonal": (A[i, i], [(i, H)], (H, H), [dict(H=1), dict(H=3)]),
    "one tap on two axes": (A[i + u, j + u], [(i, H), (j, H), (u, K)], (H + K - 1, H + K - 1), [dict(H=2, K=2)]),
    "a window read backwards": (A[i - u + K - 1], [(i, H), (u, K)], (H + K - 1,), [dict(H=1, K=1), dict(H=3, K=2)]),
    **NOT_PADDED,
}

REVERSED = {   # c − m·v provably inside: a slice flipped (one copy, torch has no negative strides), no gather
    "reversed": (A[H - 1 - i], [(i, H)], (H,), [dict(H=1), dict(H=4)]),
    "reversed with an offset": (A[H - i], [(i, H)], (H + 1,), [dict(H=1), dict(H=3)]),
    "reversed with step 2": (A[2 * H - 2 - 2 * i], [(i, H)], (2 * H - 1,), [dict(H=1), dict(H=4)]),
    "reversed with a size as the step": (A[S * (H - 1 - i)], [(i, H)], (S * (H - 1) + 1,),
                                         [dict(H=1, s=1), dict(H=3, s=2)]),
    "a filter flipped on two axes beside its channel": (A[c, K - 1 - u, K - 1 - v], [(c, C), (u, K), (v, K)], (C, K, K),
                                                        [dict(C=1, K=1), dict(C=2, K=3)]),
    "flipped and transposed": (A[K - 1 - u, c], [(c, C), (u, K)], (K, C), [dict(C=1, K=1), dict(C=3, K=2)]),
    "flipped beside a merged index": (A[g * K + a, R - 1 - i], [(g, G), (a, K), (i, R)], (G * K, R),
                                      [dict(G=1, K=1, R=1), dict(G=2, K=3, R=2)]),
}

GATHERS.update({   # read backwards, but not provably inside
    "reversed past the start": (A[H - 2 - i], [(i, H)], (H,), [dict(H=1), dict(H=3)]),
    "reversed past the end": (A[H - i], [(i, H)], (H,), [dict(H=1), dict(H=3)]),
    "reversed with a step that may be 0": (A[Z * (H - 1 - i)], [(i, H)], (Z * (H - 1) + 1,),
                                           [dict(z=0, H=3), dict(z=2, H=2)]),
})


def _code(text):
    """The statements without their comments (a comment repeats the read, e.g. ``# A[b, c]``)."""
    return "\n".join(line.split("  # ")[0] for line in text.splitlines())


def _is_gather(text):
    return "reads outside A are 0" in text and "a view" not in text


@pytest.mark.parametrize("name", list(VIEWS))
def test_affine_reads_inside_the_tensor_are_views(name):
    expr, axes, shape, trials = VIEWS[name]
    prog, text = _compile(expr, axes, shape)
    code = _code(text)
    assert not _is_gather(text) and ".clamp(" not in code and "torch.arange" not in code, text
    assert not any(f"A[{x}" in code for x in "bcigua"), text   # no gather by index tensors
    gather, gather_text = _compile(expr, axes, shape, views=False)
    assert "a view" not in gather_text, gather_text
    torch.manual_seed(0)
    for values in trials:
        _agree(name, prog, gather, expr, axes, shape, values)


def _agree(name, prog, gather, expr, axes, shape, values):
    """``prog`` and the ``gather`` program equal the direct evaluation of ``expr`` at ``values`` (a random A)."""
    sub = _sub(values)
    tensor = torch.randn([int(sp.sympify(n).xreplace(sub)) for n in shape], dtype=torch.float64)
    want = _direct(expr, axes, tensor, values)
    got = _execute(prog, tensor, values)
    assert got.shape == want.shape, (name, values)
    assert torch.allclose(got, want, rtol=1e-12, atol=1e-12), (name, values, got, want)
    assert torch.allclose(_execute(gather, tensor, values), want, rtol=1e-12, atol=1e-12), (name, values)
    return tensor


@pytest.mark.parametrize("name", list(REVERSED))
def test_reads_backwards_inside_the_tensor_are_flipped_slices(name):
    expr, axes, shape, trials = REVERSED[name]
    prog, text = _compile(expr, axes, shape)
    code = _code(text)
    assert not _is_gather(text) and ".flip(" in code and ".clamp(" not in code and "torch.arange" not in code, text
    assert "a view" not in text and "a flipped copy" in text, text   # labelled as the copy it is
    gather, _ = _compile(expr, axes, shape, views=False)
    torch.manual_seed(2)
    for values in trials:
        sub = _sub(values)
        tensor = torch.randn([int(sp.sympify(n).xreplace(sub)) for n in shape], dtype=torch.float64)
        want = _direct(expr, axes, tensor, values)
        got = _execute(prog, tensor, values)
        assert got.shape == want.shape and torch.equal(got, want), (name, values, got, want)
        assert torch.equal(_execute(gather, tensor, values), want), (name, values)


@pytest.mark.parametrize("name", list(GATHERS) + list(NOT_VIEWS))
def test_reads_not_provably_inside_keep_the_gather_and_its_mask(name):
    expr, axes, shape, trials = {**GATHERS, **NOT_VIEWS}[name]
    prog, text = _compile(expr, axes, shape)
    assert name in NOT_VIEWS or _is_gather(text), text
    assert "a view" not in text and "_pad_axes" not in text, text
    _equals_direct(name, prog, expr, axes, shape, trials, seed=1)


def _equals_direct(name, prog, expr, axes, shape, trials, seed):
    """``prog`` equals the direct evaluation of ``expr`` at every size of ``trials`` (a random tensor each)."""
    torch.manual_seed(seed)
    for values in trials:
        sub = _sub(values)
        tensor = torch.randn([int(sp.sympify(n).xreplace(sub)) for n in shape], dtype=torch.float64)
        got, want = _execute(prog, tensor, values), _direct(expr, axes, tensor, values)
        assert torch.allclose(got, want, rtol=1e-12, atol=1e-12), (name, values, got, want)


def test_a_view_shares_the_tensors_memory_and_a_unit_pool_copies_nothing():
    expr, axes, shape, _ = VIEWS["strided unflatten (a pool)"]
    prog, text = _compile(expr, axes, shape)
    assert "s == 1" in text, text
    tensor = torch.randn(2, 3, dtype=torch.float64)
    out = _execute(prog, tensor, dict(B=2, H=3, s=1))
    assert out.untyped_storage().data_ptr() == tensor.untyped_storage().data_ptr(), "s = 1: the pool copied its input"
    assert torch.equal(out.reshape(2, 3), tensor)
    tensor = torch.randn(2, 6, dtype=torch.float64)   # s = 2: a real pool
    out = _execute(prog, tensor, dict(B=2, H=3, s=2))
    assert torch.allclose(out.reshape(2, 3), tensor.reshape(2, 3, 2).sum(-1) / 4)
    prog, _ = _compile(*VIEWS["merged channel index"][:3])
    tensor = torch.randn(2, 2 * 9, 3, dtype=torch.float64)
    out = _execute(prog, tensor, dict(B=2, G=2, R=1, H=3))
    assert out.untyped_storage().data_ptr() == tensor.untyped_storage().data_ptr()


def test_views_run_no_index_kernel():
    for name in ("strided unflatten (a pool)", "merged channel index", "offset slice", "transposed with an offset"):
        expr, axes, shape, trials = VIEWS[name]
        prog, _ = _compile(expr, axes, shape)
        values = trials[-1]
        sub = _sub(values)
        tensor = torch.randn([int(sp.sympify(n).xreplace(sub)) for n in shape], dtype=torch.float64)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            _execute(prog, tensor, values)
        ops = {e.key for e in prof.key_averages()}
        assert not ops & {"aten::index", "aten::gather", "aten::clamp"}, (name, sorted(ops))


@pytest.mark.parametrize("name", ["strided unflatten (a pool)", "merged channel index", "offset slice", "coefficient 2",
                                  "transposed with an offset", "constant index"])
def test_gradients_flow_through_views(name):
    expr, axes, shape, trials = VIEWS[name]
    prog, _ = _compile(expr, axes, shape)
    torch.manual_seed(2)
    for values in trials:
        sub = _sub(values)
        tensor = torch.randn([int(sp.sympify(n).xreplace(sub)) for n in shape], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda t: _execute(prog, t, values) * 1.0, (tensor,))


def test_views_are_deterministic():
    for expr, axes, shape, _ in VIEWS.values():
        assert _compile(expr, axes, shape)[1] == _compile(expr, axes, shape)[1]


def test_an_axis_without_bounds_is_read_back_from_its_python_length():
    """The tap kernel's compiler has Python lengths only: ``((2 * R) + 1)`` reads back as 2R + 1 (the same
    text when printed again), so the merged channel read is still proved inside; a length that is not a
    printed size expression (a name the compiler does not know) proves nothing and the read is gathered."""
    pyx = GridCompiler((), {}, {}, SIZES).scalar
    shape = (B, G * (2 * R + 1) ** 2)
    tensors = {"A": ("A", [pyx(n) for n in shape], shape)}
    axes = (b, g, u, v)
    known = {b: "B", g: "G", u: pyx(2 * R + 1), v: pyx(2 * R + 1)}
    text = "\n".join(GridCompiler(axes, known, tensors, SIZES).compile(A[b, g * (2 * R + 1) ** 2 + u * (2 * R + 1) + v]).statements)
    assert "a view" in text and not _is_gather(text), text
    unknown = {**known, u: "K_local", v: "K_local"}
    text = "\n".join(GridCompiler(axes, unknown, tensors, SIZES).compile(A[b, g * (2 * R + 1) ** 2 + u * (2 * R + 1) + v]).statements)
    assert _is_gather(text), text


@pytest.fixture(scope="module")
def involution():
    from evosym import catalogue
    from evosym.codegen.check import load_source
    from evosym.codegen.plan import make_plan
    from evosym.codegen.render import render_torch
    cp = catalogue.checked("involution")
    source = render_torch(make_plan(cp), cp.operator.torch_binding)
    return source, load_source(source, "views_involution")


def _involution(x, m, s, R):
    """Involution written out: s×s average pool, 1×1 reduce, BatchNorm (scale, shift), ReLU, 1×1 span to
    G·K² kernels per output pixel, each applied to its group's K×K window of x (zero padding R, stride s)."""
    B, Cin, Hx, Wx = x.shape
    G, K = m.G, 2 * R + 1
    pooled = torch.nn.functional.avg_pool2d(x, s)
    h = torch.relu(m.bn_shift[:, None, None] + m.bn_scale[:, None, None] * torch.einsum("dc,bchw->bdhw", m.reduce_weight, pooled))
    wk = torch.einsum("kd,bdhw->bkhw", m.span_weight, h) + m.span_bias[:, None, None]
    Ho, Wo = wk.shape[2:]
    wk = wk.reshape(B, G, 1, K * K, Ho, Wo)
    cols = torch.nn.functional.unfold(x, K, padding=R, stride=s).reshape(B, G, Cin // G, K * K, Ho, Wo)
    return (wk * cols).sum(3).reshape(B, Cin, Ho, Wo)


def test_involution_generates_its_kernels_as_views(involution):
    source, module = involution
    body = source[source.index("def _kernel_tensor("):source.index("def _kernels(")]
    assert ".clamp(" not in body and "reads outside" not in body, body
    assert body.count(": a view (proved inside") == 1, body   # the span weights; the pool is one avg_pool2d
    assert "if s == 1 else F.avg_pool2d(x.to(dtype), (s, s), (s, s))" in body, body
    torch.manual_seed(3)
    for s, H, W in ((1, 5, 4), (2, 6, 4), (3, 6, 9)):
        m = module.InvolutionEvolution(G=2, C_g=2, D=3, R=1, s=s, dtype=torch.float64)
        x = torch.randn(2, 4, H, W, dtype=torch.float64, requires_grad=True)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            module._kernel_tensor(x, m.reduce_weight, m.bn_scale, m.bn_shift, m.span_weight, m.span_bias,
                                  G=2, C_g=2, D=3, R=1, s=s, L_out=[H // s, W // s])
        assert "aten::index" not in {e.key for e in prof.key_averages()}
        y, want = m(x, path="generic"), _involution(x, m, s, 1)
        assert torch.allclose(y, want, rtol=1e-10, atol=1e-12)
        gy = torch.randn_like(y)
        got = torch.autograd.grad(y, [x, *m.parameters()], gy)
        ref = torch.autograd.grad(want, [x, *m.parameters()], gy)
        assert all(torch.allclose(p, q, rtol=1e-10, atol=1e-12) for p, q in zip(got, ref))


T = size("T")
e_ = index("e")
# means over non-overlapping bins A[…, P·u + a, …] (a summed over [0, P), the mean): one avg_poolNd
POOLS = {
    "2-D, batch and channel in front": (sp.Sum(A[b, c, S * i + a, S * j + e_], (a, 0, S - 1), (e_, 0, S - 1)) / S ** 2,
                                        [(b, B), (c, C), (i, H), (j, H)], (B, C, S * H, S * H),
                                        [dict(B=1, C=1, H=1, s=1), dict(B=2, C=3, H=2, s=2), dict(B=1, C=2, H=3, s=3)]),
    "1-D, one axis in front": (sp.Sum(A[c, S * i + a], (a, 0, S - 1)) / S, [(c, C), (i, H)], (C, S * H),
                               [dict(C=1, H=1, s=1), dict(C=3, H=4, s=2)]),
    "1-D, nothing in front": (sp.Sum(A[S * i + a], (a, 0, S - 1)) / S, [(i, H)], (S * H,),
                              [dict(H=1, s=1), dict(H=3, s=3)]),
    "bins of two sizes, longer axes (cut)": (sp.Sum(A[b, S * i + a, K * j + e_], (a, 0, S - 1), (e_, 0, K - 1)) / (S * K),
                                             [(b, B), (i, H), (j, H)], (B, S * H + 1, K * H + K - 1),
                                             [dict(B=1, H=1, s=1, K=1), dict(B=2, H=2, s=2, K=3), dict(B=1, H=3, s=1, K=2)]),
    "pooled axes first on the grid": (sp.Sum(A[c, S * i + a], (a, 0, S - 1)) / S, [(i, H), (c, C)], (C, S * H),
                                      [dict(C=1, H=1, s=1), dict(C=3, H=2, s=2)]),
    # the cut after the pool is on the pooled axes (it was on the channel axis with two axes in front: wrong numbers
    # where C = H + 1, else a reshape error)
    "two axes in front, a longer axis (cut)": (sp.Sum(A[b, c, 2 * i + a], (a, 0, 1)) / 2, [(b, B), (c, C), (i, H)],
                                               (B, C, 2 * H + 2), [dict(B=1, C=3, H=2), dict(B=2, C=2, H=1)]),
    "three axes in front, 2-D, longer axes (cut)": (sp.Sum(A[b, c, g, S * i + a, S * j + e_], (a, 0, S - 1), (e_, 0, S - 1))
                                                    / S ** 2, [(b, B), (c, C), (g, G), (i, H), (j, H)],
                                                    (B, C, G, S * H + 1, S * H + 1),
                                                    [dict(B=1, C=1, G=1, H=1, s=1), dict(B=2, C=3, G=2, H=2, s=2)]),
    "a number as the bin": (sp.Sum(A[b, 2 * i + a], (a, 0, 1)) / 2, [(b, B), (i, H)], (B, 2 * H),
                            [dict(B=1, H=1), dict(B=3, H=3)]),
}

NOT_POOLS = {   # sums that are not such a mean: the view and its sum, as before
    "a sum (no division)": (sp.Sum(A[b, S * i + a], (a, 0, S - 1)), [(b, B), (i, H)], (B, S * H),
                            [dict(B=2, H=3, s=2)]),
    "overlapping bins": (sp.Sum(A[b, i + a], (a, 0, K - 1)) / K, [(b, B), (i, H)], (B, H + K - 1),
                         [dict(B=2, H=3, K=2)]),
    "a bin that is not the step": (sp.Sum(A[b, S * i + a], (a, 0, K - 1)) / K, [(b, B), (i, H)], (B, S * H + K),
                                   [dict(B=2, H=3, s=2, K=3)]),
    "a pooled axis before a whole one": (sp.Sum(A[S * i + a, c], (a, 0, S - 1)) / S, [(c, C), (i, H)], (S * H, C),
                                         [dict(C=2, H=3, s=2)]),
    "3-D bins (avg_pool3d: no float16 CPU kernel), three axes in front": (sp.Sum(A[b, c, g, S * i + a, S * j + e_, S * u + v], (a, 0, S - 1), (e_, 0, S - 1),
                                        (v, 0, S - 1)) / S ** 3,
                                 [(b, B), (c, C), (g, G), (i, H), (j, H), (u, H)], (B, C, G, S * H, S * H, S * H),
                                 [dict(B=1, C=1, G=1, H=1, s=1), dict(B=2, C=1, G=3, H=2, s=2)]),
    "one summed variable on both axes (a bin's diagonal)": (sp.Sum(A[2 * i + a, 2 * j + a], (a, 0, 1), (e_, 0, 1)) / 4,
                                                            [(i, H), (j, H)], (2 * H, 2 * H), [dict(H=1), dict(H=2)]),
    # avg_pool takes no empty input: sizes that may be 0 keep the mean over the view (an empty result)
    "a channel axis that may be empty": (sp.Sum(A[c, S * i + a], (a, 0, S - 1)) / S, [(c, Z), (i, H)], (Z, S * H),
                                         [dict(z=0, H=2, s=2), dict(z=2, H=1, s=1)]),
    "a channel axis that may be empty, the batch in front": (sp.Sum(A[b, c, S * i + a], (a, 0, S - 1)) / S,
                                                             [(b, B), (c, Z), (i, H)], (B, Z, S * H),
                                                             [dict(B=2, z=0, H=2, s=2)]),
    "an output axis that may be empty": (sp.Sum(A[c, S * i + a], (a, 0, S - 1)) / S, [(c, C), (i, Z)], (C, S * Z),
                                         [dict(C=2, z=0, s=2), dict(C=1, z=1, s=1)]),
    "axis that may be shorter than P·E": (sp.Sum(A[b, S * i + a], (a, 0, S - 1)) / S, [(b, B), (i, H)], (B, S * H - 1),
                                          [dict(B=2, H=3, s=2)]),
}


@pytest.mark.parametrize("name", list(POOLS))
def test_a_mean_over_non_overlapping_bins_is_one_avg_pool(name):
    expr, axes, shape, trials = POOLS[name]
    prog, text = _compile(expr, axes, shape)
    code = _code(text)
    assert "F.avg_pool" in code and ".mean(" not in code and ".sum(" not in code, text
    gather, _ = _compile(expr, axes, shape, views=False)
    torch.manual_seed(3)
    for values in trials:
        t = _agree(name, prog, gather, expr, axes, shape, values).requires_grad_()
        assert torch.autograd.gradcheck(lambda x: _execute(prog, x, values) * 1.0, (t,))


@pytest.mark.parametrize("name", list(NOT_POOLS))
def test_other_sums_are_not_pools(name):
    expr, axes, shape, trials = NOT_POOLS[name]
    prog, text = _compile(expr, axes, shape)
    assert "avg_pool" not in text, text
    for values in trials:
        sub = _sub(values)
        tensor = torch.randn([int(sp.sympify(n).xreplace(sub)) for n in shape], dtype=torch.float64)
        assert torch.allclose(_execute(prog, tensor, values), _direct(expr, axes, tensor, values), rtol=1e-12, atol=1e-12)


def test_a_pool_of_bins_of_one_is_the_tensor_itself():
    expr, axes, shape, _ = POOLS["2-D, batch and channel in front"]
    prog, _ = _compile(expr, axes, shape)
    tensor = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    out = _execute(prog, tensor, dict(B=2, C=3, H=4, s=1))
    assert out.untyped_storage().data_ptr() == tensor.untyped_storage().data_ptr(), "s = 1: the pool copied its input"
    assert torch.equal(out.reshape(2, 3, 4, 4), tensor)


def test_a_pool_reads_its_tensor_in_the_working_dtype():
    """An integer tensor is pooled in dtype (avg_pool on the integers would truncate the mean)."""
    expr, axes, shape, _ = POOLS["1-D, one axis in front"]
    prog, _ = _compile(expr, axes, shape)
    tensor = torch.arange(8).reshape(2, 4)
    scope = {"torch": torch, "F": F, "dtype": torch.float64, "device": tensor.device, "_as_grid": _template_helper("_as_grid"), "A": tensor,
             "C": 2, "H": 2, "s": 2}
    exec("\n".join(prog.statements), scope)  # noqa: S102 - the compiler's own output
    assert torch.equal(scope[prog.result].reshape(2, 2), torch.tensor([[0.5, 2.5], [4.5, 6.5]], dtype=torch.float64))


# reads through ⌊·/D⌋ (evosym.codegen.digits): the quotient of a sum whose remainder is proved below D, or a variable
# split into its mixed-radix digits; the read over the digits is a view, broadcast over the digits it does not read
fl = sp.floor
DIGITS = {
    "a key head shared by G query heads": (A[b, K * fl(g / G) + a, i], [(b, B), (g, G * C), (a, K), (i, H)],
                                           (B, C * K, H), [dict(B=1, G=1, C=1, K=1, H=1), dict(B=2, G=2, C=3, K=2, H=2)]),
    "a grouped-query value bias (nested floors)": (A[c + K * fl(fl(c / K) / G) - K * fl(c / K)], [(c, G * C * K)],
                                                   (C * K,), [dict(G=1, C=1, K=1), dict(G=2, C=3, K=2),
                                                              dict(G=3, C=1, K=2)]),
    "a grouped convolution's weight (a floor of a sum)": (A[K * g + a, C * g - C * fl((K * g + a) / K) + c],
                                                          [(g, G), (a, K), (c, C)], (G * K, C),
                                                          [dict(G=1, K=1, C=1), dict(G=3, K=2, C=2)]),
    "quotient and remainder transposed": (A[c - K * fl(c / K), fl(c / K)], [(c, K * C)], (K, C),
                                          [dict(K=1, C=1), dict(K=3, C=2)]),
    "a slice of heads per projection (acmix)": (A[K * a + fl(g / G), c], [(a, S), (g, G * K), (c, C)], (S * K, C),
                                                [dict(s=1, G=1, K=1, C=1), dict(s=3, G=2, K=2, C=2)]),
    "the quotient alone (a broadcast)": (A[fl(c / K)], [(c, K * C)], (C,), [dict(K=1, C=1), dict(K=3, C=2)]),
    # a summation variable the rewrite removes from the read keeps its whole axis: the sum counts every term (it
    # counted one, found by an adversarial pass)
    "a summation variable split away": (sp.Sum(A[fl((K * g + a) / K)], (a, 0, K - 1)), [(g, G)], (G,),
                                        [dict(G=1, K=1), dict(G=2, K=3)]),
    "a summation variable whose digits cancel": (sp.Sum(A[b + fl(fl(a / K) / G) - fl(a / (G * K))], (a, 0, G * K * C - 1)),
                                                 [(b, B)], (B,), [dict(B=1, G=1, K=1, C=1), dict(B=2, G=2, K=3, C=2)]),
    "split away inside a product (einsum)": (sp.Sum(A[fl((K * g + a) / K)] * A[g], (a, 0, K - 1)), [(g, G)], (G,),
                                             [dict(G=1, K=1), dict(G=2, K=3)]),
    "the quotient of a summation variable": (sp.Sum(A[b, fl(a / K)], (a, 0, K * C - 1)), [(b, B)], (B, C),
                                             [dict(B=1, K=1, C=1), dict(B=2, K=3, C=2)]),
}

DIGIT_GATHERS = {   # not provably inside, or not a view over digits: the clamped gather and its mask, as before
    "a floor past the end": (A[fl(c / K) + 1], [(c, K * C)], (C,), [dict(K=1, C=1), dict(K=2, C=3)]),
    "an extent no multiple of the divisor": (A[fl(c / K)], [(c, H)], (H,), [dict(K=1, H=1), dict(K=2, H=3)]),
    "divisors not a chain": (A[fl(c / G) + fl(c / K)], [(c, G * K)], (G + K,), [dict(G=2, K=3), dict(G=1, K=2)]),
    "a remainder that may reach the divisor": (A[fl((K * g + a + 1) / K)], [(g, G), (a, K)], (G + 1,),
                                               [dict(G=2, K=1), dict(G=2, K=3)]),
    "a digit on two axes": (A[fl(c / K), c - K * fl(c / K) + fl(c / K)], [(c, K * C)], (C, K + C),
                            [dict(K=1, C=1), dict(K=2, C=3)]),
    # an extent that is no polynomial in the sizes (a strided length): no digits (sp.Poly raised, found by an
    # adversarial pass)
    "an extent no polynomial": (A[fl(c / K)], [(c, K * (fl((H - 1) / S) + 1))], (fl((H - 1) / S) + 1,),
                                [dict(K=2, H=5, s=2), dict(K=1, H=1, s=1)]),
}


@pytest.mark.parametrize("name", list(DIGITS))
def test_reads_through_floors_are_views_over_digits(name):
    expr, axes, shape, trials = DIGITS[name]
    prog, text = _compile(expr, axes, shape)
    code = _code(text)
    assert not _is_gather(text) and ".clamp(" not in code and "torch.arange" not in code and "//" not in code, text
    assert not any(f"A[{x}" in code for x in "bcigua"), text   # no gather by index tensors
    gather, gather_text = _compile(expr, axes, shape, views=False)
    assert _is_gather(gather_text), gather_text
    torch.manual_seed(3)
    for values in trials:
        _agree(name, prog, gather, expr, axes, shape, values)


@pytest.mark.parametrize("name", list(DIGIT_GATHERS))
def test_reads_through_floors_not_proved_keep_the_gather(name):
    expr, axes, shape, trials = DIGIT_GATHERS[name]
    prog, text = _compile(expr, axes, shape)
    assert "a view" not in text and "digits" not in text and "//" in _code(text), text
    _equals_direct(name, prog, expr, axes, shape, trials, seed=4)


def test_reads_over_digits_run_no_index_kernel_and_have_gradients():
    for name in DIGITS:
        expr, axes, shape, trials = DIGITS[name]
        prog, _ = _compile(expr, axes, shape)
        values = trials[-1]
        sub = _sub(values)
        tensor = torch.randn([int(sp.sympify(n).xreplace(sub)) for n in shape], dtype=torch.float64, requires_grad=True)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            _execute(prog, tensor, values)
        ops = {e.key for e in prof.key_averages()}
        assert not ops & {"aten::index", "aten::gather", "aten::clamp"}, (name, sorted(ops))
        assert torch.autograd.gradcheck(lambda t: _execute(prog, t, values) * 1.0, (tensor,)), name


@pytest.mark.parametrize("expr", [sp.Sum(A[b], (a, 0, K - 1)), sp.Sum(A[b] * A[b], (a, 0, K - 1), (c, 0, C - 1)),
                                  sp.Sum(A[b] * A[b + a], (a, 0, K - 1), (c, 1, C))])
def test_a_sum_over_a_variable_its_body_does_not_read_counts_its_terms(expr):
    """Σ_a f with f free of a is (number of terms)·f: the sum over an axis of length 1 counted one term."""
    axes, shape = [(b, B)], (B + K,)
    prog, gather = _compile(expr, axes, shape)[0], _compile(expr, axes, shape, views=False)[0]
    for values in (dict(B=1, K=1, C=1), dict(B=2, K=3, C=2)):
        _agree(str(expr), prog, gather, expr, axes, shape, values)


@pytest.mark.parametrize("expr", [sp.Sum(A[b, c], (a, 0, b), (c, 0, C - 1)), sp.Sum(A[b, c] * A[b, c], (a, 0, b), (c, 0, C - 1)),
                                  sp.Sum(A[b, c] * A[b, c], (a, 0, c), (c, 0, C - 1)), sp.Sum(A[b, c], (a, b, K), (c, 0, C - 1))])
def test_a_count_that_reads_an_index_is_refused_as_before(expr):
    """A variable the body does not read, whose range reads an index: its count is no size (folded into the scale it
    was emitted as a tensor where a number belongs and crashed at run time, found by an adversarial pass): refused
    with the compiler's error for a range that depends on an index."""
    with pytest.raises(EvosymError, match="depends on an index"):
        _compile(expr, [(b, B)], (B, C))


@pytest.mark.parametrize("expr", [sp.Sum(A[b, a], (a, 0, Z - 2)), sp.Sum(A[b, a], (a, 0, K - 3)),
                                  sp.Sum(A[b, a] * A[b, a], (a, 2, K - 1)), sp.Sum(A[b, a], (a, K, C))])
def test_a_sum_that_may_count_negatively_is_refused(expr):
    """A sum whose number of terms may be negative at an admissible size (Σ_{a=0}^{z−2} at z = 0): SymPy sums it
    backwards (Σ_{a=0}^{−2} f = −f(−1)), the generated code's arange raised at run time (found by an adversarial
    pass): refused when the code is generated, naming the count."""
    with pytest.raises(EvosymError, match="may have a negative number of terms"):
        _compile(expr, [(b, B)], (B, C + K + 1))


@pytest.mark.parametrize("expr", [A[b, sp.Sum(1, (a, 0, K - 1))], sp.Sum(A[b, a + sp.Sum(a, (c, 0, 1))], (a, 0, K - 1)),
                                  A[sp.Product(b, (a, 1, 1)), 0]])
def test_a_sum_inside_an_index_is_refused(expr):
    """A sum (or product) in an index compiled to a tensor of the dtype, a float index at run time (IndexError, found
    by an adversarial pass): refused when the code is generated."""
    with pytest.raises(EvosymError, match="has a sum or product in an index"):
        _compile(expr, [(b, B)], (B, 3 * K + 2))


@pytest.mark.parametrize("expr", [A[b, i - 1], A[b, 2 * i - 1], A[b, 1], A[b, H - 1], A[b, i] * A[b, Z - i]])
def test_a_gather_from_a_tensor_that_may_be_empty_reads_zeros(expr):
    """A masked gather from a tensor whose declared length may be 0 (z) indexed the empty tensor at run time
    (IndexError, found by an adversarial pass): every read of it is outside, so it reads from zeros there."""
    axes, shape = [(b, B), (i, H)], (B, Z)
    prog, text = _compile(expr, axes, shape)
    assert "may be empty" in text, text
    for z in (0, 1, 4):
        values = dict(B=2, H=3, z=z)
        tensor = torch.randn(2, z, dtype=torch.float64)
        want = _direct(expr, axes, tensor, values)   # (a read free of i is computed once per b: broadcast)
        assert torch.equal(_execute(prog, tensor, values).expand(want.shape), want), (expr, z)


def test_a_sum_whose_count_is_proved_nonnegative_compiles():
    expr, axes, shape = sp.Sum(A[b, a], (a, 0, K - 2)), [(b, B)], (B, K)
    prog, gather = _compile(expr, axes, shape)[0], _compile(expr, axes, shape, views=False)[0]
    for values in (dict(B=1, K=1), dict(B=2, K=4)):
        _agree(str(expr), prog, gather, expr, axes, shape, values)


@pytest.mark.parametrize("expr", [sp.Sum(A[b, a], (a, 0, K - 1)) * sp.Sum(A[b, a], (a, 0, C - 1)),
                                  sp.Sum(sp.Sum(A[b, a], (a, 0, C - 1)) * A[b, a], (a, 0, K - 1)),
                                  sp.Sum(A[b, a], (a, 0, K - 1)) + sp.Sum(A[b, a] * A[b, a], (a, 0, C - 1))])
def test_two_sums_over_one_variable_name_have_an_axis_each(expr):
    """Σ_a A[a]·Σ_a A[a] over different ranges, or one inside the other: they shared one axis, and the second sum
    read what the first had computed (a wrong value, found by an adversarial pass); each sum is renamed apart."""
    axes, shape = [(b, B)], (B, K + C)
    prog, gather = _compile(expr, axes, shape)[0], _compile(expr, axes, shape, views=False)[0]
    for values in (dict(B=1, K=1, C=1), dict(B=2, K=3, C=2), dict(B=2, K=1, C=3)):
        _agree(str(expr), prog, gather, expr, axes, shape, values)


def test_sum_variables_are_renamed_apart_from_every_name_the_program_holds():
    """Found by an adversarial pass on the renaming: a bracket on a summation variable named as a grid axis was judged
    by the axis's range and dropped (a wrong value); a limit repeating an inner limit's variable (SymPy merges
    Σ_a Σ_a f into one Sum) crashed at run time; a renamed variable took the Python name of a size the expression
    does not mention; a free index named as a summation variable raised KeyError."""
    run = lambda expr, axes, shape, t, values, **kw: _execute(_compile(expr, axes, shape, **kw)[0], t, values)
    t = torch.randn(8, dtype=torch.float64)
    got = run(sp.Sum(A[i] * InRange(i, 0, H - 1), (i, 0, 2 * H - 1)), [(i, H)], (2 * H,), t[:6], dict(H=3))
    assert torch.allclose(got, t[:3].sum().expand(3))   # Σ_{i<H} A[i], whatever the grid's i
    merged = sp.Sum(sp.Sum(A[a], (a, 0, C - 1)), (a, 0, K - 1))
    assert len(merged.limits) == 2
    assert torch.allclose(run(merged, [(b, B)], (C,), t[:3], dict(B=1, C=3, K=2)), 2 * t[:3].sum())
    a_1 = size("a_1")
    SIZES[a_1] = "a_1"
    try:
        expr = sp.Sum(A[a], (a, 0, K - 1)) * sp.Sum(A[a + b], (a, 0, K - 1))
        for views in (True, False):
            got = run(expr, [(b, B)], (K + B + a_1,), t[:7], dict(B=2, K=2, a_1=3), views=views)
            assert torch.allclose(got, t[:2].sum() * torch.stack([t[0:2].sum(), t[1:3].sum()])), views
    finally:
        del SIZES[a_1]
    with pytest.raises(EvosymError, match="size c has no value"):
        _compile(A[c] * sp.Sum(A[c], (c, 0, C - 1)), [(g, G)], (G + C,))
