"""One metric of several runs on shared axes (jobs.overlay computes the lines, widgets.braille
draws them), with fork and rollback steps, checkpoint saves and alerts as vertical markers; the legend names
what differs between the runs. `draw_markers` puts the same markers on a plotext chart."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from rich.text import Text
from textual.widget import Widget

from arcctl.cli.terminal_text import one_line
from arcctl.tui.widgets.braille import PALETTE, Picture, Series, VMark, legend, render
from jobs.overlay import Line, Markers, overlay, thin

SEVERITY_COLOR = {"watch": "yellow", "warning": "dark_orange", "critical": "red"}
CHECKPOINT_COLOR = "grey42"
FORK_COLOR = "bright_cyan"
ROLLBACK_COLOR = "magenta"
MARKS_KEY = "┆ checkpoint  │ alert  ║ fork"
ROLLBACK_KEY = "  ┃ rollback"  # in the title only when a chain holds a rollback


def draw_markers(plt: Any, marks: Markers, width: int, forks: Sequence[float] = ()) -> None:
    """On a plotext chart: checkpoints thinned to one per few columns; alerts and forks always."""
    for s in thin(marks.checkpoints, max(1, width // 6)):
        plt.vline(s, "gray")
    for s, sev in marks.alerts:
        plt.vline(s, {"warning": "orange"}.get(sev, SEVERITY_COLOR.get(sev, "red")))
    for s in forks:
        plt.vline(s, "cyan")


def vmarks(marks: Markers, width: int, forks: Sequence[float] = (), rollbacks: Sequence[float] = ()) -> list[VMark]:
    """Later entries win a shared column: checkpoints < alerts (by severity) < forks < rollbacks."""
    out = [VMark(s, CHECKPOINT_COLOR, "┆") for s in thin(marks.checkpoints, max(1, width // 6))]
    rank = {"watch": 0, "warning": 1, "critical": 2}
    out += [
        VMark(s, SEVERITY_COLOR.get(sev, "red"), "│")
        for s, sev in sorted(marks.alerts, key=lambda a: rank.get(a[1], 3))
    ]
    out += [VMark(s, FORK_COLOR, "║") for s in forks]
    out += [VMark(s, ROLLBACK_COLOR, "┃") for s in rollbacks]
    return out


def series(lines: Sequence[Line]) -> list[Series]:
    """One series per line in its run's colour; the rows a rollback went back from in that colour, dimmed."""
    return [
        Series(ln.xs, ln.ys, one_line(ln.label), ("dim " if ln.rolled_back else "") + PALETTE[ln.run % len(PALETTE)])
        for ln in lines
    ]


def link_steps(lines: Sequence[Line]) -> tuple[list[float], list[float]]:
    """The fork steps and the rollback steps of all lines (each step once)."""
    forks = sorted({s for ln in lines for s in ln.fork_steps})
    rollbacks = sorted({s for ln in lines for s in ln.rollback_steps})
    return forks, rollbacks


class OverlayChart(Widget):
    DEFAULT_CSS = "OverlayChart { height: 1fr; width: 1fr; min-height: 8; }"

    def __init__(self, metric: str, **kw) -> None:
        super().__init__(**kw)
        self.metric = metric
        self.lines: list[Line] = []
        self.marks = Markers()
        self.picture = Picture(0, 0)
        self.drawn_width = 0  # the width the lines were bucketed for (0: never drawn)

    def draw(self, views: Sequence[Any], smoothing: float = 0.0, view_for: Callable[[str], Any] | None = None) -> None:
        width = self.drawn_width = max(20, self.size.width)
        # One min/max bucket per braille column pair: about one point per dot column.
        self.lines, self.marks = overlay(views, self.metric, max(10, width - 10), smoothing, view_for)
        forks, rollbacks = link_steps(self.lines)
        title = one_line(f"{self.metric}") + (f"  ema {smoothing:.2f}" if smoothing else "")
        title += "   " + MARKS_KEY + (ROLLBACK_KEY if rollbacks else "")
        self.picture = Picture(
            width,
            0,
            series(self.lines),
            vmarks(self.marks, width, forks, rollbacks),
            title,
        )
        self.refresh()

    def render(self) -> Text:
        self.picture.width = self.size.width
        self.picture.height = max(4, self.size.height - 1)  # the last line is the legend
        out = render(self.picture)
        out.append("\n")
        out.append_text(legend(self.picture))
        return out
