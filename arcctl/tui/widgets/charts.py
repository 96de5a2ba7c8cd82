"""A metric chart: one series of a MetricsHistory, smoothed and downsampled to the chart's width."""

from __future__ import annotations

from typing import Any

from textual_plotext import PlotextPlot

from arcctl.tui.widgets.masked_gaps import gap_note, mark_gaps
from jobs.masked_steps import is_masked_metric, with_breaks
from jobs.metrics_history import MetricsHistory

# plotext overflows computing the axis of values near the float limit (a diverged loss logged as
# 1e308): those points are left out of the line, the title still shows the last value as logged.
PLOT_LIMIT = 1e150


def plottable(xs: list[float], ys: list[float]) -> tuple[list[float], list[float]]:
    """The points plotext can draw: finite, and within PLOT_LIMIT."""
    keep = [(x, y) for x, y in zip(xs, ys) if abs(x) < PLOT_LIMIT and abs(y) < PLOT_LIMIT]
    return [x for x, _ in keep], [y for _, y in keep]


class MetricChart(PlotextPlot):
    DEFAULT_CSS = "MetricChart { height: 1fr; width: 1fr; min-height: 8; }"

    def __init__(self, metric: str, **kw) -> None:
        super().__init__(**kw)
        self.metric = metric
        self.points = 0  # how many points the last draw plotted (tests check the downsampling)
        self.painted_points = 0  # of those, how many were on screen at the last paint

    def render(self):
        self.painted_points = self.points
        return super().render()

    def draw(self, history: MetricsHistory, smoothing: float = 0.0, marks: Any = None) -> None:
        """`marks` (jobs.overlay.Markers): checkpoint saves and alerts drawn as vertical lines."""
        # One min/max bucket per two columns (minus the y-axis labels): about one point per
        # column, which is what the eye can see; plotext's build time grows with the points.
        buckets = max(10, (self.size.width - 10) // 2)
        xs, ys = plottable(*history.series(self.metric, width=buckets, smoothing=smoothing))
        self.points = len(xs)
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        last = history.last(self.metric)
        name = self.metric
        if len(name) + 16 > self.size.width:  # plotext drops a title wider than the chart
            name = name.rsplit("/", 1)[-1]
        spans = history.masked_spans() if is_masked_metric(self.metric) else []
        label = f"{name}  last {last:.4g}" if last is not None else f"{name}  (no data)" if not spans else name
        if smoothing:
            label += f"  ema {smoothing:.2f}"
        note = gap_note(history.masked_count()) if spans else ""
        if len(label) + len(note) + 6 <= self.size.width:
            label += note
        plt.title(label)
        if spans:  # steps where TRL had no unmasked token: a gap, not a value of 0
            xs, ys = with_breaks(xs, ys, spans)
        if xs:
            plt.plot(xs, ys, marker="hd")  # 2x2 dots per cell: fine lines, fast to build
        if spans:
            measured = [v for v in ys if v == v]
            mark_gaps(
                plt,
                spans,
                (min([*xs, spans[0][0]]), max([*xs, spans[-1][1]])),
                min(measured, default=0.0),
                self.size.width,
            )
        if xs or spans:
            if marks is not None:
                from arcctl.tui.widgets.overlay_chart import draw_markers

                draw_markers(plt, marks, self.size.width)
            plt.xlabel("step")
        self.refresh()
