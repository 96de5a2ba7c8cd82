"""The run screen of a HER run whose metrics.jsonl holds her/ scores outside 0..1, NaN, a bool
or a string (tests/her/test_her_metric_ranges.py): the chart draws them as gaps, not as 1.7 on a
0..1 axis, and the status line names the metric once."""

from __future__ import annotations

import pytest

from arcctl.tui.app import ArcApp
from arcctl.tui.data import JobSource
from arcctl.tui.screens.run import RunScreen
from arcctl.tui.widgets.charts import MetricChart
from jobs.runview import RunView
from tests.her.test_her_metric_ranges import her_metrics_run  # noqa: F401 - the fixture
from tests.tui.pilot import until


@pytest.mark.timeout(60)
async def test_the_run_screen_draws_them_as_gaps_and_says_so(her_metrics_run):
    app = ArcApp(source=JobSource(None))
    async with app.run_test(size=(160, 48)) as pilot:
        scr = RunScreen(RunView(str(her_metrics_run)))
        app.push_screen(scr)
        await until(pilot, lambda: {c.metric: c for c in scr.query(MetricChart)}.get("her/best_pixel_score"))
        chart = {c.metric: c for c in scr.query(MetricChart)}["her/best_pixel_score"]
        await until(pilot, lambda: chart.points)
        assert chart.points == 2  # 0.5 and 0.8 only
        status = str(scr.query_one("#run-status").render())
        assert "invalid: her/best_pixel_score: 6 values not a number in 0..1 (first 1.7)" in status, status
        assert status.count("her/best_pixel_score") == 1
        assert app.is_running and app.screen is scr
