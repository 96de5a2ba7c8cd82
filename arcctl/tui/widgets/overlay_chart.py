"""One metric of several runs on shared axes (jobs.overlay computes the lines; this only draws),
with fork steps, checkpoint saves and alerts as vertical markers."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from textual_plotext import PlotextPlot

from jobs.overlay import Line, Markers, overlay, thin

SEVERITY_COLOR = {"watch": "yellow", "warning": "orange", "critical": "red"}
CHECKPOINT_COLOR = "gray"
FORK_COLOR = "cyan"


def draw_markers(plt: Any, marks: Markers, width: int, forks: Sequence[float] = ()) -> None:
    """Checkpoints thinned to one per few columns; alerts and fork steps always."""
    for s in thin(marks.checkpoints, max(1, width // 6)):
        plt.vline(s, CHECKPOINT_COLOR)
    for s, sev in marks.alerts:
        plt.vline(s, SEVERITY_COLOR.get(sev, "red"))
    for s in forks:
        plt.vline(s, FORK_COLOR)


class OverlayChart(PlotextPlot):
    DEFAULT_CSS = "OverlayChart { height: 1fr; width: 1fr; min-height: 10; }"

    def __init__(self, metric: str, **kw) -> None:
        super().__init__(**kw)
        self.metric = metric
        self.lines: list[Line] = []
        self.marks = Markers()

    def draw(self, views: Sequence[Any], smoothing: float = 0.0,
             view_for: Callable[[str], Any] | None = None) -> None:
        buckets = max(10, (self.size.width - 10) // 2)
        self.lines, self.marks = overlay(views, self.metric, buckets, smoothing, view_for)
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(f"{self.metric}  ({len(views)} runs; | checkpoint, alert, fork)")
        forks = sorted({s for ln in self.lines for s in ln.fork_steps})
        for ln in self.lines:
            if ln.xs:
                plt.plot(ln.xs, ln.ys, marker="hd", label=ln.label)
        if any(ln.xs for ln in self.lines):
            draw_markers(plt, self.marks, self.size.width, forks)
            plt.xlabel("step")
        self.refresh()
