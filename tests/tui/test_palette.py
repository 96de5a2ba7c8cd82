"""The `:` command palette lists the actions of the screen it was opened on, and running a hit runs
the action on that screen (the palette is a screen itself: reading `app.screen` would list its own
bindings and find nothing)."""

from __future__ import annotations

import pytest
from textual.command import CommandPalette

from arcctl.tui.app import ArcApp, ScreenCommands
from arcctl.tui.data import JobSource
from arcctl.tui.screens.completions import CompletionsScreen
from arcctl.tui.screens.checkpoints import CheckpointsScreen
from arcctl.tui.screens.jobs import JobsScreen
from arcctl.tui.screens.run import RunScreen
from tests.tui.pilot import until


pytestmark = pytest.mark.timeout(120)
SIZE = (150, 48)


def palette_hits(app) -> list[str]:
    from textual.widgets import OptionList

    opts = app.screen.query_one("CommandList", OptionList)
    return [str(opts.get_option_at_index(i).prompt) for i in range(opts.option_count)]


async def run_from_palette(app, pilot, text: str, first: str) -> list[str]:
    """Type TEXT in the palette, wait for FIRST to head the hits (they arrive and are ranked as
    the search runs), and run it."""
    await pilot.press("colon")
    await until(pilot, lambda: isinstance(app.screen, CommandPalette))
    await pilot.press(*text)
    await until(pilot, lambda: palette_hits(app) and palette_hits(app)[0].startswith(first))
    hits = palette_hits(app)
    await pilot.press("enter")
    return hits


async def test_palette_lists_the_screen_actions_on_every_screen(registry):
    app = ArcApp(source=JobSource(registry))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, JobsScreen) and app.screen.query_one("#jobs").row_count == 2)
        jobs_screen = app.screen
        listed = [d for d, _, _ in ScreenCommands(jobs_screen)._commands()]
        assert {"open", "fork", "compare", "new job", "cancel", "help"} <= set(listed)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        listed = [d for d, _, _ in ScreenCommands(app.screen)._commands()]
        assert {"completions", "checkpoints", "fork", "alert example", "help"} <= set(listed)
        assert "open" not in listed  # not the jobs screen's actions


async def test_typing_an_action_finds_and_runs_it(registry):
    app = ArcApp(source=JobSource(registry))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, JobsScreen) and app.screen.query_one("#jobs").row_count == 2)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        hits = await run_from_palette(app, pilot, "completions", "completions  (c)")
        assert "No matches found" not in " ".join(hits)
        await until(pilot, lambda: isinstance(app.screen, CompletionsScreen))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        await run_from_palette(app, pilot, "fork", "fork  (f)")
        await until(pilot, lambda: isinstance(app.screen, CheckpointsScreen))  # fork starts by choosing a checkpoint
