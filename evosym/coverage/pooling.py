"""Which PyTorch pooling calls evosym's generated modules take, which they refuse, and why.

PyTorch's ``avg_pool{1,2,3}d`` accept combinations of ``ceil_mode``, ``count_include_pad`` and
``divisor_override`` that are different Evolution kernels: each catalogue operator proves one of them,
``avg_pool{N}d`` followed by ``_ceil``, ``_exclude_pad``, ``_ceil_exclude_pad``, ``_divisor`` or
``_ceil_divisor`` (N = 1, 2, 3; no divisor in 1-D, as in PyTorch), and ``adaptive_avg_pool{1,2,3}d``.
:func:`route` maps a call's arguments onto the one operator that computes it and the sizes of its
generated functional form, or raises a :class:`ValueError` that names the condition. :func:`pool` and
:func:`from_torch` run the committed generated code (a source checkout's ``codegen/torch``) through
that route; the picked operator's own ``from_torch`` checks its binding, so the route and the
bindings must agree (``tests/test_pooling_coverage.py`` checks that each configuration is taken by
exactly one operator). :func:`sweep` compares the generated modules with PyTorch over a grid of
argument combinations, and :func:`rows` / :func:`markdown` give the tables of ``docs/pooling.md``.

Two decisions are refusals, each with its reason (:data:`MAX_POOL_REASON`, :data:`lp_pool_reason`):

- max pooling (and every input-selecting pool: adaptive, fractional) is not linear in x: its
  kernel is a one-hot choice made by comparing the inputs (PyTorch keeps the first maximum of the
  window when entries tie, and propagates NaN), and evosym's rules only rewrite sums of products;
- LP pooling, (Σ x^p)^(1/p) over the window, is linear in x only for p = 1, where it is sum
  pooling: ``avg_pool{2,3}d_divisor`` with divisor 1, 1-D as the 2-D operator over one row (for
  ``ceil_mode=False``; with ``ceil_mode`` PyTorch multiplies a partial last window's sum by K over its
  number of entries, a kernel no operator proves).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field

from .arguments import integer, ints, named
from .modules import generated, module_class

AXES = {1: ("",), 2: ("h", "w"), 3: ("d", "h", "w")}
OUT_LENGTH = {1: ("L_o",), 2: ("H_out", "W_out"), 3: ("D_out", "H_out", "W_out")}

MAX_POOL_REASON = (
    "max pooling is out of evosym's scope: y[p] = max over the window of x is not linear in x. Written as an "
    "Evolution form its kernel would be a one-hot K[p, q] = [q is the window's arg max], chosen by comparing "
    "input values (ties broken as PyTorch does, by the first maximum in the window's scan order; NaN wins), so "
    "K depends on x through comparisons, not through products and sums; evosym's rewrite rules (deltas, "
    "exchanges of finite sums, linearity) and its checks (exact comparison of sums of products) cannot state "
    "or prove that selection. Use torch's max pooling; evosym proves the linear pools (avg_pool*, "
    "adaptive_avg_pool*, lp_pool with norm_type=1)")


def lp_pool_reason(norm_type) -> str:
    """Why LP pooling with this norm is refused (its window power sum is not linear in x)."""
    return (f"lp_pool with norm_type={norm_type!r} is out of evosym's scope: y = (Σ_window x^p)^(1/p) is not linear "
            "in x unless p = 1 (p = ∞ is max pooling), and an Evolution form is linear in its value tensor; only "
            "norm_type=1 (sum pooling) is taken")


@dataclass(frozen=True)
class Route:
    """The catalogue operator that computes a call, and the keyword sizes of its generated functional form."""

    operator: str
    sizes: dict = field(hash=False)
    one_row: bool = False   # a 1-D call computed by the 2-D operator over one row (an axis of length 1 inserted)


def _flag(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, not {value!r}")
    return value


def route_avg(dims: int, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
              divisor_override=None) -> Route:
    """The operator and sizes for ``avg_pool{dims}d``'s arguments; a ValueError saying why when none covers them."""
    if dims not in AXES:
        raise ValueError(f"dims must be 1, 2 or 3, not {dims!r}")
    K = ints("kernel_size", kernel_size, dims, 1, one_for_all=True)
    s = K if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else \
        ints("stride", stride, dims, 1, one_for_all=True)
    P = ints("padding", padding, dims, 0, one_for_all=True)
    ceil, include = _flag("ceil_mode", ceil_mode), _flag("count_include_pad", count_include_pad)
    if any(2 * p > k for p, k in zip(P, K)):
        raise ValueError(f"padding {padding!r} is more than half the window {kernel_size!r} (2·P ≤ K is needed; "
                         "PyTorch refuses it too)")
    sizes = {}
    for a, k, sv, p in zip(AXES[dims], K, s, P):
        sizes.update({named("K", a): k, named("s", a): sv, named("P", a): p})
    if divisor_override is not None:
        if dims == 1:
            raise ValueError("avg_pool1d takes no divisor_override (PyTorch's neither)")
        divisor = integer(divisor_override)
        if divisor is None or divisor < 1:
            raise ValueError(f"divisor_override must be a positive int, not {divisor_override!r} (avg_pool{dims}d_divisor "
                             "is proved for a divisor D_o ≥ 1)")
        return Route(f"avg_pool{dims}d_ceil_divisor" if ceil else f"avg_pool{dims}d_divisor", {**sizes, "D_o": divisor})
    exclude = not include and any(P)   # without padding count_include_pad changes nothing
    return Route(f"avg_pool{dims}d" + ("_ceil" if ceil else "") + ("_exclude_pad" if exclude else ""), sizes)


def route_adaptive(dims: int, output_size, input_shape=None) -> Route:
    """The operator and sizes for ``adaptive_avg_pool{dims}d(x, output_size)``; ``None`` in ``output_size`` (the
    input's own length) is read from ``input_shape`` when given."""
    if dims not in OUT_LENGTH:
        raise ValueError(f"dims must be 1, 2 or 3, not {dims!r}")
    items = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * dims
    if len(items) != dims:
        raise ValueError(f"output_size must be an int or a tuple of {dims}, not {output_size!r}")
    if any(v is None for v in items):
        if input_shape is None:
            raise ValueError(f"output_size {output_size!r} has None, which PyTorch reads as 'keep the input's length on "
                             "that axis' at each call; without an input that length is unknown: give it as an int (or "
                             "call pooling.pool with the input, which reads it)")
        lengths = tuple(input_shape)[-dims:]
        if len(lengths) != dims or any(v is None and not (isinstance(n, int) and n >= 1) for v, n in zip(items, lengths)):
            raise ValueError(f"output_size {output_size!r} keeps the input's length where it is None, but the input "
                             f"shape {tuple(input_shape)} has no positive length there (PyTorch refuses empty axes too)")
        items = tuple(n if v is None else v for v, n in zip(items, lengths))
    items = ints("output_size", items, dims, 1, one_for_all=True)
    return Route(f"adaptive_avg_pool{dims}d", dict(zip(OUT_LENGTH[dims], items)))


def route_lp(dims: int, norm_type, kernel_size, stride=None, ceil_mode=False) -> Route:
    """``lp_pool{dims}d``: norm_type 1 is sum pooling, avg_pool{2,3}d_divisor with D_o = 1 (1-D: the 2-D operator over
    one row, a window 1 × K: PyTorch has no divisor for avg_pool1d, so the catalogue has no 1-D divisor operator),
    any other norm refused."""
    if dims not in AXES:
        raise ValueError(f"dims must be 1, 2 or 3, not {dims!r}")
    if isinstance(norm_type, bool) or not isinstance(norm_type, numbers.Real) or norm_type != 1:
        raise ValueError(lp_pool_reason(norm_type))
    if _flag("ceil_mode", ceil_mode):
        raise ValueError(f"lp_pool{dims}d with ceil_mode=True is not supported: PyTorch multiplies a partial last "
                         "window's sum by the window's size over the number of its entries, a kernel no operator "
                         f"proves (avg_pool{max(dims, 2)}d_divisor is ceil_mode=False)")
    if dims == 1:
        k = ints("kernel_size", kernel_size, 1, 1, one_for_all=True)
        s = k if stride is None else ints("stride", stride, 1, 1, one_for_all=True)
        return dataclasses.replace(route_avg(2, (1,) + k, (1,) + s, 0, False, True, 1), one_row=True)
    return route_avg(dims, kernel_size, stride, 0, False, True, 1)


def route(function: str, *args, input_shape=None, **kwargs) -> Route:
    """The route of a call to ``torch.nn.functional.<function>`` (arguments after the input, as PyTorch takes them)."""
    dims = int(function[-2]) if function[-2:-1].isdigit() and function.endswith("d") else None
    if function.startswith(("max_pool", "adaptive_max_pool", "fractional_max_pool", "max_unpool")):
        raise ValueError(MAX_POOL_REASON)
    if dims is None:
        raise ValueError(f"{function!r} is not a pooling function this route knows")
    if function.startswith("avg_pool"):
        return route_avg(dims, *args, **kwargs)
    if function.startswith("adaptive_avg_pool"):
        return route_adaptive(dims, *args, input_shape=input_shape, **kwargs)
    if function.startswith("lp_pool"):
        return route_lp(dims, *args, **kwargs)
    raise ValueError(f"{function!r} is not a pooling function this route knows")


def pool(function: str, x, *args, path: str = "auto", **kwargs):
    """``torch.nn.functional.<function>(x, *args, **kwargs)`` computed by the routed operator's generated
    functional form (a ValueError when no operator takes the call)."""
    r = route(function, *args, input_shape=tuple(getattr(x, "shape", ())), **kwargs)
    fn = getattr(generated(r.operator), f"{r.operator}_evolution")
    if r.one_row:
        return _one_row(x, lambda rows: fn(rows, **r.sizes, path=path))
    return fn(x, **r.sizes, path=path)


def _one_row(x, fn):
    """``fn`` (a 2-D pool) on the 1-D input x (B, C, L) or (C, L) as one row: (…, 1, L), the row axis dropped after."""
    import torch
    if not isinstance(x, torch.Tensor) or x.dim() not in (2, 3):
        raise ValueError(f"a 1-D pool takes x of shape (B, C, L) or (C, L), not "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    return fn(x.unsqueeze(-2)).squeeze(-2)


_MAX_MODULES = ("MaxPool1d", "MaxPool2d", "MaxPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d",
                "FractionalMaxPool2d", "FractionalMaxPool3d", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d")


def module_route(m) -> Route:
    """The route of a torch pooling module (nn.AvgPool*, nn.AdaptiveAvgPool*, nn.LPPool*; max pools refused)."""
    import torch.nn as nn
    kind = type(m).__name__
    if any(isinstance(m, getattr(nn, n)) for n in _MAX_MODULES if hasattr(nn, n)):
        raise ValueError(f"{kind}: {MAX_POOL_REASON}")
    for dims in (1, 2, 3):
        if isinstance(m, getattr(nn, f"AvgPool{dims}d")):
            return route_avg(dims, m.kernel_size, m.stride, m.padding, m.ceil_mode, m.count_include_pad,
                             getattr(m, "divisor_override", None))
        if isinstance(m, getattr(nn, f"AdaptiveAvgPool{dims}d")):
            sizes = tuple(m.output_size) if isinstance(m.output_size, (tuple, list)) else (m.output_size,)
            if any(v is None for v in sizes):
                raise ValueError(f"{kind}(output_size={m.output_size!r}): None means 'keep the input's length on that "
                                 "axis', which PyTorch reads from each input at forward time; the generated layer fixes "
                                 "its output size when it is built, so it cannot take this module: give that axis' "
                                 f"length (nn.{kind} with an int there), or compute it per call with "
                                 f"pooling.pool('adaptive_avg_pool{dims}d', x, {m.output_size!r}), which reads it from x")
            return route_adaptive(dims, m.output_size)
        if isinstance(m, getattr(nn, f"LPPool{dims}d")):
            return route_lp(dims, m.norm_type, m.kernel_size, m.stride, m.ceil_mode)
    raise ValueError(f"expected a torch pooling module (AvgPool*, AdaptiveAvgPool*, LPPool*), not {kind}")


def from_torch(m):
    """The generated layer equal to a torch pooling module, picked by :func:`module_route`. For nn.AvgPool* and
    nn.AdaptiveAvgPool* the picked operator's own ``from_torch`` takes it and checks its binding; nn.LPPool2d
    (norm_type 1) is built from the routed sizes, its binding being nn.AvgPool2d's."""
    import torch.nn as nn
    r = module_route(m)
    module = generated(r.operator)
    cls = module_class(module)
    lp = next((k for k in (nn.LPPool1d, nn.LPPool2d, nn.LPPool3d) if isinstance(m, k)), None)
    if lp is None:
        return cls.from_torch(m)
    otherwise = module._computes_otherwise(m, lp)   # (what the operators' own from_torch refuses)
    if otherwise:
        raise ValueError(f"cannot take this {lp.__module__}.{lp.__qualname__}: {otherwise}")
    return _one_row_layer(cls(**r.sizes)) if r.one_row else cls(**r.sizes)


_ONE_ROW: list = []   # the class below, defined on first use (torch is imported only when a layer is built)


def _one_row_layer(layer):
    """A generated 2-D pool applied to 1-D inputs (B, C, L) or (C, L) as one row (nn.LPPool1d with norm_type 1 as
    avg_pool2d_divisor over a 1 × K window)."""
    if not _ONE_ROW:
        import torch.nn as nn

        class OneRow(nn.Module):
            """A generated 2-D pool applied to 1-D inputs as one row."""

            def __init__(self, layer):
                super().__init__()
                self.layer = layer

            def forward(self, x):
                return _one_row(x, self.layer)
        _ONE_ROW.append(OneRow)
    return _ONE_ROW[0](layer)


def candidates(module_kind: str) -> tuple:
    """The operators whose ``from_torch`` takes a module of this kind (``"AvgPool2d"`` …)."""
    for dims in (1, 2, 3):
        if module_kind == f"AvgPool{dims}d":
            rules = ("", "_ceil", "_exclude_pad", "_ceil_exclude_pad") + (("_divisor", "_ceil_divisor") if dims > 1 else ())
            return tuple(f"avg_pool{dims}d{rule}" for rule in rules)
        if module_kind == f"AdaptiveAvgPool{dims}d":
            return (f"adaptive_avg_pool{dims}d",)
    return ()


# ---------------------------------------------------------------- the sweep against PyTorch


def _avg_combos(dims):
    """avg_pool{dims}d argument combinations: every argument alone and in combination, small sizes."""
    kernels = {1: (1, 2, 3), 2: (1, 2, 3, (2, 3)), 3: (2, (1, 2, 3))}[dims]
    strides = {1: (None, 1, 2), 2: (None, 1, 2, (1, 3)), 3: (None, 1, (2, 1, 2))}[dims]
    paddings = {1: (0, 1), 2: (0, 1, (1, 0)), 3: (0, 1)}[dims]
    divisors = (None, 3) if dims > 1 else (None,)
    for k in kernels:
        for st in strides:
            for pd in paddings:
                for ceil in (False, True):
                    for cip in (True, False):
                        for div in divisors:
                            kw = dict(kernel_size=k, stride=st, padding=pd, ceil_mode=ceil, count_include_pad=cip)
                            if div is not None:
                                kw["divisor_override"] = div
                            yield kw


_SHAPES = {1: ((2, 3, 5), (1, 2, 8), (3, 4)), 2: ((2, 3, 5, 4), (1, 2, 7, 7), (2, 1, 3)),
           3: ((1, 2, 3, 4, 5), (2, 1, 2, 2, 3))}   # the last 2-D and 1-D shapes are unbatched (C, L…)


def _cases(function):
    """(positional args, keyword args, input shape) of every call :func:`sweep` tries for ``function``."""
    dims = int(function[-2])
    if function.startswith("avg_pool"):
        for kw in _avg_combos(dims):
            for shape in _SHAPES[dims]:
                yield (), kw, shape
    elif function.startswith("adaptive_avg_pool"):
        outs = {1: (1, 2, 3, 5), 2: (1, (2, 3), (5, 2), (None, 2), 4), 3: (2, (1, 3, 2), (None, 2, 4))}[dims]
        for out in outs:
            for shape in _SHAPES[dims]:
                yield (out,), {}, shape
    elif function.startswith("lp_pool"):
        for p in (1, 1.0, 2, 3.5, float("inf")):
            for k, st in ((2, None), ((2, 3), 1), (3, 2)):
                for ceil in (False, True):
                    for shape in _SHAPES[dims][:2]:
                        yield (p, k if dims == 2 else (k if isinstance(k, int) else k[0])), dict(stride=st, ceil_mode=ceil), shape
    elif function.startswith("max_pool"):
        for k, st, pd in ((2, None, 0), (3, 1, 1), ((2, 3) if dims == 2 else 3, 2, 1)):
            for ceil in (False, True):
                for shape in _SHAPES[dims][:2]:
                    yield (k,), dict(stride=st, padding=pd, ceil_mode=ceil), shape


SWEPT = ("avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
         "lp_pool2d", "lp_pool1d", "lp_pool3d", "max_pool1d", "max_pool2d")


@dataclass
class Tally:
    """What :func:`sweep` saw for one function: calls tried, matched (both paths equal PyTorch), refused by
    evosym (a ValueError; ``both``: PyTorch refused too), and failures (anything else: wrong numbers, a result
    where PyTorch refuses, another exception), with the refusals' distinct messages."""

    function: str
    tried: int = 0
    matched: int = 0
    refused: int = 0
    refused_by_torch_too: int = 0
    failures: list = field(default_factory=list)
    reasons: dict = field(default_factory=dict)
    operators: dict = field(default_factory=dict)   # operator → calls it matched


def _window_terms(function, args, kwargs, shape) -> int:
    """An upper bound on the number of input entries one output sums (for the rounding tolerance)."""
    if function.startswith("adaptive"):
        return math.prod(shape[-int(function[-2]):])
    k = args[1] if function.startswith("lp_pool") else kwargs.get("kernel_size", args[0] if args else 1)
    return math.prod(k) if isinstance(k, tuple) else k ** int(function[-2])


def _describe(function, args, kwargs, shape) -> str:
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{function}(x of shape {shape}, {', '.join(parts)})"


def sweep(function: str, seed: int = 0) -> Tally:
    """Every call of :func:`_cases` through PyTorch and through :func:`pool` on both paths ("auto" and
    "generic"), float64: equal within a rounding bound scaled by the summed magnitudes, or refused with a
    ValueError; anything else is recorded as a failure."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # thousands of tiny calls: thread start-up would dominate on a loaded machine
    try:
        return _sweep(function, seed)
    finally:
        torch.set_num_threads(threads)


def _sweep(function: str, seed: int) -> Tally:
    import torch
    import torch.nn.functional as F
    tally = Tally(function)
    gen = torch.Generator().manual_seed(seed)
    eps = torch.finfo(torch.float64).eps
    for args, kwargs, shape in _cases(function):
        tally.tried += 1
        x = torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1
        where = _describe(function, args, kwargs, shape)
        try:
            ref = getattr(F, function)(x, *args, **kwargs)
            if function.startswith("lp_pool"):   # the same call on |x| bounds the magnitude summed
                mag = getattr(F, function)(x.abs(), *args, **kwargs).abs()
            else:
                mag = getattr(F, function)(x.abs(), *args, **kwargs)
            torch_error = None
        except (RuntimeError, ValueError, TypeError) as exc:
            ref, mag, torch_error = None, None, exc
        outs, operator = {}, None
        try:
            operator = route(function, *args, input_shape=tuple(x.shape), **kwargs).operator
            for path in ("auto", "generic"):
                outs[path] = pool(function, x, *args, path=path, **kwargs)
        except ValueError as exc:
            tally.refused += 1
            tally.refused_by_torch_too += torch_error is not None
            msg = str(exc)
            tally.reasons[msg] = tally.reasons.get(msg, 0) + 1
            continue
        except Exception as exc:  # noqa: BLE001 - any other exception is a failure the caller reports
            tally.failures.append(f"{where}: {type(exc).__name__}: {exc}")
            continue
        if torch_error is not None:
            tally.failures.append(f"{where}: PyTorch refuses ({torch_error}) but evosym computed a result")
            continue
        n = _window_terms(function, args, kwargs, tuple(x.shape))
        tol = 4 * (n + 2) * eps * (mag + 1e-300)
        bad = [p for p, y in outs.items() if y.shape != ref.shape or not bool(((y - ref).abs() <= tol).all())]
        if bad:
            detail = "; ".join(f"{p}: shape {tuple(outs[p].shape)} vs {tuple(ref.shape)}" if outs[p].shape != ref.shape
                               else f"{p}: max |diff| {(outs[p] - ref).abs().max().item():.3g}" for p in bad)
            tally.failures.append(f"{where}: wrong result ({detail})")
            continue
        tally.matched += 1
        tally.operators[operator] = tally.operators.get(operator, 0) + 1
    return tally


# ---------------------------------------------------------------- the tables of docs/pooling.md

# (function, argument, example as written, route arguments): each argument alone, then the combinations that
# decide between operators or are refused
_ROWS = (
    ("avg_pool1d", "kernel_size, stride, padding", "3, 2, 1", (3, 2, 1)),
    ("avg_pool1d", "count_include_pad=False, padding 0", "3, 2, 0, count_include_pad=False",
     (3, 2, 0, False, False)),
    ("avg_pool1d", "count_include_pad=False, padding > 0", "3, 2, 1, count_include_pad=False",
     (3, 2, 1, False, False)),
    ("avg_pool1d", "ceil_mode=True", "3, 2, 1, ceil_mode=True", (3, 2, 1, True)),
    ("avg_pool1d", "ceil_mode=True, count_include_pad=False", "2, 2, 1, ceil_mode=True, count_include_pad=False",
     (2, 2, 1, True, False)),
    ("avg_pool2d", "kernel_size, stride, padding (int or tuple)", "(2, 3), (1, 2), (1, 0)", ((2, 3), (1, 2), (1, 0))),
    ("avg_pool2d", "stride=None (the window)", "3", (3,)),
    ("avg_pool2d", "ceil_mode=True", "3, 2, 1, ceil_mode=True", (3, 2, 1, True)),
    ("avg_pool2d", "count_include_pad=False", "3, 2, 1, count_include_pad=False", (3, 2, 1, False, False)),
    ("avg_pool2d", "count_include_pad=False, padding 0", "3, 2, 0, count_include_pad=False", (3, 2, 0, False, False)),
    ("avg_pool2d", "ceil_mode=True, count_include_pad=False", "2, 2, 1, ceil_mode=True, count_include_pad=False",
     (2, 2, 1, True, False)),
    ("avg_pool2d", "divisor_override", "3, 2, 1, divisor_override=4", (3, 2, 1, False, True, 4)),
    ("avg_pool2d", "divisor_override, ceil_mode=True", "3, 2, 1, ceil_mode=True, divisor_override=4",
     (3, 2, 1, True, True, 4)),
    ("avg_pool2d", "padding more than half the window", "2, 1, 2", (2, 1, 2)),
    ("avg_pool3d", "kernel_size, stride, padding", "3, 2, 1", (3, 2, 1)),
    ("avg_pool3d", "ceil_mode=True", "3, 2, 1, ceil_mode=True", (3, 2, 1, True)),
    ("avg_pool3d", "count_include_pad=False, padding > 0", "3, 2, 1, count_include_pad=False", (3, 2, 1, False, False)),
    ("avg_pool3d", "ceil_mode=True, count_include_pad=False", "2, 2, 1, ceil_mode=True, count_include_pad=False",
     (2, 2, 1, True, False)),
    ("avg_pool3d", "divisor_override", "3, 2, 1, divisor_override=4", (3, 2, 1, False, True, 4)),
    ("avg_pool3d", "divisor_override, ceil_mode=True", "3, 2, 1, ceil_mode=True, divisor_override=4",
     (3, 2, 1, True, True, 4)),
    ("adaptive_avg_pool1d", "output_size", "3", (3,)),
    ("adaptive_avg_pool2d", "output_size (int or tuple)", "(2, 3)", ((2, 3),)),
    ("adaptive_avg_pool2d", "output_size with None", "(None, 3)", ((None, 3),)),
    ("adaptive_avg_pool3d", "output_size (int or tuple)", "(2, 3, 1)", ((2, 3, 1),)),
    ("lp_pool2d", "norm_type=1 (sum pooling)", "1, 2", (1, 2)),
    ("lp_pool2d", "norm_type=1, ceil_mode=True", "1, 2, 2, True", (1, 2, 2, True)),
    ("lp_pool2d", "norm_type=2", "2, 2", (2, 2)),
    ("lp_pool1d", "norm_type=1", "1, 2", (1, 2)),
    ("max_pool2d", "any", "2", (2,)),
    ("adaptive_max_pool2d", "any", "(2, 2)", ((2, 2),)),
)


def rows() -> list[tuple[str, str, str, str, str]]:
    """(function, argument, example, "supported" or "refused", operator or reason), from :func:`route`."""
    out = []
    for fn, argument, example, args in _ROWS:
        try:
            r = route(fn, *args, input_shape=(1, 1, 5, 6) if fn.endswith("2d") else None)
        except ValueError as exc:
            out.append((fn, argument, example, "refused", str(exc)))
        else:
            out.append((fn, argument, example, "supported", f"`{r.operator}`"))
    return out


def markdown(tallies=None) -> str:
    """The argument table as Markdown and, given the :func:`sweep` tallies, the sweep's counts per function."""
    lines = ["| function | argument | example | status | operator / reason |", "|---|---|---|---|---|"]
    for fn, argument, example, status, what in rows():
        lines.append(f"| `{fn}` | {argument} | `{example}` | {status} | {what.replace('|', '/')} |")
    if tallies:
        lines += ["", "| function | tried | matched | refused by evosym | of which PyTorch refuses too | wrong | "
                  "matched by |", "|---|---|---|---|---|---|---|"]
        for t in tallies:
            by = ", ".join(f"`{op}` {n}" for op, n in sorted(t.operators.items())) or "none"
            lines.append(f"| `{t.function}` | {t.tried} | {t.matched} | {t.refused} | {t.refused_by_torch_too} | "
                         f"{len(t.failures)} | {by} |")
    return "\n".join(lines) + "\n"
