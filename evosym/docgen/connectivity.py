"""Which input entries feed one output, and with which kernel values: the data behind a picture.

For one output y[b=0, o, p] and its neighbour p′ (one step along the last axis), and, where the border
policy matters (a window that is padded, clamped or wraps), the corner output p″ = (0, …, 0), the proved kernel
K(b, o, c, p, q) is evaluated exactly at the operator's figure sizes (every tensor entry a
distinct symbol, as in the bounded checks). Each input cell (c, q) with K ≠ 0 gets a letter: two
cells share a letter exactly when their kernel values are the same polynomial, so a static
shared kernel shows the same letter pattern under p and p′, a position-specific one shows new
letters, and a kernel shared by a block of channels repeats its letters across that block. For a
dynamic kernel the input entries the values of K read are recorded too. Nothing here is drawn by
hand: change the operator and the picture changes.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from ..analysis.properties import input_atoms
from ..errors import EvosymError
from ..ir.operator import format_sizes
from ..ir.symbols import size_value
from ..proof import poly as P
from ..proof.bounded import env_of
from ..proof.evaluate import Evaluator
from ..proof.proof import CheckedProof

MAX_CHANNELS = 4        # input channels drawn (the first ones; the rest are counted)
MAX_CELLS = 400         # input positions per channel that a picture may hold


@dataclass(frozen=True)
class Connectivity:
    """The receptive fields of y[0, o, p] and y[0, o, p′] at one size configuration."""

    operator: str
    sizes: str                            # "B=1, C=2, …"
    dims: int
    in_shape: tuple[int, ...]             # spatial shape of v
    out_shape: tuple[int, ...]            # spatial shape of y
    channels: int                         # input channels of v (all of them)
    shown: tuple[int, ...]                # the channels drawn
    out_channel: int                      # o
    outputs: tuple[tuple[int, ...], ...]  # (p, p′) (one entry when the output has one position), then p″ if border
    fields: tuple[dict, ...]              # per output: {(c, q): letter}
    reads: tuple[frozenset, ...]          # per output: (c, q) of the entries of v its values of K read
    legend: tuple[tuple[str, str], ...]   # (letter, value text) for static values; () when dynamic
    dynamic: bool
    border: bool = False                  # the last output is the border pixel p″ (the border policy matters)

    def _repr_svg_(self) -> str:
        """The picture in a notebook (Jupyter shows ``_repr_svg_``), captioned with its sizes only."""
        from .svg import render_svg
        return render_svg(self, [])


def figure_sizes(op) -> dict:
    """The sizes a picture is drawn at: ``Operator.figure``, else the first grid shape."""
    config = op.figure if op.figure is not None else (op.grid[0] if op.grid else None)
    if config is None:
        raise EvosymError(f"{op.name}: no figure sizes and no grid shape to draw the connectivity at")
    missing = [str(s) for s, _ in op.sizes if s not in config]
    if missing:
        raise EvosymError(f"{op.name}: the figure sizes do not give {', '.join(missing)}")
    return env_of(config)


def connectivity(cp: CheckedProof) -> Connectivity:
    """Evaluate the proved kernel around one output position (requires a checked, matching proof)."""
    op, form = cp.operator, cp.evolution
    if form is None:
        raise EvosymError(f"{op.name}: the proof reaches no Evolution form, so there is no kernel to draw")
    env = figure_sizes(op)
    ranges = {s: size_value(hi, env) + 1 for s, _, hi in op.lhs_ranges()}
    out_shape = tuple(ranges[p] for p in form.position)
    in_shape = tuple(size_value(h, env) + 1 for h in form.neighbour_hi)
    channels = size_value(form.channel_hi, env) + 1
    if not 1 <= len(in_shape) <= 3 or min(in_shape) <= 0:
        raise EvosymError(f"{op.name}: pictures are drawn for 1 to 3 spatial axes, not {len(in_shape)}")
    cells = 1
    for n in in_shape:
        cells *= n
    if cells > MAX_CELLS:
        raise EvosymError(f"{op.name}: the figure sizes give {cells} input positions per channel; "
                          f"at most {MAX_CELLS} fit a picture")
    o = (ranges[form.out_channel] - 1) // 2
    p = tuple(n // 2 for n in out_shape)
    outputs = [p]
    if out_shape[-1] > 1:
        step = 1 if p[-1] + 1 < out_shape[-1] else -1
        outputs.append(p[:-1] + (p[-1] + step,))
    corner = tuple(0 for _ in out_shape)
    border = border_matters(form.omega) and corner not in outputs
    if border:
        outputs.append(corner)
    defs = cp.proof.definitions()
    kfn = Evaluator(op.shapes_at(env), defs).compile(form.kernel)
    roles = _value_roles(form)
    inputs = {t.name for t in op.tensors if t.role == "input"}
    letters: dict = {}
    fields, reads, dynamic = [], [], False
    for pt in outputs:
        field, read = {}, set()
        for c in range(channels):
            for q in itertools.product(*[range(n) for n in in_shape]):
                local = {**env, form.batch: 0, form.out_channel: o, form.channel: c}
                local.update(zip(form.position, pt))
                local.update(zip(form.neighbour, q))
                value = kfn(local)
                if P.is_zero(value):
                    continue
                dynamic = dynamic or bool(input_atoms(value, inputs))
                read.update(_value_entries(value, roles))
                key = value.key() if isinstance(value, P.Poly) else ("N", str(value))
                if key not in letters:
                    letters[key] = (_letter(len(letters)), value)
                field[(c, q)] = letters[key][0]
        fields.append(field)
        reads.append(frozenset(read))
    legend = () if dynamic else tuple((letter, _value_text(v)) for letter, v in letters.values())
    return Connectivity(op.name, format_sizes(env), len(in_shape), in_shape, out_shape, channels,
                        tuple(range(min(channels, MAX_CHANNELS))), o, tuple(outputs), tuple(fields),
                        tuple(reads), legend, dynamic, border)


def border_matters(omega) -> bool:
    """Whether Ω(p) at the border differs in kind from Ω(p) inside: a window that is padded (clipped, or read
    through a padding map), clamped inside the input, or wraps around it. Global Ω and index sets: no."""
    axes = getattr(omega, "axes", None)
    if not axes:
        return False
    return any(a.clamp or a.wrap or a.padding != 0 for a in axes)


def _value_roles(form) -> tuple[str, tuple]:
    """The value tensor's name and the role of each of its axes ("batch", "channel", "position")."""
    roles = {form.batch: "batch", form.channel: "channel"}
    roles.update({q: "position" for q in form.neighbour})
    return str(form.value.base.label), tuple(roles.get(i, "?") for i in form.value.indices)


def _value_entries(value, roles) -> set:
    """(channel, position) of the entries of the value tensor v inside a kernel value (opaque atoms too).

    A kernel that reads v is dynamic; entries of other tensors cannot be placed on v's grid and
    are not drawn (no catalogue operator computes its kernel from a tensor other than v).
    """
    name, axes = roles
    out = set()
    if not isinstance(value, P.Poly):
        return out

    def walk(key):
        for mono, _ in key:
            for a in mono:
                if a[0] == "T" and a[1] == name and len(a[2]) == len(axes):
                    c = next(i for i, r in zip(a[2], axes) if r == "channel")
                    out.add((c, tuple(i for i, r in zip(a[2], axes) if r == "position")))
                elif a[0] == "F":
                    for k in a[2]:
                        walk(k)
    walk(value.key())
    return out


def _letter(k: int) -> str:
    """a, b, …, z, then a1, b1, …: short, distinct, deterministic."""
    return chr(ord("a") + k % 26) + (str(k // 26) if k >= 26 else "")


def _value_text(value) -> str:
    """A static kernel value as text: a tensor entry like W[0,1,2,0], a number, or a short sum."""
    if not isinstance(value, P.Poly):
        return str(value)
    parts = []
    for mono, coef in sorted(value.terms.items()):
        names = "·".join(_atom_text(a) for a in mono)
        c = "" if coef == 1 and names else str(coef)
        parts.append("·".join(t for t in (c, names) if t))
    text = " + ".join(parts)
    return text if len(text) <= 60 else text[:57] + "…"


def _atom_text(a) -> str:
    kind, name, index = a
    if kind == "T":
        return f"{name}[{','.join(map(str, index))}]"
    return str(name)
