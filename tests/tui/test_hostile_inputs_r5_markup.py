"""Round 5: what the user types into the dashboard's forms comes back in its messages. A value
like `[/]` or `[@click=app.quit]x[/]` in a parameter field was shown by the field's error line and
the submit error as markup: `[/]` with nothing to close stopped the dashboard with a MarkupError;
a click action became a live link. They are shown literally now."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Static

from arcctl.tui.screens.new_job import NewJobScreen
from tests.pilot import open_new_job, until
from tests.tui.test_screens import SIZE, app_for

pytestmark = pytest.mark.timeout(120)

HOSTILE = ["[/]", "[@click=app.quit]x[/]", "[bold red]x", "\x1b]0;t\x07[/b]"]


@pytest.mark.parametrize("value", HOSTILE)
async def test_a_parameter_value_with_markup_is_shown_literally_in_its_error(registry, value):
    app = app_for(registry)
    async with app.run_test(size=SIZE) as pilot:
        scr = await open_new_job(pilot, app)
        scr.query_one("#p-learning_rate", Input).value = value
        err = scr.query_one("#err-learning_rate", Static)
        shown = value.replace("\x1b", "\\x1b").replace("\x07", "\\x07")
        await until(pilot, lambda: shown in str(err.render()))
        assert "learning_rate" in str(err.render()) and "\x1b" not in str(err.render())
        await pilot.pause(0.2)
        assert app.is_running and isinstance(app.screen, NewJobScreen)


@pytest.mark.parametrize("value", HOSTILE[:2])
async def test_a_submit_error_quoting_markup_is_shown_literally(registry, value):
    """An error the form's own checks let through (a data set that is not on this machine) is
    raised by the submit, in a worker, and shown as a notification."""
    app = app_for(registry)
    async with app.run_test(size=SIZE) as pilot:
        scr = await open_new_job(pilot, app, "dataset")
        scr.query_one("#p-model_path", Input).value = "models/tiny"
        scr.query_one("#p-dataset", Input).value = f"/nonexistent/{value}"
        await pilot.pause(0.3)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: any(value in n.message for n in app._notifications), timeout=30)
        note = next(n for n in app._notifications if value in n.message)
        assert not note.markup
        await pilot.pause(0.3)  # the toast is drawn
        assert app.is_running and isinstance(app.screen, NewJobScreen)
