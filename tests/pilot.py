"""Waiting in Textual Pilot tests: poll a condition between short pauses of the app."""

from __future__ import annotations


async def until(pilot, cond, timeout: float = 30.0, step: float = 0.05) -> None:
    """Return as soon as `cond()` holds; fail after `timeout` seconds of app time (a loaded 2-core
    machine needs generous timeouts; a passing condition exits early)."""
    for _ in range(int(timeout / step)):
        if cond():
            return
        await pilot.pause(step)
    assert cond(), "condition not reached in time"


async def open_new_job(pilot, app, field: str = "learning_rate", jobs: int = 2):
    """`n` on the jobs screen once it lists JOBS rows: the new-job screen, returned when its
    parameter field FIELD is built (a worker builds the template's fields)."""
    from arcctl.tui.screens.jobs import JobsScreen
    from arcctl.tui.screens.new_job import NewJobScreen

    await until(pilot, lambda: isinstance(app.screen, JobsScreen) and app.screen.query_one("#jobs").row_count == jobs)
    await pilot.press("n")
    await until(pilot, lambda: isinstance(app.screen, NewJobScreen) and app.screen.query(f"#p-{field}"))
    return app.screen
