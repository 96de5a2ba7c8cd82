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
    import time

    from textual.widgets import DataTable

    from arcctl.tui.screens import completions as comp_screen
    from arcctl.tui.screens.completions import CompletionsScreen

    # (completion id, when): completions whose code was highlighted, whose grids were loaded
    details: list[tuple[str, float]] = []
    grids: list[tuple[str, float]] = []
    render, load_grids = comp_screen.render_completion, CompletionsScreen.load_grids

    def detailed(c, limit):
        details.append((c.id, time.monotonic()))
        return render(c, limit)

    def loaded(self, c):
        grids.append((c.id, time.monotonic()))
        return load_grids(self, c)

    monkeypatch.setattr(comp_screen, "render_completion", detailed)
    monkeypatch.setattr(CompletionsScreen, "load_grids", loaded)
    monkeypatch.setattr(comp_screen, "GRIDS_DELAY_S", 1.0)  # far above a key repeat's interval

    def rested() -> None:
        """Each grid load came after the cursor rested on its row for the delay: the row shown
        last before the load is that row, shown at least GRIDS_DELAY_S before."""
        for cid, t in grids:
            last_id, last_t = [d for d in details if d[1] <= t][-1]
            assert last_id == cid and t - last_t >= 0.99, (details, grids)  # timers never fire early

    app = ArcApp(source=JobSource(None))
    async with app.run_test(size=(150, 48)) as pilot:
        page = CompletionsScreen(RunView(str(runs / "collapsing")))
        app.push_screen(page)
        await until(pilot, lambda: page.items and grids)
        first = page.items[0].id
        assert [d for d, _ in details] == [first] and [g for g, _ in grids] == [first]  # built once
        rested()
        for _ in range(4):  # a held arrow key: no grids for the rows it passes
            await pilot.press("down")
        row = page.query_one(DataTable).cursor_row
        assert row == 4
        await until(pilot, lambda: grids[-1][0] == page.items[row].id)
        assert [d for d, _ in details][-5:] == [c.id for c in page.items[:5]]
        rested()


async def test_the_footer_is_rebuilt_only_when_its_keys_change(runs, monkeypatch):
    """Textual rebuilds a footer on every bindings change (each focus move, each screen shown
    again): on the UI thread the first paint waits for. Unchanged keys are kept as they are."""
    from textual.widgets import Footer
    from textual.widgets._footer import FooterKey

    from arcctl.tui.screens.run import RunScreen
    from arcctl.tui.widgets.footer import ArcFooter

    # bindings changes the footer handled, those it passed on to Textual's rebuild (which
    # schedules a recompose), recomposes started and finished
    changes, rebuilds, started, finished = [], [], [], []
    changed, rebuild, recompose = ArcFooter.bindings_changed, Footer.bindings_changed, ArcFooter.recompose

    async def counted(self):
        started.append(1)
        await recompose(self)
        finished.append(1)

    monkeypatch.setattr(Footer, "bindings_changed", lambda self, screen: rebuilds.append(1) or rebuild(self, screen))
    monkeypatch.setattr(ArcFooter, "bindings_changed", lambda self, screen: changed(self, screen) or changes.append(1))
    monkeypatch.setattr(ArcFooter, "recompose", counted)

    def settled(footer: ArcFooter) -> bool:
        """No rebuild pending or half done: the keys mounted are those of the screen's bindings now
        (a recompose removes the old keys and mounts the new ones in separate steps)."""
        composed = getattr(footer, "_composed", None)
        return (
            len(started) == len(finished)
            and composed == footer._shown(scr)
            and len(scr.query(FooterKey)) == len({b.action for b, _, _ in composed})
        )

    app = ArcApp(source=JobSource(None))
    async with app.run_test(size=(150, 48)) as pilot:
        scr = RunScreen(RunView(str(runs / "healthy")))
        app.push_screen(scr)
        await until(pilot, lambda: app.screen is scr and scr.query(ArcFooter) and settled(scr.query_one(ArcFooter)))
        footer = scr.query_one(ArcFooter)
        keys = list(scr.query(FooterKey))
        assert "charts" in [k.description for k in keys]
        handled, before = len(changes), len(rebuilds)
        scr.refresh_bindings()  # a bindings change that changes no key: no rebuild is even scheduled
        await until(pilot, lambda: len(changes) > handled)  # the footer gets it after its pending messages
        assert len(rebuilds) == before and len(started) == len(finished)
        assert list(scr.query(FooterKey)) == keys  # the same widgets
        footer._composed = []  # as if other keys had been shown: now it is rebuilt
        scr.refresh_bindings()
        await until(pilot, lambda: len(rebuilds) == before + 1)
        await until(pilot, lambda: settled(footer) and not set(scr.query(FooterKey)) & set(keys))
        assert [k.description for k in scr.query(FooterKey)] == [k.description for k in keys]
