"""Round 6b: what a person types into the dashboard. Every field of the new-job and fork forms,
the fork's name, the jobs filter and the palette's query, given an empty, huge, markup, control or
unicode value, and the compare screen's metric picker over metric names of that kind: a notice or
an inline error, never a crash (the app keeps running, nothing raised)."""

from __future__ import annotations

import json

import pytest
from textual.command import CommandPalette
from textual.widgets import Input

from arcctl.tui.app import ArcApp
from arcctl.tui.data import JobSource
from arcctl.tui.screens.compare import CompareScreen
from arcctl.tui.screens.fork import ForkScreen
from arcctl.tui.screens.jobs import JobsScreen
from tests.pilot import open_new_job
from tests.tui.pilot import until

pytestmark = pytest.mark.timeout(300)
SIZE = (150, 48)

HOSTILE = {
    "empty": "",
    "huge": "x" * 100_000,
    "markup": "[bold red]x[/] [/] [link=file:///etc/passwd]y",
    "control": "a\x1b]0;T\x07\x1b[2J\n\r\t\x00b",
    "unicode": "\u202e日本語🙂\u200b",
    "numbers": "9" * 5000,
    "sweep": "1e-6," * 3000,
    "nan": "nan,inf,-inf,1e999",
}


async def _refused(app, pilot) -> None:
    """ctrl+s, then the notice that the form was refused (every hostile value fails some field)."""
    await pilot.press("ctrl+s")
    await until(
        pilot, lambda: any("fix the fields" in str(n.message) for n in app._notifications) or not app.is_running
    )


def _hits(app) -> list[str]:
    from textual.widgets import OptionList

    if not isinstance(app.screen, CommandPalette):
        return ["closed"]
    opts = app.screen.query_one("CommandList", OptionList)
    return [str(opts.get_option_at_index(i).prompt) for i in range(opts.option_count)]


def _alive(app) -> None:
    assert app.is_running and app._exception is None, app._exception


@pytest.mark.parametrize("value", list(HOSTILE.values()), ids=list(HOSTILE))
async def test_every_new_job_field_takes_a_hostile_value_without_a_crash(registry, value):
    app = ArcApp(source=JobSource(registry))
    async with app.run_test(size=SIZE) as pilot:
        scr = await open_new_job(pilot, app)
        for inp in scr.query("#form-fields Input").results(Input):
            inp.value = value
        await _refused(app, pilot)
        _alive(app)
        assert not scr.submitted


@pytest.mark.parametrize("value", list(HOSTILE.values()), ids=list(HOSTILE))
async def test_every_fork_field_and_its_name_take_a_hostile_value(registry, runs, value):
    app = ArcApp(source=JobSource(registry))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, JobsScreen) and app.screen.query_one("#jobs").row_count == 2)
        app.push_screen(ForkScreen(app.source.view(str(runs / "collapsing")), "checkpoint-20"))
        await until(pilot, lambda: isinstance(app.screen, ForkScreen) and app.screen.query("#p-beta"))
        fork = app.screen
        for inp in fork.query("Input").results(Input):
            inp.value = value
        await _refused(app, pilot)
        _alive(app)
        assert not fork.submitted


@pytest.mark.parametrize("value", list(HOSTILE.values()), ids=list(HOSTILE))
async def test_the_jobs_filter_and_the_palette_take_a_hostile_query(registry, value):
    app = ArcApp(source=JobSource(registry))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, JobsScreen) and app.screen.query_one("#jobs").row_count == 2)
        jobs = app.screen
        for inp in jobs.query("Input").results(Input):
            inp.value = value
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is jobs)
        _alive(app)
        await pilot.press("colon")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        app.screen.query_one(Input).value = value
        await until(pilot, lambda: _hits(app))  # the search ran (a hit, or "No matches found")
        await pilot.press("enter")
        _alive(app)


async def test_the_compare_metric_picker_over_hostile_metric_names(registry, runs):
    rows = [{"step": s, **{name: 0.1 * s for name in HOSTILE.values() if name}} for s in range(1, 4)]
    for run in ("collapsing", "healthy"):
        with open(runs / run / "metrics.jsonl", "a") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    app = ArcApp(source=JobSource(registry))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, JobsScreen) and app.screen.query_one("#jobs").row_count == 2)
        views = [app.source.view(str(runs / r)) for r in ("collapsing", "healthy")]
        app.push_screen(CompareScreen(views))
        await until(pilot, lambda: isinstance(app.screen, CompareScreen) and len(app.screen.metric_names()) > 8)
        scr = app.screen
        seen = set()
        for _ in range(len(scr.metric_names()) + 1):
            await pilot.press("m")
            await pilot.pause()
            seen.add(scr.metric)
            _alive(app)
        assert set(HOSTILE.values()) - {""} <= seen


@pytest.mark.parametrize("field", ["model_path", "dataset"])
@pytest.mark.parametrize(
    "value", [HOSTILE["huge"], HOSTILE["control"], HOSTILE["markup"]], ids=["huge", "control", "markup"]
)
async def test_a_text_field_alone_is_submitted_or_refused_with_a_notice(registry, field, value):
    app = ArcApp(source=JobSource(registry))
    async with app.run_test(size=SIZE) as pilot:
        scr = await open_new_job(pilot, app)
        scr.query_one(f"#p-{field}", Input).value = value
        await pilot.press("ctrl+s")
        await until(pilot, lambda: scr.submitted or app._notifications or not app.is_running)
        _alive(app)
