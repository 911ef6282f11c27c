"""The connectivity picture of one operator as a standalone SVG (written here: no plotting dependency).

Rows are input channels c; the two panels are the receptive fields of y[0, o, p] and of its
neighbour y[0, o, p′]; a cell (c, q) is coloured when K(o, c, p, q) ≠ 0 and carries the letter of
its kernel value (same letter = same value). A dynamic kernel is drawn in orange, and the input
entries its values are computed from get a dashed red frame. The output grid on the right marks
p and p′. Integer coordinates and a fixed element order make the file byte-identical across runs.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from .connectivity import Connectivity

CELL = 20
GAP = 28            # between panels
SLICE_GAP = 8       # between the depth slices of a 3-D panel
TOP = 56
LEFT = 64
STATIC, DYNAMIC, EMPTY = "#c6dbef", "#fdd0a2", "#ffffff"
P_COLOUR, P2_COLOUR = "#2171b5", "#238b45"
LINE = 18


def _grid_size(shape: tuple[int, ...]) -> tuple[int, int]:
    """Pixel width and height of one channel's grid (3-D: depth slices side by side)."""
    if len(shape) == 1:
        return shape[0] * CELL, CELL
    if len(shape) == 2:
        return shape[1] * CELL, shape[0] * CELL
    d, h, w = shape
    return d * w * CELL + (d - 1) * SLICE_GAP, h * CELL


def _cell_xy(q: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, int]:
    if len(q) == 1:
        return q[0] * CELL, 0
    if len(q) == 2:
        return q[1] * CELL, q[0] * CELL
    d, h, w = q
    return d * (shape[2] * CELL + SLICE_GAP) + w * CELL, h * CELL


def _text(x: int, y: int, s: str, size: int = 12, anchor: str = "start", weight: str = "normal",
          colour: str = "#222222") -> str:
    return (f'<text x="{x}" y="{y}" font-size="{size}" text-anchor="{anchor}" font-weight="{weight}" '
            f'fill="{colour}">{escape(s)}</text>')


def _rect(x, y, w, h, fill, stroke="#999999", width=1, dash=None) -> str:
    extra = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="{fill}" stroke="{stroke}" '
            f'stroke-width="{width}"{extra}/>')


def _positions(shape):
    import itertools
    return itertools.product(*[range(n) for n in shape])


def _panel(c: Connectivity, field: dict, read: frozenset, channel: int, x0: int, y0: int) -> list[str]:
    out = []
    fill = DYNAMIC if c.dynamic else STATIC
    for q in _positions(c.in_shape):
        x, y = _cell_xy(q, c.in_shape)
        letter = field.get((channel, q))
        out.append(_rect(x0 + x, y0 + y, CELL, CELL, fill if letter else EMPTY))
        if letter:
            out.append(_text(x0 + x + CELL // 2, y0 + y + 14, letter, 11, "middle"))
    for ch, q in sorted(read):
        if ch == channel:
            x, y = _cell_xy(q, c.in_shape)
            out.append(_rect(x0 + x + 2, y0 + y + 2, CELL - 4, CELL - 4, "none", "#cb181d", 2, "3,2"))
    return out


def _output(c: Connectivity, x0: int, y0: int) -> list[str]:
    out = []
    marks = dict(zip(c.outputs, (P_COLOUR, P2_COLOUR)))
    for p in _positions(c.out_shape):
        x, y = _cell_xy(p, c.out_shape)
        out.append(_rect(x0 + x, y0 + y, CELL, CELL, marks.get(p, EMPTY)))
    return out


def _wrap(items: list[str], width: int) -> list[str]:
    lines, line = [], ""
    for item in items:
        if line and len(line) + 2 + len(item) > width:
            lines.append(line)
            line = item
        else:
            line = f"{line}, {item}" if line else item
    return lines + ([line] if line else [])


def render_svg(c: Connectivity, caption: list[str]) -> str:
    """The picture; ``caption`` holds text lines (the operator's derived properties) printed below it."""
    gw, gh = _grid_size(c.in_shape)
    ow, oh = _grid_size(c.out_shape)
    panels = len(c.fields)
    row_h = gh + 26
    body_w = LEFT + panels * (gw + GAP) + ow + 20
    outputs = " and ".join(f"p{'′' if k else ''} = {p if len(p) > 1 else p[0]}" for k, p in enumerate(c.outputs))
    notes = []
    if c.dynamic:
        notes.append("Orange: K ≠ 0 and K depends on the input (dynamic); each letter is one value of K, "
                     "the same letter the same value.")
        if any(c.reads):
            notes.append("Dashed red: the entries of the input that these values of K are computed from.")
    else:
        notes += _wrap([f"{letter} = {value}" for letter, value in c.legend], 110)
    if len(c.shown) < c.channels:
        notes.append(f"Channels {len(c.shown)}…{c.channels - 1} are not drawn.")
    notes.append(f"Drawn at {c.sizes}.")
    lines = notes + caption
    width = max(body_w, 40 + 7 * max((len(s) for s in lines), default=0))
    rows = max(len(c.shown) * row_h, oh + 26)
    height = TOP + rows + 16 + LINE * len(lines)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Arial, sans-serif">',
           _rect(0, 0, width, height, "#ffffff", "none", 0),
           _text(12, 20, f"{c.operator}: the kernel K(o, c, p, q) of output channel o = {c.out_channel} at {outputs}",
                 14, weight="bold")]
    for k, p in enumerate(c.outputs):
        x0 = LEFT + k * (gw + GAP)
        colour = (P_COLOUR, P2_COLOUR)[k]
        out.append(_text(x0, TOP - 10, f"feeds y[o, {'p′' if k else 'p'}]", 12, weight="bold", colour=colour))
    ox = LEFT + panels * (gw + GAP)
    out.append(_text(ox, TOP - 10, "output y[o, ·]", 12, weight="bold"))
    for row, ch in enumerate(c.shown):
        y0 = TOP + row * row_h
        out.append(_text(12, y0 + min(gh, CELL) // 2 + 5, f"c = {ch}", 12))
        for k, (field, read) in enumerate(zip(c.fields, c.reads)):
            out += _panel(c, field, read, ch, LEFT + k * (gw + GAP), y0)
    out += _output(c, ox, TOP)
    y = TOP + rows + 10
    for s in lines:
        out.append(_text(12, y, s, 12))
        y += LINE
    out.append("</svg>")
    return "\n".join(out) + "\n"
