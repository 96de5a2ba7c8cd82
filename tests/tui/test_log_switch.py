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
        assert shown(app) == out and app.screen.query_one(LogTail).mode == "stdout"
        await pilot.press("l")
        assert shown(app) == err and app.screen.query_one(LogTail).border_title.startswith("log: stderr")
        with open(run / "stdout.log", "a") as f:
            f.write("step 99 out\n")
        with open(run / "stderr.log", "a") as f:
            f.write("Traceback: boom\n")
        await until(pilot, lambda: shown(app)[-1:] == ["Traceback: boom"])
        assert "step 99 out" not in shown(app)
        await pilot.press("l")  # back to both: the stdout line read meanwhile is there
        assert "step 99 out" in shown(app) and "! Traceback: boom" in shown(app)
