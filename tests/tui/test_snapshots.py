"""Snapshot tests (pytest-textual-snapshot): the screens over the committed, hand-written run dirs.
No clocks: ages are blank and every number comes from the fixture files. Update after a deliberate
change with `pytest tests/tui/test_snapshots.py --snapshot-update` and review the SVGs."""

from __future__ import annotations

from pathlib import Path

import pytest

from arcctl.tui.app import ArcApp
from arcctl.tui.data import JobSource
from jobs.runview import RunView
from tests.tui.pilot import comparing_two, overlay_drawn, settle, steady_cursors

pytestmark = pytest.mark.timeout(120)
FIXTURES = Path(__file__).parent / "fixtures"
SIZE = (150, 40)


class FixedSource(JobSource):
    """The two fixture runs, without ages (those depend on today's date)."""

    def rows(self):
        rows = super().rows()
        for r in rows:
            r.created = None
        return rows


@pytest.fixture
def in_fixtures(monkeypatch, arc_home):
    monkeypatch.chdir(FIXTURES)  # run dirs show as runs/<name>, the same on every machine


def make_app() -> ArcApp:
    return ArcApp(source=FixedSource(None, ["runs/collapsing", "runs/healthy"]))


def test_jobs_screen(snap_compare, in_fixtures):
    app = make_app()

    async def ready(pilot):
        await settle(pilot, lambda: app.screen.query_one("#jobs").row_count == 2)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


async def open_collapsing_run(app, pilot) -> None:
    """From the jobs screen: enter on the first row (runs/collapsing), wait for its alerts."""
    from arcctl.tui.screens.run import RunScreen

    await settle(pilot, lambda: app.screen.query_one("#jobs").row_count == 2)
    await pilot.press("enter")
    await settle(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.alerts)


def test_run_screen(snap_compare, in_fixtures):
    app = make_app()
    assert snap_compare(app, terminal_size=SIZE, run_before=lambda pilot: open_collapsing_run(app, pilot))


def test_run_screen_narrow(snap_compare, in_fixtures):
    """100 columns: the side panel collapsed, the charts take its width, `:`, `?` and `q` stay in the footer."""
    app = make_app()
    assert snap_compare(app, terminal_size=(100, 40), run_before=lambda pilot: open_collapsing_run(app, pilot))


def test_completions_at_alert_example(snap_compare, in_fixtures):
    app = make_app()

    async def ready(pilot):
        from arcctl.tui.screens.completions import CompletionsScreen

        await open_collapsing_run(app, pilot)
        await pilot.press("e")
        await settle(
            pilot,
            lambda: (
                isinstance(app.screen, CompletionsScreen)
                and app.screen.items
                and getattr(app.screen.query_one("#comp-grids"), "pairs", None)
            ),
        )  # the task's grids

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_checkpoints_screen(snap_compare, in_fixtures):
    app = make_app()

    async def ready(pilot):
        from arcctl.tui.screens.checkpoints import CheckpointsScreen

        await settle(pilot, lambda: app.screen.query_one("#jobs").row_count == 2)
        app.push_screen(CheckpointsScreen(RunView("runs/collapsing")))
        await settle(pilot, lambda: isinstance(app.screen, CheckpointsScreen) and app.screen.rows)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_compare_overlay_with_a_fork_chain(snap_compare, in_fixtures, tmp_path):
    """A fork of runs/healthy from checkpoint-20 (its own rows from step 21) next to runs/collapsing:
    the fork's line runs through its parent's first 20 steps; legends name the learning rates."""
    import json

    from arcctl.tui.screens.compare import CompareScreen

    fork = tmp_path / "fork"
    fork.mkdir()
    spec = json.loads((FIXTURES / "runs" / "healthy" / "spec.json").read_text())
    spec.update(
        name="healthy-fork20-lr5e-7",
        run_dir=str(fork),
        parent={"run_dir": "runs/healthy", "checkpoint": "checkpoint-20", "name": spec["name"]},
    )
    spec["params"]["learning_rate"] = 5e-7
    (fork / "spec.json").write_text(json.dumps(spec))
    (fork / "metrics.jsonl").write_text(
        "".join(
            json.dumps({"step": s, "time": 1767226000.0 + 10 * s, "reward": round(0.45 + 0.004 * (s - 20), 4)}) + "\n"
            for s in range(21, 61)
        )
    )
    app = make_app()

    async def ready(pilot):
        await settle(pilot, lambda: app.screen.query_one("#jobs").row_count == 2)
        app.push_screen(CompareScreen([RunView(str(fork)), RunView("runs/collapsing")]))
        await settle(pilot, lambda: comparing_two(app) and getattr(app.screen, "_eval_status", None) is not None)
        await app.workers.wait_for_complete()
        await settle(pilot, lambda: overlay_drawn(app, [60.0, 70.0]))  # both runs' last rows drawn

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_completions_with_arc_grids(snap_compare, in_fixtures, tmp_path):
    """The inspector on a completion wrong on one pair: the task's pairs and the program's outputs
    as coloured cells, pixel score per pair, the failing pair marked."""
    from tests.tui.test_arc_grids import write_run

    run = write_run(tmp_path)
    app = make_app()

    async def ready(pilot):
        from arcctl.tui.screens.completions import CompletionsScreen
        from arcctl.tui.widgets.arc_grid import PairsView

        await settle(pilot, lambda: app.screen.query_one("#jobs").row_count == 2)
        app.push_screen(CompletionsScreen(RunView(str(run))))
        await settle(pilot, lambda: isinstance(app.screen, CompletionsScreen) and app.screen.items)
        await pilot.press("down")
        await settle(
            pilot,
            lambda: (
                getattr(app.screen.query_one(PairsView), "pairs", None)
                and app.screen.query_one(PairsView).pairs[2][1] != app.screen.query_one(PairsView).pairs[0][1][1]
            ),
        )

    assert snap_compare(app, terminal_size=(150, 56), run_before=ready)


def test_eval_view_with_a_failing_prediction(snap_compare, in_fixtures, tmp_path):
    """The eval view (`v`) on the prediction wrong on its test grid: the task's pairs against the
    program's outputs, the failing pair marked, the pixel score."""
    from tests.tui.test_arc_grids import write_eval_run

    run = write_eval_run(tmp_path)
    app = make_app()

    async def ready(pilot):
        from arcctl.tui.screens.eval_view import EvalScreen
        from arcctl.tui.widgets.arc_grid import PairsView

        await settle(pilot, lambda: app.screen.query_one("#jobs").row_count == 2)
        app.push_screen(EvalScreen(RunView(str(run))))
        await settle(pilot, lambda: isinstance(app.screen, EvalScreen) and app.screen.records)
        await pilot.press("down")
        await settle(pilot, lambda: "▶ test 1" in str(getattr(app.screen.query_one(PairsView), "shown", "")))

    assert snap_compare(app, terminal_size=(150, 56), run_before=ready)


def test_fork_preview_lists_only_the_changed_parameter(snap_compare, in_fixtures, monkeypatch):
    """The fork form from checkpoint-40 with beta edited: the preview names the new run and lists
    only `beta: 0.01 → 0.05`."""
    import sys

    # the launch artifact names this interpreter: the same path on every machine
    monkeypatch.setattr(sys, "executable", "/opt/arcctl/.venv/bin/python")
    from textual.widgets import Input, Static

    app = make_app()

    async def ready(pilot):
        from arcctl.tui.screens.fork import ForkScreen

        await settle(pilot, lambda: app.screen.query_one("#jobs").row_count == 2)
        app.push_screen(ForkScreen(RunView("runs/collapsing"), "checkpoint-40"))
        await settle(pilot, lambda: isinstance(app.screen, ForkScreen) and app.screen.spec is not None)
        fork = app.screen
        fork.query_one("#p-beta", Input).value = "0.05"
        await settle(
            pilot,
            lambda: (
                fork.spec is not None
                and fork.spec.params["beta"] == 0.05
                and "beta: 0.01 → 0.05" in str(fork.query_one("#preview", Static).render())
            ),
        )
        steady_cursors(app)
        await settle(pilot, lambda: True)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_run_screen_log_switched_to_stderr(snap_compare, in_fixtures):
    """`l` twice on the run screen: the log tail shows stderr alone, and says so."""
    app = make_app()

    async def ready(pilot):
        from arcctl.tui.widgets.log_tail import LogTail

        await open_collapsing_run(app, pilot)
        await pilot.press("l", "l")
        await settle(pilot, lambda: app.screen.query_one(LogTail).mode == "stderr")

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_palette_on_the_run_screen(snap_compare, in_fixtures):
    """`:` on the run screen, `fork` typed: the screen's own action heads the hits."""
    app = make_app()

    async def ready(pilot):
        from textual.command import CommandPalette

        from tests.tui.test_palette import palette_hits

        await open_collapsing_run(app, pilot)
        await pilot.press("colon")
        await settle(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"fork")
        await settle(pilot, lambda: palette_hits(app) and palette_hits(app)[0].startswith("fork  (f)"))
        steady_cursors(app)
        await settle(pilot, lambda: True)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_compare_help_names_the_dimmed_rolled_back_rows(snap_compare, in_fixtures):
    """`?` on the compare screen: what the dimmed lines marked `(rolled back)` are, beside the keys."""
    from arcctl.tui.screens.compare import CompareScreen
    from arcctl.tui.screens.help import HelpScreen

    app = make_app()

    async def ready(pilot):
        await settle(pilot, lambda: app.screen.query_one("#jobs").row_count == 2)
        app.push_screen(CompareScreen([RunView("runs/healthy"), RunView("runs/collapsing")]))
        await settle(pilot, lambda: comparing_two(app) and getattr(app.screen, "_eval_status", None) is not None)
        await app.workers.wait_for_complete()
        await settle(pilot, lambda: overlay_drawn(app, [50.0, 70.0]))
        await pilot.press("question_mark")
        await settle(pilot, lambda: isinstance(app.screen, HelpScreen))

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)
