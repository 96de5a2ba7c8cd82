"""One metric of several runs on shared axes (jobs.overlay computes the lines, widgets.braille
draws them), with fork steps, checkpoint saves and alerts as vertical markers; the legend names
what differs between the runs. `draw_markers` puts the same markers on a plotext chart."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from rich.text import Text
from textual.widget import Widget

from arcctl.cli.terminal_text import one_line
from arcctl.tui.widgets.braille import Picture, Series, VMark, legend, render
from jobs.overlay import Line, Markers, overlay, thin

SEVERITY_COLOR = {"watch": "yellow", "warning": "dark_orange", "critical": "red"}
CHECKPOINT_COLOR = "grey42"
FORK_COLOR = "bright_cyan"


def draw_markers(plt: Any, marks: Markers, width: int, forks: Sequence[float] = ()) -> None:
    """On a plotext chart: checkpoints thinned to one per few columns; alerts and forks always."""
    for s in thin(marks.checkpoints, max(1, width // 6)):
        plt.vline(s, "gray")
    for s, sev in marks.alerts:
        plt.vline(s, {"warning": "orange"}.get(sev, SEVERITY_COLOR.get(sev, "red")))
    for s in forks:
        plt.vline(s, "cyan")


def vmarks(marks: Markers, width: int, forks: Sequence[float] = ()) -> list[VMark]:
    """Later entries win a shared column: checkpoints < alerts (by severity) < forks."""
    out = [VMark(s, CHECKPOINT_COLOR, "┆") for s in thin(marks.checkpoints, max(1, width // 6))]
    rank = {"watch": 0, "warning": 1, "critical": 2}
    out += [
        VMark(s, SEVERITY_COLOR.get(sev, "red"), "│")
        for s, sev in sorted(marks.alerts, key=lambda a: rank.get(a[1], 3))
    ]
    out += [VMark(s, FORK_COLOR, "║") for s in forks]
    return out


class OverlayChart(Widget):
    DEFAULT_CSS = "OverlayChart { height: 1fr; width: 1fr; min-height: 8; }"

    def __init__(self, metric: str, **kw) -> None:
        super().__init__(**kw)
        self.metric = metric
        self.lines: list[Line] = []
        self.marks = Markers()
        self.picture = Picture(0, 0)

    def draw(self, views: Sequence[Any], smoothing: float = 0.0, view_for: Callable[[str], Any] | None = None) -> None:
        width = max(20, self.size.width)
        # One min/max bucket per braille column pair: about one point per dot column.
        self.lines, self.marks = overlay(views, self.metric, max(10, width - 10), smoothing, view_for)
        forks = sorted({s for ln in self.lines for s in ln.fork_steps})
        title = one_line(f"{self.metric}") + (f"  ema {smoothing:.2f}" if smoothing else "")
        title += "   ┆ checkpoint  │ alert  ║ fork"
        self.picture = Picture(
            width,
            0,
            [Series(ln.xs, ln.ys, one_line(ln.label)) for ln in self.lines],
            vmarks(self.marks, width, forks),
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
