"""Round 6: a step typed on the completions screen. `²` and `٣` pass str.isdigit, and int()
refuses `²` (and any number past 4300 digits): `step:²` in the filter, or `²` after `g` (go to
step), raised out of the input handler and closed the dashboard with a traceback."""

from __future__ import annotations

import pytest

from arcctl.tui.app import ArcApp
from arcctl.tui.data import JobSource
from arcctl.tui.screens.completions import CompletionsScreen, parse_filter
from jobs.runview import RunView
from tests.tui.pilot import until

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize(
    "typed", ["²", "9" * 5000, "١٢", "1e3"], ids=["superscript", "5000-digits", "arabic-indic", "exponent"]
)
async def test_a_step_that_is_no_number_is_a_notice_not_a_crash(registry, runs, typed):
    app = ArcApp(source=JobSource(registry))
    async with app.run_test(size=(150, 48)) as pilot:
        app.push_screen(CompletionsScreen(RunView(str(runs / "collapsing"))))
        await until(pilot, lambda: isinstance(app.screen, CompletionsScreen) and len(app.screen.items) == 50)
        scr = app.screen
        scr.query_one("#comp-filter").value = ""
        await pilot.press("g")
        scr.query_one("#comp-filter").value = typed
        await pilot.press("enter")
        await until(pilot, lambda: any("not a step number" in str(n.message) for n in app._notifications))
        assert scr.flt.step is None and len(scr.items) == 50  # the listing as it was
        await pilot.press("slash", "ctrl+a", "ctrl+k")
        scr.query_one("#comp-filter").value = f"step:{typed}"
        await pilot.press("enter")
        await until(pilot, lambda: scr.flt.text == f"step:{typed}")  # searched as text
        await pilot.press("g", *"46", "enter")  # a real step still goes there
        await until(pilot, lambda: scr.items and {c.step for c in scr.items} == {46})
        assert app.is_running


def test_step_words_in_the_filter():
    assert parse_filter("step:120").step == 120
    assert parse_filter("step:-1").step == -1
    assert parse_filter("step:²").step is None and parse_filter("step:²").text == "step:²"
    assert parse_filter("step:" + "9" * 19).step is None
