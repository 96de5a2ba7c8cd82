"""Step / total, smoothed speed and ETA in the run screen's status line and the jobs table, on a
run dir that keeps growing."""

from __future__ import annotations

import json

import pytest
from textual.widgets import DataTable, Static

from arcctl.tui.app import ArcApp
from arcctl.tui.data import JobSource
from arcctl.tui.screens.jobs import JobsScreen
from arcctl.tui.screens.run import RunScreen
from tests.tui.pilot import until


pytestmark = pytest.mark.timeout(120)


def status(app) -> str:
    found = app.screen.query("#run-status")
    return str(found.first(Static).render()) if found else ""


def eta_cell(app) -> str:
    t = app.screen.query_one("#jobs", DataTable)
    return str(t.get_row_at(0)[t.get_column_index("eta")]) if t.row_count else ""


async def test_progress_and_eta_follow_a_growing_run(runs):
    run = runs / "healthy"
    spec = json.loads((run / "spec.json").read_text())
    spec["params"]["max_steps"] = 100
    (run / "spec.json").write_text(json.dumps(spec))
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    last = rows[-1]
    assert last["step"] == 50 and rows[-2]["time"] == last["time"] - 10  # one step per 10 s

    app = ArcApp(source=JobSource(None, [str(run)]), refresh_s=0.05)
    async with app.run_test(size=(150, 48)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, JobsScreen) and eta_cell(app))
        t = app.screen.query_one("#jobs", DataTable)
        assert str(t.get_row_at(0)[5]) == "50/100" and eta_cell(app) == "8m"  # 50 steps x 10 s
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and "ETA" in status(app))
        assert "step 50/100 (50%)  0.1 st/s  ETA 8m" in status(app)
        with open(run / "metrics.jsonl", "a") as f:  # the run speeds up: 10 steps in 20 s
            for i in range(1, 11):
                f.write(json.dumps({"step": 50 + i, "time": last["time"] + 2 * i, "reward": 0.5}) + "\n")
        await until(pilot, lambda: "step 60/100" in status(app))
        rate = float(status(app).split("(60%)  ")[1].split(" st/s")[0])
        assert 0.2 < rate < 0.5  # smoothed: moving from 0.1 towards 0.5 steps/s
        (run / "exit_code").write_text("0\n")
        await until(pilot, lambda: "ETA done" in status(app))
