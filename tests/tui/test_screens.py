"""Pilot-driven functional tests: every screen and action against real run dirs and a real registry."""

from __future__ import annotations

import json

import pytest
from textual.widgets import DataTable, Input, OptionList, Static

from arcctl.tui.app import ArcApp
from arcctl.tui.data import JobSource
from arcctl.tui.screens.checkpoints import CheckpointsScreen
from arcctl.tui.screens.completions import CompletionsScreen
from arcctl.tui.screens.confirm import ConfirmScreen
from arcctl.tui.screens.fork import ForkScreen
from arcctl.tui.screens.help import HelpScreen
from arcctl.tui.screens.jobs import JobsScreen
from arcctl.tui.screens.new_job import NewJobScreen
from arcctl.tui.screens.run import RunScreen
from arcctl.tui.widgets.charts import MetricChart
from tests.pilot import open_new_job
from tests.tui.pilot import until


pytestmark = pytest.mark.timeout(120)
SIZE = (150, 48)


def app_for(registry, readonly=False) -> ArcApp:
    return ArcApp(readonly=readonly, source=JobSource(registry))


def names(app) -> list[str]:
    t = app.screen.query_one("#jobs", DataTable)
    return [str(t.get_row_at(i)[1]) for i in range(t.row_count)]


async def test_jobs_table_lists_registry_jobs_and_filters(registry):
    app = app_for(registry)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, JobsScreen) and len(names(app)) == 2)
        t = app.screen.query_one("#jobs", DataTable)
        row = {str(t.get_row_at(i)[1]): t.get_row_at(i) for i in range(2)}["grpo-tiny-lr1e-04-rp1.02"]
        assert row[5] == "70" and row[6] == "0.195"  # step and last reward from metrics.jsonl
        assert "critical" in str(row[8]) or "warning" in str(row[8])  # alerts column
        await pilot.press("slash")
        await pilot.press(*"lr1e-04", "enter")
        await until(pilot, lambda: names(app) == ["grpo-tiny-lr1e-04-rp1.02"])
        await pilot.press("slash", "ctrl+a", "ctrl+k")  # clear, then an inverted regex
        await pilot.press(*"!lr1e-0[4]", "enter")
        await until(pilot, lambda: names(app) == ["grpo-tiny-lr1e-06-rp1.02"])
        await pilot.press("escape")
        await until(pilot, lambda: len(names(app)) == 2)
        await pilot.press("space")  # multi-select marks the row and moves down
        await until(pilot, lambda: len(app.screen.marked) == 1)


async def test_sort_cycles_columns(registry):
    app = app_for(registry)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(names(app)) == 2)
        first = names(app)
        await pilot.press("s")  # name descending
        await until(pilot, lambda: names(app) == first[::-1])
        await pilot.press("s", "s", "s")  # state asc, state desc, then step asc
        await until(pilot, lambda: app.screen.sort_key == "step" and not app.screen.sort_reverse)


async def test_open_run_charts_alerts_and_alert_example(registry):
    app = app_for(registry)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(names(app)) == 2)
        await pilot.press("slash", *"lr1e-04", "enter", "enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        scr = app.screen
        await until(pilot, lambda: all(c.points > 0 for c in scr.query(MetricChart)) and scr.alerts)
        assert [c.metric for c in scr.query(MetricChart)] == ["reward", "kl", "completions/clipped_ratio", "entropy"]
        assert scr.query_one("#alerts", OptionList).option_count >= 1
        assert "forked" not in str(scr.query_one("#spec-panel", Static).render())
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: scr.smoothing_i == 1)
        await pilot.press("e")  # the completion that triggered the first alert
        await until(pilot, lambda: isinstance(app.screen, CompletionsScreen) and app.screen.items)
        comp = app.screen
        t = comp.query_one("#comp-table", DataTable)
        assert comp.items[t.cursor_row].id == "46:0"
        code = str(comp.query_one("#comp-code", Static).render())
        assert "cut here" in code and "in a pattern" in code
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, RunScreen))


async def test_completions_filters(registry, runs):
    app = app_for(registry)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(names(app)) == 2)
        from jobs.runview import RunView

        app.push_screen(CompletionsScreen(RunView(str(runs / "collapsing"))))
        await until(pilot, lambda: isinstance(app.screen, CompletionsScreen) and len(app.screen.items) == 50)
        scr = app.screen
        await pilot.press("t")  # truncated only
        await until(pilot, lambda: scr.items and all(c.truncated for c in scr.items))
        await pilot.press("t", "b")  # best first
        await until(pilot, lambda: scr.items and scr.items[0].reward == 0.75 and not scr.flt.truncated_only)
        await pilot.press("slash", "ctrl+a", "ctrl+k", *"task:00d62c1b r<=0.3", "enter")
        await until(pilot, lambda: scr.items and all(c.task == "00d62c1b" and c.reward <= 0.3 for c in scr.items))
        await pilot.press("g", *"46", "enter")
        await until(pilot, lambda: scr.items and {c.step for c in scr.items} == {46})
        await pilot.press("N")  # one page only: stays
        assert len(scr.page_starts) == 1


async def test_pick_checkpoint_then_fork_with_edited_parameter(registry, runs):
    app = app_for(registry)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(names(app)) == 2)
        await pilot.press("slash", *"lr1e-04", "enter", "enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        await pilot.press("k")
        await until(pilot, lambda: isinstance(app.screen, CheckpointsScreen) and app.screen.rows)
        ck = app.screen
        assert ck.healthy == "checkpoint-40"  # newest valid before the first warning (step 45)
        ck.query_one("#ck-table", DataTable)  # the table is mounted
        await pilot.press("down")  # checkpoint-60 is torn: refused with its reason
        await pilot.press("f")
        assert isinstance(app.screen, CheckpointsScreen)
        await pilot.press("up", "enter")  # enter (or f) forks from the highlighted checkpoint
        await until(pilot, lambda: isinstance(app.screen, ForkScreen))
        fork = app.screen
        assert fork.checkpoint == "checkpoint-40"
        inp = fork.query_one("#p-repetition_penalty", Input)
        assert inp.value == "1.02"
        inp.value = "1.05"
        await until(pilot, lambda: fork.spec is not None and fork.spec.params["repetition_penalty"] == 1.05)
        preview = str(fork.query_one("#preview", Static).render())
        assert "1.02 → 1.05" in preview and fork.spec.name in preview
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, ForkScreen))
        assert fork.submitted
        new = json.loads((runs / fork.spec.name / "spec.json").read_text())
        assert new["params"]["repetition_penalty"] == 1.05
        assert new["parent"]["run_dir"] == str(runs / "collapsing") and new["parent"]["checkpoint"] == "checkpoint-40"
        assert registry.get(fork.submitted[0]).name == fork.spec.name


async def test_fork_form_rejects_bad_value_inline(registry):
    app = app_for(registry)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(names(app)) == 2)
        app.push_screen(
            ForkScreen(app.source.view(str(registry.get("grpo-tiny-lr1e-04-rp1.02").run_dir)), "checkpoint-20")
        )
        await until(pilot, lambda: isinstance(app.screen, ForkScreen) and app.screen.query("#p-beta"))
        fork = app.screen
        fork.query_one("#p-beta", Input).value = "-1"
        err = fork.query_one("#err-beta", Static)
        await until(pilot, lambda: "greater than or equal to 0" in str(err.render()))
        assert not err.has_class("hidden")
        await pilot.press("ctrl+s")  # refused, and says why
        await until(pilot, lambda: any("fix the fields marked in red" in n.message for n in app._notifications))
        assert isinstance(app.screen, ForkScreen) and not fork.submitted


async def test_new_job_validation_errors_and_sweep_preview(registry):
    app = app_for(registry)
    async with app.run_test(size=SIZE) as pilot:
        scr = await open_new_job(pilot, app)
        lr = scr.query_one("#p-learning_rate", Input)
        lr.value = "abc"
        await until(pilot, lambda: "learning_rate" in str(scr.query_one("#err-learning_rate", Static).render()))
        scr.query_one("#p-num_generations", Input).value = "1"
        await until(
            pilot, lambda: "greater than or equal to 2" in str(scr.query_one("#err-num_generations", Static).render())
        )
        await pilot.press("ctrl+s")  # refused, and says why
        await until(pilot, lambda: any("fix the fields marked in red" in n.message for n in app._notifications))
        assert isinstance(app.screen, NewJobScreen) and not scr.submitted
        scr.query_one("#p-num_generations", Input).value = "4"
        lr.value = "1e-6,2e-6"
        scr.query_one("#p-model_path", Input).value = "models/tiny"
        scr.query_one("#p-dataset", Input).value = "arc1/train"
        await until(pilot, lambda: len(scr.specs) == 2)
        preview = str(scr.query_one("#preview", Static).render())
        assert "2 runs (sweep)" in preview
        assert {s.params["learning_rate"] for s in scr.specs} == {1e-6, 2e-6}
        await pilot.press("ctrl+s")  # submit the sweep: two registry jobs, each with its spec.json
        await until(pilot, lambda: not isinstance(app.screen, NewJobScreen))
        jobs = [registry.get(j) for j in scr.submitted]
        assert len(jobs) == 2
        assert sorted(json.loads(open(f"{j.run_dir}/spec.json").read())["params"]["learning_rate"] for j in jobs) == [
            1e-6,
            2e-6,
        ]


async def test_readonly_disables_state_changes(registry):
    app = app_for(registry, readonly=True)
    before = [(j.id, j.state, j.restarts) for j in registry.list()]

    def said(what: str) -> bool:
        return any(f"{what} is disabled" in n.message for n in app._notifications)

    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(names(app)) == 2)
        # each key reaches its action, which refuses with its own message (not just "nothing opened")
        for key, what in (("x", "cancel"), ("r", "resume"), ("f", "fork"), ("n", "new job")):
            await pilot.press(key)
            await until(pilot, lambda: said(what))
            assert isinstance(app.screen, JobsScreen), key
        app.clear_notifications()
        await pilot.press("slash", *"lr1e-04", "enter", "enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        await pilot.press("k")
        await until(pilot, lambda: isinstance(app.screen, CheckpointsScreen) and app.screen.rows)
        for key, what in (("r", "resume"), ("f", "fork")):
            await pilot.press(key)
            await until(pilot, lambda: said(what))
            assert isinstance(app.screen, CheckpointsScreen), key
    assert [(j.id, j.state, j.restarts) for j in registry.list()] == before


async def test_cancel_asks_first(registry):
    app = app_for(registry)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(names(app)) == 2)
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, JobsScreen))
        await pilot.press("x", "y")  # the job has finished: a clear message, no crash
        await until(pilot, lambda: any("already completed" in n.message for n in app._notifications))


async def test_help_on_every_screen_and_palette(registry):
    app = app_for(registry)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(names(app)) == 2)
        for opener, screen in (([], JobsScreen), (["enter"], RunScreen), (["c"], CompletionsScreen)):
            await pilot.press(*opener)
            await until(pilot, lambda: isinstance(app.screen, screen))
            under = app.screen
            await pilot.press("question_mark")
            await until(pilot, lambda: isinstance(app.screen, HelpScreen) and app.screen.under is under)
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is under)
        await pilot.press("escape", "escape")
        await until(pilot, lambda: isinstance(app.screen, JobsScreen))
        await pilot.press("colon")
        await until(pilot, lambda: type(app.screen).__name__ == "CommandPalette")


async def test_compare_selected_runs_with_eval_table_and_pass_at_k(registry):
    from arcctl.tui.screens.compare import CompareScreen

    app = app_for(registry)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(names(app)) == 2)
        await pilot.press("space", "space", "c")  # select both, compare
        await until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.eval_table is not None)
        scr = app.screen
        t = scr.query_one("#cmp-table", DataTable)
        reward = next(t.get_row_at(i) for i in range(t.row_count) if str(t.get_row_at(i)[0]) == "reward")
        bold = [float(str(c)) for c in reward[1:] if c.style == "bold"]
        assert bold == [max(float(str(c)) for c in reward[1:])] and bold[0] > 0.6  # the healthy run
        table = scr.eval_table
        healthy = [r.label for r in table.rows].index("healthy")
        assert healthy in table.best["is_correct"] and table.rows[healthy].pass_at_k["8"] == 0.25
        assert scr.query_one("#cmp-eval-table", DataTable).row_count == 2
