"""Helpers for Pilot-driven tests: wait for what the app does in its workers."""

from __future__ import annotations

from typing import Any, Callable

from tests.pilot import until  # noqa: F401 - the dashboard tests import it from here


def comparing_two(app: Any) -> bool:
    """The compare screen is up, drawing the lines of two runs, with their parent chains read."""
    from arcctl.tui.screens.compare import CompareScreen
    from arcctl.tui.widgets.overlay_chart import OverlayChart

    s = app.screen
    if not isinstance(s, CompareScreen) or not s.query(OverlayChart):
        return False
    return len(s.query_one(OverlayChart).lines) == 2 and bool(s.parents)


def overlay_drawn(app: Any, last_steps: list[float]) -> bool:
    """The compare screen's chart holds every run's rows (each line ends at its run's last step)
    and was bucketed for the width it is shown at (a draw before the layout uses a guessed width)."""
    from arcctl.tui.screens.compare import CompareScreen
    from arcctl.tui.widgets.overlay_chart import OverlayChart

    s = app.screen
    if not isinstance(s, CompareScreen) or not s.query(OverlayChart):
        return False
    chart = s.query_one(OverlayChart)
    ends = [ln.xs[-1] if ln.xs else None for ln in chart.lines]
    return ends == list(last_steps) and chart.drawn_width == max(20, chart.size.width)


def steady_cursors(app: Any) -> None:
    """Stop the text cursors of the screen's inputs from blinking (shown steadily): a snapshot
    taken while one blinks would be either frame."""
    from textual.widgets import Input

    for inp in app.screen.query(Input):
        inp.cursor_blink = False


async def settle(pilot: Any, cond: Callable[[], Any], timeout: float = 30.0) -> None:
    """Wait for `cond` (no failure: a snapshot shows what went wrong), then for pending paints."""
    for _ in range(int(timeout / 0.05)):
        if cond():
            break
        await pilot.pause(0.05)
    await pilot.pause(0.2)
    await pilot.wait_for_scheduled_animations()
