"""Round 5: a spec.json edited by hand (or written by another tool) with fields of the wrong type.
`"parent": 3` stopped the dashboard with an AttributeError as soon as the run screen drew its spec
panel; `"params": "model_path"` (a string holding a parameter's name) and `"kind": []` did the same
in the completions, eval and fork screens. Each is shown as far as it can be read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from arcctl.tui.app import ArcApp
from arcctl.tui.screens.checkpoints import CheckpointsScreen
from arcctl.tui.screens.fork import ForkScreen
from arcctl.tui.screens.run import RunScreen
from tests.tui.pilot import until

pytestmark = pytest.mark.timeout(120)
FIXTURES = Path(__file__).parent / "fixtures" / "runs"


@pytest.mark.parametrize(
    "changes",
    [
        {"parent": 3},
        {"parent": [1, 2], "resume_from": "x"},
        {"params": "model_path dataset max_completion_length"},
        {"params": [1], "kind": []},
        {"kind": "nosuch", "name": 5},
        {"kind": {"a": 1}, "parent": {"name": ["[/]"], "checkpoint": 7}},
    ],
)
async def test_a_spec_with_fields_of_the_wrong_type_never_stops_the_dashboard(arc_home, tmp_path, changes):
    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "collapsing", run)
    spec = {**json.loads((run / "spec.json").read_text()), "run_dir": str(run), **changes}
    (run / "spec.json").write_text(json.dumps(spec))
    app = ArcApp(run_dir=str(run), refresh_s=0.05)
    async with app.run_test(size=(140, 44)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.view.spec_read)
        await pilot.pause(0.3)  # the spec panel is drawn from the first refresh
        assert "run dir:" in str(app.screen.query_one("#spec-panel").render())
        for key in ("c", "escape", "v", "escape", "f"):
            await pilot.press(key)
            await pilot.pause(0.3)
            assert app.is_running, key
        await until(pilot, lambda: isinstance(app.screen, CheckpointsScreen) and app.screen.query("DataTable"))
        await pilot.pause(0.3)  # the checkpoints are listed
        await pilot.press("f")  # fork from the newest
        await until(pilot, lambda: isinstance(app.screen, ForkScreen))
        await pilot.pause(0.2)
        assert app.is_running


@pytest.mark.parametrize("expr", ["r>1.2.3", "r<."])
async def test_a_completions_filter_that_is_no_number_is_searched_as_text(arc_home, tmp_path, expr):
    """`r>1.2.3` matched the reward-range pattern and float() of it stopped the dashboard."""
    from textual.widgets import Input

    from arcctl.tui.screens.completions import CompletionsScreen

    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "collapsing", run)
    app = ArcApp(run_dir=str(run), refresh_s=0.05)
    async with app.run_test(size=(140, 44)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, CompletionsScreen) and app.screen.query("#comp-filter"))
        await pilot.press("slash")
        app.screen.query_one("#comp-filter", Input).value = expr
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert app.is_running and isinstance(app.screen, CompletionsScreen)
        assert app.screen.expr.strip() == expr


async def test_metric_names_holding_markup_are_charted_and_listed_literally(arc_home, tmp_path):
    """A key of metrics.jsonl is any string: `[/]` in one stopped the dashboard when the chart
    picker (`m`) listed it. A run that logs only such names charts them by name."""
    from textual.widgets import SelectionList

    from arcctl.tui.screens.run import MetricPicker

    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "collapsing", run)
    names = ["[/]loss", "[@click=app.quit]q[/]", "a\nb\x1b]0;t\x07"]
    with open(run / "metrics.jsonl", "w") as f:
        for step in range(1, 30):
            f.write(json.dumps({"step": step, **{n: step * 0.1 for n in names}}) + "\n")
    app = ArcApp(run_dir=str(run), refresh_s=0.05)
    async with app.run_test(size=(140, 44)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.view.metrics.names())
        await pilot.pause(0.5)  # the charts of those names are drawn
        assert app.is_running
        await pilot.press("m")
        await until(pilot, lambda: isinstance(app.screen, MetricPicker))
        await pilot.pause(0.3)
        sel = app.screen.query_one(SelectionList)
        prompts = [str(sel.get_option_at_index(i).prompt) for i in range(sel.option_count)]
        assert "[/]loss" in prompts and "[@click=app.quit]q[/]" in prompts and "a\\nb\\x1b]0;t\\x07" in prompts
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert app.is_running and isinstance(app.screen, RunScreen)


async def test_a_run_name_holding_markup_is_asked_about_literally(arc_home, tmp_path):
    """The resume question quoted the run's name (spec.json) inside markup: `[/]` in it stopped
    the dashboard when `r` was pressed on the checkpoints screen."""
    from arcctl.tui.screens.checkpoints import CheckpointsScreen as Checkpoints
    from arcctl.tui.screens.confirm import ConfirmScreen

    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "collapsing", run)
    spec = {**json.loads((run / "spec.json").read_text()), "run_dir": str(run), "name": "[/]x[@click=app.quit]q"}
    (run / "spec.json").write_text(json.dumps(spec))
    app = ArcApp(run_dir=str(run), refresh_s=0.05)
    async with app.run_test(size=(140, 44)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.view.spec_read)
        await pilot.press("k")
        await until(pilot, lambda: isinstance(app.screen, Checkpoints) and app.screen.query("DataTable"))
        await pilot.pause(0.3)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.pause(0.2)
        assert app.is_running
        assert "Resume [/]x[@click=app.quit]q in place from checkpoint-" in str(
            app.screen.query_one("#confirm-question").render()
        )
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, Checkpoints))
