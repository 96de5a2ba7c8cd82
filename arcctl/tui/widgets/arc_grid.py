"""ARC grids as coloured cells (the ARC palette), two cells per character (upper half block: the
foreground is the upper cell, the background the lower), so a 30x30 grid takes 30x15 characters;
and the pairs of a task next to a program's outputs: input, expected, output, pixel score per
pair, the failing pairs marked. One renderer for every screen that shows grids."""

from __future__ import annotations

from typing import Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from arcctl.tui.shown_text import plain
from jobs.arcgrids import Grid, pixel_score

# The usual ARC colours: black, blue, red, green, yellow, grey, magenta, orange, sky, maroon.
PALETTE = ["#000000", "#0074d9", "#ff4136", "#2ecc40", "#ffdc00", "#aaaaaa", "#f012be", "#ff851b", "#7fdbff", "#870c25"]


def grid_text(grid: Grid | None) -> Text:
    """The grid, two rows per line; a missing grid is a dim dash."""
    if not grid:
        return Text("—", style="dim")
    t = Text(no_wrap=True)
    for r in range(0, len(grid), 2):
        top, bottom = grid[r], grid[r + 1] if r + 1 < len(grid) else None
        for c, v in enumerate(top):
            if bottom is None:
                t.append("▀", style=PALETTE[v])
            else:
                t.append("▀", style=f"{PALETTE[v]} on {PALETTE[bottom[c]]}")
        if r + 2 < len(grid):
            t.append("\n")
    return t


def _size(grid: Grid | None) -> str:
    return f"{len(grid)}x{len(grid[0])}" if grid else ""


def pairs_view(
    train: Sequence[tuple[Grid, Grid | None]],
    test: Sequence[tuple[Grid, Grid | None]],
    outputs: Sequence[Grid | None] | None,
    missing: str = "no output",
) -> RenderableType:
    """One row per pair: input, expected output, the program's output with its pixel score; a
    pair the program got wrong is marked in red (the first failing one with an arrow). `missing`
    says why there are no outputs at all (an error kind, or an older record without them)."""
    table = Table(box=None, padding=(0, 2, 1, 0), show_header=True, header_style="bold", expand=False)
    table.add_column("pair", no_wrap=True)
    table.add_column("input", no_wrap=True)
    table.add_column("expected", no_wrap=True)
    table.add_column("program output", no_wrap=True)
    outs = list(outputs or [])
    first_fail = True
    for i, (name, (inp, exp)) in enumerate(
        [(f"train {k + 1}", p) for k, p in enumerate(train)] + [(f"test {k + 1}", p) for k, p in enumerate(test)]
    ):
        out = outs[i] if i < len(outs) else None
        score = pixel_score(out, exp)
        label = Text(name)
        if outputs is None:
            verdict = plain(missing, style="dim")
        elif score is None:
            verdict = Text("no expected output", style="dim")
        elif score == 1.0 and out == exp:
            verdict = Text("✓ solved", style="bold green")
        else:
            verdict = Text(f"✗ pixels {score:.2f}" if out is not None else "✗ no output", style="bold red")
            if first_fail:
                label = Text(f"▶ {name}", style="bold red")
                first_fail = False
        table.add_row(
            Group(label, verdict),
            Group(grid_text(inp), Text(_size(inp), style="dim")),
            Group(grid_text(exp), Text(_size(exp), style="dim")),
            Group(grid_text(out), Text(_size(out), style="dim")),
        )
    return table


class PairsView(Static):
    """The task's pairs next to a program's outputs (pairs_view); empty until `show_pairs`."""

    DEFAULT_CSS = "PairsView { height: auto; }"

    def show_pairs(self, train, test, outputs, missing: str = "no output") -> None:
        self.pairs = (train, test, outputs)
        self.shown = pairs_view(train, test, outputs, missing)
        self.update(self.shown)

    def show_message(self, text: str) -> None:
        self.pairs = None
        self.shown = plain(text, style="dim")
        self.update(self.shown)
