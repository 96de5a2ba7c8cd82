"""Metric values a diverging run (or a hand-edited file) writes that plotext cannot draw: NaN,
Infinity, values near the float limit. The run screen keeps drawing every chart, the bad points
are left out of the line, and a smoothed line goes on after an infinite value."""

from __future__ import annotations

import json
import math

import pytest

from arcctl.tui.app import ArcApp
from arcctl.tui.data import JobSource
from arcctl.tui.screens.run import RunScreen
from arcctl.tui.widgets.charts import MetricChart, plottable
from jobs.metrics_history import MetricsHistory
from jobs.runview import RunView
from tests.tui.pilot import until

pytestmark = pytest.mark.timeout(60)

# JSON as Python's json module writes non-finite floats, which TRL's logs can hold
BAD_ROWS = [
    '{"step": 51, "reward": NaN, "kl": Infinity, "reward_std": -Infinity}',
    '{"step": 52, "reward": 1e308, "kl": -1e308, "reward_std": 0.5}',
    '{"step": 53, "reward": 0.7, "kl": 0.06, "reward_std": 0.2}',
]


async def test_non_finite_and_huge_metrics_leave_the_charts_drawing(runs):
    run = runs / "healthy"
    with open(run / "metrics.jsonl", "a") as f:
        f.write("\n".join(BAD_ROWS) + "\n")
    app = ArcApp(source=JobSource(None))
    async with app.run_test(size=(150, 48)) as pilot:
        scr = RunScreen(RunView(str(run)))
        app.push_screen(scr)
        await until(
            pilot, lambda: {c.metric: c for c in scr.query(MetricChart)}.get("kl") and scr.query_one(MetricChart).points
        )
        for key in "]]":  # smoothing on: the EMA meets the infinite kl
            await pilot.press(key)
        await pilot.pause(0.3)
        charts = {c.metric: c for c in scr.query(MetricChart)}
        await until(pilot, lambda: all(c.painted_points for c in charts.values() if c.points))
        assert app.is_running and app.screen is scr
        assert charts["kl"].points and charts["reward"].points
    assert app.return_code in (None, 0)


def test_plottable_leaves_out_what_plotext_cannot_draw():
    xs, ys = plottable([1, 2, 3, 4, 5], [0.5, math.nan, math.inf, -1e308, 2.0])
    assert (xs, ys) == ([1, 5], [0.5, 2.0])


def test_smoothing_goes_on_after_an_infinite_value():
    h = MetricsHistory()
    h.extend([{"step": 1, "kl": 0.1}, {"step": 2, "kl": math.inf}, {"step": 3, "kl": 0.3}, {"step": 4, "kl": math.nan}])
    xs, ys = h.series("kl", smoothing=0.5)
    # the EMA carries its value over rows without a finite one, as over rows without the metric
    assert xs == [1.0, 2.0, 3.0, 4.0] and all(math.isfinite(y) for y in ys)
    assert ys[2] == ys[3] == pytest.approx(0.5 * 0.3 + 0.5 * 0.1)
    assert json.loads('{"kl": Infinity}')["kl"] == math.inf  # the reader's input, as the test feeds it
