"""What the first paint of a run waits for, and what waits for it: the first refresh reads the
metrics and spec alone; the history is read once the charts have painted; the completions page
builds its first row's detail once and loads the ARC grids when the cursor rests."""

from __future__ import annotations

import json
import sys

import pytest

from arcctl.tui.app import SWITCH_INTERVAL_S, ArcApp
from arcctl.tui.data import JobSource
from jobs import runview
from jobs.runview import RunView
from tests.tui.pilot import until

pytestmark = pytest.mark.timeout(120)


def _judged(v: RunView) -> list[tuple]:
    for _ in range(1000):
        v.refresh()
        if not v.health_pending:
            break
    return [(a.rule, a.severity, a.first_step) for a in v.alerts()]


def test_a_metrics_only_refresh_reads_nothing_else_and_the_next_one_catches_up(runs):
    run = runs / "collapsing"
    v = RunView(str(run))
    changed = v.refresh(metrics_only=True)
    assert changed == {"metrics"} and v.spec_read and v.metrics.last_step() is not None
    # events, completions, logs and the exit code wait for the next full refresh
    assert v.events == [] and len(v.completions) == 0 and v.stdout.lines == [] and v.exit_code() is None
    assert v.health_pending == 0 and v.alerts() == []
    rest = v.refresh()
    assert {"events", "completions"} <= rest and v.events and len(v.completions) > 0
    # the rows the first refresh read are judged by the second: alerts as from one full read
    assert _judged(v) == _judged(RunView(str(run))) != []


async def test_the_history_is_read_after_the_charts_painted_the_newest_rows(runs, monkeypatch):
    """Parsing the history is CPU in a worker thread: started before the run screen's charts
    have painted, it slows the paint of whatever is on screen (one interpreter lock). With `c`
    pressed at once, the completions page covers the charts before they paint: the history is
    not started behind the page, only once the charts are back and painted."""
    from arcctl.tui.screens.completions import CompletionsScreen
    from arcctl.tui.screens.run import RunScreen
    from arcctl.tui.widgets.charts import MetricChart

    monkeypatch.setattr(runview, "FIRST_METRICS_BYTES", 2048)
    run = runs / "healthy"
    with open(run / "metrics.jsonl", "w") as f:
        for s in range(1, 5001):
            f.write(json.dumps({"step": s, "reward": (s % 89) / 89, "kl": s * 1e-5}) + "\n")
    view = RunView(str(run))
    at_start: list[tuple[bool, list[tuple[int, int]]]] = []
    load = view.load_history

    def recording(*a, **kw):
        charts = [(c.points, c.painted_points) for c in scr.query(MetricChart)]
        at_start.append((app.screen is scr, charts))
        return load(*a, **kw)

    monkeypatch.setattr(view, "load_history", recording)
    app = ArcApp(source=JobSource(None))
    async with app.run_test(size=(150, 48)) as pilot:
        scr = RunScreen(view)
        app.push_screen(scr)
        await pilot.pause(0)
        scr.action_completions()
        await until(pilot, lambda: isinstance(app.screen, CompletionsScreen) and app.screen.items)
        await until(pilot, lambda: len(view.metrics) > 0)
        await pilot.pause(0.5)
        assert at_start == [] and view.history_progress == 0.0  # nothing read behind the page
        await pilot.press("escape")
        await until(pilot, lambda: view.history_progress is None and len(view.metrics) == 5000)
    assert len(at_start) == 1
    on_top, charts = at_start[0]
    drawn = [painted for pts, painted in charts if pts]
    assert on_top and drawn and all(drawn), at_start  # every chart with rows had painted some


async def test_the_app_hands_the_interpreter_lock_over_every_millisecond_while_it_runs(runs):
    before = sys.getswitchinterval()
    app = ArcApp(source=JobSource(None))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0)
        assert sys.getswitchinterval() == SWITCH_INTERVAL_S < before
    assert sys.getswitchinterval() == before


async def test_the_first_row_is_detailed_once_and_grids_load_when_the_cursor_rests(runs, monkeypatch):
    from textual.widgets import DataTable

    from arcctl.tui.screens import completions as comp_screen
    from arcctl.tui.screens.completions import CompletionsScreen

    details, grids = [], []  # completions whose code was highlighted, whose grids were loaded
    render, load_grids = comp_screen.render_completion, CompletionsScreen.load_grids
    monkeypatch.setattr(comp_screen, "render_completion", lambda c, limit: details.append(c.id) or render(c, limit))
    monkeypatch.setattr(CompletionsScreen, "load_grids", lambda self, c: grids.append(c.id) or load_grids(self, c))
    monkeypatch.setattr(comp_screen, "GRIDS_DELAY_S", 1.0)  # room for a loaded test machine
    app = ArcApp(source=JobSource(None))
    async with app.run_test(size=(150, 48)) as pilot:
        page = CompletionsScreen(RunView(str(runs / "collapsing")))
        app.push_screen(page)
        await until(pilot, lambda: page.items and details)
        await pilot.pause(0)
        first = page.items[0].id
        assert details == [first] and grids == []  # built once; the grids wait for the cursor to rest
        await until(pilot, lambda: grids)
        assert grids == [first]
        for _ in range(4):  # a held arrow key: no grids for the rows it passes
            await pilot.press("down")
        await until(pilot, lambda: len(grids) == 2)
        await pilot.pause(0.5)
        row = page.query_one(DataTable).cursor_row
        assert grids == [first, page.items[row].id] and row == 4


async def test_the_footer_is_rebuilt_only_when_its_keys_change(runs):
    """Textual rebuilds a footer on every bindings change (each focus move, each screen shown
    again): on the UI thread the first paint waits for. Unchanged keys are kept as they are."""
    from textual.widgets._footer import FooterKey

    from arcctl.tui.screens.run import RunScreen
    from arcctl.tui.widgets.footer import ArcFooter

    app = ArcApp(source=JobSource(None))
    async with app.run_test(size=(150, 48)) as pilot:
        scr = RunScreen(RunView(str(runs / "healthy")))
        app.push_screen(scr)
        await until(pilot, lambda: scr.query(FooterKey))
        await pilot.pause(0.2)
        keys = list(scr.query(FooterKey))
        assert "charts" in [k.description for k in keys]
        scr.refresh_bindings()  # a bindings change that changes no key
        await pilot.pause(0.2)
        assert list(scr.query(FooterKey)) == keys  # the same widgets, not rebuilt
        footer = scr.query_one(ArcFooter)
        footer._composed = []  # as if other keys had been shown: now it is rebuilt
        scr.refresh_bindings()
        # a recompose removes the old keys and mounts new ones in separate steps: wait for the end
        await until(pilot, lambda: len(new := list(scr.query(FooterKey))) == len(keys) and not set(new) & set(keys))
        assert [k.description for k in scr.query(FooterKey)] == [k.description for k in keys]
