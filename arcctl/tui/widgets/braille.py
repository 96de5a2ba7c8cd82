"""Lines drawn in braille cells (2x4 dots per character) with numpy, straight to a rich Text.

The compare screen overlays up to ~10 runs; plotext builds such a picture point by point in
Python (about 150-300 ms for 8 lines on a 2-core machine), this rasterises every segment at once
(a few ms), so the screen can redraw on every refresh."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from rich.text import Text

from arcctl.cli.terminal_text import one_line

# Braille dot bits by (row within the cell 0-3, column 0-1).
_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.uint8)
PALETTE = [
    "bright_cyan",
    "bright_magenta",
    "bright_green",
    "yellow",
    "dodger_blue1",
    "orange1",
    "bright_white",
    "orchid",
    "spring_green1",
    "salmon1",
]
Y_LABEL_W = 9


@dataclass
class Series:
    xs: Sequence[float]
    ys: Sequence[float]
    label: str = ""
    style: str = ""  # its colour (empty: the palette's, by its place in the picture)


@dataclass
class VMark:
    x: float
    style: str
    char: str = "│"


@dataclass
class Picture:
    width: int  # characters, labels included
    height: int  # lines, title and x labels included
    series: list[Series] = field(default_factory=list)
    marks: list[VMark] = field(default_factory=list)
    title: str = ""


def _limits(series: Sequence[Series]) -> tuple[float, float, float, float] | None:
    xs = [np.asarray(s.xs, dtype=np.float64) for s in series if len(s.xs)]
    ys = [np.asarray(s.ys, dtype=np.float64) for s in series if len(s.ys)]
    if not xs:
        return None
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    y = y[np.isfinite(y)]
    if not len(y):
        return None
    x0, x1 = float(np.nanmin(x)), float(np.nanmax(x))
    y0, y1 = float(y.min()), float(y.max())
    if x1 <= x0:
        x0, x1 = x0 - 1, x1 + 1
    if y1 <= y0:
        pad = abs(y0) * 0.05 or 1.0
        y0, y1 = y0 - pad, y1 + pad
    return x0, x1, y0, y1


def _segments(px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every dot on the straight segments between consecutive points (vectorised)."""
    if len(px) < 2:
        return px.round().astype(np.int64), py.round().astype(np.int64)
    dx, dy = np.diff(px), np.diff(py)
    n = np.maximum(np.abs(dx), np.abs(dy)).astype(np.int64) + 1
    starts = np.repeat(np.arange(len(n)), n)
    offsets = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    t = offsets / np.repeat(n, n)
    x = px[starts] + dx[starts] * t
    y = py[starts] + dy[starts] * t
    x = np.append(x, px[-1])
    y = np.append(y, py[-1])
    return x.round().astype(np.int64), y.round().astype(np.int64)


def _num(v: float, width: int = Y_LABEL_W - 1) -> str:
    """A label that fits `width` characters."""
    if not math.isfinite(v):
        return str(v)
    for spec in (".4g", ".3g", ".2g", ".0e"):
        s = format(v, spec)
        if len(s) <= width:
            return s
    return s[:width]


def render(pic: Picture) -> Text:
    """The picture: title line, plot rows with y labels, x labels."""
    w = max(4, pic.width - Y_LABEL_W)
    h = max(2, pic.height - 2)
    out = Text(no_wrap=True, overflow="crop")
    out.append(pic.title[: pic.width] + "\n", style="bold")
    lim = _limits(pic.series)
    if lim is None:
        out.append("(no data)")
        return out
    x0, x1, y0, y1 = lim
    bits = np.zeros((h, w), dtype=np.uint8)
    owner = np.full((h, w), -1, dtype=np.int16)
    for i, s in enumerate(pic.series):
        x = np.asarray(s.xs, dtype=np.float64)
        y = np.asarray(s.ys, dtype=np.float64)
        keep = np.isfinite(x) & np.isfinite(y)
        if not keep.any():
            continue
        px = (x - x0) / (x1 - x0) * (2 * w - 1)
        py = (y1 - y) / (y1 - y0) * (4 * h - 1)
        # a NaN breaks the line (e.g. steps whose metric was not measured): draw each finite run alone
        runs = np.split(np.arange(len(x)), np.flatnonzero(~keep))
        parts = [_segments(px[r[keep[r]]], py[r[keep[r]]]) for r in runs if keep[r].any()]
        dx, dy = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        cy, cx = dy // 4, dx // 2
        ok = (cy >= 0) & (cy < h) & (cx >= 0) & (cx < w)
        dx, dy, cx, cy = dx[ok], dy[ok], cx[ok], cy[ok]
        np.bitwise_or.at(bits, (cy, cx), _BITS[dy % 4, dx % 2])
        owner[cy, cx] = i  # a cell shared by several lines takes the colour of the last one drawn
    mark_col: dict[int, VMark] = {}
    for m in pic.marks:
        if x0 <= m.x <= x1:
            mark_col[int(round((m.x - x0) / (x1 - x0) * (w - 1)))] = m
    styles = _styles(pic)
    labels = {0: _num(y1), h - 1: _num(y0), (h - 1) // 2: _num((y0 + y1) / 2)}
    for r in range(h):
        out.append(f"{labels.get(r, ''):>{Y_LABEL_W - 1}}┤", style="dim")
        row_bits, row_owner = bits[r], owner[r]
        run_style, run_chars = None, []
        for c in range(w):
            b = int(row_bits[c])
            if b:
                ch, st = chr(0x2800 + b), styles[int(row_owner[c])]
            elif c in mark_col:
                ch, st = mark_col[c].char, mark_col[c].style
            else:
                ch, st = " ", None
            if st != run_style and run_chars:
                out.append("".join(run_chars), style=run_style)
                run_chars = []
            run_style = st
            run_chars.append(ch)
        if run_chars:
            out.append("".join(run_chars), style=run_style)
        out.append("\n")
    left, mid, right = _num(x0), _num((x0 + x1) / 2), _num(x1)
    axis = [" "] * w
    for pos, s in ((0, left), ((w - len(mid)) // 2, mid), (w - len(right), right)):
        for k, ch in enumerate(s):
            if 0 <= pos + k < w:
                axis[pos + k] = ch
    out.append(" " * Y_LABEL_W + "".join(axis), style="dim")
    return out


def _styles(pic: Picture) -> list[str]:
    return [s.style or PALETTE[i % len(PALETTE)] for i, s in enumerate(pic.series)]


def legend(pic: Picture) -> Text:
    """`■ label` per series, in its colour."""
    t = Text(no_wrap=True, overflow="ellipsis")
    for s, style in zip(pic.series, _styles(pic)):
        t.append("■ ", style=style)
        t.append(f"{one_line(s.label)}   ")  # a run's name and parameters, read from its spec.json
    return t
