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


async def run_from_palette(app, pilot, text: str, first: str, key: str = "colon") -> list[str]:
    """Type TEXT in the palette (opened with KEY), wait for FIRST to head the hits (they arrive and
    are ranked as the search runs), and run it."""
    await pilot.press(key)
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


def composed(ready, screen) -> bool:
    """READY(screen), False while the screen's widgets are still being mounted."""
    from textual.css.query import NoMatches

    try:
        return bool(ready(screen))
    except NoMatches:
        return False


def all_screens() -> set[type]:
    """Every screen class of the app that a user lands on (modal dialogs excepted: they answer one
    question and take no palette)."""
    from arcctl.tui.screens.base import ArcScreen

    out, todo = set(), [ArcScreen]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            todo.append(sub)
            out.add(sub)
    # the two bases and the form base only share code: no screen of their own
    return {c for c in out if c.__name__ not in ("SubScreen", "FormScreen")}


@pytest.mark.timeout(300)  # nine screens opened in turn on a loaded 2-core machine
async def test_every_screen_lists_and_runs_its_own_actions_from_the_palette(registry):
    """On each screen, `:` lists that screen's own actions (every described key binding, plus help)
    and typing one of them runs it there: the palette is checked on every screen, not two."""
    from textual.widgets import DataTable, Static

    from arcctl.tui.screens.base import described_bindings
    from arcctl.tui.screens.compare import CompareScreen
    from arcctl.tui.screens.eval_view import EvalScreen
    from arcctl.tui.screens.fork import ForkScreen
    from arcctl.tui.screens.her import HERScreen
    from arcctl.tui.screens.new_job import NewJobScreen

    run_dir = str(registry.get("grpo-tiny-lr1e-04-rp1.02").run_dir)
    app = ArcApp(source=JobSource(registry))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, JobsScreen) and app.screen.query_one("#jobs").row_count == 2)
        jobs = app.screen
        view = app.source.view(run_dir)
        views = [app.source.view(r.run_dir) for r in jobs.rows]

        def preview_cleared(scr):
            scr.query_one("#preview", Static).update("")
            return lambda: str(scr.query_one("#preview", Static).render()).strip() != ""

        # screen -> (how to open it, when it is ready, the text to type, the hit it heads, what running it did)
        cases = {
            JobsScreen: (None, lambda s: True, "sort", "sort  (s)", lambda s: lambda: s.sort_reverse),
            RunScreen: (
                lambda: RunScreen(view),
                lambda s: s.view.metrics.steps is not None,
                "checkpoints",
                "checkpoints  (k)",
                lambda s: lambda: isinstance(app.screen, CheckpointsScreen),
            ),
            CompletionsScreen: (
                lambda: CompletionsScreen(view),
                lambda s: bool(s.items),
                "truncated only",
                "truncated only  (t)",
                lambda s: lambda: "trunc" in s.expr.split(),
            ),
            CheckpointsScreen: (
                lambda: CheckpointsScreen(view),
                lambda s: bool(s.rows),
                "fork from it",
                "fork from it",
                lambda s: lambda: isinstance(app.screen, ForkScreen),
            ),
            CompareScreen: (
                lambda: CompareScreen(views),
                lambda s: getattr(s, "_eval_status", None) is not None,
                "next metric",
                "next metric  (m)",
                lambda s: lambda: s.metric != "reward",
            ),
            EvalScreen: (
                lambda: EvalScreen(view),
                lambda s: str(s.query_one("#eval-status", Static).render()) != "",  # read (none here)
                "back",
                "back  (escape)",
                lambda s: lambda: app.screen is jobs,
            ),
            ForkScreen: (
                lambda: ForkScreen(view, "checkpoint-20"),
                lambda s: s.spec is not None,
                "preview",
                "preview  (ctrl+r)",
                preview_cleared,
            ),
            NewJobScreen: (
                lambda: NewJobScreen(),
                lambda s: bool(s.query("#form-fields")) and bool(s.specs),
                "dry-run preview",
                "dry-run preview  (ctrl+r)",
                preview_cleared,
            ),
            HERScreen: (
                lambda: HERScreen(view),
                lambda s: s.query_one("#her-targets", DataTable).has_focus,
                "targets/epochs",
                "targets/epochs  (tab)",
                lambda s: lambda: s.query_one("#her-epochs", DataTable).has_focus,
            ),
        }
        assert set(cases) == all_screens()  # a new screen must be added here
        for cls, (make, ready, text, first, effect) in cases.items():
            if make is not None:
                app.push_screen(make())
            await until(pilot, lambda: isinstance(app.screen, cls) and composed(ready, app.screen))
            screen = app.screen
            wanted = {
                f"{b.description}  ({b.key_display or b.key.split(',')[0]})"
                for b in described_bindings(screen)
                if b.action not in ("command_palette", "quit")
            }
            assert "help  (?)" in wanted
            # ctrl+p: on a form the focused field takes `:` as text; opened empty, the palette lists them all
            await pilot.press("ctrl+p")
            await until(
                pilot,
                lambda: (
                    isinstance(app.screen, CommandPalette)
                    and wanted <= {h.split("\n")[0] for h in palette_hits(app)}  # a hit: prompt, then help line
                ),
            )
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is screen)
            done = effect(screen)
            hits = await run_from_palette(app, pilot, text, first, key="ctrl+p")
            assert "No matches found" not in " ".join(hits), cls
            await until(pilot, done)
            while not isinstance(app.screen, JobsScreen):  # back to the jobs screen for the next one
                await pilot.press("escape")
                await until(pilot, lambda: not isinstance(app.screen, CommandPalette))
