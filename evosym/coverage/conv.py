"""Which PyTorch convolution calls evosym's generated modules take, and which they refuse, and why.

``torch.nn.functional.conv{1,2,3}d`` and ``torch.nn.Conv{1,2,3}d`` accept more argument combinations
than any one catalogue operator proves: each operator is one padding policy (zeros, ``padding='same'``,
reflect, replicate, circular). :func:`route` maps PyTorch's arguments onto the one operator that
computes them and the sizes of its generated functional form, or raises a :class:`ValueError` that
names the condition. :func:`conv` and :func:`from_torch` run the committed generated code (a source
checkout's ``codegen/torch``) through that route; :func:`rows` and :func:`markdown` give the table of
``docs/convolution-coverage.md``, computed from :func:`route` itself so it cannot drift from the code
(``tests/test_conv_coverage.py`` compares it with the page and sweeps the combinations numerically).

Unbatched inputs are the generated modules' business, not the route's: it only reads the arguments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .arguments import integer, ints, named
from .modules import generated, module_class

AXES = {1: ("",), 2: ("h", "w"), 3: ("d", "h", "w")}
MODES = ("zeros", "reflect", "replicate", "circular")


@dataclass(frozen=True)
class Route:
    """The catalogue operator that computes a call, and the keyword sizes of its generated functional form."""

    operator: str
    sizes: dict


def route(dims: int, *, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
          groups: int = 1, padding_mode: str = "zeros") -> Route:
    """The operator and sizes for PyTorch's ``conv{dims}d`` arguments; a ValueError saying why when none covers them."""
    if dims not in AXES:
        raise ValueError(f"dims must be 1, 2 or 3, not {dims!r}")
    counts = {}
    for what, n in (("groups", groups), ("in_channels", in_channels), ("out_channels", out_channels)):
        counts[what] = integer(n)
        if counts[what] is None or counts[what] < 1:
            raise ValueError(f"{what} must be an int ≥ 1, not {n!r}")
    groups, in_channels, out_channels = counts["groups"], counts["in_channels"], counts["out_channels"]
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"in_channels ({in_channels}) and out_channels ({out_channels}) must be multiples of "
                         f"groups ({groups}) (PyTorch refuses this too)")
    K = ints("kernel_size", kernel_size, dims, 1)
    s = ints("stride", stride, dims, 1)
    d = ints("dilation", dilation, dims, 1)
    if padding_mode not in MODES:
        raise ValueError(f"padding_mode must be one of {', '.join(map(repr, MODES))}, not {padding_mode!r}")
    sizes = {"G": groups, "C_g": in_channels // groups, "O_g": out_channels // groups}
    if isinstance(padding, str):
        if padding == "same":
            if any(v != 1 for v in s):
                raise ValueError(f"padding='same' needs stride 1, not stride={stride!r} (PyTorch refuses strided "
                                 "'same' too)")
            if padding_mode == "zeros":
                for a, k, dv in zip(AXES[dims], K, d):
                    sizes[named("K", a)], sizes[named("delta", a)] = k, dv
                return Route(f"conv{dims}d_same", sizes)
            # nn.Conv{dims}d pads δ(K − 1) in the mode, ⌊δ(K − 1)/2⌋ before: δ(K − 1)/2 on both sides where it is even
            if padding_mode != "circular" and any(dv != 1 and k != 1 for k, dv in zip(K, d)):
                raise ValueError(f"padding='same' with padding_mode={padding_mode!r} and dilation > 1 is not "
                                 f"supported: conv{dims}d_{padding_mode} is proved for dilation 1, got dilation={dilation!r}")
            if any(dv * (k - 1) % 2 for k, dv in zip(K, d)):
                raise ValueError(f"padding='same' with padding_mode={padding_mode!r} and an odd δ(K − 1) "
                                 f"(kernel_size={kernel_size!r}, dilation={dilation!r}) pads asymmetrically (⌊δ(K − 1)/2⌋ "
                                 f"before, the rest after); conv{dims}d_{padding_mode} pads P on both sides: no operator "
                                 "of that mode pads asymmetrically")
            P = tuple(dv * (k - 1) // 2 for k, dv in zip(K, d))
        elif padding != "valid":
            raise ValueError(f"padding must be 'valid', 'same', an int or a tuple of {dims} ints, not {padding!r}")
        else:
            P = (0,) * dims   # 'valid' is no padding
    else:
        P = ints("padding", padding, dims, 0)
    if padding_mode == "zeros" or not any(P):   # (a padding of 0 pads nothing, in any mode: any dilation)
        for a, k, sv, dv, p in zip(AXES[dims], K, s, d, P):
            sizes.update({named("K", a): k, named("s", a): sv, named("delta", a): dv, named("P", a): p})
        return Route(f"conv{dims}d", sizes)
    if padding_mode == "circular":   # (wrapping is a translation: the dilated window wraps as it is)
        for a, k, sv, dv, p in zip(AXES[dims], K, s, d, P):
            sizes.update({named("K", a): k, named("s", a): sv, named("delta", a): dv, named("P", a): p})
        return Route(f"conv{dims}d_circular", sizes)
    if any(dv != 1 and k != 1 for k, dv in zip(K, d)):
        raise ValueError(f"padding_mode={padding_mode!r} with dilation > 1 is not supported: conv{dims}d_{padding_mode} "
                         f"is proved for dilation 1, got dilation={dilation!r} (a {padding_mode} read lands between "
                         "the dilated window's taps)")
    for a, k, sv, p in zip(AXES[dims], K, s, P):
        sizes.update({named("K", a): k, named("s", a): sv, named("P", a): p})
    return Route(f"conv{dims}d_{padding_mode}", sizes)


def conv(dims: int, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, padding_mode="zeros",
         path="auto"):
    """``F.conv{dims}d(x, weight, bias, stride, padding, dilation, groups)`` (after ``F.pad`` in ``padding_mode``
    for the other modes, as ``nn.Conv{dims}d`` does) computed by the routed operator's generated functional form."""
    shape = tuple(getattr(weight, "shape", ()))
    if len(shape) != dims + 2:
        raise ValueError(f"weight must have {dims + 2} dimensions (out, in/groups, kernel…), not shape {shape}")
    g = integer(groups)
    valid = g is not None and g >= 1   # else route names groups
    r = route(dims, in_channels=shape[1] * g if valid else shape[1], out_channels=shape[0],
              kernel_size=shape[2:], stride=stride, padding=padding, dilation=dilation, groups=groups,
              padding_mode=padding_mode)
    fn = getattr(generated(r.operator), f"{r.operator}_evolution")
    return fn(x, weight, bias, **r.sizes, path=path)


def from_torch(m):
    """The generated module equal to an ``nn.Conv{1,2,3}d`` (its weights copied), picked by :func:`route`;
    the picked operator's own ``from_torch`` loads it and checks its binding."""
    import torch
    dims = next((n for n, cls in ((1, torch.nn.Conv1d), (2, torch.nn.Conv2d), (3, torch.nn.Conv3d))
                 if isinstance(m, cls)), None)
    if dims is None:
        raise ValueError(f"expected a torch.nn.Conv1d, Conv2d or Conv3d, not {type(m).__name__}")
    lazy(m)
    r = route(dims, in_channels=m.in_channels, out_channels=m.out_channels, kernel_size=tuple(m.kernel_size),
              stride=tuple(m.stride), padding=m.padding if isinstance(m.padding, str) else tuple(m.padding),
              dilation=tuple(m.dilation), groups=m.groups, padding_mode=m.padding_mode)
    return module_class(generated(r.operator)).from_torch(m)


def lazy(m) -> None:
    """A ValueError for a lazy module (nn.LazyConv2d …) whose weights do not exist yet: nothing to copy."""
    import torch
    if any(isinstance(t, torch.nn.parameter.UninitializedTensorMixin) for t in list(m.parameters()) + list(m.buffers())):
        raise ValueError(f"{type(m).__name__} is a lazy module whose weights do not exist yet (in_channels is inferred "
                         "from the first input): run a forward pass on an input first (it then becomes an "
                         f"nn.Conv{type(m).__name__[-2:]} with its weights), or build it with in_channels, then take it")


def candidates(dims: int) -> tuple:
    """Every convolution operator of one dimension (the ones whose ``from_torch`` may take an ``nn.Conv{dims}d``)."""
    return (f"conv{dims}d", f"conv{dims}d_same") + tuple(f"conv{dims}d_{m}" for m in MODES[1:])


# (argument, example as written, keyword arguments of route): each argument alone, then the combinations
# that decide between operators or are refused
_CASES = (
    ("stride", "stride=2 / (1, 2, …)", dict(stride=2)),
    ("padding (int / tuple)", "padding=1", dict(padding=1)),
    ("padding='valid'", "padding='valid'", dict(padding="valid")),
    ("padding='same', δ(K−1) even", "padding='same', K=3", dict(padding="same")),
    ("padding='same', δ(K−1) odd (asymmetric)", "padding='same', K=4", dict(padding="same", kernel_size=4)),
    ("padding='same' with dilation", "padding='same', dilation=2", dict(padding="same", dilation=2)),
    ("padding='same' with stride > 1", "padding='same', stride=2", dict(padding="same", stride=2)),
    ("dilation", "dilation=2", dict(dilation=2)),
    ("groups", "groups=2", dict(groups=2)),
    ("bias", "bias=None / a tensor", dict()),
    ("padding_mode='reflect'", "padding=1, padding_mode='reflect'", dict(padding=1, padding_mode="reflect")),
    ("padding_mode='replicate'", "padding=1, padding_mode='replicate'", dict(padding=1, padding_mode="replicate")),
    ("padding_mode='circular'", "padding=1, padding_mode='circular'", dict(padding=1, padding_mode="circular")),
    ("padding_mode with stride and groups", "padding=1, stride=2, groups=2, padding_mode='reflect'",
     dict(padding=1, stride=2, groups=2, padding_mode="reflect")),
    ("padding_mode with dilation > 1", "padding=2, dilation=2, padding_mode='reflect'",
     dict(padding=2, dilation=2, padding_mode="reflect")),
    ("padding_mode with padding 0 (it pads nothing)", "padding=0, dilation=2, padding_mode='reflect'",
     dict(padding=0, dilation=2, padding_mode="reflect")),
    ("padding_mode with padding='same', K odd", "padding='same', padding_mode='replicate'",
     dict(padding="same", padding_mode="replicate")),
    ("padding_mode with padding='same', K even (asymmetric)", "padding='same', K=4, padding_mode='reflect'",
     dict(padding="same", kernel_size=4, padding_mode="reflect")),
    ("padding_mode with padding='same' and dilation > 1", "padding='same', dilation=2, padding_mode='replicate'",
     dict(padding="same", dilation=2, padding_mode="replicate")),
    ("padding_mode='circular' with dilation > 1", "padding=2, dilation=2, padding_mode='circular'",
     dict(padding=2, dilation=2, padding_mode="circular")),
    ("padding_mode='circular', padding='same' with dilation", "padding='same', dilation=2, padding_mode='circular'",
     dict(padding="same", dilation=2, padding_mode="circular")),
)

# (argument, example, keyword arguments, input length per axis): refused by the generated module itself,
# from its proof's domain, once it sees the sizes
_INPUT_CASES = (
    ("padding_mode='reflect', 2P > K − 1", "padding=2, kernel_size=3, padding_mode='reflect'",
     dict(padding=2, padding_mode="reflect"), 5),
    ("padding_mode='reflect', P ≥ L", "padding=1, padding_mode='reflect', input length 1",
     dict(padding=1, padding_mode="reflect"), 1),
    ("padding_mode='replicate', P > K − 1", "padding=3, kernel_size=3, padding_mode='replicate'",
     dict(padding=3, padding_mode="replicate"), 5),
    ("padding_mode='circular', P > L", "padding=3, padding_mode='circular', input length 2",
     dict(padding=3, padding_mode="circular"), 2),
    ("window larger than the padded input", "kernel_size=3, padding=0, input length 2", dict(), 2),
)


def rows() -> list[tuple[str, str, str, str, str]]:
    """(function, argument, example, "supported" or "refused", operator or reason), from :func:`route`."""
    out = []
    for dims in (1, 2, 3):
        for argument, example, kw in _CASES:
            kw = {"in_channels": 4, "out_channels": 4, "kernel_size": 3, **kw}
            try:
                r = route(dims, **kw)
            except ValueError as exc:
                out.append((f"conv{dims}d", argument, example, "refused", str(exc)))
            else:
                out.append((f"conv{dims}d", argument, example, "supported", f"`{r.operator}`"))
        for argument, example, kw, length in _INPUT_CASES:
            out.append((f"conv{dims}d", argument, example, "refused", _refusal(dims, kw, length)))
    return out


def _refusal(dims: int, kw: dict, length: int) -> str:
    """The generated module's own refusal for these arguments at this input length (its sizes left out)."""
    import torch
    x = torch.zeros((1, 4) + (length,) * dims, dtype=torch.float64)
    w = torch.zeros((4, 4) + (3,) * dims, dtype=torch.float64)
    mode = kw.get("padding_mode", "zeros")
    try:
        conv(dims, x, w, None, 1, kw.get("padding", 0), 1, 1, padding_mode=mode)
    except ValueError as exc:
        return str(exc).split("; got ")[0].split(" for input shape")[0]
    raise AssertionError(f"conv{dims}d {kw} at length {length} was expected to be refused")


def markdown() -> str:
    """The coverage table as Markdown (one table, a row per function and argument)."""
    lines = ["| function | argument | example | status | operator / reason |", "|---|---|---|---|---|"]
    for fn, argument, example, status, what in rows():
        lines.append(f"| `{fn}` | {argument} | `{example}` | {status} | {what.replace('|', chr(92) + '|')} |")   # a literal | escaped
    return "\n".join(lines) + "\n"


# The sweep: every combination below (bias with and without, alternating), for the functional form (F.conv{N}d, zero padding) and the module
# (nn.Conv{N}d, each padding_mode), run through both paths of the generated code and compared with PyTorch.
PADDINGS = ("valid", "same", 0, 1, 2, 3)
STRIDES = (1, 2)
DILATIONS = (1, 2)
GROUPS = (1, 2)
KERNELS = (2, 3)   # even and odd: 'same' is asymmetric when δ(K−1) is odd
LENGTHS = {1: (7,), 2: (6, 5), 3: (4, 5, 3)}   # reflect's P < L fails for padding 3 on the last 3-D axis


def _axes(dims: int, first, rest):
    """A per-axis argument whose axes differ (the first axis swept, the others fixed), as PyTorch takes it."""
    return first if dims == 1 else (first,) + tuple(rest[:dims - 1])


SHORT = 2   # every axis this long: padding beyond the input (reflect's P < L, circular's P ≤ L) and windows that do not fit


def combinations(dims: int, module: bool):
    """(input lengths, keyword arguments) of every combination tried for ``conv{dims}d`` (``module``:
    nn.Conv{dims}d): the full product on a longer input, then each padding, mode and kernel on a short one."""
    modes = MODES if module else ("zeros",)
    for padding in PADDINGS:
        for mode in modes:
            for k in KERNELS:
                yield (SHORT,) * dims, dict(padding=padding, padding_mode=mode, stride=1, dilation=1, groups=1,
                                            bias=True, kernel_size=k)
    for padding in PADDINGS:
        for mode in modes:
            for s in STRIDES:
                for dl in DILATIONS:
                    for g in GROUPS:
                        for k in KERNELS:
                            bias = (s + dl + g + k) % 2 == 0   # with and without, half each (halves the sweep)
                            yield LENGTHS[dims], dict(
                                padding=padding if isinstance(padding, str) else _axes(dims, padding, (1, padding)),
                                padding_mode=mode, stride=_axes(dims, s, (1, s)), dilation=_axes(dims, dl, (dl, 1)),
                                groups=g, bias=bias, kernel_size=_axes(dims, k, (5 - k, k)))


def _close(ours, ref, terms: int) -> bool:
    """float64 agreement within rounding of ``terms`` accumulated products (inputs of magnitude ~1)."""
    import torch
    if ours.shape != ref.shape or not torch.isfinite(ours).all():
        return False
    return bool(((ours - ref).abs() <= 1e-13 * terms * (1 + ref.abs())).all())


def _torch_side(dims, module, x, kw, gen):
    """PyTorch's answer for one combination: (module or None, weight, bias, output or None, error or None)."""
    import torch
    import torch.nn.functional as F
    args = {k: v for k, v in kw.items() if k not in ("bias", "padding_mode")}
    cin, cout = x.shape[1], 6
    m = None
    weight = torch.randn((cout, cin // kw["groups"]) + _tuple(kw["kernel_size"], dims), generator=gen, dtype=torch.float64)
    b = torch.randn(cout, generator=gen, dtype=torch.float64) if kw["bias"] else None
    try:
        if module:
            m = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}[dims](
                cin, cout, bias=kw["bias"], padding_mode=kw["padding_mode"], dtype=torch.float64, **args)
            with torch.no_grad():
                m.weight.copy_(weight)
                if b is not None:
                    m.bias.copy_(b)
            return m, weight, b, m(x).detach(), None
        args.pop("kernel_size")
        return None, weight, b, {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[dims](x, weight, b, **args), None
    except (RuntimeError, ValueError) as exc:
        return m, weight, b, None, exc


def _tuple(v, dims):
    return tuple(v) if isinstance(v, tuple) else (v,) * dims


def sweep(dims: int, module: bool, *, seed: int = 0) -> dict:
    """Run every combination of :func:`combinations`: {"tried", "matched", "refused", "torch refused",
    "reasons": {reason: count}, "failures": [what went wrong]}. A failure is a wrong number on either path,
    an exception other than ValueError, a refusal without a message, a result where PyTorch refuses, or
    (modules) another convolution operator's ``from_torch`` taking the module too."""
    import warnings
    import torch
    out = {"tried": 0, "matched": 0, "refused": 0, "torch refused": 0, "reasons": {}, "failures": []}
    gen = torch.Generator().manual_seed(seed)
    for lengths, kw in combinations(dims, module):
        x = torch.randn((2, 4) + lengths, generator=gen, dtype=torch.float64)
        out["tried"] += 1
        label = f"{'nn.Conv' if module else 'F.conv'}{dims}d {kw}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)   # PyTorch's note on asymmetric 'same'
            m, weight, b, ref, torch_error = _torch_side(dims, module, x, kw, gen)
            try:
                if module and m is None:
                    raise ValueError(f"PyTorch refuses to build this nn.Conv{dims}d: {torch_error}")
                if module:
                    layer = from_torch(m)
                    got = [layer(x, path=p).detach() for p in ("auto", "generic")]
                else:
                    got = [conv(dims, x, weight, b, kw["stride"], kw["padding"], kw["dilation"], kw["groups"],
                                path=p) for p in ("auto", "generic")]
            except ValueError as exc:
                reason = str(exc).split("; got ")[0]
                if not reason.strip():
                    out["failures"].append(f"{label}: a ValueError without a message")
                out["refused"] += 1
                out["torch refused"] += torch_error is not None
                out["reasons"][reason] = out["reasons"].get(reason, 0) + 1
                continue
            except Exception as exc:   # noqa: BLE001: anything but a clear ValueError is a failure
                out["failures"].append(f"{label}: {type(exc).__name__}: {exc}")
                continue
        if torch_error is not None:
            out["failures"].append(f"{label}: evosym computed what PyTorch refuses ({torch_error})")
            continue
        terms = (x.shape[1] // kw["groups"]) * math.prod(_tuple(kw["kernel_size"], dims))
        bad = [p for p, y in zip(("auto", "generic"), got) if not _close(y, ref, terms)]
        if bad:
            out["failures"].append(f"{label}: wrong result on path {', '.join(bad)}")
            continue
        if module:
            mine = type(layer).__module__.removeprefix("evosym_coverage_")
            for n in candidates(dims):
                if n != mine and _takes(n, m):
                    out["failures"].append(f"{label}: {n}.from_torch takes it as well as {mine}")
        out["matched"] += 1
    return out


def _takes(name: str, m) -> bool:
    try:
        module_class(generated(name)).from_torch(m)
    except ValueError:
        return False
    return True
