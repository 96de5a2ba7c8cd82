"""A screen's worker thread that is still reading when the screen closes (left with escape, or the
app quitting) hands its result to nothing: the removal takes the screen's widgets first, and a
result shown then queried a table that was gone and ended the whole app with the worker's
error (a loaded machine made the read outlast the screen)."""

from __future__ import annotations

import threading
import time

import pytest

from arcctl.tui.app import ArcApp
from arcctl.tui.data import JobSource
from arcctl.tui.screens.checkpoints import CheckpointsScreen
from arcctl.tui.screens.jobs import JobsScreen
from tests.tui.pilot import until

pytestmark = pytest.mark.timeout(60)


class HeldUntilClosing:
    """Wraps a read a screen's worker makes: a worker thread waits in it until SCREEN starts
    closing, then reads for real (the UI thread goes through at once)."""

    def __init__(self, read):
        self.read, self.screen, self.thread = read, None, None

    def __call__(self, *a, **kw):
        if threading.current_thread() is not threading.main_thread() and self.screen is not None:
            self.thread = threading.current_thread()
            end = time.monotonic() + 30
            while not self.screen._pruning and time.monotonic() < end:
                time.sleep(0.001)
        return self.read(*a, **kw)


@pytest.mark.parametrize("kind", ["jobs", "checkpoints"])
async def test_a_result_that_arrives_after_its_screen_closed_is_dropped(runs, kind):
    src = JobSource(None, [str(runs / "collapsing")])
    app = ArcApp(source=src, refresh_s=3600)  # no timed refresh: the test says when a read starts
    handed: list[threading.Thread] = []  # worker threads whose call onto the UI thread returned
    to_ui = app.call_from_thread

    def counted(*a, **kw):
        try:
            return to_ui(*a, **kw)
        finally:
            handed.append(threading.current_thread())

    app.call_from_thread = counted
    async with app.run_test(size=(150, 48)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, JobsScreen) and app.screen.rows)
        if kind == "jobs":
            held = src.rows = HeldUntilClosing(src.rows)
            top = JobsScreen()
        else:
            view = src.view(str(runs / "collapsing"))
            held = view.checkpoints = HeldUntilClosing(view.checkpoints)
            top = CheckpointsScreen(view)
        held.screen = top
        app.push_screen(top)
        await until(pilot, lambda: held.thread is not None and app.screen is top)
        handed.clear()  # pool threads are reused: only calls from now on count
        app.pop_screen()
        await until(pilot, lambda: held.thread in handed)
        assert top.rows == []  # never shown: the screen was closing
        assert app.is_running and app.screen is not top and app._exception is None
    assert app._exception is None
