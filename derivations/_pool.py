"""Shared construction of PyTorch's average pooling (``avg_pool1d/2d/3d``) with each divisor rule.

    y[b, o, i…] = (1/D(i…)) · Σ_u x̃[b, o, s·i + u − P]        (x̃: the input padded with zeros)

The window sum is the same for every variant; what differs is the divisor D and the output length,
and each combination is a different Evolution kernel K = δ(o, c)/D(i…) on a different output grid
(one catalogue operator each):

- ``include`` (``count_include_pad=True``, ``ceil_mode=False``): D = Π K, static and uniform;
- ``ceil`` (``count_include_pad=True``, ``ceil_mode=True``): the output length rounds up, but the
  last window must start inside the input or the left padding; PyTorch's divisor is the window clipped
  to the padded extent [−P, L + P), D = Π min(K, L + 2P − s·i): position-specific on the last window;
- ``exclude`` (``count_include_pad=False``, ``ceil_mode=False``): D counts the window's entries inside
  the input, Π (min(s·i − P + K, L) − max(s·i − P, 0)): position-specific near every border;
- ``ceil_exclude`` (``count_include_pad=False``, ``ceil_mode=True``): that divisor on the ``ceil`` grid;
- ``divisor`` (``divisor_override``, ``ceil_mode=False``): D is the given constant;
- ``ceil_divisor`` (``divisor_override``, ``ceil_mode=True``): that constant on the ``ceil`` grid.

The per-axis counts are written as sums of brackets, Σ_{u'<K} [lo ≤ s·i + u' − P ≤ hi], which equal the
min/max forms above and which generated code computes in the input's dtype (a quotient of integer
tensors would be computed in float32).

PyTorch refuses padding larger than half the window (2P ≤ K), which every variant declares as a
constraint: a generated module refuses it too; avg_pool3d also refuses a window larger than the unpadded
input (K ≤ L on each axis, whatever the padding), which the 3-D variants declare (avg_pool1d/2d take it). Under it the ``ceil`` length
⌈(L + 2P − K)/s⌉ + 1, less one when the last window would start at or past L + P, equals
⌊min(L + 2P − K + s − 1, L + P − 1)/s⌋ + 1 (the windows whose start k·s − P is below L), which is
how it is written here (the min in floors, see :func:`_positive_part`); the reference check compares
it with torch at every grid shape and the pooling coverage sweep at many more.
"""

from __future__ import annotations

import sympy as sp

from evosym import Definition, InRange, Operator, TensorDecl, Window, WindowAxis, index, size

AXES = {1: ("",), 2: ("h", "w"), 3: ("d", "h", "w")}
LENGTH = {"": "L_in", "d": "D_in", "h": "H_in", "w": "W_in"}
WHERE = {"": "", "d": " along d", "h": " along h", "w": " along w"}
OUT_POS = {1: "i", 2: "i j", 3: "i j k"}
IN_POS = {1: "m", 2: "m n", 3: "m n l"}
OFFSETS = {1: "u", 2: "u v", 3: "u v t"}
VARIANTS = ("include", "ceil", "exclude", "ceil_exclude", "divisor", "ceil_divisor")
MODULES = {1: "torch.nn.AvgPool1d", 2: "torch.nn.AvgPool2d", 3: "torch.nn.AvgPool3d"}
FUNCTIONS = {1: "torch.nn.functional.avg_pool1d", 2: "torch.nn.functional.avg_pool2d", 3: "torch.nn.functional.avg_pool3d"}
TUPLE = {1: "_single", 2: "_pair", 3: "_triple"}


GRIDS = {   # (dims, ceil_mode) -> grid shapes of the 1-D and 3-D variants (the 2-D operators state their own)
    (1, False): (dict(C=2, L=7, K=3, s=2, P=1), dict(B=2, L=6, K=2, s=3, P=1), dict(C=3, L=5, K=4, s=3, P=2)),
    (1, True): (dict(C=2, L=6, K=3, s=2, P=1), dict(B=2, L=5, K=1, s=3, P=0), dict(C=3, L=5, K=3, s=3, P=1)),
    (3, False): (dict(C=2, L=(3, 4, 5), K=(2, 3, 1), s=(1, 2, 1), P=(1, 1, 0)),
                 dict(B=2, L=(4, 3, 2), K=(3, 2, 2), s=(2, 1, 2), P=(1, 0, 1)),
                 dict(L=(2, 5, 4), K=(1, 4, 2), s=(1, 3, 1), P=(0, 2, 0))),
    (3, True): (dict(C=2, L=(4, 5, 3), K=(3, 2, 2), s=(2, 2, 2), P=(1, 1, 0)),
                dict(B=2, L=(3, 4, 5), K=(2, 3, 2), s=(2, 2, 3), P=(0, 1, 1)),
                dict(L=(5, 3, 5), K=(3, 1, 1), s=(3, 1, 3), P=(1, 0, 0))),
}


def _sym(base, axis, zero=False):
    return size(f"{base}_{axis}" if axis else base, zero=zero)


def _positive_part(z, bound):
    """max(0, z) for an integer z with −bound ≤ z < bound, in floors only: z·⌊(z + bound)/bound⌋ (the
    floor is the bracket [z ≥ 0]). Written so because generated code computes output lengths in
    Python integers, which the printer does not do for Min and Max today."""
    return z * sp.floor((z + bound) / bound)


class PoolFamily:
    """Symbols, tensors, divisor and output length of one N-d average pooling variant."""

    def __init__(self, dims: int, variant: str):
        if dims not in AXES:
            raise ValueError(f"dims must be 1, 2 or 3, not {dims!r}")
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, not {variant!r}")
        self.dims, self.variant, self.axes = dims, variant, AXES[dims]
        self.ceil = variant in ("ceil", "ceil_exclude", "ceil_divisor")
        self.given = variant in ("divisor", "ceil_divisor")   # divisor_override
        self.exclude = variant in ("exclude", "ceil_exclude")
        self.B, self.C = size("B"), size("C")
        self.L = tuple(size(LENGTH[a]) for a in self.axes)
        self.K = tuple(_sym("K", a) for a in self.axes)
        self.s = tuple(_sym("s", a) for a in self.axes)
        self.P = tuple(_sym("P", a, zero=True) for a in self.axes)
        self.D = size("D_o") if self.given else None
        self.b, self.o, self.c = index("b"), index("o"), index("c")
        self.p = tuple(index(n) for n in OUT_POS[dims].split())
        self.q = tuple(index(n) for n in IN_POS[dims].split())
        self.u = tuple(index(n) for n in OFFSETS[dims].split())
        self.x = TensorDecl("x", (self.B, self.C) + self.L, "input", "input feature map")

    def constraints(self) -> tuple:
        """PyTorch's own refusals, declared so that a generated module refuses them too: padding at most half the
        window (2P ≤ K, every avg_pool), and for avg_pool3d a window no larger than the unpadded input (K ≤ L on
        every axis: its shape check compares the input with the kernel before padding; avg_pool1d/2d do not)."""
        out = tuple(sp.Le(2 * P, K) for P, K in zip(self.P, self.K))
        if self.dims == 3:
            out += tuple(sp.Le(K, L) for K, L in zip(self.K, self.L))
        return out

    def out_length(self, L, K, s, P):
        if self.ceil:
            # ⌊min(L + 2P − K + s − 1, L + P − 1)/s⌋ + 1 with the min written as L + P − 1 − max(0, K − P − s)
            return sp.floor((L + P - 1 - _positive_part(K - P - s, K + s + 1)) / s) + 1
        return sp.floor((L + 2 * P - K) / s) + 1

    @property
    def Lout(self):
        return tuple(self.out_length(*a) for a in zip(self.L, self.K, self.s, self.P))

    def divisor(self) -> sp.Expr:
        """D(i…): the number the window's sum is divided by (PyTorch's divide_factor), per axis a count of
        the window's taps u' inside the input (exclude) or inside the padded extent [−P, L + P) (ceil)."""
        if self.given:
            return self.D
        per_axis = []
        for p, L, K, s, P, u in zip(self.p, self.L, self.K, self.s, self.P, self.u):
            if self.variant == "include":
                per_axis.append(K)
                continue
            lo, hi = (0, L - 1) if self.exclude else (-P, L + P - 1)
            tap = index(f"{u}'")
            per_axis.append(sp.Sum(InRange(s * p + tap - P, lo, hi), (tap, 0, K - 1)))
        return sp.Mul(*per_axis)

    def symbols(self):
        out = [(self.B, "batch size"), (self.C, "channels")]
        for a, L in zip(self.axes, self.L):
            out.append((L, "input length" + WHERE[a]))
        for a, K, s, P in zip(self.axes, self.K, self.s, self.P):
            out += [(K, "window size" + WHERE[a]), (s, "stride" + WHERE[a]), (P, "zero padding" + WHERE[a])]
        if self.D is not None:
            out.append((self.D, "divisor_override: every window's sum is divided by it"))
        return tuple(out)

    def window(self) -> Window:
        return Window(tuple(WindowAxis(K, s, 1, P, L) for K, s, P, L in zip(self.K, self.s, self.P, self.L)))

    def config(self, **kw) -> dict:
        """A grid shape from keyword sizes; per-axis values as tuples (``K=(3, 2)``)."""
        out = {self.B: kw.get("B", 1), self.C: kw.get("C", 1)}
        for name, syms in (("L", self.L), ("K", self.K), ("s", self.s), ("P", self.P)):
            vals = kw.get(name, (1,) * self.dims if name != "P" else (0,) * self.dims)
            vals = vals if isinstance(vals, tuple) else (vals,) * self.dims
            out.update(zip(syms, vals))
        if self.D is not None:
            out[self.D] = kw["D_o"]
        return out

    def grid(self) -> list:
        """The 1-D and 3-D variants' grid shapes (:data:`GRIDS`): strides, padding, partial last windows, and
        for ``ceil_mode`` a window PyTorch drops (L = 5, K = 1, s = 3); a divisor_override D_o of 5, 2, 7."""
        shapes = GRIDS[(self.dims, self.ceil)]
        return [self.config(**kw, **({"D_o": d} if self.given else {})) for kw, d in zip(shapes, (5, 2, 7))]

    def torch_kwargs(self, sizes) -> dict:
        """F.avg_poolNd's arguments at concrete sizes (by name)."""
        kw = {"kernel_size": tuple(sizes[str(k)] for k in self.K), "stride": tuple(sizes[str(k)] for k in self.s),
              "padding": tuple(sizes[str(k)] for k in self.P), "ceil_mode": self.ceil,
              "count_include_pad": not self.exclude}
        if self.given:
            kw["divisor_override"] = sizes["D_o"]
        return kw

    def binding(self) -> dict:
        n = TUPLE[self.dims]
        sizes = {}
        for a in range(self.dims):
            for base, attr in (("K", "kernel_size"), ("s", "stride"), ("P", "padding")):
                sizes[str((self.K, self.s, self.P)[("K", "s", "P").index(base)][a])] = f"torch.nn.modules.utils.{n}(m.{attr})[{a}]"
        ceil = ("m.ceil_mode", "only ceil_mode=True is this operator") if self.ceil else \
            ("not m.ceil_mode", "only ceil_mode=False is this operator")
        requires = [ceil]
        if self.given:
            requires.append(("m.divisor_override is not None", "a divisor_override is this operator"))
            sizes["D_o"] = "m.divisor_override"
        else:
            padded = f"any(torch.nn.modules.utils.{n}(m.padding))"
            if self.exclude:
                requires.append((f"not m.count_include_pad and {padded}", "count_include_pad=False with some padding "
                                 "is this operator (without padding it changes nothing: the count_include_pad=True "
                                 "operator takes it)"))
            else:
                requires.append((f"m.count_include_pad or not {padded}", "count_include_pad=True is this operator, or "
                                 "no padding (then count_include_pad changes nothing)"))
            if self.dims > 1:   # AvgPool1d has no divisor_override
                requires.append(("m.divisor_override is None", "a divisor_override is not this operator"))
        return {"module": MODULES[self.dims], "requires": requires, "sizes": sizes, "tensors": {}}


def pool_operator(fam: PoolFamily, *, name: str, summary: str, description: str, grid, bench, figure,
                  citation: str, notes=()) -> Operator:
    x = fam.x
    y = TensorDecl("y", (fam.B, fam.C) + fam.Lout, "output", "pooled feature map")
    guard = sp.Mul(*[InRange(q, 0, L - 1) for q, L in zip(fam.q, fam.L)])
    pad_what = "the divisor is given" if fam.given else \
        "padded zeros are not counted" if fam.exclude else "padded zeros count in the divisor"
    x_pad = Definition("x_pad", (fam.b, fam.c) + fam.q, guard * x[(fam.b, fam.c) + fam.q],
                       f"zero-padded input ({pad_what})", latex=r"\tilde{x}", text="x\u0303")
    reads = tuple(s * p + u - P for s, p, u, P in zip(fam.s, fam.p, fam.u, fam.P))
    ranges = tuple((u, 0, K - 1) for u, K in zip(fam.u, fam.K))
    traditional = sp.Sum(x_pad[(fam.b, fam.o) + reads], *reversed(ranges)) / fam.divisor()
    function = FUNCTIONS[fam.dims]

    def torch_reference(t, sizes):
        import torch.nn.functional as F
        return getattr(F, function.rsplit(".", 1)[1])(t["x"], **fam.torch_kwargs(sizes))

    def reference(arrays, sizes):
        import torch
        return torch_reference({k: torch.from_numpy(v).double() for k, v in arrays.items()}, sizes).numpy()

    return Operator(
        name=name, summary=summary, output=y, lhs_indices=(fam.b, fam.o) + fam.p, traditional=traditional,
        tensors=(x,), batch=fam.b, out_channel=fam.o, position=fam.p, definitions=(x_pad,), sizes=fam.symbols(),
        grid=tuple(grid), constraints=fam.constraints(),
        reference=reference, reference_name=function, torch_reference=torch_reference, torch_binding=fam.binding(),
        bench=bench, figure=figure, description=description, citation=citation, notes=tuple(notes),
    )


def pool_derive(fam: PoolFamily, d) -> None:
    """unfold x̃, move 1/D into the window sum, read each axis through a delta, exchange, name K."""
    d.apply("unfold-definition", name="x_pad")
    d.apply("move-into-sum", factor=1 / fam.divisor(), into=fam.u[0])
    targets = [(fam.o, fam.c, 0, fam.C - 1)]
    targets += [(s * p + u - P, q, 0, L - 1) for s, p, u, P, q, L in zip(fam.s, fam.p, fam.u, fam.P, fam.q, fam.L)]
    d.apply("introduce-delta", targets=targets, within=fam.u[0])
    d.apply("exchange-sums", outer=list(fam.u), inner=[fam.c, *fam.q])
    d.apply("factor-out", factor=fam.x[(fam.b, fam.c) + fam.q], over=list(reversed(fam.u)))
    d.apply("name-kernel", name="K", channel=fam.c, position=fam.q, indices=(fam.o, fam.c) + fam.p + fam.q)
    d.conclude(omega=fam.window(), channel=fam.c, neighbour=fam.q)


ADAPTIVE_MODULES = {1: "torch.nn.AdaptiveAvgPool1d", 2: "torch.nn.AdaptiveAvgPool2d", 3: "torch.nn.AdaptiveAvgPool3d"}
OUT_LENGTH = {"": "L_o", "d": "D_out", "h": "H_out", "w": "W_out"}


class AdaptiveFamily:
    """Symbols and bins of N-d adaptive average pooling (``adaptive_avg_poolNd``).

    Output position i on an axis of input length L and output length L_o averages the bin
    [⌊i·L/L_o⌋, ⌈(i + 1)·L/L_o⌉): bins of unequal lengths, overlapping when L_o does not divide L,
    so Ω(i) is an index set, not a window of fixed size and stride."""

    def __init__(self, dims: int):
        if dims not in AXES:
            raise ValueError(f"dims must be 1, 2 or 3, not {dims!r}")
        self.dims, self.axes = dims, AXES[dims]
        self.B, self.C = size("B"), size("C")
        self.L = tuple(size(LENGTH[a]) for a in self.axes)
        self.Lo = tuple(size(OUT_LENGTH[a]) for a in self.axes)
        self.b, self.o, self.c = index("b"), index("o"), index("c")
        self.p = tuple(index(n) for n in OUT_POS[dims].split())
        self.q = tuple(index(n) for n in IN_POS[dims].split())
        self.u = tuple(index(n) for n in OFFSETS[dims].split())
        self.x = TensorDecl("x", (self.B, self.C) + self.L, "input", "input feature map")

    @staticmethod
    def start(p, L, Lo):
        """The bin's first input position ⌊p·L/L_o⌋."""
        return sp.floor(p * L / Lo)

    @staticmethod
    def end(p, L, Lo):
        """One past the bin's last input position, ⌈(p + 1)·L/L_o⌉, written as a floor."""
        return sp.floor(((p + 1) * L + Lo - 1) / Lo)

    def bins(self):
        return [(self.start(p, L, Lo), self.end(p, L, Lo)) for p, L, Lo in zip(self.p, self.L, self.Lo)]

    def divisor(self) -> sp.Expr:
        """The bin's number of entries, per axis a count of the input positions m' inside it."""
        out = []
        for (lo, hi), L, q in zip(self.bins(), self.L, self.q):
            m = index(f"{q}'")
            out.append(sp.Sum(InRange(m, lo, hi - 1), (m, 0, L - 1)))
        return sp.Mul(*out)

    def symbols(self):
        out = [(self.B, "batch size"), (self.C, "channels")]
        for a, L in zip(self.axes, self.L):
            out.append((L, "input length" + WHERE[a]))
        for a, Lo in zip(self.axes, self.Lo):
            out.append((Lo, "output length" + WHERE[a] + " (adaptive pooling's output_size)"))
        return tuple(out)

    def omega(self):
        from evosym.ir.neighbourhood import IndexSet
        cond = sp.And(*[sp.And(lo <= q, q <= hi - 1) for (lo, hi), q in zip(self.bins(), self.q)])
        bound = sp.Mul(*[sp.floor((L + Lo - 1) / Lo) + 1 for L, Lo in zip(self.L, self.Lo)])
        return IndexSet(self.p, self.q, cond, self.L, bound=bound)

    def config(self, **kw) -> dict:
        out = {self.B: kw.get("B", 1), self.C: kw.get("C", 1)}
        for name, syms in (("L", self.L), ("L_out", self.Lo)):
            vals = kw[name] if isinstance(kw[name], tuple) else (kw[name],) * self.dims
            out.update(zip(syms, vals))
        return out

    def binding(self) -> dict:
        n = TUPLE[self.dims]
        return {"module": ADAPTIVE_MODULES[self.dims],
                "requires": [(f"None not in torch.nn.modules.utils.{n}(m.output_size)",
                              "every output length is given (output_size None, the input's own length, is not "
                              "read from the module: use an explicit length)")],
                "sizes": {str(Lo): f"torch.nn.modules.utils.{n}(m.output_size)[{a}]" for a, Lo in enumerate(self.Lo)},
                "tensors": {}}


def adaptive_operator(fam: AdaptiveFamily, *, name: str, summary: str, description: str, grid, bench, figure,
                      citation: str, notes=()) -> Operator:
    x = fam.x
    y = TensorDecl("y", (fam.B, fam.C) + fam.Lo, "output", "pooled feature map")
    guard = sp.Mul(*[InRange(q, 0, L - 1) for q, L in zip(fam.q, fam.L)])
    x_in = Definition("x_in", (fam.b, fam.c) + fam.q, guard * x[(fam.b, fam.c) + fam.q],
                      "the input, read only inside it (every bin lies inside)", latex=r"\bar{x}", text="x\u0304")
    reads = tuple(lo + u for (lo, _), u in zip(fam.bins(), fam.u))
    ranges = tuple((u, 0, hi - lo - 1) for (lo, hi), u in zip(fam.bins(), fam.u))
    traditional = sp.Sum(x_in[(fam.b, fam.o) + reads], *reversed(ranges)) / fam.divisor()
    function = f"torch.nn.functional.adaptive_avg_pool{fam.dims}d"

    def torch_reference(t, sizes):
        import torch.nn.functional as F
        out = tuple(sizes[str(Lo)] for Lo in fam.Lo)
        return getattr(F, function.rsplit(".", 1)[1])(t["x"], out if fam.dims > 1 else out[0])

    def reference(arrays, sizes):
        import torch
        return torch_reference({k: torch.from_numpy(v).double() for k, v in arrays.items()}, sizes).numpy()

    return Operator(
        name=name, summary=summary, output=y, lhs_indices=(fam.b, fam.o) + fam.p, traditional=traditional,
        tensors=(x,), batch=fam.b, out_channel=fam.o, position=fam.p, definitions=(x_in,), sizes=fam.symbols(),
        grid=tuple(grid), reference=reference, reference_name=function, torch_reference=torch_reference,
        torch_binding=fam.binding(), bench=bench, figure=figure, description=description, citation=citation,
        notes=tuple(notes),
    )


def adaptive_derive(fam: AdaptiveFamily, d) -> None:
    """unfold x̄, move 1/|bin| into the bin's sum, read each axis through a delta, exchange, name K."""
    d.apply("unfold-definition", name="x_in")
    d.apply("move-into-sum", factor=1 / fam.divisor(), into=fam.u[0])
    targets = [(fam.o, fam.c, 0, fam.C - 1)]
    targets += [(lo + u, q, 0, L - 1) for (lo, _), u, q, L in zip(fam.bins(), fam.u, fam.q, fam.L)]
    d.apply("introduce-delta", targets=targets, within=fam.u[0])
    d.apply("exchange-sums", outer=list(fam.u), inner=[fam.c, *fam.q])
    d.apply("factor-out", factor=fam.x[(fam.b, fam.c) + fam.q], over=list(reversed(fam.u)))
    d.apply("name-kernel", name="K", channel=fam.c, position=fam.q, indices=(fam.o, fam.c) + fam.p + fam.q)
    d.conclude(omega=fam.omega(), channel=fam.c, neighbour=fam.q)
