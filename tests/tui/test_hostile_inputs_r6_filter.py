"""Round 6: a regex typed into the jobs screen's `/` filter that backtracks for ever (`(a|aa)+$`
against a long job name) froze the dashboard: the filter ran Python's `re`, which has no timeout,
on the UI thread at every redraw. Now the regex gets a time budget per redraw; past it the filter
is matched as plain text, with a notice and `(as text)` in the status line."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Static

from arcctl.tui.app import ArcApp
from arcctl.tui.data import JobSource
from arcctl.tui.screens.jobs import JobsScreen, matches
from tests.tui.pilot import until

pytestmark = pytest.mark.timeout(90)  # the old code never came back from the filter
SIZE = (150, 48)
EVIL = "(a|aa)+$"


def _add_long_named_job(registry, runs) -> str:
    from jobs.spec import JobSpec

    spec = JobSpec.read(runs / "healthy")
    name = "a" * 40 + "-x"
    spec = spec.model_copy(update={"name": name, "run_dir": str(runs / name)})
    registry.set_state(registry.reserve(spec), "completed", exit_code=0)
    return name


def _names(app) -> list[str]:
    t = app.screen.query_one("#jobs", DataTable)
    return [str(t.get_row_at(i)[1]) for i in range(t.row_count)]


async def test_a_backtracking_filter_regex_is_matched_as_text_with_a_notice(registry, runs):
    long_name = _add_long_named_job(registry, runs)
    app = ArcApp(source=JobSource(registry))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, JobsScreen) and len(_names(app)) == 3)
        await pilot.press("slash", *EVIL, "enter")
        # as text, no row holds "(a|aa)+$": the table empties instead of freezing the app
        await until(pilot, lambda: _names(app) == [])
        status = str(app.screen.query_one("#jobs-status", Static).render())
        assert f"filter: {EVIL} (as text)" in status
        notes = [str(n.message) for n in app._notifications]
        assert any("backtracks" in n and "plain text" in n for n in notes), notes
        # a new, ordinary regex is a regex again
        await pilot.press("slash", "ctrl+a", "ctrl+k", *"^a+-X", "enter")
        await until(pilot, lambda: _names(app) == [long_name])
        assert "(as text)" not in str(app.screen.query_one("#jobs-status", Static).render())


def test_the_filter_keeps_its_regex_inversion_and_text_fallback():
    assert matches("LR1E-0[46]", "grpo-lr1e-04")
    assert not matches("!lr1e-04", "grpo-lr1e-04")
    assert matches("[unclosed", "x [unclosed y")
    assert matches("!(", "no paren here")
