"""Round 6: the compare screen's `?` help did not say what the dimmed `(rolled back)` lines are;
its key list drew `[` as `[[/b]` (the key opened a markup tag), and every help text broke each of
its source lines in two (written ~90 columns wide, shown in a 68-column box)."""

from __future__ import annotations

import pytest
from textual.widgets import Static

from arcctl.tui.app import ArcApp
from arcctl.tui.data import JobSource
from arcctl.tui.screens.compare import CompareScreen
from arcctl.tui.screens.help import HelpScreen
from jobs.runview import RunView
from tests.tui.pilot import until

pytestmark = pytest.mark.timeout(120)


async def test_compare_help_names_the_rolled_back_rows_and_draws_every_key(registry, runs):
    app = ArcApp(source=JobSource(registry))
    async with app.run_test(size=(150, 48)) as pilot:
        app.push_screen(CompareScreen([RunView(str(runs / "healthy")), RunView(str(runs / "collapsing"))]))
        await until(pilot, lambda: isinstance(app.screen, CompareScreen))
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = str(app.screen.query_one("#help-text", Static).render())
        assert "Dimmed lines in a run's colour, '(rolled back)' in the legend" in text
        assert "the rows it wrote after the checkpoint the guard went back to" in text  # one paragraph
        lines = text.splitlines()
        assert "[  less smoothing" in [ln.strip() for ln in lines], lines
        assert "]  more smoothing" in [ln.strip() for ln in lines], lines
        assert not any("[/b]" in ln for ln in lines)
