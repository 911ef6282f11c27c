"""Shared construction of the convolution family (PyTorch ``conv1d/2d/3d`` semantics).

    y[b,o,i] = bias[o] + Σ_{c'<C_g} Σ_u W[o,c',u] · x̃[b, ⌊o/O_g⌋·C_g + c', s·i + δ·u − P]

with x̃ the zero-padded input, groups as contiguous blocks of C_g input and O_g output
channels, and output length ⌊(L + 2P − δ(K−1) − 1)/s⌋ + 1. Depthwise convolution is the case
C_g = 1 (groups = C); pointwise the case K = 1, P = 0.
"""

from __future__ import annotations

import warnings

import sympy as sp

from evosym import Derivation, Operator, TensorDecl, Window, WindowAxis
from evosym.ir.padding import PADDING_MAPS
from evosym.ir.symbols import InRange, index, size
from evosym.ir.tensors import Definition

AXES = {1: ("",), 2: ("h", "w"), 3: ("d", "h", "w")}
LENGTH = {"": "L", "d": "D", "h": "H", "w": "W"}
OUT_POS = {1: "i", 2: "i j", 3: "i j k"}
IN_POS = {1: "m", 2: "m n", 3: "m n l"}
OFFSETS = {1: "u", 2: "u v", 3: "u v t"}


def _sym(base, axis, zero=False):
    name = f"{base}_{axis}" if axis else base
    return size(name, zero=zero)


MODES = {"zeros": None, **PADDING_MAPS}   # padding_mode → the index map a padded position reads (None: zeros)


class ConvFamily:
    """Symbols and tensors of an N-d convolution; ``fixed`` pins sizes (K=1 for pointwise …)."""

    def __init__(self, dims: int, *, depthwise: bool = False, fixed: dict | None = None, same: bool = False,
                 padding_mode: str = "zeros"):
        """``same``: PyTorch's padding='same' (stride 1; ⌊δ(K−1)/2⌋ zeros on the left, the rest on the
        right; the output as long as the input). ``padding_mode``: PyTorch's padding_mode, "zeros",
        "replicate" (a position outside reads the nearest edge), "reflect" (the mirror image, the
        edge not repeated; PyTorch requires P < L) or "circular" (m mod L: the input wraps around;
        PyTorch requires P ≤ L)."""
        if padding_mode not in MODES:
            raise ValueError(f"padding_mode must be one of {', '.join(MODES)}, not {padding_mode!r}")
        fixed = dict(fixed or {})
        self.same = same
        self.mode = padding_mode
        if same:
            fixed["s"] = 1
        self.dims, self.depthwise = dims, depthwise
        self.axes = AXES[dims]
        pick = lambda name, sym: sp.sympify(fixed[name]) if name in fixed else sym  # noqa: E731
        self.B = size("B")
        if depthwise:
            self.G, self.Cg, self.Og = size("C"), sp.Integer(1), size("M")
        else:
            self.G, self.Cg, self.Og = size("G"), size("C_g"), size("O_g")
        self.L = tuple(size(LENGTH[a] + "_in") for a in self.axes)
        self.K = tuple(pick("K", _sym("K", a)) for a in self.axes)
        self.s = tuple(pick("s", _sym("s", a)) for a in self.axes)
        self.dil = tuple(pick("delta", _sym("delta", a)) for a in self.axes)
        if same:
            self.P = tuple(sp.floor(d * (K - 1) / 2) for d, K in zip(self.dil, self.K))
        else:
            self.P = tuple(pick("P", _sym("P", a, zero=True)) for a in self.axes)
        self.C = self.G * self.Cg
        self.O = self.G * self.Og
        self.Lout = self.L if same else tuple(sp.floor((L + 2 * P - d * (K - 1) - 1) / s) + 1
                                              for L, P, d, K, s in zip(self.L, self.P, self.dil, self.K, self.s))
        self.b, self.o, self.c, self.cg = index("b"), index("o"), index("c"), index("c'")
        self.p = tuple(index(n) for n in OUT_POS[dims].split())
        self.q = tuple(index(n) for n in IN_POS[dims].split())
        self.u = tuple(index(n) for n in OFFSETS[dims].split())

    def symbols(self):
        out = [(self.B, "batch size")]
        if self.depthwise:
            out += [(self.G, "channels (= groups)"), (self.Og, "channel multiplier: output channels per input channel")]
        else:
            out += [(self.G, "groups"), (self.Cg, "input channels per group"), (self.Og, "output channels per group")]
        for a, L, K, s, d, P in zip(self.axes, self.L, self.K, self.s, self.dil, self.P):
            where = f" along {a}" if a else ""
            out.append((L, "input length" + where))
            pad = "zero padding" if self.mode == "zeros" else f"padding ({self.mode})"
            for sym, what in ((K, "kernel size"), (s, "stride"), (d, "dilation"), (P, pad)):
                if isinstance(sym, sp.Symbol) and sym.is_Symbol:
                    out.append((sym, what + where))
        return tuple(out)

    def read(self, positions):
        """The input position that padded position m reads, per axis (m itself for zero padding)."""
        fn = MODES[self.mode]
        return tuple(positions) if fn is None else tuple(fn(m, L) for m, L in zip(positions, self.L))

    def offsets(self):
        """Input position read by output position p at kernel offset u, per axis."""
        return tuple(s * p + d * u - P for s, p, d, u, P in zip(self.s, self.p, self.dil, self.u, self.P))

    def window(self) -> Window:
        wrap = self.mode == "circular"   # Ω continues on the other side; every other mode clips it to the input
        return Window(tuple(WindowAxis(K, s, d, P, L, wrap) for K, s, d, P, L in zip(self.K, self.s, self.dil, self.P, self.L)))

    def config(self, **kw) -> dict:
        """A grid shape from keyword sizes; per-axis values as tuples (``K=(3, 2)``)."""
        out = {self.B: kw.get("B", 1)}
        if self.depthwise:
            out[self.G], out[self.Og] = kw["C"], kw["M"]
        else:
            out[self.G], out[self.Cg], out[self.Og] = kw["G"], kw["C_g"], kw["O_g"]
        for name, syms in (("L", self.L), ("K", self.K), ("s", self.s), ("delta", self.dil), ("P", self.P)):
            vals = kw.get(name, (1,) * self.dims)
            vals = vals if isinstance(vals, tuple) else (vals,) * self.dims
            for sym, v in zip(syms, vals):
                if isinstance(sym, sp.Symbol):
                    out[sym] = v
        return out


def conv_operator(fam: ConvFamily, *, name: str, summary: str, bias: bool, grid, description: str,
                  reference_name: str, notes=(), bench=None, figure=None, constraints=()) -> Operator:
    x = TensorDecl("x", (fam.B, fam.C) + fam.L, "input", "input feature map")
    W = TensorDecl("W", (fam.O, fam.Cg) + fam.K, "parameter", "convolution weight (PyTorch layout)", torch_name="weight")
    tensors = [x, W]
    y = TensorDecl("y", (fam.B, fam.O) + fam.Lout, "output", "output feature map")
    if fam.mode == "zeros":
        x_pad = Definition("x_pad", (fam.b, fam.c) + fam.q,
                           sp.Mul(*[InRange(q, 0, L - 1) for q, L in zip(fam.q, fam.L)]) * x[(fam.b, fam.c) + fam.q],
                           "zero-padded input: x inside the input, 0 outside", latex=r"\tilde{x}", text="x\u0303")
    else:
        where = {"replicate": "the nearest edge", "reflect": "the mirror image across the edge (edge not repeated)",
                 "circular": "the input continued periodically (position m reads m mod L)"}
        x_pad = Definition("x_pad", (fam.b, fam.c) + fam.q, x[(fam.b, fam.c) + fam.read(fam.q)],
                           f"{fam.mode}-padded input: x inside the input, {where[fam.mode]} outside",
                           latex=r"\tilde{x}", text="x\u0303")
    group = sp.floor(fam.o / fam.Og)
    channel = group * fam.Cg + (fam.cg if fam.Cg != 1 else 0)
    w_idx = (fam.o, fam.cg if fam.Cg != 1 else sp.Integer(0)) + fam.u
    summand = W[w_idx] * x_pad[(fam.b, channel) + fam.offsets()]
    limits = [(u, 0, K - 1) for u, K in zip(reversed(fam.u), reversed(fam.K))]
    if fam.Cg != 1:
        limits.append((fam.cg, 0, fam.Cg - 1))
    rhs = sp.Sum(summand, *limits)
    if bias:
        bvec = TensorDecl("bias", (fam.O,), "parameter", "per-output-channel bias", latex=r"\mathrm{bias}", torch_name="bias")
        tensors.append(bvec)
        rhs = bvec[fam.o] + rhs
    return Operator(
        name=name, summary=summary, output=y, lhs_indices=(fam.b, fam.o) + fam.p, traditional=rhs,
        tensors=tuple(tensors), batch=fam.b, out_channel=fam.o, position=fam.p, value="x",
        definitions=(x_pad,), sizes=fam.symbols(), grid=tuple(grid),
        reference=_numpy_reference(_torch_conv(fam, bias)), reference_name=reference_name, description=description,
        torch_reference=_torch_conv(fam, bias), torch_binding=_binding(fam), bench=bench, figure=figure,
        constraints=tuple(constraints) + _circular_constraints(fam),
        citation="PyTorch torch.nn.functional.conv1d/2d/3d (cross-correlation, zero padding, contiguous groups)",
        notes=tuple(notes))


def _circular_constraints(fam: ConvFamily) -> tuple:
    """Circular padding: P ≤ L per axis, PyTorch's condition (F.pad wraps around at most once). The Evolution
    form (reads m mod L) holds for any P, but the traditional form is PyTorch's, and generated code pads
    with F.pad: declared, a generated module refuses P > L with this condition rather than F.pad's error."""
    return tuple(sp.Le(P, L) for P, L in zip(fam.P, fam.L)) if fam.mode == "circular" else ()


def padded_constraints(fam: ConvFamily) -> tuple:
    """Where Ω is the window clipped to the input for reflect or replicate padding (dilation 1): every padded
    read must land inside the window of the same output position. Reflect needs 2P ≤ K − 1 (at p = 0 the
    read at −P reflects to P, and the window ends at K − 1 − P); replicate P ≤ K − 1 (the window must reach
    the edge it copies). Outside, K's support leaves the window and a kernel in tap coordinates (the
    generated generic path) would drop those weights, so the operator declares the condition and its
    generated module refuses such sizes. Reflect also needs P < L, PyTorch's condition: beyond it the reflection
    reads outside the input (at L = 1, P = 2 it reads x[−2])."""
    if fam.mode == "reflect":
        return tuple(c for P, K, L in zip(fam.P, fam.K, fam.L) for c in (sp.Le(2 * P, K - 1), sp.Lt(P, L)))
    if fam.mode == "replicate":
        return tuple(sp.Le(P, K - 1) for P, K in zip(fam.P, fam.K))
    raise ValueError(f"padded_constraints is for reflect and replicate padding, not {fam.mode!r}")


def padded_conv2d_shapes(fam: ConvFamily) -> dict:
    """bench, figure, grid and constraints (:func:`padded_constraints`) of a 2-D padding-mode convolution
    (dilation 1). The grid keeps 2P ≤ K − 1, so every padded read lands inside the window of the same
    output position (Ω is the window)."""
    return dict(
        constraints=padded_constraints(fam),
        bench=fam.config(B=8, G=1, C_g=16, O_g=16, L=(32, 32), K=(3, 3), P=(1, 1)),
        figure=fam.config(G=1, C_g=1, O_g=1, L=(6, 6), K=(3, 3), P=(1, 1)),
        grid=[fam.config(G=1, C_g=2, O_g=2, L=(5, 4), K=(3, 3), P=(1, 1)),
              fam.config(G=1, C_g=1, O_g=2, L=(4, 6), K=(3, 4), P=(1, 1), s=(2, 1)),
              fam.config(B=2, G=2, C_g=1, O_g=1, L=(3, 5), K=(3, 5), P=(1, 2), s=(1, 2))])


def padded_conv_shapes(fam: ConvFamily) -> dict:
    """bench, figure, grid and constraints (:func:`padded_constraints`) of a reflect or replicate convolution
    (dilation 1); 2-D: :func:`padded_conv2d_shapes`. The grids have odd and even K, stride, groups and, for
    replicate, a shape at P = K − 1; the 3-D grid is three tiny shapes (its bounded checks unroll every sum)."""
    if fam.dims == 2:
        return padded_conv2d_shapes(fam)
    constraints = padded_constraints(fam)
    wide = fam.mode == "replicate"   # the last grid shape reaches P = K − 1 where replicate allows it
    if fam.dims == 1:
        return dict(
            constraints=constraints,
            bench=fam.config(B=8, G=1, C_g=64, O_g=64, L=3136, K=3, P=1),
            figure=fam.config(G=1, C_g=1, O_g=1, L=7, K=3, P=1),
            grid=[fam.config(G=1, C_g=2, O_g=2, L=5, K=3, P=1),
                  fam.config(G=1, C_g=1, O_g=2, L=6, K=4, P=1, s=2),
                  fam.config(B=2, G=2, C_g=1, O_g=1, L=5, K=5, P=4 if wide else 2, s=2)])
    if fam.dims != 3:
        raise ValueError(f"padded_conv_shapes is for 1-D and 3-D convolutions, not {fam.dims}-D")
    return dict(
        constraints=constraints,
        bench=fam.config(B=4, G=1, C_g=16, O_g=16, L=(16, 28, 28), K=(3, 3, 3), P=(1, 1, 1)),
        figure=fam.config(G=1, C_g=1, O_g=1, L=(3, 5, 5), K=(3, 3, 3), P=(1, 1, 1)),
        grid=[fam.config(G=1, C_g=1, O_g=2, L=(3, 4, 3), K=(3, 1, 3), P=(1, 0, 1)),
              fam.config(G=2, C_g=1, O_g=1, L=(3, 3, 4), K=(1, 3, 2), P=(0, 1, 0), s=(1, 2, 2)),
              fam.config(G=1, C_g=2, O_g=1, L=(4, 3, 3), K=(3, 2, 3), P=(2, 1, 1) if wide else (1, 0, 1),
                         s=(2, 1, 1))])


def conv_derive(fam: ConvFamily, d: Derivation) -> None:
    """The convolution family's proof: unfold padding, reindex channels and positions, name K."""
    d.apply("unfold-definition", name="x_pad")
    ranges = [(e, q, 0, L - 1) for e, q, L in zip(fam.read(fam.offsets()), fam.q, fam.L)]
    group = sp.floor(fam.o / fam.Og)
    if fam.Cg != 1:
        d.apply("split-channels-into-groups", var=fam.cg, new=fam.c, group=group, groups=fam.G, block=fam.Cg)
        d.apply("introduce-delta", targets=ranges, within=fam.c)
        moved = list(fam.q)
        channel_factor = sp.KroneckerDelta(sp.floor(fam.c / fam.Cg), group)
    else:
        d.apply("introduce-delta", targets=[(group, fam.c, 0, fam.G - 1)] + ranges, within=fam.u[0])
        moved = [fam.c] + list(fam.q)
        channel_factor = sp.KroneckerDelta(fam.c, group)
    d.apply("exchange-sums", outer=list(fam.u), inner=moved)
    xq = sp.IndexedBase("x")[(fam.b, fam.c) + fam.q]
    d.apply("factor-out", factor=xq * channel_factor, over=list(reversed(fam.u)))
    d.apply("name-kernel", name="K", channel=fam.c, position=fam.q, indices=(fam.o, fam.c) + fam.p + fam.q)
    d.conclude(omega=fam.window(), channel=fam.c, neighbour=fam.q)


def _torch_conv(fam: ConvFamily, bias: bool):
    """Reference: torch.nn.functional.conv{N}d on torch tensors (independent of the SymPy form)."""
    def reference(t, sizes):
        import torch.nn.functional as F
        fn = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[fam.dims]

        def ints(syms):
            return tuple(int(sizes[str(s)]) if isinstance(s, sp.Symbol) else int(s) for s in syms)
        padding = "same" if fam.same else ints(fam.P)
        x = t["x"]
        if fam.mode != "zeros":   # as nn.Conv{N}d does for a padding_mode: F.pad, then no padding
            x = F.pad(x, [p for p in reversed(padding) for _ in range(2)], mode=fam.mode)
            padding = 0
        with warnings.catch_warnings():  # PyTorch warns that an asymmetric 'same' padding copies the input
            warnings.simplefilter("ignore", UserWarning)
            return fn(x, t["W"], t.get("bias") if bias else None, stride=ints(fam.s), padding=padding,
                      dilation=ints(fam.dil), groups=int(sizes[str(fam.G)]))
    return reference


def _numpy_reference(torch_reference):
    """The torch reference on numpy arrays, in float64 (for the exact check of the traditional form)."""
    def reference(arrays, sizes):
        import torch
        return torch_reference({k: torch.from_numpy(v).to(torch.float64) for k, v in arrays.items()}, sizes).numpy()
    return reference


def _binding(fam: ConvFamily) -> dict:
    """How torch.nn.Conv{N}d maps onto the sizes and tensors (for from_torch weight loading)."""
    if fam.mode == "zeros" and not fam.same:   # a padding of 0 pads nothing in any mode
        requires = [("m.padding_mode == 'zeros' or m.padding == 'valid' or not any(m.padding)",
                     "only padding_mode='zeros' is this operator, or any mode with a padding of 0 (it pads nothing)")]
    elif fam.mode == "zeros":
        requires = [("m.padding_mode == 'zeros'", "only padding_mode='zeros' is this operator")]
    else:
        requires = [(f"m.padding_mode == {fam.mode!r}", f"only padding_mode={fam.mode!r} is this operator"),
                    ("m.padding != 'valid' and any(m.padding)", f"a padding of 0 is conv{fam.dims}d's (the mode pads "
                                                                "nothing)")]
    if fam.same:
        requires.append(("m.padding == 'same'", "this operator is padding='same'"))
    elif fam.mode == "zeros":
        requires.append(("m.padding != 'same'", f"padding='same' is the operator conv{fam.dims}d_same"))
    else:   # 'same' in this mode pads (K − 1)/2 on both sides where K is odd (dilation 1); an even K, asymmetrically
        for k in range(fam.dims):
            requires.append((f"m.padding != 'same' or m.dilation[{k}] * (m.kernel_size[{k}] - 1) % 2 == 0",
                             f"dilation[{k}]·(kernel_size[{k}] − 1) is even where padding='same' with padding_mode="
                             f"{fam.mode!r} (PyTorch then pads δ(K − 1)/2 on both sides; else asymmetrically, which no "
                             "operator of this mode proves)"))
    sizes = {}
    if fam.depthwise:
        requires.append(("m.groups == m.in_channels", "a depthwise convolution has groups == in_channels"))
        sizes[str(fam.G)] = "m.in_channels"
        sizes[str(fam.Og)] = "m.out_channels // m.in_channels"
    else:
        sizes[str(fam.G)] = "m.groups"
        sizes[str(fam.Cg)] = "m.in_channels // m.groups"
        sizes[str(fam.Og)] = "m.out_channels // m.groups"
    for k, (K, s, d, P) in enumerate(zip(fam.K, fam.s, fam.dil, fam.P)):
        for sym, attr in ((K, "kernel_size"), (s, "stride"), (d, "dilation"), (P, "padding")):
            if (fam.same and attr == "padding") or (attr == "dilation" and K == 1 and not isinstance(sym, sp.Symbol)):
                continue   # a 1-tap kernel reads the same position at any dilation
            if isinstance(sym, sp.Symbol):
                sizes[str(sym)] = (f"m.{attr}[{k}]" if attr != "padding" else
                                   f"(0 if m.padding == 'valid' else m.padding[{k}])" if fam.mode == "zeros" else
                                   f"(m.dilation[{k}] * (m.kernel_size[{k}] - 1) // 2 if m.padding == 'same' else 0 "
                                   f"if m.padding == 'valid' else m.padding[{k}])")
            elif attr in ("kernel_size", "stride", "dilation") or (attr == "padding"):
                want = int(sym)
                cond = (f"m.{attr}[{k}] == {want}" if attr != "padding" else
                        f"(m.padding == 'valid' or m.padding[{k}] == {want})" if want == 0 else   # 'valid' is P = 0
                        f"(m.padding != 'valid' and m.padding[{k}] == {want})")
                requires.append((cond, f"this operator has {attr}[{k}] = {want}"))
    return {"module": f"torch.nn.Conv{fam.dims}d", "requires": requires, "sizes": sizes,
            "tensors": {"W": "m.weight", "bias": "m.bias"}}
