"""A metric chart: one series of a MetricsHistory, smoothed and downsampled to the chart's width."""
from __future__ import annotations

from typing import Any

from textual_plotext import PlotextPlot

from jobs.metrics_history import MetricsHistory


class MetricChart(PlotextPlot):
    DEFAULT_CSS = "MetricChart { height: 1fr; width: 1fr; min-height: 8; }"

    def __init__(self, metric: str, **kw) -> None:
        super().__init__(**kw)
        self.metric = metric
        self.points = 0  # how many points the last draw plotted (tests check the downsampling)

    def draw(self, history: MetricsHistory, smoothing: float = 0.0, marks: Any = None) -> None:
        """`marks` (jobs.overlay.Markers): checkpoint saves and alerts drawn as vertical lines."""
        # One min/max bucket per two columns (minus the y-axis labels): about one point per
        # column, which is what the eye can see; plotext's build time grows with the points.
        buckets = max(10, (self.size.width - 10) // 2)
        xs, ys = history.series(self.metric, width=buckets, smoothing=smoothing)
        self.points = len(xs)
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        last = history.last(self.metric)
        name = self.metric
        if len(name) + 16 > self.size.width:  # plotext drops a title wider than the chart
            name = name.rsplit("/", 1)[-1]
        label = f"{name}  last {last:.4g}" if last is not None else f"{name}  (no data)"
        if smoothing:
            label += f"  ema {smoothing:.2f}"
        plt.title(label)
        if xs:
            plt.plot(xs, ys, marker="hd")  # 2x2 dots per cell: fine lines, fast to build
            if marks is not None:
                from arcctl.tui.widgets.overlay_chart import draw_markers

                draw_markers(plt, marks, self.size.width)
            plt.xlabel("step")
        self.refresh()
