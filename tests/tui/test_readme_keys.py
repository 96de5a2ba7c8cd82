"""Every dashboard key the README lists, pressed once on the screen it belongs to, with the effect
the README promises. The key list is read from the README itself: a key added there without a
line here fails the first test."""

from __future__ import annotations

import re
from pathlib import Path

from textual.widgets import DataTable, Input

from arcctl.tui.app import ArcApp
from arcctl.tui.data import JobSource
from arcctl.tui.screens.checkpoints import CheckpointsScreen
from arcctl.tui.screens.compare import CompareScreen
from arcctl.tui.screens.completions import CompletionsScreen
from arcctl.tui.screens.confirm import ConfirmScreen
from arcctl.tui.screens.fork import ForkScreen
from arcctl.tui.screens.help import HelpScreen
from arcctl.tui.screens.jobs import JobsScreen
from arcctl.tui.screens.new_job import NewJobScreen
from arcctl.tui.screens.eval_view import EvalScreen
from arcctl.tui.screens.run import MetricPicker, RunScreen
from arcctl.tui.widgets.log_tail import LogTail
from tests.tui.pilot import until


README = Path(__file__).resolve().parents[2] / "README.md"
# README spelling -> what this test presses
COVERED = {
    "/": "slash",
    "!": "exclamation_mark",
    "s": "s",
    "space": "space",
    "o": "o",
    "x": "x",
    "r": "r",
    "f": "f",
    "c": "c",
    "n": "n",
    "m": "m",
    "[": "left_square_bracket",
    "]": "right_square_bracket",
    "e": "e",
    "k": "k",
    "?": "question_mark",
    ":": "colon",
    "esc": "escape",
    "a": "a",
    "M": "M",
    "l": "l",
    "v": "v",
    "p": "p",
    "g": "g",
}
NOT_KEYS = {"arc/"}


def test_every_readme_dashboard_key_is_covered_here():
    section = README.read_text().split("## Dashboard", 1)[1].split("\n## ", 1)[0]
    keys = set(re.findall(r"`([^`]+)`", section)) - NOT_KEYS
    assert keys and keys <= set(COVERED), sorted(keys - set(COVERED))


async def test_each_readme_key_once(registry):
    app = ArcApp(source=JobSource(registry))
    pressed: set[str] = set()

    async def press(key: str) -> None:
        pressed.add(key)
        await pilot.press(key)

    async def opens(key: str, screen: type, back: tuple[str, ...] = ("escape",)) -> None:
        before = app.screen
        await press(key)
        await until(pilot, lambda: isinstance(app.screen, screen))
        for k in back:
            await press(k)
        await until(pilot, lambda: app.screen is before)

    async with app.run_test(size=(150, 48)) as pilot:
        jobs = app.screen
        table = jobs.query_one("#jobs", DataTable)
        await until(pilot, lambda: isinstance(jobs, JobsScreen) and table.row_count == 2)
        # jobs screen
        sort_before = (jobs.sort_key, jobs.sort_reverse)
        await press("s")
        await until(pilot, lambda: (jobs.sort_key, jobs.sort_reverse) != sort_before)
        await press("slash")
        filt = jobs.query_one(Input)
        await until(pilot, lambda: filt.has_focus)
        await pilot.press(*"lr1e-04", "enter")
        await until(pilot, lambda: table.row_count == 1)
        await press("slash")
        await pilot.press("ctrl+a", "ctrl+k")
        await press("exclamation_mark")
        await pilot.press(*"lr1e-04", "enter")
        await until(pilot, lambda: table.row_count == 1 and "lr1e-06" in str(table.get_row_at(0)[1]))
        await press("escape")  # clears the filter
        await until(pilot, lambda: table.row_count == 2)
        await press("a")  # every job shown selected, then unselected
        await until(pilot, lambda: len(jobs.marked) == 2)
        await press("a")
        await until(pilot, lambda: not jobs.marked)
        await press("g")  # these two jobs record no sweep group: nothing selected (a sweep's: test_overlay_chains)
        await until(pilot, lambda: any("no sweep group" in n.message for n in app._notifications))
        assert not jobs.marked
        await press("space")
        await until(pilot, lambda: len(jobs.marked) == 1)
        await opens("o", RunScreen)
        await opens("x", ConfirmScreen, back=("n",))  # asks first; "n" changes nothing
        await opens("r", CheckpointsScreen)
        await opens("f", ForkScreen)
        await press("c")
        await until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.metric_names())
        first = app.screen.metric
        await press("m")  # the overlay's next metric, then back
        await until(pilot, lambda: app.screen.metric != first)
        await press("M")
        await until(pilot, lambda: app.screen.metric == first)
        await press("escape")
        await until(pilot, lambda: app.screen is jobs)
        await opens("n", NewJobScreen)
        await opens("question_mark", HelpScreen)
        await press("colon")
        await until(pilot, lambda: type(app.screen).__name__ == "CommandPalette")
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is jobs)

        # run screen of the collapsing run (it has alerts with example completions)
        await press("slash")
        await pilot.press("ctrl+a", "ctrl+k", *"lr1e-04", "enter", "enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.alerts)
        run = app.screen
        await opens("m", MetricPicker)
        await press("right_square_bracket")
        await until(pilot, lambda: run.smoothing_i == 1)
        await press("left_square_bracket")
        await until(pilot, lambda: run.smoothing_i == 0)
        await opens("c", CompletionsScreen)
        await opens("k", CheckpointsScreen)
        log = run.query_one(LogTail)
        await press("l")  # stdout only
        await until(pilot, lambda: log.mode == "stdout")
        await opens("v", EvalScreen)
        await press("p")  # the side panel folds away (150 columns: shown until then), and back
        await until(pilot, lambda: not run.side_shown())
        await press("p")
        await until(pilot, lambda: run.side_shown())
        await press("e")
        await until(pilot, lambda: isinstance(app.screen, CompletionsScreen) and app.screen.focus_id)
        assert app.screen.focus_id == run.alerts[0].example_ids[0]
        await press("escape")
        await until(pilot, lambda: app.screen is run)
        await press("escape")
        await until(pilot, lambda: app.screen is jobs)
    assert pressed >= set(COVERED.values())
