"""The run screen's log tail switches between both streams, stdout only and stderr only (`l`),
and keeps following the chosen stream as the trainer writes."""

from __future__ import annotations

import pytest

from arcctl.tui.app import ArcApp
from arcctl.tui.data import JobSource
from arcctl.tui.screens.run import RunScreen
from arcctl.tui.widgets.log_tail import LogTail
from tests.tui.pilot import until


pytestmark = pytest.mark.timeout(120)


def shown(app) -> list[str]:
    logs = app.screen.query(LogTail)  # none while the screen is still composing
    return [strip.text.rstrip() for strip in logs.first().lines] if logs else []


async def test_l_switches_streams_and_follows_the_chosen_one(runs):
    run = runs / "healthy"
    out = (run / "stdout.log").read_text().splitlines()
    err = (run / "stderr.log").read_text().splitlines()
    src = JobSource(None)
    app = ArcApp(source=src, refresh_s=0.05)
    async with app.run_test(size=(150, 48)) as pilot:
        await pilot.pause(0.2)
        app.push_screen(RunScreen(src.view(str(run))))
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and len(shown(app)) == len(out) + len(err))
        assert set(shown(app)) == set(out) | {f"! {e}" for e in err}
        assert app.screen.query_one(LogTail).border_title.startswith("log: stdout+stderr")
        await pilot.press("l")
        await until(pilot, lambda: shown(app) == out and app.screen.query_one(LogTail).mode == "stdout")
        await pilot.press("l")
        await until(
            pilot, lambda: shown(app) == err and app.screen.query_one(LogTail).border_title.startswith("log: stderr")
        )
        with open(run / "stdout.log", "a") as f:
            f.write("step 99 out\n")
        with open(run / "stderr.log", "a") as f:
            f.write("Traceback: boom\n")
        await until(pilot, lambda: shown(app)[-1:] == ["Traceback: boom"])
        assert "step 99 out" not in shown(app)
        await pilot.press("l")  # back to both: the stdout line read meanwhile is there
        await until(pilot, lambda: "step 99 out" in shown(app) and "! Traceback: boom" in shown(app))


async def test_lines_another_reader_of_the_same_view_read_first_are_shown(runs):
    """The jobs table refreshes the same view as the run screen (every second, even behind it):
    when its refresh reads a new stdout line first, the run screen's own refresh sees no change
    in the logs, and the line must still appear."""
    run = runs / "healthy"
    src = JobSource(None)
    app = ArcApp(source=src, refresh_s=3600)  # the run screen refreshes when the test says
    async with app.run_test(size=(150, 48)) as pilot:
        view = src.view(str(run))
        scr = RunScreen(view)
        app.push_screen(scr)
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and view.metrics.last_step())
        scr.tick()  # the second tick reads the logs (the first, the metrics only)
        await until(pilot, lambda: view.stdout.total and shown(app))
        with open(run / "stdout.log", "a") as f:
            f.write("read by the jobs table first\n")
        view.refresh(completion_bytes=0)  # as JobSource.rows does: the line is read here
        assert view.stdout.lines[-1] == "read by the jobs table first"
        scr.tick()  # finds nothing new
        await until(pilot, lambda: "read by the jobs table first" in shown(app))
