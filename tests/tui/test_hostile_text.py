"""Text a model or a job wrote, shown by the dashboard: Rich markup in it shows literally (an
`[@click=app.quit]` is no action link, a stray `[/]` breaks nothing) and no terminal escape
sequence (window title, clipboard, cursor moves) reaches the screen."""

from __future__ import annotations

import contextlib
import json
import shutil

import pytest
from textual.widgets import DataTable

from arcctl.tui.app import ArcApp
from arcctl.tui.data import JobSource
from arcctl.tui.screens.compare import CompareScreen
from arcctl.tui.screens.completions import CompletionsScreen
from arcctl.tui.screens.eval_view import EvalScreen
from arcctl.tui.screens.jobs import JobsScreen
from arcctl.tui.screens.run import RunScreen
from tests.tui.conftest import FIXTURES
from tests.tui.pilot import until

pytestmark = pytest.mark.timeout(60)

MARKUP = "[bold red]BIG[/] [link=https://evil.example]L[/link] [@click=app.quit]QUIT[/] [/]"
ESCAPES = "\x1b]0;TITLE\x07\x1b]52;c;Q0xJUA==\x07\x1b[2J\x1b[5;5H\x1b[31mred\x1b[0m"
HOSTILE = f"{MARKUP} {ESCAPES} END"


def screen_text(app) -> tuple[str, list]:
    """What the screen shows now, as the terminal would be sent it, and the styles drawn."""
    strips = app.screen._compositor.render_strips()
    segs = [seg for strip in strips for seg in strip]
    return "\n".join("".join(s.text for s in strip) for strip in strips), [s.style for s in segs if s.style]


def assert_safe(app) -> str:
    text, styles = screen_text(app)
    assert "\x1b" not in text and "\x07" not in text
    assert not [s for s in styles if s.link or "@click" in (s.meta or {})]
    return text


async def shown_on(pilot, app, kind: type, *needles: str) -> str:
    """The screen's text once a KIND screen shows every one of NEEDLES, checked to be safe."""
    await until(pilot, lambda: isinstance(app.screen, kind) and all(n in screen_text(app)[0] for n in needles))
    return assert_safe(app)


async def click_stays(pilot, app, needle: str) -> None:
    """Click the first cell where NEEDLE is drawn (an action link there would run): the app
    keeps running on the same screen."""
    screen = app.screen
    text, _ = screen_text(app)
    y, line = next((y, line) for y, line in enumerate(text.split("\n")) if needle in line)
    await pilot.click(offset=(line.index(needle) + 2, y))
    await pilot.pause(0.1)
    assert app.is_running and app.screen is screen


@contextlib.asynccontextmanager
async def dashboard(screen=None, registry=None):
    """The app, its pilot and its job source; SCREEN(source) is opened over the jobs list."""
    src = JobSource(registry)
    app = ArcApp(source=src)
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.pause(0.2)
        if screen is not None:
            app.push_screen(screen(src))
        yield app, pilot, src


@pytest.fixture
def hostile_run(tmp_path):
    run = tmp_path / "hostile"
    shutil.copytree(FIXTURES / "healthy", run)
    spec = json.loads((run / "spec.json").read_text())
    spec.update(run_dir=str(run), template=HOSTILE, name=f"[@click=app.quit]N[/]{ESCAPES}")
    (run / "spec.json").write_text(json.dumps(spec))
    rec = json.loads((run / "completions.jsonl").read_text().splitlines()[0])
    rec.update(id="9:[/]", step=9, task_id="[b]T[/b]", error=f"[@click=app.quit]E[/]{ESCAPES}", completion=HOSTILE)
    with open(run / "completions.jsonl", "a") as f:
        f.write(json.dumps(rec) + "\n")
    with open(run / "stdout.log", "a") as f:
        f.write(f"{HOSTILE}\n")
    with open(run / "events.jsonl", "a") as f:
        ev = {"event": "collapse_warning", "time": 1.0, "step": 9, "rule": "[@click=app.quit]R[/]"}
        f.write(json.dumps({**ev, "severity": "warning", "message": HOSTILE}) + "\n")
    (run / "eval").mkdir(exist_ok=True)
    pred = {"task_id": "[@click=app.quit]X", "sample": "[/]", "error": HOSTILE}
    (run / "eval" / "predictions.jsonl").write_text(json.dumps(pred) + "\n")
    return run


async def test_run_screen_log_alerts_and_spec_show_hostile_text_literally(hostile_run, arc_home):
    async with dashboard(lambda src: RunScreen(src.view(str(hostile_run)))) as (app, pilot, _):
        # the log tail: markup literal, escape sequences dropped except its colours; the spec
        # panel; the alert's rule (each drawn when its own read has been shown)
        log_line = "[bold red]BIG[/] [link=https://evil.example]L[/link] [@click=app.quit]QUIT[/] [/] red END"
        await shown_on(pilot, app, RunScreen, log_line, "template [bold red]BIG[/]", "[@click=app.quit]R[/]")
        await click_stays(pilot, app, "[@click=app.quit]QUIT")


async def test_completions_inspector_shows_hostile_completion_literally(hostile_run, arc_home):
    async with dashboard(lambda src: CompletionsScreen(src.view(str(hostile_run)), focus_id="9:[/]")) as (
        app,
        pilot,
        _,
    ):
        # table cell and header; the code: markup literal, every escape written out; the header's error
        code = "\\x1b]0;TITLE\\x07\\x1b]52;c;Q0xJUA==\\x07\\x1b[2J\\x1b[5;5H\\x1b[31mred\\x1b[0m END"
        await shown_on(
            pilot, app, CompletionsScreen, "[b]T[/b]", "9:[/]", MARKUP, code, "[@click=app.quit]E[/]\\x1b]0;TITLE"
        )
        t = app.screen.query_one("#comp-table", DataTable)
        assert app.screen.items[t.cursor_row].id == "9:[/]"
        await click_stays(pilot, app, "[@click=app.quit]QUIT")


async def test_eval_view_shows_hostile_predictions_literally(hostile_run, arc_home):
    async with dashboard(lambda src: EvalScreen(src.view(str(hostile_run)))) as (app, pilot, _):
        # the grids' note, the sample and error (cut to 16) cells: each drawn when its read was shown
        await shown_on(
            pilot,
            app,
            EvalScreen,
            "(task [@click=app.quit]X is not in a data set this machine can read",
            " [/] ",
            " [bold red]BIG[/] ",
        )
        await click_stays(pilot, app, "[@click=app.quit]X")


async def test_jobs_list_and_compare_show_a_hostile_run_name_literally(hostile_run, arc_home):
    from jobs.registry import Registry
    from jobs.spec import JobSpec

    reg = Registry()
    reg.set_state(reg.reserve(JobSpec.read(hostile_run)), "completed", exit_code=0)
    name = "[@click=app.quit]N[/]\\x1b]0;TITLE\\x07"
    async with dashboard(registry=reg) as (app, pilot, src):
        await shown_on(pilot, app, JobsScreen, name)
        await click_stays(pilot, app, "[@click=app.quit]N")
        app.push_screen(CompareScreen([src.view(str(hostile_run)), src.view(str(FIXTURES / "collapsing"))]))
        await shown_on(pilot, app, CompareScreen, name, "entropy")
        await click_stays(pilot, app, "[@click=app.quit]N")
    reg.close()


def test_a_label_of_megabytes_is_cut_before_it_is_laid_out():
    from arcctl.tui.shown_text import LABEL_LIMIT, plain

    shown = plain("\x1b]0;T\x07" + "x" * 5_000_000).plain
    assert len(shown) < LABEL_LIMIT + 100 and shown.endswith("more characters]")
    assert "\x1b" not in shown and shown.startswith("\\x1b]0;T\\x07x")
    assert plain("short [b]x[/]").plain == "short [b]x[/]"
